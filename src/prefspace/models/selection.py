"""Model selection shared by ``--head auto`` and ``--augment auto``: folds by prompt, and the guard.

**Folds.** :func:`prompt_folds` is the one splitter of the project: scikit-learn's
``GroupKFold`` with shuffled groups, so all pairs of a prompt fall in the same fold (a prompt
seen in training is never scored as held out) and the folds differ by seed.
:func:`fold_ids` turns it into a fold number per pair for code that needs one array.

**The guard.** Picking the best of several candidates by cross-validation and keeping it when
it clears one standard error is a multiple comparison: with four candidates that are all no
better than the reference, the best of them clears one standard error in about four runs out of
ten. :func:`guarded_choice` keeps a candidate instead of the reference only when, against every
reference it must beat (for augmentation: no synthesis *and* repeating the real pairs),

1. its out-of-fold accuracy gain is at least ``min_gain`` (default 0.01, one point);
2. the gain is at least ``norm.ppf(1 - alpha / m)`` standard errors, ``m`` the number of
   candidates tried (Bonferroni: at most ``alpha`` = 5% chance that *any* of ``m`` candidates
   no better than the reference passes). The standard error is that of the paired per-pair
   difference in correctness, with the pairs of a prompt summed into one cluster (pairs of a
   prompt are not independent);
3. the gain is positive in every fold (the paired fold differences agree in sign: a gain made
   by one lucky fold is not taken).

Among the candidates that pass, the one with the largest gain (ties: lower log-loss) is kept.
The rule is measured in benchmarks/selection.py: how often it picks something other than the
reference on HH and alpaca_bon, where nothing beats the reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import numpy as np
from scipy.stats import norm

from .._threads import limit_threads, resolve_n_jobs
from ..exceptions import ConfigError

__all__ = [
    "GuardRule",
    "PairedGain",
    "SearchResult",
    "cv_table",
    "fold_ids",
    "guarded_choice",
    "paired_gain",
    "prompt_folds",
    "run_tasks",
]


def cv_table(candidates: Sequence[Any], row_type: type) -> dict[str, list]:
    """Cross-validated candidates (dataclasses of ``row_type``) as columns, one list per field
    and one row per candidate, the form of scikit-learn's ``cv_results_``."""
    rows = [asdict(c) for c in candidates]
    return {f.name: [r[f.name] for r in rows] for f in fields(row_type)}


class SearchResult:
    """What a cross-validated choice returns, like a scikit-learn search object after ``fit``:
    ``candidates``, one scored dataclass (a ``score_type``) per grid entry, and
    :attr:`cv_results`, the same candidates as a table of columns. ``choose_head`` and
    ``choose_augmentation`` return one (``HeadSelection``, ``AugmentSelection``)."""

    candidates: tuple
    score_type: ClassVar[type]

    @property
    def cv_results(self) -> dict[str, list]:
        """The candidates as columns (one per field of ``score_type``), one row per grid
        entry, like scikit-learn's ``cv_results_``."""
        return cv_table(self.candidates, self.score_type)


def prompt_folds(n_splits: int = 3, *, random_state: int = 0):
    """The folds of every cross-validated choice: ``GroupKFold`` over shuffled prompt groups.

    Use it like any scikit-learn splitter: ``prompt_folds(3).split(X, groups=groups)``.

    >>> import numpy as np
    >>> groups = np.repeat(np.arange(6), 2)
    >>> all(len(set(groups[test])) * 2 == len(test) for _, test in prompt_folds(3).split(groups, groups=groups))
    True
    """
    from sklearn.model_selection import GroupKFold

    if isinstance(n_splits, bool) or int(n_splits) != n_splits or n_splits < 2:
        raise ConfigError(f"n_folds must be a whole number >= 2; got {n_splits!r}.")
    return GroupKFold(n_splits=int(n_splits), shuffle=True, random_state=int(random_state))


def fold_ids(n: int, n_splits: int, groups=None, random_state: int = 0) -> np.ndarray:
    """Fold number (0 .. n_splits - 1) per pair from :func:`prompt_folds`; a group never spans
    two folds. ``groups`` None: one group per pair."""
    g = np.arange(n) if groups is None else np.asarray(groups).ravel()
    if g.shape != (n,):
        raise ConfigError(
            f"groups must have one entry per pair ({n}); got shape {np.asarray(groups).shape}."
        )
    n_groups = len(np.unique(g))
    if n_groups < n_splits:
        raise ConfigError(
            f"need at least {n_splits} distinct groups (prompts) for {n_splits}-fold cross-validation; "
            f"got {n_groups}."
        )
    out = np.empty(n, dtype=np.int64)
    for f, (_, test) in enumerate(
        prompt_folds(n_splits, random_state=random_state).split(g, groups=g)
    ):
        out[test] = f
    return out


