"""Comparisons with a baseline on the same data (paired intervals, verdicts) and the longer-answer
share of a file, on the shared HH and alpaca_bon data."""

from __future__ import annotations

import numpy as np
import pytest

from prefspace.data import load_preferences, load_scored_responses
from prefspace.data.text_features import log_length
from prefspace.evaluate import compare_pairs, compare_scored, length_preference, rank_correlations
from prefspace.evaluate.baseline import paired_difference_interval
from prefspace.exceptions import ShapeError


@pytest.fixture(scope="module")
def hh(hh_path):
    return load_preferences(hh_path)


@pytest.fixture(scope="module")
def alpaca(alpaca_dir):
    """The first 60 prompts of alpaca_bon with all their responses."""
    scored = load_scored_responses(
        alpaca_dir / "responses.jsonl.gz", prompts=alpaca_dir / "prompts.jsonl.gz", score_key="gold"
    )
    rows = np.flatnonzero(scored.prompt_index < 60)
    groups = [np.flatnonzero(scored.prompt_index[rows] == p) for p in range(60)]
    lengths = log_length([scored.responses[i] for i in rows])
    return lengths, scored.scores[rows], groups


def test_length_preference_counts_hh_pairs(hh):
    pref = length_preference(hh.chosen, hh.rejected)
    longer = sum(len(c) > len(r) for c, r in zip(hh.chosen, hh.rejected))
    equal = sum(len(c) == len(r) for c, r in zip(hh.chosen, hh.rejected))
    assert (pref.n_pairs, pref.longer, pref.equal) == (len(hh), longer, equal)
    assert pref.longer + pref.shorter + pref.equal == pref.n_pairs
    assert (
        pref.ci_low < pref.longer_share < pref.ci_high
        and 0.0 <= pref.ci_low
        and pref.ci_high <= 1.0
    )
    assert pref.longer_share < 0.5  # on HH harmless the shorter answer wins more often
    assert pref.sentence().startswith(f"the longer answer wins {100 * pref.longer_share:.1f}% [")
    with pytest.raises(ShapeError, match="no pairs"):
        length_preference([], [])


def test_a_model_equal_to_its_baseline_is_not_significantly_different(hh):
    L = np.stack([log_length(hh.chosen), log_length(hh.rejected)], axis=1)
    c = compare_pairs(-L, -L)
    assert (c.difference, c.ci_low, c.ci_high) == (0.0, 0.0, 0.0)
    assert c.verdict == "not significantly different" and c.n == len(hh) and c.unit == "pairs"
    assert c.model == c.baseline == pytest.approx(np.mean(L[:, 0] < L[:, 1]))


def test_above_and_below_with_an_interval_inside_the_range(hh):
    L = np.stack([log_length(hh.chosen), log_length(hh.rejected)], axis=1)
    longer = compare_pairs(L, -L)  # "longer wins" against "shorter wins" on HH: below
    assert (
        longer.verdict == "below"
        and -1.0 <= longer.ci_low < longer.difference < longer.ci_high < 0.0
    )
    assert longer.difference == pytest.approx(longer.model - longer.baseline, abs=1e-12)
    perfect = np.tile([1.0, 0.0], (len(hh), 1))
    best = compare_pairs(perfect, -L)
    assert best.verdict == "above" and best.model == 1.0 and best.ci_high <= 1.0
    assert "accuracy 1.0000 vs length baseline" in best.sentence() and best.sentence().endswith(
        "above"
    )


def test_resampling_prompts_widens_the_interval_when_pairs_share_them():
    # 100 prompts of 20 pairs; whether the model is right is shared within a prompt
    g = np.random.default_rng(0)
    right = np.repeat(g.random(100) < 0.6, 20).astype(float)
    model = np.stack([right, np.zeros_like(right)], axis=1)
    base = np.stack(
        [np.repeat(g.random(100) < 0.5, 20).astype(float), np.zeros_like(right)], axis=1
    )
    groups = np.repeat(np.arange(100), 20)
    by_pair = compare_pairs(model, base)
    by_prompt = compare_pairs(model, base, groups=groups)
    assert by_prompt.difference == pytest.approx(by_pair.difference, abs=1e-12)
    assert by_prompt.ci_high - by_prompt.ci_low > 2 * (by_pair.ci_high - by_pair.ci_low)


def test_paired_interval_is_deterministic_and_refuses_bad_input():
    a, b = np.linspace(0, 1, 50), np.linspace(0, 1, 50)[::-1]
    assert paired_difference_interval(a, b, random_state=3) == paired_difference_interval(
        a, b, random_state=3
    )
    with pytest.raises(ShapeError, match="must pair up"):
        paired_difference_interval(a, b[:3])
    with pytest.raises(ShapeError, match="groups has 2 labels"):
        paired_difference_interval(a, b, groups=[0, 1])
    with pytest.raises(ShapeError, match=r"must have shape \(n_pairs, 2\)"):
        compare_pairs(a, b)


