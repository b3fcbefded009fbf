"""pairs_from_scores: simulated annotators on scored responses."""

from __future__ import annotations

import numpy as np
import pytest

from prefspace.data import ScoredResponses
from prefspace.evaluate import can_label, label_pairs, pairs_from_scores, transform_scores
from prefspace.exceptions import ConfigError, DataError


def _scored(n_prompts=20, per_prompt=6, seed=0, scores=None):
    rng = np.random.default_rng(seed)
    n = n_prompts * per_prompt
    return ScoredResponses(
        prompts=[f"prompt {i}" for i in range(n_prompts)],
        prompt_ids=[str(i) for i in range(n_prompts)],
        prompt_index=np.repeat(np.arange(n_prompts), per_prompt),
        responses=[f"response {i}" for i in range(n)],
        scores=rng.random(n) if scores is None else scores,
        ids=[str(i) for i in range(n)],
        source="toy",
    )


def test_noiseless_higher_gold_wins_within_prompt_and_no_duplicates():
    s = _scored()
    sp = pairs_from_scores(s, 60, random_state=1)
    assert len(sp) == 60
    assert (s.scores[sp.chosen] > s.scores[sp.rejected]).all()
    assert (s.prompt_index[sp.chosen] == s.prompt_index[sp.rejected]).all()
    assert (sp.p_chosen == 1.0).all()
    keys = {tuple(sorted(p)) for p in zip(sp.chosen.tolist(), sp.rejected.tolist())}
    assert len(keys) == 60
    # round-robin: the first 20 pairs cover all 20 prompts once
    assert sorted(s.prompt_index[sp.chosen[:20]].tolist()) == list(range(20))


def test_same_seed_same_pairs_and_prefix_is_nested():
    s = _scored()
    a = pairs_from_scores(s, 40, random_state=7)
    b = pairs_from_scores(s, 40, random_state=7)
    assert np.array_equal(a.chosen, b.chosen) and np.array_equal(a.rejected, b.rejected)
    c = pairs_from_scores(s, 40, random_state=8)
    assert not np.array_equal(a.chosen, c.chosen)


def test_far_pairs_have_larger_gaps_than_close_pairs():
    s = _scored(n_prompts=30, per_prompt=10)
    far = pairs_from_scores(s, 60, strategy="far", random_state=0)
    close = pairs_from_scores(s, 60, strategy="close", random_state=0)
    rnd = pairs_from_scores(s, 60, strategy="random", random_state=0)
    assert np.mean(far.gold_gap) > np.mean(rnd.gold_gap) > np.mean(close.gold_gap) > 0


def test_cross_prompt_pairs_mix_prompts():
    s = _scored()
    sp = pairs_from_scores(s, 50, within_prompt=False, random_state=0)
    assert (s.prompt_index[sp.chosen] != s.prompt_index[sp.rejected]).mean() > 0.5
    ds = sp.to_dataset(s)
    assert len(ds) == 50 and set(ds.subset) <= {"within", "cross"}
    assert ds.chosen[0] == s.responses[sp.chosen[0]]


def test_bradley_terry_noise_flips_at_the_predicted_rate():
    # two responses per prompt with gold gap 1.0; beta=1 -> P(better wins) = sigmoid(1) = 0.731
    n_prompts = 4000
    scores = np.tile([0.0, 1.0], n_prompts)
    s = _scored(n_prompts=n_prompts, per_prompt=2, scores=scores)
    sp = pairs_from_scores(s, n_prompts, noise="bt", beta=1.0, random_state=0)
    win_rate = np.mean(sp.gold_gap > 0)
    expected = 1 / (1 + np.exp(-1.0))
    assert win_rate == pytest.approx(expected, abs=0.025)
    assert np.allclose(sp.p_chosen[sp.gold_gap > 0], expected)
    # a very large beta is noiseless
    sharp = pairs_from_scores(s, 500, noise="bt", beta=1e6, random_state=0)
    assert (sharp.gold_gap > 0).all()


