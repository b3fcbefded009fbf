"""Errors raised by the data readers name an option as the caller spells it: the keyword
argument when Python called, the ``--flag`` while the ``prefspace`` command runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prefspace._surface import command_line
from prefspace.data import load_preferences, read_responses
from prefspace.data.rules import check_text
from prefspace.exceptions import ConfigError, DataError


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _message(call) -> str:
    with pytest.raises((DataError, ConfigError)) as err:
        call()
    return str(err.value)


CASES = [
    (
        "a missing pair column",
        lambda d: load_preferences(
            _jsonl(d / "p.jsonl", [{"prompt": "q", "chosen": "a", "no": "b"}])
        ),
        "pass rejected_key='no'",
        "pass --rejected-key no",
    ),
    (
        "an identical pair",
        lambda d: load_preferences(
            _jsonl(d / "p.jsonl", [{"prompt": "q", "chosen": "a", "rejected": "a"}])
        ),
        "pass on_bad_rows='skip'",
        "pass --on-bad-rows skip",
    ),
    (
        "a column mapped twice",
        lambda d: load_preferences(
            _jsonl(d / "p.jsonl", [{"prompt": "q", "chosen": "a", "rejected": "b"}]),
            chosen_key="x",
            rejected_key="x",
        ),
        "(chosen_key, rejected_key); each needs its own column",
        "(--chosen-key, --rejected-key); each needs its own column",
    ),
    (
        "a response file without prompts",
        lambda d: read_responses(_jsonl(d / "r.jsonl", [{"prompt_id": 1, "response": "a"}])),
        "pass prompts='FILE' (joined on 'prompt_id')",
        "pass --prompts FILE (joined on 'prompt_id')",
    ),
    (
        "a missing score column",
        lambda d: read_responses(
            _jsonl(d / "r.jsonl", [{"prompt": "q", "response": "a"}]), score_key="gold"
        ),
        "for score_key",
        "for --score-key",
    ),
]


@pytest.mark.parametrize("what, call, keyword, flag", CASES, ids=[c[0] for c in CASES])
def test_python_callers_read_the_keyword_and_the_command_line_the_flag(
    what, call, keyword, flag, tmp_path
):
    from_python = _message(lambda: call(tmp_path))
    assert keyword in from_python and "--" not in from_python.replace(str(tmp_path), "")
    with command_line():
        assert flag in _message(lambda: call(tmp_path))


def test_a_text_rule_names_the_keyword_of_its_limit():
    from prefspace.data.dialogue import RowProblem

    with pytest.raises(RowProblem) as err:
        check_text("x" * 11, "'response'", max_text_chars=10)
    assert "raise the limit with max_text_chars, or pass on_bad_rows='skip'" in err.value.message
    with command_line(), pytest.raises(RowProblem) as err:
        check_text("x" * 11, "'response'", max_text_chars=10)
    assert "with --max-text-chars, or pass --on-bad-rows skip" in err.value.message
