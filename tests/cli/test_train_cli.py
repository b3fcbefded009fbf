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
    result = invoke(
        [
            "train",
            str(hh_path),
            "--limit",
            str(N_PAIRS),
            "--head",
            "bt-linear",
            "--param",
            "alpha=10",
            "--test-fraction",
            "0.25",
            "--seed",
            "0",
            "--cache",
            str(cache),
            "--out",
            str(out),
        ]
    )
    return out, result.output


def test_train_prints_metrics_and_writes_model_and_metrics_json(trained):
    out, output = trained
    assert f"trained BradleyTerryLinear (bt-linear) on {N_PAIRS - N_PAIRS // 4} pairs" in output
    assert "test:" in output and "accuracy" in output
    report = json.loads((out / "metrics.json").read_text())
    assert report["n_train"] == N_PAIRS - N_PAIRS // 4 and report["n_test"] == N_PAIRS // 4
    assert report["params"]["alpha"] == 10
    assert set(report["test"]) >= {
        "loss",
        "accuracy",
        "margin",
        "mean_reward",
        "min_reward",
        "max_reward",
    }
    info = describe_model(out)
    assert (
        info.class_name == "BradleyTerryLinear" and info.n_features_in == 768 + 8
    )  # rows + the text features
    assert info.encoder["config"]["model"] == "all-MiniLM-L6-v2"
    assert info.metrics["test_accuracy"] == report["test"]["accuracy"]
    assert info.train_fingerprint


def test_train_names_the_length_baseline_beside_the_model(trained, hh_path):
    """metrics.json, model.json and the printed output carry the learned length baseline,
    fitted on the same training pairs and measured on the same test pairs."""
    from prefspace.data import load_preferences, split_by_prompt
    from prefspace.models import LengthBaseline, load_length_baseline, pair_log_lengths

    out, output = trained
    report = json.loads((out / "metrics.json").read_text())
    base = report["length_baseline"]
    train, test = split_by_prompt(
        load_preferences(hh_path, limit=N_PAIRS), test_fraction=0.25, random_state=0
    )
    expected = LengthBaseline().fit(pair_log_lengths(train.chosen, train.rejected))
    assert base["coef"] == pytest.approx(expected.coef_, rel=1e-9) and base["n_pairs"] == len(train)
    assert base["test"]["accuracy"] == pytest.approx(
        expected.score(pair_log_lengths(test.chosen, test.rejected))
    )
    vs = base["vs_model"]
    assert (
        vs["model"] == pytest.approx(report["test"]["accuracy"])
        and vs["baseline"] == base["test"]["accuracy"]
    )
    assert (
        vs["difference"] == pytest.approx(vs["model"] - vs["baseline"])
        and vs["ci_low"] <= vs["difference"] <= vs["ci_high"]
    )
    assert (
        f"length baseline (learned on the training pairs: the {base['direction']} answer wins)"
        in output
    )
    assert f"test accuracy {base['test']['accuracy']:.4f}" in output
    assert (
        f"model - length baseline on the test pairs: {100 * vs['difference']:+.1f} points" in output
    )
    assert load_length_baseline(out).coef_ == pytest.approx(base["coef"])
    assert describe_model(out).metrics["test_length_baseline_accuracy"] == base["test"]["accuracy"]


def test_score_pairs_writes_rewards_and_p_chosen(trained, hh_path, cache, tmp_path):
    out, _ = trained
    dest = tmp_path / "rewards.jsonl"
    result = invoke(
        [
            "score",
            str(out),
            str(hh_path),
            "--limit",
            str(N_PAIRS),
            "--cache",
            str(cache),
            "--out",
            str(dest),
        ]
    )
    assert f"scored {N_PAIRS} pairs" in result.output
    lines = [json.loads(line) for line in dest.read_text().splitlines()]
    assert len(lines) == N_PAIRS
    rc = np.array([r["reward_chosen"] for r in lines])
    rr = np.array([r["reward_rejected"] for r in lines])
    np.testing.assert_allclose([r["p_chosen"] for r in lines], expit(rc - rr), rtol=1e-5)


