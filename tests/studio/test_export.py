"""TRL export and the Label Studio round trip."""

from __future__ import annotations

import json

import pytest

from prefspace.data import load_preferences
from prefspace.exceptions import DataError
from prefspace.studio import (
    LabelStore,
    LabelStudioExport,
    LabelStudioImport,
    TrlExport,
    export_label_studio,
    export_trl,
    import_label_studio,
    label_studio_config,
)

PAIRS = [
    {
        "pair_id": f"r{i}|r{i + 1}",
        "id_a": f"r{i}",
        "id_b": f"r{i + 1}",
        "prompt": f"Question {i}?",
        "response_a": f"answer {i}",
        "response_b": f"answer {i + 1}",
        "strategy": "random",
    }
    for i in range(0, 10, 2)
]
CHAT = {
    "pair_id": "c1|c2",
    "id_a": "c1",
    "id_b": "c2",
    "prompt": [{"role": "user", "content": "Hi there"}],
    "response_a": "Hello!",
    "response_b": "Go away.",
    "strategy": "d-optimal",
}
CROSS = {
    "pair_id": "x1|x2",
    "id_a": "x1",
    "id_b": "x2",
    "prompt": "First?",
    "prompt_b": "Second?",
    "response_a": "one",
    "response_b": "two",
    "strategy": "explore",
}


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "labels.sqlite"
    with LabelStore(path) as store:
        store.add_batch(PAIRS + [CHAT, CROSS], strategy="random", model_version=None)
        store.add_judgment("r0|r1", "x", "a", reason="more precise")
        store.add_judgment("r2|r3", "x", "b")
        store.add_judgment("r4|r5", "x", "tie")
        store.add_judgment("r6|r7", "x", "skip")
        store.add_judgment("r8|r9", "x", "a")
        store.add_judgment("r8|r9", "y", "b")  # an even split: a tie by majority
        store.add_judgment("c1|c2", "x", "a")
        store.add_judgment("x1|x2", "x", "b")
    return path


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_trl_majority_drops_ties_and_reads_back(db, tmp_path):
    out = tmp_path / "pairs.jsonl"
    stats = export_trl(db, out)
    assert stats == TrlExport(rows=4, pairs=6, ties=2, skipped_ties=2, judgments=8)
    rows = {r["pair_id"]: r for r in _lines(out)}
    assert set(rows) == {"r0|r1", "r2|r3", "c1|c2", "x1|x2"}
    assert rows["r0|r1"] == {
        "prompt": "Question 0?",
        "chosen": "answer 0",
        "rejected": "answer 1",
        "pair_id": "r0|r1",
    }
    assert rows["r2|r3"]["chosen"] == "answer 3" and rows["r2|r3"]["rejected"] == "answer 2"
    assert rows["c1|c2"] == {
        "prompt": [{"role": "user", "content": "Hi there"}],
        "chosen": [{"role": "assistant", "content": "Hello!"}],
        "rejected": [{"role": "assistant", "content": "Go away."}],
        "pair_id": "c1|c2",
    }
    assert rows["x1|x2"]["chosen"] == [
        {"role": "user", "content": "Second?"},
        {"role": "assistant", "content": "two"},
    ]
    assert rows["x1|x2"]["rejected"] == [
        {"role": "user", "content": "First?"},
        {"role": "assistant", "content": "one"},
    ]
    # the same-prompt rows are valid preference data for prefspace (and TRL)
    (tmp_path / "same.jsonl").write_text(
        "".join(json.dumps(rows[k]) + "\n" for k in ("r0|r1", "r2|r3", "c1|c2"))
    )
    ds = load_preferences(tmp_path / "same.jsonl")
    assert len(ds) == 3 and ds.chosen[1] == "answer 3"