def test_logit_transform_clips_and_requires_probabilities():
    g = transform_scores([0.0, 0.5, 1.0], "logit", eps=1e-4)
    assert (
        g[1] == 0.0
        and g[0] == pytest.approx(-np.log((1 - 1e-4) / 1e-4))
        and g[2] == pytest.approx(-g[0])
    )
    with pytest.raises(DataError, match="needs gold scores in \\[0, 1\\]"):
        transform_scores([2.0], "logit")
    s = _scored()
    sp = pairs_from_scores(s, 10, transform="logit", random_state=0)
    assert np.allclose(
        sp.gold_gap,
        transform_scores(s.scores[sp.chosen], "logit")
        - transform_scores(s.scores[sp.rejected], "logit"),
    )


def test_equal_gold_pairs_are_never_drawn_noiselessly_and_capacity_is_checked():
    s = _scored(n_prompts=2, per_prompt=3, scores=np.array([0.1, 0.1, 0.5, 0.2, 0.2, 0.2]))
    # prompt 0: pairs (0,2), (1,2) labelable; prompt 1: none
    sp = pairs_from_scores(s, 2, random_state=0)
    assert sorted(zip(sp.chosen.tolist(), sp.rejected.tolist())) == [(2, 0), (2, 1)]
    with pytest.raises(ConfigError, match="only 2 distinct labelable pairs"):
        pairs_from_scores(s, 3, random_state=0)
    # with noise, tied pairs are fair coin flips
    assert len(pairs_from_scores(s, 6, noise="bt", random_state=0)) == 6


def test_rows_restrict_the_draw():
    s = _scored()
    rows = np.flatnonzero(s.prompt_index < 5)
    sp = pairs_from_scores(s, 30, rows=rows, random_state=0)
    assert set(sp.chosen.tolist()) | set(sp.rejected.tolist()) <= set(rows.tolist())


def test_pair_features_stack_chosen_first():
    s = _scored(n_prompts=3, per_prompt=4)
    F = np.arange(len(s) * 2, dtype=np.float32).reshape(len(s), 2)
    sp = pairs_from_scores(s, 5, random_state=0)
    X = sp.pair_features(F)
    assert X.shape == (5, 2, 2) and np.array_equal(X[:, 0], F[sp.chosen])


def test_bad_options_are_refused():
    s = _scored()
    with pytest.raises(ConfigError, match="strategy must be one of"):
        pairs_from_scores(s, 5, strategy="nearest")
    with pytest.raises(ConfigError, match="beta must be > 0"):
        pairs_from_scores(s, 5, noise="bt", beta=0)
    with pytest.raises(ConfigError, match="n_pairs must be a whole number >= 1"):
        pairs_from_scores(s, 0)


def test_the_annotator_rule_noiseless_and_bradley_terry():
    assert label_pairs([0.9, 0.1], [0.2, 0.5]).tolist() == [True, False]
    assert can_label([1.0, 1.0], [1.0, 2.0]).tolist() == [False, True]
    with pytest.raises(ConfigError, match="equal gold"):
        label_pairs([1.0, 0.3], [1.0, 0.2])
    # Bradley-Terry: a tie is a fair coin, a gap of 2 wins with sigmoid(2) = 0.881
    n = 20_000
    ties = label_pairs(np.zeros(n), np.zeros(n), "bt", 1.0, random_state=0)
    assert ties.mean() == pytest.approx(0.5, abs=0.02)
    gap2 = label_pairs(np.full(n, 2.0), np.zeros(n), "bt", 1.0, random_state=1)
    assert gap2.mean() == pytest.approx(1 / (1 + np.exp(-2.0)), abs=0.02)
    # huge gaps do not overflow (expit): the better one always wins
    with np.errstate(over="raise"):
        assert label_pairs([1e6], [-1e6], "bt", 10.0, random_state=0).tolist() == [True]
    assert can_label([3.0], [3.0], "bt").tolist() == [True]


def test_noiseless_draws_never_hold_a_tie():
    s = _scored(scores=np.round(np.random.default_rng(0).random(120), 1))  # many equal golds
    sp = pairs_from_scores(s, 150, random_state=0)
    assert (s.scores[sp.chosen] > s.scores[sp.rejected]).all()
