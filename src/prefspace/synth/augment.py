"""``augment_pairs``: real pairs plus synthetic ones, ready for any reward head.

One function serves ``prefspace train --augment``, the experiment runner and the benchmark::

    X_aug, sample_weight, info = augment_pairs(X, method="lens", factor=4)
    BradleyTerryMLP().fit(X_aug, sample_weight=sample_weight)

Methods: ``"none"``, ``"lens"``, ``"pca"``, ``"perturb"``, ``"gaussian"``, ``"mixup"`` and
``"auto"`` (guarded: cross-validation on the real pairs decides whether any synthesis helps
the head, and falls back to ``"none"`` otherwise; see :func:`choose_augmentation`).

Also here: the label-consistency filter (``label_filter=True``), which keeps only synthetic
pairs whose order a cross-fitted reference model trained on other real pairs agrees with.
"""

from __future__ import annotations

import logging
import time

import numpy as np
from sklearn.base import clone

from .._validation import check_pairs, check_positive, check_sample_vector
from ..exceptions import ConfigError
from .auto import choose_augmentation
from .registry import METHODS, fold_ids, make_synthesizer
from .pairs import SyntheticPairs

logger = logging.getLogger(__name__)

__all__ = ["synthesize", "augment_pairs", "label_agreement", "filter_consistent", "CrossFittedReference", "prompt_groups"]

def _default_head():
    from ..models import BradleyTerryLinear

    return BradleyTerryLinear()


def synthesize(X, *, method: str = "lens", factor: int = 4, random_state: int = 0, label_filter: bool = False, groups=None, **params) -> SyntheticPairs:
    """Fit a synthesizer on real pairs ``X`` (n, 2, dim) and return ``n * factor`` synthetic pairs.

    With ``label_filter=True`` twice as many are drawn and only those a cross-fitted reference
    model (``BradleyTerryLinear`` on the other folds of real pairs) orders like their parent
    are kept, at most ``factor`` per parent; fewer may remain (``info["filter_kept"]``).
    """
    X = check_pairs(X)
    synth = make_synthesizer(method, random_state=random_state, **params).fit(X)
    if not label_filter:
        return synth.sample(factor)
    raw = synth.sample(2 * factor)
    return filter_consistent(X, raw, factor, groups=groups, random_state=random_state)


def filter_consistent(X_real, synthetic: SyntheticPairs, factor: int, *, reference=None, groups=None, random_state: int = 0) -> SyntheticPairs:
    """Keep the synthetic pairs a cross-fitted reference model orders like their parent, at most
    ``factor`` per parent (in the order drawn). ``reference``: a fitted
    :class:`CrossFittedReference` to reuse (default: one fitted on ``X_real``)."""
    ref = reference if reference is not None else CrossFittedReference(X_real, groups=groups, random_state=random_state)
    agree = ref.agrees(synthetic)
    keep = np.flatnonzero(agree)
    parents = synthetic.parent[keep]
    # rank of each kept pair among the kept pairs of its parent
    order = np.argsort(parents, kind="stable")
    sorted_parents = parents[order]
    first = np.searchsorted(sorted_parents, sorted_parents, side="left")
    rank = np.empty(keep.size, dtype=np.int64)
    rank[order] = np.arange(keep.size) - first
    kept = synthetic.select(keep[rank < factor])
    kept.info.update({"filter": "label-consistency", "filter_drawn": len(synthetic), "filter_agreed": int(agree.sum()), "filter_kept": len(kept)})
    return kept


def label_agreement(X_real, synthetic: SyntheticPairs, *, estimator=None, n_folds: int = 5, groups=None, random_state: int = 0) -> np.ndarray:
    """Bool (m,): does a reference model that never saw the parent agree with the inherited label?

    The real pairs are split into ``n_folds`` folds (by ``groups`` when given); a reference head
    (default ``BradleyTerryLinear``) is fitted on the other folds and judges the synthetic pairs
    whose parent lies in the held-out fold: agreement means it gives the synthetic chosen side
    the higher reward.
    """
    return CrossFittedReference(X_real, estimator=estimator, n_folds=n_folds, groups=groups, random_state=random_state).agrees(synthetic)


