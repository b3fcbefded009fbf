"""From texts and pairs to the float32 rows a reward model sees, through the cache.

``embed_responses`` is the one function that makes a response row; training (``embed_pairs``)
and serving both call it, so their features always match.

How a batch of work runs (``embed_items``):

1. the items are keyed (exact text, see :func:`prefspace.embed.encoder.item_keys`) and
   de-duplicated, so a prompt shared by many pairs is embedded once;
2. the keys the cache lacks are sorted by length (then text), so batches hold texts of similar
   length (less padding) and the order is the same in every run;
3. they are embedded in batches and written to the cache one shard at a time, so a run killed
   at any point loses at most one shard of work, and a resumed run cuts the remaining work into
   exactly the shards an uninterrupted run would have written;
4. the result is read back from the cache (or, without a cache, assembled in memory).

This module never prints; pass ``progress`` to follow along.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .._progress import ProgressCallback, ProgressEvent, track
from .._validation import check_text_list
from ..data.text_features import TEXT_FEATURE_NAMES
from ..exceptions import ConfigError, DataError
from .cache import EmbeddingCache
from .encoder import ROLES, Encoder, first_places, item_keys

logger = logging.getLogger(__name__)

DEFAULT_SHARD_SIZE = 1024
# how a role's work is named in progress reports (``prefspace._progress``)
ROLE_LABELS = {"prompt": "prompts", "text": "responses", "joint": "prompt+response texts"}


@dataclass(frozen=True, kw_only=True)
class EmbedProgress(ProgressEvent):
    """The embed stage's progress: a :class:`~prefspace._progress.ProgressEvent` (stage
    ``"embed <role label>"``, ``done`` of ``total`` new texts embedded) that also says, for
    ``role``, how many distinct texts were asked for (``n_distinct``), how many of them were
    already ``cached``, and the seconds since this role started computing (``elapsed``).
    """

    role: str
    n_distinct: int
    cached: int
    elapsed: float = 0.0

    @property
    def to_compute(self) -> int:
        return int(self.total or 0)

    @classmethod
    def of(
        cls,
        role: str,
        n_distinct: int,
        cached: int,
        to_compute: int,
        done: int,
        elapsed: float = 0.0,
    ) -> EmbedProgress:
        return cls(
            f"embed {ROLE_LABELS.get(role, role)}",
            done,
            to_compute,
            "texts",
            role=role,
            n_distinct=n_distinct,
            cached=cached,
            elapsed=elapsed,
        )


@dataclass
class EmbedStats:
    """Counts of distinct items per role: how many were asked for, found cached, computed."""

    total: dict = field(default_factory=dict)
    cached: dict = field(default_factory=dict)
    computed: dict = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, role: str, total: int, cached: int, computed: int) -> None:
        self.total[role] = self.total.get(role, 0) + total
        self.cached[role] = self.cached.get(role, 0) + cached
        self.computed[role] = self.computed.get(role, 0) + computed

    def merge(self, other: EmbedStats | None) -> EmbedStats:
        """Add ``other``'s counts to these (several embedding calls of one command); returns self."""
        if other is not None:
            for role in other.total:
                self.add(
                    role, other.total[role], other.cached.get(role, 0), other.computed.get(role, 0)
                )
            self.seconds += other.seconds
        return self

    def cache_use(self, cache: Any) -> CacheUse:
        """What a command reports about its cache (``cache``: the cache or its folder, or None).

        Example
        -------
        >>> st = EmbedStats(); st.add("text", 10, 7, 3); st.add("prompt", 4, 4, 0)
        >>> st.cache_use("emb")
        CacheUse(path='emb', texts=14, found=11, embedded=3)
        >>> describe_cache_use(st.cache_use("emb"))
        'cache emb: 11 of 14 texts found, 3 embedded'
        """
        path = getattr(cache, "directory", cache)
        return CacheUse(
            path=None if path is None else str(path),
            texts=int(sum(self.total.values())),
            found=int(sum(self.cached.values())),
            embedded=int(sum(self.computed.values())),
        )


@dataclass(frozen=True)
class CacheUse:
    """The embedding cache a command used and what it held: ``texts`` distinct texts asked for,
    ``found`` in the cache, ``embedded`` now; ``path`` None without a cache."""

    path: str | None
    texts: int
    found: int
    embedded: int

    def to_json(self) -> dict:
        """``{"path", "texts", "found", "embedded"}``, as commands' summaries and ``metrics.json`` hold it."""
        return asdict(self)

    def describe(self) -> str:
        """One line for a command's output: which cache, how many texts were found there."""
        if self.path is None:
            return f"no cache: {self.texts:,} texts embedded"
        return f"cache {self.path}: {self.found:,} of {self.texts:,} texts found, {self.embedded:,} embedded"


