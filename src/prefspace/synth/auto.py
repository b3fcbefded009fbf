"""Guarded augmentation: synthesize only when cross-validation on real pairs says it helps.

``choose_augmentation`` splits the real training pairs into folds (by prompt when groups are
known). In every fold it fits the head on the real training-fold pairs alone, on those pairs
repeated (the ``repeat`` control, at each factor and weight of the grid) and, for each
candidate (method, factor, weight) of a small grid, on those pairs plus pairs synthesized
*from the training folds only* (and not from the pairs the head holds out for early stopping);
all of them are scored on the held-out fold's *real* pairs. Every real pair is held out
exactly once, so each candidate gets an out-of-fold correctness per pair, compared pair by
pair with the real-only head's and with the repeat control's.

Decision rule: take the candidate with the largest mean accuracy gain over real-only (ties:
larger log-loss gain); keep it only if its gain over real-only *and* over the repeat control
is positive and at least ``min_z`` standard errors of the paired per-pair difference (default
1.0, the one-standard-error rule); otherwise fall back to no synthesis. The test set
is never involved. With few pairs a real gain of one or two points is rarely detectable, so
the guard then usually falls back: it trades the small gains for never being worse by much.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
from sklearn.base import clone

from .._progress import track
from ..exceptions import ConfigError
from .registry import DEFAULT_AUTO_GRID, fold_ids, get_synthesizer
from .training_set import heldout_pairs, training_set

logger = logging.getLogger(__name__)

__all__ = ["choose_augmentation", "AugmentSelection", "AugmentScore"]


@dataclass(frozen=True)
class AugmentScore:
    """One cross-validated candidate of :func:`choose_augmentation`: out-of-fold ``accuracy`` on
    the real pairs, its ``gain`` and ``z`` against real pairs only and (``gain_vs_repeat``,
    ``z_vs_repeat``) against the repeat control at the same factor and weight
    (``repeat_accuracy``), and the mean log-loss gain over real pairs only."""

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


@dataclass(frozen=True)
class AugmentSelection:
    """What :func:`choose_augmentation` chose, like a scikit-learn search object after ``fit``.

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

    @property
    def cv_results(self) -> dict[str, list]:
        """The candidates as columns, one row per grid entry, like scikit-learn's ``cv_results_``."""
        rows = [asdict(c) for c in self.candidates]
        return {f: [r[f] for r in rows] for f in AugmentScore.__dataclass_fields__}


def _check_grid(grid) -> list:
    out = []
    for entry in grid:
        try:
            method, factor, weight, params = entry
        except (TypeError, ValueError):
            raise ConfigError(f"each auto grid entry must be (method, factor, weight, params); got {entry!r}.") from None
        if method in ("none", "auto", "repeat"):
            raise ConfigError(f"auto grid entries must name a synthesizer, not {method!r} (repeat is the control every entry is compared with).")
        get_synthesizer(method, **dict(params))  # refuses unknown methods/params early
        if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or factor < 1:
            raise ConfigError(f"auto grid factor must be a whole number >= 1; got {factor!r}.")
        if weight is not None and (not np.isfinite(weight) or weight < 0):
            raise ConfigError(f"auto grid weight must be >= 0 or None (1 / factor); got {weight!r}.")
        out.append((method, int(factor), None if weight is None else float(weight), dict(params)))
    if not out:
        raise ConfigError("the auto grid is empty: give at least one (method, factor, weight, params).")
    return out


