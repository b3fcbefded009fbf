"""Greedy D-optimal selection against brute-force determinant maximisation and direct inversion."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.special import expit as sigmoid

from prefspace.exceptions import ConfigError
from prefspace.select import (
    DOptimalSelector,
    PastAwareDOptimalSelector,
    WithinPromptPool,
    fisher_information,
    greedy_d_optimal,
)
from prefspace.select._common import pair_rows
from prefspace.select.doptimal import initial_gains


class FixedHead:
    """A reward head with known weights: r(e) = tanh(e @ W) @ w, transform = tanh(e @ W)."""

    def __init__(self, dim: int, hidden: int, seed: int = 0):
        g = np.random.default_rng(seed)
        self.W = g.normal(size=(dim, hidden)) / np.sqrt(dim)
        self.w = g.normal(size=hidden)

    def transform(self, E):
        return np.tanh(np.asarray(E, dtype=np.float64) @ self.W)

    def predict(self, E):
        return self.transform(E) @ self.w


def _setup(n_rows=24, n_prompts=4, dim=6, hidden=4, seed=0):
    g = np.random.default_rng(seed)
    E = g.normal(size=(n_rows, dim)).astype(np.float32)
    pool = WithinPromptPool(E, np.arange(n_rows) % n_prompts)
    head = FixedHead(dim, hidden, seed)
    F = head.transform(E)
    r = head.predict(E)
    a, b = pair_rows(pool)
    p = sigmoid(r[a] - r[b])
    return pool, head, F, a, b, p * (1 - p)


PURE = dict(exploration=0.0, outlier_z=None)  # the plain greedy: no random share, no outlier guard


def _logdet(M):
    sign, val = np.linalg.slogdet(M)
    assert sign > 0
    return val


@pytest.mark.parametrize("method", ["lazy", "update"])
@pytest.mark.parametrize("lam", [0.1, 1.0])
def test_greedy_equals_greedy_by_determinant(lam, method):
    pool, head, F, a, b, v = _setup()
    k = 10
    picked = DOptimalSelector(lam=lam, method=method, **PURE).select(pool, head, k)
    # brute force: at each step evaluate log det(M + v_k d_k d_k^T) for every remaining candidate
    D = F[a] - F[b]
    M = lam * np.eye(F.shape[1])
    chosen: list[int] = []
    increments = []
    for _ in range(k):
        base = _logdet(M)
        scores = np.array(
            [
                -np.inf if c in chosen else _logdet(M + v[c] * np.outer(D[c], D[c]))
                for c in range(len(D))
            ]
        )
        best = int(np.argmax(scores))
        increments.append(scores[best] - base)
        chosen.append(best)
        M = M + v[best] * np.outer(D[best], D[best])
    assert picked.tolist() == chosen
    # each pick's gain is its log-det increment: log det rises by log1p(gain)
    sel = DOptimalSelector(lam=lam, method=method, **PURE)
    sel.select(pool, head, k)
    np.testing.assert_allclose(np.log1p(sel.gains_), increments, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("method", ["lazy", "update"])
def test_past_aware_greedy_equals_greedy_by_determinant_from_labelled_start(method):
    pool, head, F, a, b, v = _setup(seed=1)
    g = np.random.default_rng(5)
    labelled = g.normal(size=(7, 2, 6)).astype(np.float32)
    Dl = head.transform(labelled[:, 0]) - head.transform(labelled[:, 1])
    pl = sigmoid(head.predict(labelled[:, 0]) - head.predict(labelled[:, 1]))
    M = fisher_information(Dl, pl * (1 - pl), 0.5)
    picked = PastAwareDOptimalSelector(lam=0.5, method=method, **PURE).select(
        pool, head, 5, labelled=labelled
    )
    D = F[a] - F[b]
    chosen: list[int] = []
    for _ in range(5):
        scores = [
            -np.inf if c in chosen else _logdet(M + v[c] * np.outer(D[c], D[c]))
            for c in range(len(D))
        ]
        best = int(np.argmax(scores))
        chosen.append(best)
        M = M + v[best] * np.outer(D[best], D[best])
    assert picked.tolist() == chosen
    # and it is a different batch from the one that ignores the labelled pairs
    assert (
        DOptimalSelector(lam=0.5, **PURE).select(pool, head, 5, labelled=labelled).tolist()
        != chosen
    )


def test_greedy_is_within_the_submodular_bound_of_the_best_subset():
    pool, head, F, a, b, v = _setup(n_rows=12, n_prompts=2, seed=2)  # 30 candidates
    D = F[a] - F[b]
    lam, k = 1.0, 3
    M0 = lam * np.eye(F.shape[1])

    def value(S):
        return _logdet(M0 + sum(v[c] * np.outer(D[c], D[c]) for c in S)) - _logdet(M0)

    best = max(value(S) for S in itertools.combinations(range(len(D)), k))
    greedy = value(DOptimalSelector(lam=lam, **PURE).select(pool, head, k))
    assert greedy <= best + 1e-12
    assert greedy >= (1 - 1 / np.e) * best


@pytest.mark.parametrize("method", ["lazy", "update"])
def test_rank_one_updates_match_direct_inversion(method):
    pool, head, F, a, b, v = _setup(n_rows=40, seed=3)
    lam = 0.3
    M0_inv = np.eye(F.shape[1]) / lam
    picked, gains, M_inv = greedy_d_optimal(F, a, b, v, 25, M_inv=M0_inv, method=method)
    D = F[a] - F[b]
    M = fisher_information(D[picked], v[picked], lam)
    np.testing.assert_allclose(M_inv, np.linalg.inv(M), rtol=1e-8, atol=1e-10)
    # the running gain of a pick is v d^T M^-1 d with M made of the earlier picks only
    for step in (0, 7, 24):
        j = picked[step]
        M_before = (
            fisher_information(D[picked[:step]], v[picked[:step]], lam)
            if step
            else lam * np.eye(F.shape[1])
        )
        direct = v[j] * D[j] @ np.linalg.solve(M_before, D[j])
        np.testing.assert_allclose(gains[step], direct, rtol=1e-7)
    assert (np.diff(gains) <= 1e-12).all(), "greedy gains must not increase (log det is submodular)"


def test_lazy_and_update_pick_the_same_batch_on_a_larger_pool():
    pool, head, F, a, b, v = _setup(
        n_rows=400, n_prompts=8, dim=10, hidden=16, seed=6
    )  # 9,800 candidates
    M0_inv = np.eye(16) / 0.2
    exclude = np.arange(0, 9800, 97)
    lazy = greedy_d_optimal(F, a, b, v, 120, M_inv=M0_inv, exclude=exclude, method="lazy")
    full = greedy_d_optimal(F, a, b, v, 120, M_inv=M0_inv, exclude=exclude, method="update")
    np.testing.assert_array_equal(lazy[0], full[0])
    np.testing.assert_allclose(lazy[1], full[1], rtol=1e-7)
    np.testing.assert_allclose(lazy[2], full[2], rtol=1e-7, atol=1e-10)
    assert not np.isin(lazy[0], exclude).any()


@pytest.mark.parametrize("top,max_pending", [(1, 1), (5, 3), (40, 1000)])
def test_lazy_shortlist_and_refresh_sizes_do_not_change_the_choice(top, max_pending):
    from prefspace.select.doptimal import _lazy_greedy

    pool, head, F, a, b, v = _setup(
        n_rows=120, n_prompts=3, dim=8, hidden=6, seed=7
    )  # 2,340 candidates
    M0_inv = np.eye(6)
    expected = greedy_d_optimal(F, a, b, v, 60, M_inv=M0_inv, method="update")
    gain = initial_gains(F, a, b, v, M0_inv)
    picked, gains, M_inv = np.empty(60, dtype=np.int64), np.empty(60), M0_inv.copy()
    _lazy_greedy(
        F, a, b, v, M_inv, gain, picked, gains, top=top, max_pending=max_pending, chunk_size=100
    )
    np.testing.assert_array_equal(picked, expected[0])
    np.testing.assert_allclose(gains, expected[1], rtol=1e-7)
    np.testing.assert_allclose(M_inv, expected[2], rtol=1e-7, atol=1e-10)


def test_initial_gains_match_direct_quadratic_forms_in_any_chunking():
    pool, head, F, a, b, v = _setup(n_rows=30, seed=4)
    A = np.random.default_rng(0).normal(size=(4, 4))
    A = A @ A.T + np.eye(4)
    D = F[a] - F[b]
    direct = v * np.einsum("ij,jk,ik->i", D, A, D)
    for chunk in (1, 5, 10_000):
        np.testing.assert_allclose(
            initial_gains(F, a, b, v, A, chunk_size=chunk), direct, rtol=1e-7
        )


def test_selection_is_deterministic_and_respects_exclude():
    pool, head, *_ = _setup(n_rows=30, seed=5)
    first = DOptimalSelector(**PURE).select(pool, head, 8)
    assert first.tolist() == DOptimalSelector(**PURE).select(pool, head, 8).tolist()
    again = DOptimalSelector(**PURE).select(pool, head, 8, exclude=first[:3])
    assert not set(again.tolist()) & set(first[:3].tolist())
    assert np.unique(again).size == 8


def test_lam_must_be_positive():
    pool, head, *_ = _setup()
    with pytest.raises(ConfigError, match="lam must be > 0"):
        DOptimalSelector(lam=0).select(pool, head, 2)
    with pytest.raises(ConfigError, match="method must be one of 'lazy', 'update'"):
        DOptimalSelector(method="exact").select(pool, head, 2)


def test_model_without_transform_is_refused():
    pool, *_ = _setup()

    class RewardsOnly:
        def predict(self, E):
            return np.zeros(len(E))

    with pytest.raises(
        ConfigError,
        match=r"D-optimal strategy needs a fitted reward model with a transform\(\) method",
    ):
        DOptimalSelector().select(pool, RewardsOnly(), 2)


# ---- the head's own coordinates and prior, the exploration share, the outlier guard --------------


def _linear_setup(seed=0, n_rows=60, n_prompts=5, dim=6):
    """A fitted BradleyTerryLinear on features whose scales differ by 100x between dimensions."""
    from prefspace.models import BradleyTerryLinear

    g = np.random.default_rng(seed)
    E = (g.normal(size=(n_rows, dim)) * np.geomspace(0.01, 1.0, dim)).astype(np.float32)
    pool = WithinPromptPool(E, np.arange(n_rows) % n_prompts)
    w = g.normal(size=dim) / np.geomspace(0.01, 1.0, dim)
    X = g.normal(size=(80, 2, dim)).astype(np.float32) * np.geomspace(0.01, 1.0, dim).astype(
        np.float32
    )
    y = (X[:, 0] @ w > X[:, 1] @ w).astype(int)
    head = BradleyTerryLinear(alpha=3.0).fit(X, y)
    return pool, head, X, y


def test_linear_head_reports_the_prior_its_objective_used():
    from scipy.optimize import approx_fprime
    from scipy.special import expit

    pool, head, X, y = _linear_setup()
    scale, ridge = head.last_layer_prior()
    Xo = np.where(y[:, None, None] == 1, X, X[:, ::-1]).astype(np.float64)
    np.testing.assert_allclose(scale, Xo.reshape(-1, X.shape[2]).std(axis=0), rtol=1e-6)
    assert ridge == 3.0
    # the objective in the standardised coordinates: its gradient vanishes at beta = coef * scale
    diff = (Xo[:, 0] - Xo[:, 1]) / scale
    beta = head.coef_ * scale

    def objective(b):
        return float(np.logaddexp(0.0, -(diff @ b)).sum() + 0.5 * ridge * b @ b)

    grad = approx_fprime(beta, objective, 1e-7)
    assert np.abs(grad).max() < 1e-3 * np.abs(ridge * beta).max()
    # and its Hessian there is the D-optimal information of the labelled pairs with the head's prior
    p = expit(diff @ beta)
    M = fisher_information(diff, p * (1 - p), ridge)
    H = (diff * (p * (1 - p))[:, None]).T @ diff + ridge * np.eye(len(beta))
    np.testing.assert_allclose(M, H, rtol=1e-8)


@pytest.mark.parametrize("method", ["lazy", "update"])
def test_d_optimal_uses_the_heads_standardised_coordinates_and_ridge(method):
    pool, head, X, y = _linear_setup(seed=1)
    scale, ridge = head.last_layer_prior()
    a, b = pair_rows(pool)
    E = pool.features.astype(np.float64)
    D = (E[a] - E[b]) / scale  # direct: pair differences in the head's standardised inputs
    r = head.predict(pool.features)
    p = sigmoid(r[a] - r[b])
    v = p * (1 - p)
    k = 6
    M = ridge * np.eye(D.shape[1])
    chosen, increments = [], []
    for _ in range(k):
        scores = np.array(
            [
                -np.inf if c in chosen else _logdet(M + v[c] * np.outer(D[c], D[c]))
                for c in range(len(D))
            ]
        )
        best = int(np.argmax(scores))
        increments.append(scores[best] - _logdet(M))
        chosen.append(best)
        M = M + v[best] * np.outer(D[best], D[best])
    sel = DOptimalSelector(method=method, **PURE)
    assert sel.select(pool, head, k).tolist() == chosen
    assert sel.lam_ == ridge
    np.testing.assert_allclose(np.log1p(sel.gains_), increments, rtol=1e-7)

    # the old protocol (raw features, lambda 1) is a different design on these badly scaled features
    class Raw:
        predict, transform = head.predict, head.transform

    assert DOptimalSelector(lam=1.0, **PURE).select(pool, Raw(), k).tolist() != chosen


def test_past_aware_is_a_default_of_the_one_selector_and_an_explicit_value_wins():
    pool, head, *_ = _setup(seed=1)
    labelled = np.random.default_rng(5).normal(size=(7, 2, 6)).astype(np.float32)

    def picks(sel):
        return sel.select(pool, head, 5, labelled=labelled).tolist()

    past = picks(PastAwareDOptimalSelector(lam=0.5, **PURE))
    plain = picks(DOptimalSelector(lam=0.5, **PURE))
    assert past != plain  # the labelled pairs change the batch
    assert picks(DOptimalSelector(lam=0.5, past_aware=True, **PURE)) == past
    assert picks(PastAwareDOptimalSelector(lam=0.5, past_aware=False, **PURE)) == plain
    assert PastAwareDOptimalSelector().get_params() == DOptimalSelector().get_params()
    with pytest.raises(ConfigError, match="past_aware must be True, False or None"):
        DOptimalSelector(past_aware="yes").select(pool, head, 1)


def test_past_aware_in_head_coordinates_starts_from_the_labelled_pairs_information():
    pool, head, X, y = _linear_setup(seed=2)
    scale, ridge = head.last_layer_prior()
    Xo = np.where(y[:, None, None] == 1, X, X[:, ::-1])
    sel = PastAwareDOptimalSelector(method="update", **PURE)
    picked = sel.select(pool, head, 1, labelled=Xo)
    Dl = (Xo[:, 0].astype(np.float64) - Xo[:, 1]) / scale
    pl = sigmoid(head.predict(Xo[:, 0]) - head.predict(Xo[:, 1]))
    M = fisher_information(Dl, pl * (1 - pl), ridge)
    a, b = pair_rows(pool)
    D = (pool.features[a].astype(np.float64) - pool.features[b]) / scale
    r = head.predict(pool.features)
    p = sigmoid(r[a] - r[b])
    gains = p * (1 - p) * np.einsum("ij,ij->i", D, np.linalg.solve(M, D.T).T)
    assert picked[0] == int(np.argmax(gains))
    np.testing.assert_allclose(sel.gains_[0], gains.max(), rtol=1e-7)


@pytest.mark.parametrize("method", ["lazy", "update"])
@pytest.mark.parametrize("share,k,expected", [(0.25, 8, 2), (0.5, 9, 5), (0.1, 4, 0), (0.9, 10, 9)])
def test_exploration_share_draws_that_many_at_random_and_the_greedy_completes_the_batch(
    method, share, k, expected
):
    from prefspace.select import RandomSelector

    pool, head, F, a, b, v = _setup(n_rows=40, seed=8)
    exclude = np.arange(0, len(pool), 7)
    sel = DOptimalSelector(
        lam=0.5, exploration=share, outlier_z=None, random_state=11, method=method
    )
    picked = sel.select(pool, head, k, exclude=exclude)
    assert picked.size == k and np.unique(picked).size == k and not np.isin(picked, exclude).any()
    # the first picks are exactly a random draw with that seed, of the rounded share
    assert sel.explored_.size == expected
    random_part = (
        RandomSelector(random_state=11).select(pool, None, expected, exclude=exclude)
        if expected
        else []
    )
    assert picked[:expected].tolist() == list(random_part) == sel.explored_.tolist()
    # the rest is the greedy given the random part: M already holds the random picks' information
    forced = greedy_d_optimal(
        F,
        a,
        b,
        v,
        k,
        M_inv=np.eye(F.shape[1]) / 0.5,
        method="update",
        exclude=np.union1d(exclude, picked[:expected]),
        forced=picked[:expected],
    )
    assert picked.tolist() == forced[0].tolist()
    # another seed draws another random part
    other = DOptimalSelector(
        lam=0.5, exploration=share, outlier_z=None, random_state=12, method=method
    )
    if expected:
        assert (
            other.select(pool, head, k, exclude=exclude)[:expected].tolist()
            != picked[:expected].tolist()
        )


def test_forced_picks_enter_the_information_like_greedy_picks():
    pool, head, F, a, b, v = _setup(n_rows=30, seed=9)
    forced = np.array([5, 17, 2])
    lazy = greedy_d_optimal(F, a, b, v, 9, M_inv=np.eye(4), forced=forced, method="lazy")
    full = greedy_d_optimal(F, a, b, v, 9, M_inv=np.eye(4), forced=forced, method="update")
    np.testing.assert_array_equal(lazy[0], full[0])
    np.testing.assert_allclose(lazy[1], full[1], rtol=1e-7)
    assert lazy[0][:3].tolist() == forced.tolist()
    D = F[a] - F[b]
    M = fisher_information(D[lazy[0]], v[lazy[0]], 1.0)
    np.testing.assert_allclose(lazy[2], np.linalg.inv(M), rtol=1e-8, atol=1e-10)
    with pytest.raises(ConfigError, match="forced must hold at most"):
        greedy_d_optimal(F, a, b, v, 2, M_inv=np.eye(4), forced=forced)


def test_exploration_must_be_a_share():
    pool, head, *_ = _setup()
    for bad in (-0.1, 1.0, 2):
        with pytest.raises(ConfigError, match="exploration must be"):
            DOptimalSelector(exploration=bad).select(pool, head, 2)


def test_outlier_rows_flags_responses_far_from_their_prompts_others():
    from prefspace.select.doptimal import outlier_rows

    g = np.random.default_rng(0)
    groups = np.repeat(np.arange(6), 20)
    centres = (
        g.normal(size=(6, 5)) * 10
    )  # prompts far apart: only the distance within a prompt counts
    F = centres[groups] + g.normal(size=(120, 5))
    F[[3, 47]] += 12.0  # two responses far from their prompt's others
    assert np.flatnonzero(outlier_rows(F, groups, z=3.5)).tolist() == [3, 47]
    # without the groups the spread of the prompts hides them
    assert not outlier_rows(F, None, z=3.5)[[3, 47]].all()
    # singleton groups fall back to the mean of those rows
    single = np.arange(120)
    G = g.normal(size=(120, 5))
    G[9] += 15.0
    assert np.flatnonzero(outlier_rows(G, single, z=3.5)).tolist() == [9]


def test_outlier_guard_keeps_the_greedy_away_from_outlying_responses():
    g = np.random.default_rng(3)
    prompts = np.repeat(np.arange(4), 15)
    E = (g.normal(size=(4, 6))[prompts] * 3 + g.normal(size=(60, 6))).astype(np.float32)
    E[[7, 33]] += 25.0  # two junk responses: every pair with one of them is long
    pool = WithinPromptPool(E, prompts)

    class Shrunk:  # a strongly penalised linear head: rewards near 0, so p (1 - p) is about 1/4 everywhere
        def transform(self, X):
            return np.asarray(X, dtype=np.float64)

        def predict(self, X):
            return self.transform(X) @ np.full(6, 1e-3)

    head = Shrunk()

    def rows(idx):
        return pool.rows(idx).ravel()

    unguarded = DOptimalSelector(lam=1.0, exploration=0.0, outlier_z=None).select(pool, head, 6)
    assert np.isin(rows(unguarded), [7, 33]).any()  # what the guard is for
    sel = DOptimalSelector(lam=1.0, exploration=0.0, outlier_z=3.5)
    guarded = sel.select(pool, head, 6)
    assert sel.n_outlier_rows_ == 2
    assert not np.isin(rows(guarded), [7, 33]).any()
    # the guarded batch is the plain greedy with those candidates excluded
    bad = np.flatnonzero(np.isin(pool.rows(np.arange(len(pool))), [7, 33]).any(axis=1))
    assert (
        guarded.tolist()
        == DOptimalSelector(lam=1.0, **PURE).select(pool, head, 6, exclude=bad).tolist()
    )
    # the random share may still draw them: the guard binds the greedy part only
    assert len(pool) - bad.size >= 6


def test_a_saved_linear_head_keeps_its_prior_and_so_its_design(tmp_path):
    from prefspace.models import load_model, save_model

    pool, head, X, y = _linear_setup(seed=4)
    save_model(head, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    scale, ridge = loaded.last_layer_prior()
    np.testing.assert_array_equal(scale, head.last_layer_prior()[0])
    assert ridge == head.last_layer_prior()[1]
    assert (
        DOptimalSelector(**PURE).select(pool, loaded, 5).tolist()
        == DOptimalSelector(**PURE).select(pool, head, 5).tolist()
    )
