"""Read responses grouped by prompt, with optional scores: the one reader for such files.

Every stage that reads "many responses per prompt" goes through :func:`read_responses`: the
best-of-N evaluation and the simulated annotators (:func:`load_scored_responses`, scores
required), candidate pools for pair selection (``prefspace select``, the labeling studio) and
best-of-N reranking (``prefspace.serve.rerank``). So every file type, compression, BOM,
encoding and bad-row rule of :func:`~prefspace.data.readers.read_source` applies to all of them.

Layouts:

- one row per response: ``prompt``, ``response`` and optionally a score column
  (``score``, ``gold`` or ``reward``);
- one row per prompt with a list of responses under ``responses`` (``response_key + "s"``), and
  optionally a list of scores under the score column, one per response;
- two files joined on a key (as ``../shared/data/alpaca_bon``: ``responses.jsonl.gz`` with
  ``prompt_id``/``response``/``gold`` and ``prompts.jsonl.gz`` with ``prompt_id``/``prompt``).

A prompt is text or conversational messages; a response is text or a conversational completion
(a list of messages, whose contents are joined). Rows are grouped by the join key when the rows
carry one (each id must then name one prompt), else by the prompt itself. Rows stay in file
order and, unless an id column is named, a response's id is its row's 0-based position among
the file's data rows (``"<row>.<j>"`` for the j-th response of a list row), so precomputed
embedding arrays stored in file order line up with ``ids``.

An empty response is kept (a generator that produced nothing is a real, scored outcome) and
counted in ``info.empty_responses``. This module does not turn scores into pairs.

:func:`read_response_rows` reads prompt/response rows one by one, ungrouped and with their other
columns (what ``prefspace score`` writes a reward beside).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._surface import option
from .._validation import check_in
from ..exceptions import ConfigError, DataError
from .dataset import ScoredResponses, canonical_prompt
from .dialogue import RowProblem
from .memory import read_any
from .readers import RawSource, read_source
from .report import ResponseColumns, ResponsesReport
from .rows import BadRows
from .rules import MAX_TEXT_CHARS, check_max_text_chars
from .values import (
    clip,
    key_list,
    number_value,
    prompt_value,
    required_value,
    response_value,
    type_name,
)

logger = logging.getLogger(__name__)

SCORE_KEYS = ("score", "gold", "reward")


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
    max_text_chars: int = MAX_TEXT_CHARS,
) -> ScoredResponses:
    """Read responses with numeric scores, many per prompt: :func:`read_responses` with every
    row's score required (a row without one is a bad row).

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
    return read_responses(
        source,
        prompts=prompts,
        join_key=join_key,
        prompt_key=prompt_key,
        response_key=response_key,
        score_key=score_key,
        id_key=id_key,
        split=split,
        on_bad_rows=on_bad_rows,
        require_scores=True,
        max_text_chars=max_text_chars,
    )


