"""The label database: SQLite in WAL mode, one row per judgment.

Tables (schema version 1; ``prefspace label export`` and ``sqlite3`` both read them):

- ``meta``: ``format``, ``schema``, the pool's digest and settings of the first run;
- ``batches``: one row per batch the loop chose (strategy, model version, size, exploration
  share, selection time);
- ``pairs``: every pair ever shown, with its texts (so an export needs the database only),
  the response ids, the strategy (``random``, ``d-optimal``, ``explore``, ...) and the model
  version that chose it;
- ``judgments``: one row per judgment: annotator, time, pair and response ids, label
  (``a``, ``b``, ``tie`` or ``skip``), optional reason, seconds on screen, and the strategy and
  model version that chose the pair. ``(pair_id, annotator)`` is unique;
- ``models``: one row per refit: labels used, cross-validated accuracy with its interval,
  fit and cross-validation time (the learning curve).

Every write is one transaction committed with ``synchronous=FULL`` before the call returns,
so a label whose write returned survives ``kill -9`` of the process (and a power cut). A
connection is shared by the threads of one process behind a lock.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .._jsonread import loads as json_loads
from ..data.rules import find_surrogate
from ..exceptions import ConfigError, FormatError, PrefspaceError

logger = logging.getLogger(__name__)

FORMAT = "prefspace-labels"
SCHEMA_VERSION = 1
LABELS = ("a", "b", "tie", "skip")
# The one rule for annotator names, in the studio and in imports: 1 to 64 letters, digits,
# spaces or . @ + - _ (imports add the prefix below, so they never collide with studio names).
ANNOTATOR_NAME = re.compile(r"^[\w.@+\- ]{1,64}$")
IMPORTED_PREFIX = "label-studio:"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    batch INTEGER PRIMARY KEY,
    strategy TEXT NOT NULL,
    model_version INTEGER,
    size INTEGER NOT NULL,
    n_explore INTEGER NOT NULL,
    select_seconds REAL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS pairs (
    pair_id TEXT PRIMARY KEY,
    batch INTEGER NOT NULL REFERENCES batches(batch),
    rank INTEGER NOT NULL,
    id_a TEXT NOT NULL,
    id_b TEXT NOT NULL,
    prompt TEXT NOT NULL,
    prompt_b TEXT,
    response_a TEXT NOT NULL,
    response_b TEXT NOT NULL,
    strategy TEXT NOT NULL,
    model_version INTEGER,
    gain REAL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS pairs_by_batch ON pairs (batch, rank);
CREATE TABLE IF NOT EXISTS judgments (
    judgment_id INTEGER PRIMARY KEY AUTOINCREMENT,
    pair_id TEXT NOT NULL REFERENCES pairs(pair_id),
    annotator TEXT NOT NULL,
    label TEXT NOT NULL CHECK (label IN ('a', 'b', 'tie', 'skip')),
    reason TEXT,
    created_at REAL NOT NULL,
    seconds REAL,
    id_a TEXT NOT NULL,
    id_b TEXT NOT NULL,
    strategy TEXT NOT NULL,
    model_version INTEGER,
    source TEXT NOT NULL,
    UNIQUE (pair_id, annotator)
);
CREATE TABLE IF NOT EXISTS models (
    version INTEGER PRIMARY KEY,
    head TEXT NOT NULL,
    n_labels INTEGER NOT NULL,
    cv_accuracy REAL,
    cv_low REAL,
    cv_high REAL,
    cv_folds INTEGER,
    fit_seconds REAL,
    cv_seconds REAL,
    created_at REAL NOT NULL,
    note TEXT,
    length_accuracy REAL,
    vs_length REAL,
    vs_length_low REAL,
    vs_length_high REAL
);
"""
# columns added since schema 1 was first written: (table, column, type); added on open where missing
_ADDED_COLUMNS = (
    ("models", "length_accuracy", "REAL"),
    ("models", "vs_length", "REAL"),
    ("models", "vs_length_low", "REAL"),
    ("models", "vs_length_high", "REAL"),
)


class UnknownPairError(PrefspaceError, LookupError):
    """A judgment names a pair the database does not hold."""


class DuplicateJudgmentError(PrefspaceError, ValueError):
    """The annotator already judged this pair."""


class NothingToUndoError(PrefspaceError, LookupError):
    """The annotator has no judgment to take back."""


