"""The Ray backend: embed a plan on a Ray cluster (or a local Ray), writing the same cache shards.

How a run goes (:func:`compute_plan_ray`):

1. the driver turns the plan (:mod:`prefspace.embed.shards`, the texts the cache lacks) into rows
   ``{role, key, item}`` and hands them to Ray Data (``ray.data.from_items``), in the plan's
   length-sorted order, so each batch holds texts of similar length;
2. ``map_batches`` runs a fixed pool of ``num_workers`` actors; each actor rebuilds the encoder
   once from ``encoder.config()`` (refusing to run if its model files give another fingerprint
   than the driver's, e.g. a node with different weights) and asks for ``gpus_per_worker`` GPUs;
3. the vectors stream back to the driver (``iter_batches``), which writes them with
   ``EmbeddingCache.write_shard``: whole shards of ``shard_size`` texts, each written atomically.

Only the driver writes to the cache. Actors on other nodes may not see the driver's filesystem
(or may see a network filesystem where a rename is not atomic), and one writer keeps the
guarantees of the local backend: a job killed at any point leaves only whole shards, and a
rerun plans again and embeds only what is still missing. The price is that the vectors travel
through Ray's object store to the driver (4 bytes x dim per text: 16 KiB per text for a 4096-d
model, small next to the forward pass).

Ray is optional (``pip install 'prefspace[ray]'``). It is imported only inside the functions of
this module; nothing else in prefspace imports it.

Example
-------
The two lines that use Ray start a Ray cluster, so they are skipped when the docstring examples
run; tests/embed/test_ray_backend.py runs the same steps.

>>> from prefspace.data import load_preferences
>>> from prefspace.embed import EmbeddingCache, embed_pairs, get_encoder
>>> from prefspace.embed.shards import plan_pairs
>>> dataset = load_preferences("../shared/data/hh_rlhf/harmless-base-test.jsonl.gz", limit=20)
>>> enc, cache = get_encoder(), EmbeddingCache("emb")
>>> plans = plan_pairs(dataset, enc, cache)
>>> stats = compute_plan_ray(plans, enc, cache, num_workers=2)  # doctest: +SKIP
>>> embed_pairs(dataset, enc, cache).stats.computed  # everything is cached now  # doctest: +SKIP
{'prompt': 0, 'text': 0}
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..exceptions import ConfigError
from .cache import EmbeddingCache
from .encoder import Encoder
from .pipeline import (
    DEFAULT_SHARD_SIZE,
    EmbedProgress,
    EmbedStats,
    ProgressCallback,
    checked_batch_size,
)
from .shards import WorkPlan, decode_item, encode_item, plan_stats

logger = logging.getLogger(__name__)

# Passed to the workers of a local Ray we start, so they run offline like this process does.
_FORWARDED_ENV = (
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "HF_HOME",
    "TOKENIZERS_PARALLELISM",
    "PREFSPACE_HOME",
)


def import_ray() -> Any:
    """The ``ray`` module, or a ConfigError that says how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401 - the Data library is a separate extra of Ray
    except ImportError as exc:
        raise ConfigError(
            f"the Ray backend needs Ray Data, which is not installed ({exc}). Install it with "
            "pip install 'prefspace[ray]' (or pip install 'ray[data]'), or use --backend local."
        ) from None
    return ray


def connect_ray(address: str | None = None, *, num_cpus: int | None = None) -> bool:
    """Make sure this process is connected to Ray; returns True when this call connected.

    Parameters
    ----------
    address : str, optional
        A cluster to join (``"ray://host:10001"``, ``"host:6379"``, ``"auto"``). Default:
        ``$RAY_ADDRESS`` when set (as inside ``ray job submit``), otherwise a new local Ray
        with ``num_cpus`` CPUs, no dashboard and quiet logs.
    num_cpus : int, optional
        CPUs of a local Ray (default: all of this machine's).

    A process already connected (``ray.is_initialized()``) keeps its connection.
    """
    ray = import_ray()
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        logger.info("connecting to the Ray cluster at %s", address)
        ray.init(address=address, logging_level=logging.WARNING)
    else:
        env = {k: os.environ[k] for k in _FORWARDED_ENV if k in os.environ}
        logger.info("starting a local Ray with %s CPUs", num_cpus or "all")
        ray.init(
            num_cpus=num_cpus,
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=False,
            runtime_env={"env_vars": env} if env else None,
        )
    return True


