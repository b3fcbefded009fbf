"""``prefspace validate`` through the real CLI entry point: summaries, and malformed input -> exit 2 with a located message."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from prefspace.cli import main
from prefspace.data import demo_path


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    """Run ``prefspace ARGS`` in-process through ``main`` (the console script's own error mapping)."""
    with pytest.raises(SystemExit) as exit_info:
        main(args)
        sys.exit(0)  # main returns normally on success
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def jsonl(*rows) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode("utf-8")


GOOD = {"prompt": "What is 2 + 2?", "chosen": "4", "rejected": "5"}
GOOD2 = {"prompt": "Capital of Peru?", "chosen": "Lima", "rejected": "Quito"}

# (name, file name, file bytes, extra args, fragments the message must contain)
MALFORMED = [
    (
        "renamed column",
        "pairs.jsonl",
        jsonl(GOOD, {"prompt": "q", "chosen": "a", "response_b": "b"}),
        [],
        [
            "pairs.jsonl:2:",
            "missing key 'rejected'",
            "(found: 'prompt', 'chosen', 'response_b')",
            "--rejected-key response_b",
        ],
    ),
    (
        "invalid json",
        "pairs.jsonl",
        jsonl(GOOD, GOOD2) + b'{"prompt": "q", "chosen": "a",\n',
        [],
        ["pairs.jsonl:3:", "invalid JSON", "fix or remove this line"],
    ),
    (
        "not utf-8",
        "pairs.jsonl",
        jsonl(GOOD) + b'{"prompt": "caf\xe9", "chosen": "a", "rejected": "b"}\n',
        [],
        ["pairs.jsonl:2:", "not UTF-8", "Re-save the file as UTF-8"],
    ),
    (
        "empty text",
        "pairs.jsonl",
        jsonl(GOOD, {"prompt": "q", "chosen": "   ", "rejected": "b"}),
        [],
        ["pairs.jsonl:2:", "'chosen' is empty text", "Fill it in, or remove the row"],
    ),
    (
        "identical responses",
        "pairs.jsonl",
        jsonl({"prompt": "q", "chosen": "same", "rejected": "same"}),
        [],
        ["pairs.jsonl:1:", "are identical", "--on-bad-rows skip"],
    ),
    (
        "wrong type",
        "pairs.jsonl",
        jsonl({"prompt": "q", "chosen": 42, "rejected": "b"}),
        [],
        ["pairs.jsonl:1:", "'chosen' is int but 'rejected' is str", "both must be text"],
    ),
    (
        "bad message",
        "pairs.jsonl",
        jsonl({"prompt": [{"role": "user", "text": "hi"}], "chosen": "a", "rejected": "b"}),
        [],
        [
            "pairs.jsonl:1:",
            "'prompt'[0] must be a message {'role': str, 'content': str}",
            "keys 'role', 'text'",
        ],
    ),
    (
        "unknown file type",
        "pairs.txt",
        jsonl(GOOD),
        [],
        [
            "pairs.txt: unknown file type '.txt'",
            "expected a .jsonl, .json, .parquet, .csv or .tsv file",
        ],
    ),
    ("missing file", None, b"", [], ["missing.jsonl: no such file or directory", "Check the path"]),
    ("empty file", "pairs.jsonl", b"\n  \n", [], ["pairs.jsonl: the file is empty"]),
    (
        "bad label",
        "labels.jsonl",
        jsonl({"prompt": "q", "response_a": "x", "response_b": "y", "label": "left"}),
        [],
        ["labels.jsonl:1:", "'label' is 'left'", "expected 'a', 'b' or 'tie'", "--label-key"],
    ),
    (
        "non-numeric margin",
        "pairs.jsonl",
        jsonl({**GOOD, "margin": 1}, {**GOOD2, "margin": "lots"}),
        [],
        ["pairs.jsonl:2:", "'margin' must be a number; found str 'lots'"],
    ),
    (
        "negative weight",
        "pairs.csv",
        b"prompt,chosen,rejected,weight\nq,a,b,1\nr,c,d,-2\n",
        [],
        ["pairs.csv:3:", "'weight' is -2.0; weights must be >= 0"],
    ),
    (
        "csv field count",
        "pairs.csv",
        b"prompt,chosen,rejected\nq,a,b\nq,a,b,extra\n",
        [],
        ["pairs.csv:3:", "4 fields but the header has 3", "Quote fields"],
    ),
    (
        "duplicate id",
        "pairs.jsonl",
        jsonl({**GOOD, "id": "x"}, {**GOOD2, "id": "x"}),
        [],
        ["pairs.jsonl:2:", "id 'x' was already used at pairs.jsonl:1", "Ids must be unique"],
    ),
    (
        "no prompt",
        "pairs.jsonl",
        jsonl({"question": "q", "chosen": "a", "rejected": "b"}),
        [],
        ["pairs.jsonl:1:", "missing key 'prompt'", "--prompt-key question"],
    ),
    (
        "json syntax",
        "pairs.json",
        b'[\n  {"prompt": "q", "chosen": "a", "rejected": "b"},\n  {"prompt": \n]\n',
        [],
        ["pairs.json:4:", "invalid JSON"],
    ),
    (
        "not gzip",
        "pairs.jsonl.gz",
        jsonl(GOOD),
        [],
        ["pairs.jsonl.gz: not a valid gzip file", "drop the .gz extension"],
    ),
    (
        "absent mapped column",
        "pairs.jsonl",
        jsonl(GOOD),
        ["--subset-key", "category"],
        [
            "pairs.jsonl: no column 'category' for --subset-key",
            "found: 'chosen', 'prompt', 'rejected'",
        ],
    ),
    (
        "everything skipped",
        "pairs.jsonl",
        jsonl({"prompt": "q", "chosen": "a"}, {"prompt": "r", "chosen": "b"}),
        ["--on-bad-rows", "skip"],
        [
            "pairs.jsonl: no usable pairs; all 2 rows read were skipped (missing_key: 2)",
            "First problem: pairs.jsonl:1:",
        ],
    ),
    (
        "json line not an object",
        "pairs.jsonl",
        jsonl(GOOD) + b'["q", "a", "b"]\n',
        [],
        ["pairs.jsonl:2:", "expected a JSON object", "found list"],
    ),
    (
        "hub offline",
        None,
        b"",
        ["--split", "train"],
        ["some-org/some-dataset", "could not be reached", "pass the local file instead"],
    ),
]


@pytest.mark.parametrize(
    ("name", "filename", "content", "extra", "fragments"), MALFORMED, ids=[m[0] for m in MALFORMED]
)
def test_malformed_input_exits_2_with_a_located_message(
    name, filename, content, extra, fragments, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    if filename is not None:
        Path(filename).write_bytes(content)
        target = filename
    else:
        target = "some-org/some-dataset" if name == "hub offline" else "missing.jsonl"
    code, out, err = run_cli(["validate", target, *extra], capsys)
    assert code == 2, (out, err)
    assert "Traceback" not in out + err
    assert err.startswith("error: ")
    assert len(err.strip().splitlines()) == 1, err  # one message, not a dump
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"


def test_validate_summarises_the_demo(capsys):
    code, out, err = run_cli(["validate", str(demo_path())], capsys)
    assert code == 0, err
    assert "format:" in out and "standard, explicit prompt" in out
    assert "subsets:" in out and "helpfulness" in out and "honesty" in out
    assert out.strip().endswith("ok")


def test_validate_skip_reports_reasons_and_ties(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("mixed.jsonl").write_bytes(
        jsonl(
            {"prompt": "q1", "response_a": "x", "response_b": "y", "label": "a"},
            {"prompt": "q2", "response_a": "x", "response_b": "y", "label": "tie"},
            {"prompt": "q3", "response_a": "x", "response_b": "x", "label": "b"},
            {"prompt": "q4", "response_a": "x", "response_b": "y", "label": "?"},
        )
    )
    code, out, err = run_cli(
        ["validate", "mixed.jsonl", "--on-bad-rows", "skip", "--ties", "keep"], capsys
    )
    assert code == 0, err
    assert "pairs:            2" in out
    assert "ties:             1 (kept)" in out
    assert "skipped:          2 (identical responses: 1, bad label: 1)" in out
    assert "2 bad rows were skipped" in err


def test_validate_json_report_and_column_flags(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with gzip.open("p.jsonl.gz", "wb") as fh:
        fh.write(jsonl({"q": "hi", "good": "hello", "bad": "go away", "m": 2}))
    code, out, _ = run_cli(
        [
            "validate",
            "p.jsonl.gz",
            "--prompt-key",
            "q",
            "--chosen-key",
            "good",
            "--rejected-key",
            "bad",
            "--margin-key",
            "m",
            "--json",
        ],
        capsys,
    )
    assert code == 0
    info = json.loads(out)
    assert info["pairs"] == 1 and info["columns"] == {
        "prompt": "q",
        "chosen": "good",
        "rejected": "bad",
        "margin": "m",
    }


def test_validate_says_how_often_the_longer_answer_wins(hh_path, capsys):
    from prefspace.data import load_preferences

    ds = load_preferences(hh_path)
    longer = sum(len(c) > len(r) for c, r in zip(ds.chosen, ds.rejected))
    code, out, err = run_cli(["validate", str(hh_path)], capsys)
    assert code == 0, err
    line = next(x for x in out.splitlines() if x.startswith("length:"))
    assert (
        f"the longer answer wins {100 * longer / len(ds):.1f}% [" in line
        and f"of {len(ds):,} pairs" in line
    )
    code, out, err = run_cli(["validate", str(hh_path), "--json"], capsys)
    pref = json.loads(out)["length_preference"]
    assert (
        pref["longer"] == longer
        and pref["n_pairs"] == len(ds)
        and pref["ci_low"] < pref["longer_share"] < pref["ci_high"]
    )
    assert_json_is_the_report(out, ds.info)
    assert (ds.info.format, ds.info.ids) == (
        "standard, implicit prompt (HH dialogue)",
        "generated (content hash)",
    )
    assert ds.info.to_json()["columns"] == {"chosen": "chosen", "rejected": "rejected"}
    assert (ds.info.rows, ds.info.pairs, ds.info.empty_responses) == (2312, 2312, 4)


def assert_json_is_the_report(out: str, info) -> None:
    """``validate --json`` printed the loader's report (``info.to_json()``, byte for byte) and
    then the length preference."""
    printed = json.loads(out)
    length = printed.pop("length_preference")
    assert printed == info.to_json()
    expected = {**info.to_json(), "length_preference": length}
    assert out == json.dumps(expected, indent=2, ensure_ascii=False) + "\n"


def test_validate_json_of_the_demo_is_its_report(capsys):
    from prefspace.data import load_preferences

    code, out, err = run_cli(["validate", str(demo_path()), "--json"], capsys)
    assert code == 0, err
    info = load_preferences(demo_path()).info
    assert_json_is_the_report(out, info)
    assert '"subsets": {\n    "helpfulness": 115,' in out and info.subsets["helpfulness"] == 115


def test_validate_leaves_kept_ties_out_of_the_length_share(tmp_path, capsys):
    path = tmp_path / "labels.jsonl"
    path.write_bytes(
        jsonl(
            {"prompt": "q1", "response_a": "a longer answer", "response_b": "short", "label": "a"},
            {
                "prompt": "q2",
                "response_a": "tiny",
                "response_b": "a much longer one",
                "label": "tie",
            },
            {"prompt": "q3", "response_a": "abc", "response_b": "a longer one", "label": "a"},
        )
    )
    code, out, err = run_cli(["validate", str(path), "--ties", "keep", "--json"], capsys)
    assert code == 0, err
    pref = json.loads(out)["length_preference"]
    assert (pref["n_pairs"], pref["longer"], pref["shorter"]) == (2, 1, 1)
    code, out, err = run_cli(["validate", str(path), "--ties", "keep"], capsys)
    assert "wins 50.0% [" in out and "of 2 pairs" in out and "(ties left out)" in out


def test_bad_option_value_is_a_usage_error(capsys):
    code, out, err = run_cli(["validate", str(demo_path()), "--on-bad-rows", "ignore"], capsys)
    assert code == 2
    assert "Traceback" not in out + err


def test_console_entry_point_end_to_end(tmp_path):
    """The installed module entry point, in a fresh interpreter: exit codes and stderr as a user sees them."""
    bad = tmp_path / "pairs.jsonl"
    bad.write_bytes(jsonl(GOOD) + b'{"prompt": "q", "chosen": "a",\n')
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "prefspace", "validate", str(bad)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert f"{bad}:2: invalid JSON" in proc.stderr
    ok = subprocess.run(
        [sys.executable, "-m", "prefspace", "validate", str(bad), "--on-bad-rows", "skip"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert ok.returncode == 0 and "invalid json: 1" in ok.stdout


def test_duplicate_pairs_are_kept_and_counted_and_dedupe_drops_them(tmp_path, capsys):
    """The same comparison labelled twice is data: kept by default and counted; --dedupe keeps the first."""
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(jsonl(GOOD, GOOD2, GOOD, GOOD))
    code, out, err = run_cli(["validate", str(path)], capsys)
    assert code == 0, err
    assert "pairs:            4" in out and "duplicates:       2 exact duplicate pairs (kept" in out
    code, out, err = run_cli(["validate", str(path), "--dedupe", "--json"], capsys)
    info = json.loads(out)
    assert (
        code == 0
        and info["pairs"] == 2
        and info["duplicates"] == 2
        and info["duplicates_action"] == "dropped"
    )


def test_data_columns_pass_only_options_that_were_set():
    from prefspace.cli._options import DataColumns

    columns = DataColumns(prompt_key="q", on_bad_rows="skip", ties="drop")
    assert columns.load_kwargs() == {"prompt_key": "q", "on_bad_rows": "skip", "ties": "drop"}
    assert DataColumns().load_kwargs() == {}


def test_data_columns_decorator_gives_a_command_every_column_option_once(capsys):
    """Each loader option is one field of DataColumns; every data command shows all of them."""
    import dataclasses

    import typer

    from prefspace.cli._options import DataColumns, data_columns

    seen = []
    app = typer.Typer()

    @app.command()
    @data_columns(exclude=("dedupe",))
    def show(data: str, columns: DataColumns, verbose: bool = False) -> None:
        seen.append((data, columns, verbose))

    from typer.testing import CliRunner

    result = CliRunner().invoke(
        app, ["pairs.jsonl", "--prompt-key", "question", "--limit", "3", "--verbose"]
    )
    assert result.exit_code == 0, result.output
    data, columns, verbose = seen[0]
    assert data == "pairs.jsonl" and verbose
    assert columns.load_kwargs() == {
        "prompt_key": "question",
        "limit": 3,
        "on_bad_rows": "error",
        "ties": "drop",
    }
    flags = {f.name.replace("_", "-") for f in dataclasses.fields(DataColumns)} - {"dedupe"}
    help_text = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"}).output
    assert all(f"--{flag}" in help_text for flag in flags) and "--dedupe" not in help_text
