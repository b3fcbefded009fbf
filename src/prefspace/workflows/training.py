"""Train one reward model from a preference file: what ``prefspace train`` runs.

:func:`train_reward_model` chains the stages for one model: load the pairs (and a test file, or
hold out a share of the prompts), leave tied pairs out, embed through the cache, optionally add
synthetic pairs, wrap the head in an ensemble, fit, measure, and (with ``out``) save the model
with ``metrics.json`` beside it. :func:`augmented_fit_inputs` is the one place where a data
file's weights and margins meet the synthetic pairs.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .._jsonsafe import json_number, json_safe, write_json, write_jsonl
from .._paths import check_output
from .._progress import ProgressCallback, report_progress, track
from .._surface import option
from .._validation import check_in, check_pairs, check_sample_vector, check_whole
from ..data import (
    PreferenceDataset,
    canonical_prompt,
    load_preferences,
    read_responses,
    split_by_prompt,
)
from ..data.dataset import pair_records
from ..data.licence import data_licence
from ..data.text_features import truncation_summary
from ..embed import (
    CacheUse,
    EmbeddingCache,
    embed_pairs,
    embed_responses,
    embed_text_features,
    get_encoder,
)
from ..evaluate import accuracy_with_interval, length_dependence, reward_metrics
from ..exceptions import ConfigError
from ..models import (
    HEADS,
    HeadSelection,
    LengthBaselineReport,
    RewardEnsemble,
    choose_head,
    get_head,
    length_baseline_beside,
    pair_log_lengths,
    save_model,
)
from ..models.card import reproducibility_record, training_data_summary
from ..models.ensemble import AGGREGATES
from ..synth import METHODS, Augmentation, AugmentReport, augment_pairs
from ..synth.base import check_synthetic_memory

logger = logging.getLogger(__name__)

__all__ = [
    "train_reward_model",
    "TrainReport",
    "StageSeconds",
    "DataCounts",
    "Truncation",
    "ModelLengthDependence",
    "UnlabelledData",
    "augmented_fit_inputs",
    "HEAD_CHOICES",
    "DEFAULT_HEAD",
    "write_split",
    "SPLIT_FILE",
    "HELD_OUT_FILE",
]

# ``head="auto"`` cross-validates the heads of ``prefspace.models.DEFAULT_HEAD_GRID`` on the
# training pairs (``choose_head``). The default head is the linear Bradley-Terry model: on HH
# it was as accurate as the MLP at 100 and 500 pairs (docs/benchmarks.md, "Reward heads"), it
# won grouped cross-validation on the training pairs of HH and alpaca_bon (benchmarks/defaults.py),
# and on three preference sets the project never saw it beat the MLP in all six cells (issue 12).
HEAD_CHOICES = (*HEADS, "auto")
DEFAULT_HEAD = "bt-linear"


@dataclass(frozen=True)
class DataCounts:
    """A count for the training data and one for the test data."""

    data: int = 0
    test: int = 0

    def to_json(self) -> dict:
        return {"data": int(self.data), "test": int(self.test)}


@dataclass(frozen=True)
class UnlabelledData:
    """The unlabelled responses the latent model was fitted on as well."""

    source: str
    n_responses: int

    def to_json(self) -> dict:
        return {"source": self.source, "n_responses": int(self.n_responses)}


@dataclass(frozen=True)
class Truncation:
    """How many responses the encoder truncated and by how much
    (:func:`prefspace.data.text_features.truncation_summary`), and how it reads long texts."""

    texts: int
    truncated: int
    truncated_share: float
    unseen_fraction_mean: float
    unseen_fraction_max: float
    unseen_tokens_share: float
    long_texts: str
    token_limit: int | None

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ModelLengthDependence:
    """The model's length dependence on the ``responses`` (``"test"`` or ``"train"``) pairs'
    responses: :class:`prefspace.evaluate.LengthDependence`'s figures of the reward, and
    ``length_controlled_corr`` of the reward without the text-feature block (None without the
    block). Undefined figures are None; ``text_feature_share`` is None without the block too."""

    within_prompt_length_corr: float | None
    n_responses: int
    text_feature_share: float | None
    length_controlled_corr: float | None
    responses: str
    has_text_block: bool = True  # whether the rows had a text-feature block to explain variance

    def to_json(self) -> dict:
        out: dict = {
            "within_prompt_length_corr": self.within_prompt_length_corr,
            "n_responses": self.n_responses,
        }
        if self.has_text_block:
            out["text_feature_share"] = self.text_feature_share
        out["length_controlled_corr"] = self.length_controlled_corr
        out["responses"] = self.responses
        return out


@dataclass(frozen=True)
class StageSeconds:
    """Wall time of each stage of :func:`train_reward_model`: reading and splitting the pairs,
    embedding them, ``head="auto"``'s cross-validation, synthesis, and the final fit."""

    read: float
    embed: float
    cv: float
    augment: float
    fit: float

    def to_json(self) -> dict[str, float]:
        """Each stage's seconds, rounded to the millisecond, in the order the stages run."""
        return {name: round(value, 3) for name, value in asdict(self).items()}


