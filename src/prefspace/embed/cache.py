"""A content-addressed, crash-safe embedding cache on disk (format: docs/cache-format.md).

Entries are keyed by (fingerprint, exact text): the fingerprint names the encoder (and the role
the text plays, see :meth:`prefspace.embed.Encoder.role_fingerprint`), the text is hashed with
sha256. Each distinct text is stored once.

Layout::

    CACHE/prefspace-cache.json                     marks the folder as a cache (format, version)
    CACHE/<fingerprint>/shard-<hash>.safetensors   vectors, text digests and texts of one write

Shards are immutable and written atomically (temporary name, fsync, ``os.replace``), so a
process killed at any point, ``kill -9`` included, leaves only whole shards plus perhaps a
temporary file that readers ignore. There is no separate index file to corrupt: the index
(text digest -> shard, row) is rebuilt from the shards' digest tensors when a fingerprint is
first used, and refreshed when other processes add shards. Vectors are read through
``numpy.memmap``, so only the rows asked for are paged in and a cache larger than memory works.

Several processes (or Ray workers) may write to the same cache at once: each writes its own
shards; a text written twice is harmless (readers take the first shard in name order).

What the cache holds, a merge added and a compaction rewrote come back as the frozen dataclasses
of :mod:`prefspace.embed.cache_reports` (:class:`CacheSummary`, :class:`CacheMergeReport`,
:class:`CacheCompactReport`).

Example
-------
>>> import numpy as np
>>> cache = EmbeddingCache("emb")
>>> todo = cache.missing("abc.text", ["hi", "there"])
>>> todo
['hi', 'there']
>>> cache.write_shard("abc.text", todo, np.ones((len(todo), 4), np.float32)).name  # doctest: +ELLIPSIS
'shard-....safetensors'
>>> cache.get("abc.text", ["there", "hi"]).shape, cache.missing("abc.text", ["hi", "there"])
((2, 4), [])
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import struct
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import numpy as np

from .._jsonread import loads as json_loads
from .._process import pid_alive
from ..exceptions import ConfigError, FormatError, PrefspaceError, ShapeError
from .cache_reports import CacheCompactReport, CacheMergeReport, CacheSummary, FingerprintSummary

logger = logging.getLogger(__name__)

CACHE_FORMAT = "prefspace-embedding-cache"
SHARD_FORMAT = "prefspace-embedding-shard"
FORMAT_VERSION = 1
MARKER = "prefspace-cache.json"
_FINGERPRINT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SHARD_RE = re.compile(r"^shard-[0-9a-f]{20}\.safetensors$")
_TMP_TAG = ".tmp-"
_MARKER_TMP = f".{MARKER}{_TMP_TAG}"  # a marker being written: .prefspace-cache.json.tmp-<host>-<pid>-<thread>


class CacheMissError(PrefspaceError, LookupError):
    """``EmbeddingCache.get`` was asked for texts the cache does not hold."""


def text_digest(text: str) -> bytes:
    """The 32-byte sha256 of a text's UTF-8 bytes: the key of a text within a fingerprint."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def _check_fingerprint(fingerprint: str) -> str:
    if not isinstance(fingerprint, str) or not _FINGERPRINT_RE.match(fingerprint):
        raise ConfigError(
            f"a cache fingerprint must be 1-128 characters from [A-Za-z0-9._-], starting with a letter "
            f"or digit; got {fingerprint!r}."
        )
    return fingerprint


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------------
# Shard files: safetensors with four tensors, read through their header and numpy.memmap
# --------------------------------------------------------------------------------------------
_DTYPES = {"F32": "<f4", "U8": "u1", "I64": "<i8"}


@dataclass
class _Shard:
    path: Path
    count: int
    dim: int
    offsets: dict  # tensor name -> (dtype, shape, absolute byte offset)
    metadata: dict

    def array(self, name: str) -> np.ndarray:
        dtype, shape, start = self.offsets[name]
        if int(np.prod(shape)) == 0:
            return np.zeros(shape, dtype=dtype)
        return np.memmap(self.path, dtype=dtype, mode="r", offset=start, shape=tuple(shape))

    def texts(self) -> list[str]:
        offs = np.asarray(self.array("text_offsets"))
        blob = bytes(self.array("text_bytes"))
        return [
            blob[offs[i] : offs[i + 1]].decode("utf-8", "surrogatepass") for i in range(self.count)
        ]


