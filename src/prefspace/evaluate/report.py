"""Summary statistics, markdown tables and the self-contained HTML report.

The report is one HTML file with every plot embedded as a base64 PNG and an inline stylesheet:
it opens offline, from any directory, with no CDN or script. What it does not do: interactive
plots; the PNGs beside it are the same figures.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._atomic import write_text_atomic
from .plots import DPI


def mean_interval(
    values, *, level: float = 0.95, bounds: tuple[float, float] | None = None
) -> tuple[float, float, float]:
    """Mean and a 95% interval of the mean over independent runs (seeds).

    Without ``bounds``: the Student-t interval. With ``bounds=(lo, hi)`` (the metric's range,
    e.g. ``(0, 1)`` for accuracy, ``(-1, 1)`` for a correlation or a difference of accuracies)
    the interval is the Student-t interval on the logit scale of the rescaled mean
    (delta method: half-width ``t * se / (m (1 - m))`` around ``logit(m)``), mapped back: it
    always lies inside the range and contains the mean. A mean on a bound, or no spread,
    gives the degenerate interval ``(mean, mean)``.

    Returns ``(mean, low, high)``; with one value the bounds are NaN (no spread to estimate:
    report the run's own interval instead).

    Example
    -------
    >>> mean_interval([0.5, 0.7])[0]
    0.6
    >>> m, lo, hi = mean_interval([0.99, 0.97, 1.0, 0.98], bounds=(0, 1))
    >>> 0 < lo < m < hi < 1
    True
    """
    from scipy.special import expit, logit
    from scipy.stats import t as student_t

    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    m = float(v.mean())
    if v.size == 1:
        return m, float("nan"), float("nan")
    q = float(student_t.ppf(0.5 + level / 2, v.size - 1))
    se = float(v.std(ddof=1) / math.sqrt(v.size))
    if bounds is None:
        return m, m - q * se, m + q * se
    lo, hi = float(bounds[0]), float(bounds[1])
    width = hi - lo
    p = (m - lo) / width
    if se == 0 or p <= 0 or p >= 1:
        return m, m, m
    half = q * (se / width) / (p * (1 - p))
    return m, lo + width * float(expit(logit(p) - half)), lo + width * float(expit(logit(p) + half))


def format_interval(mean: float, low: float, high: float, digits: int = 3) -> str:
    """``"0.712 [0.690, 0.734]"``, or just the mean when the interval is undefined."""
    if not np.isfinite(mean):
        return "n/a"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def markdown_table(header: list[str], rows: list[list]) -> str:
    """A GitHub-flavoured markdown table."""
    cells = [[str(c).replace("|", "\\|") for c in row] for row in rows]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def html_table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


@dataclass
class Section:
    """One part of a report: a heading, paragraphs, tables (header, rows) and PNG files.

    ``callout``: an optional ``(kind, text)`` shown boxed under the heading, coloured by kind
    (``"above"`` green, ``"below"`` red, anything else amber): a verdict a reader must see.
    """

    heading: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[tuple[list[str], list[list]]] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)
    callout: tuple[str, str] | None = None


_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.6em; border-bottom: 2px solid #ddd; padding-bottom: .3em; }
h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #eee; }
table { border-collapse: collapse; margin: 1em 0; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: left; }
th { background: #f3f3f3; }
img { max-width: 100%; border: 1px solid #eee; margin: .5em 0; }
figure { margin: 0; } figcaption { font-size: .8em; color: #666; }
.meta { color: #666; font-size: .85em; }
.callout { border-left: 6px solid #c90; background: #fff8e5; padding: .6em 1em; font-weight: 600; }
.callout.above { border-color: #2a2; background: #eefbea; }
.callout.below { border-color: #c22; background: #fdecec; }
"""


def _display_width(png: bytes, dpi: float = DPI, css_dpi: float = 120.0) -> str:
    """A ``width`` attribute showing a PNG written at ``dpi`` at about its size in inches
    (``css_dpi`` CSS pixels per inch: crisp on high-density screens, not 1.5 times too large);
    empty if not a PNG."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or len(png) < 24:
        return ""
    width = int.from_bytes(png[16:20], "big")
    return f' width="{round(width * css_dpi / dpi)}"'


def write_html_report(path, title: str, sections: list[Section], *, meta: str = "") -> Path:
    """Write a self-contained HTML report (images inlined as base64) atomically.

    Parameters
    ----------
    path : the .html file to write
    title : page title and top heading
    sections : the report's parts, in order
    meta : a line under the title (what was run, when)
    """
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if meta:
        parts.append(f'<p class="meta">{html.escape(meta)}</p>')
    for sec in sections:
        parts.append(f"<h2>{html.escape(sec.heading)}</h2>")
        if sec.callout is not None:
            kind = sec.callout[0] if sec.callout[0] in ("above", "below") else "other"
            parts.append(f'<p class="callout {kind}">{html.escape(sec.callout[1])}</p>')
        parts += [f"<p>{html.escape(p)}</p>" for p in sec.paragraphs]
        parts += [html_table(h, r) for h, r in sec.tables]
        for img in sec.images:
            raw = Path(img).read_bytes()
            data = base64.b64encode(raw).decode("ascii")
            name = html.escape(Path(img).name)
            parts.append(
                f'<figure><img alt="{name}"{_display_width(raw)} src="data:image/png;base64,{data}">'
                f"<figcaption>{name}</figcaption></figure>"
            )
    parts.append("</body></html>")
    return write_text_atomic(path, "\n".join(parts))
