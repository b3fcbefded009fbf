"""Pairwise metrics on rewards. Names follow TRL's reward trainer where they overlap."""

from __future__ import annotations

import numpy as np

from ..exceptions import ShapeError


def _pair_arrays(rewards_chosen, rewards_rejected) -> tuple[np.ndarray, np.ndarray]:
    rc = np.asarray(rewards_chosen, dtype=np.float64).ravel()
    rr = np.asarray(rewards_rejected, dtype=np.float64).ravel()
    if rc.shape != rr.shape:
        raise ShapeError(f"rewards_chosen {rc.shape} and rewards_rejected {rr.shape} must have the same length.")
    if rc.size == 0:
        raise ShapeError("no pairs to evaluate.")
    return rc, rr


def pairwise_accuracy(rewards_chosen, rewards_rejected) -> float:
    """Fraction of pairs whose chosen response gets the strictly higher reward (ties count wrong)."""
    rc, rr = _pair_arrays(rewards_chosen, rewards_rejected)
    return float(np.mean(rc > rr))


def reward_metrics(rewards_chosen, rewards_rejected) -> dict[str, float]:
    """TRL-named metrics for pairs.

    Returns ``loss`` (mean ``-log sigmoid(r_c - r_r)``), ``accuracy`` (ties wrong), ``margin``
    (mean ``r_c - r_r``), ``mean_reward``, ``min_reward``, ``max_reward`` (over both sides), and
    ``n_pairs``.

    Example
    -------
    >>> reward_metrics([2.0, 0.0], [1.0, 0.0])["accuracy"]
    0.5
    """
    rc, rr = _pair_arrays(rewards_chosen, rewards_rejected)
    diff = rc - rr
    both = np.concatenate([rc, rr])
    return {
        "loss": float(np.mean(np.logaddexp(0.0, -diff))),
        "accuracy": float(np.mean(diff > 0)),
        "margin": float(np.mean(diff)),
        "mean_reward": float(np.mean(both)),
        "min_reward": float(np.min(both)),
        "max_reward": float(np.max(both)),
        "n_pairs": int(rc.size),
    }