def _read_shard(path: Path) -> _Shard:
    fix = f"Delete {path} and rerun the embedding: only its texts will be recomputed."
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if n > size - 8:
                raise ValueError("header length past the end of the file")
            header = json_loads(f.read(n).decode("utf-8"))
    except (OSError, ValueError, struct.error) as exc:
        raise FormatError(f"{path}: not a readable safetensors shard ({exc}). {fix}") from None
    if not isinstance(header, dict):
        raise FormatError(
            f"{path}: not a prefspace embedding shard (its header is not a JSON object). {fix}"
        )
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or meta.get("format") != SHARD_FORMAT:
        raise FormatError(
            f"{path}: not a prefspace embedding shard (metadata format={meta.get('format')!r}). {fix}"
        )
    if int(meta.get("version", 0)) > FORMAT_VERSION:
        raise FormatError(
            f"{path}: shard format version {meta.get('version')} is newer than this prefspace "
            f"understands ({FORMAT_VERSION}). Upgrade prefspace."
        )
    offsets = {}
    for name, dt in (
        ("vectors", "F32"),
        ("digests", "U8"),
        ("text_offsets", "I64"),
        ("text_bytes", "U8"),
    ):
        info = header.get(name)
        if not info or info.get("dtype") != dt:
            raise FormatError(f"{path}: tensor {name!r} missing or not {dt}. {fix}")
        begin, end = info["data_offsets"]
        if 8 + n + end > size:
            raise FormatError(
                f"{path}: tensor {name!r} runs past the end of the file (truncated). {fix}"
            )
        offsets[name] = (_DTYPES[dt], tuple(info["shape"]), 8 + n + begin)
    count, dim = offsets["vectors"][1]
    if offsets["digests"][1] != (count, 32) or offsets["text_offsets"][1] != (count + 1,):
        raise FormatError(f"{path}: tensor shapes disagree with {count} rows. {fix}")
    return _Shard(path=path, count=int(count), dim=int(dim), offsets=offsets, metadata=meta)


@dataclass
class _Space:
    """The shards and index of one fingerprint."""

    directory: Path
    shards: list = field(default_factory=list)
    seen: set = field(default_factory=set)
    index: dict = field(default_factory=dict)  # digest -> (shard number, row)
    dim: int | None = None


# --------------------------------------------------------------------------------------------
#: the environment variable naming the default embedding cache
CACHE_ENV = "PREFSPACE_CACHE"


def default_cache_dir() -> Path:
    """The embedding cache every command uses without ``--cache``.

    ``$PREFSPACE_CACHE`` when set, else ``$PREFSPACE_HOME/embeddings``, else
    ``~/.cache/prefspace/embeddings``: one folder for ``embed``, ``train``, ``evaluate``,
    ``score``, ``select``, ``synth``, ``label``, ``serve``, ``rerank``, ``experiment`` and
    ``demo``, so a text embedded by one is found by the others.

    Example
    -------
    >>> import os
    >>> os.environ["PREFSPACE_CACHE"] = "/tmp/emb"
    >>> str(default_cache_dir())
    '/tmp/emb'
    >>> del os.environ["PREFSPACE_CACHE"]
    """
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("PREFSPACE_HOME")
    return (
        Path(home).expanduser() / "embeddings"
        if home
        else Path("~/.cache/prefspace/embeddings").expanduser()
    )


