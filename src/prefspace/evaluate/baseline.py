"""A model's figures beside a baseline's on the same data, with a paired interval.

Every accuracy, Spearman and best-of-N figure prefspace reports stands beside the learned length
baseline's (:class:`prefspace.models.LengthBaseline`) on the same pairs or prompts. These
functions take the two sets of rewards (they never see a model) and return
:class:`BaselineComparison` records: both values, their difference, a paired percentile
bootstrap interval of the difference, and a verdict. The interval resamples pairs, or whole
prompts when ``groups`` is given (pairs that share a prompt are not independent), and lies
inside the metric's range of differences.

:func:`length_preference` says how often the longer answer wins in a file, before any model is
trained (``prefspace validate`` prints it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import check_random_state
from ..data.text_features import log_length
from ..exceptions import ConfigError, ShapeError
from .metrics import DictResult, resampled_mean_interval, wilson_interval
from .ranking import expected_best_of_n, rank_correlations

__all__ = [
    "BaselineComparison",
    "LengthPreference",
    "compare_pairs",
    "compare_scored",
    "length_preference",
    "paired_difference_interval",
]

#: The verdicts of a comparison (the model's value minus the baseline's, by its paired interval).
VERDICTS = ("above", "below", "not significantly different")


@dataclass(frozen=True)
class BaselineComparison(DictResult):
    """One metric for a model and a baseline on the same data.

    ``difference`` is ``model - baseline``; ``ci_low``/``ci_high`` its paired 95% percentile
    bootstrap interval over ``n`` ``unit`` (pairs or prompts). ``verdict`` is ``"above"``
    when the whole interval is above 0, ``"below"`` when it is below, and ``"not significantly
    different"`` otherwise (which is not evidence that the two are equal).
    """

    metric: str
    model: float
    baseline: float
    difference: float
    ci_low: float
    ci_high: float
    n: int
    unit: str
    verdict: str
    baseline_name: str = "length baseline"

    def sentence(self, scale: float = 100.0, unit: str = " points") -> str:
        """E.g. ``accuracy 0.6810 vs length baseline 0.7180: -3.7 points [-6.1, -1.2], below``.

        ``scale`` and ``unit`` say how the difference is written (points of accuracy by
        default; ``scale=1, unit=""`` for a correlation or a gold score).
        """
        d, lo, hi = (scale * v for v in (self.difference, self.ci_low, self.ci_high))
        digits = 1 if scale == 100.0 else 4
        return (
            f"{self.metric} {self.model:.4f} vs {self.baseline_name} {self.baseline:.4f}: "
            f"{d:+.{digits}f}{unit} [{lo:+.{digits}f}, {hi:+.{digits}f}], {self.verdict}"
        )


@dataclass(frozen=True)
class LengthPreference(DictResult):
    """How often the longer response is the chosen one, over ``n_pairs`` pairs.

    ``longer_share`` is ``longer / n_pairs`` with its Wilson 95% interval; pairs of equal
    length count neither way (they are in ``equal``).
    """

    n_pairs: int
    longer: int
    shorter: int
    equal: int
    longer_share: float
    ci_low: float
    ci_high: float

    def sentence(self) -> str:
        """E.g. ``the longer answer wins 71.8% [69.6, 73.9] of 1,000 pairs (shorter 27.9%, equal 0.3%)``."""
        n = self.n_pairs
        return (
            f"the longer answer wins {100 * self.longer_share:.1f}% [{100 * self.ci_low:.1f}, "
            f"{100 * self.ci_high:.1f}] of {n:,} pairs (shorter {100 * self.shorter / n:.1f}%, "
            f"equal length {100 * self.equal / n:.1f}%)"
        )


def length_preference(chosen: Sequence[str], rejected: Sequence[str]) -> LengthPreference:
    """Count the pairs whose chosen response is longer (in characters) than the rejected one.

    Example
    -------
    >>> length_preference(["a long answer", "no"], ["short", "yes"]).longer
    1
    """
    if len(chosen) != len(rejected):
        raise ShapeError(f"chosen has {len(chosen)} texts but rejected has {len(rejected)}.")
    if len(chosen) == 0:
        raise ShapeError("length_preference: no pairs.")
    d = log_length(chosen) - log_length(rejected)
    longer, shorter = int((d > 0).sum()), int((d < 0).sum())
    low, high = wilson_interval(longer, len(d))
    return LengthPreference(
        n_pairs=len(d),
        longer=longer,
        shorter=shorter,
        equal=len(d) - longer - shorter,
        longer_share=longer / len(d),
        ci_low=low,
        ci_high=high,
    )


def paired_difference_interval(
    model_values,
    baseline_values,
    *,
    groups: Any = None,
    n_boot: int = 2000,
    level: float = 0.95,
    random_state=0,
) -> tuple[float, float, float]:
    """``(difference, low, high)``: the mean of ``model_values - baseline_values`` and its
    paired percentile bootstrap interval.

    ``groups`` (one label per value): resample whole groups (a cluster bootstrap; the mean is
    then the ratio of resampled sums to resampled counts). NaN pairs are left out.
    """
    a = np.asarray(model_values, dtype=np.float64).ravel()
    b = np.asarray(baseline_values, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ShapeError(
            f"model values {a.shape} and baseline values {b.shape} must pair up one to one."
        )
    if not 0.0 < level < 1.0:
        raise ConfigError(f"level must be in (0, 1); got {level!r}.")
    if n_boot < 1:
        raise ConfigError(f"n_boot must be >= 1; got {n_boot!r}.")
    keep = ~(np.isnan(a) | np.isnan(b))
    d = (a - b)[keep]
    if d.size == 0:
        raise ShapeError("no paired values to compare.")
    sums: np.ndarray = d
    counts: np.ndarray | None = None
    if groups is not None:
        g = np.asarray(groups).ravel()
        if g.shape != a.shape:
            raise ShapeError(f"groups has {g.size} labels but there are {a.size} values.")
        _, inv = np.unique(g[keep], return_inverse=True)
        sums, counts = np.bincount(inv, weights=d), np.bincount(inv).astype(np.float64)
    low, high = resampled_mean_interval(
        sums, counts, n_boot=n_boot, level=level, rng=check_random_state(random_state)
    )
    return float(d.mean()), low, high


def _verdict(low: float, high: float) -> str:
    return "above" if low > 0 else "below" if high < 0 else "not significantly different"


def _pair_rewards(r: Any, name: str) -> np.ndarray:
    r = np.asarray(r, dtype=np.float64)
    if r.ndim != 2 or r.shape[1] != 2 or r.shape[0] == 0:
        raise ShapeError(
            f"{name} must have shape (n_pairs, 2), the chosen and rejected responses' rewards; got {r.shape}."
        )
    return r


def _compared(
    metric: str, model_values, baseline_values, unit: str, baseline_name: str, **interval
) -> BaselineComparison:
    """One metric's per-unit values for the model and the baseline, compared: their means, the
    paired difference and its interval (:func:`paired_difference_interval` with ``interval``)."""
    diff, low, high = paired_difference_interval(model_values, baseline_values, **interval)
    return BaselineComparison(
        metric=metric,
        model=float(np.mean(model_values)),
        baseline=float(np.mean(baseline_values)),
        difference=diff,
        ci_low=low,
        ci_high=high,
        n=len(model_values),
        unit=unit,
        verdict=_verdict(low, high),
        baseline_name=baseline_name,
    )


def compare_pairs(
    model_rewards,
    baseline_rewards,
    *,
    groups: Any = None,
    n_boot: int = 2000,
    random_state=0,
    baseline_name: str = "length baseline",
) -> BaselineComparison:
    """Pairwise accuracy (ties wrong) of a model and a baseline on the same pairs.

    Parameters
    ----------
    model_rewards, baseline_rewards : arrays of shape (n_pairs, 2), column 0 the chosen response
    groups : optional prompt label per pair; the interval then resamples prompts

    Example
    -------
    >>> c = compare_pairs([[1.0, 0.0]] * 30, [[0.0, 1.0]] * 30)
    >>> c.difference, c.verdict
    (1.0, 'above')
    """
    m = _pair_rewards(model_rewards, "model_rewards")
    b = _pair_rewards(baseline_rewards, "baseline_rewards")
    if m.shape != b.shape:
        raise ShapeError(
            f"model_rewards {m.shape} and baseline_rewards {b.shape} must cover the same pairs."
        )
    cm = (m[:, 0] > m[:, 1]).astype(np.float64)
    cb = (b[:, 0] > b[:, 1]).astype(np.float64)
    return _compared(
        "accuracy",
        cm,
        cb,
        "pairs",
        baseline_name,
        groups=groups,
        n_boot=n_boot,
        random_state=random_state,
    )


def compare_scored(
    model_rewards,
    baseline_rewards,
    gold,
    groups,
    *,
    ns: Sequence[int] = (16,),
    n_boot: int = 2000,
    random_state=0,
    baseline_name: str = "length baseline",
) -> list[BaselineComparison]:
    """Per-prompt Spearman with gold and best-of-N gold of a model and a baseline on the same
    scored responses; the intervals resample prompts.

    Parameters
    ----------
    model_rewards, baseline_rewards, gold : arrays of shape (n_responses,)
    groups : list of int arrays, each one prompt's row indices
    ns : the N of each best-of-N comparison (prompts with fewer responses are left out of it)

    Returns
    -------
    ``[spearman, best_of_<N> for N in ns]`` as :class:`BaselineComparison` (``unit="prompts"``).
    A prompt whose correlation is undefined for either set of rewards is left out of the
    Spearman comparison (so its means can differ from :func:`rank_correlations` over all prompts).
    """
    m = np.asarray(model_rewards, dtype=np.float64).ravel()
    b = np.asarray(baseline_rewards, dtype=np.float64).ravel()
    g = np.asarray(gold, dtype=np.float64).ravel()
    if not m.shape == b.shape == g.shape:
        raise ShapeError(
            f"model rewards {m.shape}, baseline rewards {b.shape} and gold {g.shape} must cover the same responses."
        )
    groups = [np.asarray(idx, dtype=np.int64) for idx in groups]
    out = []
    sm = rank_correlations(m, g, groups)["per_prompt_spearman"]
    sb = rank_correlations(b, g, groups)["per_prompt_spearman"]
    both = ~(np.isnan(sm) | np.isnan(sb))
    if both.any():
        out.append(
            _compared(
                "spearman",
                sm[both],
                sb[both],
                "prompts",
                baseline_name,
                n_boot=n_boot,
                random_state=random_state,
            )
        )
    for n in ns:
        usable = [idx for idx in groups if idx.size >= n]
        if not usable:
            continue
        bm = np.array([expected_best_of_n(m[idx], g[idx], n) for idx in usable])
        bb = np.array([expected_best_of_n(b[idx], g[idx], n) for idx in usable])
        out.append(
            _compared(
                f"best_of_{n}",
                bm,
                bb,
                "prompts",
                baseline_name,
                n_boot=n_boot,
                random_state=random_state,
            )
        )
    return out
