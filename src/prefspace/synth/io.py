"""Synthetic pairs on disk: embeddings in safetensors, provenance in a CSV table.

Format ``prefspace-synthetic`` version 1, a folder holding:

* ``synthetic.safetensors`` MUST hold ``X`` (float32, (m, 2, dim), ``X[:, 0]`` the inherited
  chosen side), ``parent`` (int64, (m,)) and ``synthetic_side`` (uint8, (m, 2), 1 = decoded
  embedding, 0 = the parent's real embedding). Its metadata MUST hold ``format``
  (``"prefspace-synthetic"``), ``format_version`` (``"1"``) and ``method``; it MAY hold
  ``encoder_fingerprint`` and ``dataset_fingerprint``.
* ``provenance.csv`` MUST have one row per synthetic pair, in the same order, with columns
  ``row, parent, parent_id, source, method, chosen_synthetic, rejected_synthetic``
  (``source`` is always ``synthetic``; ``parent_id`` is the real pair's id when known).

Files are written atomically (a temporary name in the same folder, then ``os.replace``).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .._atomic import atomic_path
from ..exceptions import FormatError
from .pairs import SyntheticPairs

__all__ = ["save_synthetic", "load_synthetic", "FORMAT_NAME", "FORMAT_VERSION"]

FORMAT_NAME = "prefspace-synthetic"
FORMAT_VERSION = "1"


def save_synthetic(
    directory, synthetic: SyntheticPairs, *, parent_ids=None, metadata: dict | None = None
) -> Path:
    """Write ``synthetic`` to ``directory`` (created if missing); return the folder.

    ``parent_ids``: the ids of the real pairs the synthesizer was fitted on (indexed by
    ``parent``), written to the provenance table. ``metadata``: extra string metadata.
    """
    from safetensors.numpy import save_file

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    meta = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "method": synthetic.method}
    meta.update({str(k): str(v) for k, v in (metadata or {}).items()})
    tensors: dict[str, np.ndarray] = {
        "X": np.ascontiguousarray(synthetic.X, dtype=np.float32),
        "parent": np.ascontiguousarray(synthetic.parent, dtype=np.int64),
        "synthetic_side": np.ascontiguousarray(synthetic.synthetic_side, dtype=np.uint8),
    }
    with atomic_path(d / "synthetic.safetensors") as tmp:
        save_file(tensors, str(tmp), metadata=meta)

    table = synthetic.provenance()
    ids = None if parent_ids is None else [str(parent_ids[p]) for p in synthetic.parent]
    with (
        atomic_path(d / "provenance.csv") as tmp,
        open(tmp, "w", newline="", encoding="utf-8") as fh,
    ):
        w = csv.writer(fh)
        w.writerow(
            [
                "row",
                "parent",
                "parent_id",
                "source",
                "method",
                "chosen_synthetic",
                "rejected_synthetic",
            ]
        )
        for j in range(len(synthetic)):
            w.writerow(
                [
                    j,
                    int(table["parent"][j]),
                    "" if ids is None else ids[j],
                    synthetic.source,
                    synthetic.method,
                    int(table["chosen_synthetic"][j]),
                    int(table["rejected_synthetic"][j]),
                ]
            )
    return d


def load_synthetic(directory) -> SyntheticPairs:
    """Read a folder written by :func:`save_synthetic`; refuse anything else with a clear error."""
    from safetensors import safe_open

    path = Path(directory) / "synthetic.safetensors"
    if not path.is_file():
        raise FormatError(
            f"{path} not found: {directory} is not a synthetic-pairs folder (write one with `prefspace synth`)."
        )
    try:
        with safe_open(str(path), framework="numpy") as fh:
            meta = fh.metadata() or {}
            arrays = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as exc:  # safetensors raises its own types for corrupt files
        raise FormatError(f"{path} is not a readable safetensors file ({exc}).") from None
    if meta.get("format") != FORMAT_NAME:
        raise FormatError(
            f"{path}: metadata format is {meta.get('format')!r}, expected {FORMAT_NAME!r}."
        )
    if meta.get("format_version") != FORMAT_VERSION:
        raise FormatError(
            f"{path}: format_version {meta.get('format_version')!r} is not supported (this prefspace reads {FORMAT_VERSION!r})."
        )
    missing = {"X", "parent", "synthetic_side"} - set(arrays)
    if missing:
        raise FormatError(f"{path}: missing tensor(s) {', '.join(sorted(missing))}.")
    info = {k: v for k, v in meta.items() if k not in ("format", "format_version", "method")}
    return SyntheticPairs(
        arrays["X"],
        arrays["parent"],
        arrays["synthetic_side"].astype(bool),
        method=meta.get("method", ""),
        info=info,
    )
