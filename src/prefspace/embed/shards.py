"""Planning embedding work for more than one process: what is missing, sliced, and computed.

The local pipeline (:func:`prefspace.embed.embed_pairs`) decides and computes in one call. To
spread the work over many jobs, this module splits that into steps every backend shares:

1. :func:`plan_pairs` / :func:`plan_responses` list, per role, the distinct items the cache
   lacks, exactly those ``embed_pairs`` / ``embed_responses`` would compute, sorted by length
   (then text) so batches pad little and every run orders them the same way;
2. with ``num_shards > 1`` each plan keeps one deterministic slice: a key belongs to shard
   ``sha256(key) mod num_shards`` (:func:`shard_of`), so the slices are disjoint, cover
   everything, and do not depend on the machine, the run or the order of the data;
3. :func:`compute_plan` embeds a plan in this process and writes it to the cache in whole,
   atomic shards (``EmbeddingCache.write_shard``); the Ray backend
   (:mod:`prefspace.embed.ray_backend`) computes the same plan on a cluster instead.

A batch-scheduler array job runs slice ``i`` of ``n`` per task, each into its own cache (or one
shared cache folder), then ``prefspace cache merge`` joins them. Afterwards ``embed_pairs`` on
the merged cache computes nothing.

What this module does not do: assemble the rows a model sees (``embed_pairs`` does that from
the filled cache), or start processes.

Example
-------
>>> from prefspace.data import load_preferences
>>> from prefspace.embed import get_encoder
>>> dataset = load_preferences("../shared/data/hh_rlhf/harmless-base-test.jsonl.gz", limit=8)
>>> enc, cache = get_encoder(), EmbeddingCache("emb-0")
>>> plans = plan_pairs(dataset, enc, cache, num_shards=4, shard_index=0)  # slice 0 of 4
>>> stats = compute_plan(plans, enc, cache)  # about a quarter of the distinct texts
>>> stats.computed, stats.total
({'prompt': 2, 'text': 2}, {'prompt': 8, 'text': 16})
>>> [len(p) for p in plan_pairs(dataset, enc, cache, num_shards=4, shard_index=0)]  # slice 0 is done
[0, 0]
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validation import check_whole
from ..exceptions import ConfigError, DataError
from .cache import EmbeddingCache, text_digest
from .encoder import ROLES, Encoder, item_keys
from .pipeline import (
    DEFAULT_SHARD_SIZE,
    EmbedProgress,
    EmbedStats,
    ProgressCallback,
    checked_batch_size,
    pair_response_rows,
)

logger = logging.getLogger(__name__)


def check_shard_args(num_shards: int, shard_index: int) -> tuple[int, int]:
    """Validate ``--num-shards N --shard-index I``: ``N >= 1`` and ``0 <= I < N``."""
    num_shards = check_whole(num_shards, name="num_shards")
    if (
        isinstance(shard_index, bool)
        or not isinstance(shard_index, (int, np.integer))
        or not 0 <= shard_index < num_shards
    ):
        raise ConfigError(
            f"shard_index must be an integer in [0, {num_shards - 1}] for num_shards={num_shards}; "
            f"got {shard_index!r}. Slurm array tasks usually pass --shard-index $SLURM_ARRAY_TASK_ID "
            f"with --array=0-{num_shards - 1}."
        )
    return int(num_shards), int(shard_index)


def shard_of(key: str, num_shards: int) -> int:
    """The slice a cache key belongs to: the first 8 bytes of its sha256, modulo ``num_shards``.

    Stable across runs, machines and Python versions (no ``hash()`` randomisation).

    Example
    -------
    >>> shard_of("hello", 4) == shard_of("hello", 4)
    True
    """
    return int.from_bytes(text_digest(key)[:8], "big") % num_shards


@dataclass
class WorkPlan:
    """The items of one role that still need embedding.

    Attributes
    ----------
    role : {"text", "prompt", "joint"}
    namespace : str, the cache fingerprint of the role (``encoder.role_fingerprint(role)``)
    keys : list of str, the distinct cache keys to compute, sorted by (length, key)
    items : list, ``items[i]`` is what the encoder embeds for ``keys[i]`` (str, messages or a
        ``(prompt, response)`` tuple)
    total : int, distinct items of this role in the data (all slices)
    cached : int, of those, already in the cache
    skipped : int, missing items left to other slices
    """

    role: str
    namespace: str
    keys: list = field(default_factory=list)
    items: list = field(default_factory=list)
    total: int = 0
    cached: int = 0
    skipped: int = 0

    def __len__(self) -> int:
        return len(self.keys)


def plan_items(
    role: str,
    items: Sequence[Any],
    encoder: Encoder,
    cache: EmbeddingCache | None,
    *,
    num_shards: int = 1,
    shard_index: int = 0,
) -> WorkPlan:
    """What :func:`prefspace.embed.embed_items` would compute for ``items`` (one slice of it).

    Parameters
    ----------
    role : {"text", "prompt", "joint"}
    items : sequence of length n (strings, prompts, or ``(prompt, response)`` tuples)
    encoder : Encoder
    cache : EmbeddingCache or None (None: everything is missing)
    num_shards, shard_index : int
        Keep only keys with ``shard_of(key, num_shards) == shard_index``.

    Returns
    -------
    WorkPlan
    """
    if role not in ROLES:
        raise ConfigError(f"role must be one of {', '.join(map(repr, ROLES))}; got {role!r}.")
    num_shards, shard_index = check_shard_args(num_shards, shard_index)
    items = list(items)
    first: dict[str, int] = {}
    for i, k in enumerate(item_keys(role, items)):
        first.setdefault(k, i)
    namespace = encoder.role_fingerprint(role)
    todo = cache.missing(namespace, first) if cache is not None else list(first)
    n_missing = len(todo)
    if num_shards > 1:
        todo = [k for k in todo if shard_of(k, num_shards) == shard_index]
    todo.sort(key=lambda k: (len(k), k))
    return WorkPlan(
        role=role,
        namespace=namespace,
        keys=todo,
        items=[items[first[k]] for k in todo],
        total=len(first),
        cached=len(first) - n_missing,
        skipped=n_missing - len(todo),
    )


def plan_responses(
    prompts: Sequence[Any],
    responses: Sequence[str],
    encoder: Encoder,
    cache: EmbeddingCache | None,
    *,
    num_shards: int = 1,
    shard_index: int = 0,
) -> list[WorkPlan]:
    """The work :func:`prefspace.embed.embed_responses` needs: one plan per role of the layout.

    Separate layout: ``[prompt plan, text plan]``; joint layout: ``[joint plan]``.
    """
    prompts, responses = list(prompts), list(responses)
    if len(prompts) != len(responses):
        raise DataError(
            f"got {len(prompts)} prompts but {len(responses)} responses; they must pair up."
        )
    kw = dict(num_shards=num_shards, shard_index=shard_index)
    if encoder.layout == "joint":
        return [plan_items("joint", list(zip(prompts, responses)), encoder, cache, **kw)]
    return [
        plan_items("prompt", prompts, encoder, cache, **kw),
        plan_items("text", responses, encoder, cache, **kw),
    ]


def plan_pairs(
    dataset: Any,
    encoder: Encoder,
    cache: EmbeddingCache | None,
    *,
    num_shards: int = 1,
    shard_index: int = 0,
) -> list[WorkPlan]:
    """The work :func:`prefspace.embed.embed_pairs` needs for a PreferenceDataset (one slice of it)."""
    for name in ("prompts", "chosen", "rejected"):
        if not hasattr(dataset, name):
            raise DataError(
                f"plan_pairs needs a PreferenceDataset (with .{name}); got {type(dataset).__name__}. "
                "Load one with prefspace.data.load_preferences."
            )
    return plan_responses(
        *pair_response_rows(dataset),
        encoder,
        cache,
        num_shards=num_shards,
        shard_index=shard_index,
    )


def plan_stats(plans: Sequence[WorkPlan]) -> EmbedStats:
    """Per-role counts of a plan before it runs: distinct, cached, and to compute (this slice)."""
    stats = EmbedStats()
    for p in plans:
        stats.add(p.role, p.total, p.cached, len(p))
    return stats


# --------------------------------------------------------------------------------------------
# Item transport: plans travel between processes as plain strings (keys and JSON items)
# --------------------------------------------------------------------------------------------
def encode_item(key: str, item: Any) -> str:
    """A string that :func:`decode_item` turns back into ``item`` ("" when the item is its key)."""
    if isinstance(item, str) and item == key:
        return ""
    return json.dumps(item, ensure_ascii=False)


def decode_item(role: str, key: str, payload: str) -> Any:
    """Inverse of :func:`encode_item`; joint items come back as ``(prompt, response)`` tuples."""
    if payload == "":
        return key
    item = json.loads(payload)
    return tuple(item) if role == "joint" else item


# --------------------------------------------------------------------------------------------
# The local backend: this process computes the plan, shard by shard
# --------------------------------------------------------------------------------------------
def compute_plan(
    plans: Sequence[WorkPlan],
    encoder: Encoder,
    cache: EmbeddingCache,
    *,
    batch_size: int | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    progress: ProgressCallback | None = None,
) -> EmbedStats:
    """Embed every planned item in this process and write it to ``cache`` in atomic shards.

    Each shard holds ``shard_size`` consecutive keys of the plan (the last one fewer), so a run
    killed at any point loses at most one shard of work and a rerun (after planning again)
    computes only what is still missing. Nothing is returned but counts: read vectors back with
    ``cache.get`` or ``embed_pairs``.

    Returns
    -------
    EmbedStats with, per role, distinct items, cached ones and computed ones.
    """
    batch_size = checked_batch_size(batch_size, shard_size, encoder)
    stats = plan_stats(plans)
    if any(len(p) for p in plans):
        encoder.load()
    config = encoder.config()
    start = time.perf_counter()
    for plan in plans:
        role_start = time.perf_counter()
        done = 0

        def report(n: int, plan: WorkPlan = plan, t0: float = role_start) -> None:
            if progress is not None:
                progress(
                    EmbedProgress.of(
                        plan.role, plan.total, plan.cached, len(plan), n, time.perf_counter() - t0
                    )
                )

        if len(plan):
            report(0)
        for s in range(0, len(plan), shard_size):
            keys, items = plan.keys[s : s + shard_size], plan.items[s : s + shard_size]
            parts = []
            for b in range(0, len(keys), batch_size):
                batch = items[b : b + batch_size]
                parts.append(encoder.encode_role(plan.role, batch))
                done += len(batch)
                report(done)
            cache.write_shard(plan.namespace, keys, np.concatenate(parts), encoder_config=config)
        logger.info(
            "%s: computed %d of %d distinct (%d cached, %d left to other slices)",
            plan.role,
            len(plan),
            plan.total,
            plan.cached,
            plan.skipped,
        )
    stats.seconds = time.perf_counter() - start
    return stats


__all__ = [
    "WorkPlan",
    "check_shard_args",
    "shard_of",
    "plan_items",
    "plan_responses",
    "plan_pairs",
    "plan_stats",
    "compute_plan",
    "encode_item",
    "decode_item",
]
