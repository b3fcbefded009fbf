"""Synthetic pairs and the LENS pairing rule shared by every synthesizer.

``SyntheticPairs`` is what every ``sample()`` returns: the synthetic pair embeddings, the
index of the real pair each one came from, and which of its two sides is synthetic. The
pairing rule (Tao, Du & Li 2025, Sec. 3.2) combines, within one real pair, the real and
synthetic chosen responses with the real and synthetic rejected responses, drops the
original (real, real) combination and keeps ``factor`` of the rest. This module does not
synthesize anything itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._validation import check_whole
from ..exceptions import ConfigError, ShapeError

__all__ = ["SyntheticPairs", "combine_within_pairs", "responses_per_side"]


@dataclass
class SyntheticPairs:
    """Synthetic preference pairs, kept apart from the real ones they came from.

    Attributes
    ----------
    X : float32 ndarray of shape (m, 2, dim)
        ``X[:, 0]`` is the (inherited) chosen side, ``X[:, 1]`` the rejected side.
    parent : int64 ndarray of shape (m,)
        Row of the real pair (in the ``X`` given to ``fit``) each synthetic pair came from.
        Labels are inherited from it: the parent's chosen side stays the chosen side.
    synthetic_side : bool ndarray of shape (m, 2)
        ``synthetic_side[j, 0]`` is True when the chosen side of pair ``j`` is synthetic (a
        decoded embedding) rather than the parent's real chosen embedding; likewise ``[:, 1]``.
    method : str
        The synthesizer that made them ("lens", "pca", "perturb", "gaussian", "mixup").
    source : str
        Always ``"synthetic"``; real pairs carry ``"real"`` in provenance tables.
    info : dict
        Anything the synthesizer wants to report (JSON-able).

    Example
    -------
    >>> import numpy as np
    >>> s = SyntheticPairs(np.zeros((3, 2, 4), np.float32), np.array([0, 0, 1]),
    ...                    np.ones((3, 2), bool), method="perturb")
    >>> len(s), s.source
    (3, 'synthetic')
    """

    X: np.ndarray
    parent: np.ndarray
    synthetic_side: np.ndarray
    method: str
    source: str = "synthetic"
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.X = np.asarray(self.X, dtype=np.float32)
        self.parent = np.asarray(self.parent, dtype=np.int64)
        self.synthetic_side = np.asarray(self.synthetic_side, dtype=bool)
        m = self.X.shape[0]
        if self.X.ndim != 3 or self.X.shape[1] != 2:
            raise ShapeError(f"SyntheticPairs.X must have shape (m, 2, dim); got {self.X.shape}.")
        if self.parent.shape != (m,):
            raise ShapeError(
                f"SyntheticPairs.parent must have shape ({m},); got {self.parent.shape}."
            )
        if self.synthetic_side.shape != (m, 2):
            raise ShapeError(
                f"SyntheticPairs.synthetic_side must have shape ({m}, 2); got {self.synthetic_side.shape}."
            )

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def select(self, indices) -> SyntheticPairs:
        """The subset ``indices`` (e.g. after a label-consistency filter), same method and info."""
        idx = np.asarray(indices)
        return SyntheticPairs(
            self.X[idx],
            self.parent[idx],
            self.synthetic_side[idx],
            self.method,
            self.source,
            dict(self.info),
        )

    def provenance(self) -> dict[str, np.ndarray]:
        """Columns of a provenance table: ``parent``, ``source``, ``method``, ``chosen_synthetic``,
        ``rejected_synthetic``, one row per synthetic pair."""
        m = len(self)
        return {
            "row": np.arange(m, dtype=np.int64),
            "parent": self.parent,
            "source": np.full(m, self.source, dtype=object),
            "method": np.full(m, self.method, dtype=object),
            "chosen_synthetic": self.synthetic_side[:, 0],
            "rejected_synthetic": self.synthetic_side[:, 1],
        }


def responses_per_side(factor: int) -> int:
    """The fewest synthetic responses per side ``s`` with ``(s + 1)**2 - 1 >= factor``.

    With ``s`` synthetic chosen and ``s`` synthetic rejected responses a pair offers
    ``(s + 1)**2 - 1`` new combinations (all of real-or-synthetic chosen x real-or-synthetic
    rejected except the original), so 2x needs s = 1 and 4x or 8x need s = 2.

    >>> [responses_per_side(k) for k in (1, 2, 3, 4, 8, 9)]
    [1, 1, 1, 2, 2, 3]
    """
    factor = check_whole(factor, name="factor")
    s = 1
    while (s + 1) ** 2 - 1 < factor:
        s += 1
    return s


def combine_within_pairs(
    X_real: np.ndarray,
    syn_chosen: np.ndarray,
    syn_rejected: np.ndarray,
    factor: int,
    rng: np.random.Generator,
    *,
    method: str,
    info: dict | None = None,
) -> SyntheticPairs:
    """Pair real and synthetic responses within each real pair and keep ``factor`` per pair.

    Parameters
    ----------
    X_real : ndarray of shape (n, 2, dim), the real pairs.
    syn_chosen, syn_rejected : ndarray of shape (n, s, dim), ``s`` synthetic responses per
        side of every real pair (decoded from the chosen / rejected response of that pair).
    factor : synthetic pairs per real pair; must not exceed ``(s + 1)**2 - 1``.
    rng : numpy Generator choosing the subset.

    Returns
    -------
    SyntheticPairs with ``n * factor`` pairs, ordered by parent.
    """
    n, s, dim = syn_chosen.shape
    if syn_rejected.shape != (n, s, dim) or X_real.shape != (n, 2, dim):
        raise ShapeError(
            f"shapes do not line up: X_real {X_real.shape}, syn_chosen {syn_chosen.shape}, syn_rejected {syn_rejected.shape}."
        )
    n_combos = (s + 1) ** 2 - 1
    if factor > n_combos:
        raise ConfigError(
            f"factor {factor} needs more than {s} synthetic responses per side ({n_combos} combinations)."
        )
    # Candidate (a, b): a = 0 is the real chosen, a >= 1 synthetic chosen a - 1; same for b.
    grid = np.array(
        [(a, b) for a in range(s + 1) for b in range(s + 1) if (a, b) != (0, 0)], dtype=np.int64
    )
    pick = np.argsort(rng.random((n, n_combos)), axis=1)[:, :factor]  # uniform subset per pair
    ab = grid[pick]  # (n, factor, 2)
    chosen_pool = np.concatenate([X_real[:, None, 0], syn_chosen], axis=1)  # (n, s+1, dim)
    rejected_pool = np.concatenate([X_real[:, None, 1], syn_rejected], axis=1)
    rows = np.arange(n)[:, None]
    Xc = chosen_pool[rows, ab[..., 0]]  # (n, factor, dim)
    Xr = rejected_pool[rows, ab[..., 1]]
    X = np.stack([Xc, Xr], axis=2).reshape(n * factor, 2, dim)
    parent = np.repeat(np.arange(n, dtype=np.int64), factor)
    side = (ab > 0).reshape(n * factor, 2)
    return SyntheticPairs(X.astype(np.float32), parent, side, method=method, info=dict(info or {}))
