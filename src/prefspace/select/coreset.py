"""Coreset selection: greedy k-center on pair features (Sener and Savarese, 2018).

A pair is represented by ``d = phi(a) - phi(b)`` in the model's last hidden layer
(``model.transform``). A pair is unordered, so ``d`` and ``-d`` are the same pair; the distance
between pairs ``k`` and ``c`` is ``min(|d_k - d_c|, |d_k + d_c|)``, i.e.
``dist^2 = |d_k|^2 + |d_c|^2 - 2 |d_k . d_c|``. Each step picks the candidate farthest from every
centre so far. The centres start as the already-labelled pairs, or, when there are none, the
zero vector (a pair of identical responses), so the first pick is the pair with the largest
``|d|``. Each step costs one (n_rows, h) matrix-vector product and two gathers, as in D-optimal.
"""

from __future__ import annotations

import logging

import numpy as np

from ._common import ChunkedSelector, check_labelled, compact_pair_rows, row_transform
from .pools import DEFAULT_CHUNK_SIZE, PairPool

logger = logging.getLogger(__name__)


def greedy_k_center(F, a, b, k: int, *, centers=None, exclude=None) -> np.ndarray:
    """Greedy k-center over pairs ``d_k = F[a_k] - F[b_k]`` with the unordered-pair distance.

    Parameters
    ----------
    F : array of shape (n_rows, h)
    a, b : int arrays of shape (n,)
    k : number of centres to add
    centers : array of shape (m, h) of existing centres (pair differences), or None
    exclude : int array of candidates never to choose

    Returns int64 ``(k,)`` in the order chosen (farthest first).

    Example
    -------
    >>> import numpy as np
    >>> F = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
    >>> greedy_k_center(F, np.array([0, 0, 0]), np.array([1, 2, 3]), 2).tolist()
    [1, 2]
    """
    F = np.asarray(F, dtype=np.float64)
    sq = np.einsum("ij,ij->i", F, F)
    norm2 = np.empty(a.shape[0], dtype=np.float64)
    for start in range(0, a.shape[0], DEFAULT_CHUNK_SIZE):
        sl = slice(start, start + DEFAULT_CHUNK_SIZE)
        norm2[sl] = sq[a[sl]] + sq[b[sl]] - 2.0 * np.einsum("ij,ij->i", F[a[sl]], F[b[sl]])
    np.maximum(norm2, 0.0, out=norm2)

    def dist2_to(c: np.ndarray) -> np.ndarray:
        s = F @ c
        return norm2 + float(c @ c) - 2.0 * np.abs(s[a] - s[b])

    mind = norm2.copy()  # distance to the zero pair
    if centers is not None:
        # many centres at once: blocks of centres against chunks of candidates
        C = np.asarray(centers, dtype=np.float64)
        cn = np.einsum("ij,ij->i", C, C)
        for c0 in range(0, C.shape[0], 128):
            S = F @ C[c0 : c0 + 128].T  # (n_rows, block)
            for start in range(0, a.shape[0], 16384):
                sl = slice(start, start + 16384)
                d2 = cn[None, c0 : c0 + 128] - 2.0 * np.abs(S[a[sl]] - S[b[sl]])
                np.minimum(mind[sl], norm2[sl] + d2.min(axis=1), out=mind[sl])
    if exclude is not None and len(exclude):
        mind[np.asarray(exclude)] = -np.inf
    picked = np.empty(k, dtype=np.int64)
    for step in range(k):
        j = int(np.argmax(mind))
        picked[step] = j
        np.minimum(mind, dist2_to(F[a[j]] - F[b[j]]), out=mind)
        mind[j] = -np.inf
    return picked


class CoresetSelector(ChunkedSelector):
    """Greedy k-center on pair features: a batch that covers the pool's pair space.

    Labelled pairs passed to ``select(..., labelled=...)`` are the starting centres.

    Parameters
    ----------
    chunk_size : pairs per chunk in the pass over the pool.
    n_jobs : int or None, default None. Threads for the model's features and the distance
        updates; None keeps the libraries' settings.

    Example
    -------
    >>> import numpy as np
    >>> from prefspace.select import WithinPromptPool
    >>> class Linear:
    ...     def transform(self, E): return E
    >>> E = np.random.default_rng(0).normal(size=(8, 3))
    >>> CoresetSelector().select(WithinPromptPool(E, [0] * 4 + [1] * 4), Linear(), 2).shape
    (2,)
    """

    strategy_name = "coreset"

    def _select(
        self, pool: PairPool, model, k: int, *, labelled, exclude: np.ndarray
    ) -> np.ndarray:
        """In the order chosen."""
        used, a, b = compact_pair_rows(pool, self.chunk_size)
        F = row_transform(model, pool.features[used], "coreset")
        past = check_labelled(labelled, pool.features.shape[1])
        centers = None
        if past is not None:
            centers = row_transform(model, past[:, 0], "coreset") - row_transform(
                model, past[:, 1], "coreset"
            )
        return greedy_k_center(F, a, b, k, centers=centers, exclude=exclude)
