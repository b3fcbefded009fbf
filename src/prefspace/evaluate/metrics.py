"""Pairwise metrics on rewards. Names follow TRL's reward trainer where they overlap."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from ..exceptions import ConfigError, ShapeError


class DictResult:
    """The dict form of this stage's frozen dataclass results: ``to_dict()`` is their fields,
    as :func:`dataclasses.asdict` gives them."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    def to_dict(self) -> dict:
        return asdict(self)


def _pair_arrays(rewards_chosen, rewards_rejected) -> tuple[np.ndarray, np.ndarray]:
    rc = np.asarray(rewards_chosen, dtype=np.float64).ravel()
    rr = np.asarray(rewards_rejected, dtype=np.float64).ravel()
    if rc.shape != rr.shape:
        raise ShapeError(
            f"rewards_chosen {rc.shape} and rewards_rejected {rr.shape} must have the same length."
        )
    if rc.size == 0:
        raise ShapeError("no pairs to evaluate.")
    return rc, rr


def pairwise_accuracy(rewards_chosen, rewards_rejected) -> float:
    """Fraction of pairs whose chosen response gets the strictly higher reward (ties count wrong)."""
    rc, rr = _pair_arrays(rewards_chosen, rewards_rejected)
    return float(np.mean(rc > rr))


def reward_metrics(rewards_chosen, rewards_rejected) -> dict[str, float]:
    """TRL-named metrics for pairs.

    Returns ``loss`` (mean ``-log sigmoid(r_c - r_r)``), ``accuracy`` (ties wrong), ``margin``
    (mean ``r_c - r_r``), ``mean_reward``, ``min_reward``, ``max_reward`` (over both sides), and
    ``n_pairs``.

    Example
    -------
    >>> reward_metrics([2.0, 0.0], [1.0, 0.0])["accuracy"]
    0.5
    """
    rc, rr = _pair_arrays(rewards_chosen, rewards_rejected)
    diff = rc - rr
    both = np.concatenate([rc, rr])
    return {
        "loss": float(np.mean(np.logaddexp(0.0, -diff))),
        "accuracy": float(np.mean(diff > 0)),
        "margin": float(np.mean(diff)),
        "mean_reward": float(np.mean(both)),
        "min_reward": float(np.min(both)),
        "max_reward": float(np.max(both)),
        "n_pairs": int(rc.size),
    }


def bootstrap_interval(
    values, *, n_boot: int = 1000, level: float = 0.95, random_state=0
) -> tuple[float, float]:
    """Percentile bootstrap interval for the mean of ``values``.

    Parameters
    ----------
    values : array-like of shape (n,)
        Per-example scores (for accuracy: 1.0 correct, 0.0 wrong).
    n_boot : number of resamples (with replacement, size n each).
    level : coverage of the interval, e.g. 0.95.
    random_state : seed; the same seed gives the same interval.

    Returns ``(low, high)``. One value, or all values equal, gives ``(mean, mean)``.

    Example
    -------
    >>> bootstrap_interval([1.0, 1.0, 1.0])
    (1.0, 1.0)
    """
    from .._validation import check_random_state

    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        raise ShapeError("bootstrap_interval: no values.")
    if not 0.0 < level < 1.0:
        raise ConfigError(f"level must be in (0, 1); got {level!r}.")
    if n_boot < 1:
        raise ConfigError(f"n_boot must be >= 1; got {n_boot!r}.")
    return resampled_mean_interval(
        v, None, n_boot=n_boot, level=level, rng=check_random_state(random_state)
    )


