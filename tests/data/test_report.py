"""The loaders' typed reports: named fields, ``to_json()`` as the plain dict the CLI prints, the
empty report of data built in memory, and what selecting and splitting keep."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from prefspace.data import (
    PairColumns,
    PairsReport,
    PreferenceDataset,
    ResponseColumns,
    ResponsesReport,
    ScoredResponses,
    SplitRecord,
    demo_path,
    load_preferences,
    read_responses,
    split_by_prompt,
)

# `prefspace validate --json` prints these keys, in this order, before "length_preference"
PAIRS_KEYS = [
    "source",
    "source_kind",
    "format",
    "formats",
    "columns",
    "rows",
    "pairs",
    "skipped",
    "n_skipped",
    "ties",
    "ties_action",
    "duplicates",
    "duplicates_action",
    "empty_responses",
    "ids",
    "subsets",
    "limit",
]


def test_demo_report_to_json_is_the_plain_dict():
    info = load_preferences(demo_path()).info
    assert isinstance(info, PairsReport) and isinstance(info.columns, PairColumns)
    assert info.to_json() == {
        "source": str(demo_path()),
        "source_kind": "jsonl",
        "format": "standard, explicit prompt",
        "formats": {"standard, explicit prompt": 337},
        "columns": {
            "prompt": "prompt",
            "chosen": "chosen",
            "rejected": "rejected",
            "subset": "subset",
            "id": "id",
        },
        "rows": 337,
        "pairs": 337,
        "skipped": {},
        "n_skipped": 0,
        "ties": 0,
        "ties_action": None,
        "duplicates": 0,
        "duplicates_action": None,
        "empty_responses": 0,
        "ids": "column 'id'",
        "subsets": {"helpfulness": 115, "harmlessness": 111, "honesty": 111},
        "limit": None,
    }
    assert list(info.to_json()) == PAIRS_KEYS
    # the report is frozen: a caller cannot change what was read
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.pairs = 3  # type: ignore[misc]


def test_labelled_ties_duplicates_and_skipped_rows_are_typed(tmp_path: Path):
    rows = [
        {"prompt": "q1", "response_a": "x", "response_b": "y", "label": "a", "subset": "math"},
        {"prompt": "q2", "response_a": "x", "response_b": "y", "label": "tie", "subset": "chat"},
        {"prompt": "q3", "response_a": "x", "response_b": "y", "label": "b", "subset": "chat"},
        {"prompt": "q3", "response_a": "x", "response_b": "y", "label": "b", "subset": "chat"},
        {"prompt": "q4", "response_a": "z", "response_b": "z", "label": "b", "subset": "chat"},
    ]
    path = tmp_path / "labelled.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "not json\n", encoding="utf-8")
    info = load_preferences(path, on_bad_rows="skip", ties="keep", limit=10).info
    assert (info.rows, info.pairs, info.ties, info.ties_action) == (6, 4, 1, "kept")
    assert (info.duplicates, info.duplicates_action, info.limit) == (1, "kept", 10)
    assert info.skipped == {"identical_responses": 1, "invalid_json": 1} and info.n_skipped == 2
    assert info.columns == PairColumns(
        prompt="prompt", response_a="response_a", response_b="response_b", label="label",
        subset="subset",
    )  # fmt: skip
    assert info.to_json()["columns"] == {
        "prompt": "prompt",
        "response_a": "response_a",
        "response_b": "response_b",
        "label": "label",
        "subset": "subset",
    }
    assert info.subsets == {"chat": 3, "math": 1} and info.format.endswith(", labelled")


def test_in_memory_data_has_the_empty_report():
    ds = PreferenceDataset(["q"], ["a"], ["b"], ["0"])
    assert ds.info == PairsReport() and ds.info.duplicates == 0 and ds.info.format == ""
    assert ds.info.columns.to_json() == {} and ds.info.split is None
    sr = ScoredResponses(["p"], ["0"], [0, 0], ["a", "b"], [1.0, 0.0], ["0", "1"])
    assert sr.info == ResponsesReport() and sr.info.columns == ResponseColumns()


def test_select_keeps_the_report_and_a_split_adds_its_record():
    ds = load_preferences(demo_path())
    assert ds.select([3, 1]).info is ds.info
    train, test = split_by_prompt(ds, test_size=40, random_state=3)
    assert train.info.split == SplitRecord("train", 3, None, 40, "pairs")
    assert test.info.split == SplitRecord("test", 3, None, 40, "pairs")
    assert dataclasses.replace(test.info, split=None) == ds.info
    # "split" comes last in the plain dict, and only for a part of a split
    assert list(test.info.to_json()) == [*PAIRS_KEYS, "split"]
    assert test.info.to_json()["split"] == {
        "side": "test",
        "seed": 3,
        "test_fraction": None,
        "test_size": 40,
        "unit": "pairs",
    }


def test_responses_report_to_json(tmp_path: Path):
    path = tmp_path / "pool.jsonl"
    path.write_text(
        json.dumps({"prompt": "2+2?", "responses": ["4", ""]})
        + "\n"
        + json.dumps({"prompt": "2+2?", "response": "four", "score": 1})
        + "\n",
        encoding="utf-8",
    )
    sr = read_responses(path)
    assert sr.info.columns.join is None and sr.info.columns.score == sr.info.score_key == "score"
    assert sr.info.to_json() == {
        "source": str(path),
        "prompts_source": None,
        "rows": 2,
        "responses": 3,
        "prompts": 1,
        "prompts_without_responses": 0,
        "score_key": "score",
        "scored_responses": 1,
        "empty_responses": 1,
        "list_rows": 1,
        "skipped": {},
        "n_skipped": 0,
        "ids": "file row (0-based)",
        "columns": {
            "prompt": "prompt",
            "response": "response",
            "score": "score",
            "join": None,
            "id": None,
        },
    }
    part = sr.select_prompts([0])
    assert part.info is sr.info
