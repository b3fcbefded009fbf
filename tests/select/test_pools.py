"""Lazy candidate pools: counts, indexing, chunking, subsets."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from prefspace.exceptions import ConfigError, ShapeError
from prefspace.select import CrossPromptPool, ExplicitPairPool, WithinPromptPool, get_pool

# uneven groups, unsorted rows, one prompt with a single response
PROMPTS = np.array([2, 0, 1, 0, 2, 2, 3, 1, 0, 2])


def _features(n: int = len(PROMPTS)) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, 3)).astype(np.float32)


def _brute(prompts: np.ndarray, same: bool) -> set[tuple[int, int]]:
    return {
        (i, j)
        for i, j in itertools.combinations(range(len(prompts)), 2)
        if (prompts[i] == prompts[j]) == same
    }


@pytest.mark.parametrize("cls,same", [(WithinPromptPool, True), (CrossPromptPool, False)])
def test_pool_enumerates_exactly_the_right_pairs_once(cls, same):
    pool = cls(_features(), PROMPTS)
    rows = pool.rows(np.arange(len(pool)))
    got = [tuple(sorted(r)) for r in rows.tolist()]
    assert len(got) == len(set(got)), "a pair appears twice"
    assert set(got) == _brute(PROMPTS, same)
    assert len(pool) == len(_brute(PROMPTS, same))


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 1000])
def test_chunks_cover_the_pool_in_order(chunk_size):
    pool = CrossPromptPool(_features(), PROMPTS)
    idx, rows = zip(*pool.chunks(chunk_size))
    assert all(len(i) <= chunk_size for i in idx)
    np.testing.assert_array_equal(np.concatenate(idx), np.arange(len(pool)))
    np.testing.assert_array_equal(np.concatenate(rows), pool.rows(np.arange(len(pool))))


def test_cross_pool_of_alpaca_size_is_counted_without_enumeration():
    n_prompts, per = 805, 60
    prompts = np.repeat(np.arange(n_prompts), per)
    pool = CrossPromptPool(np.zeros((prompts.size, 1), dtype=np.float32), prompts)
    n = prompts.size
    assert len(pool) == n * (n - 1) // 2 - n_prompts * per * (per - 1) // 2  # 1.17 billion
    last = pool.rows([len(pool) - 1, 0, 123_456_789])
    assert (prompts[last[:, 0]] != prompts[last[:, 1]]).all()
    within = WithinPromptPool(np.zeros((prompts.size, 1), dtype=np.float32), prompts)
    assert len(within) == 805 * 1770
    sample = pool.sample(1000, 0)
    assert len(sample) == 1000 and np.unique(sample.indices).size == 1000


def test_pair_features_match_rows():
    E = _features()
    pool = WithinPromptPool(E, PROMPTS)
    X = pool.pair_features([0, 2])
    r = pool.rows([0, 2])
    np.testing.assert_array_equal(X[:, 0], E[r[:, 0]])
    np.testing.assert_array_equal(X[:, 1], E[r[:, 1]])
    assert X.shape == (2, 2, 3)


def test_sample_is_deterministic_sorted_and_unique():
    pool = CrossPromptPool(_features(), PROMPTS)
    s1, s2 = pool.sample(10, 3), pool.sample(10, 3)
    np.testing.assert_array_equal(s1.indices, s2.indices)
    assert (np.diff(s1.indices) > 0).all()
    assert not np.array_equal(s1.indices, pool.sample(10, 4).indices)
    np.testing.assert_array_equal(s1.rows([1, 5]), pool.rows(s1.to_parent([1, 5])))
    assert len(pool.sample(10**6, 0)) == len(pool)  # asking for more gives all


def test_subset_renumbers_and_chains():
    pool = WithinPromptPool(_features(), PROMPTS)
    sub = pool.subset([5, 1, 3])
    np.testing.assert_array_equal(sub.rows([0, 1, 2]), pool.rows([5, 1, 3]))
    subsub = sub.subset([2])
    np.testing.assert_array_equal(subsub.rows([0]), pool.rows([3]))


def test_out_of_range_index_is_refused():
    pool = WithinPromptPool(_features(), PROMPTS)
    with pytest.raises(ShapeError, match=r"pair index 99 is out of range for a pool of \d+ pairs"):
        pool.rows([0, 99])
    with pytest.raises(ShapeError, match="must be integers"):
        pool.rows([0.5])


def test_bad_inputs_name_the_problem():
    with pytest.raises(ShapeError, match=r"prompt_index must have shape \(10,\)"):
        WithinPromptPool(_features(), PROMPTS[:5])
    with pytest.raises(ShapeError, match="pairs must be an integer array of shape"):
        ExplicitPairPool(_features(), [[0, 1, 2]])
    with pytest.raises(ShapeError, match="outside features"):
        ExplicitPairPool(_features(), [[0, 10]])
    with pytest.raises(ConfigError, match="pool kind must be 'within' or 'cross'"):
        get_pool(_features(), PROMPTS, "diagonal")


@pytest.mark.parametrize("kind", ["within", "cross"])
def test_index_of_inverts_rows_in_either_order(kind):
    pool = get_pool(_features(), PROMPTS, kind)
    idx = np.arange(len(pool))
    rows = pool.rows(idx)
    np.testing.assert_array_equal(pool.index_of(rows), idx)
    np.testing.assert_array_equal(pool.index_of(rows[:, ::-1]), idx)
    other = get_pool(_features(), PROMPTS, "cross" if kind == "within" else "within")
    assert (pool.index_of(other.rows(np.arange(len(other)))) == -1).all()
    sub = pool.subset([7, 2, 5])
    assert sub.index_of(pool.rows([5, 2, 0])).tolist() == [2, 1, -1]
    explicit = ExplicitPairPool(_features(), rows[:4])
    assert explicit.index_of(np.vstack([rows[3:4, ::-1], rows[5:6]])).tolist() == [3, -1]
