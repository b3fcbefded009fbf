"""Embeddings made elsewhere: a lookup table from text (or row id) to vector.

``PrecomputedEncoder`` serves vectors it was given, e.g. the all-MiniLM-L6-v2 arrays shipped
with ``../shared/data/alpaca_bon``. It computes nothing: a text it does not hold is an error,
not a silent zero. ``scored_response_features`` builds the separate-layout rows
``[prompt vector, response vector]`` of a :class:`~prefspace.data.ScoredResponses` directly
from two arrays, which is what the best-of-N benchmarks need.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._jsonread import loads as json_loads
from ..data.dataset import canonical_prompt
from ..exceptions import ConfigError, DataError, FormatError, ShapeError
from .encoder import Encoder, check_layout, first_places, joint_key


def _load_array(path: str | Path, tensor: str | None = None) -> np.ndarray:
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: no such file.")
    if path.suffix == ".npy":
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    elif path.suffix == ".safetensors":
        from safetensors.numpy import load_file

        tensors = load_file(str(path))
        if tensor is None:
            if len(tensors) != 1:
                raise DataError(
                    f"{path} holds tensors {sorted(tensors)}; pass tensor=NAME to pick one."
                )
            tensor = next(iter(tensors))
        if tensor not in tensors:
            raise DataError(f"{path}: no tensor {tensor!r} (found {sorted(tensors)}).")
        arr = tensors[tensor]
    else:
        raise DataError(f"{path}: precomputed embeddings must be a .npy or .safetensors file.")
    if arr.ndim != 2:
        raise ShapeError(f"{path}: embeddings must have shape (n, dim); got {arr.shape}.")
    return np.asarray(arr, dtype=np.float32)


def _load_texts(source: Any, field: str | None) -> list[str]:
    """A list of strings, or a .json list / .jsonl(.gz) file (one ``field`` per line)."""
    if not isinstance(source, (str, Path)):
        return list(source)
    path = Path(source).expanduser()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        if path.name.endswith((".jsonl", ".jsonl.gz")):
            if not field:
                raise ConfigError(
                    f"{path} is JSON lines; pass text_field=NAME (the column holding the text)."
                )
            out = []
            for line_no, line in enumerate(f, 1):
                if line.strip():
                    row = _json(line, f"{path}:{line_no}")
                    if not isinstance(row, dict) or field not in row:
                        found = (
                            ", ".join(row)
                            if isinstance(row, dict)
                            else f"a JSON {type(row).__name__}"
                        )
                        raise DataError(
                            f"{path}:{line_no}: missing key {field!r} (found: {found})."
                        )
                    out.append(row[field])
            return out
        texts = _json(f.read(), str(path))
        if not isinstance(texts, list):
            raise DataError(
                f"{path}: expected a JSON list of texts; found a JSON {type(texts).__name__}."
            )
        return texts


def _json(text: str, where: str) -> Any:
    try:
        return json_loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{where}: invalid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})."
        ) from None


class PrecomputedEncoder(Encoder):
    """Vectors looked up by exact text (prompts by :func:`prefspace.data.canonical_prompt`).

    Parameters
    ----------
    vectors : array of shape (n, dim)
    texts : list of n keys: plain texts, prompts (str or messages), or for ``layout="joint"``
        ``(prompt, response)`` tuples. A repeated key keeps its first row.
    ids : list of n row ids, optional, for :meth:`vectors_for_ids`
    name : str, what made the vectors (shown in ``repr`` and ``info``)
    layout : "separate" or "joint"
    sources : list of dicts describing the files loaded (kept in ``config()`` so the encoder
        can be rebuilt); None for in-memory tables

    Example
    -------
    >>> enc = PrecomputedEncoder(np.eye(2), ["yes", "no"], name="toy")
    >>> enc.encode(["no"]).tolist()
    [[0.0, 1.0]]
    """

    backend = "precomputed"

    def __init__(
        self,
        vectors: Any,
        texts: Sequence[Any],
        *,
        ids: Sequence[Any] | None = None,
        name: str = "precomputed",
        layout: str = "separate",
        sources: list | None = None,
    ) -> None:
        arr = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
        if arr.ndim != 2:
            raise ShapeError(f"vectors must have shape (n, dim); got {arr.shape}.")
        texts = list(texts)
        if len(texts) != len(arr):
            raise ShapeError(
                f"got {len(arr)} vectors but {len(texts)} texts; they must match row for row."
            )
        if ids is not None and len(ids) != len(arr):
            raise ShapeError(
                f"got {len(arr)} vectors but {len(ids)} ids; they must match row for row."
            )
        self.vectors = arr
        self.layout = check_layout(layout)
        self.name = name
        self.sources = sources
        self.default_batch_size = 4096
        if layout == "joint":
            keys = [joint_key(*t) if isinstance(t, tuple) else t for t in texts]
        else:
            keys = [t if isinstance(t, str) else canonical_prompt(t) for t in texts]
        self._keys = keys
        self._row = first_places(keys)
        self.ids = None if ids is None else [str(i) for i in ids]
        self._id_row = None if self.ids is None else {k: i for i, k in enumerate(self.ids)}

    # -- building --------------------------------------------------------------------------
    @classmethod
    def from_file(
        cls,
        path: str | Path,
        texts: Any = None,
        ids: Any = None,
        *,
        text_field: str | None = None,
        tensor: str | None = None,
        name: str | None = None,
        layout: str = "separate",
    ) -> PrecomputedEncoder:
        """Vectors from a ``.npy``/``.safetensors`` file with their texts (a list, or a .json /
        .jsonl(.gz) file read with ``text_field``) and, optionally, row ids."""
        if texts is None:
            raise ConfigError(
                f"PrecomputedEncoder.from_file({path!r}) needs the texts of its rows (a list or a .jsonl file "
                "with text_field=...), so that encode() can look texts up."
            )
        vectors = _load_array(path, tensor)
        source = None
        if isinstance(texts, (str, Path)):
            source = {
                "path": str(Path(path).expanduser().resolve()),
                "texts": str(Path(texts).expanduser().resolve()),
                "text_field": text_field,
                "tensor": tensor,
            }
        return cls(
            vectors,
            _load_texts(texts, text_field),
            ids=ids,
            name=name or Path(path).stem,
            layout=layout,
            sources=None if source is None else [source],
        )

    @classmethod
    def combine(
        cls, encoders: Sequence[PrecomputedEncoder], *, name: str | None = None
    ) -> PrecomputedEncoder:
        """One table holding the rows of several (same dimension and layout; first key wins)."""
        encoders = list(encoders)
        if not encoders:
            raise ConfigError("combine() needs at least one PrecomputedEncoder.")
        dims = {e.dim for e in encoders}
        if len(dims) != 1 or len({e.layout for e in encoders}) != 1:
            raise ShapeError(
                f"cannot combine tables of dimensions {sorted(dims)} / different layouts."
            )
        sources: list | None = []  # None once a part was built in memory
        for e in encoders:
            sources = None if sources is None or e.sources is None else sources + e.sources
        out = cls(
            np.concatenate([e.vectors for e in encoders]),
            [k for e in encoders for k in e._keys],
            name=name or "+".join(e.name for e in encoders),
            layout=encoders[0].layout,
            sources=sources,
        )
        return out

    @classmethod
    def from_scored_responses(
        cls, scored: Any, prompt_emb: Any, response_emb: Any, *, name: str = "precomputed"
    ) -> PrecomputedEncoder:
        """A table over a ScoredResponses' prompts and responses (arrays or .npy paths, rows in
        the order of ``scored.prompts`` and of ``scored``'s rows)."""
        P = (
            _load_array(prompt_emb)
            if isinstance(prompt_emb, (str, Path))
            else np.asarray(prompt_emb, np.float32)
        )
        R = (
            _load_array(response_emb)
            if isinstance(response_emb, (str, Path))
            else np.asarray(response_emb, np.float32)
        )
        _check_scored_shapes(scored, P, R)
        return cls(np.concatenate([P, R]), [*scored.prompts, *scored.responses], name=name)

    # -- the Encoder interface -------------------------------------------------------------
    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def _identity(self) -> dict:
        h = hashlib.sha256(self.vectors.tobytes())
        for k in self._keys:
            h.update(k.encode("utf-8", "surrogatepass") + b"\0")
        return {"table_sha256": h.hexdigest()[:32]}

    _config_fields: tuple[str, ...] = ("name", "layout", "sources")

    def _config(self) -> dict:
        return {**super()._config(), "fingerprint": self.vectors_fingerprint}

    @classmethod
    def from_config(cls, cfg: dict) -> PrecomputedEncoder:
        sources = cfg.get("sources")
        if not sources:
            raise ConfigError(
                f"the precomputed encoder {cfg.get('name')!r} was built in memory and cannot be rebuilt "
                "from its config; build it again (PrecomputedEncoder.from_file / from_scored_responses) and pass it."
            )
        parts = [
            cls.from_file(
                s["path"],
                s["texts"],
                text_field=s.get("text_field"),
                tensor=s.get("tensor"),
                layout=cfg.get("layout", "separate"),
            )
            for s in sources
        ]
        enc = parts[0] if len(parts) == 1 else cls.combine(parts)
        enc.name = cfg.get("name", enc.name)
        return enc

    def _lookup(self, keys: list[str], what: str) -> np.ndarray:
        rows = [self._row.get(k, -1) for k in keys]
        missing = [i for i, r in enumerate(rows) if r < 0]
        if missing:
            raise DataError(
                f"{len(missing)} of {len(keys)} {what} are not in the precomputed table {self.name!r} "
                f"(first: {keys[missing[0]][:80]!r}). A precomputed encoder only returns vectors it was "
                "given: embed new text with the model that made them (e.g. get_encoder('all-MiniLM-L6-v2'))."
            )
        return self.vectors[rows]

    def _encode_texts(self, texts: list[str]) -> np.ndarray:
        return self._lookup(texts, "texts")

    def _encode_prompts(self, prompts: list) -> np.ndarray:
        return self._lookup([canonical_prompt(p) for p in prompts], "prompts")

    def _encode_joint(self, prompts: list, responses: list[str]) -> np.ndarray:
        return self._lookup(
            [joint_key(p, r) for p, r in zip(prompts, responses)], "(prompt, response) pairs"
        )

    def vectors_for_ids(self, ids: Sequence[Any]) -> np.ndarray:
        """float32 ``(n, dim)`` rows by row id (needs ``ids`` at construction)."""
        if self._id_row is None:
            raise ConfigError(
                f"the precomputed table {self.name!r} was built without ids; pass ids=... to build it."
            )
        keys = [str(i) for i in ids]
        unknown = [k for k in keys if k not in self._id_row]
        if unknown:
            raise DataError(
                f"{len(unknown)} ids are not in the precomputed table {self.name!r} (first: {unknown[0]!r})."
            )
        return self.vectors[[self._id_row[k] for k in keys]]