class CrossFittedReference:
    """One reference head per fold of the real pairs, fitted once and reused for many synthetic sets.

    ``agrees(synthetic)`` -> bool (m,), judged by the head that did not see each pair's parent.
    """

    def __init__(self, X_real, *, estimator=None, n_folds: int = 5, groups=None, random_state: int = 0) -> None:
        X_real = check_pairs(X_real)
        n = X_real.shape[0]
        n_groups = n if groups is None else len(np.unique(np.asarray(groups)))
        if min(n_folds, n_groups) < 2:
            raise ConfigError(f"the label-consistency check needs at least 2 real pairs from 2 different prompts; got {n_groups} group(s).")
        self.folds = fold_ids(n, min(n_folds, n_groups), groups, random_state)
        self.models = {}
        for f in np.unique(self.folds):
            ref = clone(estimator) if estimator is not None else _default_head()
            self.models[f] = ref.fit(X_real[self.folds != f])

    def agrees(self, synthetic: SyntheticPairs) -> np.ndarray:
        agree = np.zeros(len(synthetic), dtype=bool)
        fold_of = self.folds[synthetic.parent]
        for f, ref in self.models.items():
            rows = np.flatnonzero(fold_of == f)
            if rows.size:
                agree[rows] = ref.predict_proba(synthetic.X[rows]) > 0.5
        return agree


def prompt_groups(X: np.ndarray) -> np.ndarray | None:
    """Group id per pair from the shared (prompt) columns, or None when there are none."""
    from .base import shared_column_mask

    # shared columns that vary between pairs (a constant column, e.g. one MiniLM leaves at 0,
    # is "shared" too but says nothing about the prompt)
    shared = shared_column_mask(X) & np.any(X[:, 0, :] != X[:1, 0, :], axis=0)
    if not shared.any():
        return None
    _, g = np.unique(np.ascontiguousarray(X[:, 0, shared]).view(np.uint8).reshape(X.shape[0], -1), axis=0, return_inverse=True)
    return g.ravel()


