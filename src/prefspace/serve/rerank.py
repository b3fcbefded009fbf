"""Best-of-N reranking: score many responses per prompt, keep the best one.

This is how a reward model is used at inference time: a policy samples N responses to each
prompt, the reward model scores them, and the highest-scoring one is kept.

- :func:`read_candidates` reads rows of prompt + response (JSONL, optionally gzipped; the
  prompt may instead come from a second file joined on ``prompt_id``).
- :func:`rerank` scores them with a :class:`RewardScorer` and picks the best per prompt.

What it does not do: generate the candidates, or judge the selection against gold scores
(``prefspace.evaluate`` does that).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ..data.dataset import canonical_prompt
from ..data.dialogue import RowProblem
from ..data.readers import read_source
from ..data.rules import MAX_TEXT_CHARS, check_max_text_chars, check_prompt, check_response, score_value
from ..exceptions import ConfigError, DataError

logger = logging.getLogger(__name__)

__all__ = ["Candidates", "RerankResult", "read_candidates", "rerank"]


@dataclass
class Candidates:
    """Rows of candidate responses: ``prompts[i]``/``responses[i]``, grouped by ``groups[i]``.

    ``rows[i]`` is the original JSON object (written back out with the winner).
    """

    prompts: list
    responses: list
    groups: list
    rows: list

    def __len__(self) -> int:
        return len(self.responses)


@dataclass
class RerankResult:
    """The outcome of best-of-N selection.

    Attributes
    ----------
    group_ids : list, one per prompt, in order of first appearance
    best : int64 (n_groups,), row index of each group's best candidate
    n_candidates : int64 (n_groups,), how many candidates each group had (at most N)
    rewards : float64 (n_rows,), every row's reward; NaN for rows beyond the first N of a group
    rank : int64 (n_rows,), 1 for the best of its group, 2 for the next...; 0 for rows not considered
    runner_up : float64 (n_groups,), the second-best reward (NaN for a single candidate)
    """

    group_ids: list
    best: np.ndarray
    n_candidates: np.ndarray
    rewards: np.ndarray
    rank: np.ndarray
    runner_up: np.ndarray


_SCORE_KEYS = ("score", "gold", "reward")


def _read_rows(path: Path) -> Iterator[tuple[str, dict]]:
    """``(where, row)`` for every row, through the shared reader (gzip, BOM, UTF-8, nesting, surrogates)."""
    for raw in read_source(path).rows:
        if raw.problem is not None:
            raise DataError(f"{raw.where}: {raw.problem[1]}")
        yield raw.where, raw.data


def read_candidates(
    path: str | Path,
    prompts_path: str | Path | None = None,
    prompt_key_name: str = "prompt",
    response_key: str = "response",
    group_key: str | None = None,
    join_key: str = "prompt_id",
    max_text_chars: int = MAX_TEXT_CHARS,
) -> Candidates:
    """Read candidate rows from JSONL (``.jsonl`` or ``.jsonl.gz``; any file ``load_preferences`` reads).

    Each row holds a prompt (a string or messages) under ``prompt_key_name`` and a response
    under ``response_key``. With ``prompts_path``, rows carry ``join_key`` instead and the
    prompt text comes from that file (the ``alpaca_bon`` layout). Rows are grouped by
    ``group_key`` when given, else by ``join_key`` when present, else by the prompt itself.
    Prompts and responses follow :mod:`prefspace.data.rules` (at most ``max_text_chars``
    characters, roles, encodable text); a score column, when present, holds finite numbers.

    Example
    -------
    >>> c = read_candidates("samples.jsonl")                        # doctest: +SKIP
    >>> len(c), len(set(c.groups))                                  # doctest: +SKIP
    (4000, 500)
    """
    path = Path(path)
    check_max_text_chars(max_text_chars)
    lookup: dict | None = None
    if prompts_path is not None:
        lookup = {}
        for where, row in _read_rows(Path(prompts_path)):
            if join_key not in row or prompt_key_name not in row:
                raise DataError(
                    f"{where}: expected keys {join_key!r} and {prompt_key_name!r}; found {', '.join(map(repr, row))}."
                )
            lookup[_hashable(row[join_key], join_key, where)] = (where, row[prompt_key_name])
    prompts, responses, groups, rows = [], [], [], []
    for where, row in _read_rows(path):
        if lookup is not None:
            if join_key not in row:
                raise DataError(f"{where}: missing key {join_key!r} to join with {prompts_path} (found: {', '.join(map(repr, row))}).")
            if _hashable(row[join_key], join_key, where) not in lookup:
                raise DataError(f"{where}: {join_key}={row[join_key]!r} is not in {prompts_path}.")
            prompt_where, prompt = lookup[row[join_key]]
        else:
            if prompt_key_name not in row:
                hint = f" If the prompt is in another file, pass it with --prompts (joined on {join_key!r})." if join_key in row else ""
                raise DataError(
                    f"{where}: missing key {prompt_key_name!r} (found: {', '.join(map(repr, row))}).{hint} "
                    "If the column is named differently, pass --prompt-key."
                )
            prompt, prompt_where = row[prompt_key_name], where
        if response_key not in row:
            raise DataError(
                f"{where}: missing key {response_key!r} (found: {', '.join(map(repr, row))}). "
                "If the column is named differently, pass --response-key."
            )
        try:
            prompt = check_prompt(prompt, repr(prompt_key_name), max_text_chars)
        except RowProblem as problem:
            raise DataError(f"{prompt_where}: {problem.message}") from None
        try:
            response = check_response(row[response_key], repr(response_key), max_text_chars)
            score_key = next((k for k in _SCORE_KEYS if k in row), None)
            if score_key is not None:
                score_value(row[score_key], score_key)
        except RowProblem as problem:
            raise DataError(f"{where}: {problem.message}") from None
        if group_key is not None:
            if group_key not in row:
                raise DataError(f"{where}: missing group key {group_key!r} (found: {', '.join(map(repr, row))}).")
            group = row[group_key]
        elif join_key in row:
            group = row[join_key]
        else:
            group = canonical_prompt(prompt)
        if isinstance(group, (list, dict)):
            group = json.dumps(group, sort_keys=True)
        prompts.append(prompt)
        responses.append(response)
        groups.append(group)
        rows.append(row)
    if not rows:
        raise DataError(f"{path}: no candidate rows.")
    return Candidates(prompts, responses, groups, rows)


def _hashable(value: Any, key: str, where: str) -> Any:
    if isinstance(value, (list, dict)):
        raise DataError(f"{where}: {key!r} must be text or a number; found {type(value).__name__}.")
    return value


def rerank(
    scorer: Any,
    prompts: Sequence[Any],
    responses: Sequence[str],
    groups: Sequence[Any] | None = None,
    n: int | None = None,
    batch_size: int = 512,
) -> RerankResult:
    """Pick the best of (the first) ``n`` responses for each prompt.

    Parameters
    ----------
    scorer : RewardScorer (anything with ``score(prompts, responses) -> (m,)``)
    prompts, responses : one entry per candidate row
    groups : one group id per row (default: the prompt itself)
    n : use each group's first ``n`` candidates, in input order (default: all of them)
    batch_size : rows per scoring call (bounds memory)

    Ties go to the earlier candidate.

    Example
    -------
    >>> class LengthScorer:  # anything with score(prompts, responses) -> (m,), e.g. a RewardScorer
    ...     def score(self, prompts, responses):
    ...         return np.array([float(len(r)) for r in responses])
    >>> res = rerank(LengthScorer(), ["p", "p", "q"], ["ok", "longer", "x"])
    >>> res.best.tolist(), res.n_candidates.tolist(), res.rank.tolist()
    ([1, 2], [2, 1], [2, 1, 1])
    """
    prompts, responses = list(prompts), list(responses)
    if len(prompts) != len(responses):
        raise DataError(f"got {len(prompts)} prompts but {len(responses)} responses; pass one prompt per response.")
    if groups is None:
        groups = [canonical_prompt(p) for p in prompts]
    groups = list(groups)
    if len(groups) != len(prompts):
        raise DataError(f"got {len(groups)} group ids for {len(prompts)} rows.")
    if n is not None and int(n) < 1:
        raise ConfigError(f"n must be >= 1; got {n}.")
    if int(batch_size) < 1:
        raise ConfigError(f"batch_size must be >= 1; got {batch_size}.")

    # members of each group, in order of first appearance, the first n only
    members: dict[Any, list[int]] = {}
    for i, g in enumerate(groups):
        lst = members.setdefault(g, [])
        if n is None or len(lst) < n:
            lst.append(i)
    short = [g for g, lst in members.items() if n is not None and len(lst) < n]
    if short:
        logger.warning("%d of %d prompts have fewer than n=%d candidates; using all they have", len(short), len(members), n)

    use = np.array(sorted(i for lst in members.values() for i in lst), dtype=np.int64)
    rewards = np.full(len(prompts), np.nan)
    for start in range(0, len(use), int(batch_size)):
        idx = use[start : start + int(batch_size)]
        rewards[idx] = scorer.score([prompts[i] for i in idx], [responses[i] for i in idx])
        logger.info("scored %d / %d candidates", min(start + int(batch_size), len(use)), len(use))

    group_ids = list(members)
    best = np.empty(len(group_ids), dtype=np.int64)
    counts = np.empty(len(group_ids), dtype=np.int64)
    rank = np.zeros(len(prompts), dtype=np.int64)
    runner_up = np.full(len(group_ids), np.nan)
    for k, g in enumerate(group_ids):
        lst = np.asarray(members[g], dtype=np.int64)
        order = lst[np.argsort(-rewards[lst], kind="stable")]  # stable: ties keep input order
        rank[order] = np.arange(1, len(order) + 1)
        best[k] = order[0]
        counts[k] = len(lst)
        if len(order) > 1:
            runner_up[k] = rewards[order[1]]
    return RerankResult(group_ids, best, counts, rewards, rank, runner_up)