def test_trl_ties_both_flag_and_all(db, tmp_path):
    both = export_trl(db, tmp_path / "both.jsonl", ties="both")
    rows = _lines(tmp_path / "both.jsonl")
    assert both.rows == 8 and sum(r["pair_id"] == "r4|r5" for r in rows) == 2
    assert export_trl(db, tmp_path / "flag.jsonl", ties="flag").rows == 6
    flagged = _lines(tmp_path / "flag.jsonl")
    assert sorted(r["pair_id"] for r in flagged if r.get("tie")) == ["r4|r5", "r8|r9"]
    every = export_trl(db, tmp_path / "all.jsonl", aggregate="all")
    rows = _lines(tmp_path / "all.jsonl")
    assert every.rows == 6 and sorted(r["chosen"] for r in rows if r["pair_id"] == "r8|r9") == [
        "answer 8",
        "answer 9",
    ]
    with pytest.raises(ValueError, match="ties must be one of"):
        export_trl(db, tmp_path / "x.jsonl", ties="keep")


def test_label_studio_round_trip(db, tmp_path):
    tasks_path, config_path = tmp_path / "tasks.json", tmp_path / "config.xml"
    stats = export_label_studio(db, tasks_path, config_out=config_path)
    assert stats == LabelStudioExport(tasks=7, annotations=8)
    assert (
        "<Pairwise" in config_path.read_text() and config_path.read_text() == label_studio_config()
    )
    tasks = json.loads(tasks_path.read_text())
    first = tasks[0]
    assert first["data"]["pair_id"] == "r0|r1" and first["data"]["prompt"] == "Question 0?"
    assert first["annotations"][0]["result"][0]["value"] == {"selected": "left"}
    assert first["annotations"][0]["result"][1]["value"] == {"text": ["more precise"]}
    chat = next(t for t in tasks if t["data"]["pair_id"] == "c1|c2")
    assert chat["data"]["prompt"] == "User: Hi there"

    # a fresh database with the same pairs takes the annotations back, label for label
    fresh = tmp_path / "fresh.sqlite"
    with LabelStore(fresh) as store:
        store.add_batch(PAIRS + [CHAT, CROSS], strategy="random", model_version=None)
    got = import_label_studio(fresh, tasks_path)
    assert got == LabelStudioImport(tasks=7, added=8, already=0, empty=0, unknown=0)
    with LabelStore(db, readonly=True) as a, LabelStore(fresh, readonly=True) as b:
        key = lambda j: (j["pair_id"], j["annotator"], j["label"], j["reason"])  # noqa: E731
        assert sorted(map(key, a.judgments())) == sorted(map(key, b.judgments()))
        assert {j["source"] for j in b.judgments()} == {"label-studio"}
    assert import_label_studio(fresh, tasks_path).already == 8  # importing twice adds nothing


def test_label_studio_import_of_its_own_annotations(db, tmp_path):
    pending = tmp_path / "pending.json"
    assert export_label_studio(db, pending, pending=True) == LabelStudioExport(0, 0)
    with LabelStore(db) as store:
        store.add_batch(
            [
                {**PAIRS[0], "pair_id": "q1|q2", "id_a": "q1", "id_b": "q2"},
                {**PAIRS[0], "pair_id": "q3|q4", "id_a": "q3", "id_b": "q4"},
                {**PAIRS[0], "pair_id": "q5|q6", "id_a": "q5", "id_b": "q6"},
            ],
            strategy="random",
            model_version=None,
        )
    assert export_label_studio(db, pending, pending=True).tasks == 3
    tasks = json.loads(pending.read_text())
    # what Label Studio's JSON export looks like after labelling them
    tasks[0]["annotations"] = [
        {
            "completed_by": {"id": 3, "email": "ann@example.org"},
            "was_cancelled": False,
            "lead_time": 12.5,
            "result": [
                {
                    "from_name": "comparison",
                    "to_name": "response_a,response_b",
                    "type": "pairwise",
                    "value": {"selected": "right"},
                }
            ],
        }
    ]
    tasks[1]["annotations"] = [
        {
            "completed_by": 4,
            "result": [
                {
                    "from_name": "tie",
                    "to_name": "prompt",
                    "type": "choices",
                    "value": {"choices": ["Tie"]},
                },
                {
                    "from_name": "reason",
                    "to_name": "prompt",
                    "type": "textarea",
                    "value": {"text": ["same facts"]},
                },
            ],
        },
        {"completed_by": 5, "was_cancelled": True, "result": []},
    ]
    tasks[2]["annotations"] = [{"completed_by": 6, "result": []}]
    done = tmp_path / "done.json"
    done.write_text(json.dumps(tasks))
    assert import_label_studio(db, done) == LabelStudioImport(
        tasks=3, added=3, already=0, empty=1, unknown=0
    )
    with LabelStore(db, readonly=True) as store:
        new = {
            (j["pair_id"], j["annotator"]): j
            for j in store.judgments()
            if j["source"] == "label-studio"
        }
    assert new[("q1|q2", "label-studio:ann@example.org")]["label"] == "b"
    assert new[("q1|q2", "label-studio:ann@example.org")]["seconds"] == 12.5
    assert (
        new[("q3|q4", "label-studio:4")]["label"] == "tie"
        and new[("q3|q4", "label-studio:4")]["reason"] == "same facts"
    )
    assert new[("q3|q4", "label-studio:5")]["label"] == "skip"