def test_score_rows_gives_one_reward_per_response_and_keeps_the_id_columns(
    trained, cache, tmp_path
):
    out, _ = trained
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        "".join(
            json.dumps(r) + "\n"
            for r in [
                {
                    "id": "a",
                    "prompt_id": 7,
                    "generator": "m1",
                    "prompt": "How do I bake bread?",
                    "response": "Mix flour, water, yeast and salt, knead, rise, bake.",
                },
                {
                    "id": "b",
                    "prompt_id": 7,
                    "generator": "m2",
                    "prompt": "How do I bake bread?",
                    "response": "I won't help with that.",
                },
                {
                    "id": "c",
                    "prompt_id": 9,
                    "generator": "m1",
                    "prompt": "Tell me a joke.",
                    "response": "Why did the chicken cross the road?",
                },
            ]
        )
    )
    dest = tmp_path / "r.jsonl"
    result = invoke(
        ["score", str(out), str(rows), "--cache", str(cache), "--device", "cpu", "--out", str(dest)]
    )
    assert "kept columns: id, prompt_id, generator, prompt, response" in result.stdout
    lines = [json.loads(line) for line in dest.read_text().splitlines()]
    assert [r["id"] for r in lines] == ["a", "b", "c"]
    assert [(r["prompt_id"], r["generator"]) for r in lines] == [(7, "m1"), (7, "m2"), (9, "m1")]
    assert [r["response"] for r in lines][
        1
    ] == "I won't help with that."  # the input's columns, texts included
    assert all(np.isfinite(r["reward"]) for r in lines)
    assert len({r["reward"] for r in lines}) == 3
    # --encoder names the encoder to embed with; the model's own is accepted, another is refused
    again = tmp_path / "again.jsonl"
    invoke(
        [
            "score",
            str(out),
            str(rows),
            "--cache",
            str(cache),
            "--encoder",
            "all-MiniLM-L6-v2",
            "--out",
            str(again),
        ]
    )
    assert [json.loads(line)["reward"] for line in again.read_text().splitlines()] == [
        r["reward"] for r in lines
    ]


def test_train_keeps_and_counts_duplicate_pairs(hh_path, cache, tmp_path):
    data = tmp_path / "dup.jsonl"
    with gzip.open(hh_path, "rt", encoding="utf-8") as fh:
        first = [next(fh) for _ in range(8)]
    data.write_text(
        "".join(first + first[:3]), encoding="utf-8"
    )  # 3 exact duplicates, already embedded
    result = invoke(
        [
            "train",
            str(data),
            "--head",
            "bt-linear",
            "--test-fraction",
            "0",
            "--cache",
            str(cache),
            "--out",
            str(tmp_path / "m"),
        ]
    )
    assert "trained BradleyTerryLinear (bt-linear) on 11 pairs" in result.stdout
    assert f"{data}: 3 exact duplicate pairs (kept; --dedupe drops them)" in result.stdout
    assert json.loads((tmp_path / "m" / "metrics.json").read_text())["duplicates"] == {
        "data": 3,
        "test": 0,
    }
    deduped = invoke(
        [
            "train",
            str(data),
            "--head",
            "bt-linear",
            "--test-fraction",
            "0",
            "--dedupe",
            "--cache",
            str(cache),
            "--out",
            str(tmp_path / "d"),
            "--json",
        ]
    )
    assert json.loads(deduped.stdout)["n_train"] == 8


def test_train_augment_auto_prints_what_it_compared_and_chose(hh_path, cache, tmp_path):
    result = invoke(
        [
            "train",
            str(hh_path),
            "--limit",
            str(N_PAIRS),
            "--head",
            "bt-linear",
            "--augment",
            "auto",
            "--test-fraction",
            "0",
            "--cache",
            str(cache),
            "--out",
            str(tmp_path / "auto"),
        ]
    )
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "augment auto: cross-validated" in line)
    assert f"on the {N_PAIRS} training pairs" in lines[start]
    assert lines[start + 1].split()[:3] == ["real", "pairs", "only"]
    report = json.loads((tmp_path / "auto" / "metrics.json").read_text())["augment"]
    for c, line in zip(
        report["candidates"], lines[start + 2 :]
    ):  # one line per candidate, with its gain
        assert (
            line.strip().startswith(f"{c['method']} x{c['factor']}")
            and f"{100 * c['gain']:+.1f} points" in line
        )
    decision = next(line for line in lines if "augment auto chose" in line)
    assert report["reason"] in decision
    assert ("no synthesis" in decision) == (report["chosen"] is None)


def test_train_ensemble_of_mlps_and_load_it(hh_path, cache, tmp_path):
    out = tmp_path / "ens"
    invoke(
        [
            "train",
            str(hh_path),
            "--limit",
            str(N_PAIRS),
            "--head",
            "bt-mlp",
            "--ensemble",
            "2",
            "--aggregate",
            "min",
            "--param",
            "hidden_sizes=[16]",
            "--cache",
            str(cache),
            "--out",
            str(out),
        ]
    )
    model = load_model(out)
    assert type(model).__name__ == "RewardEnsemble" and len(model.members_) == 2
    assert model.aggregate == "min" and model.estimator.hidden_sizes == (16,)


