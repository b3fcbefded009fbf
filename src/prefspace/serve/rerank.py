"""Best-of-N reranking: score many responses per prompt, keep the best one.

This is how a reward model is used at inference time: a policy samples N responses to each
prompt, the reward model scores them, and the highest-scoring one is kept.

- :func:`read_candidates` reads rows of prompt + response through
  ``prefspace.data.read_responses`` (the one reader of responses grouped by prompt: any file
  type it reads, gzip, a BOM, bad-row messages naming file and line; the prompt may instead come
  from a second file joined on ``prompt_id``).
- :func:`rerank` scores them with a :class:`~prefspace.models.RewardScorer` and picks the best
  per prompt; :func:`best_records` turns the picks into output rows.

What it does not do: generate the candidates, or judge the selection against gold scores
(``prefspace.evaluate`` does that).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._jsonsafe import json_number
from .._surface import option
from ..data.dataset import canonical_prompt
from ..data.rules import MAX_TEXT_CHARS
from ..data.scored import read_responses
from ..exceptions import ConfigError, DataError

logger = logging.getLogger(__name__)

__all__ = ["Candidates", "RerankResult", "read_candidates", "rerank", "best_records"]


@dataclass
class Candidates:
    """Rows of candidate responses: ``prompts[i]``/``responses[i]``, grouped by ``groups[i]``.

    ``rows[i]`` is the source row (written back out with the winner); ``prompt_key`` and
    ``response_key`` name the columns it was read from.
    """

    prompts: list
    responses: list
    groups: list
    rows: list
    prompt_key: str = "prompt"
    response_key: str = "response"

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


def read_candidates(
    path: str | os.PathLike,
    *,
    prompts: str | os.PathLike | None = None,
    prompt_key: str = "prompt",
    response_key: str = "response",
    group_key: str | None = None,
    join_key: str = "prompt_id",
    max_text_chars: int = MAX_TEXT_CHARS,
) -> Candidates:
    """Read candidate rows (any file ``prefspace.data.read_responses`` reads).

    Each row holds a prompt (a string or messages) under ``prompt_key`` and a response
    (a string, or a conversational completion) under ``response_key``, or a list of responses
    under ``response_key + "s"``. With ``prompts`` (a file of prompts), rows carry ``join_key`` instead and the
    prompt text comes from that file (the ``alpaca_bon`` layout). Rows are grouped by
    ``group_key`` when given, else by ``join_key`` when the rows have it, else by the prompt
    itself; a group id must name one prompt. Prompts and responses follow
    :mod:`prefspace.data.rules` (encodable text, roles, at most ``max_text_chars`` characters);
    a score column, when present, holds finite numbers.

    Example
    -------
    >>> c = read_candidates("samples.jsonl")                        # doctest: +SKIP
    >>> len(c), len(set(c.groups))                                  # doctest: +SKIP
    (4000, 500)
    """
    if group_key is not None and prompts is not None and group_key != join_key:
        raise ConfigError(
            f"{option('group_key', group_key)} with {option('prompts')}: the rows are grouped by the prompts file's "
            f"join key {join_key!r}. Leave out {option('group_key')}, or pass {option('join_key', group_key)} if that "
            "column joins the files."
        )
    sr = read_responses(
        path,
        prompts=prompts,
        join_key=group_key or join_key,
        prompt_key=prompt_key,
        response_key=response_key,
        keep_records=True,
        max_text_chars=max_text_chars,
    )
    if sr.info.columns.join is None and group_key is not None:
        raise DataError(f"{sr.source}: no column {group_key!r} for {option('group_key')}.")
    rows = sr.prompt_index.tolist()
    return Candidates(
        prompts=[sr.prompts[p] for p in rows],
        responses=list(sr.responses),
        groups=[sr.prompt_ids[p] for p in rows],
        rows=list(sr.records or []),
        prompt_key=prompt_key,
        response_key=response_key,
    )


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
        raise DataError(
            f"got {len(prompts)} prompts but {len(responses)} responses; pass one prompt per response."
        )
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
        logger.warning(
            "%d of %d prompts have fewer than n=%d candidates; using all they have",
            len(short),
            len(members),
            n,
        )

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
        rows_g = np.asarray(members[g], dtype=np.int64)
        order = rows_g[np.argsort(-rewards[rows_g], kind="stable")]  # stable: ties keep input order
        rank[order] = np.arange(1, len(order) + 1)
        best[k] = order[0]
        counts[k] = len(rows_g)
        if len(order) > 1:
            runner_up[k] = rewards[order[1]]
    return RerankResult(group_ids, best, counts, rewards, rank, runner_up)


def best_records(candidates: Candidates, result: RerankResult) -> list[dict]:
    """One output row per group: the winner's source row, with its prompt and response, and
    ``reward``, ``n_candidates``, ``candidate_index`` (its position among its group's
    candidates, from 0) and ``runner_up_reward`` (null for a single candidate) added."""
    seen: dict = {}
    position = []  # each row's index among its group's candidates
    for g in candidates.groups:
        position.append(seen.get(g, 0))
        seen[g] = position[-1] + 1
    out = []
    list_key = candidates.response_key + "s"
    for k, i in enumerate(result.best.tolist()):
        row = dict(candidates.rows[i])
        if candidates.response_key not in row:  # one response of a row holding a list of them
            row.pop(list_key, None)
            row[candidates.response_key] = candidates.responses[i]
        row.setdefault(candidates.prompt_key, candidates.prompts[i])
        row.update(
            reward=json_number(result.rewards[i]),
            n_candidates=int(result.n_candidates[k]),
            candidate_index=position[i],
            runner_up_reward=json_number(result.runner_up[k]),
        )
        out.append(row)
    return out