def resampled_mean_interval(
    sums: np.ndarray,
    counts: np.ndarray | None,
    *,
    n_boot: int,
    level: float,
    rng: np.random.Generator,
) -> tuple[float, float]:
    """The percentile bootstrap interval ``(low, high)`` of a mean over units.

    Each of ``n_boot`` resamples draws ``sums.size`` units with replacement; its mean is the
    drawn units' summed values over their summed ``counts`` (None: one value per unit, the plain
    mean). Resamples are drawn in blocks so memory stays bounded for large n.
    """
    means = np.empty(n_boot)
    block = max(1, min(n_boot, 2_000_000 // max(sums.size, 1)))
    for start in range(0, n_boot, block):
        stop = min(n_boot, start + block)
        idx = rng.integers(0, sums.size, size=(stop - start, sums.size))
        if counts is None:
            means[start:stop] = sums[idx].mean(axis=1)
        else:
            means[start:stop] = sums[idx].sum(axis=1) / counts[idx].sum(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def wilson_interval(successes, n, *, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion ``successes / n`` (``scipy.stats.binomtest``'s):
    always inside [0, 1], and sensible at 0 and n successes (where the normal interval
    collapses or leaves the range).

    Example
    -------
    >>> lo, hi = wilson_interval(10, 10)
    >>> round(lo, 3), hi
    (0.722, 1.0)
    """
    from scipy.stats import binomtest

    if n <= 0:
        raise ShapeError("wilson_interval: no trials.")
    if not 0 <= successes <= n or int(successes) != successes:
        raise ConfigError(
            f"successes must be a whole number between 0 and n ({n}); got {successes!r}."
        )
    if not 0.0 < level < 1.0:
        raise ConfigError(f"level must be in (0, 1); got {level!r}.")
    ci = binomtest(int(successes), int(n)).proportion_ci(confidence_level=level, method="wilson")
    low = 0.0 if successes == 0 else max(0.0, float(ci.low))  # exact at the bounds
    high = 1.0 if successes == n else min(1.0, float(ci.high))
    return low, high


@dataclass(frozen=True)
class AccuracyInterval(DictResult):
    """A pairwise accuracy over ``n_pairs`` pairs with its 95% interval ``[ci_low, ci_high]``;
    ``to_dict()`` is ``{"accuracy", "ci_low", "ci_high", "n_pairs"}``."""

    accuracy: float
    ci_low: float
    ci_high: float
    n_pairs: int


def accuracy_with_interval(
    rewards_chosen,
    rewards_rejected,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    random_state=0,
    method: str = "wilson",
) -> AccuracyInterval:
    """Pairwise accuracy (ties wrong) with a 95% interval over pairs, inside [0, 1].

    ``method="wilson"`` (default): the Wilson score interval. ``"bootstrap"``: a percentile
    bootstrap over pairs (``n_boot`` resamples, ``random_state``).

    Returns an :class:`AccuracyInterval` (``accuracy``, ``ci_low``, ``ci_high``, ``n_pairs``).

    Example
    -------
    >>> accuracy_with_interval([1.0, 2.0], [0.0, 3.0]).accuracy
    0.5
    """
    rc, rr = _pair_arrays(rewards_chosen, rewards_rejected)
    correct = (rc > rr).astype(np.float64)
    if method == "wilson":
        low, high = wilson_interval(int(correct.sum()), correct.size, level=level)
    elif method == "bootstrap":
        low, high = bootstrap_interval(
            correct, n_boot=n_boot, level=level, random_state=random_state
        )
    else:
        raise ConfigError(f"method must be 'wilson' or 'bootstrap'; got {method!r}.")
    return AccuracyInterval(
        accuracy=float(correct.mean()), ci_low=low, ci_high=high, n_pairs=int(rc.size)
    )


def subset_accuracy(rewards_chosen, rewards_rejected, subsets) -> dict:
    """Accuracy per subset and the averages over subsets, as reward-bench reports them.

    Parameters
    ----------
    rewards_chosen, rewards_rejected : array-like of shape (n_pairs,)
    subsets : sequence of str of length n_pairs (e.g. ``"harmlessness"``)

    Returns
    -------
    dict with ``per_subset`` ({name: {"accuracy", "n_pairs"}}, names sorted),
    ``weighted`` (the example-weighted average over subsets, sum_s n_s acc_s / sum_s n_s;
    reward-bench's section score, equal to the accuracy over all pairs) and ``macro`` (the
    unweighted mean of the subset accuracies).

    Example
    -------
    >>> out = subset_accuracy([1, 1, 0], [0, 0, 1], ["a", "a", "b"])
    >>> out["weighted"], out["macro"]
    (0.6666666666666666, 0.5)
    """
    rc, rr = _pair_arrays(rewards_chosen, rewards_rejected)
    labels = np.asarray([str(s) for s in subsets], dtype=object)
    if labels.shape != rc.shape:
        raise ShapeError(f"subsets has {labels.size} entries but there are {rc.size} pairs.")
    correct = rc > rr
    per_subset = {}
    for name in sorted(set(labels.tolist())):
        mask = labels == name
        per_subset[name] = {"accuracy": float(correct[mask].mean()), "n_pairs": int(mask.sum())}
    n = np.array([v["n_pairs"] for v in per_subset.values()], dtype=np.float64)
    acc = np.array([v["accuracy"] for v in per_subset.values()])
    return {
        "per_subset": per_subset,
        "weighted": float((n * acc).sum() / n.sum()),
        "macro": float(acc.mean()),
    }


# --------------------------------------------------------------------------- benchmark intervals
@dataclass(frozen=True)
class Interval:
    """A mean over seeds (or a paired difference of means) with its bootstrap interval.

    ``n_items`` is the number of test items (pairs, prompts) resampled per seed; ``1`` means the
    caller had one value per seed only, so the interval covers seed-to-seed variation and is
    **conditional on the one test set** (``conditional_on_test_set``). ``p_value`` (differences
    only) is the two-sided bootstrap p-value for a mean difference of 0, consistent with the
    interval (below ``1 - level`` exactly when the interval excludes 0), for :func:`holm_adjust`.
    """

    estimate: float
    low: float
    high: float
    level: float
    n_seeds: int
    n_items: int
    p_value: float | None = None

    @property
    def conditional_on_test_set(self) -> bool:
        return self.n_items <= 1


def _score_blocks(scores, name: str) -> list[np.ndarray]:
    """One float64 array of per-item values per seed (a 1-D input: one value per seed)."""
    if isinstance(scores, np.ndarray) or (len(scores) and np.ndim(scores[0]) == 0):
        arr = np.asarray(scores, dtype=np.float64)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise ShapeError(
                f"{name} must have shape (n_seeds,) or (n_seeds, n_items); got {arr.shape}."
            )
        blocks = list(arr)
    else:
        blocks = [np.asarray(b, dtype=np.float64).ravel() for b in scores]
    if not blocks or any(b.size == 0 for b in blocks):
        raise ShapeError(f"{name}: every seed needs at least one value.")
    return blocks


def _checked_blocks(
    scores, baseline, bounds: tuple[float, float]
) -> tuple[list[np.ndarray], float, float]:
    """Per-seed score blocks inside ``bounds`` (minus the baseline's, for a paired difference)
    and the bounds of what is averaged."""
    lo_b, hi_b = float(bounds[0]), float(bounds[1])
    if not lo_b < hi_b:
        raise ConfigError(f"bounds must be (low, high) with low < high; got {bounds!r}.")
    blocks = _score_blocks(scores, "scores")
    for b in blocks:
        if np.any(~np.isfinite(b)) or b.min() < lo_b - 1e-12 or b.max() > hi_b + 1e-12:
            raise ConfigError(f"scores must be finite and inside bounds {bounds!r}.")
    if baseline is not None:
        base = _score_blocks(baseline, "baseline")
        if [b.shape for b in base] != [b.shape for b in blocks]:
            raise ShapeError("baseline must have the same layout (seeds and items) as scores.")
        blocks = [a - b for a, b in zip(blocks, base)]
        lo_b, hi_b = lo_b - hi_b, hi_b - lo_b
    return blocks, lo_b, hi_b


def seed_item_bootstrap(
    scores,
    baseline=None,
    *,
    bounds: tuple[float, float] = (0.0, 1.0),
    shared_items: bool | None = None,
    n_boot: int = 2000,
    level: float = 0.95,
    random_state=0,
) -> Interval:
    """Mean over seeds of a per-item metric, or a paired difference, with an interval that
    includes the test set's own noise: a percentile bootstrap over seeds *and* test items.

    The one interval method of prefspace's benchmarks. Each resample draws seeds with
    replacement and, within them, test items with replacement; ``baseline`` (same layout) is
    resampled with the same draws, so a difference is paired by seed and by item. Every
    resampled statistic is a mean of values inside ``bounds``, so the interval always lies
    inside the metric's range (``bounds``) or, for a difference, inside
    ``(lo - hi, hi - lo)``.

    Parameters
    ----------
    scores : array of shape (n_seeds, n_items), a sequence of per-seed 1-D arrays, or shape (n_seeds,)
        Per-item values of one method: for accuracy 1.0 / 0.0 per test pair; for best-of-16 or
        Spearman the per-prompt value. Rows of equal length are taken as one test set shared
        by all seeds (one item draw applies to every seed); rows of different lengths, or
        ``shared_items=False``, as a test set per seed (items drawn within each seed). A 1-D
        array holds one value per seed: only seeds are resampled, and the result is
        conditional on the test set (``Interval.conditional_on_test_set``).
    baseline : same layout as ``scores``, optional
        The control; the result is then ``mean(scores - baseline)``.
    bounds : the metric's range, e.g. ``(0, 1)`` for accuracy, ``(-1, 1)`` for Spearman.
    shared_items : whether all seeds share one test set (default: when all rows have the same
        length). Pass ``False`` when each seed drew its own test set of the same size.
    n_boot, level, random_state : resamples, coverage, seed (the same seed, the same interval).

    Returns an :class:`Interval`. One seed with one value gives NaN bounds (no spread to
    estimate). With one value per seed the plain percentile interval is too narrow for a few
    seeds, so it is the *expanded* percentile interval (Hesterberg 2015): the percentiles are
    taken at ``Phi(-sqrt(n / (n - 1)) * t_{n-1})`` instead of ``alpha / 2``, which matches
    Student-t coverage for normal data (``n_boot`` is then at least 20,000). With per-item
    values the seed level is not expanded and, for a few seeds, its share is understated (by
    ``(n_seeds - 1) / n_seeds`` in variance): report the number of seeds beside it.

    Example
    -------
    >>> correct = [[1, 1, 0, 1, 0, 1, 1, 0], [1, 0, 0, 1, 1, 1, 1, 0]]
    >>> iv = seed_item_bootstrap(correct)
    >>> iv.estimate, 0.0 <= iv.low <= iv.estimate <= iv.high <= 1.0
    (0.625, True)
    """
    from .._validation import check_random_state

    if not 0.0 < level < 1.0:
        raise ConfigError(f"level must be in (0, 1); got {level!r}.")
    if n_boot < 1:
        raise ConfigError(f"n_boot must be >= 1; got {n_boot!r}.")
    blocks, lo_b, hi_b = _checked_blocks(scores, baseline, bounds)
    n_seeds, sizes = len(blocks), {b.size for b in blocks}
    n_items = max(sizes)
    estimate = float(np.mean([b.mean() for b in blocks]))
    if n_seeds == 1 and n_items == 1:
        return Interval(estimate, float("nan"), float("nan"), level, 1, 1, None)
    alpha = (1.0 - level) / 2.0
    if n_items == 1:  # seed-level values only: the expanded percentile interval
        from scipy.stats import norm, t

        alpha = float(norm.cdf(-np.sqrt(n_seeds / (n_seeds - 1)) * t.ppf(1.0 - alpha, n_seeds - 1)))
        n_boot = max(n_boot, 20_000)
    rng = check_random_state(random_state)
    seed_w = rng.multinomial(n_seeds, np.full(n_seeds, 1.0 / n_seeds), size=n_boot)  # (B, S)
    if shared_items is None:
        shared_items = len(sizes) == 1
    if shared_items and len(sizes) == 1:
        D = np.stack(blocks)  # (S, N): one test set, one item draw for every seed
        item_w = rng.multinomial(n_items, np.full(n_items, 1.0 / n_items), size=n_boot)  # (B, N)
        stats = ((seed_w @ D) * item_w).sum(axis=1) / (n_seeds * n_items)
    else:
        per_seed = np.empty((n_boot, n_seeds))
        for s, b in enumerate(blocks):  # a test set per seed: items drawn within each seed
            w = rng.multinomial(b.size, np.full(b.size, 1.0 / b.size), size=n_boot)
            per_seed[:, s] = w @ b / b.size
        stats = (seed_w * per_seed).sum(axis=1) / n_seeds
    low, high = np.quantile(stats, [alpha, 1.0 - alpha])
    low, high = max(lo_b, min(float(low), estimate)), min(hi_b, max(float(high), estimate))
    p_value = None
    if baseline is not None:  # the level at which the interval would just reach 0
        tail = max(min(np.mean(stats <= 0.0), np.mean(stats >= 0.0)), 0.5 / n_boot)
        if n_items == 1:  # undo the expansion: tail = Phi(-c t_{1 - p/2, n - 1})
            from scipy.stats import norm, t

            c = np.sqrt(n_seeds / (n_seeds - 1))
            p_value = float(2.0 * t.sf(-norm.ppf(tail) / c, n_seeds - 1)) if tail < 0.5 else 1.0
        else:
            p_value = 2.0 * tail
        p_value = float(min(1.0, p_value))
    return Interval(estimate, low, high, level, n_seeds, 1 if n_items == 1 else n_items, p_value)


def holm_adjust(p_values) -> np.ndarray:
    """Holm's step-down adjustment of ``p_values`` for a family of comparisons (one table).

    An adjusted value below 0.05 keeps the family-wise error rate at 5% over all of them.

    Example
    -------
    >>> holm_adjust([0.01, 0.04, 0.03]).round(2).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=np.float64).ravel()
    if p.size == 0:
        return p
    if np.any((p < 0) | (p > 1) | ~np.isfinite(p)):
        raise ConfigError("p_values must lie in [0, 1].")
    order = np.argsort(p, kind="stable")
    m = p.size
    adjusted = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out