def check_annotator(name: Any) -> str:
    """``name`` stripped, if it follows the annotator rule (:data:`ANNOTATOR_NAME`, optionally after
    :data:`IMPORTED_PREFIX`); else ConfigError saying the rule."""
    text = name.strip() if isinstance(name, str) else None
    bare = text[len(IMPORTED_PREFIX) :] if text and text.startswith(IMPORTED_PREFIX) else text
    if text is None or bare is None or not ANNOTATOR_NAME.match(bare):
        shown = (
            repr(name[:80] + ("..." if len(name) > 80 else ""))
            if isinstance(name, str)
            else type(name).__name__
        )
        raise ConfigError(
            f"an annotator must be a name of 1 to 64 letters, digits, spaces or . @ + - _ ; got {shown}."
        )
    return text


def unstorable(what: str, value: Any, fix: str = "send the whole character") -> str | None:
    """Why ``value`` cannot be stored (None when it can), naming it ``what`` and ending with
    ``fix``. SQLite stores UTF-8, so a text holding a lone UTF-16 surrogate (``"\\ud800"``,
    half a character) cannot be written: the database, the request checks and the Label Studio
    import refuse it in these words."""
    if isinstance(value, str) and find_surrogate(value) is not None:
        return (
            f"{what} holds a lone UTF-16 surrogate (half of an emoji or other character), which "
            f"cannot be stored; {fix}."
        )
    return None


def _check_text(what: str, value: Any) -> None:
    problem = unstorable(what, value)
    if problem:
        raise ConfigError(problem)


def _row(cursor: sqlite3.Cursor, values: tuple) -> dict:
    return {d[0]: v for d, v in zip(cursor.description, values)}


