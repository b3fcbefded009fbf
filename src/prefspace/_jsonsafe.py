"""The one JSON-safe encoder: numpy values to plain JSON types, and NaN or infinity to null.

``json.dumps`` writes ``NaN`` and ``Infinity`` for non-finite floats by default, which is not
JSON (browsers, ``jq`` and most other languages refuse it), and it raises on numpy scalars and
arrays. Everything prefspace writes as JSON (metrics, model headers, experiment rows, selected
pairs, best-of-N picks, HTTP responses) goes through :func:`json_safe`, so a non-finite number is
always written as ``null`` and a numpy value as the plain number or list it holds.

- :func:`json_safe` converts a value recursively; :func:`json_number` one number.
- :func:`dumps` is ``json.dumps`` after :func:`json_safe`, with ``allow_nan=False`` as a guard.
- :func:`write_json` / :func:`write_jsonl` write a file atomically (``prefspace._atomic``).

Example
-------
>>> import numpy as np
>>> dumps({"acc": np.float32(0.5), "n": np.int64(3), "ci": (float("nan"), np.inf), "x": np.arange(2)})
'{"acc": 0.5, "n": 3, "ci": [null, null], "x": [0, 1]}'
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ._atomic import atomic_path

__all__ = ["json_safe", "json_number", "dumps", "write_json", "write_jsonl"]


def json_number(x: Any) -> float | int | None:
    """A number JSON can carry: ints stay ints, floats stay floats, NaN/inf (and None) become None.

    Example
    -------
    >>> json_number(np.float64("nan")) is None, json_number(np.int32(4)), json_number(2.5)
    (True, 4, 2.5)
    """
    if x is None:
        return None
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    v = float(x)
    return v if math.isfinite(v) else None


def json_safe(
    value: Any, *, default: Callable[[Any], Any] | None = None, max_array_size: int | None = None
) -> Any:
    """``value`` with every part turned into a plain JSON type.

    dicts (keys become strings), lists and tuples recurse; numpy arrays become lists (or, when
    larger than ``max_array_size`` elements, the text ``"array(<shape>)"``); numpy scalars
    become Python numbers; non-finite floats become None; ``Path`` becomes its text. Anything
    else is passed to ``default`` (for example ``str``), or raises TypeError naming its type.
    """
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, dict):
        return {
            str(k): json_safe(v, default=default, max_array_size=max_array_size)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [json_safe(v, default=default, max_array_size=max_array_size) for v in value]
    if isinstance(value, np.ndarray):
        if max_array_size is not None and value.size > max_array_size:
            return f"array{value.shape}"
        return json_safe(value.tolist(), default=default, max_array_size=max_array_size)
    if isinstance(value, (int, float, np.integer, np.floating, np.bool_)):
        return json_number(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if default is not None:
        return json_safe(default(value), max_array_size=max_array_size)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def dumps(value: Any, *, default: Callable[[Any], Any] | None = None, **kwargs) -> str:
    """``json.dumps(json_safe(value), allow_nan=False, **kwargs)``: never a bare NaN in the text."""
    return json.dumps(json_safe(value, default=default), allow_nan=False, **kwargs)


def write_json(
    path: str | os.PathLike, value: Any, *, indent: int | None = 2, default=None
) -> Path:
    """Write one JSON document (UTF-8, trailing newline) atomically; return the path."""
    text = dumps(value, default=default, indent=indent, ensure_ascii=False) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_jsonl(path: str | os.PathLike, records: Iterable[Any], *, default=None) -> Path:
    """Write records as JSON lines (UTF-8) atomically; return the path."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(dumps(rec, default=default, ensure_ascii=False) + "\n")
    return Path(path)
