"""The estimator contract, run over every registered estimator.

The estimators come from the registries, not from a list here: every reward head in
``prefspace.models.HEADS`` (and ensembles of heads), every synthesizer in
``prefspace.synth.SYNTHESIZERS``, every selector in ``prefspace.select.STRATEGIES`` and the length
baseline (data-free checks only; its rows are lengths). A new entry in a registry is checked
without touching this file. Each runs scikit-learn's data-free estimator checks (construction,
get/set_params, clone, repr) and the same checks on preference pairs (fit returns self and leaves
its parameters alone, ``random_state`` and ``n_jobs`` mean the same everywhere, bad input is
refused with a clear error).

Small settings keep the whole file fast; the behaviour checked is the same at any size.
"""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pytest
import sklearn.utils.estimator_checks as sklearn_checks
import torch
from scipy.special import expit
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from threadpoolctl import threadpool_info

from prefspace.exceptions import ConfigError, NotFittedError, ShapeError
from prefspace.models import (
    HEADS,
    BradleyTerryLinear,
    BradleyTerryMLP,
    LengthBaseline,
    RewardEnsemble,
    get_head,
    load_model,
    save_model,
)
from prefspace.select import STRATEGIES, WithinPromptPool, get_selector
from prefspace.synth import SYNTHESIZERS, get_synthesizer

# ----------------------------------------------------------------------------- the estimators
# Fast settings by parameter name, applied to whichever estimator has the parameter.
FAST = {
    "hidden_sizes": (16,),
    "max_epochs": 30,
    "n_estimators": 40,
    "min_child_samples": 5,
    "alpha": 1.0,
    "max_steps": 30,
    "latent_dim": 4,
    "hidden_dim": 32,
    "random_state": 0,
}


def _fast(cls) -> dict:
    defaults = cls().get_params(deep=False)
    params = {k: v for k, v in FAST.items() if k in defaults}
    if "learning_rate" in defaults and ("max_epochs" in defaults or "n_estimators" in defaults):
        params["learning_rate"] = (
            10 * defaults["learning_rate"]
        )  # ten times the step, for fewer epochs
    return params


def make_head(name: str):
    return get_head(name, **_fast(HEADS[name]))


def make_synth(name: str):
    return get_synthesizer(name, **_fast(SYNTHESIZERS[name]))


ENSEMBLES = {
    "ensemble-linear": lambda: RewardEnsemble(make_head("bt-linear"), n_members=3, random_state=0),
    "ensemble-mlp": lambda: RewardEnsemble(
        BradleyTerryMLP(hidden_sizes=(8,), max_epochs=10, learning_rate=1e-2),
        n_members=2,
        aggregate="mean_minus_std",
        random_state=0,
    ),
}
MODELS = {**{name: (lambda name=name: make_head(name)) for name in HEADS}, **ENSEMBLES}
RANDOMISED = [k for k, make in MODELS.items() if "random_state" in make().get_params(deep=False)]
THREADED = [k for k, make in MODELS.items() if "n_jobs" in make().get_params(deep=False)]

# every estimator class the registries name, for scikit-learn's data-free checks
CLASSES = {
    **{f"head:{k}": v for k, v in HEADS.items()},
    "head:ensemble": RewardEnsemble,
    "baseline:length": LengthBaseline,  # rows are log lengths, not embeddings: its own tests check the rest
    **{f"synth:{k}": v for k, v in SYNTHESIZERS.items()},
    **{f"select:{k}": v for k, v in STRATEGIES.items()},
}
SKLEARN_CHECKS = [
    name
    for name in (
        "check_no_attributes_set_in_init",
        "check_parameters_default_constructible",
        "check_get_params_invariance",
        "check_set_params",
        "check_estimator_cloneable",
        "check_estimator_repr",
        "check_do_not_raise_errors_in_init_or_set_params",
        "check_mixin_order",
    )
    if hasattr(sklearn_checks, name)  # the last four are in scikit-learn >= 1.6
]


