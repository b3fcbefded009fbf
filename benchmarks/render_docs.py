"""Render docs/benchmarks.md from docs/benchmarks.template.md and benchmarks/results/*.jsonl.

Every figure in docs/benchmarks.md comes from a committed results file; the prose around the
tables lives in the template. A placeholder line in the template::

    <!-- table: lens_hh | budget, method, k, accuracy=accuracy, lo..hi=95% CI, delta:+.3f=vs repeat -->

becomes a markdown table of the rows whose ``table`` field is ``lens_hh``, from the latest
``run`` of that table only, followed by the command that produced them. A column is
``FIELD[:FORMAT][=HEADER]``; ``LOW..HIGH`` shows an interval ``[low, high]``. Numbers without a
format get three decimals below 10, one below 1,000 and none above.

Numbers in the prose come from the same rows, through variables (so a changed results value
changes the prose as well as the table)::

    {{ lens_hh[head=bt-linear, budget=500, method=lens-k4].vs_repeat:+.1pt }}   -> +0.4
    {{ lens_hh[head=bt-linear, budget=500, method=lens-k4].vs_repeat_lo..vs_repeat_hi:+.3f }}
                                                                             -> [-0.002, +0.010]
    {{ abs label_loop_curve[labels=400].difference:.3f }}     -> 0.049
    {{ count lens_hh[head=bt-linear].vs_repeat }}             -> rows with a vs_repeat value
    {{ min lens_hh[method=lens-k4].heldout_var:.0% }}          -> the smallest over those rows

``TABLE[FIELD=VALUE, ...]`` selects rows of the table's latest run whose fields equal the
values (compared as text, so a value may hold commas; ``run=ID`` selects an earlier run). ``FIELD`` or
``LOW..HIGH`` is what is shown, ``FORMAT`` a Python format spec, where a trailing ``pt`` means
"times 100" (points of accuracy). Without a function the selector must match exactly one row;
``abs`` takes its absolute value; ``count``, ``min`` and ``max`` run over every matching row
that has the field. An unknown table, field or a selector that matches no row (or several)
is an error, so a rerun that drops a row cannot leave stale prose behind. A comment that starts
``<!-- template notes`` is for the template's editors and is left out of the page.

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
NOTES = "<!-- template notes"
VARIABLE = re.compile(r"\{\{(.*?)\}\}")
_VAR_BODY = re.compile(
    r"^\s*(?:(abs|count|min|max)\s+)?([\w.-]+)\s*\[(.*?)\]\s*\.\s*([\w]+(?:\.\.[\w]+)?)"
    r"\s*(?::\s*([^\s}]+))?\s*$"
)
HEADER = (
    "<!-- Rendered by benchmarks/render_docs.py from docs/benchmarks.template.md and "
    "benchmarks/results/*.jsonl; edit those, not this file. -->\n"
)


class RenderError(ValueError):
    pass


def load_rows(results: Path = RESULTS, *, every_run: bool = False) -> dict[str, list[dict]]:
    """Rows by table id, keeping only each table's latest run (``every_run``: all), in order."""
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
    if every_run:
        return dict(by_table)
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
    if fmt and fmt.endswith(
        "pt"
    ):  # points: a share times 100, e.g. ".1pt" -> format(100 * v, ".1f")
        value, fmt = value * 100, (fmt[:-2] + "f") if fmt[:-2] else None
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
    lines = [
        "| " + " | ".join(h for _, _, h in cols) + " |",
        "|" + "|".join("---" for _ in cols) + "|",
    ]
    for r in rows:
        lines.append("| " + " | ".join(_cell(r, e, f) for e, f, _ in cols) + " |")
    commands = list(dict.fromkeys(r.get("command", "") for r in rows if r.get("command")))
    source = sorted({r["_source"] for r in rows})
    lines.append("")
    lines.append(
        f"Command{'s' if len(commands) > 1 else ''}: "
        + "; ".join(f"`{c}`" for c in commands)
        + f" (results: `benchmarks/results/{', '.join(source)}`, run {rows[0]['run']})."
    )
    return "\n".join(lines)


