"""Evaluation: metrics on rewards (more to come: best-of-N, calibration, experiments, reports)."""

from .metrics import pairwise_accuracy, reward_metrics

__all__ = ["pairwise_accuracy", "reward_metrics"]