def _thread_state():
    return torch.get_num_threads(), sorted(
        (i["internal_api"], i["prefix"], i["num_threads"]) for i in threadpool_info()
    )


def _public_params(est) -> dict:
    return {k: joblib.hash(v) for k, v in est.get_params(deep=False).items()}


# ----------------------------------------------------------------------------- all estimators
def test_the_registries_are_what_this_file_checks():
    assert set(HEADS) == {"bt-linear", "bt-mlp", "clf-mlp", "clf-lgbm"}
    assert len(CLASSES) == len(HEADS) + 2 + len(SYNTHESIZERS) + len(STRATEGIES)
    assert len(SKLEARN_CHECKS) >= 4


def test_one_thread_limiter_sets_every_thread_count():
    import prefspace

    src = Path(prefspace.__file__).parent
    setters = ("set_num_threads(", "threadpool_limits(", "set_num_interop_threads(")
    offenders = [
        f"{path.relative_to(src)}:{i}"
        for path in src.rglob("*.py")
        if path.name != "_threads.py"
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if any(s in line for s in setters)
    ]
    assert offenders == [], "thread counts are set only by prefspace._threads.limit_threads"


@pytest.mark.parametrize("check", SKLEARN_CHECKS)
@pytest.mark.parametrize("kind", sorted(CLASSES))
def test_scikit_learn_data_free_checks(kind, check):
    getattr(sklearn_checks, check)(CLASSES[kind].__name__, CLASSES[kind]())


@pytest.mark.parametrize("kind", sorted(CLASSES))
def test_random_state_and_n_jobs_are_the_only_spellings(kind):
    params = CLASSES[kind]().get_params(deep=False)
    assert not {"seed", "n_threads", "threads", "num_threads", "rng"} & set(params)


def test_registries_refuse_unknown_names_and_parameters():
    with pytest.raises(
        ConfigError,
        match="head must be one of 'bt-linear', 'bt-mlp', 'clf-mlp', 'clf-lgbm'; got 'svm'",
    ):
        get_head("svm")
    with pytest.raises(
        ConfigError,
        match=r"BradleyTerryMLP \(head 'bt-mlp'\) has no parameter 'hidden'; its parameters are .*hidden_sizes",
    ):
        get_head("bt-mlp", hidden=(8,))
    with pytest.raises(ConfigError, match="method must be one of 'lens'"):
        get_synthesizer("vae")
    with pytest.raises(
        ConfigError, match=r"PerturbationSynthesizer \(method 'perturb'\) has no parameter 'sigma'"
    ):
        get_synthesizer("perturb", sigma=0.1)
    with pytest.raises(ConfigError, match="strategy must be one of"):
        get_selector("entropy")
    with pytest.raises(
        ConfigError,
        match=r"UncertaintySelector \(strategy 'uncertainty'\) has no parameter 'random_state'",
    ):
        get_selector("uncertainty", random_state=0)
    assert get_head("bt-linear", alpha=3.0).alpha == 3.0


# ----------------------------------------------------------------------------- reward heads
@pytest.fixture(params=list(MODELS), scope="module")
def name(request):
    return request.param


@pytest.fixture(scope="module")
def fitted(toy_pairs):
    """Each head fitted once on the first 150 toy pairs (shared by the read-only tests)."""
    return {k: make().fit(toy_pairs[:150]) for k, make in MODELS.items()}


def test_fit_returns_self_and_leaves_its_parameters_alone(name, toy_pairs):
    est = MODELS[name]()
    before = _public_params(est)
    assert est.fit(toy_pairs[:60]) is est
    assert _public_params(est) == before
    assert est.n_features_in_ == toy_pairs.shape[2]


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
    np.testing.assert_allclose(est.predict_proba(X), expected, rtol=1e-5, atol=1e-6)


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
    np.testing.assert_allclose(
        T @ est.last_layer_weights_ + est.last_layer_bias_, target, rtol=1e-5, atol=1e-5
    )


