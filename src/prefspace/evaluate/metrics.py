"""Pairwise metrics on rewards. Names follow TRL's reward trainer where they overlap."""

from __future__ import annotations

import numpy as np

from ..exceptions import ConfigError, ShapeError


def _pair_arrays(rewards_chosen, rewards_rejected) -> tuple[np.ndarray, np.ndarray]:
    rc = np.asarray(rewards_chosen, dtype=np.float64).ravel()
    rr = np.asarray(rewards_rejected, dtype=np.float64).ravel()
    if rc.shape != rr.shape:
        raise ShapeError(f"rewards_chosen {rc.shape} and rewards_rejected {rr.shape} must have the same length.")
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
    rng = check_random_state(random_state)
    # Resample in blocks so memory stays bounded for large n.
    means = np.empty(n_boot)
    block = max(1, min(n_boot, 2_000_000 // max(v.size, 1)))
    for start in range(0, n_boot, block):
        stop = min(n_boot, start + block)
        idx = rng.integers(0, v.size, size=(stop - start, v.size))
        means[start:stop] = v[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
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
        raise ConfigError(f"successes must be a whole number between 0 and n ({n}); got {successes!r}.")
    if not 0.0 < level < 1.0:
        raise ConfigError(f"level must be in (0, 1); got {level!r}.")
    ci = binomtest(int(successes), int(n)).proportion_ci(confidence_level=level, method="wilson")
    low = 0.0 if successes == 0 else max(0.0, float(ci.low))  # exact at the bounds
    high = 1.0 if successes == n else min(1.0, float(ci.high))
    return low, high


def accuracy_with_interval(
    rewards_chosen, rewards_rejected, *, n_boot: int = 1000, level: float = 0.95, random_state=0, method: str = "wilson"
) -> dict[str, float]:
    """Pairwise accuracy (ties wrong) with a 95% interval over pairs, inside [0, 1].

    ``method="wilson"`` (default): the Wilson score interval. ``"bootstrap"``: a percentile
    bootstrap over pairs (``n_boot`` resamples, ``random_state``).

    Returns ``{"accuracy", "ci_low", "ci_high", "n_pairs"}``.

    Example
    -------
    >>> accuracy_with_interval([1.0, 2.0], [0.0, 3.0])["accuracy"]
    0.5
    """
    rc, rr = _pair_arrays(rewards_chosen, rewards_rejected)
    correct = (rc > rr).astype(np.float64)
    if method == "wilson":
        low, high = wilson_interval(int(correct.sum()), correct.size, level=level)
    elif method == "bootstrap":
        low, high = bootstrap_interval(correct, n_boot=n_boot, level=level, random_state=random_state)
    else:
        raise ConfigError(f"method must be 'wilson' or 'bootstrap'; got {method!r}.")
    return {"accuracy": float(correct.mean()), "ci_low": low, "ci_high": high, "n_pairs": int(rc.size)}


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
