"""Load scored responses: many responses per prompt, each with a numeric score.

One file with ``prompt``, ``response`` and a score column, or two files joined on a key (as
``../shared/data/alpaca_bon``: ``responses.jsonl.gz`` with ``prompt_id``/``response``/``gold`` and
``prompts.jsonl.gz`` with ``prompt_id``/``prompt``). Rows stay in file order and, unless an id
column is named, a row's id is its 0-based position among the file's data rows, so precomputed
embedding arrays stored in file order line up with ``ids``.

An empty response is kept (a generator that produced nothing is a real, scored outcome) and
counted in ``info["empty_responses"]``. This module does not turn scores into pairs.
"""

from __future__ import annotations

import logging
import math
import os
from collections import Counter
from typing import Any

import numpy as np

from .._validation import check_in
from ..exceptions import ConfigError, DataError
from .dataset import ScoredResponses
from .dataset import canonical_prompt
from .dialogue import RowProblem
from .preferences import _clip, _list, _number, _prompt_value, _type
from .memory import read_any
from .readers import RawSource

logger = logging.getLogger(__name__)

_SCORE_KEYS = ("score", "gold", "reward")


def load_scored_responses(
    source: str | os.PathLike,
    *,
    prompts: str | os.PathLike | None = None,
    join_key: str = "prompt_id",
    prompt_key: str = "prompt",
    response_key: str = "response",
    score_key: str | None = None,
    id_key: str | None = None,
    split: str | None = None,
    on_bad_rows: str = "error",
) -> ScoredResponses:
    """Read responses with numeric scores, many per prompt.

    Parameters
    ----------
    source : path or str
        The responses (any source :func:`load_preferences` reads).
    prompts : path or str, optional
        A second source with one row per prompt (``join_key`` and ``prompt_key`` columns). The
        responses then need only ``join_key``. Without it, each response row carries its prompt
        (and optionally ``join_key``, which then groups rows).
    join_key, prompt_key, response_key : str
        Column names.
    score_key : str, optional
        The score column; by default the first of ``score``, ``gold``, ``reward`` present.
    id_key : str, optional
        A unique row id column; by default ids are ``"0"``, ``"1"``, ... by file row.
    on_bad_rows : {"error", "skip"}
        As in :func:`load_preferences`.

    Returns
    -------
    ScoredResponses
        ``prompts`` in prompts-file order (or first-appearance order), ``prompt_index`` (n,),
        ``responses`` (n,), ``scores`` float64 (n,), ``ids`` (n,), other columns in ``extra``.

    Example
    -------
    >>> sr = load_scored_responses("../shared/data/alpaca_bon/responses.jsonl.gz",
    ...                            prompts="../shared/data/alpaca_bon/prompts.jsonl.gz")
    >>> sr.n_prompts, len(sr), sr.extra.keys()
    (805, 48290, dict_keys(['generator']))
    """
    check_in(on_bad_rows, ("error", "skip"), name="on_bad_rows")
    for name, key in (("join_key", join_key), ("prompt_key", prompt_key), ("response_key", response_key)):
        if not isinstance(key, str) or not key:
            raise ConfigError(f"{name} must be a non-empty column name; got {key!r}.")
    skip = on_bad_rows == "skip"
    raw = read_any(source, split=split)
    columns = _columns(raw)
    score_key = _score_key(raw, columns, score_key)
    if id_key is not None and id_key not in columns:
        raise DataError(f"{raw.name}: no column {id_key!r} for --id-key (found: {_list(sorted(columns))}).")

    skipped: Counter = Counter()
    first_problem = ""

    def bad(where: str, problem: RowProblem) -> None:
        nonlocal first_problem
        if not skip:
            raise DataError(f"{where}: {problem.message}") from None
        skipped[problem.reason] += 1
        first_problem = first_problem or f"{where}: {problem.message}"
        if sum(skipped.values()) <= 5:
            logger.warning("skipping %s: %s", where, problem.message)

    # --- prompts: from their own file, or gathered from the response rows ------------------
    prompt_list: list = []
    prompt_ids: list[str] = []
    position: dict[str, int] = {}
    by_text: dict[str, int] = {}
    if prompts is not None:
        praw = read_any(prompts, split=split)
        for row in praw.rows:
            try:
                if row.problem is not None:
                    raise RowProblem(*row.problem)
                pid = _join_value(_get(row.data, join_key, "--join-key"), join_key)
                text = _prompt_value(_get(row.data, prompt_key, "--prompt-key"), prompt_key)
                if pid in position:
                    raise RowProblem("duplicate_id", f"{join_key} {pid} appears twice in the prompts file; ids must be unique.")
            except RowProblem as problem:
                bad(row.where, problem)
                continue
            position[pid] = len(prompt_list)
            prompt_list.append(text)
            prompt_ids.append(pid)
        if not prompt_list:
            raise DataError(f"{praw.name}: no usable prompts. First problem: {first_problem}")

    use_join = prompts is not None or join_key in columns
    responses: list[str] = []
    scores: list[float] = []
    index: list[int] = []
    ids: list[str] = []
    seen_ids: dict[str, str] = {}
    extra_keys = [c for c in columns if c not in {join_key, prompt_key, response_key, score_key, id_key}]
    if prompts is not None and prompt_key in extra_keys:
        extra_keys.remove(prompt_key)
    extra: dict[str, list] = {c: [] for c in extra_keys}
    empty = 0
    for i, row in enumerate(raw.rows):
        try:
            if row.problem is not None:
                raise RowProblem(*row.problem)
            data = row.data
            response = _get(data, response_key, "--response-key")
            if not isinstance(response, str):
                raise RowProblem("wrong_type", f"{response_key!r} must be text; found {_type(response)}.")
            score = _number(_get(data, score_key, "--score-key"), score_key, "score")
            rid = str(i) if id_key is None else _row_id(_get(data, id_key, "--id-key"), id_key)
            if rid in seen_ids:
                raise RowProblem("duplicate_id", f"id {rid!r} was already used at {seen_ids[rid]}; ids must be unique.")
            if prompts is not None:
                pid = _join_value(_get(data, join_key, "--join-key"), join_key)
                if pid not in position:
                    raise RowProblem(
                        "unknown_prompt",
                        f"{join_key} {pid} is not in the prompts file {praw.name}. Check that the two files belong together.",
                    )
                p = position[pid]
            else:
                text = _prompt_value(_get(data, prompt_key, "--prompt-key"), prompt_key)
                canon = canonical_prompt(text)
                pid = _join_value(_get(data, join_key, "--join-key"), join_key) if use_join else str(len(prompt_list))
                known = position.get(pid) if use_join else by_text.get(canon)
                if known is None:
                    known = len(prompt_list)
                    position[pid] = by_text[canon] = known
                    prompt_list.append(text)
                    prompt_ids.append(pid)
                elif use_join and canonical_prompt(prompt_list[known]) != canon:
                    raise RowProblem(
                        "inconsistent_prompt",
                        f"{join_key} {pid} has prompt {_clip(canon)} here but {_clip(canonical_prompt(prompt_list[known]))} "
                        "on an earlier row. Each id must name one prompt.",
                    )
                p = known
        except RowProblem as problem:
            bad(row.where, problem)
            continue
        seen_ids[rid] = row.where
        empty += not response.strip()
        responses.append(response)
        scores.append(score)
        index.append(p)
        ids.append(rid)
        for c in extra_keys:
            extra[c].append(data.get(c))

    if not responses:
        raise DataError(f"{raw.name}: no usable responses. First problem: {first_problem}")
    n_skipped = sum(skipped.values())
    if n_skipped:
        logger.warning("%s: skipped %d rows (%s)", raw.name, n_skipped, ", ".join(f"{r}: {n}" for r, n in skipped.most_common()))
    counts = np.bincount(np.asarray(index), minlength=len(prompt_list))
    info = {
        "source": raw.name,
        "prompts_source": None if prompts is None else os.fspath(prompts),
        "rows": len(raw.rows),
        "responses": len(responses),
        "prompts": len(prompt_list),
        "prompts_without_responses": int((counts == 0).sum()),
        "score_key": score_key,
        "empty_responses": int(empty),
        "skipped": dict(skipped.most_common()),
        "n_skipped": n_skipped,
        "ids": f"column {id_key!r}" if id_key else "file row (0-based)",
    }
    return ScoredResponses(
        prompts=prompt_list,
        prompt_ids=prompt_ids,
        prompt_index=np.asarray(index, dtype=np.int64),
        responses=responses,
        scores=np.asarray(scores, dtype=np.float64),
        ids=ids,
        extra=extra,
        source=raw.name,
        info=info,
    )


