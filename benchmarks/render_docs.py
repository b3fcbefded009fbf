"""Render docs/benchmarks.md from docs/benchmarks.template.md and benchmarks/results/*.jsonl.

Every figure in docs/benchmarks.md comes from a committed results file; the prose around the
tables lives in the template. A placeholder line in the template::

    <!-- table: lens_hh | budget, method, k, accuracy=accuracy, lo..hi=95% CI, delta:+.3f=vs repeat -->

becomes a markdown table of the rows whose ``table`` field is ``lens_hh``, from the latest
``run`` of that table only, followed by the command that produced them. A column is
``FIELD[:FORMAT][=HEADER]``; ``LOW..HIGH`` shows an interval ``[low, high]``. Numbers without a
format get three decimals below 10, one below 1,000 and none above.

    python benchmarks/render_docs.py           # write docs/benchmarks.md
    python benchmarks/render_docs.py --check   # exit 1 if docs/benchmarks.md is stale

The test suite runs the check, so a results file and the page cannot drift apart.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "docs" / "benchmarks.template.md"
OUTPUT = ROOT / "docs" / "benchmarks.md"
RESULTS = ROOT / "benchmarks" / "results"
PLACEHOLDER = re.compile(r"^<!--\s*table:\s*([\w.-]+)\s*\|(.*?)-->\s*$")
HEADER = (
    "<!-- Rendered by benchmarks/render_docs.py from docs/benchmarks.template.md and "
    "benchmarks/results/*.jsonl; edit those, not this file. -->\n"
)


class RenderError(ValueError):
    pass


def load_rows(results: Path = RESULTS) -> dict[str, list[dict]]:
    """Rows by table id, keeping only each table's latest run, in the order recorded."""
    by_table: dict[str, list[dict]] = defaultdict(list)
    for path in sorted(results.glob("*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RenderError(f"{path.name}:{n}: not JSON ({exc.msg}).") from None
            if "table" not in row or "run" not in row:
                continue  # raw records that feed no table
            row["_source"] = path.name
            by_table[row["table"]].append(row)
    latest = {}
    for table, rows in by_table.items():
        run = max(r["run"] for r in rows)
        latest[table] = [r for r in rows if r["run"] == run]
    return latest


def _number(value, fmt: str | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if fmt:
        return format(value, fmt)
    if isinstance(value, int):
        return f"{value:,}"
    a = abs(value)
    if a >= 1000:
        return f"{value:,.0f}"
    if a >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}"


def _columns(spec: str) -> list[tuple[str, str | None, str]]:
    cols = []
    for token in (t.strip() for t in spec.split(",")):
        if not token:
            continue
        expr, _, header = token.partition("=")
        expr, _, fmt = expr.strip().partition(":")
        cols.append((expr.strip(), fmt.strip() or None, header.strip() or expr.strip()))
    return cols


def _cell(row: dict, expr: str, fmt: str | None) -> str:
    if ".." in expr:
        lo, hi = expr.split("..", 1)
        if row.get(lo) is None or row.get(hi) is None:
            return "–"
        return f"[{_number(row[lo], fmt)}, {_number(row[hi], fmt)}]"
    return _number(row.get(expr), fmt)


def render_table(table: str, spec: str, rows: list[dict]) -> str:
    if not rows:
        raise RenderError(f"table {table!r} has no rows in benchmarks/results/*.jsonl.")
    cols = _columns(spec)
    fields = {f for expr, _, _ in cols for f in expr.split("..")}
    missing = sorted(f for f in fields if all(f not in r for r in rows))
    if missing:
        raise RenderError(f"table {table!r}: no row has field(s) {', '.join(missing)}.")
    lines = ["| " + " | ".join(h for _, _, h in cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(_cell(r, e, f) for e, f, _ in cols) + " |")
    commands = list(dict.fromkeys(r.get("command", "") for r in rows if r.get("command")))
    source = sorted({r["_source"] for r in rows})
    lines.append("")
    lines.append(f"Command{'s' if len(commands) > 1 else ''}: " + "; ".join(f"`{c}`" for c in commands)
                 + f" (results: `benchmarks/results/{', '.join(source)}`, run {rows[0]['run']}).")
    return "\n".join(lines)


def render(template: Path = TEMPLATE, results: Path = RESULTS) -> str:
    rows = load_rows(results)
    out = [HEADER]
    for line in template.read_text(encoding="utf-8").splitlines():
        m = PLACEHOLDER.match(line.strip())
        out.append(render_table(m.group(1), m.group(2), rows.get(m.group(1), [])) if m else line)
    return "\n".join(out).rstrip() + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/benchmarks.md differs from a fresh render")
    args = parser.parse_args(argv)
    try:
        text = render()
    except RenderError as exc:
        print(f"render_docs: {exc}", file=sys.stderr)
        return 2
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print("docs/benchmarks.md is stale: run python benchmarks/render_docs.py", file=sys.stderr)
            return 1
        return 0
    tmp = OUTPUT.with_name(OUTPUT.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(OUTPUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
