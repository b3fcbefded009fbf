"""Guarded augmentation: synthesize only when cross-validation on real pairs says it helps.

``choose_augmentation`` splits the real training pairs into folds (by prompt when groups are
known). In every fold it fits the head on the real training-fold pairs alone, on those pairs
repeated (the ``repeat`` control, at each factor and weight of the grid) and, for each
candidate (method, factor, weight) of a small grid, on those pairs plus pairs synthesized
*from the training folds only* (and not from the pairs the head holds out for early stopping);
all of them are scored on the held-out fold's *real* pairs. Every real pair is held out
exactly once, so each candidate gets an out-of-fold correctness per pair, compared pair by
pair with the real-only head's and with the repeat control's.

Decision rule, the one ``--head auto`` uses (:func:`prefspace.models.selection.guarded_choice`):
a candidate is kept only if, against real-only *and* against the repeat control, its gain is
at least ``min_gain`` (one point), clears a Bonferroni-corrected one-sided test at ``alpha``
(5%) over the candidates of the grid (per-pair differences clustered by prompt), and is
positive in every fold; among those that pass, the largest gain over real-only wins (ties:
larger log-loss gain); otherwise no synthesis. The test set is never involved. Picking the
best of several candidates is itself a chance to be fooled; the rule keeps that chance under
``alpha`` when no candidate helps, trading the small gains for never being worse by much.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import numpy as np
from sklearn.base import clone

from .._progress import track
from .._validation import check_whole
from ..exceptions import ConfigError
from ..models.selection import (
    GuardRule,
    SearchResult,
    fold_ids,
    guarded_choice,
    paired_gain,
    run_tasks,
)
from .registry import DEFAULT_AUTO_GRID, get_synthesizer
from .training_set import heldout_pairs, training_set

logger = logging.getLogger(__name__)

__all__ = ["choose_augmentation", "AugmentSelection", "AugmentScore"]


@dataclass(frozen=True)
class AugmentScore:
    """One cross-validated candidate of :func:`choose_augmentation`: out-of-fold ``accuracy`` on
    the real pairs, its ``gain`` and ``z`` against real pairs only and (``gain_vs_repeat``,
    ``z_vs_repeat``) against the repeat control at the same factor and weight
    (``repeat_accuracy``), and the mean log-loss gain over real pairs only; the standard errors
    (pairs of a prompt as one cluster) and the gains per fold against both."""

    method: str
    factor: int
    weight: float | None
    params: dict
    accuracy: float
    gain: float
    z: float
    repeat_accuracy: float
    gain_vs_repeat: float
    z_vs_repeat: float
    logloss_gain: float
    se: float = 0.0
    fold_gains: tuple = ()
    se_vs_repeat: float = 0.0
    fold_gains_vs_repeat: tuple = ()


@dataclass(frozen=True)
class AugmentSelection(SearchResult):
    """The synthesis :func:`choose_augmentation` chose, if any, and the candidates it weighed
    (a :class:`~prefspace.models.selection.SearchResult`).

    Attributes
    ----------
    chosen : ``(method, factor, weight, params)`` of the chosen candidate, or None (no synthesis)
    reason : one sentence saying why
    candidates : one :class:`AugmentScore` per grid entry (empty with too few pairs);
        :attr:`cv_results` is the same as a table of columns
    real_accuracy : out-of-fold accuracy of the head on real pairs only (None with too few pairs)
    n_folds : the folds
    """

    chosen: tuple | None
    reason: str
    candidates: tuple[AugmentScore, ...]
    real_accuracy: float | None
    n_folds: int
    score_type = AugmentScore


def _check_grid(grid) -> list:
    out = []
    for entry in grid:
        try:
            method, factor, weight, params = entry
        except (TypeError, ValueError):
            raise ConfigError(
                f"each auto grid entry must be (method, factor, weight, params); got {entry!r}."
            ) from None
        if method in ("none", "auto", "repeat"):
            raise ConfigError(
                f"auto grid entries must name a synthesizer, not {method!r} (repeat is the control every entry is compared with)."
            )
        get_synthesizer(method, **dict(params))  # refuses unknown methods/params early
        factor = check_whole(factor, name="auto grid factor")
        if weight is not None and (not np.isfinite(weight) or weight < 0):
            raise ConfigError(
                f"auto grid weight must be >= 0 or None (1 / factor); got {weight!r}."
            )
        out.append((method, int(factor), None if weight is None else float(weight), dict(params)))
    if not out:
        raise ConfigError(
            "the auto grid is empty: give at least one (method, factor, weight, params)."
        )
    return out


def choose_augmentation(
    X,
    *,
    estimator,
    groups=None,
    random_state: int = 0,
    grid=DEFAULT_AUTO_GRID,
    n_folds: int = 3,
    alpha: float = 0.05,
    min_gain: float = 0.01,
    sample_weight=None,
    n_jobs: int | None = None,
) -> AugmentSelection:
    """Cross-validate ``grid`` against no synthesis and against copies on real pairs ``X`` (n, 2, dim).

    Every fit in a fold follows the training protocol of :mod:`prefspace.synth.training_set`
    (synthesis only from the training-fold pairs the head does not hold out; weights that add
    up to the real pairs). Returns an :class:`AugmentSelection`: ``chosen``
    (``(method, factor, weight, params)`` or None for no synthesis), ``reason`` (one sentence),
    ``candidates`` (per candidate: out-of-fold accuracy, gain, standard error, z and per-fold
    gains against real-only and against ``repeat`` at the same factor and weight, the log-loss
    gain), ``real_accuracy``, ``n_folds``. ``alpha`` and ``min_gain``: the guard
    (:class:`prefspace.models.selection.GuardRule`). ``n_jobs``: folds run side by side (each
    on one thread), as in :func:`~prefspace.models.choose_head`: None, the thread limit
    (``PREFSPACE_NUM_THREADS``) or else the machine's cores; 1 one after another. The result
    does not depend on it.
    """
    grid = _check_grid(grid)
    rule = GuardRule(alpha=alpha, min_gain=min_gain)
    n = X.shape[0]
    n_folds = check_whole(n_folds, name="n_folds", minimum=2)
    if n < 2 * n_folds:
        return AugmentSelection(
            chosen=None,
            reason=f"only {n} real pairs: too few to cross-validate {n_folds} folds; no synthesis.",
            candidates=(),
            real_accuracy=None,
            n_folds=int(n_folds),
        )
    folds = fold_ids(n, int(n_folds), groups, random_state)
    g_all = None if groups is None else np.asarray(groups)
    p_real, p_cand, p_ctrl, controls = _out_of_fold_probabilities(
        X, estimator, grid, folds, int(n_folds), g_all, sample_weight, random_state, n_jobs
    )
    candidates, comparisons = _score_candidates(
        grid, controls, p_real, p_cand, p_ctrl, folds, g_all
    )
    pick, best = guarded_choice(comparisons, [-c.logloss_gain for c in candidates], rule)
    real_acc = float((p_real > 0.5).mean())
    chosen = None if pick is None else grid[pick]
    reason = _reason(
        candidates[best if pick is None else pick],
        pick is not None,
        real_acc,
        n_folds,
        rule.describe(len(grid)),
    )
    logger.info("auto augmentation: %s", reason)
    return AugmentSelection(
        chosen=chosen,
        reason=reason,
        candidates=tuple(candidates),
        real_accuracy=real_acc,
        n_folds=int(n_folds),
    )


def _out_of_fold_probabilities(
    X, estimator, grid, folds, n_folds, g_all, sample_weight, random_state, n_jobs
):
    """Every fold's held-out real pairs scored by the head fitted on the other folds: on real
    pairs only (``p_real`` (n,)), with each grid candidate (``p_cand`` (len(grid), n)) and with
    each repeat control (``p_ctrl`` (len(controls), n)); ``controls`` the (factor, weight) pairs.
    The folds run side by side on up to ``n_jobs`` threads (:func:`run_tasks`); each fold's fits
    are seeded by the fold alone, so the result does not depend on ``n_jobs``."""
    n = X.shape[0]
    controls = sorted({(factor, weight) for _, factor, weight, _ in grid}, key=repr)
    folds_done = track("auto: cross-validation", n_folds, "folds")
    lock = threading.Lock()

    def one_fold(f):
        te = folds == f
        out = _one_fold(X, te, estimator, grid, controls, g_all, sample_weight, random_state, f)
        with lock:
            folds_done.advance()
        return te, out

    p_real = np.zeros(n)
    p_cand = np.zeros((len(grid), n))
    p_ctrl = np.zeros((len(controls), n))
    for te, (real, ctrl, cand) in run_tasks(one_fold, range(n_folds), n_jobs):
        p_real[te], p_ctrl[:, te], p_cand[:, te] = real, ctrl, cand
    return p_real, p_cand, p_ctrl, controls


def _one_fold(X, te, estimator, grid, controls, g_all, sample_weight, random_state, f):
    """The held-out fold ``te``'s probabilities: real only, per control, per candidate."""
    tr = np.flatnonzero(~te)
    Xtr = X[tr]
    gtr = None if g_all is None else g_all[tr]
    wtr = None if sample_weight is None else np.asarray(sample_weight)[tr]

    def fit_on(syn, source, factor, weight):
        Xa, sw, fp = training_set(
            Xtr,
            syn,
            source,
            factor=factor,
            synthetic_weight=weight,
            sample_weight=wtr,
            groups=gtr,
        )
        return clone(estimator).fit(Xa, sample_weight=sw, **fp).predict_proba(X[te])

    real = fit_on(None, None, 1, None)
    held = heldout_pairs(estimator, Xtr, gtr, wtr)
    source = np.flatnonzero(~held if wtr is None else (~held & (wtr > 0)))
    ctrl = np.zeros((len(controls), int(te.sum())))
    for c, (factor, weight) in enumerate(controls):
        syn = get_synthesizer("repeat").fit(Xtr[source]).sample(factor)
        ctrl[c] = fit_on(syn, source, factor, weight)
    # one synthesizer per (method, params) per fold, sampled at each factor needed
    cand = np.zeros((len(grid), int(te.sum())))
    fitted: dict = {}
    for j, (method, factor, weight, params) in enumerate(grid):
        key = (method, repr(sorted(params.items())))
        if key not in fitted:
            # the folds already run side by side: each synthesizer on one thread
            one_thread = {"n_jobs": 1, **params}
            fitted[key] = get_synthesizer(
                method, random_state=random_state + 1000 * f, **one_thread
            ).fit(Xtr[source])
        cand[j] = fit_on(fitted[key].sample(factor), source, factor, weight)
    return real, ctrl, cand


