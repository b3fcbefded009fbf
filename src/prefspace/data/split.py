"""Deterministic train/test splits grouped by prompt: no prompt appears on both sides.

Pairs that share a prompt (``PreferenceDataset.prompt_keys()``) go to the same side, so a test
score never rewards remembering a prompt seen in training. For ``ScoredResponses`` the unit is
the prompt itself (all its responses travel together).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal, TypeVar, cast

import numpy as np

from .._validation import check_random_state
from ..exceptions import ConfigError
from .dataset import PreferenceDataset, ScoredResponses
from .report import SplitRecord

D = TypeVar("D", PreferenceDataset, ScoredResponses)


def split_by_prompt(
    dataset: D,
    *,
    test_fraction: float | None = None,
    test_size: int | None = None,
    random_state: int | np.random.Generator | None = 0,
) -> tuple[D, D]:
    """Split into ``(train, test)`` with every prompt on one side only.

    Parameters
    ----------
    dataset : PreferenceDataset or ScoredResponses
    test_fraction : float in (0, 1), optional
        Share of pairs (of prompts, for ScoredResponses) to put in the test set. The default,
        when neither this nor ``test_size`` is given, is 0.2.
    test_size : int, optional
        Number of pairs (prompts, for ScoredResponses) in the test set. Whole prompt groups are
        moved, so the result is as close to this as the groups allow.
    random_state : int
        The same data and random_state always give the same split.

    Returns
    -------
    (train, test) : two datasets of the same type, rows in their original order. Each keeps
        the read's report, with ``info.split`` (a :class:`~prefspace.data.report.SplitRecord`)
        saying which side it is and how it was made.

    Example
    -------
    >>> from prefspace.data import load_demo, split_by_prompt
    >>> train, test = split_by_prompt(load_demo(), test_fraction=0.25, random_state=0)
    >>> set(train.prompt_keys()) & set(test.prompt_keys())
    set()
    """
    if isinstance(dataset, PreferenceDataset):
        keys = dataset.prompt_keys()
        groups: dict[str, list[int]] = {}
        for i, k in enumerate(keys):
            groups.setdefault(k, []).append(i)
        members = list(groups.values())
        unit: Literal["pairs", "prompts"] = "pairs"
    elif isinstance(dataset, ScoredResponses):
        members = [[p] for p in range(dataset.n_prompts)]
        unit = "prompts"
    else:
        raise ConfigError(
            f"split_by_prompt takes a PreferenceDataset or ScoredResponses; got {type(dataset).__name__}."
        )
    n = sum(len(m) for m in members)
    target = _target(n, test_fraction, test_size, unit)
    if len(members) < 2:
        raise ConfigError(f"cannot split by prompt: all {n} {unit} share one prompt.")

    rng = check_random_state(random_state)
    order = rng.permutation(len(members))
    test: list[int] = []
    for g in order:
        size = len(members[g])
        if (
            len(test) + size > target
            and (len(test) + size - target) > (target - len(test))
            and test
        ):
            break  # adding this group would overshoot by more than we now fall short
        test.extend(members[g])
        if len(test) >= target:
            break
    if len(test) == n:  # one huge group took everything: give the last group back
        test = [i for g in order[:-1] for i in members[g]]
    in_test = np.zeros(n, dtype=bool)
    in_test[test] = True
    train_idx, test_idx = np.flatnonzero(~in_test), np.flatnonzero(in_test)
    parts: tuple[Any, Any]  # (D, D): both sides are of the input's type
    if isinstance(dataset, PreferenceDataset):
        parts = dataset.select(train_idx), dataset.select(test_idx)
    else:
        parts = dataset.select_prompts(train_idx), dataset.select_prompts(test_idx)
    train, held_out = cast("tuple[D, D]", parts)
    seed = None if isinstance(random_state, np.random.Generator) else random_state
    how = (seed, test_fraction, test_size, unit)
    train.info = replace(train.info, split=SplitRecord("train", *how))
    held_out.info = replace(held_out.info, split=SplitRecord("test", *how))
    return train, held_out


def _target(n: int, test_fraction: float | None, test_size: int | None, unit: str) -> int:
    if test_fraction is not None and test_size is not None:
        raise ConfigError("pass test_fraction or test_size, not both.")
    if test_size is not None:
        if (
            isinstance(test_size, bool)
            or not isinstance(test_size, (int, np.integer))
            or not 0 < test_size < n
        ):
            raise ConfigError(
                f"test_size must be an integer between 1 and {n - 1} (the {unit} there are); got {test_size!r}."
            )
        return int(test_size)
    frac = 0.2 if test_fraction is None else test_fraction
    if (
        not isinstance(frac, (int, float, np.floating))
        or isinstance(frac, bool)
        or not 0 < frac < 1
    ):
        raise ConfigError(f"test_fraction must be a number strictly between 0 and 1; got {frac!r}.")
    return max(1, min(n - 1, int(round(frac * n))))