def augment_pairs(
    X,
    *,
    method: str = "none",
    factor: int = 4,
    estimator=None,
    synthetic_weight: float = 1.0,
    random_state: int = 0,
    label_filter: bool = False,
    groups=None,
    sample_weight=None,
    **params,
):
    """Real pairs followed by synthetic pairs, their sample weights and a report.

    Parameters
    ----------
    X : ndarray of shape (n_pairs, 2, dim), real training pairs, ``X[:, 0]`` chosen.
    method : "none", "lens", "pca", "perturb", "gaussian", "mixup" or "auto".
    factor : int, synthetic pairs per real pair (ignored by "none"; "auto" picks its own).
    estimator : unfitted reward head "auto" cross-validates (default ``BradleyTerryLinear``);
        pass the head you will train. Other methods ignore it.
    synthetic_weight : float >= 0, sample weight of each synthetic pair (real pairs weigh 1).
    random_state : int; same inputs and seed give the same output.
    label_filter : keep only synthetic pairs a cross-fitted reference model agrees with.
    groups : optional (n_pairs,) group ids (prompts) for the cross-fitting folds; default:
        derived from the shared (prompt) columns when there are any.
    sample_weight : optional (n_pairs,) non-negative weights of the real pairs (e.g. a data
        file's weight column). Real pairs keep them; each synthetic pair weighs
        ``synthetic_weight`` times its parent's weight, so a pair weighted 0 adds nothing, not
        even through its synthetic children. Default: every real pair weighs 1.
    **params : passed to the synthesizer (e.g. ``sigma2=0.02``, ``decoding="residual"``); for
        "auto": ``grid`` (candidates, see ``DEFAULT_AUTO_GRID``), ``n_folds`` (3),
        ``min_z`` (1.0).

    Returns
    -------
    X_aug : float32 (n_pairs + m, 2, dim), the real pairs first, unchanged and in order.
    sample_weight : float64 (n_pairs + m,), the real pairs' weights (1 by default), then
        ``synthetic_weight`` times each synthetic pair's parent's weight.
    info : JSON-able dict: ``method`` (what was done), ``requested``, ``factor``,
        ``n_real``, ``n_synthetic``, ``synthetic_weight``, ``params``, ``seconds``; with "auto"
        also ``chosen`` and ``reason`` and the cross-validated ``candidates``.

    Example
    -------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(40, 2, 8)).astype(np.float32)
    >>> X_aug, w, info = augment_pairs(X, method="perturb", factor=2)
    >>> X_aug.shape, float(w[-1]), info["n_synthetic"]
    ((120, 2, 8), 1.0, 80)
    """
    t0 = time.perf_counter()
    X = check_pairs(X)
    w_real = check_sample_vector(sample_weight, X.shape[0], name="sample_weight")
    w_real = np.ones(X.shape[0]) if w_real is None else w_real.copy()
    if method not in METHODS:
        raise ConfigError(f"augment method must be one of {', '.join(map(repr, METHODS))}; got {method!r}.")
    synthetic_weight = check_positive(synthetic_weight, name="synthetic_weight", allow_zero=True)
    if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or factor < 1:
        raise ConfigError(f"factor must be a whole number >= 1 (synthetic pairs per real pair); got {factor!r}.")
    if groups is None:
        groups = prompt_groups(X)
    n = X.shape[0]

    if method == "auto":
        choice = choose_augmentation(X, estimator=estimator if estimator is not None else _default_head(), groups=groups, random_state=random_state, **params)
        if choice["chosen"] is None:
            info = _report("none", n, 0, 0, 1.0, {}, t0)
        else:
            m, k, w, p = choice["chosen"]
            X_aug, sw, info = augment_pairs(X, method=m, factor=k, synthetic_weight=w, random_state=random_state, groups=groups,
                                            sample_weight=w_real, **p)
            info["seconds"] = time.perf_counter() - t0
            info.update(requested="auto", chosen=[m, k, w, p], reason=choice["reason"], candidates=choice["candidates"])
            return X_aug, sw, info
        info.update(requested="auto", chosen=None, reason=choice["reason"], candidates=choice["candidates"])
        return X.copy(), w_real, info

    if method == "none":
        if params:
            raise ConfigError(f"method 'none' takes no synthesizer parameters; got {', '.join(sorted(params))}.")
        return X.copy(), w_real, _report("none", n, 0, 0, synthetic_weight, {}, t0)

    syn = synthesize(X, method=method, factor=factor, random_state=random_state, label_filter=label_filter, groups=groups, **params)
    X_aug = np.concatenate([X, syn.X], axis=0)
    sw = np.concatenate([w_real, synthetic_weight * w_real[syn.parent]])
    info = _report(method, n, len(syn), factor, synthetic_weight, params, t0)
    info["label_filter"] = bool(label_filter)
    for key in ("filter_drawn", "filter_agreed", "filter_kept"):
        if key in syn.info:
            info[key] = syn.info[key]
    if "train_terms" in syn.info:
        info["vae_terms"] = syn.info["train_terms"]
    logger.info("augment_pairs: %s x%d -> %d real + %d synthetic pairs", method, factor, n, len(syn))
    return X_aug, sw, info


def _report(method, n, m, factor, weight, params, t0) -> dict:
    return {
        "method": method,
        "requested": method,
        "factor": int(factor),
        "n_real": int(n),
        "n_synthetic": int(m),
        "synthetic_weight": float(weight),
        "params": {k: (v if isinstance(v, (int, float, str, bool, type(None))) else repr(v)) for k, v in params.items()},
        "seconds": time.perf_counter() - t0,
    }
