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
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sklearn.base import clone

from .._validation import check_pairs, check_whole
from ..exceptions import ConfigError
from .holdout import PairLayout
from .registry import get_head
from .selection import GuardRule, SearchResult, fold_ids, guarded_choice, paired_gain, run_tasks

logger = logging.getLogger(__name__)

__all__ = ["choose_head", "HeadSelection", "HeadScore", "DEFAULT_HEAD_GRID"]

# (head name in HEADS, params): the reference first. Small on purpose: each entry costs one fit
# per fold and widens the guard's correction. The MLP heads are not in it: they were behind
# bt-linear on every set measured (benchmarks/defaults.py up to 1,312 pairs, train_speed.py at
# 10,000) and cost most of the cross-validation's time; pass ``grid=`` to try them.
DEFAULT_HEAD_GRID: tuple = (
    ("bt-linear", {}),
    ("bt-linear", {"alpha": 300.0}),
    ("bt-linear", {"alpha": 3000.0}),
    ("bt-linear", {"blocks": "text"}),  # text features only (used when the rows carry the block)
)


@dataclass(frozen=True)
class HeadScore:
    """One cross-validated candidate of :func:`choose_head`: its out-of-fold ``accuracy`` and
    ``log_loss``, and its accuracy ``gain`` over the reference with the gain's standard error
    ``se`` (pairs of a prompt as one cluster), ``z`` and the gain in each fold."""

    head: str
    params: dict
    label: str
    accuracy: float
    log_loss: float
    gain: float
    z: float
    se: float = 0.0
    fold_gains: tuple = ()


@dataclass(frozen=True)
class HeadSelection(SearchResult):
    """The head :func:`choose_head` chose and the candidates it weighed (a :class:`SearchResult`).

    Attributes
    ----------
    best_index : index of the chosen entry of the grid (0, the reference, unless another won)
    best_name, best_params : the chosen head's name in ``HEADS`` and its parameters
    best_estimator : the chosen head, unfitted, seeded with ``random_state``
    reason : one sentence saying why
    candidates : one :class:`HeadScore` per grid entry (empty when too few pairs to
        cross-validate); :attr:`cv_results` is the same as a table of columns
    """

    best_index: int
    best_name: str
    best_params: dict
    best_estimator: Any
    reason: str
    candidates: tuple[HeadScore, ...]
    score_type = HeadScore

    @property
    def best_label(self) -> str:
        """``"bt-linear (alpha=300)"``: the chosen head and its parameters, as printed."""
        return _label(self.best_name, self.best_params)

    def to_json(self) -> dict:
        """JSON-able form (``metrics.json``'s ``head_auto``)."""
        return {
            "chosen": self.best_label,
            "head": self.best_name,
            "params": dict(self.best_params),
            "reason": self.reason,
            "candidates": [asdict(c) for c in self.candidates],
        }


def _label(name: str, params: dict) -> str:
    return name + (
        " ("
        + ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
        + ")"
        if params
        else ""
    )


