"""Best-of-N reranking: the selection logic, and `prefspace rerank` on AlpacaEval candidates."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from prefspace.cli import main
from prefspace.exceptions import ConfigError, DataError
from prefspace.serve import RewardScorer
from prefspace.serve.rerank import best_records, read_candidates, rerank


class _LengthScorer:
    """Reward = response length; records how many rows it was asked to score."""

    def __init__(self):
        self.rows = 0

    def score(self, prompts, responses):
        self.rows += len(responses)
        return np.array([float(len(r)) for r in responses])


def test_rerank_picks_the_best_of_the_first_n_per_prompt():
    prompts = ["p1", "p2", "p1", "p1", "p2", "p1"]
    responses = ["aa", "b", "aaaa", "a", "bbb", "aaaaaaaa"]  # p1's 4th candidate is the longest
    s = _LengthScorer()
    res = rerank(s, prompts, responses, n=3, batch_size=2)
    assert res.group_ids == ["p1", "p2"]
    assert res.best.tolist() == [2, 4]  # "aaaa" among p1's first three; "bbb" for p2
    assert res.n_candidates.tolist() == [3, 2]
    assert s.rows == 5  # the 4th p1 candidate was never scored
    assert np.isnan(res.rewards[5]) and res.rank[5] == 0
    assert res.rank[[0, 2, 3]].tolist() == [2, 1, 3]
    assert res.runner_up.tolist() == [2.0, 1.0]


def test_rerank_ties_go_to_the_earlier_candidate_and_groups_can_be_given():
    res = rerank(_LengthScorer(), ["x", "y", "z"], ["ab", "cd", "e"], groups=[7, 7, 7])
    assert res.best.tolist() == [0] and res.group_ids == [7]


def test_rerank_refuses_bad_arguments():
    with pytest.raises(ConfigError, match="n must be >= 1"):
        rerank(_LengthScorer(), ["p"], ["r"], n=0)
    with pytest.raises(DataError, match="got 2 prompts but 1 responses"):
        rerank(_LengthScorer(), ["p", "q"], ["r"])


@pytest.fixture(scope="module")
def candidates(tmp_path_factory, alpaca_dir):
    """4 AlpacaEval prompts x 5 responses (cut to 200 characters to keep embedding cheap)."""
    rows, prompts = [], {}
    with gzip.open(alpaca_dir / "prompts.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if row["prompt_id"] < 4:
                prompts[row["prompt_id"]] = row["prompt"]
    seen: dict[int, int] = {}
    with gzip.open(alpaca_dir / "responses.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            pid = row["prompt_id"]
            if pid in prompts and seen.get(pid, 0) < 5 and row["response"].strip():
                seen[pid] = seen.get(pid, 0) + 1
                rows.append({**row, "response": row["response"][:200]})
            if len(rows) == 20:
                break
    d = tmp_path_factory.mktemp("rerank")
    (d / "prompts.jsonl").write_text(
        "".join(json.dumps({"prompt_id": k, "prompt": v}) + "\n" for k, v in prompts.items())
    )
    (d / "candidates.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    inline = [{"prompt": prompts[r["prompt_id"]], "response": r["response"]} for r in rows]
    (d / "inline.jsonl").write_text("".join(json.dumps(r) + "\n" for r in inline))
    return d, rows, prompts


def test_rerank_cli_writes_the_best_of_n_with_its_reward(candidates, model_dirs, minilm, capsys):
    d, rows, prompts = candidates
    out = d / "best.jsonl"
    main(
        [
            "rerank",
            str(model_dirs["bt"]),
            str(d / "candidates.jsonl"),
            "--prompts",
            str(d / "prompts.jsonl"),
            "--n",
            "3",
            "--out",
            str(out),
            "--cache",
            str(d / "cache"),
        ]
    )
    assert "for 4 prompts" in capsys.readouterr().out
    best = [json.loads(line) for line in out.read_text().splitlines()]
    assert [b["prompt_id"] for b in best] == [0, 1, 2, 3]

    scorer = RewardScorer(
        model_dirs["bt"], encoder=minilm, cache=d / "cache"
    )  # the rows rerank cached
    for b in best:
        group = [r for r in rows if r["prompt_id"] == b["prompt_id"]][:3]
        rewards = scorer.score([prompts[b["prompt_id"]]] * 3, [r["response"] for r in group])
        k = int(np.argmax(rewards))
        assert b["candidate_index"] == k and b["response"] == group[k]["response"]
        assert b["reward"] == pytest.approx(rewards[k], abs=1e-5)
        assert b["runner_up_reward"] == pytest.approx(np.sort(rewards)[-2], abs=1e-5)
        assert b["n_candidates"] == 3 and b["prompt"] == prompts[b["prompt_id"]]
        assert b["gold"] == group[k]["gold"] and b["generator"] == group[k]["generator"]


def test_read_candidates_inline_prompts_group_by_prompt(candidates):
    d, rows, _ = candidates
    c = read_candidates(d / "inline.jsonl")
    assert len(c) == 20 and len(set(c.groups)) == 4


def test_rerank_cli_bad_file_exits_2_naming_the_line(tmp_path, model_dirs, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "p", "response": "r"}\n{"prompt": "p", "answer": "r"}\n')
    with pytest.raises(SystemExit) as exit_:
        main(["rerank", str(model_dirs["bt"]), str(bad), "--out", str(tmp_path / "o.jsonl")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "bad.jsonl:2: missing key 'response'" in err and "--response-key" in err
    assert not (tmp_path / "o.jsonl").exists()


def test_read_candidates_takes_every_format_the_data_readers_take(tmp_path):
    rows = [
        {"prompt": "p", "response": "ab", "k": 1},
        {"prompt": "q", "response": "c", "k": 2},
        {"prompt": "p", "response": "abc", "k": 3},
    ]
    text = "".join(json.dumps(r) + "\n" for r in rows)
    (tmp_path / "bom.jsonl").write_bytes(
        b"\xef\xbb\xbf" + text.encode()
    )  # a BOM, as docs/data-formats.md allows
    (tmp_path / "c.jsonl.gz").write_bytes(gzip.compress(text.encode()))
    (tmp_path / "c.csv").write_text("prompt,response,k\np,ab,1\nq,c,2\np,abc,3\n")
    for name in ("bom.jsonl", "c.jsonl.gz", "c.csv"):
        c = read_candidates(tmp_path / name)
        assert c.responses == ["ab", "c", "abc"] and c.groups[0] == c.groups[2] != c.groups[1], name
    full = gzip.compress(text.encode())
    (tmp_path / "cut.jsonl.gz").write_bytes(full[:-12])
    (tmp_path / "fake.jsonl.gz").write_bytes(text.encode())
    (tmp_path / "latin1.jsonl").write_bytes(b'{"prompt": "p", "response": "caf\xe9"}\n')
    for name, match in (
        ("cut.jsonl.gz", "not a valid gzip file"),
        ("fake.jsonl.gz", "not a valid gzip file"),
        ("latin1.jsonl", "latin1.jsonl:1: bytes that are not UTF-8"),
    ):
        with pytest.raises(DataError, match=match):
            read_candidates(tmp_path / name)


def test_best_records_write_back_the_winning_row(tmp_path):
    rows = [
        {"prompt": "p", "responses": ["a", "abcd", "ab"], "tag": "t1"},
        {"prompt": "q", "response": [{"role": "assistant", "content": "xyz"}], "tag": "t2"},
        {"prompt": "q", "response": "w", "tag": "t2"},
    ]
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    c = read_candidates(path, group_key="tag")
    assert c.groups == ["t1", "t1", "t1", "t2", "t2"] and c.responses[3] == "xyz"
    res = rerank(_LengthScorer(), c.prompts, c.responses, groups=c.groups)
    best = best_records(c, res)
    assert best[0] == {
        "prompt": "p",
        "response": "abcd",
        "tag": "t1",
        "reward": 4.0,
        "n_candidates": 3,
        "candidate_index": 1,
        "runner_up_reward": 2.0,
    }
    assert best[1]["response"] == [
        {"role": "assistant", "content": "xyz"}
    ]  # the source row, as it was
    assert best[1]["candidate_index"] == 0 and best[1]["runner_up_reward"] == 1.0
    single = rerank(_LengthScorer(), c.prompts[:1], c.responses[:1], groups=c.groups[:1])
    assert (
        best_records(read_candidates(path, group_key="tag"), single)[0]["runner_up_reward"] is None
    )


def test_read_candidates_group_rules(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(
        '{"prompt": "p", "response": "a", "g": 1}\n{"prompt": "q", "response": "b", "g": 1}\n'
    )
    with pytest.raises(DataError, match=r"c.jsonl:2: g 1 has prompt 'q' here but 'p'"):
        read_candidates(path, group_key="g")  # a group is one prompt's candidates
    with pytest.raises(DataError, match="no column 'nope' for group_key"):  # Python: the keyword
        read_candidates(path, group_key="nope")
    with pytest.raises(ConfigError, match="group_key='g' with prompts"):
        read_candidates(path, prompts=path, group_key="g")