def read_responses(
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
    require_scores: bool = False,
    keep_records: bool = False,
    max_text_chars: int = MAX_TEXT_CHARS,
) -> ScoredResponses:
    """Read responses grouped by prompt, with scores where the source has them.

    Parameters
    ----------
    source, prompts, join_key, prompt_key, response_key, id_key, split, on_bad_rows
        As in :func:`load_scored_responses`. A row may hold a list of responses under
        ``response_key + "s"`` instead of one under ``response_key``.
    score_key : str, optional
        The score column; by default the first of ``score``, ``gold``, ``reward`` present, or
        none (then every score is NaN unless ``require_scores``).
    require_scores : bool
        True: a score column must exist and every row needs a finite score. False: a row
        without a score (no column, a missing key or null) gets NaN; a score that is there must
        still be a finite number.
    keep_records : bool
        Keep each response's source row (the dict read) in ``ScoredResponses.records``.
    max_text_chars : int, default 100,000
        Longest prompt or response, in characters; a longer one is a bad row (``text_too_long``).
        Texts, roles and scores follow :mod:`prefspace.data.rules`.

    Returns
    -------
    ScoredResponses
        ``info``: a :class:`~prefspace.data.report.ResponsesReport` (``columns``: those used).

    Example
    -------
    >>> import json, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "pool.jsonl"
    >>> _ = path.write_text(json.dumps({"prompt": "2+2?", "responses": ["4", "5"]}) + "\\n"
    ...                     + json.dumps({"prompt": "2+2?", "response": "four", "score": 1}) + "\\n")
    >>> pool = read_responses(path)
    >>> pool.n_prompts, pool.ids, pool.scores.tolist()
    (1, ['0.0', '0.1', '1'], [nan, nan, 1.0])
    """
    check_in(on_bad_rows, ("error", "skip"), name="on_bad_rows")
    check_max_text_chars(max_text_chars)
    _check_column_names(
        join_key=join_key,
        prompt_key=prompt_key,
        response_key=response_key,
        score_key=score_key,
        id_key=id_key,
    )
    list_key = response_key + "s"
    raw = read_any(source, split=split)
    columns = _columns(raw)
    score_key = _score_key(raw, columns, score_key, require_scores)
    if id_key is not None and id_key not in columns:
        raise DataError(
            f"{raw.name}: no column {id_key!r} for {option('id_key')} "
            f"(found: {key_list(sorted(columns))})."
        )

    bad = BadRows(raw.name, skip=on_bad_rows == "skip")

    # --- prompts: from their own file, or gathered from the response rows ------------------
    table = _PromptTable(join_key, prompt_key, max_text_chars, join_key in columns)
    if prompts is not None:
        table.read_file(read_any(prompts, split=split), bad)

    # --- responses, row by row ------------------------------------------------------------
    used = {join_key, prompt_key, response_key, list_key, score_key, id_key}
    out = _Responses(extra_keys=[c for c in columns if c not in used], keep_records=keep_records)
    for i, row in enumerate(raw.rows):
        try:
            data = bad.data(row)
            texts, row_scores, is_list = _row_responses(
                data, response_key, list_key, score_key, require_scores, max_text_chars
            )
            rids = _row_ids(data, i, len(texts), is_list, id_key, out.seen_ids)
            p = table.row_prompt(data)
        except RowProblem as problem:
            bad.record(row.where, problem)
            continue
        out.add(row.where, data, texts, row_scores, rids, p, is_list)

    columns_used = ResponseColumns(
        prompt=prompt_key,
        response=response_key,
        score=score_key,
        join=join_key if table.use_join else None,
        id=id_key,
    )
    return _scored_responses(raw, table, out, bad, columns_used)


def _scored_responses(
    raw: RawSource,
    table: _PromptTable,
    out: _Responses,
    bad: BadRows,
    columns_used: ResponseColumns,
) -> ScoredResponses:
    """What :func:`read_responses` read, as :class:`ScoredResponses` (none read: DataError)."""
    if not out.responses:
        raise DataError(f"{raw.name}: no usable responses. First problem: {bad.first_problem}")
    bad.log_summary()
    score_array = np.asarray(out.scores, dtype=np.float64)
    info = _read_info(raw, table.source, out, score_array, len(table.prompts), bad, columns_used)
    return ScoredResponses(
        prompts=table.prompts,
        prompt_ids=table.ids,
        prompt_index=np.asarray(out.index, dtype=np.int64),
        responses=out.responses,
        scores=score_array,
        ids=out.ids,
        extra=out.extra,
        source=raw.name,
        info=info,
        records=out.records if out.keep_records else None,
    )


@dataclass
class _Responses:
    """The responses read so far, in file order, with what :func:`read_responses` reports."""

    extra_keys: list[str]
    keep_records: bool
    responses: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    index: list[int] = field(default_factory=list)  # each response's prompt
    ids: list[str] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)
    extra: dict[str, list] = field(default_factory=dict)
    seen_ids: dict[str, str] = field(default_factory=dict)  # id -> where it was read
    empty: int = 0
    list_rows: int = 0

    def __post_init__(self) -> None:
        self.extra = {c: [] for c in self.extra_keys}

    def add(
        self,
        where: str,
        data: dict,
        texts: list[str],
        scores: list[float],
        ids: list[str],
        prompt: int,
        is_list: bool,
    ) -> None:
        self.list_rows += is_list
        for text, score, rid in zip(texts, scores, ids):
            self.seen_ids[rid] = where
            self.empty += not text.strip()
            self.responses.append(text)
            self.scores.append(score)
            self.index.append(prompt)
            self.ids.append(rid)
            if self.keep_records:
                self.records.append(data)
            for c in self.extra_keys:
                self.extra[c].append(data.get(c))