def choose_augmentation(X, *, estimator, groups=None, random_state: int = 0, grid=DEFAULT_AUTO_GRID, n_folds: int = 3,
                        min_z: float = 1.0, sample_weight=None) -> AugmentSelection:
    """Cross-validate ``grid`` against no synthesis and against copies on real pairs ``X`` (n, 2, dim).

    Every fit in a fold follows the training protocol of :mod:`prefspace.synth.training_set`
    (synthesis only from the training-fold pairs the head does not hold out; weights that add
    up to the real pairs). Returns an :class:`AugmentSelection`: ``chosen``
    (``(method, factor, weight, params)`` or None for no synthesis), ``reason`` (one sentence),
    ``candidates`` (per candidate: out-of-fold accuracy, gain and z against real-only and
    against ``repeat`` at the same factor and weight, the log-loss gain), ``real_accuracy``,
    ``n_folds``.
    """
    grid = _check_grid(grid)
    n = X.shape[0]
    if isinstance(n_folds, bool) or int(n_folds) != n_folds or n_folds < 2:
        raise ConfigError(f"n_folds must be a whole number >= 2; got {n_folds!r}.")
    if n < 2 * n_folds:
        return AugmentSelection(chosen=None, reason=f"only {n} real pairs: too few to cross-validate {n_folds} folds; no synthesis.",
                                candidates=(), real_accuracy=None, n_folds=int(n_folds))
    folds = fold_ids(n, int(n_folds), groups, random_state)
    controls = sorted({(factor, weight) for _, factor, weight, _ in grid}, key=repr)
    folds_done = track("auto: cross-validation", int(n_folds), "folds")
    p_real = np.zeros(n)
    p_cand = np.zeros((len(grid), n))
    p_ctrl = np.zeros((len(controls), n))
    g_all = None if groups is None else np.asarray(groups)
    for f in range(int(n_folds)):
        tr, te = np.flatnonzero(folds != f), folds == f
        Xtr = X[tr]
        gtr = None if g_all is None else g_all[tr]
        wtr = None if sample_weight is None else np.asarray(sample_weight)[tr]

        def fit_on(syn, source, factor, weight):
            Xa, sw, fp = training_set(Xtr, syn, source, factor=factor, synthetic_weight=weight, sample_weight=wtr, groups=gtr)
            return clone(estimator).fit(Xa, sample_weight=sw, **fp).predict_proba(X[te])

        p_real[te] = fit_on(None, None, 1, None)
        held = heldout_pairs(estimator, Xtr, gtr, wtr)
        source = np.flatnonzero(~held if wtr is None else (~held & (wtr > 0)))
        for c, (factor, weight) in enumerate(controls):
            syn = get_synthesizer("repeat").fit(Xtr[source]).sample(factor)
            p_ctrl[c, te] = fit_on(syn, source, factor, weight)
        # one synthesizer per (method, params) per fold, sampled at each factor needed
        fitted: dict = {}
        for j, (method, factor, weight, params) in enumerate(grid):
            key = (method, repr(sorted(params.items())))
            if key not in fitted:
                fitted[key] = get_synthesizer(method, random_state=random_state + 1000 * f, **params).fit(Xtr[source])
            p_cand[j, te] = fit_on(fitted[key].sample(factor), source, factor, weight)
        folds_done.advance()
    eps = 1e-12
    correct_real = (p_real > 0.5).astype(float)
    ll_real = -np.log(np.clip(p_real, eps, 1.0))

    def paired(p_new, p_ref):
        d = (p_new > 0.5).astype(float) - (p_ref > 0.5).astype(float)
        se = d.std(ddof=1) / np.sqrt(n) if n > 1 else 0.0
        gain = float(d.mean())
        z = gain / se if se > 0 else (0.0 if gain == 0 else float(np.sign(gain) * np.inf))
        return gain, float(z)

    candidates = []
    for j, (method, factor, weight, params) in enumerate(grid):
        c = controls.index((factor, weight))
        gain, z = paired(p_cand[j], p_real)
        gain_rep, z_rep = paired(p_cand[j], p_ctrl[c])
        ll_gain = float(np.mean(ll_real + np.log(np.clip(p_cand[j], eps, 1.0))))
        candidates.append(AugmentScore(method=method, factor=factor, weight=weight, params=params,
                                       accuracy=float(np.mean(p_cand[j] > 0.5)), gain=gain, z=z,
                                       repeat_accuracy=float(np.mean(p_ctrl[c] > 0.5)), gain_vs_repeat=gain_rep,
                                       z_vs_repeat=z_rep, logloss_gain=ll_gain))
    best = max(range(len(grid)), key=lambda j: (candidates[j].gain, candidates[j].logloss_gain))
    b = candidates[best]
    real_acc = float(correct_real.mean())
    wlabel = "1/k" if b.weight is None else f"{b.weight:g}"
    label = f"{b.method} x{b.factor} (weight {wlabel})"
    clears_real = b.gain > 0 and b.z >= min_z
    clears_repeat = b.gain_vs_repeat > 0 and b.z_vs_repeat >= min_z
    if clears_real and clears_repeat:
        chosen = grid[best]
        reason = (f"{label} raised {n_folds}-fold out-of-fold accuracy on the real pairs from {real_acc:.3f} to {b.accuracy:.3f} "
                  f"(+{100 * b.gain:.1f} points, {b.z:.1f} standard errors >= {min_z:g}; "
                  f"+{100 * b.gain_vs_repeat:.1f} points, {b.z_vs_repeat:.1f} standard errors over repeating the real pairs).")
    else:
        chosen = None
        reason = (f"no candidate beat real-only and repeated real pairs clearly: the best, {label}, changed {n_folds}-fold out-of-fold "
                  f"accuracy by {100 * b.gain:+.1f} points ({b.z:.1f} standard errors) against real-only and by "
                  f"{100 * b.gain_vs_repeat:+.1f} points ({b.z_vs_repeat:.1f}) against repeat; needed > 0 and >= {min_z:g} "
                  "standard errors against both; no synthesis.")
    logger.info("auto augmentation: %s", reason)
    return AugmentSelection(chosen=chosen, reason=reason, candidates=tuple(candidates), real_accuracy=real_acc,
                            n_folds=int(n_folds))
