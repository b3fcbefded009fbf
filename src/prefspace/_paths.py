"""The output-path guard: no command may write where it would destroy one of its own inputs.

Every function and command that writes calls :func:`check_output` with what it reads, before
any work (before loading an encoder or embedding a row), so a wrong ``--out`` costs nothing
and destroys nothing. It refuses with :class:`~prefspace.exceptions.ConfigError` (exit 2 on
the command line) when:

- the output *is* an input (the same path, through a link, or a hard link of it);
- the output contains an input, or an embedding cache it uses (a model folder is replaced
  whole, which would delete them; a folder the command writes into could overwrite them);
- a model folder to be replaced holds files other than the model's own (``model.json``,
  ``README.md``, ``metrics.json``, ``split.json``, ``test.jsonl``, the weights, the files and
  members its header names), or
  a non-empty folder that is not a model at all;
- a file output is an existing folder, or its parent is a file (late failures made early).

Three kinds of output are guarded: ``"file"`` (written atomically, e.g. ``score --out``),
``"folder"`` (files written into it, e.g. ``evaluate --out``; it may hold the command's own
default cache) and ``"model"`` (a model folder swapped in whole, e.g. ``train --out``).

What it does not do: it does not stop two commands from writing the same output at once, and
it compares paths as the file system resolves them now; a path that is not there yet is
compared by name after resolving its existing parents.

Example
-------
>>> import tempfile, pathlib
>>> tmp = pathlib.Path(tempfile.mkdtemp())
>>> _ = (tmp / "rows.jsonl").write_text("{}")
>>> check_output(tmp / "scores.jsonl", inputs=[tmp / "rows.jsonl"]).name
'scores.jsonl'
>>> try:
...     check_output(tmp / "rows.jsonl", inputs=[tmp / "rows.jsonl"], what="--out")
... except ConfigError as exc:
...     print(str(exc).split(";")[0].endswith("is the input " + str(tmp / "rows.jsonl")))
True
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from .exceptions import ConfigError

__all__ = ["check_output", "model_files", "KINDS"]

KINDS = ("file", "folder", "model")
MODEL_HEADER = "model.json"
# files prefspace writes beside a model's own: the card, and `prefspace train`'s metrics
_BESIDE_MODEL = (
    "README.md",
    "metrics.json",
    "split.json",
    "test.jsonl",
)  # written by train beside the model

PathLike = str | os.PathLike


def _resolve(path: PathLike) -> Path:
    return Path(path).expanduser().resolve()


def _same(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        try:
            return os.path.samefile(a, b)
        except OSError:
            pass
    return _resolve(a) == _resolve(b)


def _contains(folder: Path, path: Path) -> bool:
    return _resolve(folder) in _resolve(path).parents


def model_files(folder: PathLike) -> set[str] | None:
    """Top-level names a model folder may hold (its own files), or None when it is not a model.

    These are ``model.json``, the card and ``metrics.json``, the ``weights`` file, the ``files``
    and the first part of each ``members`` entry its header names.
    """
    folder = Path(folder)
    try:
        header = json.loads((folder / MODEL_HEADER).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(header, dict):
        return None
    names = {MODEL_HEADER, *_BESIDE_MODEL}
    refs = [header.get("weights"), *(header.get("files") or []), *(header.get("members") or [])]
    for ref in refs:
        if isinstance(ref, str) and ref:
            names.add(Path(ref).parts[0])
    return names


def check_output(
    out: PathLike,
    *,
    inputs: Iterable[PathLike | None] = (),
    caches: Iterable[PathLike | None] = (),
    kind: str = "file",
    what: str = "the output",
) -> Path:
    """Refuse ``out`` if writing it could destroy one of ``inputs`` or ``caches``; return it.

    Parameters
    ----------
    out : the file or folder the caller is about to write
    inputs : every file or folder the caller reads (data files, a model folder, a label
        database, a config); None entries and names that are not paths (a Hugging Face
        dataset name) are ignored
    caches : the embedding cache folders the caller reads and fills
    kind : ``"file"``, ``"folder"`` or ``"model"`` (see the module docstring)
    what : how to name the output in the message (``"--out"``)

    Raises
    ------
    ConfigError : the output is an input, contains an input or a cache, is a model folder
        holding other files, or cannot be a file of that kind; the message names both paths.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
    out = Path(out).expanduser()
    label = f"{what} {out}"
    fix = "Choose another path for the output; prefspace never writes over what it reads."
    input_paths = [Path(p).expanduser() for p in inputs if p is not None]
    cache_paths = [Path(p).expanduser() for p in caches if p is not None]

    for inp in input_paths:
        if _same(out, inp):
            raise ConfigError(
                f"{label} is the input {inp}; writing it would destroy that input. {fix}"
            )
    for cache in cache_paths:
        if _same(out, cache):
            raise ConfigError(
                f"{label} is the embedding cache {cache}; writing it would destroy the cache. {fix}"
            )
    if kind in ("folder", "model"):
        for inp in input_paths:
            if _contains(out, inp):
                raise ConfigError(
                    f"{label} contains the input {inp}; writing the {kind} there could destroy "
                    f"it. {fix}"
                )
    if kind == "model":  # a model folder is swapped in whole: everything else in it would go
        for cache in cache_paths:
            if _contains(out, cache):
                raise ConfigError(
                    f"{label} contains the embedding cache {cache}; replacing the model folder "
                    f"would delete it. {fix}"
                )
    _check_shape(out, kind, label, fix)
    return out


def _check_shape(out: Path, kind: str, label: str, fix: str) -> None:
    """What is already at ``out`` (and above it) must be something this kind may replace."""
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"{label}: {parent} is a file, not a folder. {fix}")
            break
    if not out.exists():
        return
    if kind == "file":
        if out.is_dir():
            raise ConfigError(
                f"{label} is a folder; it takes a file name (e.g. {out / 'out.jsonl'}). {fix}"
            )
        return
    if not out.is_dir():
        raise ConfigError(f"{label} is a file; it takes a folder. {fix}")
    if kind == "model":
        present = {p.name for p in out.iterdir()}
        if not present:
            return
        own = model_files(out)
        if own is None:
            raise ConfigError(
                f"{label} is a folder that holds files but no model ({MODEL_HEADER}); replacing it "
                f"would delete them. Choose an empty or new folder for the model."
            )
        foreign = sorted(present - own)
        if foreign:
            shown = ", ".join(repr(n) for n in foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            raise ConfigError(
                f"{label} holds a model and other files ({shown}); replacing the model folder "
                "would delete them. Move them out, or choose another folder for the model."
            )
