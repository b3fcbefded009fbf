"""The candidate pool the studio labels: responses, their feature rows and the candidate pairs.

:func:`~prefspace.studio.build_studio` reads POOL with :func:`prefspace.data.read_responses`,
as ``prefspace select`` does (one response per row, or a list of responses per row;
``--prompts`` for alpaca_bon's two-file layout); :func:`pool_features` gets one feature row per
response from either

- precomputed arrays (``features``: one row per response in POOL order, used as is; with
  ``prompt_features`` also given, one row per prompt and the rows become
  ``[prompt vector, response vector]``, the separate layout), or
- an encoder, through the embedding cache (what a model was trained with, or MiniLM).

The pool remembers a digest of its ids and texts, so a label database made with one pool is
never silently reused with another.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .._surface import option
from ..data.dataset import ScoredResponses
from ..embed import (
    EmbeddingCache,
    EmbedStats,
    Encoder,
    embed_responses,
    scored_response_features,
)
from ..exceptions import ConfigError, DataError, ShapeError
from ..select.pools import PairPool, get_pool

logger = logging.getLogger(__name__)

POOL_KINDS = ("within", "cross")

FeatureSource = str | os.PathLike | npt.ArrayLike
"""Precomputed feature rows: a .npy/.safetensors file, or an array."""


@dataclass
class LabelPool:
    """Candidate responses, one feature row per response, and the candidate pairs over them.

    Attributes
    ----------
    candidates : ScoredResponses (``scores`` NaN where POOL has none)
    features : float32 ``(n_responses, D)``, rows in ``candidates`` order
    pairs : the candidate pairs (a ``prefspace.select`` pool, possibly a sample)
    kind : ``"within"`` or ``"cross"``
    digest : sha256 of the ids, prompts and responses
    """

    candidates: ScoredResponses
    features: np.ndarray
    pairs: PairPool
    kind: str
    digest: str
    row_of: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.row_of:
            self.row_of = {rid: i for i, rid in enumerate(self.candidates.ids)}

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])

    def rows_for(
        self, id_pairs: list[tuple[str, str]], *, where: str = "the label database"
    ) -> np.ndarray:
        """Feature-row indices ``(m, 2)`` of pairs given by response ids."""
        out = np.empty((len(id_pairs), 2), dtype=np.int64)
        for k, (a, b) in enumerate(id_pairs):
            ra, rb = self.row_of.get(a), self.row_of.get(b)
            if ra is None or rb is None:
                missing = a if ra is None else b
                raise DataError(
                    f"{where} names response id {missing!r}, which is not in the pool {self.candidates.source!r}. "
                    f"Start the studio with the pool the database was made with (same file, same "
                    f"{option('id_key')})."
                )
            out[k] = (ra, rb)
        return out

    def prompt_of_rows(self, rows: np.ndarray) -> np.ndarray:
        return self.candidates.prompt_index[np.asarray(rows, dtype=np.int64)]

    def pair_record(self, ra: int, rb: int, *, strategy: str, gain: float | None = None) -> dict:
        """What the database and the page need about the pair of rows ``(ra, rb)``, A first."""
        c = self.candidates
        pa, pb = int(c.prompt_index[ra]), int(c.prompt_index[rb])
        rec = {
            "pair_id": f"{c.ids[ra]}|{c.ids[rb]}",
            "id_a": c.ids[ra],
            "id_b": c.ids[rb],
            "prompt": c.prompts[pa],
            "prompt_b": c.prompts[pb] if pa != pb else None,
            "response_a": c.responses[ra],
            "response_b": c.responses[rb],
            "strategy": strategy,
            "gain": None if gain is None else float(gain),
        }
        return rec


def pool_digest(candidates: ScoredResponses) -> str:
    """sha256 over the ids, each row's prompt and the responses (order matters)."""
    h = hashlib.sha256()
    for rid, p, r in zip(candidates.ids, candidates.prompt_index.tolist(), candidates.responses):
        prompt = candidates.prompts[p]
        h.update(str(rid).encode("utf-8", "surrogatepass") + b"\0")
        h.update(
            (prompt if isinstance(prompt, str) else json.dumps(prompt, sort_keys=True)).encode(
                "utf-8", "surrogatepass"
            )
            + b"\0"
        )
        h.update(r.encode("utf-8", "surrogatepass") + b"\1")
    return h.hexdigest()