def test_clone_and_params_round_trip(name, fitted):
    est = fitted[name]
    copy = clone(est)
    assert not hasattr(copy, "metrics_")
    assert copy.get_params().keys() == est.get_params().keys()
    params = est.get_params(deep=False)
    assert clone(est).set_params(**params).get_params(deep=False).keys() == params.keys()


@pytest.mark.parametrize("name", RANDOMISED)
def test_random_state_int_generator_and_none(name, toy_pairs):
    X, E = toy_pairs[:80], toy_pairs[80:, 0]
    a = MODELS[name]().fit(X).predict(E)
    b = MODELS[name]().fit(X).predict(E)
    np.testing.assert_array_equal(a, b)  # an int: the same model every time
    g1 = MODELS[name]().set_params(random_state=np.random.default_rng(7)).fit(X).predict(E)
    g2 = MODELS[name]().set_params(random_state=np.random.default_rng(7)).fit(X).predict(E)
    np.testing.assert_array_equal(
        g1, g2
    )  # a Generator: drawn from, so the same seed gives the same
    assert MODELS[name]().set_params(random_state=None).fit(X).predict(E).shape == E.shape[:1]
    for bad in ("0", -1, 1.5):
        with pytest.raises(ConfigError, match="random_state must be"):
            MODELS[name]().set_params(random_state=bad).fit(X)


def test_random_state_changes_the_fit():
    g = np.random.default_rng(5)
    X = g.normal(size=(80, 2, 8)).astype(np.float32)
    a = BradleyTerryMLP(hidden_sizes=(8,), max_epochs=5, random_state=0).fit(X).predict(X[:, 0])
    b = BradleyTerryMLP(hidden_sizes=(8,), max_epochs=5, random_state=1).fit(X).predict(X[:, 0])
    assert not np.allclose(a, b)


@pytest.mark.parametrize("name", THREADED)
def test_n_jobs_is_checked_and_thread_counts_are_restored(name, toy_pairs):
    before = _thread_state()
    MODELS[name]().set_params(n_jobs=1).fit(toy_pairs[:60])
    assert _thread_state() == before
    for bad in (0, -2, "two", 1.5):
        with pytest.raises(ConfigError, match="n_jobs must be None, -1"):
            MODELS[name]().set_params(n_jobs=bad).fit(toy_pairs[:60])


def test_fit_rejects_single_rows(name, toy_pairs):
    with pytest.raises(ShapeError, match=r"\(n_pairs, 2, dim\).*predict\(\)"):
        MODELS[name]().fit(toy_pairs[:, 0])


def test_predict_rejects_pairs_and_wrong_dimension(name, fitted, toy_pairs):
    with pytest.raises(ShapeError, match="predict_proba"):
        fitted[name].predict(toy_pairs[:5])
    with pytest.raises(ShapeError, match="dimension 15 but the model was fitted on dimension 16"):
        fitted[name].predict(toy_pairs[:5, 0, :15])


def test_use_before_fit_is_refused(name, toy_pairs):
    with pytest.raises(NotFittedError, match="not fitted yet; call fit"):
        MODELS[name]().predict(toy_pairs[:3, 0])


def test_bad_sample_weight_and_margin_shapes(name, toy_pairs):
    with pytest.raises(ShapeError, match=r"sample_weight must have shape \(20,\)"):
        MODELS[name]().fit(toy_pairs[:20], sample_weight=np.ones(19))
    with pytest.raises(ShapeError, match="non-negative"):
        MODELS[name]().fit(toy_pairs[:20], sample_weight=-np.ones(20))
    with pytest.raises(ShapeError, match=r"margin must have shape \(20,\)"):
        MODELS[name]().fit(toy_pairs[:20], margin=np.ones(3))