class _BatchEncoder:
    """A Ray Data actor: one encoder per actor, loaded once, applied to batches of planned rows."""

    def __init__(self, config: dict, fingerprint: str) -> None:
        from prefspace.embed.registry import encoder_from_config

        self.encoder = encoder_from_config(config, expected_fingerprint=fingerprint).load()

    def __call__(self, batch: dict) -> dict:
        roles, keys, payloads = batch["role"], batch["key"], batch["item"]
        out = np.empty((len(keys), self.encoder.dim), dtype=np.float32)
        for role in sorted(set(roles.tolist())):
            idx = np.flatnonzero(roles == role)
            items = [decode_item(role, str(keys[i]), str(payloads[i])) for i in idx]
            out[idx] = self.encoder.encode_role(role, items)
        return {"role": roles, "key": keys, "vector": out}


def _pool_size(
    ray: Any, num_workers: int | None, cpus_per_worker: float, gpus_per_worker: float
) -> int:
    if num_workers is not None:
        if num_workers < 1:
            raise ConfigError(f"num_workers must be >= 1; got {num_workers}.")
        return int(num_workers)
    resources = ray.cluster_resources()
    if gpus_per_worker:
        return max(1, int(resources.get("GPU", 0) // gpus_per_worker))
    return max(1, int(resources.get("CPU", 1) // cpus_per_worker))


def compute_plan_ray(
    plans: Sequence[WorkPlan],
    encoder: Encoder,
    cache: EmbeddingCache,
    *,
    num_workers: int | None = None,
    gpus_per_worker: float = 0,
    cpus_per_worker: float = 1,
    address: str | None = None,
    batch_size: int | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    progress: ProgressCallback | None = None,
) -> EmbedStats:
    """Embed every planned item with a pool of Ray actors; the driver writes the cache shards.

    Parameters
    ----------
    plans : list of WorkPlan
        From :func:`prefspace.embed.shards.plan_pairs` (or ``plan_responses``/``plan_items``).
    encoder : Encoder
        Rebuilt on every actor from ``encoder.config()``; its model files must be at the same
        path on every node (a shared filesystem, or the same install).
    cache : EmbeddingCache
        Written by this process only.
    num_workers : int, optional
        Actors in the pool (default: as many as the cluster's GPUs, or CPUs, allow).
    gpus_per_worker, cpus_per_worker : float
        Resources each actor asks for (``gpus_per_worker=1`` puts one model per GPU).
    address : str, optional
        The Ray cluster (default ``$RAY_ADDRESS``, else a local Ray; see :func:`connect_ray`).
    batch_size : int, optional
        Texts per forward pass on an actor (default: the encoder's).
    shard_size : int
        Texts per cache shard.

    Returns
    -------
    EmbedStats with, per role, distinct items, cached ones and computed ones.
    """
    batch_size = checked_batch_size(batch_size, shard_size, encoder)
    if gpus_per_worker < 0 or cpus_per_worker <= 0:
        raise ConfigError(
            f"gpus_per_worker must be >= 0 and cpus_per_worker > 0; got {gpus_per_worker} and {cpus_per_worker}."
        )
    stats = plan_stats(plans)
    rows = [
        {"role": p.role, "key": k, "item": encode_item(k, it)}
        for p in plans
        for k, it in zip(p.keys, p.items)
    ]
    if not rows:
        return stats

    # -- connect, size the pool, refuse a request the cluster can never meet ---------------------
    ray = import_ray()
    local = not (address or os.environ.get("RAY_ADDRESS")) and not ray.is_initialized()
    cpus = int(math.ceil(num_workers * cpus_per_worker)) if (local and num_workers) else None
    connect_ray(address, num_cpus=cpus)
    workers = _pool_size(ray, num_workers, cpus_per_worker, gpus_per_worker)
    _check_gpus(ray, gpus_per_worker, local)
    _quiet_ray_data()

    # -- the pipeline: rows -> actors -> driver ----------------------------------------------------
    n_blocks = max(1, min(len(rows), max(4 * workers, math.ceil(len(rows) / batch_size))))
    ds = ray.data.from_items(rows, override_num_blocks=n_blocks)
    ds = ds.map_batches(
        _BatchEncoder,
        fn_constructor_kwargs={"config": encoder.config(), "fingerprint": encoder.fingerprint},
        batch_size=batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=cpus_per_worker,
        num_gpus=gpus_per_worker or None,
    )
    logger.info(
        "ray: embedding %d texts with %d actors (%g GPUs, %g CPUs each), batch %d",
        len(rows),
        workers,
        gpus_per_worker,
        cpus_per_worker,
        batch_size,
    )

    # -- write whole shards as results stream back ---------------------------------------------------
    start = time.perf_counter()
    done = _write_stream(ds, plans, cache, encoder.config(), shard_size, progress)
    if sum(done.values()) != len(rows):  # a bug, not a user error: say so rather than cache less
        raise RuntimeError(f"Ray returned {sum(done.values())} embeddings for {len(rows)} texts.")
    stats.seconds = time.perf_counter() - start
    logger.info("ray: %d texts embedded in %.1f s", len(rows), stats.seconds)
    return stats


def _check_gpus(ray: Any, gpus_per_worker: float, local: bool) -> None:
    """Refuse GPUs the cluster does not have: the actors would wait forever, unless an
    autoscaling cluster is about to add GPU nodes (``PREFSPACE_RAY_WAIT_FOR_GPUS=1``)."""
    have_gpus = ray.cluster_resources().get("GPU", 0)
    if not gpus_per_worker or have_gpus >= gpus_per_worker:
        return
    message = (
        f"--gpus-per-worker {gpus_per_worker:g} asks for GPUs, but the Ray cluster has {have_gpus:g}. "
        "Run on a cluster with GPUs, or drop --gpus-per-worker to embed on CPUs."
    )
    if local or os.environ.get("PREFSPACE_RAY_WAIT_FOR_GPUS", "") in ("", "0"):
        raise ConfigError(
            message
            + (
                " If the cluster adds GPU nodes on demand, set PREFSPACE_RAY_WAIT_FOR_GPUS=1 "
                "to wait for them."
                if not local
                else ""
            )
        )
    logger.warning(
        "%s Waiting for the cluster to add GPU nodes (PREFSPACE_RAY_WAIT_FOR_GPUS=1).", message
    )


def _quiet_ray_data() -> None:
    """No Ray Data progress bars or run banners (the library does not print); its INFO lines
    only when prefspace logs INFO too."""
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.enable_auto_log_stats = False
    logging.getLogger("ray.data._internal.progress").setLevel(
        logging.ERROR
    )  # "progress bars disabled"
    if not logger.isEnabledFor(logging.INFO):
        logging.getLogger("ray.data").setLevel(logging.WARNING)


def _write_stream(
    ds: Any,
    plans: Sequence[WorkPlan],
    cache: EmbeddingCache,
    config: dict,
    shard_size: int,
    progress: ProgressCallback | None,
) -> dict[str, int]:
    """Write the vectors streaming back from the actors as whole cache shards, per role; return
    how many texts of each role came back."""
    by_role = {p.role: p for p in plans}
    pending: dict[str, tuple[list, list]] = {p.role: ([], []) for p in plans}
    done = {p.role: 0 for p in plans}
    start = time.perf_counter()

    def flush(role: str, final: bool) -> None:
        keys, parts = pending[role]
        while keys and (final or len(keys) >= shard_size):
            vectors = np.concatenate(parts) if len(parts) > 1 else parts[0]
            cache.write_shard(
                by_role[role].namespace,
                keys[:shard_size],
                vectors[:shard_size],
                encoder_config=config,
            )
            keys, parts = keys[shard_size:], [vectors[shard_size:]]
        pending[role] = (keys, parts if keys else [])

    if progress is not None:  # start the clocks now: actor start-up is part of the wait
        for p in plans:
            if len(p):
                progress(EmbedProgress.of(p.role, p.total, p.cached, len(p), 0, 0.0))
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
        roles, keys, vectors = (
            batch["role"],
            batch["key"],
            np.asarray(batch["vector"], dtype=np.float32),
        )
        for role in sorted(set(roles.tolist())):
            idx = np.flatnonzero(roles == role)
            pending[role][0].extend(str(k) for k in keys[idx])
            pending[role][1].append(vectors[idx])
            done[role] += len(idx)
            flush(role, final=False)
            if progress is not None:
                p = by_role[role]
                progress(
                    EmbedProgress.of(
                        role, p.total, p.cached, len(p), done[role], time.perf_counter() - start
                    )
                )
    for role in pending:
        flush(role, final=True)
    return done


__all__ = ["compute_plan_ray", "connect_ray", "import_ray"]
