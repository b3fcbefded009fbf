"""What the embedding cache reports: its contents, a merge, a compaction.

:meth:`EmbeddingCache.summary` gives a :class:`CacheSummary` (one :class:`FingerprintSummary`
per key space), :meth:`EmbeddingCache.merge` and :func:`merge_caches` a
:class:`CacheMergeReport` per source, :meth:`EmbeddingCache.compact` a
:class:`CacheCompactReport`. Each is a frozen dataclass with named fields, so a renamed field
fails at type-check time where it is read. ``CacheSummary.to_json()`` is what
``prefspace info CACHE --json`` prints. These types only hold numbers; they read no files.

Example
-------
>>> space = FingerprintSummary("abc.text", texts=3, dim=4, shards=2, bytes=900, encoder=None)
>>> summary = CacheSummary("emb", format_version=1, fingerprints=(space,), temp_files=0)
>>> summary.texts, summary.bytes, summary.fingerprint("abc.text").shards
(3, 900, 2)
>>> summary.to_json()["fingerprints"]
{'abc.text': {'texts': 3, 'dim': 4, 'shards': 2, 'bytes': 900, 'encoder': None}}
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

__all__ = ["FingerprintSummary", "CacheSummary", "CacheMergeReport", "CacheCompactReport"]


@dataclass(frozen=True)
class FingerprintSummary:
    """One key space (fingerprint) of a cache.

    Attributes
    ----------
    fingerprint : the key space: an encoder's fingerprint and the role of its texts
    texts : distinct texts stored; dim : their vectors' dimension (None when it holds none)
    shards : shard files; bytes : their total size
    encoder : the encoder settings the writer of the first shard recorded (the JSON form of
        its ``Encoder.config()``), or None when none were recorded
    """

    fingerprint: str
    texts: int
    dim: int | None
    shards: int
    bytes: int
    encoder: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        """``{"texts", "dim", "shards", "bytes", "encoder"}``: the fields but ``fingerprint``,
        which is the entry's key in :meth:`CacheSummary.to_json`."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "fingerprint"}


@dataclass(frozen=True)
class CacheSummary:
    """What a cache holds (:meth:`EmbeddingCache.summary`).

    Attributes
    ----------
    directory : the cache folder; format_version : the cache format it was written in
    fingerprints : one :class:`FingerprintSummary` per key space with a shard, sorted by name
    temp_files : temporary files left by writers that were killed (or are still writing)
    texts, bytes : the totals over ``fingerprints`` (properties)
    """

    directory: str
    format_version: int
    fingerprints: tuple[FingerprintSummary, ...]
    temp_files: int

    @property
    def texts(self) -> int:
        """Distinct texts over every key space (a text stored under two counts twice)."""
        return sum(space.texts for space in self.fingerprints)

    @property
    def bytes(self) -> int:
        """The size of every shard, in bytes."""
        return sum(space.bytes for space in self.fingerprints)

    def fingerprint(self, name: str) -> FingerprintSummary:
        """The entry of key space ``name``; raises KeyError when the cache has none."""
        for space in self.fingerprints:
            if space.fingerprint == name:
                return space
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        """What ``prefspace info CACHE --json`` prints: ``directory``, ``format_version``,
        ``fingerprints`` (fingerprint -> :meth:`FingerprintSummary.to_json`), ``texts``,
        ``bytes`` and ``temp_files``."""
        return {
            "directory": self.directory,
            "format_version": self.format_version,
            "fingerprints": {space.fingerprint: space.to_json() for space in self.fingerprints},
            "texts": self.texts,
            "bytes": self.bytes,
            "temp_files": self.temp_files,
        }


@dataclass(frozen=True)
class CacheMergeReport:
    """What one source cache added to the target (:meth:`EmbeddingCache.merge`).

    Attributes
    ----------
    source : the cache copied from (as the caller named it)
    added : texts added per fingerprint of the source, 0 for one the target already held whole
    texts_added : their total (property)
    """

    source: Path
    added: dict[str, int]

    @property
    def texts_added(self) -> int:
        """Texts added over every fingerprint."""
        return sum(self.added.values())


@dataclass(frozen=True)
class CacheCompactReport:
    """What :meth:`EmbeddingCache.compact` rewrote.

    Attributes
    ----------
    rewritten : per fingerprint, how many old shards were replaced by one (0 when it had fewer
        than two)
    shards_rewritten : their total; key_spaces_compacted : the fingerprints with any (properties)
    """

    rewritten: dict[str, int]

    @property
    def shards_rewritten(self) -> int:
        """Old shards replaced, over every fingerprint."""
        return sum(self.rewritten.values())

    @property
    def key_spaces_compacted(self) -> int:
        """Fingerprints whose shards were rewritten (each now has one shard)."""
        return sum(1 for n in self.rewritten.values() if n)