def describe_cache_use(use: CacheUse | Mapping[str, Any]) -> str:
    """One line for a command's output: which cache, how many texts were found there.

    ``use`` is a :class:`CacheUse`, or its :meth:`CacheUse.to_json` form as a command's JSON
    summary holds it.
    """
    return (use if isinstance(use, CacheUse) else CacheUse(**use)).describe()


def checked_batch_size(batch_size: int | None, shard_size: int, encoder: Encoder) -> int:
    """``batch_size`` (default: the encoder's ``default_batch_size``), refused with
    ``shard_size`` unless both are at least 1."""
    batch_size = int(batch_size or encoder.default_batch_size)
    if batch_size < 1 or shard_size < 1:
        raise ConfigError(
            f"batch_size and shard_size must be >= 1; got {batch_size} and {shard_size}."
        )
    return batch_size


def pair_response_rows(dataset: Any) -> tuple[list, list[str]]:
    """The ``(prompts, responses)`` rows of a dataset's pairs: every chosen response, then every
    rejected one, each beside its prompt (row ``i`` and row ``n + i`` are pair ``i``)."""
    return list(dataset.prompts) * 2, list(dataset.chosen) + list(dataset.rejected)


def _as_cache(cache: Any) -> EmbeddingCache | None:
    if cache is None or isinstance(cache, EmbeddingCache):
        return cache
    return EmbeddingCache(cache)


def embed_items(
    role: str,
    items: Sequence[Any],
    encoder: Encoder,
    cache: EmbeddingCache | str | os.PathLike | None = None,
    *,
    batch_size: int | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    progress: ProgressCallback | None = None,
    stats: EmbedStats | None = None,
) -> np.ndarray:
    """Vectors for the items of one role, computing only what the cache lacks.

    Parameters
    ----------
    role : {"text", "prompt", "joint"}
        ``"text"``: strings; ``"prompt"``: prompts (str or messages); ``"joint"``:
        ``(prompt, response)`` tuples.
    items : sequence of length n
    encoder : Encoder
    cache : EmbeddingCache, path or None
    batch_size : int, optional
        Items per forward pass (default: the encoder's ``default_batch_size``).
    shard_size : int
        New items per cache shard (the most work a killed run can lose).
    progress : callable, optional
        Called with an :class:`EmbedProgress` after every batch. Without it, the work is
        reported to the progress callback listening in this context, if any
        (``prefspace._progress.report_progress``), as the stage ``"embed <role label>"``.

    Returns
    -------
    ndarray of shape (n, dim), float32
    """
    if role not in ROLES:
        raise ConfigError(f"role must be one of {', '.join(map(repr, ROLES))}; got {role!r}.")
    cache = _as_cache(cache)
    batch_size = checked_batch_size(batch_size, shard_size, encoder)
    items = list(items)
    keys = item_keys(role, items)

    # 1. distinct keys, each with one representative item; 2. what the cache lacks, in order
    first = first_places(keys)
    namespace = encoder.role_fingerprint(role)
    todo = missing_keys(cache, namespace, first)
    n_cached = len(first) - len(todo)
    if stats is not None:
        stats.add(role, len(first), n_cached, len(todo))
    logger.info("%s: %d distinct, %d cached, %d to embed", role, len(first), n_cached, len(todo))

    # 3. embed shard by shard (the model is loaded first, so rates measure embedding only)
    if todo:
        encoder.load()
    report = _progress_reporter(role, progress, len(first), n_cached, len(todo))
    computed: dict[str, np.ndarray] = {}
    config = encoder.config()
    done = 0
    for s in range(0, len(todo), shard_size):
        shard_keys = todo[s : s + shard_size]
        parts = []
        for b in range(0, len(shard_keys), batch_size):
            batch = [items[first[k]] for k in shard_keys[b : b + batch_size]]
            parts.append(encoder.encode_role(role, batch))
            done += len(batch)
            if report:
                report(done)
        _keep(cache, namespace, shard_keys, np.concatenate(parts), computed, config)

    # 4. assemble
    return _gather(cache, namespace, first, computed, keys, encoder.dim)


def missing_keys(
    cache: EmbeddingCache | None, namespace: str, first: Mapping[str, int]
) -> list[str]:
    """The distinct keys the cache lacks (all of them without a cache), in a deterministic,
    length-sorted order of the work."""
    todo = cache.missing(namespace, list(first)) if cache is not None else list(first)
    todo.sort(key=lambda k: (len(k), k))
    return todo


def _keep(
    cache: EmbeddingCache | None,
    namespace: str,
    keys: list[str],
    rows: np.ndarray,
    computed: dict[str, np.ndarray],
    config: dict,
) -> None:
    """Rows computed now: a shard of the cache, or into ``computed`` without a cache."""
    if cache is not None:
        cache.write_shard(namespace, keys, rows, encoder_config=config)
    else:
        computed.update(zip(keys, rows))


