"""Metrics against values computed by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from prefspace.evaluate import (
    accuracy_with_interval,
    best_of_n_curve,
    bootstrap_interval,
    expected_best_of_n,
    expected_calibration_error,
    pair_calibration,
    pairwise_accuracy,
    rank_correlations,
    reliability_bins,
    reward_metrics,
    subset_accuracy,
    wilson_interval,
)
from prefspace.exceptions import ConfigError, ShapeError

# ----------------------------------------------------------------------------- accuracy


def test_ties_count_wrong():
    assert pairwise_accuracy([1.0, 2.0, 3.0, 0.0], [0.0, 2.0, 4.0, -1.0]) == 0.5
    assert reward_metrics([1.0, 1.0], [1.0, 0.0])["accuracy"] == 0.5


def test_accuracy_interval_brackets_the_accuracy_and_is_seeded():
    rng = np.random.default_rng(0)
    rc, rr = rng.normal(size=400) + 0.5, rng.normal(size=400)
    a = accuracy_with_interval(rc, rr, random_state=3)
    assert a == accuracy_with_interval(
        rc, rr, random_state=4
    )  # Wilson: no resampling, the seed is unused
    boot = accuracy_with_interval(rc, rr, method="bootstrap", random_state=3)
    assert boot == accuracy_with_interval(rc, rr, method="bootstrap", random_state=3)  # seeded
    other = accuracy_with_interval(rc, rr, method="bootstrap", random_state=4)
    assert other.accuracy == boot.accuracy and (other.ci_low, other.ci_high) != (
        boot.ci_low,
        boot.ci_high,
    )
    assert boot.ci_low == pytest.approx(a.ci_low, abs=0.02) and boot.ci_high == pytest.approx(
        a.ci_high, abs=0.02
    )
    assert a.ci_low < a.accuracy < a.ci_high
    # the binomial standard error is sqrt(p(1-p)/n); a 95% interval is about +-1.96 of it
    se = np.sqrt(a.accuracy * (1 - a.accuracy) / 400)
    assert a.ci_high - a.ci_low == pytest.approx(2 * 1.96 * se, rel=0.2)


def test_bootstrap_of_constant_values_has_zero_width():
    assert bootstrap_interval([0.0, 0.0, 0.0]) == (0.0, 0.0)
    out = accuracy_with_interval([1.0], [1.0], method="bootstrap")
    assert out.to_dict() == {"accuracy": 0.0, "ci_low": 0.0, "ci_high": 0.0, "n_pairs": 1}


def test_wilson_interval_by_hand_and_inside_the_range():
    # p = 0.8, n = 20, z = 1.95996: centre (p + z^2/2n) / (1 + z^2/n), half z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n)
    z = 1.959963984540054
    centre = (0.8 + z * z / 40) / (1 + z * z / 20)
    half = z * np.sqrt(0.8 * 0.2 / 20 + z * z / 1600) / (1 + z * z / 20)
    assert wilson_interval(16, 20) == pytest.approx((centre - half, centre + half))
    lo, hi = wilson_interval(20, 20)
    assert hi == 1.0 and 0.8 < lo < 1.0  # all correct: not the degenerate [1, 1]
    out = accuracy_with_interval([1.0, 2.0, 3.0], [0.0, 0.0, 0.0])
    assert out.accuracy == 1.0 and out.ci_low < 1.0 and out.ci_high == 1.0


def test_bootstrap_rejects_bad_level():
    with pytest.raises(ConfigError, match="level"):
        bootstrap_interval([1.0, 0.0], level=1.5)


def test_subset_accuracy_weighted_and_macro_by_hand():
    # subset a: 3 pairs, 2 right (one tie); subset b: 1 pair, right
    rc = [1.0, 2.0, 0.0, 5.0]
    rr = [0.0, 1.0, 0.0, 4.0]
    out = subset_accuracy(rc, rr, ["a", "a", "a", "b"])
    assert out["per_subset"] == {
        "a": {"accuracy": pytest.approx(2 / 3), "n_pairs": 3},
        "b": {"accuracy": 1.0, "n_pairs": 1},
    }
    assert out["weighted"] == pytest.approx((3 * 2 / 3 + 1 * 1.0) / 4)  # = overall accuracy, 0.75
    assert out["macro"] == pytest.approx((2 / 3 + 1.0) / 2)


def test_subset_accuracy_rejects_wrong_length():
    with pytest.raises(ShapeError, match="subsets has 1 entries"):
        subset_accuracy([1.0, 2.0], [0.0, 0.0], ["a"])


# ----------------------------------------------------------------------------- best-of-N


def _brute_force_best_of_n(rewards, gold, n):
    """Average over every subset of size n, ties in reward split evenly."""
    vals = []
    for subset in itertools.combinations(range(len(rewards)), n):
        top = max(rewards[i] for i in subset)
        winners = [gold[i] for i in subset if rewards[i] == top]
        vals.append(sum(winners) / len(winners))
    return sum(vals) / len(vals)


def test_best_of_n_by_hand_three_responses():
    # subsets of 2 from rewards (1, 2, 3): {1,2} picks gold .5, {1,3} and {2,3} pick 1.0
    assert expected_best_of_n([1.0, 2.0, 3.0], [0.0, 0.5, 1.0], 2) == pytest.approx(2.5 / 3)
    assert expected_best_of_n([1.0, 2.0, 3.0], [0.0, 0.5, 1.0], 1) == pytest.approx(0.5)
    assert expected_best_of_n([1.0, 2.0, 3.0], [0.0, 0.5, 1.0], 3) == pytest.approx(1.0)


def test_best_of_n_ties_in_reward_break_at_random():
    # all rewards equal: every pick is random, so best-of-N is the mean gold for every N
    for n in (1, 2, 3, 4):
        assert expected_best_of_n([0.0] * 4, [0.0, 0.0, 1.0, 1.0], n) == pytest.approx(0.5)
    # tied top pair (gold 1 and 0) above one response (gold 0.2): N=3 gives (1+0)/2
    assert expected_best_of_n([1.0, 1.0, 0.0], [1.0, 0.0, 0.2], 3) == pytest.approx(0.5)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7])
def test_best_of_n_matches_brute_force_with_ties(n):
    rng = np.random.default_rng(n)
    rewards = rng.integers(0, 3, size=7).astype(float).tolist()  # many ties
    gold = rng.random(7).tolist()
    assert expected_best_of_n(rewards, gold, n) == pytest.approx(
        _brute_force_best_of_n(rewards, gold, n)
    )


def test_best_of_n_rejects_n_above_group_size():
    with pytest.raises(ConfigError, match="between 1 and the number of responses"):
        expected_best_of_n([1.0, 2.0], [0.0, 1.0], 3)


def test_best_of_n_curve_default_ns_oracle_random_and_small_prompts():
    g1 = np.arange(5, dtype=float) / 4  # prompt with 5 responses
    gold = np.concatenate([g1, [0.3]])  # plus a single-response prompt
    rewards = -gold  # a model that ranks exactly backwards
    groups = [np.arange(5), np.array([5])]
    out = best_of_n_curve(rewards, gold, groups)
    assert out["n"] == [1, 2, 4, 5]
    assert out["n_prompts"] == [2, 1, 1, 1]
    # N=1: the mean of per-prompt mean gold: (0.5 + 0.3) / 2
    assert out["model"][0] == pytest.approx(0.4)
    assert out["random"] == pytest.approx([0.4, 0.5, 0.5, 0.5])
    # backwards model at N=5 picks the worst (gold 0); the oracle picks the best (gold 1)
    assert out["model"][-1] == pytest.approx(0.0)
    assert out["oracle"][-1] == pytest.approx(1.0)
    # oracle at N=2 over 5 responses: E[max of 2 of {0,.25,.5,.75,1}] = sum_k k/4 * k / C(5,2)
    assert out["oracle"][1] == pytest.approx(sum(k / 4 * k for k in range(5)) / 10)


def test_best_of_n_curve_custom_ns_larger_than_every_prompt_is_nan():
    out = best_of_n_curve([1.0, 2.0], [0.0, 1.0], [np.arange(2)], ns=[1, 4])
    assert out["n_prompts"] == [1, 0]
    assert np.isnan(out["model"][1])


# ----------------------------------------------------------------------------- rank correlation


def test_rank_correlations_by_hand_single_and_constant_prompts():
    rewards = np.array([1.0, 2.0, 3.0, 3.0, 2.0, 1.0, 9.0, 5.0, 5.0, 1.0, 2.0])
    gold = np.array([0.1, 0.2, 0.3, 0.1, 0.2, 0.3, 0.5, 0.4, 0.4, 0.7, 0.7])
    groups = [
        np.array([0, 1, 2]),  # perfect agreement: +1
        np.array([3, 4, 5]),  # reversed: -1
        np.array([6]),  # single response: undefined
        np.array([7, 8]),  # constant rewards (and gold): undefined
        np.array([9, 10]),  # constant gold: undefined
    ]
    out = rank_correlations(rewards, gold, groups)
    assert out["per_prompt_spearman"][:2].tolist() == [1.0, -1.0]
    assert out["per_prompt_kendall"][:2].tolist() == [1.0, -1.0]
    assert np.isnan(out["per_prompt_spearman"][2:]).all()
    assert out["spearman"] == 0.0 and out["kendall"] == 0.0
    assert (out["n_prompts"], out["n_undefined"]) == (2, 3)


def test_rank_correlations_kendall_tau_b_with_a_tie_by_hand():
    # rewards (1, 2, 2), gold (1, 2, 3): concordant 2, discordant 0, one tie in rewards
    # tau_b = (2 - 0) / sqrt((3 - 1) * 3) = 2 / sqrt(6)
    out = rank_correlations([1.0, 2.0, 2.0], [1.0, 2.0, 3.0], [np.arange(3)])
    assert out["kendall"] == pytest.approx(2 / np.sqrt(6))
    # spearman on ranks (1, 2.5, 2.5) vs (1, 2, 3): pearson = 1.5 / sqrt(1.5 * 2)
    assert out["spearman"] == pytest.approx(1.5 / np.sqrt(3.0))


def test_rank_correlations_all_undefined_gives_nan_means():
    out = rank_correlations([1.0, 1.0], [0.0, 1.0], [np.arange(2)])
    assert np.isnan(out["spearman"]) and np.isnan(out["kendall"]) and out["n_prompts"] == 0


# ----------------------------------------------------------------------------- calibration


def test_reliability_bins_by_hand():
    out = reliability_bins([0.1, 0.9, 0.9, 1.0], [0, 1, 0, 1], n_bins=2)
    assert out["count"].tolist() == [1, 3]  # 1.0 lands in the last bin
    assert out["mean_prob"].tolist() == pytest.approx([0.1, 2.8 / 3])
    assert out["frac_pos"].tolist() == pytest.approx([0.0, 2 / 3])
    # ECE = 1/4 * |0.1 - 0| + 3/4 * |0.9333 - 0.6667|
    assert out["ece"] == pytest.approx(0.25 * 0.1 + 0.75 * (2.8 / 3 - 2 / 3))


def test_empty_bins_are_nan_and_ignored():
    out = reliability_bins([0.05, 0.05], [0, 0], n_bins=4)
    assert np.isnan(out["mean_prob"][1:]).all()
    assert out["ece"] == pytest.approx(0.05)


def test_perfectly_calibrated_and_overconfident_pairs():
    assert expected_calibration_error([0.5, 0.5], [1, 0]) == 0.0
    # the chosen response always wins, so a model saying 0.75 is off by 0.25 on both orderings
    assert pair_calibration([0.75] * 4)["ece"] == pytest.approx(0.25)
    assert pair_calibration([1.0, 1.0])["ece"] == pytest.approx(0.0)
    # symmetric by construction
    out = pair_calibration([0.62, 0.81, 0.33], n_bins=10)
    assert out["count"].tolist() == out["count"][::-1].tolist()


def test_calibration_rejects_out_of_range():
    with pytest.raises(ShapeError, match=r"\[0, 1\]"):
        reliability_bins([1.2], [1])
    with pytest.raises(ShapeError, match="outcome must hold 0 or 1"):
        reliability_bins([0.2], [2])


# ----------------------------------------------------------------------------- benchmark intervals


def test_seed_item_bootstrap_includes_the_test_sets_own_noise():
    from prefspace.evaluate import seed_item_bootstrap

    # five seeds that agree on every one of 400 test pairs: no seed-to-seed spread at all
    correct = (np.random.default_rng(1).random(400) < 0.6).astype(float)
    scores = np.tile(correct, (5, 1))
    seeds_only = seed_item_bootstrap(scores.mean(axis=1))
    both = seed_item_bootstrap(scores)
    assert (
        seeds_only.conditional_on_test_set and seeds_only.low == seeds_only.high == correct.mean()
    )
    assert not both.conditional_on_test_set and both.n_items == 400
    # resampling the 400 pairs gives about the binomial interval, +-1.96 sqrt(p(1-p)/n)
    p = correct.mean()
    assert both.high - both.low == pytest.approx(2 * 1.96 * np.sqrt(p * (1 - p) / 400), rel=0.15)


def test_seed_item_bootstrap_covers_the_true_accuracy_about_95_percent_of_the_time():
    from prefspace.evaluate import seed_item_bootstrap

    rng = np.random.default_rng(2)
    hits = 0
    for rep in range(200):  # a new test set each time; seeds differ on a tenth of the pairs
        base = rng.random(300) < 0.6
        scores = np.array(
            [np.where(rng.random(300) < 0.1, ~base, base) for _ in range(4)], dtype=float
        )
        iv = seed_item_bootstrap(scores, n_boot=400, random_state=rep)
        hits += iv.low <= 0.58 <= iv.high  # E[accuracy] = 0.9 * 0.6 + 0.1 * 0.4
    assert 0.88 <= hits / 200 <= 0.99
    assert (
        seed_item_bootstrap(np.ones((3, 10))).low == 1.0
    )  # at the bound the interval stays inside


def test_seed_item_bootstrap_differences_are_paired_and_inside_their_range():
    from prefspace.evaluate import seed_item_bootstrap

    rng = np.random.default_rng(3)
    control = (rng.random((5, 1000)) < 0.6).astype(float)
    better = control.copy()
    better[:, :30] = 1.0  # the method fixes 30 pairs the control got right or wrong, in every seed
    iv = seed_item_bootstrap(better, control)
    assert iv.estimate == pytest.approx((better - control).mean())
    assert (
        0 < iv.low < iv.estimate < iv.high < 0.03
    )  # paired: far narrower than two +-3-point intervals
    assert iv.p_value < 0.05
    same = seed_item_bootstrap(control, control)
    assert (same.estimate, same.low, same.high, same.p_value) == (0.0, 0.0, 0.0, 1.0)
    worst = seed_item_bootstrap(np.zeros((2, 5)), np.ones((2, 5)))
    assert worst.low == worst.high == -1.0


def test_seed_item_bootstrap_per_seed_test_sets_and_seeding():
    from prefspace.evaluate import seed_item_bootstrap

    rng = np.random.default_rng(4)
    blocks = [
        rng.random(n) for n in (50, 70, 60)
    ]  # e.g. per-prompt Spearman, a test split per seed
    a = seed_item_bootstrap(blocks, bounds=(-1.0, 1.0), random_state=7)
    assert a == seed_item_bootstrap(blocks, bounds=(-1.0, 1.0), random_state=7)
    assert a != seed_item_bootstrap(blocks, bounds=(-1.0, 1.0), random_state=8)
    assert a.estimate == pytest.approx(np.mean([b.mean() for b in blocks])) and a.n_seeds == 3
    assert -1.0 <= a.low < a.estimate < a.high <= 1.0


def test_seed_item_bootstrap_rejects_values_outside_the_range_and_mismatched_controls():
    from prefspace.evaluate import seed_item_bootstrap

    with pytest.raises(ConfigError, match="inside bounds"):
        seed_item_bootstrap([[0.5, 1.5]])
    with pytest.raises(ShapeError, match="same layout"):
        seed_item_bootstrap(np.ones((2, 3)), np.ones((2, 4)))


@pytest.mark.parametrize("per_seed", [True, False])
def test_the_p_value_agrees_with_the_interval(per_seed):
    from prefspace.evaluate import seed_item_bootstrap

    rng = np.random.default_rng(5)
    for shift in (0.0, 0.01, 0.02, 0.03, 0.05, 0.08):
        if per_seed:  # one value per seed: the expanded interval
            a, b = rng.uniform(0.55, 0.65, 6) + shift, rng.uniform(0.55, 0.65, 6)
        else:  # per-pair values on one shared test set
            b = (rng.random((3, 300)) < 0.6).astype(float)
            a = np.where(rng.random((3, 300)) < shift * 3, 1.0, b)
        iv = seed_item_bootstrap(a, b)
        assert (iv.p_value < 0.05) == (iv.low > 0 or iv.high < 0), (shift, iv)


def test_holm_adjustment_by_hand():
    from prefspace.evaluate import holm_adjust

    # sorted 0.01, 0.03, 0.04 -> 3*0.01, max(0.03, 2*0.03), max(0.06, 1*0.04)
    assert holm_adjust([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm_adjust([0.5, 0.9]) == pytest.approx([1.0, 1.0])