@dataclass(frozen=True)
class TrainReport:
    """What :func:`train_reward_model` did; :meth:`to_json` is what ``metrics.json`` holds.

    Attributes
    ----------
    data, test_data : the sources (``test_data`` None when the test pairs were held out of data)
    head : the head asked for (``"auto"`` included); model : the fitted model's class name
    params : the model's ``get_params(deep=False)`` (an ensemble: ``n_members``, ``aggregate``)
    encoder, encoder_fingerprint : the encoder's config and fingerprint
    n_train, n_synthetic, n_test : real training pairs, synthetic pairs, test pairs
    random_state : the seed of the split, the augmentation and the head
    augment : the :class:`~prefspace.synth.AugmentReport`, or None without augmentation
    train : the model's ``metrics_``; test : TRL-named test metrics with the accuracy's 95%
        bootstrap interval (``ci_low``, ``ci_high``), or None without test pairs
    ties_left_out, duplicates : :class:`DataCounts` of tied pairs left out and of exact
        duplicate pairs found
    seconds : :class:`StageSeconds`, the wall time of each stage
    record : :func:`prefspace.models.card.reproducibility_record` (versions, encoder weights
        hash, the command and the resolved config)
    head_auto : with ``head="auto"``, the :class:`~prefspace.models.HeadSelection`
    vae_data : with unlabelled responses, :class:`UnlabelledData`
    truncation : :class:`Truncation` of the training (and test) responses
    length_dependence : :class:`ModelLengthDependence` on the test responses (else the
        training ones)
    cache : :class:`prefspace.embed.CacheUse`, the embedding cache used and what it held
    length_baseline : :class:`prefspace.models.LengthBaselineReport`, the learned length
        baseline fitted on the same training pairs, and with test pairs its accuracy there and
        the model minus the baseline on them (paired interval, verdict)
    """

    data: str
    test_data: str | None
    head: str
    model: str
    params: dict
    encoder: dict
    encoder_fingerprint: str
    n_train: int
    n_synthetic: int
    n_test: int
    random_state: int
    augment: AugmentReport | None
    train: dict
    test: dict | None
    ties_left_out: DataCounts
    duplicates: DataCounts
    seconds: StageSeconds
    record: dict
    head_auto: HeadSelection | None
    vae_data: UnlabelledData | None
    truncation: Truncation
    length_dependence: ModelLengthDependence
    cache: CacheUse
    length_baseline: LengthBaselineReport

    @property
    def chosen_head(self) -> str:
        """The head that was fitted: ``head``, or what ``"auto"`` chose."""
        return self.head_auto.best_name if self.head_auto is not None else self.head

    def to_json(self) -> dict:
        """The JSON-able report written as ``metrics.json`` (its keys are stable across versions)."""
        out = {
            "data": self.data,
            "test_data": self.test_data,
            "head": self.head,
            "model": self.model,
            "params": self.params,
            "encoder": self.encoder,
            "encoder_fingerprint": self.encoder_fingerprint,
            "n_train": self.n_train,
            "n_synthetic": self.n_synthetic,
            "n_test": self.n_test,
            "seed": self.random_state,
            "augment": None if self.augment is None else self.augment.to_json(),
            "train": self.train,
            "test": self.test,
            "ties_left_out": self.ties_left_out.to_json(),
            "duplicates": self.duplicates.to_json(),
            **{f"{stage}_seconds": value for stage, value in self.seconds.to_json().items()},
            "record": self.record,
            "length_baseline": self.length_baseline.to_json(),
        }
        for key in ("head_auto", "vae_data"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key).to_json()
        out["truncation"] = self.truncation.to_json()
        out["length_dependence"] = self.length_dependence.to_json()
        out["cache"] = self.cache.to_json()
        return json_safe(out, default=str)


