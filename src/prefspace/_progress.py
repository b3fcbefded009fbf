"""Progress of long work, handed to whoever listens; the library itself never prints it.

The protocol is one callable: a :data:`ProgressCallback` receives a :class:`ProgressEvent`
(``stage``, ``done``, ``total``, ``unit``, ``detail``) whenever a stage of work moves on. The
command line renders the events (a bar on a terminal, periodic plain lines in a log); a notebook
or a job scheduler can pass its own callable.

Two ways to listen:

- pass ``progress=callback`` to a long-running library function (``train_reward_model``,
  ``synthesize_file``, ``score_file``, ``evaluate_model_dir``, ``select_for_labeling``), or
- wrap any code in ``with report_progress(callback):``; every stage that runs inside, however
  deep (embedding batches, cross-validation folds, fits, experiment cells), reports to it.

Library code reports with :func:`track`::

    tracker = track("embed responses", total=len(todo), unit="texts")
    for batch in batches:
        ...
        tracker.advance(len(batch))

With no callback listening, :func:`track` returns a tracker that does nothing, so reporting
costs nothing when nobody asked for it. A callback that raises stops the work (that is how a
caller cancels); a callback is called from the thread doing the work.

Example
-------
>>> seen = []
>>> with report_progress(seen.append):
...     t = track("fit", total=2, unit="fits")
...     t.advance()
...     t.advance()
>>> [(e.stage, e.done, e.total, e.unit) for e in seen]
[('fit', 0, 2, 'fits'), ('fit', 1, 2, 'fits'), ('fit', 2, 2, 'fits')]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = [
    "ProgressEvent",
    "ProgressCallback",
    "report_progress",
    "current_progress",
    "track",
    "Tracker",
]


@dataclass(frozen=True)
class ProgressEvent:
    """One report: ``done`` of ``total`` ``unit`` of the stage named ``stage``.

    ``total`` is None when the amount of work is not known in advance. ``detail`` is an
    optional short text about the last finished item (e.g. an experiment cell's result).
    A stage reports ``done=0`` when it starts and ``done=total`` when it ends.
    """

    stage: str
    done: int
    total: int | None
    unit: str = "items"
    detail: str = ""

    @property
    def finished(self) -> bool:
        return self.total is not None and self.done >= self.total


ProgressCallback = Callable[[ProgressEvent], None]

_CURRENT: ContextVar[ProgressCallback | None] = ContextVar("prefspace_progress", default=None)


@contextmanager
def report_progress(callback: ProgressCallback | None) -> Iterator[ProgressCallback | None]:
    """Send the progress of every stage run inside the ``with`` block to ``callback``.

    ``None`` keeps whatever callback is already listening (so a function can always wrap its
    body in ``report_progress(progress)``).
    """
    if callback is None:
        yield _CURRENT.get()
        return
    token = _CURRENT.set(callback)
    try:
        yield callback
    finally:
        _CURRENT.reset(token)


def current_progress() -> ProgressCallback | None:
    """The callback listening in this context, or None."""
    return _CURRENT.get()


class Tracker:
    """Reports one stage's progress to a callback (or to nobody, then it does nothing)."""

    __slots__ = ("stage", "total", "unit", "done", "_callback")

    def __init__(
        self, stage: str, total: int | None, unit: str, callback: ProgressCallback | None
    ) -> None:
        self.stage = stage
        self.total = None if total is None else int(total)
        self.unit = unit
        self.done = 0
        self._callback = callback

    @property
    def active(self) -> bool:
        """True when someone listens (callers may skip building a ``detail`` text otherwise)."""
        return self._callback is not None

    def update(self, done: int, detail: str = "") -> None:
        """Report that ``done`` units are finished (absolute, not an increment)."""
        self.done = int(done)
        if self._callback is not None:
            self._callback(ProgressEvent(self.stage, self.done, self.total, self.unit, detail))

    def advance(self, n: int = 1, detail: str = "") -> None:
        """Report ``n`` more finished units."""
        self.update(self.done + int(n), detail)

    def finish(self, detail: str = "") -> None:
        """Report the stage as done (``done = total``), e.g. after the last unit or on an early stop."""
        if self.total is None:
            self.total = self.done
        self.update(self.total, detail)


def track(
    stage: str,
    total: int | None,
    unit: str = "items",
    *,
    start: int = 0,
    callback: ProgressCallback | None = None,
) -> Tracker:
    """A :class:`Tracker` for one stage, reporting to ``callback`` or else to the listening one.

    The start is reported at once (``done=start``, 0 unless part of the work was done before,
    as when a resumed experiment finds finished cells).
    """
    tracker = Tracker(stage, total, unit, callback if callback is not None else _CURRENT.get())
    tracker.update(start)
    return tracker
