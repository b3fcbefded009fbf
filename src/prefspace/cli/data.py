"""``prefspace validate``: read preference data the way every other command will, and report on it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer

from . import app
from ._options import (
    DataArg,
    DataColumns,
    data_columns,
    examples,
    json_flag,
)

if TYPE_CHECKING:
    from ..data import PairsReport

ReportJson = json_flag("the loader's report")


@app.command(
    epilog=examples(
        "prefspace validate pairs.jsonl",
        "prefspace validate hh.jsonl.gz --on-bad-rows skip --dedupe --json",
    )
)
@data_columns()
def validate(
    data: DataArg,
    columns: DataColumns,
    as_json: ReportJson = False,
) -> None:
    """Check preference data and summarise it: format, pairs, ties, skipped rows, subsets, and how
    often the longer answer wins (the trivial rule a reward model must beat).

    Exits 0 when the data loads, 2 with the first bad row's file:line and the fix when it does not.
    """
    from ..data import load_preferences
    from ..evaluate import length_preference

    dataset = load_preferences(data, **columns.load_kwargs())
    info = dataset.info
    labelled = (
        dataset
        if dataset.tie is None
        else dataset.select([i for i, t in enumerate(dataset.tie) if not t])
    )
    length = length_preference(labelled.chosen, labelled.rejected) if len(labelled) else None
    if as_json:
        report = {
            **info.to_json(),
            "length_preference": None if length is None else length.to_dict(),
        }
        typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    lines = [
        ("data", f"{info.source} ({info.source_kind})"),
        ("format", _formats(info.formats)),
        ("columns", ", ".join(f"{f}={k!r}" for f, k in info.columns.to_json().items())),
        (
            "rows read",
            f"{info.rows:,}" + (f" (stopped at --limit {info.limit})" if info.limit else ""),
        ),
        ("pairs", f"{info.pairs:,}"),
        ("ties", f"{info.ties:,}" + (f" ({info.ties_action})" if info.ties else "")),
        ("duplicates", _duplicates(info)),
        ("skipped", _skipped(info)),
        ("ids", info.ids),
    ]
    if info.subsets:
        lines.append(("subsets", ", ".join(f"{name} {n:,}" for name, n in info.subsets.items())))
    if dataset.margin is not None:
        lines.append(
            (
                "margin",
                f"min {dataset.margin.min():.3g}, mean {dataset.margin.mean():.3g}, max {dataset.margin.max():.3g}",
            )
        )
    if dataset.weight is not None:
        lines.append(
            (
                "weight",
                f"min {dataset.weight.min():.3g}, mean {dataset.weight.mean():.3g}, max {dataset.weight.max():.3g}",
            )
        )
    if info.empty_responses:
        lines.append(
            (
                "empty responses",
                f"{info.empty_responses:,} (a final dialogue turn left empty; kept)",
            )
        )
    n_prompts = len(set(dataset.prompt_keys()))
    lines.append(("distinct prompts", f"{n_prompts:,}"))
    if length is not None:
        lines.append(
            (
                "length",
                length.sentence() + (" (ties left out)" if len(labelled) < len(dataset) else ""),
            )
        )
    width = max(len(k) for k, _ in lines) + 1
    for key, value in lines:
        typer.echo(f"{key + ':':<{width}} {value}")
    if info.n_skipped:
        typer.secho(
            f"note: {info.n_skipped:,} bad rows were skipped; rerun without --on-bad-rows skip to see the first one.",
            err=True,
            fg=typer.colors.YELLOW,
        )
    typer.secho("ok", fg=typer.colors.GREEN)


def _duplicates(info: PairsReport) -> str:
    n = info.duplicates
    if not n:
        return "0"
    if info.duplicates_action == "dropped":
        return f"{n:,} exact duplicate pairs (dropped by --dedupe)"
    return f"{n:,} exact duplicate pairs (kept: the same comparison labelled again; --dedupe drops them)"


def _formats(formats: dict) -> str:
    if len(formats) == 1:
        return next(iter(formats))
    return "; ".join(f"{fmt} ({n:,} pairs)" for fmt, n in formats.items())


def _skipped(info: PairsReport) -> str:
    if not info.n_skipped:
        return "0"
    reasons = ", ".join(f"{reason.replace('_', ' ')}: {n:,}" for reason, n in info.skipped.items())
    return f"{info.n_skipped:,} ({reasons})"