def test_scored_comparison_on_alpaca_bon(alpaca):
    lengths, gold, groups = alpaca
    same = compare_scored(lengths, lengths, gold, groups, ns=(16, 32))
    assert [c.metric for c in same] == ["spearman", "best_of_16", "best_of_32"]
    assert all(c.difference == 0.0 and c.verdict == "not significantly different" for c in same)
    spearman = rank_correlations(lengths, gold, groups)
    assert same[0].baseline == pytest.approx(spearman["spearman"], abs=1e-12) and same[0].n == 60
    assert same[0].baseline > 0.2  # on alpaca_bon longer responses have the higher gold
    oracle = compare_scored(gold, lengths, gold, groups)
    assert [c.metric for c in oracle] == ["spearman", "best_of_16"]
    assert all(c.verdict == "above" and c.ci_low > 0 for c in oracle)
    assert oracle[0].model == pytest.approx(1.0) and oracle[0].ci_high <= 2.0
    with pytest.raises(ShapeError, match="must cover the same responses"):
        compare_scored(lengths, lengths[:5], gold, groups)


def test_evaluation_report_stands_the_model_beside_the_baseline(alpaca_dir, tmp_path):
    """A linear head on alpaca_bon's precomputed MiniLM rows, evaluated with the length baseline
    beside it: metrics.json holds the comparison and report.html shows the verdict first."""
    from prefspace.evaluate import (
        evaluate_pairs,
        evaluate_scored,
        pairs_from_scores,
        write_evaluation,
    )
    from prefspace.models import BradleyTerryLinear, LengthBaseline, with_prompt_features

    scored = load_scored_responses(
        alpaca_dir / "responses.jsonl.gz", prompts=alpaca_dir / "prompts.jsonl.gz", score_key="gold"
    )
    P = np.load(alpaca_dir / "prompt_emb_minilm.npy").astype(np.float32)
    R = np.load(alpaca_dir / "response_emb_minilm.npy").astype(np.float32)
    F = with_prompt_features(R, P[[int(scored.prompt_ids[i]) for i in scored.prompt_index]])
    lengths = log_length(scored.responses)
    train_rows = np.flatnonzero(scored.prompt_index < 100)
    test_rows = np.flatnonzero((scored.prompt_index >= 100) & (scored.prompt_index < 130))
    tr = pairs_from_scores(scored, 400, rows=train_rows, random_state=0)
    te = pairs_from_scores(scored, 300, rows=test_rows, random_state=1)
    model = BradleyTerryLinear().fit(tr.pair_features(F))
    base = LengthBaseline().fit(tr.pair_features(lengths[:, None])[:, :, 0])
    L_test = te.pair_features(lengths[:, None])[:, :, 0]
    b = base.predict(L_test.ravel()).reshape(-1, 2)
    result = evaluate_pairs(
        model, te.pair_features(F), baseline=b, groups=scored.prompt_index[te.chosen]
    )
    c = result["length_baseline"]
    assert c["model"] == pytest.approx(result["accuracy"]) and c["baseline"] == pytest.approx(
        base.score(L_test)
    )
    assert c["ci_low"] <= c["difference"] <= c["ci_high"] and c["verdict"] in (
        "above",
        "below",
        "not significantly different",
    )
    result["length_baseline_fit"] = {"source": "the training pairs", **base.to_dict()}
    paths = write_evaluation(result, tmp_path / "pairs")
    html = paths["report_html"].read_text()
    assert html.index("Against the learned length baseline") < html.index(
        "Pairwise accuracy and calibration"
    )
    assert (
        f'class="callout {c["verdict"] if c["verdict"] != "not significantly different" else "other"}"'
        in html
    )
    assert "the longer answer wins" in html

    rows = test_rows
    out = evaluate_scored(
        model,
        F[rows],
        scored.scores[rows],
        scored.prompt_index[rows],
        baseline=base.predict(lengths[rows]),
        n_boot=200,
    )
    metrics = [x["metric"] for x in out["length_baseline"]]
    assert metrics == ["spearman", "best_of_16", f"best_of_{out['best_of_n']['n'][-1]}"]
    assert out["length_baseline"][0]["model"] == pytest.approx(out["spearman"])
    html = write_evaluation(out, tmp_path / "scored")["report_html"].read_text()
    assert "Against the learned length baseline" in html and "best_of_16" in html
