"""``prefspace train`` and ``prefspace score`` on the first HH pairs with the real MiniLM encoder.

One embedding cache is shared by the whole module, so each text is embedded once.
"""

from __future__ import annotations

import gzip
import json
import sys

import numpy as np
import pytest
from scipy.special import expit
from typer.testing import CliRunner

from prefspace.cli import _register_commands, app, main
from prefspace.models import describe_model, load_model

N_PAIRS = 16
runner = CliRunner()


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    _register_commands()
    return tmp_path_factory.mktemp("cache")


def invoke(args: list[str]):
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def run_main(args: list[str], capsys) -> tuple[int, str]:
    """Through ``main``, which maps prefspace errors to exit code 2."""
    with pytest.raises(SystemExit) as info:
        main(args)
        sys.exit(0)
    out, err = capsys.readouterr()
    return info.value.code, out + err


@pytest.fixture(scope="module")
def trained(hh_path, cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "bt"
    result = invoke(["train", str(hh_path), "--limit", str(N_PAIRS), "--head", "bt-linear", "--param", "alpha=10",
                     "--test-fraction", "0.25", "--seed", "0", "--cache", str(cache), "--out", str(out)])
    return out, result.output


def test_train_prints_metrics_and_writes_model_and_metrics_json(trained):
    out, output = trained
    assert f"trained BradleyTerryLinear (bt-linear) on {N_PAIRS - N_PAIRS // 4} pairs" in output
    assert "test:" in output and "accuracy" in output
    report = json.loads((out / "metrics.json").read_text())
    assert report["n_train"] == N_PAIRS - N_PAIRS // 4 and report["n_test"] == N_PAIRS // 4
    assert report["params"]["alpha"] == 10
    assert set(report["test"]) >= {"loss", "accuracy", "margin", "mean_reward", "min_reward", "max_reward"}
    info = describe_model(out)
    assert info["class"] == "BradleyTerryLinear" and info["n_features_in"] == 768
    assert info["encoder"]["config"]["model"] == "all-MiniLM-L6-v2"
    assert info["metrics"]["test_accuracy"] == report["test"]["accuracy"]
    assert info["train_fingerprint"]


def test_score_pairs_writes_rewards_and_p_chosen(trained, hh_path, cache, tmp_path):
    out, _ = trained
    dest = tmp_path / "rewards.jsonl"
    result = invoke(["score", str(out), str(hh_path), "--limit", str(N_PAIRS), "--cache", str(cache), "--out", str(dest)])
    assert f"scored {N_PAIRS} pairs" in result.output
    lines = [json.loads(line) for line in dest.read_text().splitlines()]
    assert len(lines) == N_PAIRS
    rc = np.array([r["reward_chosen"] for r in lines])
    rr = np.array([r["reward_rejected"] for r in lines])
    np.testing.assert_allclose([r["p_chosen"] for r in lines], expit(rc - rr), rtol=1e-9)


def test_score_rows_gives_one_reward_per_response(trained, cache, tmp_path):
    out, _ = trained
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps(r) + "\n" for r in [
        {"id": "a", "prompt": "How do I bake bread?", "response": "Mix flour, water, yeast and salt, knead, rise, bake."},
        {"id": "b", "prompt": "How do I bake bread?", "response": "I won't help with that."},
        {"id": "c", "prompt": "Tell me a joke.", "response": "Why did the chicken cross the road?"},
    ]))
    dest = tmp_path / "r.jsonl"
    invoke(["score", str(out), str(rows), "--cache", str(cache), "--out", str(dest)])
    lines = [json.loads(line) for line in dest.read_text().splitlines()]
    assert [r["id"] for r in lines] == ["a", "b", "c"]
    assert all(np.isfinite(r["reward"]) for r in lines)
    assert len({r["reward"] for r in lines}) == 3


def test_train_ensemble_of_mlps_and_load_it(hh_path, cache, tmp_path):
    out = tmp_path / "ens"
    invoke(["train", str(hh_path), "--limit", str(N_PAIRS), "--head", "bt-mlp", "--ensemble", "2",
            "--aggregate", "min", "--param", "hidden_sizes=[16]", "--cache", str(cache), "--out", str(out)])
    model = load_model(out)
    assert type(model).__name__ == "RewardEnsemble" and len(model.members_) == 2
    assert model.aggregate == "min" and model.estimator.hidden_sizes == (16,)


def test_train_lgbm_with_separate_test_file(hh_path, cache, tmp_path):
    out = tmp_path / "lgbm"
    test_file = tmp_path / "test.jsonl"
    with gzip.open(hh_path, "rt", encoding="utf-8") as fh:
        test_file.write_text("".join(next(fh) for _ in range(6)), encoding="utf-8")  # already embedded
    result = invoke(["train", str(hh_path), "--limit", str(N_PAIRS), "--test", str(test_file), "--head", "clf-lgbm",
                     "--param", "min_child_samples=5", "--param", "n_estimators=20", "--cache", str(cache),
                     "--out", str(out), "--json"])
    report = json.loads(result.output)
    assert report["n_train"] == N_PAIRS and report["n_test"] == 6
    assert (out / "model.lgbm.txt").is_file()


def test_train_with_augmentation_adds_weighted_synthetic_pairs(hh_path, cache, tmp_path):
    out = tmp_path / "aug"
    result = invoke(["train", str(hh_path), "--limit", str(N_PAIRS), "--head", "bt-linear", "--augment", "perturb",
                     "--factor", "2", "--test-fraction", "0", "--cache", str(cache), "--out", str(out), "--json"])
    report = json.loads(result.output)
    assert report["n_train"] == N_PAIRS and report["n_synthetic"] == 2 * N_PAIRS
    assert report["test"] is None and report["augment"]


@pytest.mark.parametrize("args, message", [
    (["--head", "svm"], "--head must be one of 'bt-linear'"),
    (["--param", "depth=3"], "BradleyTerryLinear (head 'bt-linear') has no parameter 'depth'"),
    (["--param", "alpha"], "--param expects NAME=VALUE"),
])
def test_train_bad_options_exit_2_with_a_message(args, message, hh_path, cache, tmp_path, capsys):
    head = [] if "--head" in args else ["--head", "bt-linear"]
    code, output = run_main(["train", str(hh_path), "--limit", "5", "--cache", str(cache), "--out", str(tmp_path / "m"),
                             *head, *args], capsys)
    assert code == 2 and message in output


def test_score_refuses_a_folder_that_is_not_a_model(hh_path, tmp_path, capsys):
    code, output = run_main(["score", str(tmp_path), str(hh_path), "--out", str(tmp_path / "r.jsonl")], capsys)
    assert code == 2 and "not a prefspace model directory" in output
