"""Writing benchmark results: one JSON object per table row, appended to ``benchmarks/results/``.

Every benchmark script records what it measured with :func:`record_rows` and nothing else;
``benchmarks/render_docs.py`` turns the committed files into the tables of docs/benchmarks.md.

A row is ``{"table": ID, "run": RUN, "command": CMD, ...fields}``:

- ``table``: which table of docs/benchmarks.md the row belongs to (``docs/benchmarks.template.md``
  places it with ``<!-- table: ID | col, col=Header, lo..hi=95% CI -->``);
- ``run``: one id per invocation (UTC time); the renderer shows only the latest run of a table,
  so a rerun replaces the old figures instead of mixing with them;
- ``command``: the command line that produced it, relative to the repository root.

Writing is atomic per call (the whole file is rewritten through a temporary name), so an
interrupted benchmark never leaves half a line behind.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import shlex
import sys
from collections.abc import Iterable
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def new_run_id() -> str:
    """A run id: the UTC time to the second (sortable)."""
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def command_line(argv: list[str] | None = None) -> str:
    """This process's command line as a reader would type it from the repository root."""
    argv = list(sys.argv if argv is None else argv)
    script = Path(argv[0])
    try:
        script = script.resolve().relative_to(Path(__file__).resolve().parents[1])
    except ValueError:
        script = Path("benchmarks") / script.name
    return " ".join(["python", shlex.quote(str(script))] + [shlex.quote(a) for a in argv[1:]])


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _clean(value.item())
    return value


def record_rows(
    name: str, table: str, rows: Iterable[dict], *, run: str, command: str | None = None
) -> Path:
    """Append ``rows`` of ``table`` to ``benchmarks/results/NAME.jsonl`` (atomically)."""
    command = command or command_line()
    path = RESULTS / f"{name}.jsonl"
    RESULTS.mkdir(parents=True, exist_ok=True)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if old and not old.endswith("\n"):
        old += "\n"
    new = "".join(
        json.dumps(
            _clean({"table": table, "run": run, "command": command, **row}),
            ensure_ascii=False,
            allow_nan=False,
        )
        + "\n"
        for row in rows
    )
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(old + new, encoding="utf-8")
    os.replace(tmp, path)
    return path


def seed_interval(
    values, low: float = 0.0, high: float = 1.0, level: float = 0.95
) -> tuple[float, float, float]:
    """Mean over seeds of one value per seed, with the library's interval
    (:func:`prefspace.evaluate.seed_item_bootstrap`: a percentile bootstrap, inside
    ``[low, high]``).

    One value per seed means only seeds are resampled: the interval is **conditional on the
    test set** and leaves out its own sampling noise. Where per-pair or per-prompt values exist,
    call ``seed_item_bootstrap`` on them instead. With one value the bounds are NaN.
    """
    from prefspace.evaluate import seed_item_bootstrap

    iv = seed_item_bootstrap([float(v) for v in values], bounds=(low, high), level=level)
    return iv.estimate, iv.low, iv.high
