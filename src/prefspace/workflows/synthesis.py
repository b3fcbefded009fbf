"""Synthesize pairs from a preference file, with diagnostics: what ``prefspace synth`` runs.

:func:`synthesize_file` loads and embeds the pairs, fits one synthesizer on all of them, writes
the synthetic pairs with their provenance, and (unless told not to) the diagnostics and their
plots. :func:`diagnostic_grid` holds the choices of which training sizes and which ``sigma2``
values the diagnostics visit, at three levels of cost:

- ``"none"``: no diagnostics;
- ``"fast"`` (the default): the reconstruction on held-out pairs without a refit where the fit
  holds pairs out (LENS: the pairs it held out to stop the VAE's training), else (PCA) refits at
  two training sizes (the smallest usual size and two thirds of the pairs), and the label check
  at the synthesizer's own ``sigma2`` and factor only;
- ``"full"``: six sizes and four ``sigma2`` values a factor 4 apart, at factors 2, 4 and 8.

The diagnostics refit the synthesizer once per training size, so ``"full"`` can cost several
times the synthesis itself; their time is reported (``seconds["diagnostics"]``). The part that
needs the real pairs alone (the curve's refits, the label check's cross-fitted reference heads)
runs on a second thread while the synthesizer fits, each on one BLAS thread: on two cores it
costs no wall time, and the figures are those of running the parts one after another.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import write_text_atomic
from .._jsonsafe import dumps
from .._paths import check_output
from .._progress import ProgressCallback, report_progress, track
from .._surface import option
from .._validation import check_in, check_whole
from ..data import PreferenceDataset, load_preferences
from ..embed import EmbeddingCache, embed_pairs, get_encoder
from ..embed.pipeline import CacheUse
from ..synth import diagnostics as diag
from ..synth import get_synthesizer
from ..synth.base import check_synthetic_memory
from ..synth.io import save_synthetic

logger = logging.getLogger(__name__)

__all__ = [
    "SynthesisSummary",
    "SynthesisSeconds",
    "Reconstruction",
    "HeldOutReconstruction",
    "synthesize_file",
    "diagnostic_grid",
    "MIN_PAIRS_FOR_DIAGNOSTICS",
    "DIAGNOSTIC_LEVELS",
]

# Below this many real pairs the held-out third and the cross-fitting folds are too small to say anything.
MIN_PAIRS_FOR_DIAGNOSTICS = 10
_CURVE_SIZES = (25, 50, 100, 250, 500, 1000)
_SIGMA2S = (0.0025, 0.01, 0.04, 0.16)
_FACTORS = (2, 4, 8)
DIAGNOSTIC_LEVELS = ("none", "fast", "full")


def diagnostic_grid(
    n_pairs: int, sigma2: float | None = None, level: str = "full", factor: int = 4
) -> tuple[list[int], list[float], list[int]]:
    """The training sizes of the reconstruction curve, and the ``sigma2`` values and factors of
    the label check, for a diagnostics ``level`` (``"fast"`` or ``"full"``).

    Sizes: ``"full"``: the usual steps (25 ... 1000 pairs) that fit in two thirds of ``n_pairs``
    (the last third measures held-out reconstruction), plus two thirds itself; ``"fast"``: the
    smallest of those and two thirds. ``sigma2`` values: ``"full"``: four steps a factor 4 apart
    around the LENS paper's 0.01, plus the synthesizer's own ``sigma2``, at factors 2, 4 and 8;
    ``"fast"``: the synthesizer's own ``sigma2`` (the paper's 0.01 without one) at ``factor``.

    >>> diagnostic_grid(90, 0.02)
    ([25, 50, 60], [0.0025, 0.01, 0.02, 0.04, 0.16], [2, 4, 8])
    >>> diagnostic_grid(900, 0.01, "fast", factor=4)
    ([25, 600], [0.01], [4])
    """
    check_in(level, DIAGNOSTIC_LEVELS[1:], name="diagnostics")
    top = (2 * int(n_pairs)) // 3
    steps = sorted({s for s in _CURVE_SIZES if s <= top} | {top})
    if level == "fast":
        return (
            sorted({steps[0], top}),
            [float(sigma2) if sigma2 is not None else 0.01],
            [int(factor)],
        )
    sigma2s = sorted(set(_SIGMA2S) | ({float(sigma2)} if sigma2 is not None else set()))
    return steps, sigma2s, list(_FACTORS)


@dataclass(frozen=True)
class SynthesisSeconds:
    """Wall time of each stage of :func:`synthesize_file`, in seconds: ``embed`` (reading
    included), ``fit``, ``sample``, ``save``, ``diagnostics`` (None without them: the time they
    add after the synthetic pairs are saved), ``diagnostic_parts`` (each part's own time,
    wherever it ran: ``reconstruction_curve``, ``label_preservation``, ``plots``; the first two
    are begun beside the fit, so they may add up to more than ``diagnostics``), ``total``."""

    embed: float
    fit: float
    sample: float
    save: float
    total: float
    diagnostics: float | None = None
    diagnostic_parts: dict[str, float] | None = None

    def to_json(self) -> dict:
        """The stages in the order they ran; the diagnostics' only when they ran."""
        out: dict[str, Any] = {"embed": self.embed, "fit": self.fit, "sample": self.sample}
        out["save"] = self.save
        if self.diagnostics is not None:
            out.update(diagnostic_parts=self.diagnostic_parts, diagnostics=self.diagnostics)
        return {**out, "total": self.total}


