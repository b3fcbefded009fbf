"""What a reader read: the typed reports of :func:`~prefspace.data.load_preferences`
(:class:`PairsReport`, ``PreferenceDataset.info``) and of :func:`~prefspace.data.read_responses`
(:class:`ResponsesReport`, ``ScoredResponses.info``).

A report describes the read, not the rows a dataset holds now: ``select()``, ``select_prompts()``
and :func:`~prefspace.data.split_by_prompt` keep it (the split adds its :class:`SplitRecord`).
A dataset built in memory, without a reader, carries the empty report (``PairsReport()``,
``ResponsesReport()``): nothing was read, so every count is 0, every text empty and no column
named (``dataset.info.duplicates`` is 0, ``dataset.info.format`` is ``""``).

``to_json()`` gives the report as the plain dict that ``prefspace validate --json`` prints,
key for key in this order.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

Action = Literal["kept", "dropped"]


@dataclass(frozen=True)
class _JsonReport:
    """``to_json()`` of a frozen report: each field in declaration order, a nested part by its
    own ``to_json()``, a dict copied, and ``split`` only when the data was split."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "split" and value is None:
                continue
            if isinstance(value, _JsonReport):
                value = value.to_json()
            elif isinstance(value, dict):
                value = dict(value)
            out[f.name] = value
        return out


@dataclass(frozen=True)
class SplitRecord(_JsonReport):
    """How :func:`~prefspace.data.split_by_prompt` made this part: its ``side`` (``"train"`` or
    ``"test"``), the ``seed`` (None for a ``np.random.Generator``), the ``test_fraction`` or
    ``test_size`` asked for, and the ``unit`` counted (``"pairs"`` or ``"prompts"``)."""

    side: Literal["train", "test"]
    seed: int | None
    test_fraction: float | None
    test_size: int | None
    unit: Literal["pairs", "prompts"]


@dataclass(frozen=True)
class PairColumns(_JsonReport):
    """The column read for each field of a pair; None where the field was not used (an implicit
    prompt, the other format's responses, an optional column the source lacks)."""

    prompt: str | None = None
    chosen: str | None = None
    rejected: str | None = None
    response_a: str | None = None
    response_b: str | None = None
    label: str | None = None
    margin: str | None = None
    weight: str | None = None
    subset: str | None = None
    id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """``{field: column}`` of the fields used, in the order above."""
        return {k: v for k, v in super().to_json().items() if v is not None}


@dataclass(frozen=True)
class PairsReport(_JsonReport):
    """``PreferenceDataset.info``: what :func:`~prefspace.data.load_preferences` read.

    Attributes
    ----------
    source, source_kind : the name of what was read and its kind (``"jsonl"``, ``"hub"``, ...)
    format : the most common row format (``"standard, explicit prompt"``, ...)
    formats : every row format with its number of pairs (ties and duplicates included)
    columns : the column read for each field
    rows : rows read (``limit`` stops early); pairs : pairs kept
    skipped, n_skipped : bad rows left out (``on_bad_rows="skip"``) by reason, and in all
    ties, ties_action : labelled ties found, and whether they were ``"kept"`` or ``"dropped"``
        (None when there were none)
    duplicates, duplicates_action : exact duplicate pairs found, ``"kept"`` or ``"dropped"``
        (``dedupe``; None when there were none)
    empty_responses : pairs kept with an empty final dialogue turn
    ids : where the ids came from (``"column 'id'"``, ``"generated (content hash)"``)
    subsets : pairs per subset, most common first (empty without a subset column)
    limit : the ``limit`` asked for, or None
    split : how :func:`~prefspace.data.split_by_prompt` made this part; None when not split
    """

    source: str = ""
    source_kind: str = ""
    format: str = ""
    formats: dict[str, int] = field(default_factory=dict)
    columns: PairColumns = field(default_factory=PairColumns)
    rows: int = 0
    pairs: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    n_skipped: int = 0
    ties: int = 0
    ties_action: Action | None = None
    duplicates: int = 0
    duplicates_action: Action | None = None
    empty_responses: int = 0
    ids: str = ""
    subsets: dict[str, int] = field(default_factory=dict)
    limit: int | None = None
    split: SplitRecord | None = None


@dataclass(frozen=True)
class ResponseColumns(_JsonReport):
    """The columns :func:`~prefspace.data.read_responses` used; ``score``, ``join`` and ``id``
    are None when unused (no score column, rows grouped by prompt text, ids by file row)."""

    prompt: str = ""
    response: str = ""
    score: str | None = None
    join: str | None = None
    id: str | None = None


@dataclass(frozen=True)
class ResponsesReport(_JsonReport):
    """``ScoredResponses.info``: what :func:`~prefspace.data.read_responses` read.

    Attributes
    ----------
    source : the responses' source; prompts_source : the prompts file's, or None
    rows : data rows read; responses : responses kept; prompts : prompts kept
    prompts_without_responses : prompts (of a prompts file) no kept response belongs to
    score_key : the score column, or None (also ``columns.score``)
    scored_responses : responses with a finite score
    empty_responses : responses kept with empty text
    list_rows : rows that held a list of responses
    skipped, n_skipped : bad rows left out (``on_bad_rows="skip"``) by reason, and in all
    ids : where the ids came from (``"column 'id'"``, ``"file row (0-based)"``)
    columns : the columns used
    split : how :func:`~prefspace.data.split_by_prompt` made this part; None when not split
    """

    source: str = ""
    prompts_source: str | None = None
    rows: int = 0
    responses: int = 0
    prompts: int = 0
    prompts_without_responses: int = 0
    score_key: str | None = None
    scored_responses: int = 0
    empty_responses: int = 0
    list_rows: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    n_skipped: int = 0
    ids: str = ""
    columns: ResponseColumns = field(default_factory=ResponseColumns)
    split: SplitRecord | None = None
