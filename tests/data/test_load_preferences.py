"""load_preferences: every source type, every format, column mapping, ties, skipping, and the shared HH data."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from prefspace.data import load_preferences, render_prompt_text
from prefspace.exceptions import ConfigError, DataError

ROWS = [
    {"prompt": "What is 2 + 2?", "chosen": "4.", "rejected": "5.", "subset": "math", "id": "p1"},
    {
        "prompt": "Name a primary colour.",
        "chosen": "Red.",
        "rejected": "Purple.",
        "subset": "art",
        "id": "p2",
    },
    {
        "prompt": "What is 2 + 2?",
        "chosen": "Four.",
        "rejected": "Twenty-two.",
        "subset": "math",
        "id": "p3",
    },
]


def write_jsonl(path: Path, rows: list, gz: bool = False) -> Path:
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def write_csv(path: Path, rows: list, delimiter: str = ",") -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=delimiter)
        w.writeheader()
        w.writerows(rows)
    return path


# --------------------------------------------------------------------------------------------
# sources: the same rows read from every supported container give the same dataset
# --------------------------------------------------------------------------------------------
def _write(kind: str, tmp_path: Path) -> Path:
    if kind == "jsonl":
        return write_jsonl(tmp_path / "p.jsonl", ROWS)
    if kind == "jsonl.gz":
        return write_jsonl(tmp_path / "p.jsonl.gz", ROWS, gz=True)
    if kind == "json":
        (tmp_path / "p.json").write_text(json.dumps(ROWS), encoding="utf-8")
        return tmp_path / "p.json"
    if kind == "json-columns":
        cols = {k: [r[k] for r in ROWS] for k in ROWS[0]}
        (tmp_path / "c.json").write_text(json.dumps(cols), encoding="utf-8")
        return tmp_path / "c.json"
    if kind == "json.gz":
        with gzip.open(tmp_path / "p.json.gz", "wt", encoding="utf-8") as fh:
            json.dump(ROWS, fh)
        return tmp_path / "p.json.gz"
    if kind == "csv":
        return write_csv(tmp_path / "p.csv", ROWS)
    if kind == "tsv":
        return write_csv(tmp_path / "p.tsv", ROWS, delimiter="\t")
    if kind == "csv.gz":
        plain = write_csv(tmp_path / "plain.csv", ROWS)
        with gzip.open(tmp_path / "p.csv.gz", "wb") as fh:
            fh.write(plain.read_bytes())
        return tmp_path / "p.csv.gz"
    if kind in ("parquet", "parquet.gz"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(ROWS), tmp_path / "p.parquet")
        if kind == "parquet":
            return tmp_path / "p.parquet"
        with gzip.open(tmp_path / "p.parquet.gz", "wb") as fh:
            fh.write((tmp_path / "p.parquet").read_bytes())
        return tmp_path / "p.parquet.gz"
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "jsonl",
        "jsonl.gz",
        "json",
        "json-columns",
        "json.gz",
        "csv",
        "tsv",
        "csv.gz",
        "parquet",
        "parquet.gz",
    ],
)
def test_every_file_type_gives_the_same_dataset(kind, tmp_path):
    reference = load_preferences(write_jsonl(tmp_path / "ref.jsonl", ROWS))
    ds = load_preferences(_write(kind, tmp_path))
    assert len(ds) == 3
    assert ds.fingerprint == reference.fingerprint
    assert ds.subset == ["math", "art", "math"]
    assert ds.ids == ["p1", "p2", "p3"]
    assert ds.info.format == "standard, explicit prompt"


def test_datasets_directory_and_dataset_dict_split(tmp_path):
    import datasets

    datasets.Dataset.from_list(ROWS).save_to_disk(str(tmp_path / "single"))
    ds = load_preferences(tmp_path / "single")
    assert ds.chosen == ["4.", "Red.", "Four."]
    assert ds.info.source_kind == "datasets-dir"

    dd = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list(ROWS[:2]),
            "test": datasets.Dataset.from_list(ROWS[2:]),
        }
    )
    dd.save_to_disk(str(tmp_path / "dict"))
    with pytest.raises(DataError, match=r"several splits \(train, test\); choose one with split\."):
        load_preferences(tmp_path / "dict")
    assert load_preferences(tmp_path / "dict", split="test").ids == ["p3"]
    with pytest.raises(DataError, match="no split 'dev'"):
        load_preferences(tmp_path / "dict", split="dev")


def test_hub_name_offline_says_how_to_use_a_local_file():
    with pytest.raises(DataError, match=r"could not be reached .*pass the local file instead"):
        load_preferences("prefspace-nonexistent-org/nope", split="train")


def test_missing_file_is_not_mistaken_for_a_hub_name(tmp_path):
    with pytest.raises(DataError, match="no such file or directory"):
        load_preferences(tmp_path / "nope" / "pairs.jsonl")


# --------------------------------------------------------------------------------------------
# formats
# --------------------------------------------------------------------------------------------
def test_conversational_explicit_prompt(tmp_path):
    rows = [
        {
            "prompt": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Capital of France?"},
            ],
            "chosen": [{"role": "assistant", "content": "Paris."}],
            "rejected": [{"role": "assistant", "content": "Lyon."}],
        }
    ]
    ds = load_preferences(write_jsonl(tmp_path / "c.jsonl", rows))
    assert ds.prompts[0] == rows[0]["prompt"]
    assert (ds.chosen[0], ds.rejected[0]) == ("Paris.", "Lyon.")
    assert ds.info.format == "conversational, explicit prompt"


def test_conversational_implicit_prompt_uses_shared_messages(tmp_path):
    user = {"role": "user", "content": "Capital of France?"}
    rows = [
        {
            "chosen": [user, {"role": "assistant", "content": "Paris."}],
            "rejected": [user, {"role": "assistant", "content": "Lyon."}],
        }
    ]
    ds = load_preferences(write_jsonl(tmp_path / "c.jsonl", rows))
    assert ds.prompts[0] == [user]
    assert (ds.chosen[0], ds.rejected[0]) == ("Paris.", "Lyon.")
    assert ds.info.format == "conversational, implicit prompt"


def test_prompt_column_plus_whole_conversations(tmp_path):
    """UltraFeedback-style rows: a prompt string and chosen/rejected that repeat the user turn."""
    user = {"role": "user", "content": "Say hi"}
    rows = [
        {
            "prompt": "Say hi",
            "chosen": [user, {"role": "assistant", "content": "Hi!"}],
            "rejected": [user, {"role": "assistant", "content": "No."}],
        }
    ]
    ds = load_preferences(write_jsonl(tmp_path / "u.jsonl", rows))
    assert ds.prompts[0] == [user]
    assert ds.chosen[0] == "Hi!"


def test_hh_dialogue_becomes_messages_and_final_reply(tmp_path):
    rows = [
        {
            "chosen": "\n\nHuman: Hi\n\nAssistant: Hello! How can I help?\n\nHuman: Tell me a fact.\n\nAssistant: Honey never spoils.",
            "rejected": "\n\nHuman: Hi\n\nAssistant: Hello! How can I help?\n\nHuman: Tell me a fact.\n\nAssistant:  No.",
        }
    ]
    ds = load_preferences(write_jsonl(tmp_path / "hh.jsonl", rows))
    assert ds.prompts[0] == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Tell me a fact."},
    ]
    assert (ds.chosen[0], ds.rejected[0]) == ("Honey never spoils.", "No.")
    assert render_prompt_text(ds.prompts[0]).startswith("User: Hi\n\nAssistant: Hello!")
    assert ds.info.format == "standard, implicit prompt (HH dialogue)"


def test_shared_hh_file_loads_all_pairs_with_a_sensible_split(hh_path):
    ds = load_preferences(hh_path)
    assert len(ds) == 2312
    assert ds.info.n_skipped == 0
    assert len(set(ds.ids)) == 2312
    with gzip.open(hh_path, "rt", encoding="utf-8") as fh:
        raw = [json.loads(line) for line in fh]
    squash = lambda text: " ".join(text.split())  # noqa: E731
    for prompt, chosen, rejected, row in zip(ds.prompts, ds.chosen, ds.rejected, raw):
        assert (
            isinstance(prompt, list)
            and prompt[0]["role"] == "user"
            and prompt[-1]["role"] == "user"
        )
        assert all(m["role"] in ("user", "assistant") for m in prompt)
        assert chosen != rejected and chosen == chosen.strip() and rejected == rejected.strip()
        # prompt turns + "Assistant:" + response rebuild each original dialogue (up to whitespace)
        turns = "".join(
            f"\n\n{'Human' if m['role'] == 'user' else 'Assistant'}: {m['content']}" for m in prompt
        )
        assert squash(f"{turns}\n\nAssistant: {chosen}") == squash(row["chosen"])
        assert squash(f"{turns}\n\nAssistant: {rejected}") == squash(row["rejected"])
    # Four HH pairs prefer an empty final reply; they are kept and reported.
    assert ds.info.empty_responses == 4
    assert sum(1 for c in ds.chosen if not c) == 4
    # deterministic content-hash ids
    assert load_preferences(hh_path, limit=5).ids == ds.ids[:5]


def test_hh_pairs_written_as_messages_read_back_the_same_empty_replies_included(hh_path, tmp_path):
    from prefspace.data.dataset import pair_records

    ds = load_preferences(hh_path)
    path = tmp_path / "as_messages.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in pair_records(ds)), encoding="utf-8")
    back = load_preferences(path)
    assert isinstance(back.prompts[0], list)  # conversational, explicit prompt
    assert (back.chosen, back.rejected, back.ids) == (ds.chosen, ds.rejected, ds.ids)
    assert back.info.empty_responses == ds.info.empty_responses == 4


def test_labelled_pairs_orient_by_label_and_report_ties(tmp_path):
    rows = [
        {"prompt": "q1", "response_a": "good", "response_b": "bad", "label": "a"},
        {"prompt": "q2", "response_a": "bad", "response_b": "good", "label": 1},
        {"prompt": "q3", "response_a": "x", "response_b": "y", "label": "tie"},
        {"prompt": "q4", "response_a": "meh", "response_b": "fine", "label": "B"},
        {"prompt": "q5", "response_a": "u", "response_b": "v", "label": 0.5},
    ]
    path = write_jsonl(tmp_path / "l.jsonl", rows)
    ds = load_preferences(path)
    assert ds.chosen == ["good", "good", "fine"]
    assert ds.rejected == ["bad", "bad", "meh"]
    assert ds.tie is None
    assert (ds.info.ties, ds.info.ties_action) == (2, "dropped")
    assert ds.info.format == "standard, explicit prompt, labelled"

    kept = load_preferences(path, ties="keep")
    assert len(kept) == 5
    np.testing.assert_array_equal(kept.tie, [False, False, True, False, True])
    assert kept.info.ties_action == "kept"


def test_all_ties_dropped_is_an_error(tmp_path):
    path = write_jsonl(
        tmp_path / "t.jsonl",
        [{"prompt": "q", "response_a": "x", "response_b": "y", "label": "tie"}],
    )
    with pytest.raises(DataError, match="all 1 pairs are ties. Pass ties='keep'"):
        load_preferences(path)


def test_column_mapping_and_optional_columns(tmp_path):
    rows = [
        {
            "question": "q1",
            "better": "a1",
            "worse": "b1",
            "strength": 2,
            "w": 0.5,
            "cat": "x",
            "uid": 7,
        },
        {
            "question": "q2",
            "better": "a2",
            "worse": "b2",
            "strength": "1.5",
            "w": 1,
            "cat": "y",
            "uid": 8,
        },
    ]
    ds = load_preferences(
        write_jsonl(tmp_path / "m.jsonl", rows),
        prompt_key="question",
        chosen_key="better",
        rejected_key="worse",
        margin_key="strength",
        weight_key="w",
        subset_key="cat",
        id_key="uid",
    )
    assert ds.prompts == ["q1", "q2"] and ds.chosen == ["a1", "a2"]
    np.testing.assert_array_equal(ds.margin, [2.0, 1.5])
    np.testing.assert_array_equal(ds.weight, [0.5, 1.0])
    assert ds.subset == ["x", "y"] and ds.ids == ["7", "8"]
    assert ds.info.columns.chosen == "better"


def test_default_optional_columns_are_used_when_present(tmp_path):
    rows = [
        {
            "prompt": "q",
            "chosen": "a",
            "rejected": "b",
            "margin": 1.0,
            "weight": 2.0,
            "extra": "ignored",
        }
    ]
    ds = load_preferences(write_jsonl(tmp_path / "o.jsonl", rows))
    assert ds.margin.tolist() == [1.0] and ds.weight.tolist() == [2.0]
    assert ds.subset is None


def test_generated_ids_are_content_hashes_independent_of_row_order(tmp_path):
    rows = [{k: v for k, v in r.items() if k != "id"} for r in ROWS]
    a = load_preferences(write_jsonl(tmp_path / "a.jsonl", rows))
    b = load_preferences(write_jsonl(tmp_path / "b.jsonl", rows[::-1]))
    assert a.ids == b.ids[::-1]
    assert len(set(a.ids)) == 3 and all(len(i) == 16 for i in a.ids)
    assert a.info.ids == "generated (content hash)"


def test_limit_stops_early_and_ignores_later_rows(tmp_path):
    path = tmp_path / "l.jsonl"
    path.write_text(
        json.dumps(ROWS[0]) + "\n" + json.dumps(ROWS[1]) + "\n{broken\n", encoding="utf-8"
    )
    ds = load_preferences(path, limit=2)
    assert len(ds) == 2 and ds.info.limit == 2


# --------------------------------------------------------------------------------------------
# bad rows
# --------------------------------------------------------------------------------------------
def test_skip_counts_bad_rows_by_reason(tmp_path, caplog):
    path = tmp_path / "mixed.jsonl"
    lines = [
        json.dumps(ROWS[0]),
        "{not json",
        json.dumps({"prompt": "q", "chosen": "same", "rejected": "same"}),
        json.dumps({"prompt": "q", "chosen": "", "rejected": "x"}),
        json.dumps(ROWS[0]),
        json.dumps({"prompt": "q", "chosen": "a"}),
        json.dumps(ROWS[1]),
    ]
    path.write_bytes(
        ("\n".join(lines) + "\n").encode()
        + b'{"prompt": "caf\xe9", "chosen": "a", "rejected": "b"}\n'
    )
    with pytest.raises(DataError, match=r"mixed.jsonl:2: invalid JSON"):
        load_preferences(path)
    with caplog.at_level("WARNING", logger="prefspace.data.preferences"):
        ds = load_preferences(path, on_bad_rows="skip")
    assert (
        len(ds) == 3
    )  # the repeated ROWS[0] is a duplicate: data, kept and counted, not a bad row
    assert ds.info.skipped == {
        "invalid_json": 1,
        "identical_responses": 1,
        "empty_text": 1,
        "missing_key": 1,
        "not_utf8": 1,
    }
    assert ds.info.n_skipped == 5 and ds.info.rows == 8 and ds.info.duplicates == 1
    assert "skipped 5 of 8 rows" in caplog.text


def test_exact_duplicates_are_kept_counted_and_dropped_with_dedupe(tmp_path):
    no_ids = [{k: v for k, v in r.items() if k != "id"} for r in ROWS]
    rows = [no_ids[0], no_ids[1], no_ids[0], no_ids[0]]
    path = write_jsonl(tmp_path / "dup.jsonl", rows)
    ds = load_preferences(path)
    assert len(ds) == 4 and ds.info.duplicates == 3 - 1 and ds.info.duplicates_action == "kept"
    assert len(set(ds.ids)) == 4 and ds.ids[2] == ds.ids[0] + "-2" and ds.ids[3] == ds.ids[0] + "-3"
    deduped = load_preferences(path, dedupe=True)
    assert (
        len(deduped) == 2
        and deduped.info.duplicates == 2
        and deduped.info.duplicates_action == "dropped"
    )
    assert deduped.ids == ds.ids[:2]
    # the same id on the very same row is a repeated row (kept, id made unique); on another pair it is a clash
    with_ids = write_jsonl(tmp_path / "ids.jsonl", [{**ROWS[0], "id": "x"}, {**ROWS[0], "id": "x"}])
    assert load_preferences(with_ids).ids == ["x", "x-2"]
    clash = write_jsonl(tmp_path / "clash.jsonl", [{**ROWS[0], "id": "x"}, {**ROWS[1], "id": "x"}])
    with pytest.raises(DataError, match="id 'x' was already used"):
        load_preferences(clash)


@pytest.mark.parametrize(
    ("rows", "kwargs", "match"),
    [
        (
            [{"prompt": "q", "chosen": "a", "worse": "b"}],
            {},
            r":1: missing key 'rejected' \(found: 'prompt', 'chosen', 'worse'\).*rejected_key='worse'",
        ),
        ([{"chosen": "a", "rejected": "b"}], {}, r"missing key 'prompt'.*not whole .*dialogues"),
        (
            [{"prompt": "q", "chosen": 3, "rejected": "b"}],
            {},
            r"'chosen' is int but 'rejected' is str",
        ),
        (
            [{"prompt": 5, "chosen": "a", "rejected": "b"}],
            {},
            r"'prompt' must be text or a list of .*found int",
        ),
        (
            [
                {
                    "prompt": "q",
                    "chosen": [{"role": "assistant"}],
                    "rejected": [{"role": "assistant", "content": "x"}],
                }
            ],
            {},
            r"'chosen'\[0\] must be a message",
        ),
        ([{"prompt": "  ", "chosen": "a", "rejected": "b"}], {}, r"'prompt' is empty text"),
        ([{"prompt": "q", "chosen": None, "rejected": "b"}], {}, r"'chosen' is empty \(null\)"),
        (
            [{"prompt": "q", "response_a": "a", "response_b": "b", "label": "maybe"}],
            {},
            r"'label' is 'maybe'; expected 'a', 'b' or 'tie'",
        ),
        ([{"prompt": "q", "response_a": "a", "response_b": "b"}], {}, r"missing key 'label'"),
        (
            [{"prompt": "q", "chosen": "a", "rejected": "b", "margin": "big"}],
            {},
            r"'margin' must be a number; found str 'big'",
        ),
        (
            [{"prompt": "q", "chosen": "a", "rejected": "b", "margin": float("nan")}],
            {},
            r"'margin' is nan",
        ),
        (
            [{"prompt": "q", "chosen": "a", "rejected": "b", "weight": -1}],
            {},
            r"weights must be >= 0",
        ),
        (
            [
                {"prompt": "q", "chosen": "a", "rejected": "b", "id": 1},
                {"prompt": "r", "chosen": "a", "rejected": "b", "id": 1},
            ],
            {},
            r":2: id '1' was already used at .*:1",
        ),
        (
            [{"prompt": "q", "chosen": "a", "rejected": "b"}],
            {"margin_key": "strength"},
            r"no column 'strength' for --margin-key",
        ),
        (
            [
                {
                    "chosen": [
                        {"role": "user", "content": "a"},
                        {"role": "assistant", "content": "b"},
                    ],
                    "rejected": [
                        {"role": "user", "content": "x"},
                        {"role": "assistant", "content": "y"},
                    ],
                }
            ],
            {},
            r"share no leading messages",
        ),
    ],
)
def test_bad_rows_raise_located_errors(rows, kwargs, match, tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(DataError, match=match) as info:
        load_preferences(path, **kwargs)
    assert "bad.jsonl" in str(info.value)


def test_bad_options_raise_config_errors(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", ROWS)
    with pytest.raises(ConfigError, match="on_bad_rows must be one of 'error', 'skip'"):
        load_preferences(path, on_bad_rows="ignore")
    with pytest.raises(ConfigError, match="ties must be one of"):
        load_preferences(path, ties="split")
    with pytest.raises(ConfigError, match="limit must be a whole number >= 1"):
        load_preferences(path, limit=0)
    with pytest.raises(ConfigError, match="mapped to more than one field"):
        load_preferences(path, chosen_key="x", rejected_key="x")


def test_importing_the_data_package_stays_light():
    import subprocess
    import sys

    code = "import sys, prefspace.data; print(sorted(m for m in ('torch', 'transformers', 'datasets', 'pyarrow') if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert out.strip() == "[]"
