"""Which pairs a head may hold out for early stopping, and which may train beside them.

A training set can hold real pairs and synthetic pairs made from them (``prefspace.synth``).
Two rules keep a head's validation pairs honest, whatever it is given:

* **Validation pairs are real pairs, held out by group** (prompt): all pairs of a prompt fall on
  the same side, so a validation prompt was never seen in training.
* **A synthetic pair trains only if its parent does**: the synthetic pairs of a held-out parent
  are dropped, so nothing derived from a validation pair reaches the training side.

:class:`PairLayout` carries, per row of ``X``, its ``parent`` (-1 for a real pair, else the row of
the real pair it was made from) and its ``group``; :meth:`PairLayout.split` draws the held-out
groups. Groups default to the prompt columns the rows share (:func:`prompt_groups`), else one
group per real pair. The split is drawn from its own stream (:func:`split_rng`), so that
``augment_pairs`` can ask a head which pairs it will hold out *before* anything is synthesized
and fit the synthesizer on the training side only.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np

from .._validation import check_random_state
from ..exceptions import ShapeError

__all__ = ["PairLayout", "prompt_groups", "shared_column_mask", "split_rng"]

_SPLIT_STREAM = 0x5B17


def shared_column_mask(X: np.ndarray) -> np.ndarray:
    """Bool (dim,): True for columns equal on the chosen and rejected side of every pair."""
    return np.all(X[:, 0, :] == X[:, 1, :], axis=0)


def prompt_groups(X: np.ndarray) -> np.ndarray | None:
    """Group id per pair from the shared (prompt) columns, or None when there are none.

    With the ``separate`` layout a row is ``[prompt embedding, response embedding]``: the
    columns equal on both sides of every pair are the prompt's, and pairs with the same values
    there share a prompt. A constant column (one the encoder always leaves at 0) is shared too
    but says nothing about the prompt, so only shared columns that vary between pairs count.

    >>> X = np.zeros((3, 2, 3), np.float32); X[:, :, 0] = [[1, 1], [2, 2], [1, 1]]; X[:, 1, 2] = 1
    >>> g = prompt_groups(X)
    >>> bool(g[0] == g[2] and g[0] != g[1])
    True
    """
    X = np.asarray(X)
    if X.shape[0] < 2:
        return None
    shared = shared_column_mask(X) & np.any(X[:, 0, :] != X[:1, 0, :], axis=0)
    if not shared.any():
        return None
    view = np.ascontiguousarray(X[:, 0, shared]).view(np.uint8).reshape(X.shape[0], -1)
    _, g = np.unique(view, axis=0, return_inverse=True)
    return g.ravel().astype(np.int64)


def split_rng(random_state) -> np.random.Generator:
    """The stream a head draws its validation split from, derived from its ``random_state``.

    It does not consume ``random_state`` (a Generator is copied), so asking for the split
    before ``fit`` (``validation_split``) and drawing it inside ``fit`` give the same pairs.
    ``None`` uses a fixed stream: the split is reproducible even when initialisation is not.
    """
    if isinstance(random_state, np.random.Generator):
        seed = int(copy.deepcopy(random_state).integers(2**63 - 1))
    elif random_state is None:
        seed = 0
    else:
        check_random_state(random_state)  # refuses what is not None, an int >= 0 or a Generator
        seed = int(random_state)
    return np.random.default_rng([seed, _SPLIT_STREAM])


@dataclass(frozen=True)
class PairLayout:
    """Per row of a training set: its ``parent`` (-1: real) and its ``group`` (prompt).

    Synthetic rows carry their parent's group.
    """

    parent: np.ndarray
    groups: np.ndarray

    @classmethod
    def build(cls, X: np.ndarray, groups=None, parent=None) -> PairLayout:
        """Check ``groups`` / ``parent`` against ``X`` (n, 2, D) and fill in the defaults."""
        n = len(X)
        if parent is None:
            par = np.full(n, -1, dtype=np.int64)
        else:
            raw = np.asarray(parent)
            if raw.shape != (n,) or not np.issubdtype(raw.dtype, np.integer):
                raise ShapeError(
                    f"parent must be {n} integers, one per pair (-1 for a real pair); got shape {raw.shape}, dtype {raw.dtype}."
                )
            par = raw.astype(np.int64)
            syn = par >= 0
            if (par < -1).any() or (par >= n).any():
                raise ShapeError(
                    f"parent must hold -1 (real pair) or the row of a real pair in 0..{n - 1}."
                )
            if syn.any() and (par[par[syn]] != -1).any():
                raise ShapeError(
                    "parent must point at real pairs (rows whose own parent is -1), not at synthetic ones."
                )
        real = par < 0
        if groups is None:
            g_real = prompt_groups(X[real])
            if g_real is None:
                g_real = np.arange(int(real.sum()), dtype=np.int64)
            g = np.empty(n, dtype=np.int64)
            g[real] = g_real
        else:
            raw = np.asarray(groups)
            if raw.shape != (n,):
                raise ShapeError(
                    f"groups must have shape ({n},), one group (e.g. prompt) per pair; got {raw.shape}."
                )
            _, g = np.unique(raw, return_inverse=True)
            g = g.ravel().astype(np.int64)
        g[~real] = g[par[~real]]
        return cls(par, g)

    @property
    def real(self) -> np.ndarray:
        return self.parent < 0

    @property
    def n_real(self) -> int:
        return int(self.real.sum())

    @property
    def has_synthetic(self) -> bool:
        return bool((self.parent >= 0).any())

    def select(self, keep: np.ndarray) -> PairLayout:
        """The layout of rows ``keep`` (sorted indices); synthetic rows whose parent is not kept
        are the caller's to drop first (see :meth:`keep_with_parents`)."""
        keep = np.asarray(keep, dtype=np.int64)
        new = np.full(len(self.parent), -1, dtype=np.int64)
        new[keep] = np.arange(len(keep))
        par = self.parent[keep]
        remapped = np.where(par >= 0, new[np.maximum(par, 0)], -1)
        if ((par >= 0) & (remapped < 0)).any():
            raise ShapeError("a synthetic pair was kept without its parent.")
        return PairLayout(remapped, self.groups[keep])

    def keep_with_parents(self, keep: np.ndarray) -> np.ndarray:
        """Bool mask ``keep`` minus synthetic rows whose parent is not kept."""
        keep = np.asarray(keep, dtype=bool).copy()
        syn = ~self.real
        keep[syn] &= keep[self.parent[syn]]
        return keep

    def split(self, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(train rows, validation rows): about ``fraction`` of the real pairs, by whole groups.

        Validation rows are real; synthetic rows of a held-out parent are in neither. No
        validation set (an empty one) when it would hold fewer than 2 pairs, leave fewer than 2
        real training pairs, or when there is only one group.
        """
        n = len(self.parent)
        real = np.flatnonzero(self.real)
        none = (np.arange(n), np.empty(0, dtype=np.int64))
        target = int(math.ceil(fraction * len(real))) if fraction > 0 else 0
        if target < 2 or len(real) - target < 2:
            return none
        g_real = self.groups[real]
        uniq, counts = np.unique(g_real, return_counts=True)
        if len(uniq) < 2:
            return none
        order = rng.permutation(len(uniq))
        taken = np.cumsum(counts[order])
        n_groups = int(np.searchsorted(taken, target) + 1)  # the fewest groups reaching the target
        held = uniq[order[:n_groups]]
        if len(real) - int(taken[n_groups - 1]) < 2:
            return none
        val_mask = np.zeros(n, dtype=bool)
        val_mask[real[np.isin(g_real, held)]] = True
        parent_held = np.zeros(n, dtype=bool)
        syn = ~self.real
        parent_held[syn] = val_mask[self.parent[syn]]
        train = np.flatnonzero(~val_mask & ~parent_held)
        return train, np.flatnonzero(val_mask)