def train_reward_model(
    data: str | os.PathLike | PreferenceDataset,
    *,
    encoder: Any = "all-MiniLM-L6-v2",
    encoder_backend: str = "auto",
    layout: str | None = None,
    cache: EmbeddingCache | str | os.PathLike | None = None,
    head: str = DEFAULT_HEAD,
    params: Mapping[str, Any] | None = None,
    ensemble: int = 1,
    aggregate: str = "mean",
    test: str | os.PathLike | PreferenceDataset | None = None,
    test_fraction: float = 0.2,
    random_state: int = 0,
    augment: str = "none",
    factor: int = 4,
    load_kwargs: Mapping[str, Any] | None = None,
    out: str | os.PathLike | None = None,
    vae_data: str | os.PathLike | np.ndarray | None = None,
    vae_prompts: str | os.PathLike | None = None,
    command: str | None = None,
    progress: ProgressCallback | None = None,
    text_features: bool = True,
) -> tuple[Any, TrainReport]:
    """Fit a reward model on the preference pairs of ``data``; return it with its report.

    Parameters
    ----------
    data : path or str or PreferenceDataset
        Training pairs: anything :func:`prefspace.data.load_preferences` reads, or a dataset.
    encoder, encoder_backend, layout : str or Encoder, str, str or None
        An encoder name for :func:`prefspace.embed.get_encoder` with its ``backend`` and
        ``layout`` (``"separate"``: prompt and response embedded apart; ``"joint"``: one text,
        which MLP heads export exactly to sentence-transformers; None: the encoder's default),
        or an encoder.
    cache : EmbeddingCache or path, optional
        Embedding cache (nothing is cached without one).
    head : str
        A name in :data:`prefspace.models.HEADS` (default ``bt-linear``), or ``"auto"``: grouped
        cross-validation on the training pairs (:func:`prefspace.models.choose_head`, which
        keeps the default unless another head passes its guard); ``report.head_auto`` says why.
    params : dict, optional
        Head parameters (lists become tuples); unknown names are refused, as are any with
        ``head="auto"``. ``random_state`` is always this function's.
    ensemble, aggregate : int, str
        With ``ensemble > 1`` a :class:`~prefspace.models.RewardEnsemble` of that many heads.
    test, test_fraction : path or PreferenceDataset, float
        Test pairs; without them ``test_fraction`` of the pairs are held out, grouped by prompt
        (``0``: no test set).
    random_state : int
        Seed of the split, the augmentation and the head (``--seed`` on the command line).
    augment, factor : str, int
        A method in :data:`prefspace.synth.METHODS` and the synthetic pairs per real pair
        (:func:`augmented_fit_inputs`).
    load_kwargs : dict, optional
        Keywords for ``load_preferences``, applied to ``data`` and ``test`` (``limit``: data only).
    out : path, optional
        Save the model there (:func:`prefspace.models.save_model`, with its model card), the
        report as ``metrics.json`` and the split (``split.json``; ``test.jsonl``, the held-out
        pairs that ``evaluate_model_dir(out)`` reads when given no data).
    vae_data, vae_prompts : path or array, optional
        Unlabelled responses the latent model of ``augment="lens"``/``"pca"`` is fitted on as
        well: a file :func:`prefspace.data.read_responses` reads, or rows already embedded.
    command : str, optional
        The command line that runs this, kept in the reproducibility record.
    text_features : bool, default True
        Append the text-feature block (:mod:`prefspace.data.text_features`) to every row when
        ``encoder`` is a name, and tell the head its width (docs/models.md).
    progress : callable, optional
        Receives a :class:`prefspace._progress.ProgressEvent` as each stage moves on.

    Tied pairs (kept with ``ties="keep"``) state no preference and are left out of both sides.

    Returns
    -------
    model : the fitted head or ensemble
    report : :class:`TrainReport` (``report.to_json()`` is what ``metrics.json`` holds)

    Example
    -------
    >>> model, report = train_reward_model("pairs.jsonl", head="bt-linear",   # doctest: +SKIP
    ...                                    params={"alpha": 10}, out="runs/bt")
    >>> report.test["accuracy"]                                                 # doctest: +SKIP
    0.71
    """
    plan = _TrainPlan(
        data=data,
        test=test,
        head=_HeadPlan(head, params, ensemble, aggregate),
        embedding=_EmbeddingPlan(encoder, encoder_backend, layout, cache, text_features),
        augment=_AugmentPlan(augment, factor, vae_data, vae_prompts),
        test_fraction=test_fraction,
        random_state=random_state,
        load_kwargs=dict(load_kwargs or {}),
        out=out,
        command=command,
    )
    with report_progress(progress):
        return _train(plan)


@dataclass(frozen=True)
class _HeadPlan:
    name: str
    params: Mapping[str, Any] | None
    ensemble: int
    aggregate: str


@dataclass(frozen=True)
class _EmbeddingPlan:
    encoder: Any
    backend: str
    layout: str | None
    cache: Any
    text_features: bool


@dataclass(frozen=True)
class _AugmentPlan:
    method: str
    factor: int
    vae_data: Any
    vae_prompts: Any


@dataclass(frozen=True)
class _TrainPlan:
    """The arguments of :func:`train_reward_model`, grouped by the stage that uses them."""

    data: Any
    test: Any
    head: _HeadPlan
    embedding: _EmbeddingPlan
    augment: _AugmentPlan
    test_fraction: float
    random_state: int
    load_kwargs: dict
    out: Any
    command: str | None