def test_zero_weight_is_the_same_as_dropping_the_row(name, toy_pairs):
    X = toy_pairs[:100]
    w = np.ones(len(X))
    w[::4] = 0.0
    w[1::4] = 2.0
    a = MODELS[name]().fit(X, sample_weight=w).predict(toy_pairs[100:, 0])
    b = MODELS[name]().fit(X[w > 0], sample_weight=w[w > 0]).predict(toy_pairs[100:, 0])
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_sample_weight_changes_the_fit(toy_pairs):
    X = toy_pairs[:100]
    w = np.linspace(0.1, 3.0, len(X))
    a = BradleyTerryLinear(alpha=1.0).fit(X).coef_
    b = BradleyTerryLinear(alpha=1.0).fit(X, sample_weight=w).coef_
    assert not np.allclose(a, b)


@pytest.mark.parametrize("name", sorted(HEADS))
def test_margin_widens_the_reward_gap(name, toy_pairs):
    X = toy_pairs[:150]
    plain = MODELS[name]().fit(X)
    wide = MODELS[name]().fit(X, margin=np.full(len(X), 3.0))
    assert wide.metrics_["margin"] > plain.metrics_["margin"]


def test_metrics_keep_trl_names(name, fitted):
    m = fitted[name].metrics_
    for key in ("loss", "accuracy", "margin", "mean_reward", "min_reward", "max_reward"):
        assert np.isfinite(m[key])


def test_cross_val_score_runs_on_pair_arrays(name, toy_pairs):
    scores = cross_val_score(MODELS[name](), toy_pairs, cv=3)
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
    np.testing.assert_array_equal(
        loaded.transform(toy_pairs[:5, 0]), est.transform(toy_pairs[:5, 0])
    )
    assert loaded.metrics_ == pytest.approx(est.metrics_)
    for path in (tmp_path / "m").rglob("*"):
        assert path.suffix not in (".pkl", ".pickle", ".pt", ".joblib", ".npy")
        if path.is_file():
            assert not path.read_bytes()[:2].startswith(b"\x80"), f"{path} looks like a pickle"


# ----------------------------------------------------------------------------- synthesizers
@pytest.fixture(params=sorted(SYNTHESIZERS))
def synth(request):
    return request.param


@pytest.fixture(scope="module")
def real_pairs(toy_pairs):
    """40 pairs whose first 4 columns are a shared prompt block (10 prompts), as in the separate layout."""
    X = toy_pairs[:40].copy()
    X[:, 1, :4] = X[:, 0, :4] = np.repeat(np.random.default_rng(2).normal(size=(10, 4)), 4, axis=0)
    return X


def test_synthesizer_fit_and_sample_contract(synth, real_pairs):
    est = make_synth(synth)
    before = _public_params(est)
    assert est.fit(real_pairs) is est
    assert _public_params(est) == before
    assert est.n_features_in_ == real_pairs.shape[2] and est.seed_ == 0
    syn = est.sample(3)
    assert (
        syn.X.shape == (3 * len(real_pairs), 2, real_pairs.shape[2]) and syn.X.dtype == np.float32
    )
    assert np.isfinite(syn.X).all()
    assert syn.parent.min() >= 0 and syn.parent.max() < len(real_pairs)
    np.testing.assert_array_equal(syn.X[:, :, :4], real_pairs[syn.parent][:, :, :4])  # prompts kept
    np.testing.assert_array_equal(est.sample(3).X, syn.X)  # two calls on one fit: the same pairs


def test_synthesizer_random_state_int_generator_and_none(synth, real_pairs):
    a = make_synth(synth).fit(real_pairs).sample(2).X
    np.testing.assert_array_equal(a, make_synth(synth).fit(real_pairs).sample(2).X)
    g = [
        make_synth(synth)
        .set_params(random_state=np.random.default_rng(3))
        .fit(real_pairs)
        .sample(2)
        .X
        for _ in range(2)
    ]
    np.testing.assert_array_equal(g[0], g[1])
    assert (
        make_synth(synth).set_params(random_state=None).fit(real_pairs).sample(2).X.shape == a.shape
    )
    if synth != "repeat":  # the control copies the real pairs: nothing random to change
        assert not np.array_equal(
            a, make_synth(synth).set_params(random_state=1).fit(real_pairs).sample(2).X
        )
    for bad in ("0", -1, 1.5):
        with pytest.raises(ConfigError, match="random_state must be"):
            make_synth(synth).set_params(random_state=bad).fit(real_pairs)


