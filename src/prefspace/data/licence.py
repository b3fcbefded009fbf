"""The licence of a preference data source, where it can be told without guessing.

:func:`data_licence` looks where data sets usually state their licence and names it with an
SPDX identifier: ``info.license`` of a ``datasets.Dataset``; the ``license`` of a directory
saved by ``datasets`` (``dataset_info.json``); a ``LICENSE`` file, or ``license:`` front matter
of a ``README.md`` / ``DATA_CARD.md``, beside a data file. A licence text it does not recognise,
or no statement at all, gives ``None``: the model card then says the licence is unknown rather
than inventing one.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from .._jsonread import loads as json_loads

# (SPDX id, patterns that identify the licence's own text or name); the first match wins, so
# the more specific names come first.
_KNOWN = (
    (
        "CC-BY-NC-SA-4.0",
        (r"attribution[- ]noncommercial[- ]sharealike 4\.0", r"\bcc[- ]by[- ]nc[- ]sa[- ]4\.0\b"),
    ),
    ("CC-BY-NC-4.0", (r"attribution[- ]noncommercial 4\.0", r"\bcc[- ]by[- ]nc[- ]4\.0\b")),
    ("CC-BY-SA-4.0", (r"attribution[- ]sharealike 4\.0", r"\bcc[- ]by[- ]sa[- ]4\.0\b")),
    ("CC-BY-4.0", (r"attribution 4\.0 international", r"\bcc[- ]by[- ]4\.0\b")),
    ("CC0-1.0", (r"\bcc0 1\.0\b", r"\bcc0-1\.0\b")),
    ("ODC-By-1.0", (r"open data commons attribution", r"\bodc[- ]by\b")),
    ("Apache-2.0", (r"apache license,? version 2\.0", r"\bapache-2\.0\b")),
    ("MIT", (r"^\s*mit license\b", r"permission is hereby granted, free of charge")),
)
_LICENCE_FILES = ("LICENSE", "LICENSE.txt", "LICENSE.md", "LICENCE", "LICENCE.txt", "COPYING")
_CARD_FILES = ("README.md", "DATA_CARD.md")
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)


def spdx_from_text(text: str) -> str | None:
    """The SPDX id of a licence text or name (``"MIT License ..."`` -> ``"MIT"``), or None.

    Example
    -------
    >>> spdx_from_text("Creative Commons Attribution-NonCommercial 4.0 International")
    'CC-BY-NC-4.0'
    """
    head = text[:4000].lower()
    for spdx, patterns in _KNOWN:
        if any(re.search(p, head, re.M) for p in patterns):
            return spdx
    return None


def _from_value(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if len(value) == 1 else None
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    known = {spdx.lower(): spdx for spdx, _ in _KNOWN}
    return known.get(value.lower()) or spdx_from_text(value) or value


def _front_matter_licence(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    m = _FRONT_MATTER.match(text)
    if not m:
        return None
    import yaml

    try:
        meta = yaml.safe_load(m.group(1))
    except yaml.YAMLError:
        return None
    return (
        _from_value(meta.get("license") or meta.get("licence")) if isinstance(meta, dict) else None
    )


def _licence_beside(directory: Path) -> str | None:
    for name in _LICENCE_FILES:
        f = directory / name
        if f.is_file():
            try:
                found = spdx_from_text(f.read_text(encoding="utf-8", errors="replace"))
            except OSError:
                found = None
            if found:
                return found
    for name in _CARD_FILES:
        if (directory / name).is_file():
            found = _front_matter_licence(directory / name)
            if found:
                return found
    return None


def data_licence(source: Any) -> str | None:
    """The licence of ``source`` as an SPDX id (or the data set's own words), or None if not stated.

    ``source`` is what :func:`prefspace.data.load_preferences` takes: a path, a dataset name, a
    ``datasets.Dataset``/``DatasetDict``, a DataFrame or a list (the last two state no licence).
    Nothing is downloaded.
    """
    info = getattr(source, "info", None)
    if info is not None and hasattr(info, "license"):  # datasets.Dataset
        return _from_value(info.license)
    if type(source).__module__.startswith("datasets.") and type(source).__name__ in (
        "DatasetDict",
        "IterableDatasetDict",
    ):
        for part in source.values():  # DatasetDict: the splits share their info
            part_info = getattr(part, "info", None)
            if part_info is not None and hasattr(part_info, "license"):
                return _from_value(part_info.license)
        return None
    if not isinstance(source, (str, os.PathLike)):
        return None
    path = Path(os.fspath(source)).expanduser()
    if path.is_dir():
        for meta in [path / "dataset_info.json", *sorted(path.glob("*/dataset_info.json"))]:
            try:
                found = _from_value(json_loads(meta.read_text(encoding="utf-8")).get("license"))
            except (OSError, ValueError, AttributeError):
                found = None
            if found:
                return found
        return _licence_beside(path)
    if path.is_file():
        return _licence_beside(path.parent)
    return None