@dataclass(frozen=True)
class _Embedded:
    """The embedded training and test pairs (``X_test`` None without test pairs)."""

    encoder: Any
    store: EmbeddingCache | None
    X_train: np.ndarray
    X_test: np.ndarray | None
    stats: Any
    seconds: float

    @property
    def k(self) -> int:
        """Columns of the text-feature block at the end of each row (0 without it)."""
        return int(getattr(self.encoder, "n_text_features", 0))


def _train(plan: _TrainPlan) -> tuple[Any, TrainReport]:
    # ---- every argument is checked before any data is read or embedded
    plan = _checked(plan)
    seed, hp = plan.random_state, plan.head
    model = _head_from_args(hp.name, hp.params, hp.ensemble, hp.aggregate, seed)  # None: auto

    # ---- data: train and test pairs, no prompt on both sides; embeddings (cached)
    t0 = time.perf_counter()
    sets = _train_test_sets(plan.data, plan.test, plan.test_fraction, plan.load_kwargs, seed)
    read_seconds = time.perf_counter() - t0
    emb = _embed_sets(plan, sets)
    if model is not None:
        _give_text_block(model, emb.k)

    # ---- the head ("auto": grouped cross-validation on the training pairs only)
    groups = _prompt_ids(sets.train)
    t0 = time.perf_counter()
    head_auto = None
    if model is None:
        head_auto = choose_head(
            emb.X_train,
            groups=groups,
            sample_weight=sets.train.weight,
            random_state=seed,
            n_text_features=emb.k,
        )
        model = _ensemble_of(head_auto.best_estimator, hp.ensemble, hp.aggregate, seed)
    cv_seconds = time.perf_counter() - t0

    # ---- synthetic pairs (optional) and the fit
    unlabelled = None
    if plan.augment.vae_data is not None:
        a = plan.augment
        unlabelled = _unlabelled_rows(a.vae_data, a.vae_prompts, emb.encoder, emb.store, emb.stats)
    t0 = time.perf_counter()
    fit_inputs = augmented_fit_inputs(
        emb.X_train,
        sample_weight=sets.train.weight,
        margin=sets.train.margin,
        method=plan.augment.method,
        factor=plan.augment.factor,
        estimator=model,
        random_state=seed,
        groups=groups,
        unlabelled=unlabelled,
        report_pairs=emb.X_test,
    )
    augment_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    _fit(model, fit_inputs, hp)
    seconds = StageSeconds(
        read=read_seconds,
        embed=emb.seconds,
        cv=cv_seconds,
        augment=augment_seconds,
        fit=time.perf_counter() - t0,
    )

    # ---- the report (and, with out, the model folder)
    report = _report(plan, sets, emb, model, fit_inputs, head_auto, unlabelled, seconds)
    logger.info(
        "trained %s on %d pairs (+%d synthetic)", report.model, report.n_train, report.n_synthetic
    )
    if plan.out is not None:
        _save(plan, sets, model, report, emb.encoder)
    return model, report


def _checked(plan: _TrainPlan) -> _TrainPlan:
    """``plan`` with its whole numbers checked; refuses a bad method, output or ``vae_data``."""
    check_in(plan.augment.method, tuple(METHODS), name="augment")
    head = replace(
        plan.head,
        ensemble=check_whole(plan.head.ensemble, name="ensemble", what="heads in the ensemble"),
    )
    seed = check_whole(plan.random_state, name=option("random_state", flag="--seed"), minimum=0)
    a, cache = plan.augment, plan.embedding.cache
    if plan.out is not None:  # a long run must not fail at the very end, nor destroy its input
        check_output(
            plan.out,
            inputs=[_source_path(x) for x in (plan.data, plan.test, a.vae_data, a.vae_prompts)],
            caches=[cache.directory if isinstance(cache, EmbeddingCache) else cache],
            kind="model",
            what=option("out"),
        )
    if a.vae_data is not None and a.method not in ("lens", "pca", "auto"):
        raise ConfigError(
            f"vae_data (unlabelled responses) feeds the latent model of augment 'lens' or 'pca'; augment is {a.method!r}."
        )
    return replace(plan, head=head, random_state=seed)


def _encoder_of(e: _EmbeddingPlan) -> Any:
    """The encoder ``e`` names (with its backend, layout and text features), or the one it holds."""
    if isinstance(e.encoder, str):
        return get_encoder(
            e.encoder,
            backend=e.backend,
            text_features=bool(e.text_features),
            **({} if e.layout is None else {"layout": e.layout}),
        )
    if e.layout is not None and getattr(e.encoder, "layout", e.layout) != e.layout:
        raise ConfigError(
            f"layout={e.layout!r} but the encoder passed has layout {e.encoder.layout!r}; "
            "pass an encoder name, or an encoder built with that layout."
        )
    return e.encoder