def test_synthesizer_n_jobs_is_checked_and_thread_counts_are_restored(synth, real_pairs):
    before = _thread_state()
    make_synth(synth).set_params(n_jobs=1).fit(real_pairs).sample(2)
    assert _thread_state() == before
    with pytest.raises(ConfigError, match="n_jobs must be None, -1"):
        make_synth(synth).set_params(n_jobs=0).fit(real_pairs)


def test_synthesizer_refuses_bad_input(synth, real_pairs):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        make_synth(synth).sample(2)
    with pytest.raises(ShapeError, match=r"\(n_pairs, 2, dim\)"):
        make_synth(synth).fit(real_pairs[:, 0])
    with pytest.raises(ConfigError, match="factor must be a whole number >= 1"):
        make_synth(synth).fit(real_pairs).sample(0)


# ----------------------------------------------------------------------------- selectors
@pytest.fixture(params=sorted(STRATEGIES))
def strategy(request):
    return request.param


@pytest.fixture(scope="module")
def pool_and_model():
    """A 6-prompt pool of 630 pairs and one model every strategy can use (an ensemble has
    predict, transform and its members' rewards)."""
    g = np.random.default_rng(0)
    E = g.normal(size=(90, 12)).astype(np.float32)
    pool = WithinPromptPool(E, np.arange(90) % 6)
    X = pool.pair_features(np.arange(0, 630, 7))
    model = RewardEnsemble(BradleyTerryLinear(alpha=1.0), n_members=3, random_state=0).fit(X)
    return pool, model, X


def test_selector_contract(strategy, pool_and_model):
    pool, model, X = pool_and_model
    est = get_selector(strategy)
    before = _public_params(est)
    exclude = np.arange(0, 60, 2)
    idx = est.select(pool, model, 20, labelled=X[:5], exclude=exclude)
    assert idx.dtype == np.int64 and idx.shape == (20,) and np.unique(idx).size == 20
    assert idx.min() >= 0 and idx.max() < len(pool) and not np.isin(idx, exclude).any()
    assert _public_params(est) == before
    if "random_state" in est.get_params():
        est.set_params(random_state=0)
    np.testing.assert_array_equal(
        est.select(pool, model, 20, labelled=X[:5], exclude=exclude),
        est.select(pool, model, 20, labelled=X[:5], exclude=exclude),
    )


def test_selector_refuses_bad_input(strategy, pool_and_model):
    pool, model, X = pool_and_model
    est = get_selector(strategy)
    with pytest.raises(ConfigError, match="pool must be a prefspace.select pool"):
        est.select(X, model, 3)
    with pytest.raises(ConfigError, match="k must be a whole number >= 1"):
        est.select(pool, model, 0)
    with pytest.raises(ConfigError, match="cannot choose 631 pairs: the pool has 630 candidates"):
        est.select(pool, model, 631)
    if "n_jobs" in est.get_params():
        with pytest.raises(ConfigError, match="n_jobs must be None, -1"):
            est.set_params(n_jobs=0).select(pool, model, 3)
    if "random_state" in est.get_params():
        with pytest.raises(ConfigError, match="random_state must be"):
            est.set_params(random_state=-1).select(pool, model, 3)


def test_selector_n_jobs_restores_thread_counts(strategy, pool_and_model):
    pool, model, X = pool_and_model
    est = get_selector(strategy)
    if "n_jobs" in est.get_params():
        est.set_params(n_jobs=1)
    before = _thread_state()
    est.select(pool, model, 5, labelled=X[:5])
    assert _thread_state() == before
