"""The two in-memory dataset types every later stage reads.

``PreferenceDataset`` holds labelled pairs (prompt, chosen, rejected); ``ScoredResponses``
holds many responses per prompt, each with a numeric score (for best-of-N evaluation and for
simulating annotators). Both are plain containers: loading and validation live in
``prefspace.data.preferences`` and ``prefspace.data.scored``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .report import PairsReport, ResponsesReport

Message = dict  # {"role": str, "content": str}
Prompt = str | list  # plain text, or a list of messages (conversational format)


def canonical_prompt(prompt: Prompt) -> str:
    """A canonical string for a prompt, used to group pairs by prompt and to hash content."""
    if isinstance(prompt, str):
        return prompt
    return json.dumps(
        [[m.get("role", ""), m.get("content", "")] for m in prompt], ensure_ascii=False
    )


def render_prompt_text(prompt: Prompt) -> str:
    """Render a prompt as plain text for a text encoder.

    A string is returned unchanged. Messages become ``"Role: content"`` blocks separated by
    blank lines, in the same spirit as the HH-RLHF dialogue format. Chat templates of causal
    LMs are applied by the causal-LM encoder, not here.
    """
    if isinstance(prompt, str):
        return prompt
    return "\n\n".join(
        f"{str(m.get('role', '')).capitalize()}: {m.get('content', '')}" for m in prompt
    )


def pair_records(dataset: PreferenceDataset) -> list[dict]:
    """The pairs as records :func:`prefspace.data.load_preferences` reads back into the same pairs:
    ``prompt``, ``chosen``, ``rejected`` (TRL's standard format; a conversation prompt in its
    conversational format, the responses as assistant messages), ``id``, and ``margin``,
    ``weight`` and ``subset`` when the dataset has them.

    Example
    -------
    >>> ds = PreferenceDataset(["Q?"], ["good"], ["bad"], ["p0"])
    >>> pair_records(ds)
    [{'prompt': 'Q?', 'chosen': 'good', 'rejected': 'bad', 'id': 'p0'}]
    """
    out = []
    for i in range(len(dataset)):
        prompt = dataset.prompts[i]
        if isinstance(prompt, str):
            rec: dict = {
                "prompt": prompt,
                "chosen": dataset.chosen[i],
                "rejected": dataset.rejected[i],
            }
        else:
            rec = {
                "prompt": list(prompt),
                "chosen": [{"role": "assistant", "content": dataset.chosen[i]}],
                "rejected": [{"role": "assistant", "content": dataset.rejected[i]}],
            }
        rec["id"] = dataset.ids[i]
        if dataset.margin is not None:
            rec["margin"] = float(dataset.margin[i])
        if dataset.weight is not None:
            rec["weight"] = float(dataset.weight[i])
        if dataset.subset is not None:
            rec["subset"] = dataset.subset[i]
        out.append(rec)
    return out


def _optional_array(values: Any, n: int, name: str) -> np.ndarray | None:
    if values is None:
        return None
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have length {n}; got shape {arr.shape}")
    return arr


@dataclass
class PreferenceDataset:
    """Labelled preference pairs: for pair ``i``, ``chosen[i]`` is preferred over ``rejected[i]``.

    Attributes
    ----------
    prompts : list of str or list of messages, one per pair
    chosen, rejected : list of str, the response texts
    ids : list of str, unique per pair
    margin, weight : float arrays of shape (n,), or None
    subset : list of str, or None (e.g. "helpfulness", "harmlessness")
    tie : bool array of shape (n,), or None. Kept ties (``ties="keep"``) are True; their
        chosen/rejected order carries no preference.
    source : where the rows came from (a path or a hub name)
    info : :class:`~prefspace.data.report.PairsReport`, the loader's report (rows read, skipped
        rows by reason, ties, duplicates, ...); the empty report for a dataset built in memory
    """

    prompts: list
    chosen: list
    rejected: list
    ids: list
    margin: np.ndarray | None = None
    weight: np.ndarray | None = None
    subset: list | None = None
    tie: np.ndarray | None = None
    source: str = ""
    info: PairsReport = field(default_factory=PairsReport)

    def __post_init__(self) -> None:
        n = len(self.chosen)
        for name in ("prompts", "rejected", "ids"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} rows but chosen has {n}")
        self.margin = _optional_array(self.margin, n, "margin")
        self.weight = _optional_array(self.weight, n, "weight")
        if self.tie is not None:
            self.tie = np.asarray(self.tie, dtype=bool)
        if self.subset is not None and len(self.subset) != n:
            raise ValueError(f"subset has {len(self.subset)} rows but chosen has {n}")

    def __len__(self) -> int:
        return len(self.chosen)

    def __repr__(self) -> str:
        return f"PreferenceDataset(n_pairs={len(self)}, source={self.source!r})"

    def prompt_keys(self) -> list[str]:
        """One canonical string per pair; pairs with equal keys share a prompt."""
        return [canonical_prompt(p) for p in self.prompts]

    def prompt_texts(self) -> list[str]:
        """Each pair's prompt rendered as plain text (see :func:`render_prompt_text`)."""
        return [render_prompt_text(p) for p in self.prompts]

    def select(self, indices: Sequence[int] | np.ndarray) -> PreferenceDataset:
        """A new dataset with the rows at ``indices``, in that order (``info``, the read's
        report, is kept)."""
        idx = np.asarray(indices, dtype=np.int64)

        def pick(xs: list) -> list:
            return [xs[i] for i in idx]

        return PreferenceDataset(
            prompts=pick(self.prompts),
            chosen=pick(self.chosen),
            rejected=pick(self.rejected),
            ids=pick(self.ids),
            margin=None if self.margin is None else self.margin[idx],
            weight=None if self.weight is None else self.weight[idx],
            subset=None if self.subset is None else pick(self.subset),
            tie=None if self.tie is None else self.tie[idx],
            source=self.source,
            info=self.info,
        )

    @property
    def fingerprint(self) -> str:
        """sha256 over the content (prompts, responses, ids, margins, weights, subsets, ties)."""
        h = hashlib.sha256()
        for i in range(len(self)):
            row = [canonical_prompt(self.prompts[i]), self.chosen[i], self.rejected[i], self.ids[i]]
            h.update(json.dumps(row, ensure_ascii=False).encode("utf-8"))
        for arr in (self.margin, self.weight, self.tie):
            h.update(b"-" if arr is None else np.ascontiguousarray(arr).tobytes())
        h.update(json.dumps(self.subset, ensure_ascii=False).encode("utf-8"))
        return h.hexdigest()


