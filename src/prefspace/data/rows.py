"""The one bad-row policy every row reader follows: stop at the first bad row, or skip and count.

A reader turns each raw row into values; anything wrong with a row is a
:class:`~prefspace.data.dialogue.RowProblem` (a short ``reason`` and a message that says what was
found and how to fix it). :class:`BadRows` decides what happens to it:

- ``skip=False``: a :class:`~prefspace.exceptions.DataError` naming the row (``file.jsonl:17``);
- ``skip=True``: the row is left out and counted by reason; the first five are logged, and
  :meth:`BadRows.log_summary` logs the counts once at the end.

Usage (``raw`` from :func:`prefspace.data.readers.read_source`)::

    bad = BadRows(raw.name, skip=on_bad_rows == "skip")
    for row in raw.rows:
        try:
            data = bad.data(row)
            ...                                   # may raise RowProblem
        except RowProblem as problem:
            bad.record(row.where, problem)
            continue
    bad.log_summary()
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from ..exceptions import DataError
from .dialogue import RowProblem

logger = logging.getLogger(__name__)

__all__ = ["BadRows"]

_LOGGED = 5  # bad rows logged one by one; the rest are only counted


class BadRows:
    """What a reader does with a bad row (see the module docstring)."""

    def __init__(self, source: str, *, skip: bool) -> None:
        self.source = source
        self.skip = bool(skip)
        self.counts: Counter = Counter()
        self.first_problem = ""

    @staticmethod
    def data(row: Any) -> dict:
        """The row's mapping, or its reading problem (a line that is not JSON, ...) raised."""
        if row.problem is not None:
            raise RowProblem(*row.problem)
        return row.data

    def record(self, where: str, problem: RowProblem) -> None:
        """Raise a DataError naming ``where``, or (skipping) count the row and go on."""
        if not self.skip:
            raise DataError(f"{where}: {problem.message}") from None
        self.counts[problem.reason] += 1
        self.first_problem = self.first_problem or f"{where}: {problem.message}"
        if self.n_skipped <= _LOGGED:
            logger.warning("skipping %s: %s", where, problem.message)

    @property
    def n_skipped(self) -> int:
        return sum(self.counts.values())

    def reasons(self) -> str:
        """``"missing_key: 3, empty_text: 1"``, the most common first."""
        return ", ".join(f"{reason}: {n}" for reason, n in self.counts.most_common())

    def log_summary(self, n_rows: int | None = None) -> None:
        """Log how many rows were skipped and why (nothing when none were)."""
        if self.n_skipped:
            of = f" of {n_rows}" if n_rows is not None else ""
            logger.warning(
                "%s: skipped %d%s rows (%s)", self.source, self.n_skipped, of, self.reasons()
            )

    def nothing_usable(self, what: str) -> DataError:
        """The error for a source that gave no usable rows, with the first problem when rows were
        skipped (raise it)."""
        if self.n_skipped:
            return DataError(
                f"{self.source}: no usable {what}; all {self.n_skipped} rows read were skipped "
                f"({self.reasons()}). First problem: {self.first_problem}"
            )
        return DataError(f"{self.source}: no usable {what}.")
