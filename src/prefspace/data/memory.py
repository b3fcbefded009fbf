"""Rows from data already in memory: a ``datasets.Dataset``/``DatasetDict``, a pandas DataFrame, a list of dicts.

:func:`read_in_memory` turns such an object into the same :class:`~prefspace.data.readers.RawSource`
a file gives, so format detection, column mapping and the bad-row rules of
:func:`~prefspace.data.load_preferences` (and every other reader of raw rows) apply unchanged.
Rows are named ``<Dataset>: row 17``, ``<DataFrame>: row 17`` or ``<list>: row 17`` (counting
from 1, like the rows of a Parquet file), and ``<DatasetDict[test]>: row 17`` for one split.

Values are made plain Python the way a JSON file would hold them: numpy arrays (pandas keeps
list cells as arrays) become lists, numpy scalars become ``int``/``float``/``bool``, and a
missing cell (``NaN``, ``None``, ``pd.NA``) becomes ``None``, which the row checks then report
like an empty cell of a CSV file.

This module imports neither ``datasets`` nor ``pandas``: it recognises their objects by type
name and methods, so it costs nothing when they are not installed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..exceptions import DataError
from .readers import RawRow, RawSource, read_source

_KINDS = {
    ("datasets", "Dataset"): "Dataset",
    ("datasets", "DatasetDict"): "DatasetDict",
    ("pandas", "DataFrame"): "DataFrame",
}


def _kind(obj: Any) -> str | None:
    """``"Dataset"``, ``"DatasetDict"``, ``"DataFrame"`` (by package and class name), else None."""
    for cls in type(obj).__mro__:
        kind = _KINDS.get((cls.__module__.split(".")[0], cls.__name__))
        if kind:
            return kind
    return None


def is_in_memory(source: Any) -> bool:
    """True for the in-memory containers :func:`read_in_memory` reads (not for paths or names)."""
    return _kind(source) is not None or isinstance(source, (list, tuple))


def read_any(source: Any, *, split: str | None = None) -> RawSource:
    """Rows of any source the loaders accept: a path or dataset name (:func:`read_source`) or an
    in-memory container (:func:`read_in_memory`)."""
    if is_in_memory(source):
        return read_in_memory(source, split=split)
    if isinstance(source, str) or hasattr(source, "__fspath__"):
        return read_source(source, split=split)
    return read_in_memory(source, split=split)  # refuses the type with a clear message


def read_in_memory(source: Any, *, split: str | None = None) -> RawSource:
    """Every row of an in-memory ``source`` as a :class:`RawSource`.

    Parameters
    ----------
    source : datasets.Dataset, datasets.DatasetDict, pandas.DataFrame, or a list of dicts
    split : str, optional
        The split of a ``DatasetDict`` (required when it holds more than one).

    Raises
    ------
    DataError
        An empty container, a ``DatasetDict`` without a usable ``split``, an unsupported type.

    Example
    -------
    >>> read_in_memory([{"prompt": "Hi", "chosen": "Hello!", "rejected": "Go away."}]).rows[0].where
    '<list>: row 1'
    """
    kind = _kind(source)
    if kind == "DatasetDict":
        splits = list(source.keys())
        if split is None:
            if len(splits) != 1:
                raise DataError(
                    f"<DatasetDict>: holds several splits ({', '.join(splits)}); choose one with split=..."
                )
            split = splits[0]
        if split not in source:
            raise DataError(
                f"<DatasetDict>: no split {split!r}; the splits are {', '.join(splits)}."
            )
        return _from_records(f"<DatasetDict[{split}]>", "datasets", source[split].to_list())
    if kind == "Dataset":
        return _from_records("<Dataset>", "datasets", source.to_list())
    if kind == "DataFrame":
        bad = [c for c in source.columns if not isinstance(c, str)]
        if bad:
            raise DataError(
                f"<DataFrame>: column names must be text; found {bad[0]!r} ({type(bad[0]).__name__}). "
                "Rename the columns, e.g. df.columns = df.columns.astype(str)."
            )
        if source.columns.duplicated().any():
            dup = source.columns[source.columns.duplicated()][0]
            raise DataError(
                f"<DataFrame>: the column {dup!r} appears twice; give each column its own name."
            )
        return _from_records("<DataFrame>", "pandas", source.to_dict(orient="records"))
    if isinstance(source, (list, tuple)):
        return _from_records("<list>", "list", list(source))
    raise DataError(
        f"cannot read preference data from a {type(source).__name__}; pass a file path, a directory saved by "
        "`datasets`, a Hugging Face dataset name, a datasets.Dataset or DatasetDict, a pandas DataFrame, "
        "or a list of dicts."
    )


def _from_records(name: str, kind: str, records: list) -> RawSource:
    if not records:
        raise DataError(f"{name}: holds no rows.")
    rows = []
    for i, rec in enumerate(records, start=1):
        where = f"{name}: row {i}"
        if isinstance(rec, dict):
            rows.append(RawRow(where, {str(k): plain(v) for k, v in rec.items()}))
        else:
            rows.append(
                RawRow(
                    where,
                    None,
                    (
                        "not_an_object",
                        (
                            f"expected a dict of column values but found {type(rec).__name__}. "
                            "Each element of the list must be one row, e.g. {'prompt': ..., 'chosen': ..., 'rejected': ...}."
                        ),
                    ),
                )
            )
    return RawSource(name=name, kind=kind, rows=rows)


def plain(value: Any) -> Any:
    """A cell value as JSON would hold it: lists, dicts, str, int, float, bool or None (missing)."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return None if math.isnan(v) else v
    if type(value).__name__ in ("NAType", "NaTType"):  # pandas' missing markers
        return None
    return value