class EmbeddingCache:
    """Vectors keyed by (fingerprint, exact text), stored in immutable safetensors shards.

    Parameters
    ----------
    directory : str or Path
        The cache folder; created (with its marker file) when missing.
    create : bool
        If False, a folder that is not already a cache is an error.

    The API is shared by the local embedding loop and distributed backends: ask
    :meth:`missing`, compute those texts anywhere, :meth:`write_shard` them, then :meth:`get`.
    """

    def __init__(self, directory: str | os.PathLike, *, create: bool = True) -> None:
        self.directory = Path(directory).expanduser()
        if self.directory.exists() and not self.directory.is_dir():
            raise ConfigError(f"cache path {self.directory} is a file; pass a folder.")
        if not (self.directory / MARKER).is_file():
            self._create(create)
        self._check_marker()
        self._spaces: dict[str, _Space] = {}

    def _check_marker(self) -> None:
        marker = self.directory / MARKER
        try:
            info = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise FormatError(
                f"{marker}: not a readable cache marker ({exc}). If the folder is not a prefspace "
                "embedding cache, pass another folder; if it is, delete the marker to re-create it."
            ) from None
        if not isinstance(info, dict) or info.get("format") != CACHE_FORMAT:
            found = (
                info.get("format") if isinstance(info, dict) else f"a JSON {type(info).__name__}"
            )
            raise FormatError(
                f"{marker}: not a prefspace embedding cache marker (format={found!r}); expected "
                f'{{"format": "{CACHE_FORMAT}", ...}}. Pass another folder.'
            )
        version = info.get("version", 0)
        if isinstance(version, bool) or not isinstance(version, int):
            raise FormatError(
                f"{marker}: the cache format version must be an integer; found {version!r}."
            )
        if version > FORMAT_VERSION:
            raise FormatError(
                f"{self.directory}: cache format version {version} is newer than this "
                f"prefspace understands ({FORMAT_VERSION}). Upgrade prefspace."
            )

    def _create(self, create: bool) -> None:
        """Make the folder a cache: race-free when several processes create the same new cache.

        The marker is written whole under a temporary name, then linked to its final name; a link
        fails when the name exists, so exactly one creator's marker wins and the others use it.
        Temporary markers (of a creator still writing, or of one killed) never make the folder
        look foreign; those of dead creators on this machine are removed.
        """
        marker = self.directory / MARKER
        try:
            entries = list(self.directory.iterdir()) if self.directory.is_dir() else []
        except OSError as exc:
            raise ConfigError(
                f"cannot read the cache folder {self.directory} ({exc.strerror or exc})."
            ) from None
        foreign = [p for p in entries if p.name != MARKER and not p.name.startswith(_MARKER_TMP)]
        if (
            foreign and not marker.is_file()
        ):  # (checked again: a creator makes the marker before anything else)
            raise FormatError(
                f"{self.directory} is not empty and is not a prefspace embedding cache (no {MARKER}; it holds "
                f"{', '.join(repr(p.name) for p in sorted(foreign)[:3])}{', ...' if len(foreign) > 3 else ''}). "
                "Pass an empty or new folder."
            )
        if marker.is_file():
            return
        if not create:
            raise FormatError(f"{self.directory} is not a prefspace embedding cache (no {MARKER}).")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise ConfigError(
                f"cannot make the cache folder {self.directory}: a part of its path is a file."
            ) from None
        _remove_dead_temp_markers(self.directory)
        tmp = (
            self.directory
            / f"{_MARKER_TMP}{socket.gethostname()}-{os.getpid()}-{threading.get_ident()}"
        )
        data = json.dumps({"format": CACHE_FORMAT, "version": FORMAT_VERSION}).encode()
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(
                tmp, marker
            )  # atomic, and refuses to replace a marker another process made first
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links: the rename is atomic; all creators write the same bytes
            os.replace(tmp, marker)
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(self.directory)

    def __repr__(self) -> str:
        return f"EmbeddingCache({str(self.directory)!r})"

    # -- reading ---------------------------------------------------------------------------
    def _check_inside(self, path: Path) -> None:
        """Refuse a shard (or fingerprint folder) that is a link leading out of the cache folder:
        a cache reads only what it wrote, never a file elsewhere that a link points at."""
        root = self.directory.resolve()
        if root not in path.resolve().parents:
            raise FormatError(
                f"{path} is a link to {path.resolve()}, outside the cache folder {self.directory}; a cache "
                "reads only its own shards. Remove the link (or copy the shard in with `prefspace cache merge`)."
            )

    def fingerprints(self) -> list[str]:
        """The fingerprints that have at least one shard, sorted."""
        out = []
        for p in sorted(self.directory.iterdir()):
            if (
                p.is_dir()
                and _FINGERPRINT_RE.match(p.name)
                and any(_SHARD_RE.match(q.name) for q in p.iterdir())
            ):
                out.append(p.name)
        return out

    def _space(self, fingerprint: str) -> _Space:
        """The fingerprint's index, after loading any shard added since the last call."""
        _check_fingerprint(fingerprint)
        space = self._spaces.get(fingerprint)
        if space is None:
            space = self._spaces[fingerprint] = _Space(self.directory / fingerprint)
        if space.directory.is_dir():
            new = sorted(
                p
                for p in space.directory.iterdir()
                if _SHARD_RE.match(p.name) and p.name not in space.seen
            )
            for path in new:
                self._check_inside(path)
                shard = _read_shard(path)
                if space.dim is not None and shard.dim != space.dim:
                    raise FormatError(
                        f"{path}: vectors of dimension {shard.dim}, but other shards of {fingerprint} have "
                        f"{space.dim}. Delete the odd shard."
                    )
                space.dim = shard.dim
                number = len(space.shards)
                space.shards.append(shard)
                space.seen.add(path.name)
                digests = np.asarray(shard.array("digests")).view("V32").ravel().tolist()
                for row, d in enumerate(digests):
                    space.index.setdefault(bytes(d), (number, row))
        return space

    def __len__(self) -> int:
        return sum(len(self._space(fp).index) for fp in self.fingerprints())

    def count(self, fingerprint: str) -> int:
        """Number of distinct texts stored under ``fingerprint``."""
        return len(self._space(fingerprint).index)

    def dim(self, fingerprint: str) -> int | None:
        """Vector dimension under ``fingerprint`` (None when it holds nothing)."""
        return self._space(fingerprint).dim

    def contains(self, fingerprint: str, texts: Sequence[str]) -> np.ndarray:
        """Boolean array: which of ``texts`` are stored."""
        index = self._space(fingerprint).index
        return np.array([text_digest(t) in index for t in texts], dtype=bool)

    def missing(self, fingerprint: str, texts: Sequence[str]) -> list[str]:
        """The distinct texts not stored yet, in order of first appearance."""
        index = self._space(fingerprint).index
        out, seen = [], set()
        for t in texts:
            d = text_digest(t)
            if d not in index and d not in seen:
                seen.add(d)
                out.append(t)
        return out

    def get(self, fingerprint: str, texts: Sequence[str]) -> np.ndarray:
        """Vectors of ``texts`` as float32 ``(n, dim)``; raises :class:`CacheMissError` if any is absent."""
        try:
            return self._get(fingerprint, texts)
        except FileNotFoundError:  # a shard was compacted away by another process: re-index once
            self._spaces.pop(fingerprint, None)
            return self._get(fingerprint, texts)

    def _get(self, fingerprint: str, texts: Sequence[str]) -> np.ndarray:
        space = self._space(fingerprint)
        texts = list(texts)
        where = [space.index.get(text_digest(t)) for t in texts]
        absent = [i for i, w in enumerate(where) if w is None]
        if absent:
            raise CacheMissError(
                f"{len(absent)} of {len(texts)} texts are not in cache {self.directory} under {fingerprint} "
                f"(first: {texts[absent[0]][:60]!r}). Embed them first (embed_texts with this cache)."
            )
        out = np.empty((len(texts), space.dim or 0), dtype=np.float32)
        if not texts:
            return out
        found = cast("list[tuple[int, int]]", where)  # none is absent (checked above)
        shard_no = np.fromiter((w[0] for w in found), dtype=np.int64, count=len(found))
        rows = np.fromiter((w[1] for w in found), dtype=np.int64, count=len(found))
        for s in np.unique(shard_no):
            pick = np.flatnonzero(shard_no == s)
            vectors = space.shards[s].array("vectors")
            order = np.argsort(rows[pick], kind="stable")  # read in file order
            out[pick[order]] = vectors[rows[pick][order]]
            del vectors
        return out

    def entries(self, fingerprint: str) -> Iterator[tuple[list[str], np.ndarray]]:
        """Yield ``(texts, vectors)`` shard by shard (every stored row, duplicates included)."""
        for shard in list(self._space(fingerprint).shards):
            yield shard.texts(), np.asarray(shard.array("vectors"), dtype=np.float32)

    def encoder_config(self, fingerprint: str) -> dict | None:
        """The encoder settings recorded by the writer of the first shard, if any."""
        for shard in self._space(fingerprint).shards:
            raw = shard.metadata.get("encoder")
            if raw:
                return json.loads(raw)
        return None

    # -- writing ---------------------------------------------------------------------------
    def write_shard(
        self,
        fingerprint: str,
        texts: Sequence[str],
        vectors: Any,
        *,
        encoder_config: dict | None = None,
    ) -> Path | None:
        """Store ``vectors[i]`` as the embedding of ``texts[i]``, atomically, as one new shard.

        Texts already stored (or repeated within ``texts``) are skipped; returns the shard's path,
        or None when nothing was new. ``encoder_config`` (JSON-able) is recorded for ``info``.
        """
        _check_fingerprint(fingerprint)
        texts = list(texts)
        arr = np.asarray(vectors)
        if arr.ndim != 2 or arr.shape[0] != len(texts):
            raise ShapeError(
                f"vectors must have shape ({len(texts)}, dim) to match texts; got {arr.shape}."
            )
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        if not np.isfinite(arr).all():
            raise ShapeError("vectors contain NaN or infinite values; refusing to cache them.")
        space = self._space(fingerprint)
        if space.dim is not None and arr.shape[1] != space.dim:
            raise ShapeError(
                f"vectors have dimension {arr.shape[1]} but {fingerprint} in {self.directory} holds "
                f"dimension {space.dim}. A different encoder needs a different fingerprint."
            )
        keep, seen = [], set()
        for i, t in enumerate(texts):
            d = text_digest(t)
            if d not in space.index and d not in seen:
                seen.add(d)
                keep.append(i)
        if not keep:
            return None
        return self._commit_shard(fingerprint, [texts[i] for i in keep], arr[keep], encoder_config)

    def _commit_shard(
        self, fingerprint: str, texts: list[str], arr: np.ndarray, encoder_config: dict | None
    ) -> Path:
        """Write distinct ``texts`` with their float32 ``arr`` rows as one shard, atomically."""
        space = self._space(fingerprint)
        digests = [text_digest(t) for t in texts]
        blobs = [t.encode("utf-8", "surrogatepass") for t in texts]
        offsets = np.zeros(len(blobs) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in blobs], out=offsets[1:])
        tensors: dict[str, np.ndarray] = {
            "vectors": np.ascontiguousarray(arr, dtype=np.float32),
            "digests": np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(len(texts), 32),
            "text_offsets": offsets,
            "text_bytes": np.frombuffer(b"".join(blobs), dtype=np.uint8),
        }
        metadata = {
            "format": SHARD_FORMAT,
            "version": str(FORMAT_VERSION),
            "fingerprint": fingerprint,
            "count": str(len(texts)),
            "dim": str(arr.shape[1]),
            "encoder": json.dumps(encoder_config, sort_keys=True) if encoder_config else "",
        }
        from safetensors.numpy import save

        data = save(tensors, metadata=metadata)
        name = f"shard-{hashlib.sha256(b''.join(digests)).hexdigest()[:20]}.safetensors"
        space.directory.mkdir(parents=True, exist_ok=True)
        path = space.directory / name
        tmp = path.with_name(f".{name}{_TMP_TAG}{socket.gethostname()}-{os.getpid()}")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(space.directory)
        self._space(fingerprint)  # index the new shard
        logger.info("cache %s: wrote %s (%d texts)", self.directory, path.name, len(texts))
        return path

    def merge(self, other: EmbeddingCache | str | Path) -> CacheMergeReport:
        """Copy into this cache every entry of ``other`` it lacks.

        Returns a :class:`CacheMergeReport`: ``source`` (``other``'s folder) and the texts
        ``added`` per fingerprint of ``other``.
        """
        if not isinstance(other, EmbeddingCache):
            other = EmbeddingCache(other, create=False)
        added: dict[str, int] = {}
        for fp in other.fingerprints():
            config = other.encoder_config(fp)
            before = self.count(fp)
            for texts, vectors in other.entries(fp):
                self.write_shard(fp, texts, vectors, encoder_config=config)
            added[fp] = self.count(fp) - before
        return CacheMergeReport(source=other.directory, added=added)

    def compact(self, fingerprint: str | None = None) -> CacheCompactReport:
        """Rewrite each fingerprint's shards as one shard (e.g. after serving wrote many small ones).

        Safe while others read or write: the new shard is committed atomically before the old
        ones are deleted, so every text stays readable throughout; shards added meanwhile are
        kept; a crash in between leaves duplicates, which are harmless. Returns a
        :class:`CacheCompactReport`: per fingerprint, how many old shards were replaced (0 when it
        had fewer than two).
        """
        removed: dict[str, int] = {}
        for fp in [fingerprint] if fingerprint else self.fingerprints():
            space = self._space(fp)
            old = [s.path for s in space.shards]
            if len(old) < 2:
                removed[fp] = 0
                continue
            texts: list[str] = []
            parts: list[np.ndarray] = []
            seen: set[str] = set()
            for shard in space.shards:
                shard_texts = shard.texts()
                keep = [i for i, t in enumerate(shard_texts) if t not in seen]
                seen.update(shard_texts[i] for i in keep)
                texts.extend(shard_texts[i] for i in keep)
                parts.append(np.asarray(shard.array("vectors"))[keep])
            new_path = self._commit_shard(fp, texts, np.concatenate(parts), self.encoder_config(fp))
            for path in old:
                if path != new_path:
                    path.unlink(missing_ok=True)
            _fsync_dir(space.directory)
            self._spaces.pop(fp, None)  # rebuilt from the remaining shards on next use
            removed[fp] = len(old) - (1 if new_path in old else 0)
        return CacheCompactReport(rewritten=removed)

    # -- housekeeping --------------------------------------------------------------------------
    def temp_files(self) -> list[Path]:
        """Temporary files left by writers that were killed (or are still writing)."""
        return sorted(p for p in self.directory.glob(f"*/.*{_TMP_TAG}*") if p.is_file())

    def remove_temp_files(self) -> int:
        """Delete temporary files of dead writers on this host; returns how many were removed."""
        host = socket.gethostname()
        removed = 0
        for p in self.temp_files():
            tag = p.name.rsplit(_TMP_TAG, 1)[-1]
            tag_host, _, pid = tag.rpartition("-")
            if tag_host != host or not pid.isdigit() or pid_alive(int(pid)):
                continue
            p.unlink(missing_ok=True)
            removed += 1
        return removed

    def summary(self) -> CacheSummary:
        """What the cache holds: a :class:`CacheSummary` with, per fingerprint, texts, dim,
        shards, bytes and encoder settings (``to_json()`` is ``prefspace info CACHE --json``)."""
        spaces = []
        for fp in self.fingerprints():
            space = self._space(fp)
            spaces.append(
                FingerprintSummary(
                    fingerprint=fp,
                    texts=len(space.index),
                    dim=space.dim,
                    shards=len(space.shards),
                    bytes=sum(s.path.stat().st_size for s in space.shards),
                    encoder=self.encoder_config(fp),
                )
            )
        return CacheSummary(
            directory=str(self.directory),
            format_version=FORMAT_VERSION,
            fingerprints=tuple(spaces),
            temp_files=len(self.temp_files()),
        )


