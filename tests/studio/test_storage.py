"""The label database: WAL mode, one row per judgment, validation, reopening."""

from __future__ import annotations

import sqlite3

import pytest

from prefspace.exceptions import ConfigError, FormatError
from prefspace.studio import DuplicateJudgmentError, LabelStore, UnknownPairError

PAIRS = [
    {
        "pair_id": "r1|r2",
        "id_a": "r1",
        "id_b": "r2",
        "prompt": "Name a prime.",
        "response_a": "7",
        "response_b": "9",
        "strategy": "random",
    },
    {
        "pair_id": "r3|r4",
        "id_a": "r3",
        "id_b": "r4",
        "prompt": [{"role": "user", "content": "Hi"}],
        "response_a": "Hello!",
        "response_b": "<b>hey</b>",
        "strategy": "explore",
        "gain": 0.5,
    },
]


def test_wal_schema_and_one_row_per_judgment(tmp_path):
    path = tmp_path / "labels.sqlite"
    with LabelStore(path) as store:
        batch = store.add_batch(
            PAIRS, strategy="d-optimal", model_version=3, n_explore=1, select_seconds=0.25
        )
        assert batch == 1
        row = store.add_judgment("r1|r2", "ann", "b", reason="nine is not prime?", seconds=4.5)
        assert (
            row["label"] == "b"
            and row["annotator"] == "ann"
            and row["reason"] == "nine is not prime?"
        )
        assert (row["id_a"], row["id_b"], row["strategy"], row["model_version"]) == (
            "r1",
            "r2",
            "random",
            3,
        )
        assert row["source"] == "studio" and row["seconds"] == 4.5 and row["created_at"] > 0
        assert store.counts() == {
            "pairs": 2,
            "judgments": 1,
            "labels": 1,
            "batches": 1,
            "models": 0,
        }
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT label, annotator FROM judgments").fetchall() == [("b", "ann")]
    con.close()


def test_pairs_round_trip_texts_and_messages(tmp_path):
    with LabelStore(tmp_path / "l.sqlite") as store:
        store.add_batch(PAIRS, strategy="random", model_version=None)
        got = store.pairs()
    assert [p["pair_id"] for p in got] == ["r1|r2", "r3|r4"] and [p["rank"] for p in got] == [0, 1]
    assert (
        got[1]["prompt"] == [{"role": "user", "content": "Hi"}]
        and got[1]["response_b"] == "<b>hey</b>"
    )
    assert got[1]["gain"] == 0.5 and got[0]["gain"] is None and got[0]["prompt_b"] is None


def test_refuses_unknown_pairs_repeats_and_bad_labels(tmp_path):
    with LabelStore(tmp_path / "l.sqlite") as store:
        store.add_batch(PAIRS, strategy="random", model_version=None)
        store.add_judgment("r1|r2", "ann", "a")
        with pytest.raises(UnknownPairError, match="no pair 'nope'"):
            store.add_judgment("nope", "ann", "a")
        with pytest.raises(DuplicateJudgmentError, match="already judged"):
            store.add_judgment("r1|r2", "ann", "b")
        with pytest.raises(ConfigError, match="label must be one of"):
            store.add_judgment("r3|r4", "ann", "maybe")
        store.add_judgment("r1|r2", "other", "tie")  # another annotator may judge the same pair
        assert [j["label"] for j in store.judgments()] == ["a", "tie"]
        assert store.counts()["judgments"] == 2


def test_reopen_keeps_everything_and_readonly_cannot_write(tmp_path):
    path = tmp_path / "l.sqlite"
    with LabelStore(path) as store:
        store.add_batch(PAIRS, strategy="random", model_version=None)
        store.add_judgment("r3|r4", "ann", "skip")
        store.add_model(
            1,
            head="BradleyTerryLinear",
            n_labels=10,
            cv={"accuracy": 0.7, "ci_low": 0.5, "ci_high": 0.9, "folds": 5},
            fit_seconds=0.1,
            cv_seconds=0.4,
        )
        store.set_meta(pool_digest="abc")
    with LabelStore(path, readonly=True) as store:
        assert store.meta()["pool_digest"] == "abc" and store.meta()["format"] == "prefspace-labels"
        assert store.judgments()[0]["label"] == "skip"
        assert store.models()[0]["cv_accuracy"] == 0.7
        with pytest.raises(ConfigError, match="read-only"):
            store.add_judgment("r1|r2", "ann", "a")


