"""The folds and the guard every cross-validated choice shares (models/selection.py)."""

from __future__ import annotations

import numpy as np
import pytest

from prefspace.exceptions import ConfigError
from prefspace.models.selection import (
    GuardRule,
    fold_ids,
    guarded_choice,
    paired_gain,
    prompt_folds,
)


def test_fold_ids_keep_each_group_in_one_fold_and_follow_the_seed():
    groups = np.repeat(np.arange(30), np.arange(30) % 4 + 1)  # groups of 1 to 4 pairs
    folds = fold_ids(len(groups), 3, groups, random_state=0)
    for g in np.unique(groups):
        assert len(np.unique(folds[groups == g])) == 1
    assert sorted(np.unique(folds)) == [0, 1, 2]
    assert np.array_equal(folds, fold_ids(len(groups), 3, groups, random_state=0))
    # the groups are shuffled: another seed puts them in other folds
    assert not np.array_equal(folds, fold_ids(len(groups), 3, groups, random_state=1))
    # without groups: one group per pair, folds of equal size
    alone = fold_ids(31, 3, None, random_state=0)
    assert sorted(np.bincount(alone)) == [10, 10, 11]
    with pytest.raises(ConfigError, match="at least 3 distinct groups"):
        fold_ids(10, 3, np.r_[np.zeros(5), np.ones(5)], random_state=0)
    with pytest.raises(ConfigError, match="n_folds must be a whole number >= 2"):
        prompt_folds(1)


def test_paired_gain_clusters_by_prompt():
    rng = np.random.default_rng(0)
    d_group = rng.choice([-1.0, 0.0, 1.0], size=50)
    new = np.repeat(np.clip(d_group, 0, 1), 8)  # 50 prompts of 8 pairs, all pairs of a prompt alike
    ref = np.repeat(np.clip(-d_group, 0, 1), 8)
    folds, groups = np.arange(400) % 3, np.repeat(np.arange(50), 8)
    alone, clustered = paired_gain(new, ref, folds), paired_gain(new, ref, folds, groups)
    assert alone.gain == clustered.gain == pytest.approx(d_group.mean())
    # 8 copies of each difference carry the information of one: the clustered standard error
    # is that of the 50 prompt means, about sqrt(8) times the naive one
    assert clustered.se == pytest.approx(d_group.std(ddof=1) / np.sqrt(50), rel=1e-9)
    assert clustered.se / alone.se == pytest.approx(np.sqrt(8), rel=0.05)
    assert len(clustered.fold_gains) == 3


def _null_runs(n_runs, n=1000, n_candidates=4, shift=0.0, seed=0):
    """Guard decisions on simulated out-of-fold correctness: each candidate disagrees with the
    reference on 20% of the pairs; ``shift`` makes the first candidate right on that many more."""
    rng = np.random.default_rng(seed)
    rule = GuardRule()
    folds = np.arange(n) % 3
    picks, one_se = [], []
    for _ in range(n_runs):
        ref = (rng.random(n) < 0.65).astype(float)
        comps, ll = [], []
        for j in range(n_candidates):
            new = ref.copy()
            flip = rng.random(n) < 0.2
            new[flip] = rng.random(flip.sum()) < 0.65
            if j == 0 and shift:
                wrong = np.flatnonzero(new == 0)
                new[rng.choice(wrong, int(shift * n), replace=False)] = 1
            comps.append([paired_gain(new, ref, folds)])
            ll.append(0.6)
        pick, best = guarded_choice(comps, ll, rule)
        picks.append(pick)
        one_se.append(
            comps[best][0].gain > 0 and comps[best][0].z >= 1.0
        )  # the rule this one replaced
    return picks, np.mean(one_se)


def test_guard_rarely_picks_when_no_candidate_is_better():
    picks, one_se_rate = _null_runs(300)
    rate = np.mean([p is not None for p in picks])
    # alpha = 0.05 for the family of 4 candidates (300 runs: 0.08 is 2.4 binomial standard errors
    # above it); without the correction the rate would be near 1 - 0.95 ** 4 = 0.19
    assert rate <= 0.08
    assert (
        one_se_rate > 0.25
    )  # "best of four, one standard error" picks in about a third of the runs


def test_guard_picks_a_clearly_better_candidate():
    picks, _ = _null_runs(100, shift=0.06)  # +6 points on 1,000 pairs
    assert np.mean([p == 0 for p in picks]) >= 0.9


def test_guard_needs_the_minimum_gain_and_every_fold():
    rule = GuardRule(min_gain=0.02)
    folds = np.arange(3000) % 3
    ref = np.zeros(3000)
    small = ref.copy()
    small[:45] = 1  # +1.5 points, many standard errors, in every fold: below min_gain
    assert guarded_choice([[paired_gain(small, ref, folds)]], [0.6], rule)[0] is None
    assert (
        guarded_choice([[paired_gain(small, ref, folds)]], [0.6], GuardRule(min_gain=0.01))[0] == 0
    )
    one_fold = ref.copy()
    one_fold[folds == 0] = 1  # +33 points, all from one fold
    assert guarded_choice([[paired_gain(one_fold, ref, folds)]], [0.6], rule)[0] is None
    # a candidate must pass against every reference it is compared with
    assert (
        guarded_choice(
            [[paired_gain(small, ref, folds), paired_gain(small, small, folds)]],
            [0.6],
            GuardRule(min_gain=0.01),
        )[0]
        is None
    )
    assert GuardRule().z_needed(1) == pytest.approx(1.6449, abs=1e-4)
    assert GuardRule().z_needed(4) == pytest.approx(2.2414, abs=1e-4)
    with pytest.raises(ConfigError, match="alpha must be in"):
        GuardRule(alpha=0.0)