def _columns(raw: RawSource) -> list[str]:
    seen: dict[str, None] = {}
    for row in raw.rows:
        if row.data is not None:
            for k in row.data:
                seen.setdefault(k, None)
    return list(seen)


def _score_key(raw: RawSource, columns: list[str], score_key: str | None) -> str:
    if score_key is not None:
        if score_key not in columns:
            raise DataError(f"{raw.name}: no column {score_key!r} for --score-key (found: {_list(columns)}).")
        return score_key
    for k in _SCORE_KEYS:
        if k in columns:
            return k
    raise DataError(
        f"{raw.name}: no score column (looked for {', '.join(map(repr, _SCORE_KEYS))}; found: {_list(columns)}). "
        "Name it with --score-key (score_key=...)."
    )


def _get(data: dict, key: str, flag: str) -> Any:
    if key not in data:
        raise RowProblem(
            "missing_key",
            f"missing key {key!r} (found: {_list(data)}). If the column is named differently, pass {flag} NAME.",
        )
    value = data[key]
    if value is None:
        raise RowProblem("missing_value", f"{key!r} is empty (null). Fill it in, or remove the row.")
    return value


def _join_value(value: Any, key: str) -> str:
    """Join keys compare as text, so 7 (JSON), "7" (CSV) and 7.0 (pandas) are the same prompt."""
    if isinstance(value, bool):
        raise RowProblem("wrong_type", f"{key!r} must be an integer or text; found bool.")
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (int, np.integer, str)) and str(value).strip():
        return str(value).strip()
    raise RowProblem("wrong_type", f"{key!r} must be an integer or text; found {_type(value)} {value!r}.")


def _row_id(value: Any, key: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, np.integer)) or not str(value).strip():
        raise RowProblem("wrong_type", f"{key!r} must be non-empty text or an integer; found {_type(value)} {value!r}.")
    return str(value).strip()
