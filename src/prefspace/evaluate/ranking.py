"""Metrics for scored-response sets: best-of-N and per-prompt rank correlation with gold.

A scored set has many responses per prompt, each with a gold score (``alpaca_bon``: the judge's
win probability). A reward model ranks each prompt's responses; these metrics ask how good the
response it would pick is, and how well its ranking agrees with gold.

Best-of-N is computed exactly, not by sampling: for a prompt with ``n`` responses, draw a subset
of ``N`` of them uniformly at random (without replacement), keep the one with the highest reward,
and read its gold score. If ``k`` responses have a strictly lower reward than a group of ``t``
tied responses, the subset's top reward falls in that group with probability
``(C(k + t, N) - C(k, N)) / C(n, N)``; ties are broken uniformly at random, so each member of
the group is equally likely. The expectation is the sum over groups of that probability times
the group's mean gold. What this does not do: weigh prompts by their number of responses; each
prompt counts once at every N it has enough responses for.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from scipy.special import gammaln

from ..exceptions import ConfigError, ShapeError
from .metrics import bootstrap_interval

logger = logging.getLogger(__name__)

DEFAULT_NS = (1, 2, 4, 8, 16, 32)
_EXACT_UP_TO = 5000  # responses per prompt below which binomials are exact integers


def gold_pairs(gold, prompt_index) -> np.ndarray:
    """Every pair of responses to one prompt whose gold scores differ, the better one first:
    int ``(m, 2)`` row indices, prompts in sorted order, rows in their given order within one.

    >>> gold_pairs(np.array([0.2, 0.9, 0.5, 0.1]), np.array([0, 0, 1, 1])).tolist()
    [[1, 0], [2, 3]]
    """
    gold = np.asarray(gold, dtype=np.float64).ravel()
    prompt_index = np.asarray(prompt_index).ravel()
    parts = []
    order = np.argsort(prompt_index, kind="stable")
    _, starts = np.unique(prompt_index[order], return_index=True)
    for idx in np.split(order, starts[1:]):
        i, j = np.triu_indices(idx.size, k=1)
        a, b = idx[i], idx[j]
        keep = gold[a] != gold[b]
        a, b = a[keep], b[keep]
        win = gold[a] > gold[b]
        parts.append(np.stack([np.where(win, a, b), np.where(win, b, a)], axis=1))
    return np.concatenate(parts) if parts else np.empty((0, 2), dtype=np.intp)


def _log_comb(n: np.ndarray | int, k: int) -> np.ndarray:
    """log C(n, k), with -inf where n < k."""
    n = np.asarray(n, dtype=np.float64)
    out = np.full(n.shape, -np.inf)
    ok = n >= k
    out[ok] = gammaln(n[ok] + 1) - gammaln(k + 1) - gammaln(n[ok] - k + 1)
    return out


def expected_best_of_n(rewards, gold, n: int) -> float:
    """Expected gold score of the highest-reward response among ``n`` drawn at random.

    Parameters
    ----------
    rewards, gold : array-like of shape (m,), one prompt's responses
    n : subset size, 1 <= n <= m

    Ties in reward are broken uniformly at random. ``n == 1`` gives ``mean(gold)``; ``n == m``
    gives the gold of the top-reward response (the mean gold of the tied top group).

    Example
    -------
    >>> round(expected_best_of_n([1.0, 2.0, 3.0], [0.0, 0.5, 1.0], 2), 6)  # subsets {1,2},{1,3},{2,3}
    0.833333
    """
    r = np.asarray(rewards, dtype=np.float64).ravel()
    g = np.asarray(gold, dtype=np.float64).ravel()
    if r.shape != g.shape:
        raise ShapeError(f"rewards {r.shape} and gold {g.shape} must have the same length.")
    m = r.size
    if not 1 <= n <= m:
        raise ConfigError(f"n must be between 1 and the number of responses ({m}); got {n}.")
    values, inverse = np.unique(r, return_inverse=True)
    t = np.bincount(inverse, minlength=values.size).astype(
        np.float64
    )  # group sizes, ascending reward
    gsum = np.bincount(inverse, weights=g, minlength=values.size)
    below = np.concatenate([[0.0], np.cumsum(t)[:-1]])  # responses strictly below each group
    if m <= _EXACT_UP_TO:
        # Exact integer binomials: each group's probability is one correctly rounded division.
        total = math.comb(m, n)
        p_group = np.array(
            [(math.comb(int(b + k), n) - math.comb(int(b), n)) / total for b, k in zip(below, t)]
        )
    else:
        log_total = _log_comb(m, n)
        p_group = np.exp(_log_comb(below + t, n) - log_total) - np.exp(
            _log_comb(below, n) - log_total
        )
    return float(np.sum(p_group * gsum / t))


def _ns_for(max_n: int, ns) -> list[int]:
    if ns is None:
        base = [k for k in DEFAULT_NS if k < max_n]
        return sorted(set(base + [max_n]))
    out = sorted({int(k) for k in ns})
    if not out or out[0] < 1:
        raise ConfigError(f"ns must hold positive subset sizes; got {ns!r}.")
    return out


def best_of_n_curve(
    rewards, gold, groups, ns=None, *, n_boot: int = 0, level: float = 0.95, random_state=0
) -> dict:
    """Best-of-N gold against N, with the oracle and random curves beside it.

    Parameters
    ----------
    rewards : array-like of shape (n_responses,), the reward model's scores
    gold : array-like of shape (n_responses,), the gold scores
    groups : list of int arrays, each one prompt's row indices (``ScoredResponses.groups()``)
    ns : subset sizes; default 1, 2, 4, 8, 16, 32 below the largest prompt's response count,
        plus that count itself.
    n_boot : with ``n_boot > 0`` also ``model_low`` and ``model_high``, a percentile bootstrap
        interval of the model's value over prompts (``level``, ``random_state``); it lies within
        the range of the per-prompt values, hence of the gold scores.

    Returns
    -------
    dict with ``n`` (list of N), ``model``, ``oracle`` (picking by gold itself: the expected best
    gold of N random responses), ``random`` (picking at random: mean gold, the same for every N),
    each a list of floats averaged over the prompts that have at least N responses, and
    ``n_prompts`` (how many prompts each point averages).

    Example
    -------
    >>> import numpy as np
    >>> out = best_of_n_curve([3.0, 2.0, 1.0], [1.0, 0.5, 0.0], [np.arange(3)], ns=[1, 3])
    >>> out["model"], out["oracle"], out["random"]
    ([0.5, 1.0], [0.5, 1.0], [0.5, 0.5])
    """
    r = np.asarray(rewards, dtype=np.float64).ravel()
    g = np.asarray(gold, dtype=np.float64).ravel()
    if r.shape != g.shape:
        raise ShapeError(f"rewards {r.shape} and gold {g.shape} must have the same length.")
    groups = [np.asarray(idx, dtype=np.int64) for idx in groups]
    groups = [idx for idx in groups if idx.size > 0]
    if not groups:
        raise ShapeError("best_of_n_curve: no prompt has any response.")
    sizes = np.array([idx.size for idx in groups])
    n_list = _ns_for(int(sizes.max()), ns)
    model: list[float] = []
    oracle: list[float] = []
    random_: list[float] = []
    low: list[float] = []
    high: list[float] = []
    counts: list[int] = []
    for n in n_list:
        usable = [idx for idx in groups if idx.size >= n]
        counts.append(len(usable))
        if not usable:
            for out in (model, oracle, random_, low, high):
                out.append(float("nan"))
            continue
        per_prompt = np.array([expected_best_of_n(r[idx], g[idx], n) for idx in usable])
        model.append(float(np.mean(per_prompt)))
        oracle.append(float(np.mean([expected_best_of_n(g[idx], g[idx], n) for idx in usable])))
        random_.append(float(np.mean([g[idx].mean() for idx in usable])))
        if n_boot > 0:
            lo, hi = bootstrap_interval(
                per_prompt, n_boot=n_boot, level=level, random_state=random_state
            )
            low.append(lo)
            high.append(hi)
    curve: dict[str, list] = {
        "n": n_list,
        "model": model,
        "oracle": oracle,
        "random": random_,
        "n_prompts": counts,
    }
    if n_boot > 0:
        curve.update(model_low=low, model_high=high)
    return curve


def rank_correlations(rewards, gold, groups) -> dict:
    """Per-prompt Spearman and Kendall (tau-b) correlation between rewards and gold.

    A prompt's correlation is undefined, and recorded as NaN, when it has fewer than two
    responses or when its rewards or its gold scores are all equal. Means are taken over the
    prompts where it is defined; a set where no prompt qualifies has NaN means.

    Returns
    -------
    dict with ``spearman`` and ``kendall`` (means over defined prompts), ``per_prompt_spearman``
    and ``per_prompt_kendall`` (float arrays of shape (n_prompts,), NaN where undefined),
    ``n_prompts`` (prompts with a defined correlation) and ``n_undefined``.

    Example
    -------
    >>> import numpy as np
    >>> out = rank_correlations([1.0, 2.0, 3.0, 5.0], [0.1, 0.2, 0.3, 0.0], [np.arange(3), np.arange(3, 4)])
    >>> out["spearman"], out["n_undefined"]
    (1.0, 1)
    """
    from scipy.stats import kendalltau, spearmanr

    r = np.asarray(rewards, dtype=np.float64).ravel()
    g = np.asarray(gold, dtype=np.float64).ravel()
    if r.shape != g.shape:
        raise ShapeError(f"rewards {r.shape} and gold {g.shape} must have the same length.")
    sp = np.full(len(groups), np.nan)
    kt = np.full(len(groups), np.nan)
    for i, idx in enumerate(groups):
        idx = np.asarray(idx, dtype=np.int64)
        if idx.size < 2:
            continue
        ri, gi = r[idx], g[idx]
        if np.all(ri == ri[0]) or np.all(gi == gi[0]):
            continue
        sp[i] = spearmanr(ri, gi).statistic
        kt[i] = kendalltau(ri, gi).statistic
    defined = ~np.isnan(sp)
    n_def = int(defined.sum())
    return {
        "spearman": float(np.mean(sp[defined])) if n_def else float("nan"),
        "kendall": float(np.mean(kt[defined])) if n_def else float("nan"),
        "per_prompt_spearman": sp,
        "per_prompt_kendall": kt,
        "n_prompts": n_def,
        "n_undefined": int(len(groups) - n_def),
    }
