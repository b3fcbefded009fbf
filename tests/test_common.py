"""The estimator contract, run over every reward head (and an ensemble of each kind).

Small settings keep the whole file fast; the behaviour checked is the same at any size.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score

from prefspace.exceptions import NotFittedError, ShapeError
from prefspace.models import (
    BradleyTerryLinear,
    BradleyTerryMLP,
    PreferenceClassifierLGBM,
    PreferenceClassifierMLP,
    RewardEnsemble,
    load_model,
    save_model,
)

FAST_MLP = dict(hidden_sizes=(16,), max_epochs=30, learning_rate=1e-2, random_state=0)
HEADS = {
    "bt-linear": lambda: BradleyTerryLinear(alpha=1.0),
    "bt-mlp": lambda: BradleyTerryMLP(**FAST_MLP),
    "clf-mlp": lambda: PreferenceClassifierMLP(**FAST_MLP),
    "clf-lgbm": lambda: PreferenceClassifierLGBM(n_estimators=40, min_child_samples=5, learning_rate=0.1, random_state=0),
    "ensemble-linear": lambda: RewardEnsemble(BradleyTerryLinear(alpha=1.0), n_members=3, random_state=0),
    "ensemble-mlp": lambda: RewardEnsemble(BradleyTerryMLP(hidden_sizes=(8,), max_epochs=10, learning_rate=1e-2), n_members=2,
                                           aggregate="mean_minus_std", random_state=0),
}
RANDOMISED = [k for k in HEADS if k != "bt-linear"]


@pytest.fixture(params=list(HEADS), scope="module")
def name(request):
    return request.param


@pytest.fixture(scope="module")
def fitted(toy_pairs):
    """Each head fitted once on the first 150 toy pairs (shared by the read-only tests)."""
    return {k: make().fit(toy_pairs[:150]) for k, make in HEADS.items()}


def test_fit_returns_self(name, toy_pairs):
    est = HEADS[name]()
    assert est.fit(toy_pairs[:60]) is est


def test_learns_a_separable_preference(name, fitted, toy_pairs):
    assert fitted[name].score(toy_pairs[150:]) > 0.7  # chance is 0.5


def test_predict_shapes_and_dtype(name, fitted, toy_pairs):
    r = fitted[name].predict(toy_pairs[:7, 0])
    assert r.shape == (7,) and r.dtype == np.float64
    p = fitted[name].predict_proba(toy_pairs[:7])
    assert p.shape == (7,) and ((p > 0) & (p < 1)).all()


def test_predict_proba_is_sigmoid_of_reward_difference(name, fitted, toy_pairs):
    est, X = fitted[name], toy_pairs[150:]
    expected = expit(est.predict(X[:, 0]) - est.predict(X[:, 1]))
    np.testing.assert_allclose(est.predict_proba(X), expected, rtol=1e-10)


def test_score_counts_ties_wrong(name, fitted, toy_pairs):
    X = toy_pairs[:10].copy()
    X[:, 1] = X[:, 0]  # identical responses: equal rewards, a tie in every pair
    assert fitted[name].score(X) == 0.0


def test_score_with_labels_flips_pairs(name, fitted, toy_pairs):
    est, X = fitted[name], toy_pairs[150:]
    y = np.zeros(len(X), dtype=int)
    assert est.score(X[:, ::-1], y) == pytest.approx(est.score(X))


def test_transform_times_last_layer_is_predict(name, fitted, toy_pairs):
    est, E = fitted[name], toy_pairs[150:, 0]
    T = est.transform(E)
    assert T.ndim == 2 and len(T) == len(E)
    assert est.last_layer_weights_.shape == (T.shape[1],)
    if name == "ensemble-mlp":  # mean minus std: the last layers give the members' mean
        target = est.predict_members(E).mean(axis=0)
    else:
        target = est.predict(E)
    np.testing.assert_allclose(T @ est.last_layer_weights_ + est.last_layer_bias_, target, rtol=1e-5, atol=1e-5)


def test_clone_and_params_round_trip(name, fitted):
    est = fitted[name]
    copy = clone(est)
    assert not hasattr(copy, "metrics_")
    assert copy.get_params().keys() == est.get_params().keys()
    params = est.get_params(deep=False)
    assert clone(est).set_params(**params).get_params(deep=False).keys() == params.keys()


@pytest.mark.parametrize("name", RANDOMISED)
def test_fit_is_deterministic_given_random_state(name, toy_pairs):
    a = HEADS[name]().fit(toy_pairs[:80]).predict(toy_pairs[80:, 0])
    b = HEADS[name]().fit(toy_pairs[:80]).predict(toy_pairs[80:, 0])
    np.testing.assert_array_equal(a, b)


def test_random_state_changes_the_fit():
    g = np.random.default_rng(5)
    X = g.normal(size=(80, 2, 8)).astype(np.float32)
    a = BradleyTerryMLP(hidden_sizes=(8,), max_epochs=5, random_state=0).fit(X).predict(X[:, 0])
    b = BradleyTerryMLP(hidden_sizes=(8,), max_epochs=5, random_state=1).fit(X).predict(X[:, 0])
    assert not np.allclose(a, b)


def test_fit_rejects_single_rows(name, toy_pairs):
    with pytest.raises(ShapeError, match=r"\(n_pairs, 2, dim\).*predict\(\)"):
        HEADS[name]().fit(toy_pairs[:, 0])


def test_predict_rejects_pairs_and_wrong_dimension(name, fitted, toy_pairs):
    with pytest.raises(ShapeError, match="predict_proba"):
        fitted[name].predict(toy_pairs[:5])
    with pytest.raises(ShapeError, match="dimension 15 but the model was fitted on dimension 16"):
        fitted[name].predict(toy_pairs[:5, 0, :15])


def test_use_before_fit_is_refused(name, toy_pairs):
    with pytest.raises(NotFittedError, match="not fitted yet; call fit"):
        HEADS[name]().predict(toy_pairs[:3, 0])


def test_bad_sample_weight_and_margin_shapes(name, toy_pairs):
    with pytest.raises(ShapeError, match=r"sample_weight must have shape \(20,\)"):
        HEADS[name]().fit(toy_pairs[:20], sample_weight=np.ones(19))
    with pytest.raises(ShapeError, match="non-negative"):
        HEADS[name]().fit(toy_pairs[:20], sample_weight=-np.ones(20))
    with pytest.raises(ShapeError, match=r"margin must have shape \(20,\)"):
        HEADS[name]().fit(toy_pairs[:20], margin=np.ones(3))


def test_zero_weight_is_the_same_as_dropping_the_row(name, toy_pairs):
    X = toy_pairs[:100]
    w = np.ones(len(X))
    w[::4] = 0.0
    w[1::4] = 2.0
    a = HEADS[name]().fit(X, sample_weight=w).predict(toy_pairs[100:, 0])
    b = HEADS[name]().fit(X[w > 0], sample_weight=w[w > 0]).predict(toy_pairs[100:, 0])
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_sample_weight_changes_the_fit(toy_pairs):
    X = toy_pairs[:100]
    w = np.linspace(0.1, 3.0, len(X))
    a = BradleyTerryLinear(alpha=1.0).fit(X).coef_
    b = BradleyTerryLinear(alpha=1.0).fit(X, sample_weight=w).coef_
    assert not np.allclose(a, b)


@pytest.mark.parametrize("name", ["bt-linear", "bt-mlp", "clf-mlp", "clf-lgbm"])
def test_margin_widens_the_reward_gap(name, toy_pairs):
    X = toy_pairs[:150]
    plain = HEADS[name]().fit(X)
    wide = HEADS[name]().fit(X, margin=np.full(len(X), 3.0))
    assert wide.metrics_["margin"] > plain.metrics_["margin"]


def test_metrics_keep_trl_names(name, fitted):
    m = fitted[name].metrics_
    for key in ("loss", "accuracy", "margin", "mean_reward", "min_reward", "max_reward"):
        assert np.isfinite(m[key])


def test_cross_val_score_runs_on_pair_arrays(name, toy_pairs):
    scores = cross_val_score(HEADS[name](), toy_pairs, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.7


def test_grid_search_on_pair_arrays(toy_pairs):
    search = GridSearchCV(BradleyTerryLinear(), {"alpha": [0.1, 10.0]}, cv=3).fit(toy_pairs)
    assert search.best_params_["alpha"] in (0.1, 10.0)
    assert search.best_estimator_.score(toy_pairs) > 0.8


def test_save_then_load_gives_identical_rewards_and_no_pickle(name, fitted, toy_pairs, tmp_path):
    est = fitted[name]
    save_model(est, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert type(loaded) is type(est)
    assert loaded.get_params(deep=False).keys() == est.get_params(deep=False).keys()
    np.testing.assert_array_equal(loaded.predict(toy_pairs[:, 0]), est.predict(toy_pairs[:, 0]))
    np.testing.assert_array_equal(loaded.transform(toy_pairs[:5, 0]), est.transform(toy_pairs[:5, 0]))
    assert loaded.metrics_ == pytest.approx(est.metrics_)
    for path in (tmp_path / "m").rglob("*"):
        assert path.suffix not in (".pkl", ".pickle", ".pt", ".joblib", ".npy")
        if path.is_file():
            assert not path.read_bytes()[:2].startswith(b"\x80"), f"{path} looks like a pickle"
