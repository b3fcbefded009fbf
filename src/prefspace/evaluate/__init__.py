"""Evaluation: metrics, best-of-N, calibration, simulated annotation, experiments and reports.

- Pairs: :func:`pairwise_accuracy`, :func:`reward_metrics` (TRL names),
  :func:`accuracy_with_interval` (bootstrap 95% interval), :func:`subset_accuracy`
  (per subset and reward-bench's example-weighted average).
- Scored responses: :func:`best_of_n_curve` / :func:`expected_best_of_n` (exact expectation over
  random subsets), :func:`rank_correlations` (per-prompt Spearman and Kendall).
- Calibration: :func:`pair_calibration`, :func:`reliability_bins`,
  :func:`expected_calibration_error`.
- Simulated annotators: :func:`pairs_from_scores`.
- Experiments: :func:`load_config`, :func:`run_experiment`, :func:`write_outputs`,
  :func:`run_demo`; one model: :func:`evaluate_pairs`, :func:`evaluate_scored`,
  :func:`write_evaluation`.
"""

from .calibration import expected_calibration_error, pair_calibration, reliability_bins
from .metrics import accuracy_with_interval, bootstrap_interval, pairwise_accuracy, reward_metrics, subset_accuracy
from .ranking import best_of_n_curve, expected_best_of_n, rank_correlations
from .simulate import SimulatedPairs, pairs_from_scores, transform_scores
from .config import load_config, parse_overrides
from .experiment import read_results, run_experiment
from .summarize import write_outputs
from .single import evaluate_pairs, evaluate_scored, write_evaluation
from .demo import run_demo

__all__ = [
    "pairwise_accuracy",
    "reward_metrics",
    "accuracy_with_interval",
    "bootstrap_interval",
    "subset_accuracy",
    "best_of_n_curve",
    "expected_best_of_n",
    "rank_correlations",
    "pair_calibration",
    "reliability_bins",
    "expected_calibration_error",
    "pairs_from_scores",
    "transform_scores",
    "SimulatedPairs",
    "load_config",
    "parse_overrides",
    "run_experiment",
    "read_results",
    "write_outputs",
    "evaluate_pairs",
    "evaluate_scored",
    "write_evaluation",
    "run_demo",
]