def _gather(
    cache: EmbeddingCache | None,
    namespace: str,
    first: dict[str, int],
    computed: dict[str, np.ndarray],
    keys: Sequence[str],
    width: int,
) -> np.ndarray:
    """Row ``i`` for ``keys[i]``, from the cache or (without one) from ``computed``; float32
    ``(len(keys), width)``."""
    if not keys:
        return np.zeros((0, width), np.float32)
    if cache is not None:
        distinct = cache.get(namespace, list(first))
    else:
        distinct = np.stack([computed[k] for k in first])
    where = {k: j for j, k in enumerate(first)}
    return np.ascontiguousarray(distinct[[where[k] for k in keys]], dtype=np.float32)


def _progress_reporter(
    role: str, progress: ProgressCallback | None, n_distinct: int, n_cached: int, n_todo: int
):
    """What to call with the texts embedded so far: ``progress`` with an :class:`EmbedProgress`
    (told 0 at once), else the stage tracker listening in this context; None without work."""
    if progress:
        start = time.perf_counter()

        def report(done):
            elapsed = time.perf_counter() - start
            return progress(EmbedProgress.of(role, n_distinct, n_cached, n_todo, done, elapsed))

        report(0)
        return report
    if n_todo:
        return track(f"embed {ROLE_LABELS[role]}", n_todo, "texts").update
    return None


def embed_texts(
    texts: Sequence[str],
    encoder: Encoder,
    cache: EmbeddingCache | str | os.PathLike | None = None,
    *,
    batch_size: int | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    progress: ProgressCallback | None = None,
) -> np.ndarray:
    """Embed texts alone (``encoder.encode``), each distinct text once, through the cache.

    Returns ndarray of shape (n, dim), float32, row ``i`` for ``texts[i]``.

    Example
    -------
    >>> from prefspace.embed import get_encoder
    >>> E = embed_texts(["a", "b", "a"], get_encoder(), cache="emb")
    >>> E.shape, bool((E[0] == E[2]).all())
    ((3, 384), True)
    """
    return embed_items(
        "text",
        check_text_list(texts),
        encoder,
        cache,
        batch_size=batch_size,
        shard_size=shard_size,
        progress=progress,
    )


def embed_text_features(
    texts: Sequence[str], encoder: Encoder, cache: EmbeddingCache | str | os.PathLike | None = None
) -> np.ndarray:
    """The text-feature block of each text, as ``encoder`` sees it: float32 ``(n, 8)``.

    Each distinct text is measured once (:meth:`Encoder.text_feature_rows`: length, structure,
    the encoder's token count and truncation) and, with a cache, stored beside the embeddings
    under :attr:`Encoder.text_features_namespace`, so a text is measured once across runs. The
    block is the same whether or not ``encoder.text_features`` is on; turning it on makes
    :func:`embed_responses` append it to every row.
    """
    texts = list(texts)
    if not texts:
        return np.zeros((0, len(TEXT_FEATURE_NAMES)), dtype=np.float32)
    cache = _as_cache(cache)
    first = first_places(texts)
    namespace = encoder.text_features_namespace
    todo = missing_keys(cache, namespace, first)
    computed: dict[str, np.ndarray] = {}
    config = encoder.config()
    for s in range(0, len(todo), DEFAULT_SHARD_SIZE * 16):
        chunk = todo[s : s + DEFAULT_SHARD_SIZE * 16]
        _keep(cache, namespace, chunk, encoder.text_feature_rows(chunk), computed, config)
    if todo:
        logger.info("text features: %d distinct texts, %d measured now", len(first), len(todo))
    return _gather(cache, namespace, first, computed, texts, len(TEXT_FEATURE_NAMES))


def embed_responses(
    prompts: Sequence[Any],
    responses: Sequence[str],
    encoder: Encoder,
    cache: EmbeddingCache | str | os.PathLike | None = None,
    *,
    batch_size: int | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    progress: ProgressCallback | None = None,
    stats: EmbedStats | None = None,
) -> np.ndarray:
    """The row a reward model sees for each (prompt, response): float32 ``(n, feature_dim)``.

    Separate layout: ``[encode_prompts(prompt), encode(response)]`` (``2 * dim``); joint layout:
    ``encode_joint(prompt, response)`` (``dim``). With ``encoder.text_features`` on, the
    response's text-feature block (:func:`embed_text_features`) follows. Training, scoring and
    serving all call this function.

    Parameters
    ----------
    prompts : list of str or messages, length n
    responses : list of str, length n

    Example
    -------
    >>> from prefspace.embed import get_encoder
    >>> enc = get_encoder()
    >>> embed_responses(["2+2?", "2+2?"], ["4", "5"], enc).shape
    (2, 768)
    """
    prompts, responses = list(prompts), list(responses)
    if len(prompts) != len(responses):
        raise DataError(
            f"got {len(prompts)} prompts but {len(responses)} responses; they must pair up."
        )
    for i, r in enumerate(responses):
        if not isinstance(r, str):
            raise DataError(f"responses[{i}] must be a string; got {type(r).__name__}.")
    cache = _as_cache(cache)

    def role_rows(role: str, items: Sequence[Any]) -> np.ndarray:
        return embed_items(
            role,
            items,
            encoder,
            cache,
            batch_size=batch_size,
            shard_size=shard_size,
            progress=progress,
            stats=stats,
        )

    if encoder.layout == "joint":
        parts = [role_rows("joint", list(zip(prompts, responses)))]
    else:
        parts = [role_rows("prompt", prompts), role_rows("text", responses)]
    if encoder.text_features:
        parts.append(embed_text_features(responses, encoder, cache))
    return np.ascontiguousarray(np.concatenate(parts, axis=1), dtype=np.float32)


