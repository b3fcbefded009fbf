"""load_preferences on data already in memory: datasets.Dataset / DatasetDict, pandas DataFrame, list of dicts."""

from __future__ import annotations

import datasets
import numpy as np
import pandas as pd
import pytest

from prefspace.data import load_preferences, load_scored_responses
from prefspace.data.licence import data_licence, spdx_from_text
from prefspace.exceptions import DataError

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


@pytest.mark.parametrize(
    "make",
    [
        lambda: datasets.Dataset.from_list(ROWS),
        lambda: pd.DataFrame(ROWS),
        lambda: list(ROWS),
    ],
    ids=["Dataset", "DataFrame", "list"],
)
def test_every_container_gives_the_same_pairs_as_a_file(make, tmp_path):
    path = tmp_path / "p.jsonl"
    datasets.Dataset.from_list(ROWS).to_json(str(path))
    from_file = load_preferences(path)
    ds = load_preferences(make())
    assert (
        ds.prompts == from_file.prompts
        and ds.chosen == from_file.chosen
        and ds.rejected == from_file.rejected
    )
    assert ds.ids == ["p1", "p2", "p3"] and ds.subset == ["math", "art", "math"]
    assert ds.fingerprint == from_file.fingerprint
    assert ds.info.format == "standard, explicit prompt"


def test_dataset_dict_needs_a_split_when_it_has_several():
    dd = datasets.DatasetDict(
        train=datasets.Dataset.from_list(ROWS[:2]), test=datasets.Dataset.from_list(ROWS[2:])
    )
    assert load_preferences(dd, split="test").chosen == ["Four."]
    with pytest.raises(DataError, match="several splits \\(train, test\\)"):
        load_preferences(dd)
    with pytest.raises(DataError, match="no split 'valid'"):
        load_preferences(dd, split="valid")
    assert len(load_preferences(datasets.DatasetDict(train=datasets.Dataset.from_list(ROWS)))) == 3


def test_conversational_rows_and_column_mapping_work_from_a_dataframe():
    """Parquet-style list cells arrive as numpy arrays in pandas; they are read like lists."""
    conv = [
        {
            "q": [{"role": "user", "content": "Hi"}],
            "good": [{"role": "assistant", "content": "Hello!"}],
            "bad": [{"role": "assistant", "content": "Go away."}],
            "m": np.float64(0.5),
        },
        {
            "q": [{"role": "user", "content": "Bye"}],
            "good": [{"role": "assistant", "content": "Goodbye!"}],
            "bad": [{"role": "assistant", "content": "Whatever."}],
            "m": np.float64(1.0),
        },
    ]
    df = pd.DataFrame(conv)
    df["q"] = df["q"].map(np.array)  # what pd.read_parquet gives for list columns
    ds = load_preferences(df, prompt_key="q", chosen_key="good", rejected_key="bad", margin_key="m")
    assert ds.prompts[0] == [{"role": "user", "content": "Hi"}]
    assert ds.chosen == ["Hello!", "Goodbye!"] and ds.margin.tolist() == [0.5, 1.0]
    assert ds.info.format.startswith("conversational")


def test_bad_rows_are_named_by_container_and_row_and_can_be_skipped():
    rows = [
        dict(ROWS[0]),
        {"prompt": "x", "chosen": "same", "rejected": "same", "subset": "s", "id": "q"},
        dict(ROWS[1]),
    ]
    with pytest.raises(
        DataError, match=r"^<Dataset>: row 2: 'chosen' and 'rejected' are identical"
    ):
        load_preferences(datasets.Dataset.from_list(rows))
    ds = load_preferences(rows, on_bad_rows="skip")
    assert len(ds) == 2 and ds.info.skipped == {"identical_responses": 1}
    # a missing DataFrame cell (NaN) is a missing value, like an empty CSV cell
    df = pd.DataFrame([ROWS[0], {**ROWS[1], "subset": None}])
    with pytest.raises(DataError, match=r"^<DataFrame>: row 2: 'subset' is empty \(null\)"):
        load_preferences(df)
    with pytest.raises(DataError, match=r"<list>: row 1: expected a dict"):
        load_preferences(["not a row"])
    with pytest.raises(DataError, match="holds no rows"):
        load_preferences([])
    with pytest.raises(DataError, match="cannot read preference data from a int"):
        load_preferences(42)


def test_scored_responses_read_from_memory_too():
    rows = [
        {"prompt": "p", "response": "a", "score": 1.0},
        {"prompt": "p", "response": "b", "score": 0.0},
    ]
    scored = load_scored_responses(pd.DataFrame(rows))
    assert scored.responses == ["a", "b"] and scored.scores.tolist() == [1.0, 0.0]


def test_licence_is_read_where_the_data_states_it(tmp_path):
    assert spdx_from_text("MIT License\n\nCopyright (c) 2022") == "MIT"
    assert (
        spdx_from_text("Creative Commons Attribution-NonCommercial 4.0 International")
        == "CC-BY-NC-4.0"
    )
    assert spdx_from_text("some home-made terms") is None
    (tmp_path / "pairs.jsonl").write_text("{}\n")
    assert data_licence(tmp_path / "pairs.jsonl") is None  # nothing stated: unknown, not guessed
    (tmp_path / "README.md").write_text("---\nlicense: cc-by-4.0\n---\n# my data\n")
    assert data_licence(tmp_path / "pairs.jsonl") == "CC-BY-4.0"
    (tmp_path / "LICENSE").write_text("CC0 1.0 Universal\n")
    assert data_licence(tmp_path / "pairs.jsonl") == "CC0-1.0"
    ds = datasets.Dataset.from_list(ROWS, info=datasets.DatasetInfo(license="apache-2.0"))
    assert data_licence(ds) == "Apache-2.0"
    assert data_licence(pd.DataFrame(ROWS)) is None