def test_a_database_from_before_the_length_baseline_columns_gets_them(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite"
    with LabelStore(path):
        pass
    db = sqlite3.connect(str(path))
    for column in ("length_accuracy", "vs_length", "vs_length_low", "vs_length_high"):
        db.execute(f"ALTER TABLE models DROP COLUMN {column}")
    db.close()
    with LabelStore(path) as store:
        store.add_model(
            1,
            head="BradleyTerryLinear",
            n_labels=8,
            cv={"accuracy": 0.6, "length_accuracy": 0.7, "vs_length": -0.1},
        )
        row = store.models()[0]
    assert (
        row["length_accuracy"] == 0.7 and row["vs_length"] == -0.1 and row["vs_length_low"] is None
    )


def test_not_a_label_database(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(FormatError, match="not a prefspace label database"):
        LabelStore(junk)
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    con.execute("INSERT INTO meta VALUES ('format', 'something-else')")
    con.commit()
    con.close()
    with pytest.raises(FormatError, match="format 'something-else'"):
        LabelStore(other)
    with pytest.raises(ConfigError, match="no such label database"):
        LabelStore(tmp_path / "missing.sqlite", readonly=True)


@pytest.mark.parametrize("name", ["labels#1.sqlite", "what?.sqlite", "a%20b.sqlite"])
def test_a_database_path_with_uri_characters_opens_read_only(tmp_path, name):
    path = tmp_path / name
    with LabelStore(path) as store:
        store.add_batch(PAIRS, strategy="random", model_version=None)
    with LabelStore(path, readonly=True) as store:
        assert store.counts()["pairs"] == 2
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(("-wal", "-shm"))) == [
        name
    ]


def test_annotator_names_follow_one_rule(tmp_path):
    from prefspace.studio.storage import check_annotator

    assert check_annotator(" ann ") == "ann"
    assert check_annotator("label-studio:ann@example.org") == "label-studio:ann@example.org"
    for bad in ("", "x" * 65, "<b>me</b>", "a\nb", "label-studio:", 7):
        with pytest.raises(ConfigError, match="1 to 64 letters"):
            check_annotator(bad)
    with LabelStore(tmp_path / "labels.sqlite") as store:
        store.add_batch(PAIRS, strategy="random", model_version=None)
        with pytest.raises(ConfigError, match="an annotator must be"):
            store.add_judgment("r1|r2", "<script>", "a")
        assert store.counts()["judgments"] == 0


def test_a_reason_with_a_lone_surrogate_is_refused_not_a_crash(tmp_path):
    with LabelStore(tmp_path / "labels.sqlite") as store:
        store.add_batch(PAIRS, strategy="random", model_version=None)
        with pytest.raises(ConfigError, match="lone UTF-16 surrogate"):
            store.add_judgment("r1|r2", "ann", "a", reason="half \ud83d an emoji")
        assert (
            store.add_judgment("r1|r2", "ann", "a", reason="whole \U0001f600")["reason"]
            == "whole \U0001f600"
        )


@pytest.mark.parametrize(
    "sql, message",
    [
        (
            "UPDATE meta SET value = 'x1' WHERE key = 'schema'",
            "schema version must be a whole number",
        ),
        (
            "UPDATE meta SET value = '" + "9" * 5000 + "' WHERE key = 'schema'",
            "schema version must be a whole number",
        ),
        (
            "UPDATE pairs SET prompt = '[' WHERE pair_id = 'r1|r2'",
            "pair 'r1|r2' has a prompt that is not",
        ),
        (
            "UPDATE pairs SET prompt = '" + "[" * 50000 + "' WHERE pair_id = 'r1|r2'",
            "pair 'r1|r2' has a prompt",
        ),
        ("UPDATE pairs SET prompt_b = '3' WHERE pair_id = 'r3|r4'", "pair 'r3|r4' has a prompt_b"),
    ],
)
def test_a_tampered_database_is_a_format_error(tmp_path, sql, message):
    path = tmp_path / "labels.sqlite"
    with LabelStore(path) as store:
        store.add_batch(PAIRS, strategy="random", model_version=None)
    con = sqlite3.connect(path)
    con.execute(sql)
    con.commit()
    con.close()
    with pytest.raises(FormatError, match=message):
        with LabelStore(path, readonly=True) as store:
            store.pairs()