class LabelStore:
    """The label database at ``path`` (created if missing).

    Parameters
    ----------
    path : file path of the SQLite database
    readonly : open without creating or writing (``prefspace label export``)

    Example
    -------
    >>> store = LabelStore("labels.sqlite")                          # doctest: +SKIP
    >>> store.counts()                                               # doctest: +SKIP
    {'pairs': 20, 'judgments': 7, 'labels': 6, 'batches': 1, 'models': 0}
    """

    def __init__(self, path: str | os.PathLike, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._lock = threading.RLock()
        if readonly and not self.path.is_file():
            raise ConfigError(f"{self.path}: no such label database.")
        if not readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            if readonly:
                # the path is quoted: '#' or '?' in a file name would end the URI's path there
                uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
                self._db = sqlite3.connect(
                    uri, uri=True, isolation_level=None, check_same_thread=False
                )
            else:
                self._db = sqlite3.connect(
                    str(self.path), isolation_level=None, check_same_thread=False, timeout=30
                )
            self._db.execute("PRAGMA busy_timeout = 30000")
            if not readonly:
                mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise FormatError(
                        f"{self.path}: SQLite could not switch to WAL mode (got {mode!r}); put the database on a "
                        "local file system."
                    )
                self._db.execute("PRAGMA synchronous = FULL")
                self._db.execute("PRAGMA foreign_keys = ON")
                with self._lock:
                    self._db.executescript(
                        _SCHEMA
                    )  # idempotent (IF NOT EXISTS); runs its own transaction
                    for (
                        table,
                        column,
                        kind,
                    ) in _ADDED_COLUMNS:  # a database written before these columns
                        have = {r[1] for r in self._db.execute(f"PRAGMA table_info({table})")}
                        if column not in have:
                            self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
            self._check_format()
        except sqlite3.DatabaseError as exc:
            raise FormatError(f"{self.path}: not a prefspace label database ({exc}).") from None

    # ------------------------------------------------------------------ plumbing
    def _write(self):
        return _Transaction(self)

    def _check_format(self) -> None:
        tables = {
            r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if "meta" not in tables:
            raise FormatError(f"{self.path}: not a prefspace label database (no meta table).")
        meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        if not meta and not self.readonly:
            with self._write():
                self._db.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [("format", FORMAT), ("schema", str(SCHEMA_VERSION))],
                )
            return
        if meta.get("format") != FORMAT:
            raise FormatError(
                f"{self.path}: not a prefspace label database (format {meta.get('format')!r})."
            )
        schema = str(meta.get("schema", "0"))
        if not schema.isdigit() or len(schema) > 9:
            raise FormatError(
                f"{self.path}: the label database's schema version must be a whole number; found "
                f"{schema[:40]!r}. The database was edited or damaged."
            )
        if int(schema) > SCHEMA_VERSION:
            raise FormatError(
                f"{self.path}: label database schema {meta['schema']} is newer than this prefspace understands "
                f"({SCHEMA_VERSION}); upgrade prefspace."
            )

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[dict]:
        with self._lock:
            cur = self._db.execute(sql, tuple(params))
            return [_row(cur, r) for r in cur.fetchall()]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> LabelStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LabelStore({str(self.path)!r})"

    # ------------------------------------------------------------------ meta
    def meta(self) -> dict:
        return {r["key"]: r["value"] for r in self._query("SELECT key, value FROM meta")}

    def set_meta(self, **values: Any) -> None:
        with self._write():
            self._db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in values.items()],
            )

    # ------------------------------------------------------------------ batches and pairs
    def add_batch(
        self,
        pairs: list[dict],
        *,
        strategy: str,
        model_version: int | None,
        n_explore: int = 0,
        select_seconds: float | None = None,
    ) -> int:
        """Insert a batch and its pairs in one transaction; return the batch number (1, 2, ...).

        Each pair dict has ``pair_id``, ``id_a``, ``id_b``, ``prompt``, ``response_a``,
        ``response_b``, ``strategy`` and optionally ``prompt_b``, ``gain``.
        """
        now = time.time()
        with self._write():
            batch = self._db.execute("SELECT COALESCE(MAX(batch), 0) + 1 FROM batches").fetchone()[
                0
            ]
            self._db.execute(
                "INSERT INTO batches (batch, strategy, model_version, size, n_explore, select_seconds, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (batch, strategy, model_version, len(pairs), int(n_explore), select_seconds, now),
            )
            self._db.executemany(
                "INSERT INTO pairs (pair_id, batch, rank, id_a, id_b, prompt, prompt_b, response_a, response_b, "
                "strategy, model_version, gain, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        p["pair_id"],
                        batch,
                        rank,
                        p["id_a"],
                        p["id_b"],
                        json.dumps(p["prompt"], ensure_ascii=False),
                        None
                        if p.get("prompt_b") is None
                        else json.dumps(p["prompt_b"], ensure_ascii=False),
                        p["response_a"],
                        p["response_b"],
                        p["strategy"],
                        model_version,
                        p.get("gain"),
                        now,
                    )
                    for rank, p in enumerate(pairs)
                ],
            )
        return int(batch)

    def batches(self) -> list[dict]:
        return self._query("SELECT * FROM batches ORDER BY batch")

    def pairs(self, batch: int | None = None) -> list[dict]:
        """Pairs (texts decoded), in batch and rank order; those of one batch if given."""
        sql = (
            "SELECT * FROM pairs"
            + (" WHERE batch = ?" if batch is not None else "")
            + " ORDER BY batch, rank"
        )
        rows = self._query(sql, () if batch is None else (batch,))
        return [self._decode_pair(r) for r in rows]

    def pair(self, pair_id: str) -> dict | None:
        rows = self._query("SELECT * FROM pairs WHERE pair_id = ?", (pair_id,))
        return self._decode_pair(rows[0]) if rows else None

    def _decode_pair(self, r: dict) -> dict:
        """A pair row with its prompts decoded (text, or a list of messages), checked."""
        for key in ("prompt", "prompt_b"):
            if key == "prompt_b" and r[key] is None:
                continue
            try:
                value = json_loads(r[key]) if isinstance(r[key], str) else None
            except json.JSONDecodeError:
                value = None
            if not (
                isinstance(value, str)
                or (isinstance(value, list) and all(isinstance(m, dict) for m in value))
            ):
                raise FormatError(
                    f"{self.path}: pair {str(r['pair_id'])[:80]!r} has a {key} that is not the JSON "
                    "text or message list prefspace writes; the database was edited or damaged."
                )
            r[key] = value
        return r

    def pair_ids(self) -> list[tuple[str, str]]:
        """``(id_a, id_b)`` of every pair ever chosen."""
        with self._lock:
            return [tuple(r) for r in self._db.execute("SELECT id_a, id_b FROM pairs").fetchall()]

    # ------------------------------------------------------------------ judgments
    def add_judgment(
        self,
        pair_id: str,
        annotator: str,
        label: str,
        *,
        reason: str | None = None,
        seconds: float | None = None,
        source: str = "studio",
        created_at: float | None = None,
    ) -> dict:
        """Record one judgment and commit it; return the stored row.

        Raises :class:`UnknownPairError` for a pair the database does not hold,
        :class:`DuplicateJudgmentError` when ``annotator`` already judged ``pair_id`` and
        ``ConfigError`` for a label other than ``a``, ``b``, ``tie``, ``skip``.
        """
        if label not in LABELS:
            raise ConfigError(f"label must be one of {', '.join(LABELS)}; got {label!r}.")
        annotator = check_annotator(annotator)
        _check_text("the reason", reason)
        with self._write():
            pair = self._db.execute(
                "SELECT id_a, id_b, strategy, model_version FROM pairs WHERE pair_id = ?",
                (pair_id,),
            ).fetchone()
            if pair is None:
                raise UnknownPairError(f"no pair {pair_id!r} in {self.path.name}.")
            try:
                cur = self._db.execute(
                    "INSERT INTO judgments (pair_id, annotator, label, reason, created_at, seconds, id_a, id_b, "
                    "strategy, model_version, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        pair_id,
                        annotator,
                        label,
                        reason,
                        time.time() if created_at is None else float(created_at),
                        seconds,
                        pair[0],
                        pair[1],
                        pair[2],
                        pair[3],
                        source,
                    ),
                )
            except sqlite3.IntegrityError:
                raise DuplicateJudgmentError(
                    f"{annotator!r} already judged pair {pair_id!r}."
                ) from None
            judgment_id = cur.lastrowid
        return self._query("SELECT * FROM judgments WHERE judgment_id = ?", (judgment_id,))[0]

    def delete_judgment(self, judgment_id: int) -> None:
        """Remove one judgment (an annotator's undo) and commit."""
        with self._write():
            self._db.execute("DELETE FROM judgments WHERE judgment_id = ?", (int(judgment_id),))

    def judgments(self, *, since_id: int = 0) -> list[dict]:
        return self._query(
            "SELECT * FROM judgments WHERE judgment_id > ? ORDER BY judgment_id", (since_id,)
        )

    # ------------------------------------------------------------------ models
    def add_model(
        self,
        version: int,
        *,
        head: str,
        n_labels: int,
        cv: dict | None = None,
        fit_seconds: float | None = None,
        cv_seconds: float | None = None,
        note: str | None = None,
    ) -> None:
        cv = cv or {}
        with self._write():
            self._db.execute(
                "INSERT INTO models (version, head, n_labels, cv_accuracy, cv_low, cv_high, cv_folds, fit_seconds, "
                "cv_seconds, created_at, note, length_accuracy, vs_length, vs_length_low, vs_length_high) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    version,
                    head,
                    int(n_labels),
                    cv.get("accuracy"),
                    cv.get("ci_low"),
                    cv.get("ci_high"),
                    cv.get("folds"),
                    fit_seconds,
                    cv_seconds,
                    time.time(),
                    note,
                    cv.get("length_accuracy"),
                    cv.get("vs_length"),
                    cv.get("vs_length_low"),
                    cv.get("vs_length_high"),
                ),
            )

    def models(self) -> list[dict]:
        return self._query("SELECT * FROM models ORDER BY version")

    # ------------------------------------------------------------------ summary
    def counts(self) -> dict:
        with self._lock:
            one = lambda sql: int(self._db.execute(sql).fetchone()[0])  # noqa: E731
            return {
                "pairs": one("SELECT COUNT(*) FROM pairs"),
                "judgments": one("SELECT COUNT(*) FROM judgments"),
                "labels": one("SELECT COUNT(*) FROM judgments WHERE label != 'skip'"),
                "batches": one("SELECT COUNT(*) FROM batches"),
                "models": one("SELECT COUNT(*) FROM models"),
            }


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` under the store's lock (``ROLLBACK`` on error)."""

    def __init__(self, store: LabelStore) -> None:
        self.store = store

    def __enter__(self) -> None:
        if self.store.readonly:
            raise ConfigError(f"{self.store.path} was opened read-only.")
        self.store._lock.acquire()
        try:
            self.store._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self.store._lock.release()
            raise

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.store._db.execute("COMMIT")
            else:
                self.store._db.execute("ROLLBACK")
        finally:
            self.store._lock.release()
