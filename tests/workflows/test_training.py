"""``train_reward_model`` and the merge of data weights and margins with synthetic pairs.

The merge tests run on random arrays (no encoder); the end-to-end tests train on the first HH
pairs with the offline MiniLM, one embedding cache for the module.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import prefspace
from prefspace.data import load_preferences
from prefspace.exceptions import ConfigError, DataError
from prefspace.models import HEADS, BradleyTerryLinear, RewardEnsemble, describe_model, load_model
from prefspace.synth import augment_pairs
from prefspace.workflows import (
    augmented_fit_inputs,
    evaluate_model_dir,
    score_file,
    train_reward_model,
)
from prefspace.workflows.synthesis import diagnostic_grid

N_REAL, DIM = 30, 8


@pytest.fixture
def real_pairs():
    g = np.random.default_rng(3)
    X = g.normal(size=(N_REAL, 2, DIM)).astype(np.float32)
    weight = np.linspace(0.1, 3.0, N_REAL)  # all different, so a child's weight names its parent
    margin = np.linspace(0.5, 2.0, N_REAL)
    return X, weight, margin


def _nearest_real(X_real, X_syn):
    """Index of the real pair closest to each synthetic pair (both sides together)."""
    a = X_real.reshape(len(X_real), -1).astype(np.float64)
    b = X_syn.reshape(len(X_syn), -1).astype(np.float64)
    d = ((b[:, None, :] - a[None, :, :]) ** 2).sum(-1)
    return d.argmin(1)


# ------------------------------------------------------------------ the weight and margin merge
def test_none_passes_the_real_pairs_weights_and_margins_through(real_pairs):
    X, weight, margin = real_pairs
    fit = augmented_fit_inputs(X, sample_weight=weight, margin=margin, method="none")
    assert fit.report is None and fit.X.shape == X.shape and fit.fit_params == {}
    np.testing.assert_array_equal(fit.X, X)
    np.testing.assert_array_equal(fit.sample_weight, weight)
    np.testing.assert_array_equal(fit.margin, margin)
    bare = augmented_fit_inputs(X, method="none")
    assert bare.sample_weight is None and bare.margin is None


def test_a_real_pair_and_its_synthetic_pairs_share_its_data_weight_and_carry_no_margin(real_pairs):
    X, weight, margin = real_pairs
    factor = 3
    fit = augmented_fit_inputs(
        X, sample_weight=weight, margin=margin, method="perturb", factor=factor, random_state=0
    )
    X_fit, w, m = fit.X, fit.sample_weight, fit.margin
    n_syn = N_REAL * factor
    assert X_fit.shape == (N_REAL + n_syn, 2, DIM) and fit.report.n_synthetic == n_syn
    # real pairs first, unchanged, with half their weight and their own margins
    np.testing.assert_array_equal(X_fit[:N_REAL], X)
    np.testing.assert_allclose(w[:N_REAL], weight / 2, rtol=1e-12)
    np.testing.assert_allclose(m[:N_REAL], margin, rtol=1e-12)
    # each synthetic pair: 1/k of the other half of the weight of the real pair it came from
    # (perturbation noise is small, so that is the nearest real pair), as info's parent says ...
    parent = _nearest_real(X, X_fit[N_REAL:])
    np.testing.assert_array_equal(parent, fit.fit_params["parent"][N_REAL:])
    assert np.bincount(parent, minlength=N_REAL).tolist() == [factor] * N_REAL
    np.testing.assert_allclose(w[N_REAL:], weight[parent] / (2 * factor), rtol=1e-12)
    # so the total weight is the data's: synthesis does not weaken the head's penalty
    assert w.sum() == pytest.approx(weight.sum())
    # ... and margin 0: it inherits which side is preferred, not by how much
    np.testing.assert_array_equal(m[N_REAL:], np.zeros(n_syn))


def test_a_zero_weight_pair_adds_nothing_through_its_synthetic_children(real_pairs):
    X, _, _ = real_pairs
    weight = np.ones(N_REAL)
    weight[:10] = 0.0
    fit = augmented_fit_inputs(X, sample_weight=weight, method="mixup", factor=2, random_state=1)
    X_fit, w, m = fit.X, fit.sample_weight, fit.margin
    parent = fit.parent[N_REAL:]
    assert m is None
    # nothing is synthesized from a pair of weight 0 (mixup's partners included)
    assert len(X_fit) == N_REAL + 20 * 2 and (parent >= 10).all()
    np.testing.assert_allclose(w[N_REAL:], 0.25)
    assert w.sum() == pytest.approx(weight.sum())


def test_without_data_weights_each_real_pair_and_its_synthetic_pairs_weigh_one(real_pairs):
    X, _, margin = real_pairs
    fit = augmented_fit_inputs(X, margin=margin, method="gaussian", factor=2)
    w, m = fit.sample_weight, fit.margin
    np.testing.assert_allclose(w, np.r_[np.full(N_REAL, 0.5), np.full(2 * N_REAL, 0.25)])
    assert m.shape == (3 * N_REAL,) and (m[N_REAL:] == 0).all()


def test_augment_pairs_multiplies_the_synthetic_weight_by_the_parents_weight(real_pairs):
    X, weight, _ = real_pairs
    aug = augment_pairs(X, method="perturb", factor=2, synthetic_weight=0.25, sample_weight=weight)
    w = aug.sample_weight
    parent = _nearest_real(X, aug.X[N_REAL:])
    share = 1 / (1 + 2 * 0.25)  # the real pair's share of its family's weight
    np.testing.assert_allclose(w[:N_REAL], weight * share, rtol=1e-12)
    np.testing.assert_allclose(w[N_REAL:], 0.25 * weight[parent] * share, rtol=1e-12)
    assert aug.report.synthetic_weight == 0.25


def test_bad_weights_and_margins_are_refused(real_pairs):
    X, weight, margin = real_pairs
    with pytest.raises(Exception, match="sample_weight must be non-negative"):
        augmented_fit_inputs(X, sample_weight=-weight, method="perturb")
    with pytest.raises(Exception, match=r"margin must have shape \(30,\)"):
        augmented_fit_inputs(X, margin=margin[:5], method="none")


# ------------------------------------------------------------------ train_reward_model end to end
N_PAIRS = 16


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("train-cache")


@pytest.fixture(scope="module")
def pairs(hh_path):
    return load_preferences(hh_path, limit=N_PAIRS)


@pytest.fixture(scope="module")
def trained(hh_path, cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "bt"
    model, report = train_reward_model(
        hh_path,
        head="bt-linear",
        params={"alpha": 10},
        test_fraction=0.25,
        random_state=0,
        cache=cache,
        load_kwargs={"limit": N_PAIRS},
        out=out,
    )
    return model, report, out


def test_train_reward_model_returns_the_model_and_the_report_it_saves(trained):
    model, report, out = trained
    assert isinstance(model, BradleyTerryLinear) and model.alpha == 10
    saved_report = report.to_json()
    assert set(saved_report) == {
        "data",
        "test_data",
        "head",
        "model",
        "params",
        "encoder",
        "encoder_fingerprint",
        "n_train",
        "n_synthetic",
        "n_test",
        "seed",
        "augment",
        "train",
        "test",
        "ties_left_out",
        "duplicates",
        "embed_seconds",
        "augment_seconds",
        "fit_seconds",
        "record",
        "length_baseline",
        "read_seconds",
        "cv_seconds",
        "truncation",
        "length_dependence",
        "cache",
    }
    assert (
        saved_report["cache"]["texts"]
        == saved_report["cache"]["found"] + saved_report["cache"]["embedded"]
        > 0
    )
    assert (
        saved_report["truncation"]["texts"] == 2 * N_PAIRS
        and saved_report["truncation"]["token_limit"] == 254
    )
    assert saved_report["length_dependence"]["responses"] == "test"
    assert saved_report["length_baseline"]["vs_model"]["model"] == pytest.approx(
        report.test["accuracy"]
    )
    assert saved_report["read_seconds"] >= 0 and saved_report["cv_seconds"] >= 0
    assert saved_report["fit_seconds"] == round(report.seconds.fit, 3)
    # the parts are typed: read by name, written as the JSON above
    assert report.cache.texts == report.cache.found + report.cache.embedded
    assert saved_report["cache"] == report.cache.to_json()
    assert report.truncation.texts == 2 * N_PAIRS and report.truncation.truncated == 0
    assert report.length_dependence.responses == "test"
    assert report.length_dependence.n_responses == 2 * (N_PAIRS // 4)
    baseline = report.length_baseline
    assert baseline.direction in ("longer", "shorter") and baseline.n_pairs == report.n_train
    assert baseline.test.n_pairs == report.n_test == baseline.vs_model.n
    assert saved_report["length_baseline"]["test"] == baseline.test.to_dict()
    assert describe_model(out).length_baseline["coef"] == pytest.approx(baseline.baseline.coef_)
    assert report.record["config"]["head"] == "bt-linear" and report.record["versions"]["prefspace"]
    assert report.n_train + report.n_test == N_PAIRS and report.n_test == N_PAIRS // 4
    assert report.n_synthetic == 0 and report.augment is None and report.test_data is None
    assert report.params["alpha"] == 10 and report.random_state == 0 and saved_report["seed"] == 0
    assert json.loads((out / "metrics.json").read_text()) == saved_report
    saved = load_model(out)
    np.testing.assert_allclose(saved.coef_, model.coef_, rtol=1e-6, atol=1e-7)
    assert 0.0 <= report.test["accuracy"] <= 1.0 and report.test["n_pairs"] == N_PAIRS // 4


def test_train_reward_model_reports_each_stage_to_the_progress_callback(pairs):
    seen = []
    train_reward_model(
        pairs.select(np.arange(6)),
        head="bt-linear",
        test_fraction=0,
        cache=None,
        progress=seen.append,
    )
    stages = {e.stage: [] for e in seen}
    for e in seen:
        stages[e.stage].append((e.done, e.total))
    assert stages["fit bt-linear"] == [(0, 1), (1, 1)]
    for stage in (
        "embed prompts",
        "embed responses",
    ):  # no cache: every text is embedded, start to end
        assert stages[stage][0][0] == 0 and stages[stage][-1][0] == stages[stage][-1][1] > 0


def test_data_weights_reach_the_fit(pairs, cache):
    """A weight of 0 is the same as leaving the pair out, so the two fits agree."""
    weighted = pairs.select(np.arange(N_PAIRS))
    weighted.weight = np.where(np.arange(N_PAIRS) % 4 == 0, 0.0, 1.0)
    kept = pairs.select(np.flatnonzero(weighted.weight > 0))
    a, _ = train_reward_model(weighted, head="bt-linear", test_fraction=0, cache=cache)
    b, _ = train_reward_model(kept, head="bt-linear", test_fraction=0, cache=cache)
    c, _ = train_reward_model(pairs, head="bt-linear", test_fraction=0, cache=cache)
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-5, atol=1e-6)
    assert not np.allclose(a.coef_, c.coef_, rtol=1e-3, atol=1e-4)  # the zero weights did something


def test_margins_reach_the_fit(pairs, cache):
    with_margin = pairs.select(np.arange(N_PAIRS))
    with_margin.margin = np.full(N_PAIRS, 2.0)
    a, _ = train_reward_model(with_margin, head="bt-linear", test_fraction=0, cache=cache)
    b, _ = train_reward_model(pairs, head="bt-linear", test_fraction=0, cache=cache)
    # a margin asks for a larger reward gap: the margin-trained model separates the pairs more
    assert a.metrics_["margin"] > b.metrics_["margin"]


def test_augmentation_with_weights_trains_on_real_and_weighted_synthetic_pairs(
    pairs, cache, tmp_path
):
    ds = pairs.select(np.arange(N_PAIRS))
    ds.weight = np.full(N_PAIRS, 0.5)
    ds.margin = np.ones(N_PAIRS)
    _, report = train_reward_model(
        ds, head="bt-linear", augment="perturb", factor=2, test_fraction=0, cache=cache
    )
    assert report.n_train == N_PAIRS and report.n_synthetic == 2 * N_PAIRS
    # the training metrics are measured on the real pairs
    assert report.augment.method == "perturb" and report.train["n_pairs"] == N_PAIRS
    assert report.test is None and report.n_test == 0
    assert report.to_json()["augment"]["n_synthetic"] == 2 * N_PAIRS


def test_ties_are_left_out_and_counted(pairs, cache):
    ds = pairs.select(np.arange(N_PAIRS))
    ds.tie = np.zeros(N_PAIRS, dtype=bool)
    ds.tie[[1, 5, 9]] = True
    test = pairs.select(np.arange(4))
    test.tie = np.array([True, False, False, False])
    _, report = train_reward_model(ds, head="bt-linear", test=test, cache=cache)
    assert report.ties_left_out.to_json() == {"data": 3, "test": 1}
    assert report.n_train == N_PAIRS - 3 and report.n_test == 3


def test_an_ensemble_wraps_the_head(pairs, cache):
    model, report = train_reward_model(
        pairs,
        head="bt-linear",
        ensemble=2,
        aggregate="min",
        test_fraction=0,
        cache=cache,
        random_state=3,
    )
    assert (
        isinstance(model, RewardEnsemble) and len(model.members_) == 2 and model.aggregate == "min"
    )
    assert report.model == "RewardEnsemble" and report.params == {
        "n_members": 2,
        "aggregate": "min",
    }


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"head": "svm"}, "head must be one of " + ", ".join(map(repr, HEADS))),
        ({"augment": "smote"}, "augment must be one of"),
        ({"aggregate": "max"}, "aggregate must be one of"),
        ({"ensemble": 0}, "ensemble must be a whole number >= 1"),
        (
            {"head": "bt-linear", "params": {"depth": 3}},
            "BradleyTerryLinear (head 'bt-linear') has no parameter 'depth'",
        ),
    ],
)
def test_bad_options_fail_before_any_data_is_read(kwargs, message, tmp_path):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        train_reward_model(tmp_path / "missing.jsonl", **kwargs)


def test_the_package_root_reaches_train_reward_model():
    assert prefspace.train_reward_model is train_reward_model


# ------------------------------------------------------------------ score_file (RewardScorer)
def test_score_file_scores_pairs_like_the_trained_model(trained, hh_path, cache, tmp_path):
    model, _, out = trained
    from prefspace.embed import embed_pairs

    dest = tmp_path / "scores.jsonl"
    summary = score_file(out, hh_path, dest, cache=cache, load_kwargs={"limit": 6})
    lines = [json.loads(x) for x in dest.read_text().splitlines()]
    from prefspace.models import load_model_encoder

    X = embed_pairs(
        load_preferences(hh_path, limit=6), load_model_encoder(out), cache
    ).X  # the model's own rows
    expected = model.predict(X.reshape(-1, X.shape[2])).reshape(6, 2)
    np.testing.assert_allclose(
        [r["reward_chosen"] for r in lines], expected[:, 0], rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        [r["reward_rejected"] for r in lines], expected[:, 1], rtol=1e-5, atol=1e-6
    )
    assert summary.mode == "pairs" and summary.n == 6 and summary.out == str(dest)
    assert summary.accuracy == pytest.approx(float(np.mean(expected[:, 0] > expected[:, 1])))
    assert list(summary.to_json()) == ["mode", "n", "accuracy", "duplicates", "out", "cache"]
    assert summary.to_json()["cache"] == summary.cache.to_json()


def test_score_file_names_the_row_with_a_bad_prompt(trained, cache, tmp_path):
    _, _, out = trained
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        json.dumps({"prompt": "Hi", "response": "Hello"})
        + "\n"
        + json.dumps({"prompt": 7, "response": "x"})
        + "\n"
    )
    with pytest.raises(
        DataError,
        match=r"rows.jsonl:2: 'prompt' must be text or a list of \{'role', 'content'\} messages; found int",
    ):
        score_file(out, rows, tmp_path / "r.jsonl", cache=cache)


def test_score_file_rows_mode_keeps_the_columns(trained, cache, tmp_path):
    _, _, out = trained
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"prompt": "Hi", "response": "Hello", "generator": "g1"}) + "\n")
    summary = score_file(out, rows, tmp_path / "r.jsonl", cache=cache)
    assert summary.mode == "rows" and summary.n == 1 and summary.accuracy is None
    assert summary.columns == ("prompt", "response", "generator")
    assert summary.to_json() == {
        "mode": "rows",
        "n": 1,
        "columns": ["prompt", "response", "generator"],
        "out": str(tmp_path / "r.jsonl"),
        "cache": summary.cache.to_json(),
    }


def test_evaluate_model_dir_returns_the_metrics_it_wrote_and_its_files(trained, cache, tmp_path):
    _, report, out = trained
    evaluation = evaluate_model_dir(out, None, tmp_path / "eval", cache=cache, n_boot=50)
    written = json.loads(evaluation.files.metrics_json.read_text())
    assert evaluation.data == str(out / "test.jsonl") == written["data"]
    assert written["cache"] == evaluation.cache.to_json() and evaluation.cache.texts > 0
    assert evaluation.metrics["n_pairs"] == report.n_test == written["n_pairs"]
    assert evaluation.files.report_html.is_file() and evaluation.files.per_example is None
    assert set(evaluation.files.to_json()) == {"metrics_json", "report_html", "reliability_plot"}


# ------------------------------------------------------------------ synth diagnostics' choices
@pytest.mark.parametrize(
    "n, sigma2, sizes, sigma2s",
    [
        (12, None, [8], [0.0025, 0.01, 0.04, 0.16]),
        (90, 0.02, [25, 50, 60], [0.0025, 0.01, 0.02, 0.04, 0.16]),
        (3000, 0.01, [25, 50, 100, 250, 500, 1000, 2000], [0.0025, 0.01, 0.04, 0.16]),
    ],
)
def test_diagnostic_grid_keeps_a_third_held_out_and_visits_the_own_sigma2(
    n, sigma2, sizes, sigma2s
):
    got_sizes, got_sigma2s, factors = diagnostic_grid(n, sigma2)
    assert got_sizes == sizes and got_sigma2s == sigma2s and factors == [2, 4, 8]
    assert max(got_sizes) == (2 * n) // 3
    fast_sizes, fast_sigma2s, fast_factors = diagnostic_grid(n, sigma2, "fast", factor=4)
    assert fast_sizes == sorted({sizes[0], sizes[-1]}) and fast_factors == [
        4
    ]  # the held-out point is always there
    assert fast_sigma2s == [sigma2 if sigma2 is not None else 0.01]