def _read_info(
    raw: RawSource,
    praw: RawSource | None,
    out: _Responses,
    scores: np.ndarray,
    n_prompts: int,
    bad: BadRows,
    columns: ResponseColumns,
) -> ResponsesReport:
    """``ScoredResponses.info``: what was read, what was left out, and which columns were used."""
    counts = np.bincount(np.asarray(out.index), minlength=n_prompts)
    return ResponsesReport(
        source=raw.name,
        prompts_source=None if praw is None else praw.name,
        rows=len(raw.rows),
        responses=len(out.responses),
        prompts=n_prompts,
        prompts_without_responses=int((counts == 0).sum()),
        score_key=columns.score,
        scored_responses=int(np.isfinite(scores).sum()),
        empty_responses=int(out.empty),
        list_rows=int(out.list_rows),
        skipped=dict(bad.counts.most_common()),
        n_skipped=bad.n_skipped,
        ids=f"column {columns.id!r}" if columns.id else "file row (0-based)",
        columns=columns,
    )


def _check_column_names(
    *, join_key: Any, prompt_key: Any, response_key: Any, score_key: Any, id_key: Any
) -> None:
    """Column names are non-empty strings (the score and id columns may be None: none)."""
    for name, key in (
        ("join_key", join_key),
        ("prompt_key", prompt_key),
        ("response_key", response_key),
    ):
        if not isinstance(key, str) or not key:
            raise ConfigError(f"{name} must be a non-empty column name; got {key!r}.")
    for name, key in (("score_key", score_key), ("id_key", id_key)):
        if key is not None and (not isinstance(key, str) or not key):
            raise ConfigError(f"{name} must be a non-empty column name or None; got {key!r}.")


def _row_ids(
    data: dict, i: int, n_texts: int, is_list: bool, id_key: str | None, seen_ids: dict[str, str]
) -> list[str]:
    """The ids of one row's responses: its id column (or file position), ``.j`` for a list row."""
    if id_key is None:
        rids = [f"{i}.{j}" for j in range(n_texts)] if is_list else [str(i)]
    else:
        rid = _row_id(required_value(data, id_key, "id_key"), id_key)
        rids = [f"{rid}.{j}" for j in range(n_texts)] if is_list else [rid]
    for rid in rids:
        if rid in seen_ids:
            raise RowProblem(
                "duplicate_id",
                f"id {rid!r} was already used at {seen_ids[rid]}; ids must be unique.",
            )
    return rids


def _row_responses(
    data: dict,
    response_key: str,
    list_key: str,
    score_key: str | None,
    require: bool,
    max_text_chars: int = MAX_TEXT_CHARS,
):
    """``(texts, scores, is_list)`` of one row: one response, or a list under ``list_key``."""
    if response_key in data or list_key not in data:
        text = response_value(
            required_value(data, response_key, "response_key"), response_key, max_text_chars
        )
        return [text], [_score(data, score_key, require)], False
    values = data[list_key]
    if not isinstance(values, list) or not values:
        raise RowProblem(
            "wrong_type",
            f"{list_key!r} must be a non-empty list of responses; found {type_name(values)}.",
        )
    texts = [response_value(v, f"{list_key}[{j}]", max_text_chars) for j, v in enumerate(values)]
    if score_key is None or (data.get(score_key) is None and not require):
        return texts, [math.nan] * len(texts), True
    given = required_value(data, score_key, "score_key")
    if not isinstance(given, list) or len(given) != len(texts):
        raise RowProblem(
            "bad_score",
            f"{score_key!r} must be a list of {len(texts)} scores, one per response in {list_key!r}; "
            f"found {type_name(given)}"
            + (f" of {len(given)}" if isinstance(given, list) else "")
            + ".",
        )
    out = []
    for j, v in enumerate(given):
        if v is None and not require:
            out.append(math.nan)
        elif v is None:
            raise RowProblem(
                "missing_value",
                f"'{score_key}[{j}]' is empty (null). Fill it in, or remove the row.",
            )
        else:
            out.append(number_value(v, f"{score_key}[{j}]", "score"))
    return texts, out, True


def _score(data: dict, score_key: str | None, require: bool) -> float:
    if score_key is None:
        return math.nan
    if not require and data.get(score_key) is None:
        return math.nan
    return number_value(required_value(data, score_key, "score_key"), score_key, "score")


