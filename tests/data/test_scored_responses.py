"""load_scored_responses: the shared alpaca_bon files, single-file input, joins and bad rows."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from prefspace.data import ResponseColumns, load_scored_responses, read_responses
from prefspace.exceptions import DataError


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_alpaca_bon_loads_in_file_order(alpaca_dir):
    sr = load_scored_responses(
        alpaca_dir / "responses.jsonl.gz", prompts=alpaca_dir / "prompts.jsonl.gz"
    )
    assert (sr.n_prompts, len(sr)) == (805, 48290)
    assert sr.info.score_key == "gold"
    assert sr.prompt_ids == [str(i) for i in range(805)]
    assert sr.ids == [str(i) for i in range(48290)]
    assert list(sr.extra) == ["generator"]
    assert sr.scores.dtype == np.float64 and 0 <= sr.scores.min() and sr.scores.max() <= 1
    assert sr.info.empty_responses == 24  # real empty generations are kept, not dropped
    assert sr.info.prompts_source == str(alpaca_dir / "prompts.jsonl.gz")
    assert (sr.info.rows, sr.info.responses, sr.info.scored_responses) == (48290, 48290, 48290)
    assert sr.info.columns == ResponseColumns("prompt", "response", "gold", "prompt_id", None)

    # row i is line i of the file, so the precomputed embedding arrays line up
    with gzip.open(alpaca_dir / "responses.jsonl.gz", "rt", encoding="utf-8") as fh:
        head = [json.loads(next(fh)) for _ in range(3)]
    for i, row in enumerate(head):
        assert sr.responses[i] == row["response"] and sr.scores[i] == row["gold"]
        assert sr.prompt_ids[sr.prompt_index[i]] == str(row["prompt_id"])
        assert sr.extra["generator"][i] == row["generator"]
    emb = np.load(alpaca_dir / "response_emb_minilm.npy", mmap_mode="r")
    assert emb.shape[0] == len(sr)
    assert np.load(alpaca_dir / "prompt_emb_minilm.npy", mmap_mode="r").shape[0] == sr.n_prompts
    assert sorted(len(g) for g in sr.groups())[:3] == [58, 58, 59]


def test_single_file_groups_by_prompt_text(tmp_path):
    rows = [
        {"prompt": "p1", "response": "a", "score": 1.0},
        {"prompt": "p2", "response": "b", "score": 0.5},
        {"prompt": "p1", "response": "c", "score": -2, "note": "x"},
    ]
    sr = load_scored_responses(write_jsonl(tmp_path / "s.jsonl", rows))
    assert sr.prompts == ["p1", "p2"] and sr.prompt_ids == ["0", "1"]
    assert sr.prompt_index.tolist() == [0, 1, 0]
    assert sr.scores.tolist() == [1.0, 0.5, -2.0]
    assert sr.extra == {"note": [None, None, "x"]}


def test_single_file_with_join_key_and_custom_columns(tmp_path):
    rows = [
        {"qid": 7, "question": "p7", "answer": "a", "reward": 1, "rid": "r1"},
        {"qid": 3, "question": "p3", "answer": "b", "reward": 2, "rid": "r2"},
        {"qid": 7, "question": "p7", "answer": "c", "reward": 3, "rid": "r3"},
    ]
    sr = load_scored_responses(
        write_jsonl(tmp_path / "s.jsonl", rows),
        join_key="qid",
        prompt_key="question",
        response_key="answer",
        id_key="rid",
    )
    assert sr.prompt_ids == ["7", "3"] and sr.ids == ["r1", "r2", "r3"]
    assert sr.info.score_key == "reward"


def test_join_keys_match_across_json_and_csv(tmp_path):
    (tmp_path / "prompts.csv").write_text("prompt_id,prompt\n0,first\n1,second\n", encoding="utf-8")
    rows = [
        {"prompt_id": 1, "response": "x", "gold": 0.2},
        {"prompt_id": 0, "response": "y", "gold": 0.9},
    ]
    sr = load_scored_responses(
        write_jsonl(tmp_path / "r.jsonl", rows), prompts=tmp_path / "prompts.csv"
    )
    assert sr.prompts == ["first", "second"]
    assert sr.prompt_index.tolist() == [1, 0]


def test_unknown_prompt_id_names_the_line_and_can_be_skipped(tmp_path):
    prompts = write_jsonl(tmp_path / "p.jsonl", [{"prompt_id": 0, "prompt": "hi"}])
    responses = write_jsonl(
        tmp_path / "r.jsonl",
        [
            {"prompt_id": 0, "response": "a", "score": 1},
            {"prompt_id": 9, "response": "b", "score": 1},
        ],
    )
    with pytest.raises(DataError, match=r"r.jsonl:2: prompt_id 9 is not in the prompts file"):
        load_scored_responses(responses, prompts=prompts)
    sr = load_scored_responses(responses, prompts=prompts, on_bad_rows="skip")
    assert len(sr) == 1 and sr.ids == ["0"] and sr.info.skipped == {"unknown_prompt": 1}


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        (
            [{"prompt": "p", "response": "a"}],
            r"no score column \(looked for 'score', 'gold', 'reward'",
        ),
        ([{"prompt": "p", "response": "a", "score": "high"}], r":1: 'score' must be a number"),
        ([{"prompt": "p", "response": 3, "score": 1}], r":1: 'response' must be text"),
        (
            [{"prompt": "p", "score": 1, "text": "a"}],
            r":1: missing key 'response'.*response_key='NAME'",
        ),
        (
            [
                {"prompt_id": 1, "prompt": "p", "response": "a", "score": 1},
                {"prompt_id": 1, "prompt": "q", "response": "b", "score": 1},
            ],
            r":2: prompt_id 1 has prompt 'q' here but 'p'",
        ),
    ],
)
def test_bad_scored_rows(rows, match, tmp_path):
    with pytest.raises(DataError, match=match):
        load_scored_responses(write_jsonl(tmp_path / "s.jsonl", rows))


# ----------------------------------------------------------------------------- read_responses: scores optional


def test_read_responses_lists_completions_and_optional_scores(tmp_path):
    rows = [
        {"prompt": "p", "responses": ["a", "b"], "score": [1.0, None]},
        {
            "prompt": [{"role": "user", "content": "q"}],
            "response": [{"role": "assistant", "content": "c"}],
        },
        {"prompt": "p", "response": "d", "score": 2, "note": "x"},
    ]
    sr = read_responses(write_jsonl(tmp_path / "c.jsonl", rows), keep_records=True)
    assert sr.ids == ["0.0", "0.1", "1", "2"] and sr.responses == ["a", "b", "c", "d"]
    assert sr.prompt_index.tolist() == [0, 0, 1, 0] and sr.n_prompts == 2
    assert np.isnan(sr.scores[[1, 2]]).all() and sr.scores[[0, 3]].tolist() == [1.0, 2.0]
    assert sr.info.scored_responses == 2 and sr.info.list_rows == 1
    assert sr.records[0] is sr.records[1] and sr.records[3]["note"] == "x"
    assert sr.extra == {"note": [None, None, None, "x"]}
    with pytest.raises(DataError, match=r"c.jsonl:1: 'score\[1\]' is empty \(null\)"):
        load_scored_responses(tmp_path / "c.jsonl")  # scores required: every response needs one
    rows[0]["score"] = [1.0, 0.5]
    with pytest.raises(DataError, match=r"c.jsonl:2: missing key 'score'"):
        load_scored_responses(write_jsonl(tmp_path / "c.jsonl", rows))


def test_read_responses_without_any_score_column(tmp_path):
    sr = read_responses(write_jsonl(tmp_path / "c.jsonl", [{"prompt": "p", "response": "a"}]))
    assert sr.info.score_key is None and np.isnan(sr.scores).all()


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ([{"prompt": "p", "response": "a", "score": "high"}], r":1: 'score' must be a number"),
        (
            [{"prompt": "p", "responses": ["a", "b"], "score": 1.0}],
            r":1: 'score' must be a list of 2 scores",
        ),
        ([{"prompt": "p", "responses": []}], r":1: 'responses' must be a non-empty list"),
        (
            [{"prompt": "p", "response": ["a", "b"]}],
            r":1: 'response' must be text.*put the list under 'responses'",
        ),
        ([{"prompt_id": 3, "response": "a"}], r":1: missing key 'prompt'.*pass prompts='FILE'"),
        ([{"prompt": "", "response": "a"}], r":1: 'prompt' is empty text"),
        (
            [
                {"prompt": "p", "response": "a", "id": "x"},
                {"prompt": "p", "response": "b", "id": "x"},
            ],
            r":2: id 'x' was already used at .*:1",
        ),
    ],
)
def test_read_responses_bad_rows_name_the_line(rows, match, tmp_path):
    kwargs = {"id_key": "id"} if "id" in rows[0] else {}
    with pytest.raises(DataError, match=match):
        read_responses(write_jsonl(tmp_path / "c.jsonl", rows), **kwargs)


def test_every_file_rule_applies_to_response_files(tmp_path):
    rows = [
        {"prompt": "p", "response": "a", "score": 1},
        {"prompt": "p", "response": "b", "score": 0},
    ]
    text = "".join(json.dumps(r) + "\n" for r in rows)
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert read_responses(bom).responses == ["a", "b"]
    (tmp_path / "c.csv").write_bytes(b"\xef\xbb\xbfprompt,response,score\np,a,1\np,b,0\n")
    assert read_responses(tmp_path / "c.csv").scores.tolist() == [1.0, 0.0]
    full = gzip.compress(text.encode())
    (tmp_path / "cut.jsonl.gz").write_bytes(full[: len(full) // 2])
    (tmp_path / "plain.jsonl.gz").write_bytes(text.encode())
    (tmp_path / "latin1.jsonl").write_bytes(b'{"prompt": "p", "response": "caf\xe9"}\n')
    for name, match in (
        ("cut.jsonl.gz", "not a valid gzip file"),
        ("plain.jsonl.gz", "not a valid gzip file"),
        ("latin1.jsonl", r"latin1.jsonl:1: bytes that are not UTF-8"),
    ):
        with pytest.raises(DataError, match=match) as err:
            read_responses(tmp_path / name)
        assert name in str(err.value)
