"""Candidate pools: the unlabelled pairs a selection strategy chooses from, generated lazily.

A pool is a set of response rows (``features``, shape ``(n_rows, D)``, one row per response as
``embed_responses`` makes it) and a numbering ``0 .. len(pool) - 1`` of candidate pairs of those
rows. Pair ``t`` is computed from ``t`` on demand (``pool.rows(t)``), so a pool of a billion
pairs costs memory in rows, not in pairs; strategies read it in chunks (``pool.chunks()``).

- :class:`WithinPromptPool`: every pair of two responses to the same prompt.
- :class:`CrossPromptPool`: every pair of two responses to different prompts.
- ``pool.subset(indices)`` / ``pool.sample(n, random_state)``: a :class:`SubsetPool`, the same
  pairs restricted to (and renumbered by) an index array.
- :class:`ExplicitPairPool`: pairs given as an ``(m, 2)`` array of row indices.

How the numbering works: rows are sorted by prompt (stable), and sorted row ``i`` owns the block
of pairs ``(i, j)`` with ``j`` in a contiguous range ``[lo_i, hi_i)`` of sorted rows: ``(i, end
of i's prompt)`` within a prompt, ``[end of i's prompt, n_rows)`` across prompts. Pair ``t`` is
found by a binary search over the block starts. What this module does not do: score pairs or
look at any model.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .._validation import check_embeddings, check_random_state
from ..exceptions import ConfigError, ShapeError

DEFAULT_CHUNK_SIZE = 65536


def _check_prompt_index(prompt_index, n_rows: int) -> np.ndarray:
    arr = np.asarray(prompt_index)
    if arr.shape != (n_rows,):
        raise ShapeError(
            f"prompt_index must have shape ({n_rows},), one entry per feature row; got {arr.shape}."
        )
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ShapeError(
            f"prompt_index must hold integers (a prompt number per row); got dtype {arr.dtype}."
        )
    return arr.astype(np.int64, copy=False)


class PairPool:
    """Base class: ``len(pool)`` candidate pairs over the rows of ``features``.

    Subclasses implement ``__len__`` and ``rows``. Everything else (chunks, pair features,
    subsets) is shared.
    """

    features: np.ndarray
    prompt_index: np.ndarray | None

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def rows(self, indices) -> np.ndarray:  # pragma: no cover - abstract
        """Row indices ``(m, 2)`` (int64) into ``features`` of the pairs at ``indices``."""
        raise NotImplementedError

    @property
    def n_rows(self) -> int:
        return int(self.features.shape[0])

    def _check_indices(self, indices) -> np.ndarray:
        idx = np.asarray(indices)
        if idx.ndim == 0:
            idx = idx[None]
        if idx.size and not np.issubdtype(idx.dtype, np.integer):
            raise ShapeError(f"pair indices must be integers; got dtype {idx.dtype}.")
        idx = idx.astype(np.int64, copy=False).ravel()
        n = len(self)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            bad = idx[(idx < 0) | (idx >= n)][0]
            raise ShapeError(f"pair index {bad} is out of range for a pool of {n} pairs.")
        return idx

    def index_of(self, rows) -> np.ndarray:  # pragma: no cover - abstract
        """Pool index of each pair of rows ``(m, 2)`` (either order), or -1 where it is not a candidate."""
        raise NotImplementedError

    def chunks(
        self, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(indices, rows)`` for consecutive chunks of at most ``chunk_size`` pairs.

        ``indices`` is int64 ``(m,)``, ``rows`` int64 ``(m, 2)``. Only one chunk is in memory.
        """
        if int(chunk_size) < 1:
            raise ConfigError(f"chunk_size must be >= 1; got {chunk_size!r}.")
        n = len(self)
        for start in range(0, n, int(chunk_size)):
            idx = np.arange(start, min(start + int(chunk_size), n), dtype=np.int64)
            yield idx, self.rows(idx)

    def pair_features(self, indices) -> np.ndarray:
        """Features of the pairs at ``indices``: float32 ``(m, 2, D)``, ``[:, 0]`` the first row."""
        r = self.rows(indices)
        return self.features[r]

    def subset(self, indices) -> SubsetPool:
        """The pairs at ``indices`` (in that order) as a new pool numbered ``0 .. len(indices)-1``."""
        return SubsetPool(self, indices)

    def sample(self, n: int, random_state=None) -> SubsetPool:
        """``n`` pairs drawn uniformly without replacement (all of them if ``n >= len(self)``),
        in increasing index order. Cheap for huge pools: it never enumerates them."""
        n = int(n)
        if n < 1:
            raise ConfigError(f"sample size must be >= 1; got {n}.")
        total = len(self)
        if n >= total:
            return SubsetPool(self, np.arange(total, dtype=np.int64))
        rng = check_random_state(random_state)
        idx = np.sort(rng.choice(total, size=n, replace=False))
        return SubsetPool(self, idx)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_pairs={len(self)}, n_rows={self.n_rows}, dim={self.features.shape[1]})"


