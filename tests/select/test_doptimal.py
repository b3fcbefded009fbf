"""Greedy D-optimal selection against brute-force determinant maximisation and direct inversion."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.special import expit as sigmoid

from prefspace.exceptions import ConfigError
from prefspace.select import DOptimalSelector, PastAwareDOptimalSelector, WithinPromptPool, fisher_information, greedy_d_optimal
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


def _logdet(M):
    sign, val = np.linalg.slogdet(M)
    assert sign > 0
    return val


@pytest.mark.parametrize("method", ["lazy", "update"])
@pytest.mark.parametrize("lam", [0.1, 1.0])
def test_greedy_equals_greedy_by_determinant(lam, method):
    pool, head, F, a, b, v = _setup()
    k = 10
    picked = DOptimalSelector(lam=lam, method=method).select(pool, head, k)
    # brute force: at each step evaluate log det(M + v_k d_k d_k^T) for every remaining candidate
    D = F[a] - F[b]
    M = lam * np.eye(F.shape[1])
    chosen: list[int] = []
    increments = []
    for _ in range(k):
        base = _logdet(M)
        scores = np.array([
            -np.inf if c in chosen else _logdet(M + v[c] * np.outer(D[c], D[c])) for c in range(len(D))
        ])
        best = int(np.argmax(scores))
        increments.append(scores[best] - base)
        chosen.append(best)
        M = M + v[best] * np.outer(D[best], D[best])
    assert picked.tolist() == chosen
    # each pick's gain is its log-det increment: log det rises by log1p(gain)
    sel = DOptimalSelector(lam=lam, method=method)
    sel.select(pool, head, k)
    np.testing.assert_allclose(np.log1p(sel.gains_), increments, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("method", ["lazy", "update"])
def test_past_aware_greedy_equals_greedy_by_determinant_from_labelled_start(method):
    pool, head, F, a, b, v = _setup(seed=1)
    g = np.random.default_rng(5)
    labelled = g.normal(size=(7, 2, 6)).astype(np.float32)
    Dl = head.transform(labelled[:, 0]) - head.transform(labelled[:, 1])
    pl = sigmoid(head.predict(labelled[:, 0]) - head.predict(labelled[:, 1]))
    M = fisher_information(Dl, pl * (1 - pl), 0.5)
    picked = PastAwareDOptimalSelector(lam=0.5, method=method).select(pool, head, 5, labelled=labelled)
    D = F[a] - F[b]
    chosen: list[int] = []
    for _ in range(5):
        scores = [-np.inf if c in chosen else _logdet(M + v[c] * np.outer(D[c], D[c])) for c in range(len(D))]
        best = int(np.argmax(scores))
        chosen.append(best)
        M = M + v[best] * np.outer(D[best], D[best])
    assert picked.tolist() == chosen
    # and it is a different batch from the one that ignores the labelled pairs
    assert DOptimalSelector(lam=0.5).select(pool, head, 5, labelled=labelled).tolist() != chosen


def test_greedy_is_within_the_submodular_bound_of_the_best_subset():
    pool, head, F, a, b, v = _setup(n_rows=12, n_prompts=2, seed=2)  # 30 candidates
    D = F[a] - F[b]
    lam, k = 1.0, 3
    M0 = lam * np.eye(F.shape[1])

    def value(S):
        return _logdet(M0 + sum(v[c] * np.outer(D[c], D[c]) for c in S)) - _logdet(M0)

    best = max(value(S) for S in itertools.combinations(range(len(D)), k))
    greedy = value(DOptimalSelector(lam=lam).select(pool, head, k))
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
        M_before = fisher_information(D[picked[:step]], v[picked[:step]], lam) if step else lam * np.eye(F.shape[1])
        direct = v[j] * D[j] @ np.linalg.solve(M_before, D[j])
        np.testing.assert_allclose(gains[step], direct, rtol=1e-9)
    assert (np.diff(gains) <= 1e-12).all(), "greedy gains must not increase (log det is submodular)"


def test_lazy_and_update_pick_the_same_batch_on_a_larger_pool():
    pool, head, F, a, b, v = _setup(n_rows=400, n_prompts=8, dim=10, hidden=16, seed=6)  # 9,800 candidates
    M0_inv = np.eye(16) / 0.2
    exclude = np.arange(0, 9800, 97)
    lazy = greedy_d_optimal(F, a, b, v, 120, M_inv=M0_inv, exclude=exclude, method="lazy")
    full = greedy_d_optimal(F, a, b, v, 120, M_inv=M0_inv, exclude=exclude, method="update")
    np.testing.assert_array_equal(lazy[0], full[0])
    np.testing.assert_allclose(lazy[1], full[1], rtol=1e-9)
    np.testing.assert_allclose(lazy[2], full[2], rtol=1e-9, atol=1e-12)
    assert not np.isin(lazy[0], exclude).any()


@pytest.mark.parametrize("top,max_pending", [(1, 1), (5, 3), (40, 1000)])
def test_lazy_shortlist_and_refresh_sizes_do_not_change_the_choice(top, max_pending):
    from prefspace.select.doptimal import _lazy_greedy

    pool, head, F, a, b, v = _setup(n_rows=120, n_prompts=3, dim=8, hidden=6, seed=7)  # 2,340 candidates
    M0_inv = np.eye(6)
    expected = greedy_d_optimal(F, a, b, v, 60, M_inv=M0_inv, method="update")
    gain = initial_gains(F, a, b, v, M0_inv)
    picked, gains, M_inv = np.empty(60, dtype=np.int64), np.empty(60), M0_inv.copy()
    _lazy_greedy(F, a, b, v, M_inv, gain, picked, gains, top=top, max_pending=max_pending, chunk_size=100)
    np.testing.assert_array_equal(picked, expected[0])
    np.testing.assert_allclose(gains, expected[1], rtol=1e-9)
    np.testing.assert_allclose(M_inv, expected[2], rtol=1e-9, atol=1e-12)


def test_initial_gains_match_direct_quadratic_forms_in_any_chunking():
    pool, head, F, a, b, v = _setup(n_rows=30, seed=4)
    A = np.random.default_rng(0).normal(size=(4, 4))
    A = A @ A.T + np.eye(4)
    D = F[a] - F[b]
    direct = v * np.einsum("ij,jk,ik->i", D, A, D)
    for chunk in (1, 5, 10_000):
        np.testing.assert_allclose(initial_gains(F, a, b, v, A, chunk_size=chunk), direct, rtol=1e-10)


def test_selection_is_deterministic_and_respects_exclude():
    pool, head, *_ = _setup(n_rows=30, seed=5)
    first = DOptimalSelector().select(pool, head, 8)
    assert first.tolist() == DOptimalSelector().select(pool, head, 8).tolist()
    again = DOptimalSelector().select(pool, head, 8, exclude=first[:3])
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

    with pytest.raises(ConfigError, match=r"D-optimal strategy needs a fitted reward model with a transform\(\) method"):
        DOptimalSelector().select(pool, RewardsOnly(), 2)