@dataclass(frozen=True)
class HeldOutReconstruction:
    """The share of the response variance a latent model keeps on pairs held out of its fit:
    ``variance_kept`` on them after a fit on ``fit_pairs`` others; ``pairs``: ``"refit"`` or
    ``"early_stopping"`` (which held-out pairs, see :func:`synthesize_file`)."""

    variance_kept: float
    fit_pairs: int
    pairs: str


@dataclass(frozen=True)
class Reconstruction:
    """How much of the response variance a latent synthesizer's code keeps: ``recon_mse`` and
    ``variance_kept`` on the pairs it was fitted on, ``latent_dim``; ``heldout``: a
    :class:`HeldOutReconstruction` when the diagnostics measured it (else None)."""

    recon_mse: float
    variance_kept: float
    latent_dim: int
    heldout: HeldOutReconstruction | None = None

    @classmethod
    def from_json(cls, r: Mapping[str, Any]) -> Reconstruction:
        """The figures from their JSON form (``summary.json``'s ``reconstruction``)."""
        heldout = None
        if r.get("heldout_variance_kept") is not None:
            heldout = HeldOutReconstruction(
                r["heldout_variance_kept"], r["heldout_fit_pairs"], r["heldout_pairs"]
            )
        return cls(r["recon_mse"], r["variance_kept"], r["latent_dim"], heldout)

    def to_json(self) -> dict:
        """The figures by name; the held-out ones, prefixed ``heldout_``, only when measured."""
        out = {"recon_mse": self.recon_mse, "variance_kept": self.variance_kept}
        out["latent_dim"] = self.latent_dim
        if self.heldout is not None:
            out.update({f"heldout_{k}": v for k, v in asdict(self.heldout).items()})
        return out