class _BlockPool(PairPool):
    """Pairs ``(i, j)`` of sorted rows with ``j`` in ``[lo_i, hi_i)``; see the module docstring."""

    def __init__(self, features, prompt_index, *, cross: bool) -> None:
        self.features = check_embeddings(features, name="features")
        n = self.features.shape[0]
        self.prompt_index = _check_prompt_index(prompt_index, n)
        self.order_ = np.argsort(self.prompt_index, kind="stable")  # sorted position -> row
        sorted_prompt = self.prompt_index[self.order_]
        # end of each sorted row's prompt block (exclusive), as a sorted position
        group_end = np.searchsorted(sorted_prompt, sorted_prompt, side="right").astype(np.int64)
        pos = np.arange(n, dtype=np.int64)
        if cross:
            self.lo_, hi = group_end, np.full(n, n, dtype=np.int64)
        else:
            self.lo_, hi = pos + 1, group_end
        self.hi_ = hi
        self.pos_ = np.empty(n, dtype=np.int64)  # row -> sorted position
        self.pos_[self.order_] = np.arange(n, dtype=np.int64)
        counts = np.maximum(hi - self.lo_, 0)
        self.starts_ = (
            np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64) if n else counts
        )
        self.n_pairs_ = int(counts.sum())

    def __len__(self) -> int:
        return self.n_pairs_

    def rows(self, indices) -> np.ndarray:
        t = self._check_indices(indices)
        i = np.searchsorted(self.starts_, t, side="right") - 1
        j = self.lo_[i] + (t - self.starts_[i])
        return np.stack([self.order_[i], self.order_[j]], axis=1)

    def index_of(self, rows) -> np.ndarray:
        r = _check_rows(rows, self.n_rows)
        p = self.pos_[r]
        i, j = p.min(axis=1), p.max(axis=1)
        ok = (j >= self.lo_[i]) & (j < self.hi_[i])
        return np.where(ok, self.starts_[i] + (j - self.lo_[i]), -1)


def _check_rows(rows, n_rows: int) -> np.ndarray:
    r = np.asarray(rows)
    if r.ndim != 2 or r.shape[1] != 2 or (r.size and not np.issubdtype(r.dtype, np.integer)):
        raise ShapeError(
            f"rows must be an integer array of shape (m, 2); got {r.shape}, dtype {r.dtype}."
        )
    r = r.astype(np.int64)
    if r.size and (r.min() < 0 or r.max() >= n_rows):
        raise ShapeError(f"rows index outside features (which has {n_rows} rows).")
    return r


class WithinPromptPool(_BlockPool):
    """Every pair of two different responses to the same prompt.

    Parameters
    ----------
    features : array of shape (n_rows, D), one row per response
    prompt_index : int array of shape (n_rows,), the prompt of each row

    A prompt with ``m`` responses gives ``m (m - 1) / 2`` pairs.

    Example
    -------
    >>> import numpy as np
    >>> pool = WithinPromptPool(np.zeros((5, 3)), [0, 0, 0, 1, 1])
    >>> len(pool), pool.rows([0, 1, 2, 3]).tolist()
    (4, [[0, 1], [0, 2], [1, 2], [3, 4]])
    """

    def __init__(self, features, prompt_index) -> None:
        super().__init__(features, prompt_index, cross=False)