def _embed_sets(plan: _TrainPlan, sets: _TrainTestSets) -> _Embedded:
    """The training and test pairs through the encoder and the cache."""
    enc = _encoder_of(plan.embedding)
    method, factor, n = plan.augment.method, plan.augment.factor, len(sets.train)
    if method not in ("none", "auto") and isinstance(factor, (int, np.integer)) and factor >= 1:
        # refused before the embedding, not after it, when the synthetic pairs cannot fit in memory
        check_synthetic_memory(n, n, enc.feature_dim, int(factor))
    cache = plan.embedding.cache
    store = cache if cache is None or isinstance(cache, EmbeddingCache) else EmbeddingCache(cache)
    t0 = time.perf_counter()
    embedded = embed_pairs(sets.train, enc, store)
    stats, X_train, X_test = embedded.stats, embedded.X, None
    if sets.test is not None and len(sets.test):
        embedded = embed_pairs(sets.test, enc, store)
        X_test = embedded.X
        stats.merge(embedded.stats)
    return _Embedded(enc, store, X_train, X_test, stats, time.perf_counter() - t0)


def _fit(model: Any, fit_inputs: Augmentation, hp: _HeadPlan) -> None:
    """The final fit, reported as one progress step."""
    label = f"fit {hp.name}" if hp.ensemble == 1 else f"fit {hp.ensemble} x {hp.name}"
    fitting = track(label, 1, "fits")
    model.fit(
        fit_inputs.X,
        sample_weight=fit_inputs.sample_weight,
        margin=fit_inputs.margin,
        **fit_inputs.fit_params,
    )
    fitting.finish()


def _report(
    plan: _TrainPlan,
    sets: _TrainTestSets,
    emb: _Embedded,
    model: Any,
    fit_inputs: Augmentation,
    head_auto: HeadSelection | None,
    unlabelled: np.ndarray | None,
    seconds: StageSeconds,
) -> TrainReport:
    """The :class:`TrainReport` of a fitted model, with the length baseline fitted beside it."""
    seed, hp, X_test = plan.random_state, plan.head, emb.X_test
    test_metrics, rewards = (None, None) if X_test is None else _test_metrics(model, X_test, seed)
    test_ds = None if X_test is None else sets.test
    baseline_report = _length_baseline(sets.train, test_ds, rewards, seed)
    single = hp.ensemble == 1
    return TrainReport(
        data=_name(plan.data),
        test_data=None if plan.test is None else _name(plan.test),
        head=hp.name,
        model=type(model).__name__,
        params=json_safe(
            model.get_params(deep=False)
            if single
            else {"n_members": int(hp.ensemble), "aggregate": hp.aggregate},
            default=str,
        ),
        encoder=emb.encoder.config(),
        encoder_fingerprint=emb.encoder.fingerprint,
        n_train=len(emb.X_train),
        n_synthetic=len(fit_inputs.X) - len(emb.X_train),
        n_test=0 if X_test is None else len(X_test),
        random_state=int(seed),
        augment=fit_inputs.report,
        train=json_safe(model.metrics_, default=str),
        test=test_metrics,
        ties_left_out=sets.ties,
        duplicates=sets.duplicates,
        seconds=seconds,
        record=_record(plan, emb.encoder, model if single else model.estimator, sets),
        head_auto=head_auto,
        vae_data=None
        if unlabelled is None
        else UnlabelledData(source=_name(plan.augment.vae_data), n_responses=len(unlabelled)),
        truncation=_truncation(emb, sets),
        length_dependence=(
            _length_dependence(model, X_test, sets.test, emb.k, "test")
            if X_test is not None
            else _length_dependence(model, emb.X_train, sets.train, emb.k, "train")
        ),
        cache=emb.stats.cache_use(emb.store),
        length_baseline=baseline_report,
    )


def _record(plan: _TrainPlan, enc: Any, head: Any, sets: _TrainTestSets) -> dict:
    """The reproducibility record: versions, encoder weights and the resolved config."""
    config = {
        "data": _name(plan.data),
        "test": None if plan.test is None else _name(plan.test),
        "encoder": enc.config(),
        "head": plan.head.name,
        "params": head.get_params(deep=False),
        "ensemble": int(plan.head.ensemble),
        "aggregate": plan.head.aggregate,
        "test_fraction": plan.test_fraction,
        "seed": plan.random_state,
        "augment": plan.augment.method,
        "factor": plan.augment.factor,
        "load_kwargs": sets.load_kwargs,
    }
    return json_safe(reproducibility_record(enc, command=plan.command, config=config), default=str)


