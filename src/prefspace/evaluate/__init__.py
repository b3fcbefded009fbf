"""Measuring: metrics, best-of-N, calibration, simulated annotators, one model's evaluation.

This stage sits below ``prefspace.models``: it works on rewards and scores (numpy arrays) and
never imports a model, a synthesizer or a selector. Orchestration (the experiment runner, the
demo, the active-learning simulation) lives above, in :mod:`prefspace.experiments`.

- Pairs: :func:`pairwise_accuracy`, :func:`reward_metrics` (TRL names),
  :func:`accuracy_with_interval` (Wilson 95% interval), :func:`subset_accuracy`
  (per subset and reward-bench's example-weighted average).
- Benchmark intervals: :func:`seed_item_bootstrap` (a mean over seeds or a paired difference,
  resampling seeds and test items, inside the metric's range) and :func:`holm_adjust`.
- Scored responses: :func:`best_of_n_curve` / :func:`expected_best_of_n` (exact expectation over
  random subsets), :func:`rank_correlations` (per-prompt Spearman and Kendall).
- Calibration: :func:`pair_calibration`, :func:`reliability_bins`,
  :func:`expected_calibration_error`.
- Simulated annotators: :func:`pairs_from_scores`, and the one labelling rule
  :func:`label_pairs` / :func:`can_label` (also used by the active-learning simulation).
- Length: :func:`length_dependence` (within-prompt reward-length correlation, the share of
  reward variance the text-feature block explains).
- One model's rewards: :func:`evaluate_pairs`, :func:`evaluate_scored`, :func:`write_evaluation`.
- Beside a baseline: :func:`compare_pairs`, :func:`compare_scored` (paired intervals, a verdict),
  :func:`length_preference` (how often the longer answer wins in a file).
"""

from .baseline import (
    BaselineComparison,
    LengthPreference,
    compare_pairs,
    compare_scored,
    length_preference,
)
from .calibration import expected_calibration_error, pair_calibration, reliability_bins
from .length_dependence import LengthDependence, length_dependence, within_group_corr
from .metrics import (
    AccuracyInterval,
    Interval,
    accuracy_with_interval,
    bootstrap_interval,
    holm_adjust,
    pairwise_accuracy,
    reward_metrics,
    seed_item_bootstrap,
    subset_accuracy,
    wilson_interval,
)
from .ranking import best_of_n_curve, expected_best_of_n, gold_pairs, rank_correlations
from .simulate import SimulatedPairs, can_label, label_pairs, pairs_from_scores, transform_scores
from .single import evaluate_pairs, evaluate_scored, write_evaluation

__all__ = [
    "pairwise_accuracy",
    "length_dependence",
    "LengthDependence",
    "within_group_corr",
    "reward_metrics",
    "accuracy_with_interval",
    "AccuracyInterval",
    "bootstrap_interval",
    "wilson_interval",
    "seed_item_bootstrap",
    "Interval",
    "holm_adjust",
    "subset_accuracy",
    "best_of_n_curve",
    "expected_best_of_n",
    "gold_pairs",
    "rank_correlations",
    "pair_calibration",
    "reliability_bins",
    "expected_calibration_error",
    "pairs_from_scores",
    "label_pairs",
    "can_label",
    "transform_scores",
    "SimulatedPairs",
    "evaluate_pairs",
    "evaluate_scored",
    "write_evaluation",
    "BaselineComparison",
    "LengthPreference",
    "compare_pairs",
    "compare_scored",
    "length_preference",
]