def test_label_studio_import_errors(db, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"data": {"pair_id": "nope|nope"}, "annotations": []}]))
    with pytest.raises(DataError, match=r"task 0: pair 'nope\|nope' is not in labels.sqlite"):
        import_label_studio(db, bad)
    assert import_label_studio(db, bad, on_unknown="skip").unknown == 1
    both = tmp_path / "both.json"
    both.write_text(
        json.dumps(
            [
                {
                    "data": {"pair_id": "r0|r1"},
                    "annotations": [
                        {
                            "completed_by": 9,
                            "result": [
                                {"type": "pairwise", "value": {"selected": "left"}},
                                {"type": "choices", "value": {"choices": ["Tie"]}},
                            ],
                        }
                    ],
                }
            ]
        )
    )
    with pytest.raises(DataError, match="both picks a side and says Tie"):
        import_label_studio(db, both)
    (tmp_path / "junk.json").write_text("{")
    with pytest.raises(DataError, match="not a Label Studio JSON export"):
        import_label_studio(db, tmp_path / "junk.json")


def test_label_studio_json_min_and_csv_exports_are_refused_naming_the_supported_format(
    db, tmp_path
):
    """JSON-MIN rows are flat (no 'data'); CSV is columns: both refused, the message says to export 'JSON'."""
    json_min = tmp_path / "project-min.json"
    json_min.write_text(
        json.dumps(
            [
                {
                    "id": 1,
                    "prompt": "Q",
                    "response_a": "A",
                    "response_b": "B",
                    "pair_id": "r0|r1",
                    "annotator": 3,
                    "annotation_id": 7,
                    "comparison": {"selected": "left"},
                }
            ]
        )
    )
    csv = tmp_path / "project.csv"
    csv.write_text(
        "id,prompt,response_a,response_b,pair_id,annotator,comparison\n1,Q,A,B,r0|r1,3,left\n"
    )
    with LabelStore(db, readonly=True) as store:
        before = store.counts()
    for path, kind in ((json_min, "JSON-MIN"), (csv, "CSV")):
        with pytest.raises(
            DataError, match=f"a Label Studio {kind} export.*'JSON' export only.*JSON-MIN, CSV"
        ):
            import_label_studio(db, path)
    with LabelStore(db, readonly=True) as store:
        assert store.counts() == before


def _no_bare_constants(text: str):
    def refuse(constant):
        raise AssertionError(f"bare {constant} in the JSON output")

    return json.loads(text, parse_constant=refuse)


def test_an_infinite_lead_time_is_not_stored_and_never_written_as_bare_infinity(db, tmp_path):
    tasks = tmp_path / "ls.json"
    tasks.write_text(
        '[{"data": {"pair_id": "r2|r3"}, "annotations": [{"completed_by": 3, "lead_time": 1e999, '
        '"result": [{"type": "pairwise", "value": {"selected": "left"}}]}]}]'
    )
    assert import_label_studio(db, tasks).added == 1
    with LabelStore(db, readonly=True) as store:
        row = next(j for j in store.judgments() if j["annotator"] == "label-studio:3")
    assert row["seconds"] is None
    with LabelStore(db) as store:  # a database written by another tool may hold one anyway
        store._db.execute("UPDATE judgments SET seconds = 9e999 WHERE annotator = 'x'")
    out = tmp_path / "out.json"
    export_label_studio(db, out)
    exported = _no_bare_constants(out.read_text())
    assert {
        a["lead_time"]
        for t in exported
        for a in t.get("annotations", [])
        if a["completed_by"] == "x"
    } == {None}
    export_trl(db, tmp_path / "pairs.jsonl")
    for line in (tmp_path / "pairs.jsonl").read_text().splitlines():
        _no_bare_constants(line)


