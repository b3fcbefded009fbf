"""Every strategy: k unique valid indices, exclusion, determinism; each against a brute force."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit as sigmoid

from prefspace.exceptions import ConfigError
from prefspace.models import BradleyTerryLinear, RewardEnsemble
from prefspace.select import (
    STRATEGIES,
    CoresetSelector,
    CrossPromptPool,
    EnsembleDisagreementSelector,
    RandomSelector,
    UncertaintySelector,
    WithinPromptPool,
    get_selector,
    select_pairs,
    selector_options,
)


@pytest.fixture(scope="module")
def setup():
    """Rows with a hidden linear reward; a linear head and a 3-member ensemble fitted on 80 pairs."""
    g = np.random.default_rng(0)
    E = g.normal(size=(90, 12)).astype(np.float32)
    prompts = np.arange(90) % 6
    truth = E @ g.normal(size=12)
    pool = WithinPromptPool(E, prompts)  # 6 prompts x C(15, 2) = 630 pairs
    train = pool.sample(80, 1)
    rows = train.rows(np.arange(80))
    rows = np.where((truth[rows[:, 0]] > truth[rows[:, 1]])[:, None], rows, rows[:, ::-1])
    X = E[rows]
    head = BradleyTerryLinear().fit(X)
    ens = RewardEnsemble(BradleyTerryLinear(), n_members=3, random_state=0).fit(X)
    return pool, head, ens, X


def _model_for(strategy, head, ens):
    return ens if strategy == "ensemble" else head


def _options(strategy, **options):
    """The options the strategy's selector takes (get_selector refuses the others)."""
    return selector_options(strategy, **options)


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
@pytest.mark.parametrize("cross", [False, True])
def test_each_strategy_returns_k_unique_valid_indices(setup, strategy, cross):
    pool, head, ens, X = setup
    if cross:
        pool = CrossPromptPool(pool.features, pool.prompt_index).sample(2000, 0)
    exclude = np.arange(0, 40, 3)
    options = _options(strategy, random_state=0, chunk_size=97)
    idx = select_pairs(
        pool,
        _model_for(strategy, head, ens),
        25,
        strategy,
        labelled=X[:10],
        exclude=exclude,
        **options,
    )
    assert idx.dtype == np.int64 and idx.shape == (25,)
    assert np.unique(idx).size == 25
    assert idx.min() >= 0 and idx.max() < len(pool)
    assert not np.isin(idx, exclude).any()
    again = select_pairs(
        pool,
        _model_for(strategy, head, ens),
        25,
        strategy,
        labelled=X[:10],
        exclude=exclude,
        **options,
    )
    np.testing.assert_array_equal(idx, again)


def test_whole_pool_can_be_chosen(setup):
    pool, head, ens, _ = setup
    small = pool.subset(np.arange(12))
    for strategy in STRATEGIES:
        idx = select_pairs(
            small,
            _model_for(strategy, head, ens),
            12,
            strategy,
            **_options(strategy, random_state=0),
        )
        assert sorted(idx.tolist()) == list(range(12))


def test_uncertainty_picks_the_smallest_gaps_in_any_chunking(setup):
    pool, head, _, _ = setup
    r = head.predict(pool.features)
    rows = pool.rows(np.arange(len(pool)))
    gap = np.abs(r[rows[:, 0]] - r[rows[:, 1]])
    expected = np.lexsort((np.arange(len(pool)), gap))[:30]
    for chunk in (1, 50, 10_000):
        got = UncertaintySelector(chunk_size=chunk).select(pool, head, 30)
        np.testing.assert_array_equal(got, expected)


def test_uncertainty_breaks_ties_by_lowest_index():
    E = np.zeros((8, 2), dtype=np.float32)  # every reward gap is 0

    class Flat:
        def predict(self, E):
            return np.zeros(len(E))

    pool = WithinPromptPool(E, [0] * 8)
    for chunk in (3, 1000):
        assert UncertaintySelector(chunk_size=chunk).select(pool, Flat(), 5).tolist() == [
            0,
            1,
            2,
            3,
            4,
        ]


@pytest.mark.parametrize("measure", ["proba", "reward"])
def test_ensemble_picks_the_largest_member_spread(setup, measure):
    pool, _, ens, _ = setup
    R = ens.predict_members(pool.features).T
    rows = pool.rows(np.arange(len(pool)))
    gap = R[rows[:, 0]] - R[rows[:, 1]]
    spread = (sigmoid(gap) if measure == "proba" else gap).std(axis=1)
    expected = np.lexsort((np.arange(len(pool)), -spread))[:20]
    got = EnsembleDisagreementSelector(measure=measure, chunk_size=64).select(pool, ens, 20)
    np.testing.assert_array_equal(got, expected)


def test_ensemble_refuses_a_single_head(setup):
    pool, head, _, _ = setup
    with pytest.raises(ConfigError, match="needs a fitted prefspace.models.RewardEnsemble"):
        EnsembleDisagreementSelector().select(pool, head, 3)