class CrossPromptPool(_BlockPool):
    """Every pair of two responses to different prompts.

    Parameters
    ----------
    features : array of shape (n_rows, D), one row per response
    prompt_index : int array of shape (n_rows,), the prompt of each row

    With ``n`` rows this is ``n (n - 1) / 2`` minus the within-prompt pairs: 1.17 billion for
    alpaca_bon's 48,290 responses. Nothing is enumerated; use ``sample(n)`` for a random subset.

    Example
    -------
    >>> import numpy as np
    >>> pool = CrossPromptPool(np.zeros((4, 3)), [0, 0, 1, 1])
    >>> len(pool), pool.rows([0, 1]).tolist()
    (4, [[0, 2], [0, 3]])
    """

    def __init__(self, features, prompt_index) -> None:
        super().__init__(features, prompt_index, cross=True)


class ExplicitPairPool(PairPool):
    """Pairs given outright as an ``(m, 2)`` array of row indices into ``features``.

    Example
    -------
    >>> import numpy as np
    >>> pool = ExplicitPairPool(np.eye(3), [[0, 1], [1, 2]])
    >>> pool.pair_features([1]).shape
    (1, 2, 3)
    """

    def __init__(self, features, pairs, prompt_index=None) -> None:
        self.features = check_embeddings(features, name="features")
        arr = np.asarray(pairs)
        if (
            arr.ndim != 2
            or arr.shape[1] != 2
            or (arr.size and not np.issubdtype(arr.dtype, np.integer))
        ):
            raise ShapeError(
                f"pairs must be an integer array of shape (m, 2); got {arr.shape}, dtype {arr.dtype}."
            )
        arr = arr.astype(np.int64)
        if arr.size and (arr.min() < 0 or arr.max() >= self.features.shape[0]):
            raise ShapeError(
                f"pairs index rows outside features (which has {self.features.shape[0]} rows)."
            )
        self.pairs = arr
        self.prompt_index = (
            None if prompt_index is None else _check_prompt_index(prompt_index, self.n_rows)
        )

    def __len__(self) -> int:
        return int(self.pairs.shape[0])

    def rows(self, indices) -> np.ndarray:
        return self.pairs[self._check_indices(indices)]

    def index_of(self, rows) -> np.ndarray:
        lookup = {(min(x, y), max(x, y)): t for t, (x, y) in enumerate(self.pairs.tolist())}
        r = _check_rows(rows, self.n_rows)
        return np.array(
            [lookup.get((min(x, y), max(x, y)), -1) for x, y in r.tolist()], dtype=np.int64
        )


class SubsetPool(PairPool):
    """The pairs of ``parent`` at ``indices``, renumbered ``0 .. len(indices) - 1``.

    ``to_parent(i)`` maps back to the parent's numbering.
    """

    def __init__(self, parent: PairPool, indices) -> None:
        self.parent = parent
        self.indices = parent._check_indices(indices)
        self.features = parent.features
        self.prompt_index = parent.prompt_index

    def __len__(self) -> int:
        return int(self.indices.size)

    def rows(self, indices) -> np.ndarray:
        return self.parent.rows(self.indices[self._check_indices(indices)])

    def index_of(self, rows) -> np.ndarray:
        parent_t = self.parent.index_of(rows)
        order = np.argsort(self.indices, kind="stable")
        pos = np.searchsorted(self.indices, parent_t, sorter=order)
        pos = np.minimum(pos, max(self.indices.size - 1, 0))
        found = (parent_t >= 0) & (self.indices.size > 0) & (self.indices[order[pos]] == parent_t)
        return np.where(found, order[pos], -1)

    def to_parent(self, indices) -> np.ndarray:
        """Indices in the parent pool of this pool's pairs at ``indices``."""
        return self.indices[self._check_indices(indices)]


def get_pool(features, prompt_index, kind: str = "within") -> PairPool:
    """``WithinPromptPool`` (``kind="within"``) or ``CrossPromptPool`` (``kind="cross"``)."""
    if kind == "within":
        return WithinPromptPool(features, prompt_index)
    if kind == "cross":
        return CrossPromptPool(features, prompt_index)
    raise ConfigError(f"pool kind must be 'within' or 'cross'; got {kind!r}.")
