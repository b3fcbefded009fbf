"""``augment_pairs``: real pairs plus synthetic ones, ready for any reward head.

One function serves ``prefspace train --augment``, the experiment runner and the benchmark::

    head = BradleyTerryMLP()
    aug = augment_pairs(X, method="lens", factor=4, estimator=head)
    head.fit(aug.X, sample_weight=aug.sample_weight, **aug.fit_params)

It returns an :class:`Augmentation`: the arrays ``fit`` takes as named fields and an
:class:`AugmentReport` saying what was done. Passing the head and ``aug.fit_params``
(``parent``, ``groups``) is what keeps validation honest: the head holds out real pairs only,
by prompt, and nothing is synthesized from them (``training_set.py``).

Methods: ``"none"``, ``"repeat"`` (the control), ``"lens"``, ``"pca"``, ``"perturb"``,
``"gaussian"``, ``"mixup"`` and ``"auto"`` (guarded: cross-validation on the real pairs decides
whether any synthesis helps the head, and falls back to ``"none"`` otherwise; see
:func:`choose_augmentation`).

Also here: the label-consistency filter (``label_filter=True``), which keeps only synthetic
pairs whose order a cross-fitted reference model trained on other real pairs agrees with.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from sklearn.base import clone

from .._validation import check_pairs, check_positive, check_sample_vector, check_whole
from ..exceptions import ConfigError
from ..models.holdout import prompt_groups
from ..models.selection import fold_ids
from .auto import AugmentScore, choose_augmentation
from .base import check_synthetic_memory
from .pairs import SyntheticPairs
from .registry import METHODS, get_synthesizer
from .training_set import heldout_pairs, training_set

logger = logging.getLogger(__name__)

__all__ = [
    "synthesize",
    "augment_pairs",
    "Augmentation",
    "AugmentReport",
    "label_agreement",
    "filter_consistent",
    "CrossFittedReference",
    "prompt_groups",
]


@dataclass(frozen=True)
class AugmentReport:
    """What :func:`augment_pairs` did; :meth:`to_json` is the form ``metrics.json`` keeps.

    Always set: ``method`` (what was done), ``requested`` (what was asked), ``factor``,
    ``n_real``, ``n_synthetic``, ``synthetic_weight``, ``params``, ``seconds``. A synthesizer
    sets ``label_filter`` and ``n_heldout`` (real pairs the head holds out, none synthesized
    from); the label filter its ``filter_drawn``/``filter_agreed``/``filter_kept``; the VAE its
    ``vae_terms``; the latent models (lens, pca) ``train_variance_kept`` and
    ``heldout_variance_kept`` (the share of the variance of training and of held-out responses
    they keep). ``requested="auto"`` sets ``chosen`` (``[method, factor, weight, params]`` or
    None), ``reason`` and the cross-validated ``candidates``. Unset fields are None.
    """

    method: str
    requested: str
    factor: int
    n_real: int
    n_synthetic: int
    synthetic_weight: float
    params: dict
    seconds: float
    label_filter: bool | None = None
    n_heldout: int | None = None
    filter_drawn: int | None = None
    filter_agreed: int | None = None
    filter_kept: int | None = None
    vae_terms: dict | None = None
    train_variance_kept: float | None = None
    heldout_variance_kept: float | None = None
    chosen: list | None = None
    reason: str | None = None
    candidates: tuple[AugmentScore, ...] | None = None

    def to_json(self) -> dict:
        """A JSON-able dict of the fields that are set (``chosen`` always with ``"auto"``)."""
        out = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if value is None and not (name == "chosen" and self.requested == "auto"):
                continue
            out[name] = [asdict(c) for c in value] if name == "candidates" else value
        return out


@dataclass(frozen=True)
class Augmentation:
    """Real pairs followed by synthetic pairs, with what the head's ``fit`` needs beside them.

    Attributes
    ----------
    X : float32 (n_real + m, 2, dim), the real pairs first, unchanged and in order
    sample_weight : float64 (n_real + m,) count weights, or None when there is neither a data
        weight nor a synthetic pair (:func:`prefspace.workflows.augmented_fit_inputs`)
    parent : int64 (n_real + m,), the real pair each synthetic row comes from (-1 for a real pair)
    groups : (n_real + m,) prompt groups (a synthetic pair has its parent's), or None
    margin : (n_real + m,) margins (synthetic pairs 0), or None; only set by
        :func:`prefspace.workflows.augmented_fit_inputs`
    report : what was done (None when nothing was asked for)
    """

    X: np.ndarray
    sample_weight: np.ndarray | None
    parent: np.ndarray | None
    groups: np.ndarray | None
    report: AugmentReport | None
    margin: np.ndarray | None = field(default=None)

    @property
    def fit_params(self) -> dict[str, Any]:
        """``parent`` and ``groups`` for the head's ``fit`` (those that are set), so its
        validation pairs stay real: ``head.fit(aug.X, sample_weight=aug.sample_weight,
        **aug.fit_params)``."""
        return {
            k: v for k, v in (("parent", self.parent), ("groups", self.groups)) if v is not None
        }

    @property
    def n_synthetic(self) -> int:
        return 0 if self.report is None else self.report.n_synthetic


def _default_head():
    from ..models import BradleyTerryLinear

    return BradleyTerryLinear()


def synthesize(
    X,
    *,
    method: str = "lens",
    factor: int = 4,
    random_state: int = 0,
    label_filter: bool = False,
    groups=None,
    **params,
) -> SyntheticPairs:
    """Fit a synthesizer on real pairs ``X`` (n, 2, dim) and return ``n * factor`` synthetic pairs.

    With ``label_filter=True`` twice as many are drawn and only those a cross-fitted reference
    model (``BradleyTerryLinear`` on the other folds of real pairs) orders like their parent
    are kept, at most ``factor`` per parent; fewer may remain (``info["filter_kept"]``).
    """
    X = check_pairs(X)
    check_synthetic_memory(
        len(X), len(X), X.shape[2], factor, itemsize=X.dtype.itemsize, label_filter=label_filter
    )
    synth = get_synthesizer(method, random_state=random_state, **params).fit(X)
    if not label_filter:
        return synth.sample(factor)
    raw = synth.sample(2 * factor)
    return filter_consistent(X, raw, factor, groups=groups, random_state=random_state)


def filter_consistent(
    X_real,
    synthetic: SyntheticPairs,
    factor: int,
    *,
    reference=None,
    groups=None,
    random_state: int = 0,
) -> SyntheticPairs:
    """Keep the synthetic pairs a cross-fitted reference model orders like their parent, at most
    ``factor`` per parent (in the order drawn). ``reference``: a fitted
    :class:`CrossFittedReference` to reuse (default: one fitted on ``X_real``)."""
    ref = (
        reference
        if reference is not None
        else CrossFittedReference(X_real, groups=groups, random_state=random_state)
    )
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
    kept.info.update(
        {
            "filter": "label-consistency",
            "filter_drawn": len(synthetic),
            "filter_agreed": int(agree.sum()),
            "filter_kept": len(kept),
        }
    )
    return kept


def label_agreement(
    X_real,
    synthetic: SyntheticPairs,
    *,
    estimator=None,
    n_folds: int = 5,
    groups=None,
    random_state: int = 0,
) -> np.ndarray:
    """Bool (m,): does a reference model that never saw the parent agree with the inherited label?

    The real pairs are split into ``n_folds`` folds (by ``groups`` when given); a reference head
    (default ``BradleyTerryLinear``) is fitted on the other folds and judges the synthetic pairs
    whose parent lies in the held-out fold: agreement means it gives the synthetic chosen side
    the higher reward.
    """
    return CrossFittedReference(
        X_real, estimator=estimator, n_folds=n_folds, groups=groups, random_state=random_state
    ).agrees(synthetic)


class CrossFittedReference:
    """One reference head per fold of the real pairs, fitted once and reused for many synthetic sets.

    ``agrees(synthetic)`` -> bool (m,), judged by the head that did not see each pair's parent.
    """

    def __init__(
        self, X_real, *, estimator=None, n_folds: int = 5, groups=None, random_state: int = 0
    ) -> None:
        X_real = check_pairs(X_real)
        n = X_real.shape[0]
        n_groups = n if groups is None else len(np.unique(np.asarray(groups)))
        if min(n_folds, n_groups) < 2:
            raise ConfigError(
                f"the label-consistency check needs at least 2 real pairs from 2 different prompts; got {n_groups} group(s)."
            )
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


def augment_pairs(
    X,
    *,
    method: str = "none",
    factor: int = 4,
    estimator=None,
    synthetic_weight: float | None = None,
    sample_weight=None,
    random_state: int = 0,
    label_filter: bool = False,
    groups=None,
    unlabelled=None,
    report_pairs=None,
    **params,
):
    """Real pairs followed by synthetic pairs, their sample weights and a report.

    Parameters
    ----------
    X : ndarray of shape (n_pairs, 2, dim), real training pairs, ``X[:, 0]`` chosen.
    method : "none", "repeat" (the control: copies), "lens", "pca", "perturb", "gaussian",
        "mixup" or "auto".
    factor : int, synthetic pairs per real pair (ignored by "none"; "auto" picks its own).
    estimator : the unfitted reward head you will train. A head that holds out pairs for early
        stopping is asked which (``validation_split``) and nothing is synthesized from, or
        fitted on, those pairs; "auto" cross-validates it (default ``BradleyTerryLinear``).
    synthetic_weight : float >= 0 or None, a synthetic pair's weight relative to its real
        parent; None (default) = ``1 / factor``, so a parent's synthetic pairs together weigh
        as much as the parent. Each real pair and its synthetic pairs share the real pair's
        weight (see :mod:`prefspace.synth.training_set`): the total weight stays that of the
        real pairs, and with it the strength of the head's penalty.
    sample_weight : None or (n_pairs,) weights of the real pairs (default 1).
    random_state : int; same inputs and seed give the same output.
    label_filter : keep only synthetic pairs a cross-fitted reference model agrees with.
    groups : optional (n_pairs,) group ids (prompts) for validation splits and cross-fitting
        folds; default: derived from the shared (prompt) columns when there are any.
    unlabelled : optional (m, dim) rows of responses without labels (same encoder and layout)
        to fit the latent model on as well ("lens", "pca"): the usual case in practice.
    report_pairs : optional (k, 2, dim) held-out pairs (e.g. the test pairs) on which to report
        how much of a response's variance the latent model keeps (``heldout_variance_kept``);
        used for nothing else. Default: the pairs the head holds out, when it holds out any.
    **params : passed to the synthesizer (e.g. ``sigma2=0.02``, ``decoding="residual"``); for
        "auto": ``grid`` (candidates, see ``DEFAULT_AUTO_GRID``), ``n_folds`` (3),
        ``alpha`` (0.05) and ``min_gain`` (0.01), the guard of
        :func:`prefspace.models.selection.guarded_choice`.

    Returns
    -------
    Augmentation : ``X`` float32 (n_pairs + m, 2, dim), the real pairs first, unchanged and in
    order; ``sample_weight`` float64 (n_pairs + m,), count weights (see ``synthetic_weight``);
    ``parent`` and ``groups`` for the head's ``fit`` (``aug.fit_params``); ``report``, an
    :class:`AugmentReport` (``method`` done, ``n_synthetic``, ``n_heldout``, the variance the
    latent model keeps; with "auto" also ``chosen``, ``reason`` and the cross-validated
    ``candidates``).

    Example
    -------
    >>> import numpy as np
    >>> from prefspace.models import BradleyTerryLinear
    >>> X = np.random.default_rng(0).normal(size=(40, 2, 8)).astype(np.float32)
    >>> head = BradleyTerryLinear()
    >>> aug = augment_pairs(X, method="perturb", factor=2, estimator=head)
    >>> aug.X.shape, float(aug.sample_weight.sum()), aug.report.n_synthetic
    ((120, 2, 8), 40.0, 80)
    >>> head = head.fit(aug.X, sample_weight=aug.sample_weight, **aug.fit_params)
    """
    t0 = time.perf_counter()
    X, factor, synthetic_weight, sample_weight, groups = _check_inputs(
        X, method, factor, synthetic_weight, sample_weight, groups, params
    )
    if method == "auto":
        return _augment_auto(
            X,
            estimator=estimator,
            sample_weight=sample_weight,
            random_state=random_state,
            groups=groups,
            unlabelled=unlabelled,
            report_pairs=report_pairs,
            t0=t0,
            **params,
        )
    if method == "none":
        return _unaugmented(X, sample_weight, groups, t0)
    return _augment_with(
        X,
        method,
        factor=factor,
        estimator=estimator,
        synthetic_weight=synthetic_weight,
        sample_weight=sample_weight,
        random_state=random_state,
        label_filter=label_filter,
        groups=groups,
        unlabelled=unlabelled,
        report_pairs=report_pairs,
        t0=t0,
        **params,
    )


def _check_inputs(X, method, factor, synthetic_weight, sample_weight, groups, params):
    """``augment_pairs``'s arguments checked: ``(X, factor, synthetic_weight, sample_weight,
    groups)``, the groups derived from the shared (prompt) columns when not given."""
    X = check_pairs(X)
    if method not in METHODS:
        raise ConfigError(
            f"augment method must be one of {', '.join(map(repr, METHODS))}; got {method!r}."
        )
    if method == "none" and params:
        raise ConfigError(
            f"method 'none' takes no synthesizer parameters; got {', '.join(sorted(params))}."
        )
    if synthetic_weight is not None:
        synthetic_weight = check_positive(
            synthetic_weight, name="synthetic_weight", allow_zero=True
        )
    factor = check_whole(factor, name="factor", what="synthetic pairs per real pair")
    n = X.shape[0]
    sample_weight = check_sample_vector(sample_weight, n, name="sample_weight")
    if groups is None:
        groups = prompt_groups(X)
    elif np.asarray(groups).shape != (n,):
        raise ConfigError(
            f"groups must have one entry per pair ({n}); got shape {np.asarray(groups).shape}."
        )
    return X, factor, synthetic_weight, sample_weight, groups


def _augment_auto(
    X, *, estimator, sample_weight, random_state, groups, unlabelled, report_pairs, t0, **params
) -> Augmentation:
    """``method="auto"``: cross-validate the grid (:func:`choose_augmentation`), then augment with
    the chosen candidate (its entry was checked with the grid, the inputs by the caller), or not
    at all; the report says what was compared and why."""
    head = estimator if estimator is not None else _default_head()
    choice = choose_augmentation(
        X,
        estimator=head,
        groups=groups,
        random_state=random_state,
        sample_weight=sample_weight,
        **params,
    )
    if choice.chosen is None:
        aug = _unaugmented(X, sample_weight, groups, t0)
    else:
        method, factor, weight, synth_params = choice.chosen  # checked with the grid
        aug = _augment_with(
            X,
            method,
            factor=factor,
            estimator=head,
            synthetic_weight=weight,
            sample_weight=sample_weight,
            random_state=random_state,
            label_filter=False,
            groups=groups,
            unlabelled=unlabelled,
            report_pairs=report_pairs,
            t0=t0,
            **synth_params,
        )
    assert aug.report is not None  # both branches above report what they did
    report = replace(
        aug.report,
        requested="auto",
        chosen=None if choice.chosen is None else list(choice.chosen),
        reason=choice.reason,
        candidates=choice.candidates,
        seconds=time.perf_counter() - t0,
    )
    return replace(aug, report=report)


def _augment_with(
    X,
    method: str,
    *,
    factor,
    estimator,
    synthetic_weight,
    sample_weight,
    random_state,
    label_filter,
    groups,
    unlabelled,
    report_pairs,
    t0,
    **params,
) -> Augmentation:
    """One synthesizer: fitted on the real pairs the head does not hold out, sampled, merged with
    the real pairs by the training protocol (``training_set.py``)."""
    n = X.shape[0]
    held = heldout_pairs(estimator, X, groups, sample_weight)
    source = np.flatnonzero(~held if sample_weight is None else (~held & (sample_weight > 0)))
    if len(source) == 0:
        raise ConfigError(
            "no real pairs are left to synthesize from (all held out or of weight 0)."
        )
    sub_groups = None if groups is None else np.asarray(groups)[source]
    check_synthetic_memory(
        len(X),
        len(source),
        X.shape[2],
        factor,
        itemsize=X.dtype.itemsize,
        label_filter=label_filter,
    )
    synth = get_synthesizer(method, random_state=random_state, **params)
    fit_kwargs = {} if unlabelled is None else {"unlabelled": unlabelled}
    if fit_kwargs and not hasattr(synth, "reconstruction_report"):
        raise ConfigError(
            f"unlabelled responses are used by the latent models ('lens', 'pca'), not by {method!r}."
        )
    synth.fit(X[source], **fit_kwargs)
    if label_filter:
        syn = filter_consistent(
            X[source],
            synth.sample(2 * factor),
            factor,
            groups=sub_groups,
            random_state=random_state,
        )
    else:
        syn = synth.sample(factor)
    X_aug, sw, fit_params = training_set(
        X,
        syn,
        source,
        factor=factor,
        synthetic_weight=synthetic_weight,
        sample_weight=sample_weight,
        groups=groups,
    )
    extra = _synthesis_facts(synth, syn, X, held, report_pairs, label_filter)
    report = _report(method, n, len(syn), factor, synthetic_weight, params, t0, **extra)
    logger.info(
        "augment_pairs: %s x%d -> %d real + %d synthetic pairs (%d real held out)",
        method,
        factor,
        n,
        len(syn),
        int(held.sum()),
    )
    return Augmentation(
        X=X_aug,
        sample_weight=sw,
        parent=fit_params.get("parent"),
        groups=fit_params.get("groups"),
        report=report,
    )


def _synthesis_facts(
    synth, syn: SyntheticPairs, X: np.ndarray, held: np.ndarray, report_pairs, label_filter: bool
) -> dict[str, Any]:
    """What the report adds for a synthesizer: the label filter's counts, the VAE's loss terms,
    and the share of variance a latent model keeps on its training and on held-out responses."""
    extra: dict[str, Any] = {"label_filter": bool(label_filter), "n_heldout": int(held.sum())}
    for key in ("filter_drawn", "filter_agreed", "filter_kept"):
        if key in syn.info:
            extra[key] = syn.info[key]
    if "train_terms" in syn.info:
        extra["vae_terms"] = syn.info["train_terms"]
    if hasattr(synth, "reconstruction_report"):
        extra["train_variance_kept"] = synth.reconstruction_report()["variance_kept"]
        if report_pairs is not None:
            pairs = check_pairs(report_pairs, name="report_pairs")
            extra["heldout_variance_kept"] = synth.reconstruction_report(pairs)["variance_kept"]
        elif held.any():
            extra["heldout_variance_kept"] = synth.reconstruction_report(X[held])["variance_kept"]
    return extra


def _unaugmented(X: np.ndarray, sample_weight, groups, t0: float) -> Augmentation:
    """The real pairs alone, as an :class:`Augmentation` with method ``"none"``."""
    n = X.shape[0]
    X_aug, sw, fit_params = training_set(
        X, None, np.arange(n), factor=1, sample_weight=sample_weight, groups=groups
    )
    return Augmentation(
        X=X_aug,
        sample_weight=sw,
        parent=fit_params.get("parent"),
        groups=fit_params.get("groups"),
        report=_report("none", n, 0, 0, None, {}, t0),
    )


def _report(method, n, m, factor, weight, params, t0, **extra) -> AugmentReport:
    if weight is None:
        weight = 1.0 / factor if factor else 0.0
    return AugmentReport(
        method=method,
        requested=method,
        factor=int(factor),
        n_real=int(n),
        n_synthetic=int(m),
        synthetic_weight=float(weight),
        params={
            k: (v if isinstance(v, (int, float, str, bool, type(None))) else repr(v))
            for k, v in params.items()
        },
        seconds=time.perf_counter() - t0,
        **extra,
    )
