"""How the command line shows the library's progress events (``prefspace._progress``).

On a terminal: one rich progress bar per stage on stderr (count, rate, ETA). Otherwise (output
redirected to a file, a pipe, a batch job's log): plain lines on stderr, never redrawn, one per
stage every ``PREFSPACE_PROGRESS_INTERVAL`` seconds (default 30) while it runs and one when it
ends, e.g.::

    embed responses: 1,200/6,875 texts (17%), 0.80 texts/s, ETA 1h58m
    embed responses: 6,875/6,875 texts (100%), 0.80 texts/s, done in 2h23m

``PREFSPACE_PROGRESS=0`` turns progress off. Rates below one unit per second are written as
such ("0.8 texts/s") and below one per ten seconds as seconds per unit ("75 s/text").
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from .._progress import ProgressEvent, report_progress

INTERVAL_ENV = "PREFSPACE_PROGRESS_INTERVAL"
ENABLE_ENV = "PREFSPACE_PROGRESS"
DEFAULT_INTERVAL = 30.0

_SINGULAR = {
    "texts": "text",
    "pairs": "pair",
    "fits": "fit",
    "cells": "cell",
    "folds": "fold",
    "steps": "step",
    "items": "item",
    "responses": "response",
    "parts": "part",
    "plots": "plot",
    "batches": "batch",
}


def singular(unit: str) -> str:
    """``"texts"`` -> ``"text"``."""
    return _SINGULAR.get(unit, unit[:-1] if unit.endswith("s") and len(unit) > 1 else unit)


def format_duration(seconds: float) -> str:
    """``42.3`` -> ``"42s"``, ``185`` -> ``"3m05s"``, ``7080`` -> ``"1h58m"``.

    >>> format_duration(4.26), format_duration(185), format_duration(7080)
    ('4.3s', '3m05s', '1h58m')
    """
    seconds = max(0.0, float(seconds))
    if seconds < 10:
        return f"{seconds:.1f}s"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def format_rate(count: float, seconds: float, unit: str) -> str:
    """Throughput as people read it; ``""`` when nothing is measured yet.

    >>> format_rate(1200, 10, "texts"), format_rate(8, 10, "texts"), format_rate(2, 150, "texts")
    ('120 texts/s', '0.8 texts/s', '75 s/text')
    >>> format_rate(5, 2, "fits"), format_rate(1, 600, "cells")
    ('2.5 fits/s', '10.0 min/cell')
    """
    if count <= 0 or seconds <= 0:
        return ""
    rate = count / seconds
    if rate >= 100:
        return f"{rate:,.0f} {unit}/s"
    if rate >= 1:
        return f"{rate:.1f} {unit}/s"
    if rate >= 0.1:
        return f"{rate:.2g} {unit}/s"
    per = 1 / rate
    if per < 120:
        return f"{per:.0f} s/{singular(unit)}"
    return f"{per / 60:.1f} min/{singular(unit)}"


class _Stage:
    """The state of one run of a stage, as the renderer sees it."""

    __slots__ = (
        "name",
        "unit",
        "total",
        "done",
        "start_done",
        "started",
        "last_line",
        "detail",
        "finished",
    )

    def __init__(self, event: ProgressEvent, now: float) -> None:
        self.name = event.stage
        self.unit = event.unit
        self.total = event.total
        self.done = event.done
        self.start_done = event.done  # a resumed stage starts part-way: rates count only new work
        self.started = now
        self.last_line = now
        self.detail = ""
        self.finished = False

    def status(self, now: float) -> str:
        """``"1,200/6,875 texts (17%), 0.8 texts/s, ETA 1h58m"`` (no stage name)."""
        elapsed = now - self.started
        new = self.done - self.start_done
        rate = format_rate(new, elapsed, self.unit)
        if self.total is None:
            parts = [f"{self.done:,} {self.unit}"]
        else:
            pct = 100.0 * self.done / self.total if self.total else 100.0
            parts = [f"{self.done:,}/{self.total:,} {self.unit} ({pct:.0f}%)"]
        if rate:
            parts.append(rate)
        if self.finished:
            parts.append(f"done in {format_duration(elapsed)}")
        elif self.total is not None and new > 0:
            parts.append(f"ETA {format_duration((self.total - self.done) * elapsed / new)}")
        else:
            parts.append(f"{format_duration(elapsed)} elapsed")
        text = ", ".join(parts)
        return f"{text} - {self.detail}" if self.detail else text


class _Stages:
    """Stage bookkeeping shared by both renderers: a stage that goes back or ends starts a new run."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.stages: dict[str, _Stage] = {}
        self.lock = threading.Lock()

    def apply(self, event: ProgressEvent) -> tuple[_Stage, bool]:
        """The stage after ``event`` and whether this event began a new run of it."""
        now = self.clock()
        stage = self.stages.get(event.stage)
        new = (
            stage is None or stage.finished or event.done < stage.done or event.total != stage.total
        )
        if new:
            stage = self.stages[event.stage] = _Stage(event, now)
        stage.done = event.done
        if event.detail:
            stage.detail = event.detail
        stage.finished = event.finished
        return stage, new