def _check_scored_shapes(scored: Any, P: np.ndarray, R: np.ndarray) -> None:
    if P.ndim != 2 or R.ndim != 2 or P.shape[1] != R.shape[1]:
        raise ShapeError(
            f"prompt and response embeddings must be (n, dim) with one dim; got {P.shape} and {R.shape}."
        )
    if len(P) != len(scored.prompts):
        raise ShapeError(
            f"prompt embeddings have {len(P)} rows but the data has {len(scored.prompts)} prompts; "
            "rows must follow the prompts file order."
        )
    if len(R) != len(scored.responses):
        raise ShapeError(
            f"response embeddings have {len(R)} rows but the data has {len(scored.responses)} responses; "
            "rows must follow the responses file order."
        )


def scored_response_features(scored: Any, prompt_emb: Any, response_emb: Any) -> np.ndarray:
    """Separate-layout rows ``[prompt vector, response vector]`` for every scored response.

    Parameters
    ----------
    scored : ScoredResponses (``prompt_index`` maps each row to its prompt)
    prompt_emb : array (n_prompts, dim) or a .npy path, rows in the order of ``scored.prompts``
    response_emb : array (n, dim) or a .npy path, rows in the order of ``scored``'s rows

    Returns
    -------
    ndarray of shape (n, 2 * dim), float32

    Example
    -------
    >>> from pathlib import Path
    >>> from prefspace.data import load_scored_responses
    >>> d = Path("../shared/data/alpaca_bon")
    >>> scored = load_scored_responses(d / "responses.jsonl.gz", prompts=d / "prompts.jsonl.gz")
    >>> scored_response_features(scored, d / "prompt_emb_minilm.npy", d / "response_emb_minilm.npy").shape
    (48290, 768)
    """
    P = _load_array(prompt_emb) if isinstance(prompt_emb, (str, Path)) else np.asarray(prompt_emb)
    R = (
        _load_array(response_emb)
        if isinstance(response_emb, (str, Path))
        else np.asarray(response_emb)
    )
    _check_scored_shapes(scored, P, R)
    index = np.asarray(scored.prompt_index, dtype=np.int64)
    out = np.empty((len(R), 2 * P.shape[1]), dtype=np.float32)
    out[:, : P.shape[1]] = P[index]
    out[:, P.shape[1] :] = R
    if not np.isfinite(out).all():
        raise FormatError("the precomputed embeddings contain NaN or infinite values.")
    return out