@dataclass
class ScoredResponses:
    """Many responses per prompt, each with a numeric score (higher is better) or NaN when the
    source has none (candidate responses waiting to be scored or labelled).

    Attributes
    ----------
    prompts : list of str or messages, one per distinct prompt
    prompt_ids : list of str, one per distinct prompt
    prompt_index : int64 array of shape (n,), row -> position in ``prompts``
    responses : list of str, n rows
    scores : float64 array of shape (n,); NaN where a row has no score
    ids : list of str, n rows
    extra : dict of column name -> list, other per-row columns kept (e.g. "generator")
    source : where the rows came from
    info : :class:`~prefspace.data.report.ResponsesReport`, the reader's report (columns used,
        counts, skipped rows); the empty report for a set built in memory
    records : optional list of n dicts, each row as read from the source (kept when the reader
        is asked to, e.g. to write a chosen row back out with all its columns)
    """

    prompts: list
    prompt_ids: list
    prompt_index: np.ndarray
    responses: list
    scores: np.ndarray
    ids: list
    extra: dict = field(default_factory=dict)
    source: str = ""
    info: ResponsesReport = field(default_factory=ResponsesReport)
    records: list | None = None

    def __post_init__(self) -> None:
        self.prompt_index = np.asarray(self.prompt_index, dtype=np.int64)
        self.scores = np.asarray(self.scores, dtype=np.float64)
        n = len(self.responses)
        if self.prompt_index.shape != (n,) or self.scores.shape != (n,) or len(self.ids) != n:
            raise ValueError("prompt_index, scores and ids must each have one entry per response")
        if self.records is not None and len(self.records) != n:
            raise ValueError("records must have one entry per response")
        if len(self.prompt_ids) != len(self.prompts):
            raise ValueError("prompt_ids must have one entry per prompt")

    def __len__(self) -> int:
        return len(self.responses)

    def __repr__(self) -> str:
        return f"ScoredResponses(n_prompts={len(self.prompts)}, n_responses={len(self)}, source={self.source!r})"

    @property
    def n_prompts(self) -> int:
        return len(self.prompts)

    def groups(self) -> list[np.ndarray]:
        """Row indices of each prompt's responses, in prompt order."""
        order = np.argsort(self.prompt_index, kind="stable")
        bounds = np.searchsorted(self.prompt_index[order], np.arange(len(self.prompts) + 1))
        return [order[bounds[i] : bounds[i + 1]] for i in range(len(self.prompts))]

    def row_prompts(self) -> list:
        """The prompt of every row (length n)."""
        return [self.prompts[i] for i in self.prompt_index]

    def select_prompts(self, positions: Sequence[int] | np.ndarray) -> ScoredResponses:
        """A new set with the prompts at ``positions`` (in that order) and all their responses.

        Response rows keep their original relative order and their ``ids``; ``prompt_index`` is
        renumbered to the new ``prompts``.
        """
        pos = np.asarray(positions, dtype=np.int64)
        remap = np.full(len(self.prompts), -1, dtype=np.int64)
        remap[pos] = np.arange(len(pos))
        rows = np.flatnonzero(remap[self.prompt_index] >= 0)
        return ScoredResponses(
            prompts=[self.prompts[i] for i in pos],
            prompt_ids=[self.prompt_ids[i] for i in pos],
            prompt_index=remap[self.prompt_index[rows]],
            responses=[self.responses[i] for i in rows],
            scores=self.scores[rows],
            ids=[self.ids[i] for i in rows],
            extra={k: [v[i] for i in rows] for k, v in self.extra.items()},
            source=self.source,
            info=self.info,
            records=None if self.records is None else [self.records[i] for i in rows],
        )

    @property
    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for p, pid in zip(self.prompts, self.prompt_ids):
            h.update(json.dumps([pid, canonical_prompt(p)], ensure_ascii=False).encode("utf-8"))
        for i in range(len(self)):
            h.update(
                json.dumps([self.ids[i], self.responses[i]], ensure_ascii=False).encode("utf-8")
            )
        h.update(self.prompt_index.tobytes())
        h.update(self.scores.tobytes())
        return h.hexdigest()