def test_train_lgbm_with_separate_test_file(hh_path, cache, tmp_path):
    out = tmp_path / "lgbm"
    test_file = tmp_path / "test.jsonl"
    with gzip.open(hh_path, "rt", encoding="utf-8") as fh:
        test_file.write_text(
            "".join(next(fh) for _ in range(6)), encoding="utf-8"
        )  # already embedded
    result = invoke(
        [
            "train",
            str(hh_path),
            "--limit",
            str(N_PAIRS),
            "--test",
            str(test_file),
            "--head",
            "clf-lgbm",
            "--param",
            "min_child_samples=5",
            "--param",
            "n_estimators=20",
            "--cache",
            str(cache),
            "--out",
            str(out),
            "--json",
        ]
    )
    report = json.loads(result.stdout)  # progress lines go to stderr
    assert report["n_train"] == N_PAIRS and report["n_test"] == 6
    assert (out / "model.lgbm.txt").is_file()


def test_train_with_augmentation_adds_weighted_synthetic_pairs(hh_path, cache, tmp_path):
    out = tmp_path / "aug"
    result = invoke(
        [
            "train",
            str(hh_path),
            "--limit",
            str(N_PAIRS),
            "--head",
            "bt-linear",
            "--augment",
            "perturb",
            "--factor",
            "2",
            "--test-fraction",
            "0",
            "--cache",
            str(cache),
            "--out",
            str(out),
            "--json",
        ]
    )
    report = json.loads(result.stdout)  # progress lines go to stderr
    assert report["n_train"] == N_PAIRS and report["n_synthetic"] == 2 * N_PAIRS
    assert report["test"] is None and report["augment"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--head", "svm"], "Invalid value for '--head': 'svm' is not one of 'bt-linear'"),
        (["--param", "depth=3"], "BradleyTerryLinear (head 'bt-linear') has no parameter 'depth'"),
        (["--param", "alpha"], "--param expects NAME=VALUE"),
    ],
)
def test_train_bad_options_exit_2_with_a_message(args, message, hh_path, cache, tmp_path, capsys):
    head = [] if "--head" in args else ["--head", "bt-linear"]
    code, output = run_main(
        [
            "train",
            str(hh_path),
            "--limit",
            "5",
            "--cache",
            str(cache),
            "--out",
            str(tmp_path / "m"),
            *head,
            *args,
        ],
        capsys,
    )
    assert code == 2 and message in output


def test_score_refuses_a_folder_that_is_not_a_model(hh_path, tmp_path, capsys):
    code, output = run_main(
        ["score", str(tmp_path), str(hh_path), "--out", str(tmp_path / "r.jsonl")], capsys
    )
    assert code == 2 and "not a prefspace model directory" in output


def test_synth_reports_heldout_variance_and_what_its_diagnostics_cost(hh_path, cache, tmp_path):
    out = tmp_path / "syn"
    result = invoke(
        [
            "synth",
            str(hh_path),
            "--limit",
            str(N_PAIRS),
            "--method",
            "pca",
            "--latent-dim",
            "4",
            "--cache",
            str(cache),
            "--out",
            str(out),
            "--figure-format",
            "svg",
        ]
    )
    summary = json.loads((out / "summary.json").read_text())
    r = summary["reconstruction"]
    assert summary["diagnostics"] == "fast" and r["heldout_variance_kept"] < r["variance_kept"]
    assert f"{100 * r['heldout_variance_kept']:.0f}% on held-out pairs" in result.stdout
    assert f"diagnostics (fast) took {summary['seconds']['diagnostics']:.1f} s" in result.stdout
    for name in ("reconstruction", "label_preservation", "projection"):
        assert (out / f"{name}.png").read_bytes()[:4] == b"\x89PNG" and b"<svg" in (
            out / f"{name}.svg"
        ).read_bytes()[:2000]
    bare = invoke(
        [
            "synth",
            str(hh_path),
            "--limit",
            str(N_PAIRS),
            "--method",
            "pca",
            "--latent-dim",
            "4",
            "--cache",
            str(cache),
            "--out",
            str(tmp_path / "bare"),
            "--diagnostics",
            "none",
            "--json",
        ]
    )
    summary = json.loads(bare.stdout)
    assert "diagnostics" not in summary["seconds"] and not list((tmp_path / "bare").glob("*.png"))