def _as_matrix(source: FeatureSource, what: str) -> np.ndarray:
    """``source`` as a float32 array: read from its file when it is a path, else as given."""
    if isinstance(source, (str, os.PathLike)):
        return _load_matrix(source, what)
    return np.asarray(source, np.float32)


def _load_matrix(path: str | os.PathLike, what: str) -> np.ndarray:
    """A 2-D float32 array from a .npy file or a .safetensors file holding one tensor."""
    from pathlib import Path

    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: no such file ({what}).")
    if path.suffix == ".npy":
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError as exc:
            raise DataError(f"{path}: not a readable .npy array ({exc}).") from None
    elif path.suffix == ".safetensors":
        from safetensors.numpy import load_file

        tensors = load_file(str(path))
        if len(tensors) != 1:
            raise DataError(
                f"{path} holds tensors {sorted(tensors)}; {what} must be a file with one tensor."
            )
        arr = next(iter(tensors.values()))
    else:
        raise DataError(f"{path}: {what} must be a .npy or .safetensors file.")
    if arr.ndim != 2:
        raise ShapeError(f"{path}: {what} must have shape (n, dim); got {arr.shape}.")
    return np.asarray(arr, dtype=np.float32)


def pool_features(
    candidates: ScoredResponses,
    *,
    features: FeatureSource | None = None,
    prompt_features: FeatureSource | None = None,
    encoder: Encoder | None = None,
    cache: EmbeddingCache | str | os.PathLike | None = None,
    stats: EmbedStats | None = None,
) -> np.ndarray:
    """One float32 feature row per candidate response (see the module docstring); ``stats``
    (an :class:`~prefspace.embed.EmbedStats`) receives the embedding's cache counts."""
    n = len(candidates)
    if features is not None:
        R = _as_matrix(features, "features")
        if R.ndim != 2 or R.shape[0] != n:
            raise ShapeError(
                f"the precomputed features have shape {R.shape} but the pool has {n} responses; they must have one "
                "row per response, in the pool's order."
            )
        if prompt_features is not None:
            P = _as_matrix(prompt_features, "prompt features")
            return scored_response_features(candidates, P, R)
        E = np.ascontiguousarray(R, dtype=np.float32)
        if not np.isfinite(E).all():
            raise ShapeError("the precomputed features contain NaN or infinite values.")
        return E
    if prompt_features is not None:
        raise ConfigError(f"prompt features need the response features too ({option('features')}).")
    if encoder is None:
        raise ConfigError("the pool needs features: pass precomputed features or an encoder.")
    return embed_responses(
        candidates.row_prompts(), candidates.responses, encoder, cache, stats=stats
    )


def load_label_pool(
    candidates: ScoredResponses,
    features: np.ndarray,
    *,
    kind: str = "within",
    max_candidates: int | None = 1_000_000,
    random_state: int = 0,
) -> LabelPool:
    """Build the candidate pairs over ``candidates`` (a random sample of ``max_candidates``
    pairs when there are more; the same sample for the same seed)."""
    if kind not in POOL_KINDS:
        raise ConfigError(f"pool kind must be 'within' or 'cross'; got {kind!r}.")
    if len(set(candidates.ids)) != len(candidates.ids):
        raise DataError(f"{candidates.source}: response ids must be unique.")
    bad = [rid for rid in candidates.ids if "|" in str(rid)]
    if bad:
        raise DataError(
            f"{candidates.source}: response id {bad[0]!r} contains '|', which pair ids use as separator; "
            f"pass {option('id_key')} with ids without '|'."
        )
    full = get_pool(features, candidates.prompt_index, kind)
    if len(full) == 0:
        raise DataError(
            f"{candidates.source}: no candidate pairs ({kind}-prompt pool): "
            + (
                "every prompt has a single response; give at least two per prompt or use the cross-prompt pool."
                if kind == "within"
                else "all responses belong to one prompt; use the within-prompt pool."
            )
        )
    pairs = (
        full
        if max_candidates is None or len(full) <= int(max_candidates)
        else full.sample(int(max_candidates), random_state)
    )
    logger.info(
        "label pool: %d candidate pairs (%s-prompt) over %d responses to %d prompts",
        len(pairs),
        kind,
        len(candidates),
        candidates.n_prompts,
    )
    return LabelPool(
        candidates=candidates,
        features=full.features,
        pairs=pairs,
        kind=kind,
        digest=pool_digest(candidates),
    )