def _brute_k_center(D, k, centers):
    def dist(x, y):
        return min(np.sum((x - y) ** 2), np.sum((x + y) ** 2))

    centers = [np.zeros(D.shape[1])] + list(centers)
    picked = []
    for _ in range(k):
        mind = [
            -np.inf if c in picked else min(dist(D[c], z) for z in centers) for c in range(len(D))
        ]
        j = int(np.argmax(mind))
        picked.append(j)
        centers.append(D[j])
    return picked


def test_coreset_equals_brute_force_k_center(setup):
    pool, head, _, X = setup
    small = pool.subset(np.arange(0, 630, 7))  # 90 candidates
    rows = small.rows(np.arange(len(small)))
    D = pool.features[rows[:, 0]].astype(np.float64) - pool.features[rows[:, 1]]
    assert CoresetSelector().select(small, head, 8).tolist() == _brute_k_center(D, 8, [])
    labelled_d = X[:5, 0].astype(np.float64) - X[:5, 1]
    got = CoresetSelector().select(small, head, 8, labelled=X[:5]).tolist()
    assert got == _brute_k_center(D, 8, list(labelled_d))


def test_random_depends_on_the_seed_only(setup):
    pool, *_ = setup
    a = RandomSelector(random_state=3).select(pool, None, 50)
    np.testing.assert_array_equal(a, RandomSelector(random_state=3).select(pool, None, 50))
    assert not np.array_equal(a, RandomSelector(random_state=4).select(pool, None, 50))


def test_asking_for_too_many_pairs_says_how_many_exist(setup):
    pool, head, _, _ = setup
    with pytest.raises(
        ConfigError,
        match=r"cannot choose 630 pairs: the pool has 630 candidates, 1 of them excluded",
    ):
        select_pairs(pool, head, 630, "uncertainty", exclude=[0])
    with pytest.raises(ConfigError, match="k must be a whole number >= 1"):
        select_pairs(pool, head, 0, "random")
    with pytest.raises(
        ConfigError, match=r"k must be a whole number >= 1 \(pairs to choose\); got 2.5"
    ):
        select_pairs(pool, head, 2.5, "random")  # not cut to 2
    assert select_pairs(pool, head, 2.0, "random", random_state=0).shape == (2,)


def test_unknown_strategy_lists_the_choices():
    with pytest.raises(ConfigError, match="strategy must be one of 'random', 'uncertainty'"):
        get_selector("entropy")
    with pytest.raises(ConfigError, match="strategy must be one of"):
        selector_options("entropy", lam=1.0)


def test_unknown_parameters_are_refused_with_the_accepted_ones():
    with pytest.raises(
        ConfigError,
        match=r"DOptimalSelector \(strategy 'd-optimal'\) has no parameter 'lamda'; "
        r"its parameters are chunk_size, exploration, lam, method, n_jobs, outlier_z, past_aware, random_state\.",
    ):
        get_selector("d-optimal", lamda=0.5)
    with pytest.raises(ConfigError, match="RandomSelector .* has no parameter 'lam'"):
        select_pairs(WithinPromptPool(np.zeros((4, 2)), [0, 0, 1, 1]), None, 1, "random", lam=1.0)
    assert get_selector("d-optimal", lam=0.5).lam == 0.5


def test_pool_type_is_checked(setup):
    _, head, _, X = setup
    with pytest.raises(ConfigError, match="pool must be a prefspace.select pool"):
        select_pairs(X, head, 3, "uncertainty")


@pytest.mark.parametrize("strategy", ["d-optimal", "coreset"])
def test_a_billion_pair_pool_is_refused_with_the_fix(strategy):
    prompts = np.repeat(np.arange(805), 60)
    pool = CrossPromptPool(np.zeros((prompts.size, 2), dtype=np.float32), prompts)
    head = BradleyTerryLinear().fit(np.random.default_rng(0).normal(size=(20, 2, 2)))
    with pytest.raises(ConfigError, match=r"1,164,996,000 candidates .* pool.sample\(1_000_000\)"):
        select_pairs(pool, head, 5, strategy)


def test_streaming_strategies_choose_from_pools_too_large_to_materialise(setup, monkeypatch):
    from prefspace.select import _common

    pool, head, ens, _ = setup
    monkeypatch.setattr(_common, "MAX_MATERIALISED", 100)  # the 630-pair pool now counts as huge
    for strategy in ("d-optimal", "coreset"):
        with pytest.raises(ConfigError, match="630 candidates"):
            select_pairs(pool, head, 5, strategy)
    for strategy in ("random", "uncertainty", "ensemble"):  # chunk by chunk: any size
        idx = select_pairs(
            pool, _model_for(strategy, head, ens), 5, strategy, **_options(strategy, chunk_size=50)
        )
        assert np.unique(idx).size == 5