def merge_caches(sources: Sequence[str | Path], into: str | Path) -> list[CacheMergeReport]:
    """Copy every entry of the ``sources`` caches that ``into`` lacks.

    Returns a :class:`CacheMergeReport` for each source, in order, its ``source`` the path as
    given.

    ``into`` may be none of the sources, nor hold one; every source is opened and its shards
    read (and checked) before ``into`` is created, so a bad source leaves nothing behind.
    """
    from .._paths import check_output

    check_output(into, inputs=sources, kind="folder", what="--into")
    caches = [EmbeddingCache(src, create=False) for src in sources]
    for cache in caches:
        for fp in cache.fingerprints():
            cache.count(fp)  # reads every shard's header
    target = EmbeddingCache(into)
    return [replace(target.merge(cache), source=Path(src)) for src, cache in zip(sources, caches)]


def _remove_dead_temp_markers(directory: Path) -> None:
    """Delete temporary markers left on this machine by creators that were killed."""
    host = socket.gethostname()
    for p in directory.glob(f"{_MARKER_TMP}*"):
        tag_host, _, rest = p.name[len(_MARKER_TMP) :].rpartition("-")  # host-pid-thread
        tag_host, _, pid = tag_host.rpartition("-")
        if tag_host == host and pid.isdigit() and not pid_alive(int(pid)):
            p.unlink(missing_ok=True)


def is_cache(path: str | Path) -> bool:
    """True when ``path`` is a folder holding a prefspace embedding cache."""
    return (Path(path) / MARKER).is_file()