def _select(table: str, selector: str, latest: dict, every: dict) -> list[dict]:
    wanted = {}
    for part in (p.strip() for p in re.split(r",(?=\s*[A-Za-z_]\w*\s*=)", selector)):
        if part:
            key, eq, value = part.partition("=")
            if not eq:
                raise RenderError(f"{{{{ {table}[{selector}] }}}}: selector parts are FIELD=VALUE.")
            wanted[key.strip()] = value.strip()
    pool = every.get(table, []) if "run" in wanted else latest.get(table, [])
    if not pool:
        raise RenderError(f"variable: table {table!r} has no rows in benchmarks/results/*.jsonl.")
    return [r for r in pool if all(k in r and str(r[k]) == v for k, v in wanted.items())]


def render_variable(body: str, latest: dict, every: dict) -> str:
    """The text of one ``{{ ... }}`` variable (see the module docstring)."""
    m = _VAR_BODY.match(body)
    if not m:
        raise RenderError(
            f"variable {{{{{body}}}}}: expected [FUNCTION ]TABLE[FIELD=VALUE, ...].FIELD[:FORMAT]."
        )
    func, table, selector, expr, fmt = m.groups()
    rows = _select(table, selector, latest, every)
    fields = expr.split("..")
    where = f"{{{{{body}}}}}"
    if func in ("count", "min", "max"):
        values = [r[fields[0]] for r in rows if r.get(fields[0]) is not None]
        if func == "count":
            return _number(len(values), fmt)
        if not values:
            raise RenderError(f"variable {where}: no matching row has a value for {fields[0]!r}.")
        return _number(min(values) if func == "min" else max(values), fmt)
    if len(rows) != 1:
        raise RenderError(
            f"variable {where}: the selector matches {len(rows)} rows, not exactly one."
        )
    row = rows[0]
    missing = [f for f in fields if f not in row]
    if missing:
        raise RenderError(f"variable {where}: the row has no field {', '.join(missing)}.")
    if func == "abs":
        row = {f: None if row[f] is None else abs(row[f]) for f in fields}
    return _cell(row, expr, fmt)


_ITEM = re.compile(r"^(\s*(?:[-*]|\d+\.)\s+)")


def _reflow(block: list[str], width: int = 100) -> list[str]:
    """Re-wrap a prose paragraph whose variables changed its line lengths (list items kept)."""
    import textwrap

    items: list[list[str]] = []
    for line in block:
        if _ITEM.match(line) or not items:
            items.append([line])
        else:
            items[-1].append(line)
    out = []
    for item in items:
        m = _ITEM.match(item[0])
        lead = m.group(1) if m else re.match(r"\s*", item[0]).group(0)
        text = (
            " ".join(part.strip() for part in item)[len(lead.strip()) :].strip()
            if m
            else " ".join(part.strip() for part in item)
        )
        out += textwrap.wrap(
            text,
            width=width,
            initial_indent=lead,
            subsequent_indent=" " * len(lead),
            break_long_words=False,
            break_on_hyphens=False,
        )
    return out


def render(template: Path = TEMPLATE, results: Path = RESULTS) -> str:
    rows = load_rows(results)
    every = load_rows(results, every_run=True)
    out = [HEADER]
    block: list[str] = []  # the prose paragraph being read, and whether it held a variable
    has_var = in_code = False

    def flush():
        nonlocal block, has_var
        out.extend(_reflow(block) if has_var else block)
        block, has_var = [], False

    in_notes = False  # "<!-- template notes ... -->": for the template's editors, not rendered
    for line in template.read_text(encoding="utf-8").splitlines():
        if in_notes or line.strip().startswith(NOTES):
            in_notes = not line.rstrip().endswith("-->")
            continue
        m = PLACEHOLDER.match(line.strip())
        if line.strip().startswith("```"):
            in_code = not in_code
        if m or in_code or not line.strip() or line.lstrip().startswith(("#", "|", "<!--", "```")):
            flush()
            out.append(
                render_table(m.group(1), m.group(2), rows.get(m.group(1), [])) if m else line
            )
            continue
        has_var = has_var or bool(VARIABLE.search(line))
        block.append(VARIABLE.sub(lambda v: render_variable(v.group(1), rows, every), line))
    flush()
    return "\n".join(out).rstrip() + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if docs/benchmarks.md differs from a fresh render",
    )
    args = parser.parse_args(argv)
    try:
        text = render()
    except RenderError as exc:
        print(f"render_docs: {exc}", file=sys.stderr)
        return 2
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(
                "docs/benchmarks.md is stale: run python benchmarks/render_docs.py", file=sys.stderr
            )
            return 1
        return 0
    tmp = OUTPUT.with_name(OUTPUT.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(OUTPUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