@dataclass(frozen=True)
class PairedGain:
    """A candidate against a reference on the same out-of-fold pairs."""

    gain: float  # mean difference in correctness (accuracy points / 100)
    se: float  # standard error of the mean difference, pairs of a prompt as one cluster
    z: float  # gain / se (+-inf when se is 0 and the gain is not)
    fold_gains: tuple  # mean difference per fold

    def passes(self, z_needed: float, min_gain: float) -> bool:
        """Gain at least ``min_gain``, at least ``z_needed`` standard errors, positive in every fold."""
        return (
            self.gain >= min_gain
            and self.gain > 0
            and self.z >= z_needed
            and min(self.fold_gains) > 0
        )


def paired_gain(correct_new, correct_ref, folds, groups=None) -> PairedGain:
    """Paired comparison of two out-of-fold correctness vectors (n,) of 0/1 (or probabilities
    of being right), clustered by ``groups`` (default: every pair its own cluster)."""
    d = np.asarray(correct_new, dtype=np.float64) - np.asarray(correct_ref, dtype=np.float64)
    n = d.size
    gain = float(d.mean())
    if groups is None:
        se = float(d.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0
    else:
        _, g = np.unique(np.asarray(groups), return_inverse=True)
        g = g.ravel()
        n_clusters = int(g.max()) + 1
        resid = np.bincount(g, weights=d - gain, minlength=n_clusters)
        se = (
            float(np.sqrt(n_clusters / max(n_clusters - 1, 1) * np.sum(resid**2)) / n)
            if n_clusters > 1
            else 0.0
        )
    if se > 0:
        z = gain / se
    else:
        z = 0.0 if gain == 0 else float(np.sign(gain) * np.inf)
    folds = np.asarray(folds)
    fold_gains = tuple(float(d[folds == f].mean()) for f in np.unique(folds))
    return PairedGain(gain=gain, se=se, z=float(z), fold_gains=fold_gains)


@dataclass(frozen=True)
class GuardRule:
    """The thresholds of :func:`guarded_choice` for ``n_candidates`` candidates."""

    alpha: float = 0.05
    min_gain: float = 0.01

    def __post_init__(self):
        if not (0 < self.alpha < 1):
            raise ConfigError(
                f"alpha must be in (0, 1) (the chance that a candidate no better than the reference is "
                f"chosen); got {self.alpha!r}."
            )
        if not (0 <= self.min_gain < 1):
            raise ConfigError(
                f"min_gain must be in [0, 1) (accuracy gain needed); got {self.min_gain!r}."
            )

    def z_needed(self, n_candidates: int) -> float:
        """Standard errors a gain must reach: Bonferroni over ``n_candidates`` one-sided tests."""
        return float(norm.ppf(1.0 - self.alpha / max(int(n_candidates), 1)))

    def describe(self, n_candidates: int) -> str:
        return (
            f"needed >= {100 * self.min_gain:.1f} points, >= {self.z_needed(n_candidates):.2f} standard errors "
            f"(alpha {self.alpha:g} over {n_candidates} candidates) and a gain in every fold"
        )


def guarded_choice(comparisons, log_loss, rule: GuardRule) -> tuple[int | None, int]:
    """Index of the candidate to keep, or None for the reference, and the index of the best.

    ``comparisons``: per candidate, a list of :class:`PairedGain` (one per reference it must
    beat; the first is the one its rank is taken from). ``log_loss``: per candidate, out-of-fold
    log-loss (ties in gain: lower wins). The best is the candidate with the largest gain over the
    first reference; the chosen one is the best among those that pass ``rule`` against every
    reference.
    """
    m = len(comparisons)
    if m == 0:
        return None, -1

    def rank(j):
        return (comparisons[j][0].gain, -log_loss[j])

    best = max(range(m), key=rank)
    z = rule.z_needed(m)
    passing = [j for j in range(m) if all(c.passes(z, rule.min_gain) for c in comparisons[j])]
    if not passing:
        return None, best
    return max(passing, key=rank), best


def run_tasks(fn, tasks, n_jobs=None):
    """``[fn(t) for t in tasks]``, run side by side on up to ``n_jobs`` threads (None: the thread
    limit ``PREFSPACE_NUM_THREADS``, else the machine's cores), each fit on one BLAS/torch
    thread so the total stays under the limit. Results in the order of ``tasks``."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    tasks = list(tasks)
    workers = resolve_n_jobs(n_jobs) or os.cpu_count() or 1
    workers = max(1, min(int(workers), len(tasks)))
    with limit_threads(1):
        if workers == 1:
            return [fn(t) for t in tasks]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prefspace-cv") as pool:
            return list(pool.map(fn, tasks))