def _score_candidates(grid, controls, p_real, p_cand, p_ctrl, folds, g_all):
    """One :class:`AugmentScore` per grid entry, and its paired comparisons (against real pairs
    only, against the repeat control) for :func:`guarded_choice`."""
    eps = 1e-12
    correct_real = (p_real > 0.5).astype(float)
    ll_real = -np.log(np.clip(p_real, eps, 1.0))
    candidates, comparisons = [], []
    for j, (method, factor, weight, params) in enumerate(grid):
        c = controls.index((factor, weight))
        ok = (p_cand[j] > 0.5).astype(float)
        vs_real = paired_gain(ok, correct_real, folds, g_all)
        vs_rep = paired_gain(ok, (p_ctrl[c] > 0.5).astype(float), folds, g_all)
        comparisons.append([vs_real, vs_rep])
        ll_gain = float(np.mean(ll_real + np.log(np.clip(p_cand[j], eps, 1.0))))
        candidates.append(
            AugmentScore(
                method=method,
                factor=factor,
                weight=weight,
                params=params,
                accuracy=float(ok.mean()),
                gain=vs_real.gain,
                z=vs_real.z,
                repeat_accuracy=float(np.mean(p_ctrl[c] > 0.5)),
                gain_vs_repeat=vs_rep.gain,
                z_vs_repeat=vs_rep.z,
                logloss_gain=ll_gain,
                se=vs_real.se,
                fold_gains=vs_real.fold_gains,
                se_vs_repeat=vs_rep.se,
                fold_gains_vs_repeat=vs_rep.fold_gains,
            )
        )
    return candidates, comparisons


def _reason(b: AugmentScore, kept: bool, real_acc: float, n_folds: int, needed: str) -> str:
    """The sentence saying why ``b`` (the chosen candidate, or the best when none is kept) was or
    was not kept."""
    wlabel = "1/k" if b.weight is None else f"{b.weight:g}"
    label = f"{b.method} x{b.factor} (weight {wlabel})"
    if kept:
        return (
            f"{label} raised {n_folds}-fold out-of-fold accuracy on the real pairs from {real_acc:.3f} to "
            f"{b.accuracy:.3f} (+{100 * b.gain:.1f} points, {b.z:.1f} standard errors; +{100 * b.gain_vs_repeat:.1f} "
            f"points, {b.z_vs_repeat:.1f} standard errors over repeating the real pairs; {needed})."
        )
    return (
        f"no candidate beat real-only and repeated real pairs clearly: the best, {label}, changed {n_folds}-fold "
        f"out-of-fold accuracy by {100 * b.gain:+.1f} points ({b.z:.1f} standard errors) against real-only and by "
        f"{100 * b.gain_vs_repeat:+.1f} points ({b.z_vs_repeat:.1f}) against repeat; {needed}, against both; "
        "no synthesis."
    )