class PlainProgress:
    """Plain progress lines for logs: never a carriage return, never a redraw.

    A stage gets a line when it has run ``interval`` seconds since its last line (on its next
    event, or from :meth:`tick`, which a background thread calls while work is silent) and one
    when it ends. With ``interval=0`` every event gets a line.
    """

    def __init__(
        self,
        stream: TextIO,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.interval = float(interval)
        self._stages = _Stages(clock)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __call__(self, event: ProgressEvent) -> None:
        if event.total == 0:
            return  # nothing to do (e.g. everything was cached): nothing to show
        with self._stages.lock:
            stage, _ = self._stages.apply(event)
            now = self._stages.clock()
            if stage.finished or now - stage.last_line >= self.interval:
                self._line(stage, now)

    def tick(self) -> None:
        """A line for every running stage that has been silent for ``interval`` seconds."""
        with self._stages.lock:
            now = self._stages.clock()
            for stage in self._stages.stages.values():
                if not stage.finished and now - stage.last_line >= self.interval:
                    self._line(stage, now)

    def _line(self, stage: _Stage, now: float) -> None:
        stage.last_line = now
        self.stream.write(f"{stage.name}: {stage.status(now)}\n")
        self.stream.flush()

    def start(self) -> None:
        if self.interval > 0 and self._thread is None:
            self._thread = threading.Thread(
                target=self._beat, name="prefspace-progress", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            self.tick()


class RichProgress:
    """One rich bar per stage on a terminal (stderr), with the same status text as the plain lines."""

    def __init__(self, console: Any = None, clock: Callable[[], float] = time.monotonic) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn

        self._stages = _Stages(clock)
        self._tasks: dict[str, Any] = {}
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=30),
            TextColumn("{task.fields[status]}"),
            console=console or Console(stderr=True),
            refresh_per_second=4,
        )

    def __call__(self, event: ProgressEvent) -> None:
        if event.total == 0:
            return
        with self._stages.lock:
            stage, new = self._stages.apply(event)
            status = stage.status(self._stages.clock())
            task = self._tasks.get(event.stage)
            if task is None:
                self._tasks[event.stage] = self.bar.add_task(
                    event.stage, total=event.total, completed=event.done, status=status
                )
            else:
                if new:
                    self.bar.reset(task, total=event.total, completed=event.done)
                self.bar.update(task, total=event.total, completed=event.done, status=status)

    def start(self) -> None:
        self.bar.start()

    def stop(self) -> None:
        self.bar.stop()


def _interval() -> float:
    text = os.environ.get(INTERVAL_ENV, "")
    try:
        return max(0.0, float(text)) if text else DEFAULT_INTERVAL
    except ValueError:
        return DEFAULT_INTERVAL


@contextmanager
def show_progress(
    enabled: bool = True, *, stream: TextIO | None = None
) -> Iterator[Callable[[ProgressEvent], None] | None]:
    """Render the progress of everything run inside the block; yields the callback (None when off).

    A bar when ``stream`` (default stderr) is a terminal, plain lines otherwise; nothing when
    ``enabled`` is false or ``PREFSPACE_PROGRESS=0``.
    """
    if not enabled or os.environ.get(ENABLE_ENV, "1").strip().lower() in (
        "0",
        "false",
        "no",
        "off",
    ):
        yield None
        return
    stream = stream if stream is not None else sys.stderr
    is_tty = getattr(stream, "isatty", lambda: False)()
    if is_tty:
        from rich.console import Console

        renderer: Any = RichProgress(Console(file=stream))
    else:
        renderer = PlainProgress(stream, _interval())
    renderer.start()
    try:
        with report_progress(renderer):
            yield renderer
    finally:
        renderer.stop()