@dataclass
class PairEmbeddings:
    """Embedded preference pairs, ready for a reward head.

    Attributes
    ----------
    X : ndarray of shape (n_pairs, 2, feature_dim), float32; ``X[:, 0]`` the chosen response
    ids : list of str, the pair ids
    fingerprint : str, the encoder's fingerprint
    encoder_config : dict, ``encoder.config()``
    layout : "separate" or "joint"
    dataset_fingerprint : str, the dataset's content hash
    stats : EmbedStats, distinct texts per role, cached versus computed
    """

    X: np.ndarray
    ids: list
    fingerprint: str
    encoder_config: dict
    layout: str
    dataset_fingerprint: str
    stats: EmbedStats

    def __len__(self) -> int:
        return len(self.X)

    def __repr__(self) -> str:
        return f"PairEmbeddings(n_pairs={len(self)}, feature_dim={self.X.shape[2]}, fingerprint={self.fingerprint[:12]}...)"

    @property
    def n_text_features(self) -> int:
        """Columns of the text-feature block at the end of each row (0 when the encoder had it off)."""
        return len(TEXT_FEATURE_NAMES) if self.encoder_config.get("text_features") else 0

    @property
    def prompt_embeddings(self) -> np.ndarray | None:
        """For the separate layout, the prompt part of each row, ``(n_pairs, dim)``; else None."""
        if self.layout != "separate":
            return None
        return self.X[:, 0, : (self.X.shape[2] - self.n_text_features) // 2]

    def select(self, indices: Sequence[int] | np.ndarray) -> PairEmbeddings:
        """The pairs at ``indices``, in that order."""
        idx = np.asarray(indices, dtype=np.int64)
        return PairEmbeddings(
            self.X[idx],
            [self.ids[i] for i in idx],
            self.fingerprint,
            self.encoder_config,
            self.layout,
            self.dataset_fingerprint,
            self.stats,
        )


def embed_pairs(
    dataset: Any,
    encoder: Encoder,
    cache: EmbeddingCache | str | os.PathLike | None = None,
    *,
    batch_size: int | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    progress: ProgressCallback | None = None,
) -> PairEmbeddings:
    """Embed every pair of a :class:`~prefspace.data.PreferenceDataset`.

    Chosen and rejected responses go through :func:`embed_responses` in one call, so each
    distinct prompt and response is embedded once.

    Returns
    -------
    PairEmbeddings with ``X`` float32 ``(n_pairs, 2, feature_dim)``, ``X[:, 0]`` chosen.

    Example
    -------
    >>> from prefspace.data import load_preferences
    >>> from prefspace.embed import get_encoder
    >>> ds = load_preferences("../shared/data/hh_rlhf/harmless-base-test.jsonl.gz", limit=4)
    >>> embed_pairs(ds, get_encoder()).X.shape
    (4, 2, 768)
    """
    for name in ("prompts", "chosen", "rejected", "ids"):
        if not hasattr(dataset, name):
            raise DataError(
                f"embed_pairs needs a PreferenceDataset (with .{name}); got {type(dataset).__name__}. "
                "Load one with prefspace.data.load_preferences."
            )
    n = len(dataset.chosen)
    stats = EmbedStats()
    start = time.perf_counter()
    rows = embed_responses(
        *pair_response_rows(dataset),
        encoder,
        cache,
        batch_size=batch_size,
        shard_size=shard_size,
        progress=progress,
        stats=stats,
    )
    stats.seconds = time.perf_counter() - start
    X = np.ascontiguousarray(np.stack([rows[:n], rows[n:]], axis=1), dtype=np.float32)
    return PairEmbeddings(
        X=X,
        ids=list(dataset.ids),
        fingerprint=encoder.fingerprint,
        encoder_config=encoder.config(),
        layout=encoder.layout,
        dataset_fingerprint=getattr(dataset, "fingerprint", ""),
        stats=stats,
    )
