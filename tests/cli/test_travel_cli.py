"""The model travels: `train` writes a card and a record, `export` writes a plain sentence-transformers folder,
`evaluate --benchmark` gives reward-bench's section scores."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from prefspace.cli import _register_commands, app, main
from prefspace.data import demo_path, load_preferences
from prefspace.evaluate.reward_bench import (
    load_best_of_k,
    reward_bench_2_scores,
    reward_bench_scores,
)
from prefspace.models import RewardScorer

RB_DATA = Path(__file__).resolve().parents[1] / "evaluate" / "data"
runner = CliRunner()


def invoke(args: list[str]):
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    _register_commands()
    base = tmp_path_factory.mktemp("travel")
    out = base / "bt-linear"
    invoke(
        [
            "train",
            str(demo_path()),
            "--limit",
            "24",
            "--head",
            "bt-linear",
            "--test-fraction",
            "0.25",
            "--seed",
            "3",
            "--cache",
            str(base / "cache"),
            "--out",
            str(out),
            "--no-text-features",
        ]
    )
    return out, base


def test_train_writes_a_card_and_the_record_in_both_json_files(trained):
    out, _ = trained
    report = json.loads((out / "metrics.json").read_text())
    header = json.loads((out / "model.json").read_text())
    assert report["record"] == header["record"]
    record = report["record"]
    assert (
        record["encoder_weights_sha256"]
        and record["config"]["seed"] == 3
        and record["config"]["head"] == "bt-linear"
    )
    assert set(record["versions"]) >= {
        "prefspace",
        "torch",
        "transformers",
        "sentence-transformers",
        "numpy",
        "scikit-learn",
    }
    assert (
        0
        <= report["test"]["ci_low"]
        <= report["test"]["accuracy"]
        <= report["test"]["ci_high"]
        <= 1
    )
    meta = yaml.safe_load((out / "README.md").read_text().split("---\n")[1])
    own = meta["prefspace"]
    assert (
        own["training_data"]["licence"] == "CC0-1.0"
        and own["training_data"]["n_pairs"] == report["n_train"]
    )
    assert own["test_metrics"]["ci_high"] == report["test"]["ci_high"] and own["seed"] == 3
    assert (
        meta["license"] == "cc0-1.0"
        and meta["model-index"][0]["results"][0]["metrics"][0]["type"] == "accuracy"
    )


def test_export_command_writes_the_prompt_aware_model_and_refuses_inexact_models(
    trained, model_dirs, capsys
):
    out, base = trained
    result = invoke(
        ["export", str(out), "--format", "sentence-transformers", "--out", str(base / "st")]
    )
    assert (
        "encode_query(prompts)[:, 0] + encode_document(responses)[:, 0] is the reward"
        in result.output
    )
    assert "Dense(384->1, identity) [query (prompt)]" in result.output
    assert (
        json.loads((base / "st" / "prefspace_export.json").read_text())["scope"]
        == "prompt_plus_response"
    )
    with pytest.raises(SystemExit) as info:
        main(["export", str(model_dirs["bt"]), "--out", str(base / "refused")])
        sys.exit(0)
    err = capsys.readouterr().err
    assert info.value.code == 2 and "non-linearity" in err and "--layout joint" in err
    assert not (base / "refused").exists()


def test_evaluate_benchmark_reward_bench_gives_the_section_scores(trained):
    out, base = trained
    data = RB_DATA / "reward_bench_small.jsonl"
    result = invoke(
        [
            "evaluate",
            str(out),
            str(data),
            "--benchmark",
            "reward-bench",
            "--n-boot",
            "200",
            "--cache",
            str(base / "cache"),
            "--out",
            str(base / "rb"),
        ]
    )
    for section in ("Chat", "Chat Hard", "Safety", "Reasoning", "overall"):
        assert section in result.output
    got = json.loads((base / "rb" / "metrics.json").read_text())["reward_bench"]
    ds = load_preferences(data)
    scorer = RewardScorer(out)
    expected = reward_bench_scores(
        scorer.score(ds.prompts, ds.chosen),
        scorer.score(ds.prompts, ds.rejected),
        ds.subset,
        n_boot=200,
    )
    for section, value in expected["sections"].items():
        assert got["sections"][section]["score"] == pytest.approx(value["score"])
    assert got["score"] is None and got["partial_score"] == pytest.approx(expected["partial_score"])
    assert "PARTIAL" in result.output
    assert "reward-bench" in (base / "rb" / "report.html").read_text()


def test_benchmark_mistakes_are_exit_code_2(trained, capsys):
    out, base = trained
    plain = base / "no-subset.jsonl"
    plain.write_text(
        json.dumps({"prompt": "Hi", "chosen": "Hello!", "rejected": "Go away."}) + "\n"
    )
    for args, message in [
        (
            [
                "evaluate",
                str(out),
                str(plain),
                "--benchmark",
                "reward-bench",
                "--out",
                str(base / "x"),
            ],
            "no 'subset' column",
        ),
        (
            [
                "evaluate",
                str(out),
                str(demo_path()),
                "--benchmark",
                "reward-bench",
                "--out",
                str(base / "x"),
            ],
            "is a reward-bench subset",
        ),
        (
            [
                "evaluate",
                str(out),
                str(demo_path()),
                "--benchmark",
                "rewardbench",
                "--out",
                str(base / "x"),
            ],
            "--benchmark",
        ),
        (
            [
                "evaluate",
                str(out),
                str(RB_DATA / "reward_bench_small.jsonl"),
                "--benchmark",
                "reward-bench-2",
                "--out",
                str(base / "x"),
            ],
            "reward_bench_small.jsonl:1: 'chosen' must be a non-empty list",
        ),
    ]:
        with pytest.raises(SystemExit) as info:
            main(args)
            sys.exit(0)
        assert info.value.code == 2 and message in capsys.readouterr().err, args


def test_evaluate_benchmark_reward_bench_2_gives_best_of_4_and_ties(trained):
    out, base = trained
    data = RB_DATA / "reward_bench_2_small.jsonl"
    result = invoke(
        [
            "evaluate",
            str(out),
            str(data),
            "--benchmark",
            "reward-bench-2",
            "--n-boot",
            "200",
            "--cache",
            str(base / "cache"),
            "--out",
            str(base / "rb2"),
        ]
    )
    assert "Ties" in result.output and "overall" in result.output
    got = json.loads((base / "rb2" / "metrics.json").read_text())["reward_bench_2"]
    examples = load_best_of_k(data)
    prompts, responses, spans = examples.flat()
    rewards = RewardScorer(out).score(prompts, responses)
    expected = reward_bench_2_scores(
        [rewards[s] for s in spans], examples.num_correct, examples.subsets, examples.ids, n_boot=0
    )
    assert {k: v["score"] for k, v in got["subsets"].items()} == pytest.approx(
        {k: v["score"] for k, v in expected["subsets"].items()}
    )
    assert got["score"] == pytest.approx(
        np.mean([v["score"] for v in expected["subsets"].values()])
    )
