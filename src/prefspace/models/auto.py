"""``--head auto``: choose the reward head and its penalty by grouped cross-validation.

``choose_head`` splits the real training pairs into folds by prompt (:func:`prompt_folds`: all
pairs of a prompt in one fold), fits every candidate (a head and its parameters) on the other
folds and scores it on the held-out fold's pairs, so every pair is scored once, out of fold, by
every candidate. The test set is never involved.

Decision rule, the one ``augment_pairs(method="auto")`` uses (:func:`guarded_choice`): the
first candidate is the reference (the default head at its default penalty); another replaces it
only if its out-of-fold accuracy gain over the reference is at least ``min_gain`` (one point),
clears a Bonferroni-corrected one-sided test at ``alpha`` (5%) over the candidates tried (the
per-pair differences clustered by prompt), and is positive in every fold. Choosing the best of
several is itself a chance to be fooled; this rule keeps that chance under ``alpha`` when no
candidate is better, at the price of missing gains of a point or two with few pairs.
"""

from __future__ import annotations

import logging

import numpy as np
from sklearn.base import clone

from .._validation import check_pairs
from ..exceptions import ConfigError
from .holdout import PairLayout
from .registry import get_head
from .selection import GuardRule, fold_ids, guarded_choice, paired_gain

logger = logging.getLogger(__name__)

__all__ = ["choose_head", "DEFAULT_HEAD_GRID"]

# (head name in HEADS, params): the reference first. Small on purpose: each entry costs one fit
# per fold.
DEFAULT_HEAD_GRID: tuple = (
    ("bt-linear", {}),
    ("bt-linear", {"alpha": 300.0}),
    ("bt-linear", {"alpha": 3000.0}),
    ("bt-mlp", {}),
    ("clf-mlp", {}),
)


def _label(name: str, params: dict) -> str:
    return name + (" (" + ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()) + ")" if params else "")


def choose_head(X, *, grid=DEFAULT_HEAD_GRID, groups=None, sample_weight=None, n_folds: int = 3, alpha: float = 0.05,
                min_gain: float = 0.01, random_state: int = 0) -> dict:
    """Cross-validate the heads of ``grid`` on real pairs ``X`` (n, 2, D) and pick one.

    Parameters
    ----------
    grid : sequence of ``(head name in HEADS, params)``; the first is the reference.
    groups : (n,) prompt ids for the folds (default: the prompt columns the rows share, else
        one group per pair).
    sample_weight : optional (n,) pair weights (counts), passed to every fit.
    n_folds : folds of the cross-validation (by prompt).
    alpha, min_gain : the guard (:class:`GuardRule`): the chance, at most, that a candidate no
        better than the reference replaces it, and the accuracy gain needed.
    random_state : the seed of the folds and of the heads.

    Returns
    -------
    dict with ``chosen`` (index into ``grid``), ``name``, ``params``, ``estimator`` (unfitted,
    seeded with ``random_state``), ``reason`` (one sentence) and ``candidates`` (per entry: its
    label, out-of-fold ``accuracy``, ``log_loss``, ``gain`` over the reference, its standard
    error ``se``, ``z`` and the per-fold gains ``fold_gains``).
    """
    X = check_pairs(X)
    n = len(X)
    grid = list(grid)
    if not grid:
        raise ConfigError("the head grid is empty.")
    rule = GuardRule(alpha=alpha, min_gain=min_gain)
    if isinstance(n_folds, bool) or int(n_folds) != n_folds or n_folds < 2:
        raise ConfigError(f"n_folds must be a whole number >= 2; got {n_folds!r}.")
    estimators = []
    for name, params in grid:
        est = get_head(name, **params)
        if "random_state" in est.get_params(deep=False):
            est.set_params(random_state=random_state)
        estimators.append(est)
    if n < 2 * n_folds or len(grid) == 1:
        return _result(grid, estimators, 0, f"only {n} pairs: too few to cross-validate; kept {_label(*grid[0])}.", [])
    g = PairLayout.build(X, groups).groups
    folds = fold_ids(n, int(n_folds), g, random_state)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    P = np.zeros((len(grid), n))
    for f in range(int(n_folds)):
        tr, te = folds != f, folds == f
        for j, est in enumerate(estimators):
            fitted = clone(est).fit(X[tr], sample_weight=None if w is None else w[tr], groups=g[tr])
            P[j, te] = fitted.predict_proba(X[te])
    correct = (P > 0.5).astype(float)
    eps = 1e-12
    log_loss = -np.log(np.clip(P, eps, 1.0)).mean(axis=1)
    candidates = []
    comparisons = []
    for j, (name, params) in enumerate(grid):
        c = paired_gain(correct[j], correct[0], folds, g)
        if j:
            comparisons.append([c])
        candidates.append({"head": name, "params": dict(params), "label": _label(name, params), "accuracy": float(correct[j].mean()),
                           "log_loss": float(log_loss[j]), "gain": c.gain, "se": c.se, "z": c.z,
                           "fold_gains": list(c.fold_gains)})
    pick, best = guarded_choice(comparisons, log_loss[1:], rule)
    chosen = 0 if pick is None else pick + 1
    best = best + 1
    b, ref = candidates[best], candidates[0]
    m = len(grid) - 1
    if chosen:
        c = candidates[chosen]
        reason = (f"{c['label']} raised {n_folds}-fold out-of-fold accuracy from {ref['accuracy']:.3f} ({ref['label']}) to "
                  f"{c['accuracy']:.3f} (+{100 * c['gain']:.1f} points, {c['z']:.1f} standard errors, a gain in every fold; "
                  f"{rule.describe(m)}).")
    elif b["gain"] <= 0:
        reason = f"{ref['label']} had the best {n_folds}-fold out-of-fold accuracy ({ref['accuracy']:.3f}); kept it."
    else:
        reason = (f"the best, {b['label']}, changed {n_folds}-fold out-of-fold accuracy by {100 * b['gain']:+.1f} points over "
                  f"{ref['label']} ({b['z']:.1f} standard errors; {rule.describe(m)}); kept {ref['label']}.")
    logger.info("auto head: %s", reason)
    return _result(grid, estimators, chosen, reason, candidates)


def _result(grid, estimators, chosen: int, reason: str, candidates: list) -> dict:
    name, params = grid[chosen]
    return {"chosen": int(chosen), "name": name, "params": dict(params), "estimator": clone(estimators[chosen]),
            "reason": reason, "candidates": candidates}