@dataclass(frozen=True)
class SynthesisSummary:
    """What :func:`synthesize_file` did; :meth:`to_json` is what ``summary.json`` holds.

    Attributes
    ----------
    data, pairs : the real pairs' source and how many there were
    method, factor, params : the synthesizer's name, synthetic pairs per real pair, and its
        ``get_params()``
    synthetic_pairs : how many pairs were synthesized
    encoder, encoder_fingerprint, feature_dim : the encoder's config and fingerprint, the
        width of a row
    shared_columns : the columns every row shares (left unchanged by the synthesizer)
    seconds : :class:`SynthesisSeconds`, wall time by stage
    files : the files written, by role (a role's None: not written)
    cache : :class:`prefspace.embed.CacheUse`, the embedding cache used and what it held
    reconstruction : latent synthesizers: :class:`Reconstruction` (else None)
    diagnostics : the level run (``"none"``, ``"fast"``, ``"full"``)
    reconstruction_curve, label_preservation : the diagnostics' rows (None without them;
        the curve only for latent synthesizers)
    """

    data: str
    pairs: int
    method: str
    factor: int
    synthetic_pairs: int
    params: dict
    encoder: dict
    encoder_fingerprint: str
    feature_dim: int
    shared_columns: int
    seconds: SynthesisSeconds
    files: dict
    cache: CacheUse
    reconstruction: Reconstruction | None
    diagnostics: str
    reconstruction_curve: list[dict] | None
    label_preservation: list[dict] | None

    @classmethod
    def from_json(cls, summary: Mapping[str, Any]) -> SynthesisSummary:
        """The summary from its JSON form (``summary.json``)."""
        values: dict[str, Any] = {f.name: summary.get(f.name) for f in fields(cls)}
        recon = summary.get("reconstruction")
        values["seconds"] = SynthesisSeconds(**summary["seconds"])
        values["cache"] = CacheUse(**summary["cache"])
        values["reconstruction"] = None if recon is None else Reconstruction.from_json(recon)
        return cls(**values)

    def to_json(self) -> dict:
        """The JSON-able summary written as ``summary.json``; the parts not measured (None)
        are left out."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        for part in ("seconds", "cache", "reconstruction"):
            out[part] = None if out[part] is None else out[part].to_json()
        return {k: v for k, v in out.items() if v is not None or k not in _OPTIONAL_PARTS}


_OPTIONAL_PARTS = ("reconstruction", "reconstruction_curve", "label_preservation")


def synthesize_file(
    data: str | os.PathLike | PreferenceDataset,
    out: str | os.PathLike,
    *,
    encoder: Any = "all-MiniLM-L6-v2",
    encoder_backend: str = "auto",
    cache: EmbeddingCache | str | os.PathLike | None = None,
    method: str = "lens",
    factor: int = 4,
    params: Mapping[str, Any] | None = None,
    random_state: int = 0,
    diagnostics: str | bool = "fast",
    load_kwargs: Mapping[str, Any] | None = None,
    figure_format: str = "png",
    progress: ProgressCallback | None = None,
) -> SynthesisSummary:
    """Synthesize ``factor`` pairs per real pair of ``data`` into the folder ``out``.

    Writes ``synthetic.safetensors`` and ``provenance.csv`` (:mod:`prefspace.synth.io`),
    ``summary.json`` and, with ``diagnostics`` other than ``"none"`` and at least
    :data:`MIN_PAIRS_FOR_DIAGNOSTICS` pairs, ``reconstruction.png`` (latent synthesizers only),
    ``label_preservation.png`` and ``projection.png`` (plus ``.svg``/``.pdf`` copies with
    ``figure_format``).

    Parameters
    ----------
    data : path or str or PreferenceDataset
        The real pairs (anything ``load_preferences`` reads, with ``load_kwargs``).
    encoder, cache : an encoder name or encoder; an embedding cache or its folder (optional)
    encoder_backend : ``backend`` for :func:`~prefspace.embed.get_encoder` when ``encoder`` is a name
    method, params : a synthesizer name (:data:`prefspace.synth.SYNTHESIZERS`) and its
        parameters (``sigma2``, ``latent_dim``, ...); unknown ones are refused
    factor, random_state : synthetic pairs per real pair; the seed of the synthesizer and diagnostics
    diagnostics : ``"none"``, ``"fast"`` (default) or ``"full"`` (see the module docstring);
        ``True`` means ``"full"`` and ``False`` ``"none"``
    progress : a :data:`~prefspace._progress.ProgressCallback` for the embedding, the fit and
        the diagnostics

    Returns
    -------
    A :class:`SynthesisSummary`, whose :meth:`~SynthesisSummary.to_json` is written to
    ``summary.json``: ``data``, ``pairs``, ``method``, ``factor``,
    ``synthetic_pairs``, ``params``, ``encoder``, ``encoder_fingerprint``, ``feature_dim``,
    ``shared_columns``, ``seconds`` (``embed`` (reading included), ``fit``, ``sample``, ``save``,
    ``diagnostics`` with ``diagnostic_parts``: ``reconstruction_curve``, ``label_preservation``
    and ``plots``; ``total``),
    ``files``, ``diagnostics`` (the level run); ``reconstruction`` for latent synthesizers (on
    the pairs it was fitted on; with diagnostics also ``heldout_variance_kept`` and
    ``heldout_fit_pairs``: the variance kept on pairs held out from a fit on
    ``heldout_fit_pairs`` others); with diagnostics ``label_preservation`` and (latent synthesizers)
    ``reconstruction_curve``. ``reconstruction.heldout_pairs`` says which held-out pairs:
    ``"refit"`` (a refit on two thirds of the pairs, measured on the others: ``full``, and
    ``fast`` for PCA) or ``"early_stopping"`` (``fast`` with LENS: the tenth of the pairs the
    fit held out to stop the VAE's training, which costs no refit but chose the kept weights).
    """
    if isinstance(diagnostics, bool):
        diagnostics = "full" if diagnostics else "none"
    check_in(diagnostics, DIAGNOSTIC_LEVELS, name="diagnostics")
    with report_progress(progress):
        return _synthesize(
            data,
            Path(out),
            encoder=encoder,
            encoder_backend=encoder_backend,
            cache=cache,
            method=method,
            factor=factor,
            params=params,
            seed=random_state,
            diagnostics=diagnostics,
            load_kwargs=load_kwargs,
            figure_format=figure_format,
        )


def _synthesize(
    data,
    out: Path,
    *,
    encoder,
    encoder_backend,
    cache,
    method,
    factor,
    params,
    seed,
    diagnostics,
    load_kwargs,
    figure_format,
) -> SynthesisSummary:
    start = time.perf_counter()
    seed = check_whole(seed, name=option("random_state", flag="--seed"), minimum=0)
    source = getattr(data, "source", None) if isinstance(data, PreferenceDataset) else data
    check_output(
        out,
        inputs=[source],
        caches=[getattr(cache, "directory", cache)],
        kind="folder",
        what=option("out"),
    )
    synthesizer = get_synthesizer(method, random_state=seed, **dict(params or {}))

    dataset = (
        data
        if isinstance(data, PreferenceDataset)
        else load_preferences(data, **dict(load_kwargs or {}))
    )
    enc = get_encoder(encoder, backend=encoder_backend) if isinstance(encoder, str) else encoder
    if isinstance(factor, (int, np.integer)) and not isinstance(factor, bool) and factor >= 1:
        # refused before the embedding when the synthetic pairs cannot fit in memory
        check_synthetic_memory(len(dataset), len(dataset), enc.feature_dim, int(factor))
    store = cache if cache is None or isinstance(cache, EmbeddingCache) else EmbeddingCache(cache)
    pairs = embed_pairs(dataset, enc, store)
    seconds = {"embed": round(time.perf_counter() - start, 3)}
    n = len(pairs.X)
    run_diagnostics = diagnostics != "none" and n >= MIN_PAIRS_FOR_DIAGNOSTICS
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefspace-diagnostics") as side:
        # what the diagnostics need of the real pairs alone (the reconstruction curve's refits,
        # the label check's reference heads) is computed beside the fit, on another core
        early = (
            side.submit(_real_pair_diagnostics, pairs.X, synthesizer, diagnostics, factor, seed)
            if run_diagnostics
            else None
        )
        syn = _fit_sample_save(synthesizer, pairs, factor, out, _Clock(seconds), method, early)
        before = None if early is None else early.result()
    summary: dict = {
        "data": dataset.source if isinstance(data, PreferenceDataset) else str(data),
        "pairs": n,
        "method": method,
        "factor": factor,
        "synthetic_pairs": len(syn),
        "params": synthesizer.get_params(),
        "encoder": enc.config(),
        "encoder_fingerprint": pairs.fingerprint,
        "feature_dim": int(pairs.X.shape[2]),
        "shared_columns": int(synthesizer.shared_mask_.sum()),
        "seconds": seconds,
        "files": {"pairs": "synthetic.safetensors", "provenance": "provenance.csv"},
        "cache": pairs.stats.cache_use(store).to_json(),
    }
    latent = hasattr(synthesizer, "reconstruction_report")
    if latent:
        summary["reconstruction"] = synthesizer.reconstruction_report()
    summary["diagnostics"] = diagnostics
    if before is not None:
        t0 = time.perf_counter()
        _diagnose(summary, pairs.X, synthesizer, syn, out, before, figure_format)
        summary["seconds"]["diagnostics"] = round(time.perf_counter() - t0, 3)
    elif diagnostics != "none":
        logger.warning(
            "%s: %d pairs are too few for the diagnostics (at least %d); none written",
            summary["data"],
            n,
            MIN_PAIRS_FOR_DIAGNOSTICS,
        )
    summary["seconds"]["total"] = round(time.perf_counter() - start, 3)
    text = dumps(
        summary, indent=2, default=str
    )  # NaN (e.g. a diagnostic with nothing to measure) as null
    write_text_atomic(out / "summary.json", text)
    return SynthesisSummary.from_json(json.loads(text))


def _fit_sample_save(synthesizer, pairs, factor, out: Path, clock: _Clock, method: str, beside):
    """Fit ``synthesizer`` on the embedded ``pairs``, sample ``factor`` per pair and save them.
    ``beside`` (a future or None): the work begun beside the fit, awaited before sampling, so
    that sampling runs under the same thread counts as with nothing beside it."""
    fitting = track(f"fit {method}", 1, "fits")
    synthesizer.fit(pairs.X)
    fitting.finish()
    if beside is not None:
        beside.result()
    clock.lap("fit")
    syn = synthesizer.sample(factor)
    clock.lap("sample")
    out.mkdir(parents=True, exist_ok=True)
    save_synthetic(
        out,
        syn,
        parent_ids=list(pairs.ids),
        metadata={
            "encoder_fingerprint": pairs.fingerprint,
            "dataset_fingerprint": pairs.dataset_fingerprint,
        },
    )
    clock.lap("save")
    return syn


@dataclass
class _BeforeFit:
    """The diagnostics' work on the real pairs alone, done beside the synthesizer's fit: the
    reconstruction curve's rows at ``sizes`` (None for a synthesizer without a latent model),
    the label check with its cross-fitted reference heads fitted and its grid bound (it wants
    the fitted synthesizer and its sample), and the seconds each took."""

    level: str
    seed: int
    sizes: list[int]
    curve: list[dict] | None
    label_check: Callable[..., list[dict]]
    seconds: dict[str, float]


def _real_pair_diagnostics(X, synthesizer, level: str, factor, seed: int) -> _BeforeFit:
    """What :func:`_diagnose` needs that does not depend on the fit (run on another thread)."""
    from ..synth.augment import CrossFittedReference

    grid = diagnostic_grid(len(X), synthesizer.get_params().get("sigma2"), level, factor)
    seconds: dict[str, float] = {}
    clock = _Clock(seconds)
    curve = None
    if hasattr(synthesizer, "reconstruction_report"):
        # "fast" refits nothing here: the pairs the fit itself holds out (early stopping) give
        # the held-out reconstruction (a synthesizer that holds none out, as PCA, is refitted
        # after its fit)
        curve = (
            diag.reconstruction_curve(X, synthesizer, grid[0], random_state=seed)
            if level == "full"
            else []
        )
        clock.lap("reconstruction_curve")
    reference = CrossFittedReference(X, random_state=seed)
    label_check = partial(
        diag.label_preservation, reference=reference, sigma2s=grid[1], factors=grid[2]
    )
    clock.lap("label_preservation")
    return _BeforeFit(level, seed, grid[0], curve, label_check, seconds)


def _diagnose(
    summary: dict, X, synthesizer, syn, out: Path, before: _BeforeFit, figure_format
) -> None:
    """Finish the diagnostics begun by ``before`` on the real pairs ``X`` and the synthetic
    ``syn``, write their plots into ``out`` and their figures into ``summary``."""
    sizes, seed, latent = before.sizes, before.seed, before.curve is not None
    parts = track(f"diagnostics ({before.level})", 3 if latent else 2, "parts")
    clock = _Clock(summary["seconds"].setdefault("diagnostic_parts", {}))
    clock.seconds.update(before.seconds)
    if before.curve is not None:  # a latent model
        own = diag.own_heldout_row(X, synthesizer) if before.level == "fast" else None
        curve = list(before.curve)
        if before.level == "fast" and own is None:  # the fit held nothing out: refit instead
            curve += diag.reconstruction_curve(X, synthesizer, sizes, random_state=seed)
        clock.lap("reconstruction_curve")
        curve = sorted(curve + ([own] if own else []), key=lambda r: r["n_pairs"])
        summary["reconstruction_curve"] = curve
        top = own or (max(curve, key=lambda r: r["n_pairs"]) if curve else None)
        if top is not None:
            summary["reconstruction"]["heldout_variance_kept"] = top["heldout_variance_kept"]
            summary["reconstruction"]["heldout_fit_pairs"] = top["n_pairs"]
            summary["reconstruction"]["heldout_pairs"] = "early_stopping" if own else "refit"
        diag.plot_reconstruction(curve, out / "reconstruction.png", figure_format=figure_format)
        clock.lap("plots")
        parts.advance(detail="reconstruction curve")
    pres = before.label_check(X, synthesizer, sampled=syn)
    clock.lap("label_preservation")
    summary["label_preservation"] = pres
    diag.plot_label_preservation(pres, out / "label_preservation.png", figure_format=figure_format)
    clock.lap("plots")
    parts.advance(detail="label preservation")
    diag.plot_projection(
        X, syn, out / "projection.png", random_state=seed, figure_format=figure_format
    )
    clock.lap("plots")  # the projection's principal components included
    parts.advance(detail="projection")
    summary["files"].update(
        reconstruction="reconstruction.png" if latent else None,
        label_preservation="label_preservation.png",
        projection="projection.png",
    )


class _Clock:
    """Adds the seconds since the previous lap to ``seconds[name]`` (rounded to milliseconds)."""

    def __init__(self, seconds: dict) -> None:
        self.seconds, self.last = seconds, time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(self.seconds.get(name, 0.0) + now - self.last, 3)
        self.last = now