def _save(
    plan: _TrainPlan,
    sets: _TrainTestSets,
    model: Any,
    report: TrainReport,
    enc: Any,
) -> None:
    """The model folder: the model with its card, ``metrics.json`` and the split."""
    flat = {f"test_{k}": v for k, v in (report.test or {}).items()}
    if report.length_baseline.test is not None:
        flat["test_length_baseline_accuracy"] = report.length_baseline.test.accuracy
    data = plan.data
    licence = data_licence(data.source if isinstance(data, PreferenceDataset) else data)
    save_model(
        model,
        plan.out,
        enc,
        metrics=flat,
        train_data=training_data_summary(sets.train, licence=licence),
        record=report.record,
        length_baseline=report.length_baseline.baseline,
    )
    write_json(Path(plan.out) / "metrics.json", report.to_json())
    write_split(
        plan.out,
        sets.train,
        sets.test,
        data=_name(data),
        test=None if plan.test is None else _name(plan.test),
        random_state=plan.random_state,
        test_fraction=plan.test_fraction,
    )


def _head_from_args(
    head: str, params: Mapping[str, Any] | None, ensemble: int, aggregate: str, seed: int
):
    """The unfitted model ``train_reward_model``'s arguments ask for (a bad name or parameter
    fails here, before any embedding); None for ``head="auto"``, which is chosen later."""
    check_in(head, HEAD_CHOICES, name="head")
    check_in(aggregate, tuple(AGGREGATES), name="aggregate")
    if head == "auto":
        if params:
            raise ConfigError(
                f"head 'auto' chooses the head and its penalty itself; drop the head parameters {sorted(params)}."
            )
        return None
    # JSON lists read as tuples (hidden_sizes)
    model = get_head(
        head,
        random_state=seed,
        **{k: tuple(v) if isinstance(v, list) else v for k, v in (params or {}).items()},
    )
    return _ensemble_of(model, ensemble, aggregate, seed)


def _ensemble_of(model: Any, ensemble: int, aggregate: str, seed: int) -> Any:
    """``model`` itself, or with ``ensemble > 1`` an ensemble of that many of it."""
    if ensemble > 1:
        return RewardEnsemble(
            model, n_members=int(ensemble), aggregate=aggregate, random_state=seed
        )
    return model


@dataclass(frozen=True)
class _TrainTestSets:
    train: PreferenceDataset
    test: PreferenceDataset | None
    ties: DataCounts  # tied pairs left out of each
    duplicates: DataCounts  # exact duplicate pairs found in each
    load_kwargs: dict  # as applied to the training data (the record keeps them)


def _train_test_sets(
    data: Any, test: Any, test_fraction: float, load_kwargs: dict, seed: int
) -> _TrainTestSets:
    """The training and test pairs without their ties: ``test`` when given (read with the same
    keywords, ``limit`` aside), else ``test_fraction`` of ``data``'s prompts held out."""
    dataset, n_ties = _without_ties(_load(data, load_kwargs))
    n_dup = dataset.info.duplicates
    if test is not None:
        test_ds, n_test_ties = _without_ties(
            _load(test, {k: v for k, v in load_kwargs.items() if k != "limit"})
        )
        return _TrainTestSets(
            dataset,
            test_ds,
            DataCounts(n_ties, n_test_ties),
            DataCounts(n_dup, test_ds.info.duplicates),
            load_kwargs,
        )
    if test_fraction > 0:
        train_ds, test_ds = split_by_prompt(dataset, test_fraction=test_fraction, random_state=seed)
        return _TrainTestSets(
            train_ds, test_ds, DataCounts(n_ties, 0), DataCounts(n_dup, 0), load_kwargs
        )
    return _TrainTestSets(dataset, None, DataCounts(n_ties, 0), DataCounts(n_dup, 0), load_kwargs)


def _length_baseline(
    train_ds: PreferenceDataset,
    test_ds: PreferenceDataset | None,
    rewards: np.ndarray | None,
    seed: int,
) -> LengthBaselineReport:
    """The learned length baseline, fitted on the same training pairs, beside the model's
    ``rewards`` on the same test pairs."""
    _, report = length_baseline_beside(
        pair_log_lengths(train_ds.chosen, train_ds.rejected),
        None if test_ds is None else pair_log_lengths(test_ds.chosen, test_ds.rejected),
        rewards,
        sample_weight=train_ds.weight,
        groups=None if test_ds is None else _prompt_ids(test_ds),
        random_state=seed,
    )
    return report


def _test_metrics(model: Any, X_test: np.ndarray, seed: int) -> tuple[dict, np.ndarray]:
    """TRL-named metrics on the test pairs, with the accuracy's 95% interval (``ci_low``,
    ``ci_high``), and the rewards ``(n, 2)`` they come from (chosen first)."""
    rewards = model.predict(X_test.reshape(-1, X_test.shape[2])).reshape(len(X_test), 2)
    metrics = reward_metrics(rewards[:, 0], rewards[:, 1])
    interval = accuracy_with_interval(rewards[:, 0], rewards[:, 1], random_state=seed)
    metrics.update(ci_low=interval.ci_low, ci_high=interval.ci_high)
    return metrics, rewards


SPLIT_FILE = "split.json"
HELD_OUT_FILE = "test.jsonl"


