"""Embed a preference file into the cache: what ``prefspace embed`` runs.

:func:`embed_file` loads the pairs, builds the encoder and embeds every distinct prompt and
response once through the cache, here or on Ray, all of it or one slice of it
(``num_shards``/``shard_index``, for batch-scheduler array jobs). It returns an
:class:`EmbedRun` with the counts; the command prints it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._progress import ProgressCallback
from ..data import load_preferences
from ..embed import EmbeddingCache, embed_pairs, get_encoder
from ..embed.pipeline import EmbedStats
from ..embed.shards import check_shard_args, compute_plan, plan_pairs
from ..exceptions import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["EmbedRun", "embed_file", "fill_cache", "encoder_or_name"]


@dataclass(frozen=True)
class EmbedRun:
    """What one ``embed_file`` run did.

    Attributes
    ----------
    data : the source as given
    encoder : the encoder used (its ``config()``, ``fingerprint``, ``layout``, ``feature_dim``)
    cache_dir : the cache folder
    stats : distinct, cached and computed texts per role, and the embedding seconds
    n_pairs : pairs assembled, or None for one slice of several (the other slices are missing)
    num_shards, shard_index : the slice this run embedded (1 and 0: everything)
    total_seconds : wall time of the run, loading included
    """

    data: str
    encoder: Any
    cache_dir: Path
    stats: EmbedStats
    n_pairs: int | None
    num_shards: int
    shard_index: int
    total_seconds: float

    @property
    def new_texts(self) -> int:
        return sum(self.stats.computed.values())

    @property
    def cached_texts(self) -> int:
        return sum(self.stats.cached.values())

    def to_json(self) -> dict:
        """The summary ``prefspace embed --json`` prints (slice runs name their slice instead of
        the pair count and the encoder's layout)."""
        out: dict[str, Any] = {"data": self.data}
        if self.n_pairs is not None:
            out["pairs"] = self.n_pairs
        # the cache's key (the vectors'); the rows' fingerprint adds the text-feature block
        out.update(
            encoder=self.encoder.config(),
            fingerprint=self.encoder.vectors_fingerprint,
            row_fingerprint=self.encoder.fingerprint,
        )
        if self.n_pairs is not None:
            out.update(layout=self.encoder.layout, feature_dim=self.encoder.feature_dim)
        out["cache"] = str(self.cache_dir)
        if self.n_pairs is None:
            out.update(num_shards=self.num_shards, shard_index=self.shard_index)
        out.update(
            distinct=self.stats.total,
            cached=self.stats.cached,
            computed=self.stats.computed,
            new_texts=self.new_texts,
            cached_texts=self.cached_texts,
            embed_seconds=round(self.stats.seconds, 3),
            total_seconds=round(self.total_seconds, 3),
        )
        return out


def embed_file(
    data: str | os.PathLike,
    *,
    encoder: str = "all-MiniLM-L6-v2",
    backend: str = "auto",
    encoder_options: Mapping[str, Any] | None = None,
    cache: str | os.PathLike,
    load_kwargs: Mapping[str, Any] | None = None,
    engine: str = "local",
    num_shards: int = 1,
    shard_index: int = 0,
    num_workers: int | None = None,
    gpus_per_worker: float = 0,
    ray_address: str | None = None,
    batch_size: int | None = None,
    shard_size: int = 1024,
    progress: ProgressCallback | None = None,
) -> EmbedRun:
    """Embed every prompt and response of ``data`` into ``cache``; each distinct text once.

    Parameters
    ----------
    data : anything :func:`prefspace.data.load_preferences` reads (with ``load_kwargs``)
    encoder, backend, encoder_options : :func:`prefspace.embed.get_encoder`'s name, backend and
        keywords (``layout``, ``layer``, ``pooling``, ``max_length``, ``device``, ``text_features``,
        ``long_texts``)
    cache : the cache folder (created when missing; temporary files of killed runs are removed)
    engine : ``"local"`` (this process) or ``"ray"`` (with ``num_workers``, ``gpus_per_worker``,
        ``ray_address``)
    num_shards, shard_index : embed only slice ``shard_index`` of ``num_shards`` of the missing
        texts (by text hash); the pairs are then not assembled
    batch_size, shard_size : texts per forward pass and new texts per cache shard
    progress : receives a :class:`prefspace._progress.ProgressEvent` per embedded batch

    Returns
    -------
    EmbedRun
    """
    start = time.perf_counter()
    dataset = load_preferences(data, **dict(load_kwargs or {}))
    enc = get_encoder(encoder, backend=backend, **dict(encoder_options or {}))
    store = EmbeddingCache(cache)
    store.remove_temp_files()  # left by killed runs on this machine
    fill = None
    if (
        engine == "ray"
        or num_shards > 1
        or shard_index
        or num_workers
        or gpus_per_worker
        or ray_address
    ):
        fill = fill_cache(
            dataset,
            enc,
            store,
            engine=engine,
            num_shards=num_shards,
            shard_index=shard_index,
            num_workers=num_workers,
            gpus_per_worker=gpus_per_worker,
            ray_address=ray_address,
            batch_size=batch_size,
            shard_size=shard_size,
            progress=progress,
        )
    n_pairs = None
    if num_shards == 1:  # with several slices there is nothing to assemble: the others are missing
        pairs = embed_pairs(
            dataset,
            enc,
            store,
            batch_size=batch_size,
            shard_size=shard_size,
            progress=progress if fill is None else None,
        )
        n_pairs = len(pairs)
    # what a fill computed, not the read-back (several slices always go through fill_cache)
    stats = fill if fill is not None else pairs.stats
    logger.info("embedded %s with %s", data, enc.fingerprint)
    return EmbedRun(
        data=str(data),
        encoder=enc,
        cache_dir=Path(cache),
        stats=stats,
        n_pairs=n_pairs,
        num_shards=num_shards,
        shard_index=shard_index,
        total_seconds=time.perf_counter() - start,
    )


def fill_cache(
    dataset: Any,
    encoder: Any,
    cache: Any,
    *,
    engine: str,
    num_shards: int,
    shard_index: int,
    num_workers: int | None,
    gpus_per_worker: float,
    ray_address: str | None,
    batch_size: int | None,
    shard_size: int,
    progress: Any,
) -> EmbedStats:
    """Embed the missing texts of ``dataset`` (this job's slice) into ``cache``; returns EmbedStats."""
    check_shard_args(num_shards, shard_index)
    if engine == "local" and (num_workers is not None or gpus_per_worker or ray_address):
        raise ConfigError(
            "--num-workers, --gpus-per-worker and --ray-address apply to --backend ray; "
            "add --backend ray or drop them."
        )
    plans = plan_pairs(dataset, encoder, cache, num_shards=num_shards, shard_index=shard_index)
    if engine == "ray":
        from ..embed.ray_backend import compute_plan_ray  # ray is optional and slow to import

        return compute_plan_ray(
            plans,
            encoder,
            cache,
            num_workers=num_workers,
            gpus_per_worker=gpus_per_worker,
            address=ray_address,
            batch_size=batch_size,
            shard_size=shard_size,
            progress=progress,
        )
    return compute_plan(
        plans, encoder, cache, batch_size=batch_size, shard_size=shard_size, progress=progress
    )


# what train_reward_model and synthesize_file take beside an encoder's name
_WORKFLOW_OPTIONS = frozenset({"layout", "text_features"})


def encoder_or_name(
    name: str, backend: str = "auto", options: Mapping[str, Any] | None = None
) -> Any:
    """The ``encoder`` argument for a workflow that takes an encoder's name with its ``layout`` and
    ``text_features``: the name itself, or, when ``options`` hold more (``long_texts``,
    ``max_length``, ...), the encoder :func:`prefspace.embed.get_encoder` builds with them all.

    Example
    -------
    >>> encoder_or_name("all-MiniLM-L6-v2", options={"layout": "joint"})
    'all-MiniLM-L6-v2'
    """
    options = dict(options or {})
    if set(options) <= _WORKFLOW_OPTIONS:
        return name
    return get_encoder(name, backend=backend, **options)
