"""Real plus synthetic pairs as one training set a head can fit without bias or leak.

Two rules, shared by ``augment_pairs`` and the cross-validation of ``method="auto"``:

* **Weights are counts that add up to the real data.** A real pair of weight ``w`` and its
  ``k`` synthetic pairs share ``w``: the real pair keeps ``w / (1 + k * rho)`` and each synthetic
  pair gets ``w * rho / (1 + k * rho)``, where ``rho`` (``synthetic_weight``, default ``1 / k``)
  is a synthetic pair's weight relative to its parent. The total weight is that of the real
  pairs, so a head whose penalty is stated against the total weight (every prefspace head)
  is regularised exactly as without synthesis, and ``method="repeat"`` (copies) fits the
  real-only linear model.
* **Synthetic pairs come from training-side parents only.** When the head holds out real pairs
  for early stopping, :func:`heldout_pairs` asks it which (``validation_split``) before anything
  is synthesized; the synthesizer is fitted on, and samples from, the other real pairs. The head
  gets ``parent`` and ``groups`` (``fit_params``) and holds out the same pairs.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import ConfigError
from .pairs import SyntheticPairs

__all__ = ["heldout_pairs", "family_weights", "training_set"]


def heldout_pairs(estimator, X: np.ndarray, groups, sample_weight=None) -> np.ndarray:
    """Bool (n,): the real pairs ``estimator.fit`` will hold out for early stopping (none for a
    head that holds out nothing, or no head). Zero-weight pairs are never held out (``fit``
    drops them first)."""
    n = len(X)
    held = np.zeros(n, dtype=bool)
    if estimator is None or not hasattr(estimator, "validation_split"):
        return held
    rows = np.arange(n) if sample_weight is None else np.flatnonzero(np.asarray(sample_weight) > 0)
    if len(rows) == 0:
        return held
    held[rows] = estimator.validation_split(
        X[rows], None if groups is None else np.asarray(groups)[rows]
    )
    return held


def family_weights(
    parent: np.ndarray, n_real: int, synthetic_weight: float | None, factor: int, sample_weight=None
) -> tuple[np.ndarray, np.ndarray]:
    """(real weights (n_real,), synthetic weights (m,)): each real pair and its synthetic pairs
    together weigh the real pair's weight (1 by default).

    >>> wr, ws = family_weights(np.array([0, 0, 0, 0]), 2, None, 4)
    >>> wr.tolist(), ws.tolist()
    ([0.5, 1.0], [0.125, 0.125, 0.125, 0.125])
    """
    rho = 1.0 / factor if synthetic_weight is None else float(synthetic_weight)
    base = np.ones(n_real) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    k = np.bincount(parent, minlength=n_real).astype(np.float64)
    share = 1.0 / (1.0 + k * rho)
    return base * share, base[parent] * rho * share[parent]


def training_set(
    X: np.ndarray,
    synthetic: SyntheticPairs | None,
    source_rows: np.ndarray,
    *,
    factor: int,
    synthetic_weight: float | None = None,
    sample_weight=None,
    groups=None,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Real pairs ``X`` (all of them, first, unchanged) then ``synthetic`` pairs, whose ``parent``
    indexes ``X[source_rows]``; their count weights and the head's ``fit_params``
    (``parent``: -1 real, else the row in the result of the real parent; ``groups``)."""
    n = len(X)
    if synthetic is None or len(synthetic) == 0:
        w = (
            np.ones(n)
            if sample_weight is None
            else np.asarray(sample_weight, dtype=np.float64).copy()
        )
        parent = np.full(n, -1, dtype=np.int64)
        X_out = X.copy()
    else:
        parent_rows = np.asarray(source_rows, dtype=np.int64)[synthetic.parent]
        if synthetic.X.shape[1:] != X.shape[1:]:
            raise ConfigError(
                f"synthetic pairs have shape {synthetic.X.shape[1:]} per pair; the real ones {X.shape[1:]}."
            )
        w_real, w_syn = family_weights(parent_rows, n, synthetic_weight, factor, sample_weight)
        w = np.concatenate([w_real, w_syn])
        parent = np.concatenate([np.full(n, -1, dtype=np.int64), parent_rows])
        X_out = np.concatenate([X, synthetic.X.astype(X.dtype, copy=False)], axis=0)
    fit_params = {"parent": parent}
    if groups is not None:
        g = np.asarray(groups)
        fit_params["groups"] = np.concatenate([g, g[parent[n:]]]) if len(parent) > n else g.copy()
    return X_out, w, fit_params