def write_split(
    out: str | os.PathLike,
    train_ds: PreferenceDataset,
    test_ds: PreferenceDataset | None,
    *,
    data: str,
    test: str | None,
    random_state: int,
    test_fraction: float,
) -> None:
    """Write the split beside a saved model: ``split.json`` (the pair ids of each part, how the
    test part was made) and ``test.jsonl`` (the test pairs, when there are any), so that
    ``prefspace evaluate MODEL`` can evaluate on the model's own held-out pairs."""
    out = Path(out)
    if test_ds is not None and len(test_ds) == 0:
        test_ds = None  # no test pairs
    write_json(
        out / SPLIT_FILE,
        {
            "format": "prefspace-split",
            "version": 1,
            "data": data,
            "test": test,
            "how": (
                "test pairs read from the test file"
                if test is not None
                else f"{test_fraction:g} of the pairs held out, grouped by prompt (seed {random_state})"
                if test_ds is not None
                else "no test pairs"
            ),
            "random_state": int(random_state),
            "test_fraction": float(test_fraction),
            "n_train": len(train_ds),
            "n_test": len(test_ds) if test_ds is not None else 0,
            "train_fingerprint": train_ds.fingerprint,
            "test_fingerprint": test_ds.fingerprint if test_ds is not None else None,
            "train_ids": [str(i) for i in train_ds.ids],
            "test_ids": [str(i) for i in test_ds.ids] if test_ds is not None else [],
            "test_file": HELD_OUT_FILE if test_ds is not None else None,
        },
    )
    held_out = out / HELD_OUT_FILE
    if test_ds is not None:
        write_jsonl(held_out, pair_records(test_ds))
    elif held_out.is_file():
        held_out.unlink()  # an earlier run's test pairs are not this model's


def augmented_fit_inputs(
    X,
    *,
    sample_weight=None,
    margin=None,
    method: str = "none",
    factor: int = 4,
    estimator: Any = None,
    random_state: int = 0,
    groups=None,
    unlabelled=None,
    report_pairs=None,
) -> Augmentation:
    """What ``fit`` receives when real pairs with data weights and margins meet synthetic pairs.

    Parameters
    ----------
    X : ndarray (n, 2, dim), the real training pairs (``X[:, 0]`` chosen).
    sample_weight, margin : optional (n,) arrays from the data file (``dataset.weight``,
        ``dataset.margin``).
    method, factor, estimator, random_state, groups, unlabelled, report_pairs : passed to
        :func:`prefspace.synth.augment_pairs` (pass the head you will fit as ``estimator``: it
        is asked which pairs it holds out, and nothing is synthesized from them); with
        ``method="none"`` nothing is synthesized and the inputs come back unchanged.

    Returns
    -------
    Augmentation : ``head.fit(a.X, sample_weight=a.sample_weight, margin=a.margin, **a.fit_params)``.

    - ``X`` (n + m, 2, dim): the real pairs first, unchanged and in order, then ``m`` synthetic.
    - ``sample_weight`` (n + m,) or None. Count weights: each real pair and its synthetic pairs
      together weigh the real pair's data weight (1 without one), shared as ``augment_pairs``
      does (by default half for the real pair, half for its synthetic pairs), so the total
      weight, and with it the head's penalty, is that of the real data. A pair weighted 0 has
      no synthetic pairs. None when there is neither a data weight nor a synthetic pair.
    - ``margin`` (n + m,) or None. Real pairs keep their margin; synthetic pairs get margin 0:
      they inherit which side is preferred, not by how much.
    - ``parent``, ``groups`` (``fit_params``) for the head's ``fit``; ``report``: the
      :class:`~prefspace.synth.AugmentReport` of ``augment_pairs``, or None for ``"none"``.

    Example
    -------
    >>> X = np.random.default_rng(0).normal(size=(20, 2, 4)).astype(np.float32)
    >>> a = augmented_fit_inputs(X, sample_weight=np.full(20, 0.5), margin=np.ones(20),
    ...                          method="perturb", factor=2)
    >>> a.X.shape, float(a.sample_weight[0]), float(a.sample_weight[-1]), float(a.margin[0]), float(a.margin[-1])
    ((60, 2, 4), 0.25, 0.125, 1.0, 0.0)
    """
    X = check_pairs(X)
    n = X.shape[0]
    sample_weight = check_sample_vector(sample_weight, n, name="sample_weight")
    margin = check_sample_vector(margin, n, name="margin")
    if method == "none":
        return Augmentation(
            X=X,
            sample_weight=sample_weight,
            parent=None,
            groups=None if groups is None else np.asarray(groups),
            report=None,
            margin=margin,
        )
    synthesizing = (
        None if method == "auto" else track(f"synthesize {method}", 1, "fits")
    )  # auto reports its folds
    aug = augment_pairs(
        X,
        method=method,
        factor=factor,
        estimator=estimator,
        random_state=random_state,
        sample_weight=sample_weight,
        groups=groups,
        unlabelled=unlabelled,
        report_pairs=report_pairs,
    )
    if synthesizing is not None:
        synthesizing.finish()
    if margin is not None:
        margin = np.concatenate([margin, np.zeros(len(aug.X) - n)])
    return replace(aug, margin=margin)


