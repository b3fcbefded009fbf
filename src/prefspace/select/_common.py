"""What the selection strategies share: the base class with the input checks, model outputs
per row, streaming top-k over a lazy pool."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.base import BaseEstimator

from .._surface import option
from .._threads import limit_threads
from .._validation import check_pairs, check_whole
from ..exceptions import ConfigError, ShapeError
from .pools import DEFAULT_CHUNK_SIZE, PairPool

MAX_MATERIALISED = 200_000_000  # candidates D-optimal and coreset hold per-candidate vectors for


def check_pool(pool) -> PairPool:
    if not isinstance(pool, PairPool):
        raise ConfigError(
            f"pool must be a prefspace.select pool (WithinPromptPool, CrossPromptPool, ExplicitPairPool...); "
            f"got {type(pool).__name__}."
        )
    return pool


def check_k(k, pool: PairPool, n_excluded: int = 0) -> int:
    k = check_whole(k, name="k", what="pairs to choose")
    available = len(pool) - n_excluded
    if k > available:
        raise ConfigError(
            f"cannot choose {k} pairs: the pool has {len(pool)} candidates"
            + (f", {n_excluded} of them excluded" if n_excluded else "")
            + f". Ask for at most {max(available, 0)} or use a larger pool."
        )
    return k


def check_exclude(exclude, pool: PairPool) -> np.ndarray:
    """Sorted unique int64 pool indices not to choose (empty when None)."""
    if exclude is None:
        return np.zeros(0, dtype=np.int64)
    return np.unique(pool._check_indices(exclude))


def check_labelled(labelled, dim: int) -> np.ndarray | None:
    """Already-labelled pairs as float32 ``(m, 2, D)``, or None."""
    if labelled is None:
        return None
    arr = np.asarray(labelled)
    if arr.ndim == 3 and arr.shape[0] == 0:
        return None
    return check_pairs(arr, name="labelled", dim=dim)


def require_method(model, name: str, strategy: str):
    if model is None or not callable(getattr(model, name, None)):
        raise ConfigError(
            f"the {strategy} strategy needs a fitted reward model with a {name}() method; "
            f"got {type(model).__name__}."
        )


def row_rewards(model, features: np.ndarray, strategy: str) -> np.ndarray:
    """``model.predict`` on every row, float64 ``(n_rows,)``."""
    require_method(model, "predict", strategy)
    r = np.asarray(model.predict(features), dtype=np.float64).ravel()
    if r.shape != (features.shape[0],):
        raise ShapeError(
            f"model.predict returned shape {r.shape}; expected ({features.shape[0]},)."
        )
    return r


def row_transform(model, features: np.ndarray, strategy: str) -> np.ndarray:
    """``model.transform`` on every row (last hidden layer), float64 ``(n_rows, h)``."""
    require_method(model, "transform", strategy)
    F = np.asarray(model.transform(features), dtype=np.float64)
    if F.ndim != 2 or F.shape[0] != features.shape[0]:
        raise ShapeError(
            f"model.transform returned shape {F.shape}; expected ({features.shape[0]}, h)."
        )
    return F


def pair_rows(
    pool: PairPool, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """The two row indices of every candidate, as int32 (or int64 for > 2**31 rows) arrays ``(n,)``."""
    dtype = np.int32 if pool.n_rows < 2**31 else np.int64
    a = np.empty(len(pool), dtype=dtype)
    b = np.empty(len(pool), dtype=dtype)
    for idx, rows in pool.chunks(chunk_size):
        a[idx] = rows[:, 0]
        b[idx] = rows[:, 1]
    return a, b


def compact_pair_rows(
    pool: PairPool, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(used, a, b)``: the feature rows the candidates touch (sorted, int64) and each
    candidate's two rows as positions in ``used`` (int32). Models then run on ``used`` rows only,
    and each greedy step's matrix-vector product is over ``len(used)`` rows, not the whole pool's."""
    if len(pool) > MAX_MATERIALISED:
        raise ConfigError(
            f"this strategy keeps about 24 bytes per candidate and the pool has {len(pool):,} candidates "
            f"(~{24 * len(pool) / 2**30:.0f} GiB); choose from a sample: pool.sample(1_000_000) "
            f"({option('max_candidates')})."
        )
    a, b = pair_rows(pool, chunk_size)
    used, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
    inverse = inverse.astype(np.int32 if used.size < 2**31 else np.int64)
    return used.astype(np.int64), inverse[: a.size], inverse[a.size :]