class _PromptTable:
    """The prompts of :func:`read_responses` in order, from a prompts file or gathered from
    the response rows, with each prompt's id and the lookups that place a row's prompt.

    Rows are grouped by ``join_key`` when a prompts file was read or the rows have that column
    (``use_join``), else by the prompt text (canonicalised).
    """

    def __init__(self, join_key: str, prompt_key: str, max_text_chars: int, use_join: bool):
        self.join_key, self.prompt_key = join_key, prompt_key
        self.max_text_chars = max_text_chars
        self.use_join = use_join
        self.source: RawSource | None = None  # the prompts file, when one was read
        self.prompts: list = []
        self.ids: list[str] = []
        self.position: dict[str, int] = {}  # id -> index
        self.by_text: dict[str, int] = {}  # canonical prompt -> index

    def _add(self, pid: str, text: Any) -> int:
        self.position[pid] = len(self.prompts)
        self.prompts.append(text)
        self.ids.append(pid)
        return self.position[pid]

    def _join_id(self, data: dict) -> str:
        return _join_value(required_value(data, self.join_key, "join_key"), self.join_key)

    def _text(self, data: dict) -> Any:
        key = self.prompt_key
        return prompt_value(required_value(data, key, "prompt_key"), key, self.max_text_chars)

    def read_file(self, praw: RawSource, bad: BadRows) -> None:
        """Read the prompts file (one row per prompt: ``join_key`` and ``prompt_key``)."""
        self.source, self.use_join = praw, True
        for row in praw.rows:
            try:
                data = bad.data(row)
                pid, text = self._join_id(data), self._text(data)
                if pid in self.position:
                    raise RowProblem(
                        "duplicate_id",
                        f"{self.join_key} {pid} appears twice in the prompts file; ids must be "
                        "unique.",
                    )
            except RowProblem as problem:
                bad.record(row.where, problem)
                continue
            self._add(pid, text)
        if not self.prompts:
            raise DataError(f"{praw.name}: no usable prompts. First problem: {bad.first_problem}")

    def row_prompt(self, data: dict) -> int:
        """The row's prompt's index, adding a prompt first seen here."""
        join_key = self.join_key
        if self.source is not None:
            pid = self._join_id(data)
            if pid not in self.position:
                raise RowProblem(
                    "unknown_prompt",
                    f"{join_key} {pid} is not in the prompts file {self.source.name}. Check that "
                    "the two files belong together.",
                )
            return self.position[pid]
        try:
            text = self._text(data)
        except RowProblem as problem:
            if problem.reason == "missing_key" and join_key in data:
                raise RowProblem(
                    "missing_key",
                    f"{problem.message} If the prompts are in another file, pass "
                    f"{option('prompts', 'FILE')} (joined on {join_key!r}).",
                ) from None
            raise
        canon = canonical_prompt(text)
        if not self.use_join:
            known = self.by_text.get(canon)
            if known is None:
                known = self.by_text[canon] = self._add(str(len(self.prompts)), text)
            return known
        pid = self._join_id(data)
        known = self.position.get(pid)
        if known is None:
            return self._add(pid, text)
        if canonical_prompt(self.prompts[known]) != canon:
            raise RowProblem(
                "inconsistent_prompt",
                f"{join_key} {pid} has prompt {clip(canon)} here but "
                f"{clip(canonical_prompt(self.prompts[known]))} on an earlier row. Each id must "
                "name one prompt.",
            )
        return known


def _columns(raw: RawSource) -> list[str]:
    """Every column of the source's rows, in first-seen order; when no row could be read, the
    first row's problem (it says more than "no score column" would)."""
    seen: dict[str, None] = {}
    for row in raw.rows:
        if row.data is not None:
            for k in row.data:
                seen.setdefault(k, None)
    if not seen:
        where, problem = next((r.where, r.problem) for r in raw.rows if r.problem is not None)
        raise DataError(f"{where}: {problem[1]}")
    return list(seen)