def choose_head(
    X,
    *,
    grid=DEFAULT_HEAD_GRID,
    groups=None,
    sample_weight=None,
    n_folds: int = 3,
    alpha: float = 0.05,
    min_gain: float = 0.01,
    random_state: int = 0,
    n_jobs: int | None = None,
    n_text_features: int = 0,
) -> HeadSelection:
    """Cross-validate the heads of ``grid`` on real pairs ``X`` (n, 2, D) and pick one.

    Parameters
    ----------
    grid : sequence of ``(head name in HEADS, params)``; the first is the reference.
    groups : (n,) prompt ids for the folds (default: the prompt columns the rows share, else
        one group per pair).
    sample_weight : optional (n,) pair weights (counts), passed to every fit.
    n_folds : folds of the cross-validation (by prompt).
    alpha, min_gain : the guard (:class:`~prefspace.models.selection.GuardRule`): the chance, at
        most, that a candidate no better than the reference replaces it, and the gain needed.
    random_state : the seed of the folds and of the heads.
    n_jobs : fits run side by side (each on one thread): None, the thread limit
        (``PREFSPACE_NUM_THREADS``) or else the machine's cores; 1 one after another. The
        result does not depend on it (MLP fits take turns on torch's global generator:
        :mod:`prefspace.models._mlp_train`).
    n_text_features : the text-feature columns at the end of each row (``encoder.
        n_text_features``), given to every candidate that takes it; with 0 the
        text-features-only candidates (``blocks="text"``) are left out of the grid.

    Returns
    -------
    HeadSelection : ``best_estimator`` (unfitted, seeded with ``random_state``), ``best_index``
    into ``grid``, ``best_name``, ``best_params``, ``reason`` (one sentence) and ``candidates``
    (per entry: its label, out-of-fold ``accuracy``, ``log_loss``, ``gain`` over the reference,
    its ``se``, ``z`` and ``fold_gains``; ``cv_results`` as columns).
    """
    X = check_pairs(X)
    n = len(X)
    grid = [
        (name, params) for name, params in grid if n_text_features or params.get("blocks") != "text"
    ]
    if not grid:
        raise ConfigError("the head grid is empty.")
    rule = GuardRule(alpha=alpha, min_gain=min_gain)
    n_folds = check_whole(n_folds, name="n_folds", minimum=2)
    estimators = []
    for name, params in grid:
        est = get_head(name, random_state=random_state, **params)
        if "n_text_features" in est.get_params(deep=False):
            est.set_params(n_text_features=int(n_text_features))
        estimators.append(est)
    if n < 2 * n_folds or len(grid) == 1:
        return _result(
            grid,
            estimators,
            0,
            f"only {n} pairs: too few to cross-validate; kept {_label(*grid[0])}.",
            [],
        )
    g = PairLayout.build(X, groups).groups
    folds = fold_ids(n, int(n_folds), g, random_state)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    P = np.zeros((len(grid), n))

    def fit_one(task):
        f, j = task
        tr, te = folds != f, folds == f
        fitted = clone(estimators[j]).fit(
            X[tr], sample_weight=None if w is None else w[tr], groups=g[tr]
        )
        return f, j, fitted.predict_proba(X[te])

    tasks = [(f, j) for f in range(int(n_folds)) for j in range(len(grid))]
    for f, j, p in run_tasks(fit_one, tasks, n_jobs):
        P[j, folds == f] = p
    candidates, comparisons, log_loss = _scores(grid, P, folds, g)
    pick, best = guarded_choice(comparisons, log_loss[1:], rule)
    chosen = 0 if pick is None else pick + 1
    reason = _reason(candidates, chosen, best + 1, int(n_folds), rule.describe(len(grid) - 1))
    logger.info("auto head: %s", reason)
    return _result(grid, estimators, chosen, reason, candidates)


def _scores(grid, P, folds, g) -> tuple[list, list, np.ndarray]:
    """From the out-of-fold probabilities ``P`` (candidates, n): one :class:`HeadScore` per
    candidate, the comparisons with the reference for :func:`guarded_choice`, the log-losses."""
    correct = (P > 0.5).astype(float)
    log_loss = -np.log(np.clip(P, 1e-12, 1.0)).mean(axis=1)
    candidates, comparisons = [], []
    for j, (name, params) in enumerate(grid):
        c = paired_gain(correct[j], correct[0], folds, g)
        if j:
            comparisons.append([c])
        candidates.append(
            HeadScore(
                head=name,
                params=dict(params),
                label=_label(name, params),
                accuracy=float(correct[j].mean()),
                log_loss=float(log_loss[j]),
                gain=c.gain,
                z=c.z,
                se=c.se,
                fold_gains=c.fold_gains,
            )
        )
    return candidates, comparisons, log_loss


def _reason(candidates: list, chosen: int, best: int, n_folds: int, needed: str) -> str:
    """The sentence saying which candidate was kept and why (``best``: the best challenger)."""
    b, ref = candidates[best], candidates[0]
    if chosen:
        c = candidates[chosen]
        return (
            f"{c.label} raised {n_folds}-fold out-of-fold accuracy from {ref.accuracy:.3f} ({ref.label}) to "
            f"{c.accuracy:.3f} (+{100 * c.gain:.1f} points, {c.z:.1f} standard errors, a gain in every fold; "
            f"{needed})."
        )
    if b.gain <= 0:
        return f"{ref.label} had the best {n_folds}-fold out-of-fold accuracy ({ref.accuracy:.3f}); kept it."
    return (
        f"the best, {b.label}, changed {n_folds}-fold out-of-fold accuracy by {100 * b.gain:+.1f} points over "
        f"{ref.label} ({b.z:.1f} standard errors; {needed}); kept {ref.label}."
    )


def _result(grid, estimators, chosen: int, reason: str, candidates: list) -> HeadSelection:
    name, params = grid[chosen]
    return HeadSelection(
        best_index=int(chosen),
        best_name=name,
        best_params=dict(params),
        best_estimator=clone(estimators[chosen]),
        reason=reason,
        candidates=tuple(candidates),
    )