def stream_top_k(
    pool: PairPool,
    score: Callable[[np.ndarray], np.ndarray],
    k: int,
    *,
    largest: bool,
    exclude: np.ndarray,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> np.ndarray:
    """The ``k`` candidates with the largest (or smallest) ``score(rows)``, chunk by chunk.

    ``score`` maps a chunk's rows ``(m, 2)`` to float64 scores ``(m,)``. Only one chunk plus the
    ``k`` best so far are in memory. Ties go to the lower pool index. Returns pool indices ordered
    best first.
    """
    best_idx = np.zeros(0, dtype=np.int64)
    best_key = np.zeros(0, dtype=np.float64)
    for idx, rows in pool.chunks(chunk_size):
        key = np.asarray(score(rows), dtype=np.float64)
        key = -key if largest else key  # smaller key is better
        if exclude.size:
            key = np.where(np.isin(idx, exclude, assume_unique=False), np.inf, key)
        cand_idx = np.concatenate([best_idx, idx])
        cand_key = np.concatenate([best_key, key])
        if cand_idx.size > k:
            keep = np.argpartition(cand_key, k - 1)[:k]
            # argpartition may split ties at the boundary arbitrarily: resolve them by index
            kth = cand_key[keep].max()
            tied = np.flatnonzero(cand_key == kth)
            if tied.size > 1:
                strict = keep[cand_key[keep] < kth]
                fill = tied[np.argsort(cand_idx[tied], kind="stable")][: k - strict.size]
                keep = np.concatenate([strict, fill])
            cand_idx, cand_key = cand_idx[keep], cand_key[keep]
        best_idx, best_key = cand_idx, cand_key
    order = np.lexsort((best_idx, best_key))
    return best_idx[order]


class BaseSelector(BaseEstimator):
    """Base class of the selection strategies: ``select(pool, model, k, labelled=, exclude=)``.

    ``select`` checks what every strategy takes (a pool, ``k`` within what the pool holds once
    ``exclude`` is left out, pool indices in ``exclude``), then the selector's own parameters
    (``_check_params``), and runs ``_select`` with ``n_jobs`` threads (for selectors that have
    that parameter; BLAS and torch, through :func:`prefspace._threads.limit_threads`).
    Subclasses implement ``_select`` and set ``strategy_name`` (their name in
    ``prefspace.select.STRATEGIES``). Parameters mean the same in every selector:
    ``random_state`` (None, an int or a numpy Generator), ``n_jobs`` (None keeps the
    libraries' thread counts, -1 all cores), ``chunk_size`` (pairs per chunk of the pool).
    """

    strategy_name = "base"

    def select(self, pool: PairPool, model, k: int, *, labelled=None, exclude=None) -> np.ndarray:
        """Indices (int64, shape ``(k,)``, all distinct, none in ``exclude``) into ``pool``.

        Parameters
        ----------
        pool : a candidate pool (``WithinPromptPool``, ``CrossPromptPool``, ...)
        model : a fitted reward head (what the strategy needs of it: ``predict``, ``transform``,
            the members of a ``RewardEnsemble``); ignored by the random strategy
        k : how many pairs
        labelled : array of shape (m, 2, D), pairs already labelled (past-aware, coreset)
        exclude : pool indices never to choose
        """
        self._check_params()
        pool = check_pool(pool)
        exclude = check_exclude(exclude, pool)
        k = check_k(k, pool, exclude.size)
        with limit_threads(getattr(self, "n_jobs", None)):
            picked = self._select(pool, model, k, labelled=labelled, exclude=exclude)
        return np.asarray(picked, dtype=np.int64)

    def _check_params(self) -> None:
        """Refuse bad parameter values (subclasses add theirs)."""

    def _select(
        self, pool: PairPool, model, k: int, *, labelled, exclude: np.ndarray
    ) -> np.ndarray:
        raise NotImplementedError


class ChunkedSelector(BaseSelector):
    """A selector that passes over the pool in chunks: it holds ``chunk_size`` (pairs per chunk
    of the pool) and ``n_jobs`` (threads for the model's outputs; None keeps the libraries'
    settings). A subclass with parameters of its own lists them all in its ``__init__`` and
    passes these two on to this one."""

    def __init__(self, chunk_size: int = DEFAULT_CHUNK_SIZE, n_jobs: int | None = None):
        self.chunk_size = chunk_size
        self.n_jobs = n_jobs
