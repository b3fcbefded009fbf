"""Load preference pairs from the formats users already have, and say exactly what is wrong when a row is bad.

Formats (detected per row; docs/data-formats.md has the full definitions):

- pairs: ``chosen`` and ``rejected`` columns,
  - standard (strings) or conversational (lists of ``{"role", "content"}`` messages),
  - explicit prompt (a ``prompt`` column) or implicit prompt (chosen and rejected are whole
    dialogues sharing their prefix: conversational messages, or Anthropic HH-RLHF text);
- labelled: ``response_a``, ``response_b`` and a ``label`` saying which is better (``a``/``b``/
  ``tie``, or 0/1 = the index of the better response, 0.5 = tie).

Optional ``margin``, ``weight``, ``subset`` and ``id`` columns are kept. Every column name can be
mapped (``chosen_key="better"`` in Python, ``--chosen-key better`` on the command line).

This module reads and checks rows; it does not embed, shuffle or split them.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np

from .._surface import option
from .._validation import check_in, check_whole
from ..exceptions import ConfigError, DataError
from .dataset import PreferenceDataset, canonical_prompt
from .dialogue import RowProblem, looks_like_hh, split_conversation, split_hh
from .memory import read_any
from .readers import RawSource
from .report import Action, PairColumns, PairsReport
from .rows import BadRows
from .rules import (
    MAX_TEXT_CHARS,
    check_max_text_chars,
    check_prompt_texts,
    check_response_message,
    check_text,
)
from .values import check_messages, clip, key_list, number_value, prompt_value, type_name

logger = logging.getLogger(__name__)

FIELDS = (
    "prompt",
    "chosen",
    "rejected",
    "response_a",
    "response_b",
    "label",
    "margin",
    "weight",
    "subset",
    "id",
)
_OPTIONAL = ("margin", "weight", "subset", "id")
# Column names people use for each field, tried first when suggesting a --xxx-key flag.
_ALIASES = {
    "prompt": ("question", "instruction", "input", "query", "context", "history", "text"),
    "chosen": (
        "response_chosen",
        "chosen_response",
        "preferred",
        "better",
        "winner",
        "accepted",
        "good",
        "positive",
    ),
    "rejected": (
        "response_rejected",
        "rejected_response",
        "dispreferred",
        "worse",
        "loser",
        "bad",
        "negative",
    ),
    "response_a": (
        "response_0",
        "answer_a",
        "completion_a",
        "output_a",
        "response1",
        "model_a_response",
    ),
    "response_b": (
        "response_1",
        "answer_b",
        "completion_b",
        "output_b",
        "response2",
        "model_b_response",
    ),
    "label": (
        "preference",
        "winner",
        "choice",
        "better_response_id",
        "preferred_response",
        "labels",
    ),
    "margin": ("score_margin", "strength", "delta"),
    "weight": ("sample_weight", "weights"),
    "subset": ("category", "source", "domain", "split_name"),
    "id": ("pair_id", "uid", "example_id", "idx", "_id"),
}
_LABEL_A = {"a", "response_a", "first", "model_a"}
_LABEL_B = {"b", "response_b", "second", "model_b"}
_LABEL_TIE = {"tie", "draw", "equal", "same"}


@dataclass
class _Pair:
    prompt: Any
    chosen: str
    rejected: str
    tie: bool
    fmt: str
    empty_response: bool
    margin: float | None = None
    weight: float | None = None
    subset: str | None = None
    id: str | None = None


def load_preferences(
    source: Any,
    *,
    split: str | None = None,
    prompt_key: str | None = None,
    chosen_key: str | None = None,
    rejected_key: str | None = None,
    response_a_key: str | None = None,
    response_b_key: str | None = None,
    label_key: str | None = None,
    margin_key: str | None = None,
    weight_key: str | None = None,
    subset_key: str | None = None,
    id_key: str | None = None,
    on_bad_rows: str = "error",
    ties: str = "drop",
    dedupe: bool = False,
    limit: int | None = None,
    max_text_chars: int = MAX_TEXT_CHARS,
) -> PreferenceDataset:
    """Read and validate preference pairs.

    Parameters
    ----------
    source : path, str, or data in memory
        A ``.jsonl``/``.json``/``.parquet``/``.csv``/``.tsv`` file (optionally ``.gz``), a
        directory saved by ``datasets``, a Hugging Face dataset name (with ``split``), or rows
        already in memory: a ``datasets.Dataset``, a ``DatasetDict`` (with ``split``), a pandas
        ``DataFrame`` or a list of dicts. Rows in memory are named ``<Dataset>: row 17`` in
        messages; every other rule is the same as for files.
    split : str, optional
        The split of a ``DatasetDict`` (saved or in memory) or of a hub dataset. Ignored for
        single files.
    prompt_key, chosen_key, ... id_key : str, optional
        Column names; ``None`` means the field's own name (``"prompt"``, ``"chosen"``, ...).
        A key you pass explicitly must exist; a default optional column (``margin``,
        ``weight``, ``subset``, ``id``) is used when any row has it.
    on_bad_rows : {"error", "skip"}
        ``"error"`` raises DataError at the first bad row, naming its file and line and the fix;
        ``"skip"`` drops bad rows and counts them by reason in ``dataset.info.skipped``.
    ties : {"drop", "keep"}
        Labelled pairs marked as a tie are dropped (counted in ``info.ties``) or kept with
        ``dataset.tie[i] = True``.
    dedupe : bool, default False
        Exact duplicate pairs (the same prompt, chosen and rejected text) are data: public
        sets have them (the same comparison labelled twice), so they are kept by default and
        counted in ``info.duplicates``. ``True`` keeps only the first of each. A repeated
        pair without an id column gets its content id with ``-2``, ``-3``, ... appended.
    limit : int, optional
        Stop after this many pairs (rows after them are not checked).
    max_text_chars : int, default 100,000
        Longest prompt or response, in characters; a longer one is a bad row (``text_too_long``).
        Every text must also be encodable (no lone UTF-16 surrogate); every message's role is
        ``system``, ``user`` or ``assistant``, and a response message is the assistant's
        (see :mod:`prefspace.data.rules`).

    Returns
    -------
    PreferenceDataset
        ``chosen[i]`` preferred over ``rejected[i]``; ``info`` holds the loader's report, a
        :class:`~prefspace.data.report.PairsReport` (``format``, ``rows``, ``pairs``,
        ``skipped``, ``ties``, ``duplicates``, ``subsets``, ...).

    Raises
    ------
    DataError
        The source cannot be read, or a row is bad and ``on_bad_rows="error"``.

    Example
    -------
    >>> from prefspace.data import demo_path, load_preferences
    >>> ds = load_preferences(demo_path())
    >>> ds.info.format
    'standard, explicit prompt'
    """
    check_in(on_bad_rows, ("error", "skip"), name="on_bad_rows")
    check_in(ties, ("drop", "keep"), name="ties")
    if not isinstance(dedupe, (bool, np.bool_)):
        raise ConfigError(f"dedupe must be True or False; got {dedupe!r}.")
    if limit is not None:
        limit = check_whole(limit, name="limit")
    check_max_text_chars(max_text_chars)
    given = {
        "prompt": prompt_key,
        "chosen": chosen_key,
        "rejected": rejected_key,
        "response_a": response_a_key,
        "response_b": response_b_key,
        "label": label_key,
        "margin": margin_key,
        "weight": weight_key,
        "subset": subset_key,
        "id": id_key,
    }
    keys, explicit = _column_keys(given)
    raw = read_any(source, split=split)
    reader = _RowReader(raw, keys, explicit, max_text_chars)
    return reader.run(
        skip=on_bad_rows == "skip", keep_ties=ties == "keep", dedupe=bool(dedupe), limit=limit
    )


def _column_keys(given: dict[str, str | None]) -> tuple[dict[str, str], set[str]]:
    """``(field -> column, fields mapped explicitly)`` from the ``*_key`` options (None: the
    field's own name); refuses an empty name and a column mapped to two fields."""
    for field_name, key in given.items():
        if key is not None and (not isinstance(key, str) or not key):
            raise ConfigError(f"{field_name}_key must be a non-empty column name; got {key!r}.")
    keys = {f: (k if k is not None else f) for f, k in given.items()}
    explicit = {f for f, k in given.items() if k is not None}
    dupes = [k for k, n in Counter(keys[f] for f in explicit).items() if n > 1]
    if dupes:
        mapped = ", ".join(option(f"{f}_key") for f in sorted(explicit) if keys[f] == dupes[0])
        raise ConfigError(
            f"column {dupes[0]!r} is mapped to more than one field ({mapped}); each needs its own "
            "column."
        )
    return keys, explicit


class _RowReader:
    """Turns raw rows into checked pairs; collects the report for ``dataset.info``."""

    def __init__(
        self, raw: RawSource, keys: dict, explicit: set, max_text_chars: int = MAX_TEXT_CHARS
    ) -> None:
        self.raw = raw
        self.max_text_chars = max_text_chars
        self.keys = keys
        self.explicit = explicit
        present: set[str] = set()
        for row in raw.rows:
            if row.data is not None:
                present.update(row.data)
        # An optional column is used when asked for, or when any row has it.
        self.optional = {f for f in _OPTIONAL if f in explicit or keys[f] in present}
        for f in _OPTIONAL:
            if f in explicit and keys[f] not in present:
                raise DataError(
                    f"{raw.name}: no column {keys[f]!r} for --{f}-key (found: {key_list(sorted(present))}). "
                    f"Check the column name, or leave out --{f}-key."
                )

    # ----------------------------------------------------------------------------------------
    def run(
        self, *, skip: bool, keep_ties: bool, limit: int | None, dedupe: bool = False
    ) -> PreferenceDataset:
        pairs: list[_Pair] = []
        repeats: list[
            int
        ] = []  # per kept pair: 1 for a first occurrence, k for its k-th exact copy
        n_duplicates = 0
        bad = BadRows(self.raw.name, skip=skip)
        seen_pairs: dict[tuple, int] = {}  # pair content -> copies seen so far
        seen_ids: dict[str, tuple[str, tuple]] = {}  # id -> (where first seen, its pair's content)
        id_copies: Counter = Counter()
        n_rows = n_ties = 0
        formats: Counter = Counter()
        for row in self.raw.rows:
            if limit is not None and len(pairs) >= limit:
                break
            n_rows += 1
            try:
                pair = self._parse(bad.data(row))
                dup_key = (canonical_prompt(pair.prompt), pair.chosen, pair.rejected)
                # the same id on the very same pair is a repeated row (a duplicate, below), not a clash
                if pair.id is not None and pair.id in seen_ids and seen_ids[pair.id][1] != dup_key:
                    raise RowProblem(
                        "duplicate_id",
                        f"id {pair.id!r} was already used at {seen_ids[pair.id][0]}. Ids must be unique; fix the "
                        f"{self.keys['id']!r} column, or drop it to have ids generated.",
                    )
            except RowProblem as problem:
                bad.record(row.where, problem)
                continue
            if pair.id is not None:
                seen_ids.setdefault(pair.id, (row.where, dup_key))
                id_copies[pair.id] += 1
                if id_copies[pair.id] > 1:  # a repeated row keeps a unique id
                    pair.id = f"{pair.id}-{id_copies[pair.id]}"
            copies = seen_pairs.get(dup_key, 0) + 1
            seen_pairs[dup_key] = copies
            if (
                copies > 1
            ):  # an exact duplicate: data (the same comparison labelled again), kept unless dedupe
                n_duplicates += 1
                if n_duplicates <= 3:
                    logger.info(
                        "%s: exact duplicate of an earlier pair (%s)",
                        row.where,
                        "dropped" if dedupe else "kept",
                    )
                if dedupe:
                    continue
            formats[pair.fmt] += 1
            if pair.tie:
                n_ties += 1
                if not keep_ties:
                    continue
            pairs.append(pair)
            repeats.append(copies)

        bad.log_summary(n_rows)
        if not pairs:
            if bad.n_skipped:
                raise bad.nothing_usable("pairs")
            raise DataError(
                f"{self.raw.name}: no pairs left: all {n_ties} pairs are ties. Pass "
                f"{option('ties', 'keep')} to keep them."
            )
        if n_duplicates:
            logger.info(
                "%s: %d exact duplicate pairs %s",
                self.raw.name,
                n_duplicates,
                "dropped (dedupe)"
                if dedupe
                else f"kept (pass {option('dedupe', True)} to drop them)",
            )
        dup: tuple[int, Action | None] = (
            n_duplicates,
            ("dropped" if dedupe else "kept") if n_duplicates else None,
        )
        return self._dataset(
            pairs, repeats, n_rows, bad.counts, n_ties, keep_ties, formats, limit, dup
        )

    def _dataset(
        self, pairs, repeats, n_rows, skipped, n_ties, keep_ties, formats, limit, dup
    ) -> PreferenceDataset:
        """The kept pairs as a dataset, with the report of the read (``dup``: the number of
        exact duplicates and whether they were kept or dropped)."""
        col = lambda name: [getattr(p, name) for p in pairs]  # noqa: E731
        if "id" in self.optional:
            ids = col("id")
        else:  # a repeated pair's content id gets its copy number, so ids stay unique
            ids = [_content_id(p) + (f"-{k}" if k > 1 else "") for p, k in zip(pairs, repeats)]
        subset = col("subset") if "subset" in self.optional else None
        tie = np.array(col("tie"), dtype=bool) if keep_ties and n_ties else None
        info = PairsReport(
            source=self.raw.name,
            source_kind=self.raw.kind,
            format=formats.most_common(1)[0][0] if formats else "",
            formats=dict(formats),
            columns=self._columns_used(formats),
            rows=n_rows,
            pairs=len(pairs),
            skipped=dict(skipped.most_common()),
            n_skipped=sum(skipped.values()),
            ties=n_ties,
            ties_action=("kept" if keep_ties else "dropped") if n_ties else None,
            duplicates=dup[0],
            duplicates_action=dup[1],
            empty_responses=sum(p.empty_response for p in pairs),
            ids=f"column {self.keys['id']!r}"
            if "id" in self.optional
            else "generated (content hash)",
            subsets=dict(Counter(subset).most_common()) if subset is not None else {},
            limit=limit,
        )
        return PreferenceDataset(
            prompts=col("prompt"),
            chosen=col("chosen"),
            rejected=col("rejected"),
            ids=ids,
            margin=np.asarray(col("margin"), np.float64) if "margin" in self.optional else None,
            weight=np.asarray(col("weight"), np.float64) if "weight" in self.optional else None,
            subset=subset,
            tie=tie,
            source=self.raw.name,
            info=info,
        )

    def _columns_used(self, formats: Counter) -> PairColumns:
        fields = []
        if any("prompt" in f and "explicit" in f for f in formats):
            fields.append("prompt")
        if any("labelled" not in f for f in formats):
            fields += ["chosen", "rejected"]
        if any("labelled" in f for f in formats):
            fields += ["response_a", "response_b", "label"]
        fields += [f for f in _OPTIONAL if f in self.optional]
        return PairColumns(**{f: self.keys[f] for f in fields})

    # ----------------------------------------------------------------------------------------
    # one row
    # ----------------------------------------------------------------------------------------
    def _parse(self, data: dict) -> _Pair:
        k = self.keys
        labelled = self._is_labelled(data)
        first, second = ("response_a", "response_b") if labelled else ("chosen", "rejected")
        x = self._required(data, first)
        y = self._required(data, second)
        explicit_prompt = "prompt" in self.explicit or k["prompt"] in data
        if "prompt" in self.explicit and k["prompt"] not in data:
            self._missing(data, "prompt")

        # --- prompt and the two responses --------------------------------------------------
        empty_response = False
        if isinstance(x, str) and isinstance(y, str):
            kind = "standard"
            if explicit_prompt:
                prompt = prompt_value(data.get(k["prompt"]), k["prompt"])
                a, b = x, y
                self._nonempty(a, first)
                self._nonempty(b, second)
            elif looks_like_hh(x) and looks_like_hh(y):
                prompt, a, b = split_hh(x, y)
                kind = "standard"
                empty_response = not a or not b
            else:
                self._missing(
                    data,
                    "prompt",
                    extra=f" ({first!r}/{second!r} are not whole '\\n\\nHuman: ... \\n\\nAssistant: ...' dialogues either,"
                    " so the prompt cannot be inferred)",
                )
        elif isinstance(x, list) and isinstance(y, list):
            kind = "conversational"
            xm = check_messages(x, k[first])
            ym = check_messages(y, k[second])
            if explicit_prompt and len(xm) == 1 and len(ym) == 1:
                prompt = prompt_value(data.get(k["prompt"]), k["prompt"])
                ma, mb = xm[0], ym[0]
            else:
                prompt, ma, mb = split_conversation(xm, ym)
            check_response_message(ma, f"{k[first]!r}[{len(xm) - 1}]")
            check_response_message(mb, f"{k[second]!r}[{len(ym) - 1}]")
            a, b = ma["content"], mb["content"]
            # an empty final turn is kept and counted, as in an HH dialogue: the same pair written
            # in either format (train's test.jsonl turns HH pairs into messages) reads the same
            empty_response = not a.strip() or not b.strip()
        else:
            found = (
                f"{k[first]!r} and {k[second]!r} are both {type_name(x)}"
                if type_name(x) == type_name(y)
                else f"{k[first]!r} is {type_name(x)} but {k[second]!r} is {type_name(y)}"
            )
            raise RowProblem(
                "wrong_type",
                f"{found}; both must be text (standard format) "
                "or both lists of {'role', 'content'} messages (conversational format).",
            )
        prompt_name = (
            repr(k["prompt"])
            if explicit_prompt
            else f"the prompt (the shared start of {k[first]!r} and {k[second]!r})"
        )
        check_prompt_texts(prompt, prompt_name, self.max_text_chars)
        check_text(a, repr(k[first]), self.max_text_chars)
        check_text(b, repr(k[second]), self.max_text_chars)
        if a == b:
            raise RowProblem(
                "identical_responses",
                f"{k[first]!r} and {k[second]!r} are identical ({clip(a)}), so the pair says nothing. "
                f"Remove the row, or pass {option('on_bad_rows', 'skip')}.",
            )
        fmt = f"{kind}, {'explicit' if explicit_prompt else 'implicit'} prompt"
        if kind == "standard" and not explicit_prompt:
            fmt += " (HH dialogue)"

        # --- label: which of the two is better -----------------------------------------------
        tie = False
        if labelled:
            fmt += ", labelled"
            winner = (
                _label(data.get(k["label"]), k["label"])
                if k["label"] in data
                else self._missing(data, "label")
            )
            if winner == "b":
                a, b = b, a
            tie = winner == "tie"

        pair = _Pair(
            prompt=prompt, chosen=a, rejected=b, tie=tie, fmt=fmt, empty_response=empty_response
        )
        self._read_optional(data, pair)
        return pair

    def _read_optional(self, data: dict, pair: _Pair) -> None:
        """Set the pair's optional columns (margin, weight, subset, id) that this source has."""
        k = self.keys
        if "margin" in self.optional:
            pair.margin = number_value(self._required(data, "margin"), k["margin"], "margin")
        if "weight" in self.optional:
            pair.weight = number_value(self._required(data, "weight"), k["weight"], "weight")
            if pair.weight < 0:
                raise RowProblem(
                    "bad_weight", f"{k['weight']!r} is {pair.weight}; weights must be >= 0."
                )
        if "subset" in self.optional:
            pair.subset = _short_text(self._required(data, "subset"), k["subset"], "subset")
        if "id" in self.optional:
            pair.id = _short_text(self._required(data, "id"), k["id"], "id")

    def _is_labelled(self, data: dict) -> bool:
        k = self.keys
        if self.explicit & {"response_a", "response_b", "label"}:
            return True
        if self.explicit & {"chosen", "rejected"}:
            return False
        if k["chosen"] in data or k["rejected"] in data:
            return False
        return k["response_a"] in data or k["response_b"] in data

    def _required(self, data: dict, field_name: str) -> Any:
        key = self.keys[field_name]
        if key not in data:
            self._missing(
                data, field_name, extra=" (other rows have it)" if field_name in _OPTIONAL else ""
            )
        value = data[key]
        if value is None:
            raise RowProblem(
                "empty_text"
                if field_name in ("chosen", "rejected", "response_a", "response_b")
                else "missing_value",
                f"{key!r} is empty (null). Fill it in, or remove the row.",
            )
        return value

    def _missing(self, data: dict, field_name: str, extra: str = "") -> NoReturn:
        key = self.keys[field_name]
        keyword = f"{field_name}_key"
        # Suggest only columns this row's format leaves unused.
        mode = (
            ("response_a", "response_b", "label")
            if self._is_labelled(data)
            else ("chosen", "rejected")
        )
        used = {self.keys[f] for f in ("prompt", *mode, *self.optional) if f != field_name}
        candidates = [c for c in data if c not in used]
        guess = _suggest(field_name, candidates)
        fix = f"If the column is named differently, pass {option(keyword, guess or 'NAME')}."
        if field_name == "chosen":
            fix += (
                " For two responses plus a label, use response_a/response_b/label "
                f"({option('response_a_key')}, ...)."
            )
        raise RowProblem(
            "missing_key", f"missing key {key!r}{extra} (found: {key_list(data)}). {fix}"
        )

    def _nonempty(self, text: str, field_name: str, where: str | None = None) -> None:
        if not text.strip():
            raise RowProblem(
                "empty_text",
                f"{where or repr(self.keys[field_name])} is empty text. Fill it in, or remove the row.",
            )


# --------------------------------------------------------------------------------------------
# value checks
# --------------------------------------------------------------------------------------------
def _label(value: Any, key: str) -> str:
    v = value
    if isinstance(v, str):
        s = v.strip().lower()
        if s in _LABEL_A:
            return "a"
        if s in _LABEL_B:
            return "b"
        if s in _LABEL_TIE:
            return "tie"
        try:
            v = float(s)
        except ValueError:
            v = None
    if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
        if v == 0:
            return "a"
        if v == 1:
            return "b"
        if v == 0.5:
            return "tie"
    raise RowProblem(
        "bad_label",
        f"{key!r} is {value!r}; expected 'a', 'b' or 'tie' (or 0 = response_a better, 1 = response_b better, "
        f"0.5 = tie). Map other label columns with {option('label_key')}.",
    )


def _short_text(value: Any, key: str, field_name: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, np.integer)):
        raise RowProblem(
            "wrong_type", f"{key!r} must be text or an integer; found {type_name(value)}."
        )
    text = str(value).strip()
    if not text:
        raise RowProblem("missing_value", f"{key!r} is empty. Fill it in, or drop the column.")
    return text


def _content_id(p: _Pair) -> str:
    blob = json.dumps([canonical_prompt(p.prompt), p.chosen, p.rejected], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def _suggest(field_name: str, candidates: list) -> str | None:
    names = [c for c in candidates if isinstance(c, str)]
    lower = {c.lower(): c for c in names}
    for alias in _ALIASES.get(field_name, ()):
        if alias in lower:
            return lower[alias]
    close = difflib.get_close_matches(field_name, names, n=1, cutoff=0.5)
    if close:
        return close[0]
    return names[0] if len(names) == 1 else None
