"""Guarded augmentation: synthesize only when cross-validation on real pairs says it helps.

``choose_augmentation`` splits the real training pairs into folds (by prompt when groups are
known). In every fold it fits the head on the real training-fold pairs alone and, for each
candidate (method, factor, weight) of a small grid, on those pairs plus pairs synthesized
*from the training folds only*; all of them are scored on the held-out fold's *real* pairs.
Every real pair is held out exactly once, so each candidate gets an out-of-fold correctness
per pair, compared pair by pair with the real-only head's.

Decision rule: take the candidate with the largest mean accuracy gain (ties: larger log-loss
gain); keep it only if the gain is positive and at least ``min_z`` standard errors of the
paired per-pair difference (default 1.0); otherwise fall back to no synthesis. The test set
is never involved. With few pairs a real gain of one or two points is rarely detectable, so
the guard then usually falls back: it trades the small gains for never being worse by much.
"""

from __future__ import annotations

import logging

import numpy as np
from sklearn.base import clone

from .._progress import track
from ..exceptions import ConfigError
from .registry import DEFAULT_AUTO_GRID, fold_ids, make_synthesizer

logger = logging.getLogger(__name__)

__all__ = ["choose_augmentation"]


def _check_grid(grid) -> list:
    out = []
    for entry in grid:
        try:
            method, factor, weight, params = entry
        except (TypeError, ValueError):
            raise ConfigError(f"each auto grid entry must be (method, factor, weight, params); got {entry!r}.") from None
        if method in ("none", "auto"):
            raise ConfigError(f"auto grid entries must name a synthesizer, not {method!r}.")
        make_synthesizer(method, **dict(params))  # refuses unknown methods/params early
        if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or factor < 1:
            raise ConfigError(f"auto grid factor must be a whole number >= 1; got {factor!r}.")
        if not np.isfinite(weight) or weight < 0:
            raise ConfigError(f"auto grid weight must be >= 0; got {weight!r}.")
        out.append((method, int(factor), float(weight), dict(params)))
    if not out:
        raise ConfigError("the auto grid is empty: give at least one (method, factor, weight, params).")
    return out


def choose_augmentation(X, *, estimator, groups=None, random_state: int = 0, grid=DEFAULT_AUTO_GRID, n_folds: int = 3, min_z: float = 1.0) -> dict:
    """Cross-validate ``grid`` against no synthesis on real pairs ``X`` (n, 2, dim).

    Returns a dict: ``chosen`` (``(method, factor, weight, params)`` or None for no synthesis),
    ``reason`` (one sentence), ``candidates`` (per candidate: out-of-fold accuracy, gain over
    real-only, its z and the log-loss gain), ``real_accuracy``, ``n_folds``.
    """
    grid = _check_grid(grid)
    n = X.shape[0]
    if isinstance(n_folds, bool) or int(n_folds) != n_folds or n_folds < 2:
        raise ConfigError(f"n_folds must be a whole number >= 2; got {n_folds!r}.")
    if n < 2 * n_folds:
        return {"chosen": None, "reason": f"only {n} real pairs: too few to cross-validate {n_folds} folds; no synthesis.", "candidates": [], "real_accuracy": None, "n_folds": int(n_folds)}
    folds = fold_ids(n, int(n_folds), groups, random_state)
    folds_done = track("auto: cross-validation", int(n_folds), "folds")
    p_real = np.zeros(n)
    p_cand = np.zeros((len(grid), n))
    for f in range(int(n_folds)):
        tr, te = folds != f, folds == f
        Xtr = X[tr]
        head = clone(estimator).fit(Xtr)
        p_real[te] = head.predict_proba(X[te])
        # one synthesizer per (method, params) per fold, sampled at each factor needed
        fitted: dict = {}
        for j, (method, factor, weight, params) in enumerate(grid):
            key = (method, repr(sorted(params.items())))
            if key not in fitted:
                fitted[key] = make_synthesizer(method, random_state=random_state + 1000 * f, **params).fit(Xtr)
            syn = fitted[key].sample(factor)
            Xa = np.concatenate([Xtr, syn.X])
            sw = np.concatenate([np.ones(len(Xtr)), np.full(len(syn), weight)])
            p_cand[j, te] = clone(estimator).fit(Xa, sample_weight=sw).predict_proba(X[te])
        folds_done.advance()
    eps = 1e-12
    correct_real = (p_real > 0.5).astype(float)
    ll_real = -np.log(np.clip(p_real, eps, 1.0))
    candidates = []
    for j, (method, factor, weight, params) in enumerate(grid):
        d = (p_cand[j] > 0.5).astype(float) - correct_real
        se = d.std(ddof=1) / np.sqrt(n) if n > 1 else 0.0
        gain = float(d.mean())
        z = gain / se if se > 0 else (0.0 if gain == 0 else np.sign(gain) * np.inf)
        ll_gain = float(np.mean(ll_real + np.log(np.clip(p_cand[j], eps, 1.0))))
        candidates.append({"method": method, "factor": factor, "weight": weight, "params": params, "accuracy": float(np.mean(p_cand[j] > 0.5)), "gain": gain, "z": float(z), "logloss_gain": ll_gain})
    best = max(range(len(grid)), key=lambda j: (candidates[j]["gain"], candidates[j]["logloss_gain"]))
    b = candidates[best]
    real_acc = float(correct_real.mean())
    label = f"{b['method']} x{b['factor']} (weight {b['weight']:g})"
    if b["gain"] > 0 and b["z"] >= min_z:
        chosen = grid[best]
        reason = (f"{label} raised {n_folds}-fold out-of-fold accuracy on the real pairs from {real_acc:.3f} to {b['accuracy']:.3f} "
                  f"(+{100 * b['gain']:.1f} points, {b['z']:.1f} standard errors >= {min_z:g}).")
    else:
        chosen = None
        reason = (f"no candidate beat real-only clearly: the best, {label}, changed {n_folds}-fold out-of-fold accuracy by "
                  f"{100 * b['gain']:+.1f} points ({b['z']:.1f} standard errors, needed >= {min_z:g} and > 0); no synthesis.")
    logger.info("auto augmentation: %s", reason)
    return {"chosen": chosen, "reason": reason, "candidates": candidates, "real_accuracy": real_acc, "n_folds": int(n_folds)}