def _score_key(
    raw: RawSource, columns: list[str], score_key: str | None, required: bool
) -> str | None:
    if score_key is not None:
        if score_key not in columns:
            raise DataError(
                f"{raw.name}: no column {score_key!r} for {option('score_key')} "
                f"(found: {key_list(columns)})."
            )
        return score_key
    for k in SCORE_KEYS:
        if k in columns:
            return k
    if not required:
        return None
    raise DataError(
        f"{raw.name}: no score column (looked for {', '.join(map(repr, SCORE_KEYS))}; found: {key_list(columns)}). "
        f"Name it with {option('score_key')}."
    )


def _join_value(value: Any, key: str) -> str:
    """Join keys compare as text, so 7 (JSON), "7" (CSV) and 7.0 (pandas) are the same prompt."""
    if isinstance(value, bool):
        raise RowProblem("wrong_type", f"{key!r} must be an integer or text; found bool.")
    if (
        isinstance(value, (float, np.floating))
        and math.isfinite(value)
        and float(value).is_integer()
    ):
        return str(int(value))
    if isinstance(value, (int, np.integer, str)) and str(value).strip():
        return str(value).strip()
    raise RowProblem(
        "wrong_type", f"{key!r} must be an integer or text; found {type_name(value)} {value!r}."
    )


def _row_id(value: Any, key: str) -> str:
    if (
        isinstance(value, bool)
        or not isinstance(value, (str, int, np.integer))
        or not str(value).strip()
    ):
        raise RowProblem(
            "wrong_type",
            f"{key!r} must be non-empty text or an integer; found {type_name(value)} {value!r}.",
        )
    return str(value).strip()


# ---------------------------------------------------------------------------- rows to score
@dataclass(frozen=True)
class ResponseRows:
    """Prompt/response rows in file order: the ``prompts``, the ``responses``, an id per row
    (its id column, else its position) and each row's ``extra`` columns (every input column, the
    prompt and the response included), for output lines that keep them."""

    prompts: list
    responses: list[str]
    ids: list[str]
    extra: list[dict]


def looks_like_response_rows(
    source: Any, *, response_key: str = "response", split: str | None = None
) -> bool:
    """True when the first row of ``source`` holds a response column and no pair columns (it is
    a file of prompt/response rows rather than preference pairs)."""
    first = next(
        (r.data for r in read_source(source, split=split).rows if r.data is not None), None
    )
    return (
        isinstance(first, dict)
        and response_key in first
        and "chosen" not in first
        and "response_a" not in first
    )


def read_response_rows(
    source: Any,
    *,
    prompt_key: str = "prompt",
    response_key: str = "response",
    id_key: str = "id",
    split: str | None = None,
    limit: int | None = None,
    on_bad_rows: str = "error",
    max_text_chars: int = MAX_TEXT_CHARS,
) -> ResponseRows:
    """Every prompt/response row of ``source`` (at most ``limit``), in file order, for scoring.

    Unlike :func:`read_responses` the rows are not grouped by prompt and keep their other
    columns. A score column, when present, is not used but must hold a number. A bad row stops
    with its place (``on_bad_rows="error"``) or is left out and counted (``"skip"``).
    """
    check_in(on_bad_rows, ("error", "skip"), name="on_bad_rows")
    raw = read_source(source, split=split)
    bad = BadRows(raw.name, skip=on_bad_rows == "skip")
    out = ResponseRows([], [], [], [])
    for i, row in enumerate(raw.rows):
        if limit is not None and len(out.responses) >= limit:
            break
        try:
            data = bad.data(row)
            for key in (prompt_key, response_key):
                if key not in data:
                    raise RowProblem(
                        "missing_key",
                        f"missing key {key!r} (found: {', '.join(map(repr, data))}). "
                        f"Name the columns with {option('prompt_key')} / {option('response_key')}.",
                    )
            prompt = prompt_value(data[prompt_key], prompt_key, max_text_chars)
            response = response_value(data[response_key], response_key, max_text_chars)
            score_key = next((k for k in SCORE_KEYS if k in data), None)
            if (
                score_key is not None and data[score_key] is not None
            ):  # a score is not used, but must be one
                number_value(data[score_key], score_key, "score")
        except RowProblem as problem:
            bad.record(row.where, problem)
            continue
        out.prompts.append(prompt)
        out.responses.append(response)
        out.ids.append(str(data.get(id_key, i)))
        out.extra.append(dict(data))  # every input column, the prompt and the response included
    if not out.responses:
        raise DataError(f"{raw.name}: no usable rows. First problem: {bad.first_problem}")
    bad.log_summary()
    return out
