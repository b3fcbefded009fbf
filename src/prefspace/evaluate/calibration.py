"""Calibration of preference probabilities: reliability bins and expected calibration error.

A reward model's ``predict_proba(X)`` gives P(first response wins). On held-out pairs whose
first response is the chosen one, every outcome is 1, so a reliability diagram would only show
the right-hand side. :func:`pair_calibration` therefore scores both orderings of every pair:
``(p, 1)`` and ``(1 - p, 0)``. The diagram is then symmetric about (0.5, 0.5) and the expected
calibration error (ECE) measures the same thing as on ``(p, 1)`` alone, but over the whole range.

ECE uses equal-width bins on [0, 1]: ``ECE = sum_b (n_b / n) * |mean(p in b) - mean(y in b)|``;
a probability of exactly 1.0 falls in the last bin.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_whole
from ..exceptions import ShapeError


def _prob_outcome(prob, outcome) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(prob, dtype=np.float64).ravel()
    y = np.asarray(outcome, dtype=np.float64).ravel()
    if p.shape != y.shape:
        raise ShapeError(f"prob {p.shape} and outcome {y.shape} must have the same length.")
    if p.size == 0:
        raise ShapeError("no probabilities to calibrate.")
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise ShapeError("prob must hold finite probabilities in [0, 1].")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ShapeError("outcome must hold 0 or 1 for every probability.")
    return p, y


def reliability_bins(prob, outcome, *, n_bins: int = 10) -> dict:
    """Equal-width reliability bins.

    Parameters
    ----------
    prob : array-like of shape (n,), predicted P(event) in [0, 1]
    outcome : array-like of shape (n,), 1 where the event happened, else 0
    n_bins : number of equal-width bins on [0, 1]

    Returns
    -------
    dict with ``edges`` (n_bins + 1,), ``count`` (n_bins,) int, ``mean_prob`` and ``frac_pos``
    (n_bins,) floats, NaN in empty bins, and ``ece``.

    Example
    -------
    >>> out = reliability_bins([0.1, 0.9, 0.9], [0, 1, 0], n_bins=2)
    >>> out["count"].tolist(), round(out["ece"], 4)
    ([1, 2], 0.3)
    """
    p, y = _prob_outcome(prob, outcome)
    n_bins = check_whole(n_bins, name="n_bins")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.floor(p * n_bins).astype(np.int64), 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    psum = np.bincount(which, weights=p, minlength=n_bins)
    ysum = np.bincount(which, weights=y, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_prob = np.where(count > 0, psum / count, np.nan)
        frac_pos = np.where(count > 0, ysum / count, np.nan)
    filled = count > 0
    ece = float(np.sum(count[filled] / p.size * np.abs(mean_prob[filled] - frac_pos[filled])))
    return {
        "edges": edges,
        "count": count,
        "mean_prob": mean_prob,
        "frac_pos": frac_pos,
        "ece": ece,
    }


def expected_calibration_error(prob, outcome, *, n_bins: int = 10) -> float:
    """ECE over equal-width bins (see :func:`reliability_bins`).

    Example
    -------
    >>> expected_calibration_error([0.5, 0.5], [1, 0])
    0.0
    """
    return reliability_bins(prob, outcome, n_bins=n_bins)["ece"]


def pair_calibration(p_chosen, *, n_bins: int = 10) -> dict:
    """Reliability bins and ECE for P(chosen wins) on pairs whose first response is the chosen.

    Both orderings are scored: ``(p, 1)`` and ``(1 - p, 0)`` (see the module docstring).

    Parameters
    ----------
    p_chosen : array-like of shape (n_pairs,), ``model.predict_proba(X_test)``

    Example
    -------
    >>> round(pair_calibration([0.8, 0.8, 0.8, 0.8, 0.8])["ece"], 6)  # says 0.8, is right always
    0.2
    """
    p = np.asarray(p_chosen, dtype=np.float64).ravel()
    prob = np.concatenate([p, 1.0 - p])
    outcome = np.concatenate([np.ones_like(p), np.zeros_like(p)])
    return reliability_bins(prob, outcome, n_bins=n_bins)
