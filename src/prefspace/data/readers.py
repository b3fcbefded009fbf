"""Read raw rows (plain dicts) from the places preference data lives.

Supported sources:

- local files: ``.jsonl``, ``.json``, ``.parquet``, ``.csv``, ``.tsv``, each optionally ``.gz``;
- a directory written by ``datasets`` (``Dataset.save_to_disk`` or ``DatasetDict.save_to_disk``);
- a Hugging Face dataset name, read through ``datasets.load_dataset`` (needs the network or a
  warm ``datasets`` cache).

Every row carries a location string for messages: ``pairs.jsonl:17`` (line numbers for line-based
files, counting from 1) or ``pairs.parquet: row 17`` (row numbers, counting from 1). A row that
cannot be decoded (invalid JSON, bytes that are not UTF-8) is returned as a :class:`RawRow` with
``problem`` set, so the caller can stop or skip it like any other bad row. Problems with the whole
source (missing file, unknown type, empty file) raise :class:`~prefspace.exceptions.DataError`.

This module does not interpret columns; :mod:`prefspace.data.preferences` and
:mod:`prefspace.data.scored` do.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._jsonread import loads as json_loads
from .._surface import option
from ..exceptions import DataError
from .dialogue import RowProblem
from .rules import find_surrogate, may_hold_surrogate, surrogate_problem

logger = logging.getLogger(__name__)

FILE_TYPES = (".jsonl", ".json", ".parquet", ".csv", ".tsv")
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_EXPECTED = (
    "expected a .jsonl, .json, .parquet, .csv or .tsv file (optionally .gz), "
    "a directory saved by `datasets`, or a Hugging Face dataset name"
)


@dataclass
class RawRow:
    """One row as read: ``data`` is a dict, or None when ``problem`` says why it could not be read."""

    where: str
    data: dict | None
    problem: tuple[str, str] | None = None  # (reason code, message)


@dataclass
class RawSource:
    """All rows of one source, plus how to name it in messages."""

    name: str
    kind: str  # "jsonl", "json", "parquet", "csv", "tsv", "datasets-dir", "hub"
    rows: list[RawRow]


def file_type(path: Path) -> tuple[str, bool]:
    """``(".jsonl", gzipped)`` from a file name; the type is ``""`` when unknown."""
    suffixes = [s.lower() for s in path.suffixes]
    gz = bool(suffixes) and suffixes[-1] == ".gz"
    if gz:
        suffixes = suffixes[:-1]
    ext = suffixes[-1] if suffixes else ""
    return (ext if ext in FILE_TYPES else ""), gz


def read_source(source: str | os.PathLike, *, split: str | None = None) -> RawSource:
    """Read every row of ``source`` (a path or a Hugging Face dataset name).

    Raises DataError for a missing file, an unknown type, an unreadable or empty file.
    """
    text = os.fspath(source)
    path = Path(text).expanduser()
    if path.is_dir():
        return _read_datasets_dir(path, text, split)
    if path.is_file():
        ext, gz = file_type(path)
        if not ext:
            raise DataError(
                f"{text}: unknown file type {''.join(path.suffixes) or '(no extension)'!r}; {_EXPECTED}."
            )
        if split is not None:
            logger.info("%s: %s ignored for a single file", text, option("split", split))
        raw = _read_bytes(path, text, gz)
        if not raw.strip():
            raise DataError(
                f"{text}: the file is empty. Check that it is the file you meant (and fully written)."
            )
        if ext in (".csv", ".tsv"):
            rows = _csv_rows(raw, text, "\t" if ext == ".tsv" else ",")
        else:
            rows = {".jsonl": _jsonl_rows, ".json": _json_rows, ".parquet": _parquet_rows}[ext](
                raw, text
            )
        if not rows:
            raise DataError(f"{text}: the file holds no rows.")
        return RawSource(name=text, kind=ext.lstrip("."), rows=rows)
    if path.exists():
        raise DataError(f"{text}: not a regular file or directory.")
    looks_like_file = (
        file_type(path)[0] or path.suffix.lower() == ".gz" or text.startswith((".", "/", "~"))
    )
    if looks_like_file or not _HUB_NAME.match(text):
        hint = ""
        if not path.parent.exists():
            hint = f" (the directory {str(path.parent)!r} does not exist either)"
        raise DataError(
            f"{text}: no such file or directory{hint}. Check the path; relative paths start at {os.getcwd()}."
        )
    return _read_hub(text, split)


# --------------------------------------------------------------------------------------------
# bytes in
# --------------------------------------------------------------------------------------------
def _read_bytes(path: Path, name: str, gz: bool) -> bytes:
    try:
        if gz:
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DataError(
            f"{name}: not a valid gzip file ({exc}). Decompress it with `gunzip -t` to check it, "
            "or drop the .gz extension if it is not compressed."
        ) from None
    except OSError as exc:
        raise DataError(f"{name}: cannot read the file ({exc.strerror or exc}).") from None


def _decode_whole(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        bad = raw[exc.start : exc.start + 4]
        raise DataError(
            f"{name}:{line}: bytes that are not UTF-8 ({bad!r} at byte {exc.start}). "
            "Re-save the file as UTF-8 (for example `iconv -f latin1 -t utf-8`)."
        ) from None


# --------------------------------------------------------------------------------------------
# formats
# --------------------------------------------------------------------------------------------
def _jsonl_rows(raw: bytes, name: str) -> list[RawRow]:
    rows: list[RawRow] = []
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    check = may_hold_surrogate(
        raw
    )  # one scan of the file; lines are looked at only if it may hold one
    for lineno, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        where = f"{name}:{lineno}"
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = line[exc.start : exc.start + 4]
            rows.append(
                RawRow(
                    where,
                    None,
                    (
                        "not_utf8",
                        (
                            f"bytes that are not UTF-8 ({bad!r} at column {exc.start + 1}). "
                            "Re-save the file as UTF-8 (for example `iconv -f latin1 -t utf-8`)."
                        ),
                    ),
                )
            )
            continue
        try:
            obj = json_loads(text)
        except json.JSONDecodeError as exc:
            rows.append(
                RawRow(
                    where,
                    None,
                    (
                        "invalid_json",
                        (
                            f"invalid JSON ({exc.msg} at column {exc.colno}): {_clip(text)}. "
                            "Each line must be one JSON object; fix or remove this line."
                        ),
                    ),
                )
            )
            continue
        if not isinstance(obj, dict):
            rows.append(
                RawRow(
                    where,
                    None,
                    (
                        "not_an_object",
                        (
                            f"expected a JSON object {{...}} but found {type(obj).__name__} {_clip(text)}. "
                            "Each line must be one JSON object with the pair's fields."
                        ),
                    ),
                )
            )
            continue
        problem = _surrogate(obj, line) if check else None
        rows.append(RawRow(where, None if problem else obj, problem))
    return rows


def _surrogate(obj: Any, raw: bytes) -> tuple[str, str] | None:
    """A row problem for a lone UTF-16 surrogate in any string of ``obj`` (decoded from ``raw``)."""
    if not may_hold_surrogate(raw):
        return None
    found = find_surrogate(obj)
    if found is None:
        return None
    problem: RowProblem = surrogate_problem(*found)
    return problem.reason, problem.message


def _json_rows(raw: bytes, name: str) -> list[RawRow]:
    text = _decode_whole(raw, name)
    try:
        obj = json_loads(text)
    except json.JSONDecodeError as exc:
        hint = " It looks like JSON Lines: rename it to .jsonl." if exc.msg == "Extra data" else ""
        raise DataError(
            f"{name}:{exc.lineno}: invalid JSON ({exc.msg} at column {exc.colno}).{hint}"
        ) from None
    records = _records_from_json(obj, name)
    check = may_hold_surrogate(raw)
    rows = []
    for i, rec in enumerate(records, start=1):
        where = f"{name}: row {i}"
        if not isinstance(rec, dict):
            try:
                shown = _clip(json.dumps(rec))
            except RecursionError:
                shown = "(nested too deeply to show)"
            rows.append(
                RawRow(
                    where,
                    None,
                    (
                        "not_an_object",
                        f"expected a JSON object {{...}} but found {type(rec).__name__} {shown}.",
                    ),
                )
            )
            continue
        problem = _surrogate(rec, raw) if check else None
        rows.append(RawRow(where, None if problem else rec, problem))
    return rows


def _records_from_json(obj: Any, name: str) -> list:
    if isinstance(obj, list):
        return obj
    if isinstance(obj, dict):
        lists = {k: v for k, v in obj.items() if isinstance(v, list)}
        if lists and len(lists) == len(obj) and len({len(v) for v in lists.values()}) == 1:
            if len(lists) == 1 and all(isinstance(r, dict) for r in next(iter(lists.values()))):
                return next(iter(lists.values()))  # {"data": [{...}, ...]}
            n = len(next(iter(lists.values())))
            return [{k: v[i] for k, v in lists.items()} for i in range(n)]  # columns
    raise DataError(
        f"{name}: expected a JSON list of objects ([{{...}}, ...]) or an object of equal-length "
        f'columns ({{"prompt": [...], ...}}); found {type(obj).__name__}'
        + (f" with keys {_keys(obj)}" if isinstance(obj, dict) else "")
        + ". For one object per line, use .jsonl."
    )


def _csv_rows(raw: bytes, name: str, delimiter: str) -> list[RawRow]:
    text = _decode_whole(raw, name)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        return []
    except csv.Error as exc:
        raise DataError(f"{name}:1: cannot parse the header ({exc}).") from None
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        # a dict keeps the last of two equal keys: one column would be dropped without a word
        raise DataError(
            f"{name}:1: the header names the column(s) {', '.join(map(repr, repeated))} more than once; "
            "each column needs its own name. Rename the repeats and read the file again."
        )
    rows: list[RawRow] = []
    start = reader.line_num + 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise DataError(
                f"{name}:{reader.line_num}: cannot parse CSV ({exc}). Check the quoting on this line."
            ) from None
        where = f"{name}:{start}"
        start = reader.line_num + 1
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) != len(header):
            rows.append(
                RawRow(
                    where,
                    None,
                    (
                        "wrong_field_count",
                        (
                            f"{len(fields)} fields but the header has {len(header)} ({', '.join(map(repr, header))}). "
                            "Quote fields that contain the delimiter, line breaks or quotes."
                        ),
                    ),
                )
            )
            continue
        # An empty cell is a missing value: CSV has no other way to write one.
        rows.append(RawRow(where, {k: (v if v != "" else None) for k, v in zip(header, fields)}))
    return rows


def _parquet_rows(raw: bytes, name: str) -> list[RawRow]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(raw))
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{name}: not a readable Parquet file ({exc}).") from None
    return [RawRow(f"{name}: row {i}", rec) for i, rec in enumerate(table.to_pylist(), start=1)]


def _read_datasets_dir(path: Path, name: str, split: str | None) -> RawSource:
    if not (
        (path / "dataset_info.json").is_file()
        or (path / "state.json").is_file()
        or (path / "dataset_dict.json").is_file()
    ):
        raise DataError(
            f"{name}: a directory, but not one saved by `datasets` (no state.json or dataset_dict.json). "
            f"Pass a data file inside it instead ({_EXPECTED})."
        )
    import datasets

    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as exc:  # noqa: BLE001 - datasets raises many types for a broken directory
        raise DataError(
            f"{name}: cannot load the saved dataset ({type(exc).__name__}: {exc})."
        ) from None
    ds = _pick_split(ds, name, split)
    rows = [RawRow(f"{name}: row {i}", rec) for i, rec in enumerate(ds.to_list(), start=1)]
    if not rows:
        raise DataError(f"{name}: the dataset holds no rows.")
    return RawSource(name=name, kind="datasets-dir", rows=rows)


def _pick_split(ds: Any, name: str, split: str | None) -> Any:
    if hasattr(ds, "keys") and not hasattr(ds, "features"):  # DatasetDict
        splits = list(ds.keys())
        if split is None:
            raise DataError(
                f"{name}: holds several splits ({', '.join(splits)}); choose one with "
                f"{option('split')}."
            )
        if split not in ds:
            raise DataError(f"{name}: no split {split!r}; the splits are {', '.join(splits)}.")
        return ds[split]
    return ds


def _read_hub(name: str, split: str | None) -> RawSource:
    if split is None:
        raise DataError(
            f"{name}: not a local file or directory; to read it as a Hugging Face dataset, pass a split "
            f"({option('split', 'train')}). If it is meant to be a local file, check the path."
        )
    import datasets

    try:
        ds = datasets.load_dataset(name, split=split)
    except Exception as exc:  # noqa: BLE001 - offline, missing or private: all the same to the user
        raise DataError(
            f"{name}: not a local file or directory, and the Hugging Face dataset could not be reached "
            f"({type(exc).__name__}: {_clip(str(exc), 160)}). Offline, download it where you have a network "
            "(datasets.load_dataset(...).to_json('pairs.jsonl')) and pass the local file instead."
        ) from None
    rows = [RawRow(f"{name}[{split}]: row {i}", rec) for i, rec in enumerate(ds.to_list(), start=1)]
    if not rows:
        raise DataError(f"{name}[{split}]: the dataset holds no rows.")
    return RawSource(name=f"{name}[{split}]", kind="hub", rows=rows)


# --------------------------------------------------------------------------------------------
# message helpers
# --------------------------------------------------------------------------------------------
def _clip(text: str, n: int = 60) -> str:
    text = text.strip()
    return repr(text if len(text) <= n else text[: n - 3] + "...")


def _keys(obj: dict) -> str:
    return ", ".join(repr(k) for k in list(obj)[:12]) + (", ..." if len(obj) > 12 else "")
