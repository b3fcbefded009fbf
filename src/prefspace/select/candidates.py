"""Reading a file of candidate responses and writing the chosen pairs for annotators.

A candidate file has several responses per prompt, scored or not, one response per row::

    {"prompt": "Name a prime.", "response": "7", "id": "r1"}
    {"prompt": "Name a prime.", "response": "9", "id": "r2"}

or one prompt per row with a list of responses::

    {"prompt": "Name a prime.", "responses": ["7", "9", "11"]}

A prompt may be text or conversational messages. Rows with the same prompt are grouped. Files
with a separate prompts file (``alpaca_bon``'s layout) are read by
``prefspace.data.load_scored_responses`` instead. What this module does not do: embed or choose.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from .._atomic import atomic_path
from ..data.dataset import ScoredResponses, canonical_prompt
from ..data.dialogue import RowProblem
from ..data.rules import MAX_TEXT_CHARS, check_max_text_chars, check_prompt, check_text, score_value
from ..exceptions import DataError
from .pools import PairPool

_SCORE_KEYS = ("score", "gold", "reward")


def read_candidates(
    source: str | os.PathLike,
    *,
    prompts: str | os.PathLike | None = None,
    prompt_key: str = "prompt",
    response_key: str = "response",
    id_key: str | None = None,
    join_key: str = "prompt_id",
    max_text_chars: int = MAX_TEXT_CHARS,
) -> ScoredResponses:
    """Read candidate responses grouped by prompt; ``scores`` are NaN where the file has none.

    Parameters
    ----------
    source : a .jsonl/.json/.parquet/.csv file (optionally .gz) or a saved dataset directory
    prompts : optional prompts file joined on ``join_key`` (then the rows must carry a score
        column, as ``load_scored_responses`` requires)
    prompt_key, response_key : column names; a row may instead hold a list under
        ``response_key + "s"`` (``"responses"``)
    id_key : a unique response id column; default ``"<row>"`` (``"<row>.<j>"`` for lists)
    max_text_chars : longest prompt or response in characters (``prefspace.data.rules``); a
        score, when a row has one, must be a finite number

    Example
    -------
    >>> cands = read_candidates("pool.jsonl")                   # doctest: +SKIP
    >>> cands.n_prompts, len(cands)                             # doctest: +SKIP
    (3, 12)
    """
    from ..data import load_scored_responses
    from ..data.readers import read_source

    check_max_text_chars(max_text_chars)
    if prompts is not None:
        return load_scored_responses(source, prompts=prompts, join_key=join_key, prompt_key=prompt_key,
                                     response_key=response_key, id_key=id_key, max_text_chars=max_text_chars)
    raw = read_source(source)
    list_key = response_key + "s"
    prompt_list, prompt_ids, position = [], [], {}
    index, responses, scores, ids = [], [], [], []
    for i, row in enumerate(raw.rows):
        if row.problem is not None:
            raise DataError(f"{row.where}: {row.problem[1]}")
        data = row.data
        if prompt_key not in data:
            raise DataError(f"{row.where}: missing key {prompt_key!r} (found: {', '.join(map(repr, data))}). "
                            "If the prompt column is named differently, pass --prompt-key.")
        try:
            prompt = check_prompt(data[prompt_key], repr(prompt_key), max_text_chars)
            for key in (response_key, list_key):
                texts = data.get(key)
                for j, text in enumerate([texts] if isinstance(texts, str) else texts if isinstance(texts, list) else []):
                    if isinstance(text, str):
                        check_text(text, repr(key) if key == response_key else f"{key!r}[{j}]", max_text_chars)
            score_key = next((k for k in _SCORE_KEYS if k in data), None)
            score = score_value(data[score_key], score_key) if score_key else None
        except RowProblem as problem:
            raise DataError(f"{row.where}: {problem.message}") from None
        if isinstance(data.get(response_key), str):
            texts, row_ids = [data[response_key]], [str(data[id_key]) if id_key else str(i)]
        elif isinstance(data.get(list_key), list) and all(isinstance(t, str) for t in data[list_key]):
            texts = data[list_key]
            row_ids = [f"{data[id_key]}.{j}" if id_key else f"{i}.{j}" for j in range(len(texts))]
        else:
            raise DataError(
                f"{row.where}: needs a text {response_key!r} or a list of texts {list_key!r} "
                f"(found: {', '.join(map(repr, data))}). Pass --response-key if the column is named differently."
            )
        if id_key and id_key not in data:
            raise DataError(f"{row.where}: missing id column {id_key!r}.")
        score = math.nan if score is None else score
        key = canonical_prompt(prompt)
        if key not in position:
            position[key] = len(prompt_list)
            prompt_list.append(prompt)
            prompt_ids.append(str(len(prompt_ids)))
        for text, rid in zip(texts, row_ids):
            index.append(position[key])
            responses.append(text)
            scores.append(score)
            ids.append(rid)
    if len(set(ids)) != len(ids):
        dup = next(x for x in ids if ids.count(x) > 1)
        raise DataError(f"{raw.name}: response id {dup!r} appears twice; ids must be unique.")
    return ScoredResponses(prompts=prompt_list, prompt_ids=prompt_ids, prompt_index=np.asarray(index, dtype=np.int64),
                           responses=responses, scores=np.asarray(scores), ids=ids, source=raw.name)


def match_labelled_rows(candidates: ScoredResponses, dataset) -> np.ndarray:
    """Rows ``(m, 2)`` of ``candidates`` holding the labelled pairs of ``dataset`` (a
    ``PreferenceDataset``), matched on prompt and response text; pairs not found are left out."""
    where: dict[tuple[str, str], int] = {}
    for row, (p, text) in enumerate(zip(candidates.prompt_index.tolist(), candidates.responses)):
        where.setdefault((canonical_prompt(candidates.prompts[p]), text), row)
    found = []
    for key, c, r in zip(dataset.prompt_keys(), dataset.chosen, dataset.rejected):
        a, b = where.get((key, c)), where.get((key, r))
        if a is not None and b is not None and a != b:
            found.append((a, b))
    return np.asarray(found, dtype=np.int64).reshape(-1, 2)


def selection_records(candidates: ScoredResponses, pool: PairPool, indices, *, strategy: str, gains=None) -> list[dict]:
    """One JSON-able dict per chosen pair, in the order chosen, ready for an annotator.

    Keys: ``rank``, ``pair_id`` (``"<id_a>|<id_b>"``), ``prompt`` (the first response's prompt),
    ``response_a``, ``response_b``, ``id_a``, ``id_b``, ``prompt_id_a``, ``prompt_id_b``,
    ``strategy``; ``prompt_b`` when the two prompts differ (cross-prompt pairs); ``gain`` for
    D-optimal picks. Fill in ``label`` (``"a"``, ``"b"`` or ``"tie"``) and read the file back
    with ``load_preferences(path, label_key="label")``.
    """
    rows = pool.rows(indices)
    out = []
    for rank, (ra, rb) in enumerate(rows.tolist()):
        pa, pb = int(candidates.prompt_index[ra]), int(candidates.prompt_index[rb])
        rec = {
            "rank": rank,
            "pair_id": f"{candidates.ids[ra]}|{candidates.ids[rb]}",
            "prompt": candidates.prompts[pa],
            "response_a": candidates.responses[ra],
            "response_b": candidates.responses[rb],
            "id_a": candidates.ids[ra],
            "id_b": candidates.ids[rb],
            "prompt_id_a": candidates.prompt_ids[pa],
            "prompt_id_b": candidates.prompt_ids[pb],
            "strategy": strategy,
        }
        if pa != pb:
            rec["prompt_b"] = candidates.prompts[pb]
        if gains is not None:
            rec["gain"] = float(gains[rank])
        out.append(rec)
    return out


def write_jsonl(path: str | os.PathLike, records: list[dict]) -> Path:
    """Write records as JSON lines atomically (temp file in the same directory, then rename)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return path
