"""The commands as one workflow (issue 22): one embedding cache, reusable splits, outputs that
lead somewhere, exports that follow from `train`'s flags.

Real MiniLM on the first HH pairs; the default cache is a temp dir (tests/conftest.py points
PREFSPACE_HOME there), and PREFSPACE_CACHE moves it, so no command is given --cache here.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from prefspace.cli import _register_commands, app, main
from prefspace.data import load_preferences
from prefspace.embed import default_cache_dir
from prefspace.evaluate.reward_bench import reward_bench_scores
from prefspace.models import RewardScorer

N_PAIRS = 20
runner = CliRunner()


def invoke(args: list[str]):
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def refused(args: list[str], capsys) -> str:
    """Run through ``main``, which maps prefspace errors to exit code 2; the error text."""
    with pytest.raises(SystemExit) as info:
        main(args)
    out, err = capsys.readouterr()
    assert info.value.code == 2, out + err
    return out + err


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    _register_commands()
    return tmp_path_factory.mktemp("workflow")


@pytest.fixture
def shared_cache(home, monkeypatch):
    """One cache folder for the whole module, named by the environment variable."""
    monkeypatch.setenv("PREFSPACE_CACHE", str(home / "cache"))
    return home / "cache"


@pytest.fixture
def trained(home, hh_path, shared_cache):
    out = home / "bt"
    if not (out / "model.json").is_file():
        invoke(["train", str(hh_path), "--limit", str(N_PAIRS), "--out", str(out)])
    return out


def test_every_command_uses_the_one_default_cache_and_says_what_it_found(
    home, hh_path, shared_cache, trained
):
    assert default_cache_dir() == shared_cache
    report = json.loads((trained / "metrics.json").read_text())
    assert report["cache"]["path"] == str(shared_cache) and report["cache"]["texts"] > 0
    # the same pairs again: every text is found, none embedded
    result = invoke(["train", str(hh_path), "--limit", str(N_PAIRS), "--out", str(home / "again")])
    texts = report["cache"]["texts"]
    assert f"cache {shared_cache}: {texts:,} of {texts:,} texts found, 0 embedded" in result.output
    again = json.loads((home / "again" / "metrics.json").read_text())["cache"]
    assert again == {"path": str(shared_cache), "texts": texts, "found": texts, "embedded": 0}
    # evaluate and score read the same cache: the held-out texts are there already
    result = invoke(["evaluate", str(trained), "--out", str(home / "eval")])
    assert f"cache {shared_cache}:" in result.output and ", 0 embedded" in result.output
    assert json.loads((home / "eval" / "metrics.json").read_text())["cache"]["embedded"] == 0


def test_train_writes_its_split_and_evaluate_uses_the_held_out_pairs(home, trained):
    split = json.loads((trained / "split.json").read_text())
    report = json.loads((trained / "metrics.json").read_text())
    assert split["n_train"] == report["n_train"] and split["n_test"] == report["n_test"] > 0
    assert not set(split["train_ids"]) & set(split["test_ids"])
    held_out = load_preferences(trained / "test.jsonl")
    assert held_out.ids == split["test_ids"] and held_out.fingerprint == split["test_fingerprint"]
    result = invoke(["evaluate", str(trained), "--out", str(home / "eval-own")])
    assert "the model's held-out pairs" in result.output
    metrics = json.loads((home / "eval-own" / "metrics.json").read_text())
    assert metrics["n_pairs"] == report["n_test"]
    assert metrics["accuracy"] == pytest.approx(report["test"]["accuracy"])


def test_evaluate_without_data_on_a_model_without_held_out_pairs_names_the_fix(
    home, hh_path, shared_cache, capsys
):
    out = home / "no-test"
    invoke(
        ["train", str(hh_path), "--limit", str(N_PAIRS), "--test-fraction", "0", "--out", str(out)]
    )
    assert (
        not (out / "test.jsonl").exists()
        and json.loads((out / "split.json").read_text())["n_test"] == 0
    )
    message = refused(["evaluate", str(out), "--out", str(home / "x")], capsys)
    assert "no held-out pairs" in message and "--test-fraction 0" in message


def test_scored_responses_in_one_file_and_the_error_that_names_prompts(
    home, trained, shared_cache, capsys
):
    rows = [
        ("What is 2+2?", "4", 1.0),
        ("What is 2+2?", "5", 0.0),
        ("What is 2+2?", "four", 0.7),
        ("Name a colour.", "Blue.", 1.0),
        ("Name a colour.", "Seven.", 0.0),
        ("Name a colour.", "Red", 0.8),
    ]
    scored = home / "scored.jsonl"
    scored.write_text(
        "".join(json.dumps({"prompt": p, "response": r, "gold": g}) + "\n" for p, r, g in rows)
    )
    result = invoke(["evaluate", str(trained), str(scored), "--out", str(home / "eval-scored")])
    metrics = json.loads((home / "eval-scored" / "metrics.json").read_text())
    assert metrics["n_prompts"] == 2 and "best-of-3" in result.output
    joined = home / "joined.jsonl"
    joined.write_text(
        "".join(
            json.dumps({"prompt_id": i // 3, "response": r}) + "\n"
            for i, (_, r, _) in enumerate(rows)
        )
    )
    message = refused(["evaluate", str(trained), str(joined), "--out", str(home / "y")], capsys)
    assert "--prompts" in message and "missing key 'chosen'" not in message


def test_score_keeps_the_input_columns(home, trained, shared_cache):
    rows = home / "rows.jsonl"
    rows.write_text(
        "".join(
            json.dumps({"prompt": "Say hi.", "response": r, "prompt_id": 7, "generator": g}) + "\n"
            for r, g in (("Hi!", "a"), ("Go away.", "b"))
        )
    )
    out = home / "rewards.jsonl"
    invoke(["score", str(trained), str(rows), "--out", str(out)])
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(x["prompt"], x["response"], x["prompt_id"], x["generator"]) for x in lines] == [
        ("Say hi.", "Hi!", 7, "a"),
        ("Say hi.", "Go away.", 7, "b"),
    ]
    expected = RewardScorer(trained).score(["Say hi."] * 2, ["Hi!", "Go away."])
    np.testing.assert_allclose([x["reward"] for x in lines], expected, rtol=1e-5, atol=1e-6)


def test_reward_bench_writes_every_example_and_marks_a_partial_overall(
    home, trained, shared_cache, rb_small
):
    result = invoke(
        [
            "evaluate",
            str(trained),
            str(rb_small),
            "--benchmark",
            "reward-bench",
            "--n-boot",
            "50",
            "--out",
            str(home / "rb"),
        ]
    )
    assert "PARTIAL" in result.output
    lines = [
        json.loads(line)
        for line in (home / "rb" / "reward_bench_scores.jsonl").read_text().splitlines()
    ]
    ds = load_preferences(rb_small)
    assert [x["id"] for x in lines] == ds.ids and [x["subset"] for x in lines] == ds.subset
    assert all(x["correct"] == (x["reward_chosen"] > x["reward_rejected"]) for x in lines)
    got = json.loads((home / "rb" / "metrics.json").read_text())["reward_bench"]
    again = reward_bench_scores(
        [x["reward_chosen"] for x in lines],
        [x["reward_rejected"] for x in lines],
        ds.subset,
        n_boot=50,
    )
    assert got["score"] is None and got["partial_score"] == pytest.approx(again["partial_score"])


@pytest.fixture
def rb_small():
    from pathlib import Path

    return Path(__file__).resolve().parents[1] / "evaluate" / "data" / "reward_bench_small.jsonl"


def test_an_mlp_trained_with_layout_joint_exports_exactly(home, hh_path, shared_cache):
    from sentence_transformers import SentenceTransformer

    from prefspace.embed.encoder import render_joint_text

    out = home / "mlp-joint"
    invoke(
        [
            "train",
            str(hh_path),
            "--limit",
            str(N_PAIRS),
            "--head",
            "bt-mlp",
            "--layout",
            "joint",
            "--param",
            "max_epochs=5",
            "--no-text-features",
            "--out",
            str(out),
        ]
    )
    invoke(["export", str(out), "--out", str(home / "mlp-joint-st")])
    st = SentenceTransformer(str(home / "mlp-joint-st"), device="cpu", trust_remote_code=False)
    prompts, responses = ["What is 2+2?", "Name a colour."], ["4", "Blue."]
    got = st.encode([render_joint_text(p, r) for p, r in zip(prompts, responses)])[:, 0].astype(
        np.float64
    )
    np.testing.assert_allclose(got, RewardScorer(out).score(prompts, responses), atol=1e-5)


def test_errors_name_the_keyword_from_python_and_the_flag_from_the_command_line(
    home, trained, capsys
):
    from prefspace.exceptions import ConfigError
    from prefspace.workflows import evaluate_model_dir

    with pytest.raises(ConfigError) as from_python:
        evaluate_model_dir(
            trained, "x.jsonl", home / "e1", prompts="p.jsonl", benchmark="reward-bench"
        )
    assert "benchmark='reward-bench' reads its own data format; leave out prompts." in str(
        from_python.value
    )
    assert "--" not in str(from_python.value)
    message = refused(
        [
            "evaluate",
            str(trained),
            "x.jsonl",
            "--prompts",
            "p.jsonl",
            "--benchmark",
            "reward-bench",
            "--out",
            str(home / "e2"),
        ],
        capsys,
    )
    assert "--benchmark reward-bench reads its own data format; leave out --prompts." in message