@pytest.mark.parametrize(
    "annotation, message",
    [
        (
            {"completed_by": 1, "result": [{"type": "pairwise", "value": [1]}]},
            "'value' must be an object; found a list of int",
        ),
        (
            {"completed_by": 1, "result": [{"type": "choices", "value": {"choices": 5}}]},
            "'choices' must be a list of strings",
        ),
        (
            {"completed_by": 1, "result": [{"type": "textarea", "value": {"text": 7}}]},
            "'text' must be a list of strings",
        ),
        (
            {
                "completed_by": 1,
                "result": [{"type": "textarea", "value": {"text": ["half \ud83d"]}}],
            },
            "lone UTF-16 surrogate",
        ),
        (
            {
                "completed_by": {"email": "\udc00@x.org"},
                "result": [{"type": "pairwise", "value": {"selected": "left"}}],
            },
            "'completed_by' holds a lone UTF-16 surrogate",
        ),
        (
            {
                "completed_by": "<b>" * 100,
                "result": [{"type": "pairwise", "value": {"selected": "left"}}],
            },
            "not a usable annotator name",
        ),
        (
            {"completed_by": [1], "result": [{"type": "pairwise", "value": {"selected": "left"}}]},
            "'completed_by' must be a user id",
        ),
        ({"completed_by": 1, "result": [3]}, "result 0 must be an object"),
    ],
)
def test_label_studio_import_refuses_wrong_shapes_and_writes_nothing(
    db, tmp_path, annotation, message
):
    good = {
        "data": {"pair_id": "r2|r3"},
        "annotations": [
            {"completed_by": 9, "result": [{"type": "pairwise", "value": {"selected": "left"}}]}
        ],
    }
    tasks = tmp_path / "ls.json"
    tasks.write_text(
        json.dumps([good, {"data": {"pair_id": "r0|r1"}, "annotations": [annotation]}])
    )
    before = db.read_bytes()
    with pytest.raises(
        DataError, match=r"ls.json: task 1, annotation 0: .*" + message.replace("(", r"\(")
    ):
        import_label_studio(db, tasks)
    with LabelStore(db, readonly=True) as store:
        assert not [
            j for j in store.judgments() if j["source"] == "label-studio"
        ]  # the good task was not written
    assert db.read_bytes() == before


def test_label_studio_import_of_deep_or_huge_json_names_the_file(db, tmp_path):
    for text, message in (
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('[{"data": {"pair_id": ' + "1" * 5000 + "}}]", "an integer of 5,000 digits"),
    ):
        (tmp_path / "ls.json").write_text(text)
        with pytest.raises(
            DataError, match=r"ls.json: not a Label Studio JSON export .*" + message
        ):
            import_label_studio(db, tmp_path / "ls.json")


def test_exports_refuse_to_write_over_the_database(db, tmp_path):
    from prefspace.exceptions import ConfigError

    before = db.read_bytes()
    with pytest.raises(ConfigError, match="is the input"):
        export_trl(db, db)
    with pytest.raises(ConfigError, match="is the input"):
        export_label_studio(db, db)
    with pytest.raises(ConfigError, match="is the input"):
        export_label_studio(db, tmp_path / "t.json", config_out=tmp_path / "t.json")
    with LabelStore(db, readonly=True) as store:
        with pytest.raises(ConfigError, match="is the input"):
            export_trl(store, db)
    assert db.read_bytes() == before and not (tmp_path / "t.json").exists()


def test_an_export_refusal_names_the_keyword_or_the_flag(db, tmp_path):
    from prefspace._surface import command_line
    from prefspace.exceptions import ConfigError

    same = tmp_path / "t.json"
    with pytest.raises(ConfigError, match=r"^config_out .*t\.json is the input"):
        export_label_studio(db, same, config_out=same)
    with command_line(), pytest.raises(ConfigError, match=r"^--config-out .*t\.json is the input"):
        export_label_studio(db, same, config_out=same)