# ------------------------------------------------------------------------------------ helpers
def _give_text_block(model: Any, k: int) -> None:
    """Tell the head (an ensemble's template too) how many trailing columns are the text-feature block."""
    head = model.estimator if isinstance(model, RewardEnsemble) else model
    if head is not None and "n_text_features" in head.get_params(deep=False):
        head.set_params(n_text_features=int(k))


def _truncation(emb: _Embedded, sets: _TrainTestSets) -> Truncation:
    """How many responses the encoder truncated, from the rows' text-feature block (or, without
    the block, from :func:`prefspace.embed.embed_text_features`, cached)."""
    k, enc = emb.k, emb.encoder
    if k:
        rows = [emb.X_train] + ([] if emb.X_test is None else [emb.X_test])
        block = np.concatenate([X[:, :, -k:].reshape(-1, k) for X in rows])
    else:
        texts = [*sets.train.chosen, *sets.train.rejected]
        if sets.test is not None:
            texts += [*sets.test.chosen, *sets.test.rejected]
        block = embed_text_features(texts, enc, emb.store)
    return Truncation(
        **truncation_summary(block),
        long_texts=(enc.config() or {}).get("long_texts", "truncate"),
        token_limit=enc.token_limit,
    )


def _length_dependence(model: Any, X, dataset: Any, k: int, which: str) -> ModelLengthDependence:
    """The reward's within-prompt correlation with log length on the responses of ``X`` (each
    pair's two responses share a prompt), the share of its variance the text-feature block
    explains (with the block), and the correlation of the length-controlled reward."""
    rows = X.reshape(-1, X.shape[2])  # chosen, rejected, chosen, ... as the pairs go
    texts = [t for pair in zip(dataset.chosen, dataset.rejected) for t in pair]
    groups = np.repeat(np.arange(len(X)), 2)
    d = length_dependence(
        model.predict(rows), texts, groups=groups, text_block=rows[:, -k:] if k else None
    )
    controlled = (
        length_dependence(model.predict(rows, length_controlled=True), texts, groups=groups)
        if k
        else None
    )
    return ModelLengthDependence(
        within_prompt_length_corr=json_number(d.within_prompt_length_corr),
        n_responses=d.n_responses,
        text_feature_share=json_number(d.text_feature_share),
        length_controlled_corr=(
            None if controlled is None else json_number(controlled.within_prompt_length_corr)
        ),
        responses=which,
        has_text_block=bool(k),
    )


def _prompt_ids(dataset: PreferenceDataset) -> np.ndarray:
    """One integer per pair, the same for pairs with the same prompt (validation and CV groups)."""
    _, ids = np.unique(
        np.array([canonical_prompt(p) for p in dataset.prompts], dtype=object).astype(str),
        return_inverse=True,
    )
    return ids.ravel().astype(np.int64)


def _unlabelled_rows(
    source: Any, prompts: Any, encoder: Any, store: Any, stats: Any = None
) -> np.ndarray:
    """Rows of responses without labels, embedded like the training pairs' responses."""
    if isinstance(source, np.ndarray):
        return source
    pool = read_responses(source, prompts=prompts)
    if len(pool) == 0:
        raise ConfigError(f"{source}: no responses to fit the latent model on.")
    return embed_responses(pool.row_prompts(), list(pool.responses), encoder, store, stats=stats)


def _source_path(source: Any) -> Any:
    """The file or folder ``source`` was read from, for the output guard (None for arrays)."""
    if isinstance(source, (str, os.PathLike)):
        return source
    origin = getattr(source, "source", None)
    return origin if isinstance(origin, (str, os.PathLike)) else None


def _load(source: Any, load_kwargs: dict) -> PreferenceDataset:
    if isinstance(source, PreferenceDataset):
        return source
    return load_preferences(source, **load_kwargs)


def _without_ties(dataset: PreferenceDataset) -> tuple[PreferenceDataset, int]:
    """The dataset without its kept ties (a tie states no preference), and how many there were."""
    if dataset.tie is None or not dataset.tie.any():
        return dataset, 0
    n_ties = int(dataset.tie.sum())
    logger.info("%s: %d tied pairs left out (a tie states no preference)", dataset.source, n_ties)
    return dataset.select(np.flatnonzero(~dataset.tie)), n_ties


def _name(source: Any) -> str:
    if isinstance(source, np.ndarray):
        return "array"
    return (source.source or repr(source)) if isinstance(source, PreferenceDataset) else str(source)
