"""``prefspace evaluate``, ``prefspace experiment`` and ``prefspace demo``.

Each parses options, calls one library function (:func:`prefspace.workflows.evaluate_model_dir`,
``run_experiment`` with ``write_outputs``, ``run_demo``) and prints a summary.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from . import app
from ._choices import RegistryChoice, RegistryHelpCommand
from ._encoder_options import ModelEncoderOptions, model_encoder_options
from ._groups import argument, option
from ._options import DataColumns, data_columns, examples, figure_format_option, out_option
from ._progress import show_progress

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..embed import CacheUse
    from ..workflows.scoring import Evaluation

OutDir = out_option("Output directory (created if missing).")
FigureFormat = figure_format_option(
    "Plots as PNG only (the report embeds them), or also as SVG or PDF beside each PNG."
)
Jobs = option(
    int | None,
    "--jobs",
    "-j",
    help="Worker processes (default: the config's jobs, else all cores; capped at the cores).",
    min=1,
)

ConfigArg = argument(Path, "Experiment config (YAML); see docs/evaluation.md.")
SetValues = option(
    list[str] | None,
    "--set",
    help="Override a config value, KEY=VALUE (dotted keys; e.g. data_root=../shared/data). Repeatable.",
)
ModelArg = argument(Path, "A model directory written by save_model / prefspace train.")
EvalData = argument(
    str | None,
    "Pairs, scored responses, or a benchmark's rows (see `prefspace validate --help` for the formats); "
    "default: the model's own held-out pairs (MODEL/test.jsonl, written by `prefspace train`).",
)
Prompts = option(
    Path | None,
    "--prompts",
    help="Scored data: the prompts file joined to DATA's responses (DATA is then a scored-response file).",
)
ScoreKey = option(
    str | None,
    "--score-key",
    help="Scored data: the gold-score column (default: the first of score, gold, reward).",
)
LimitPrompts = option(
    int | None, "--limit-prompts", help="Scored data: evaluate on the first N prompts only.", min=1
)
NBoot = option(
    int,
    "--n-boot",
    help="Bootstrap resamples (over prompts) for the best-of-N interval; accuracy uses the Wilson interval.",
    min=1,
)
Benchmark = option(
    str | None,
    "--benchmark",
    help="Score DATA as a benchmark with its own sections and weights: {benchmarks}.",
    parser=RegistryChoice("benchmarks"),
)


def _print_cache_use(cache_use: Sequence[CacheUse]) -> None:
    """The cache line of each dataset embedded now ("cache DIR: N of M texts found, K embedded");
    nothing when every dataset was prepared by an earlier run into the same output folder."""
    from ..embed.pipeline import describe_cache_use

    for use in cache_use:
        typer.echo(describe_cache_use(use))


def _print_summary(rows: list[dict], metric_names=("accuracy", "ece")) -> None:
    from rich.console import Console
    from rich.table import Table

    from ..experiments.summarize import format_cell, with_length_baseline

    groups: dict = {}
    for r in sorted(with_length_baseline(rows), key=lambda r: (r["dataset"], r["budget"])):
        groups.setdefault((r["dataset"], r["budget"], r["method"]), []).append(r)
    table = Table(
        title="mean over seeds [95% interval]; 'length baseline': learned on the same training pairs"
    )
    for col in ("dataset", "budget", "method", "seeds", *metric_names):
        table.add_column(col, no_wrap=True)
    for (ds, budget, method), grp in groups.items():
        cells = [format_cell(grp, m) for m in metric_names]
        table.add_row(ds, str(budget), method, str(len(grp)), *cells)
    # Piped output (make demo | tee, CI logs) is not a terminal: do not squeeze to 80 columns.
    Console(width=None if sys.stdout.isatty() else 160).print(table)


@app.command(
    epilog=examples(
        "prefspace experiment examples/hh_label_budget.yaml --out runs/hh",
        'prefspace experiment examples/alpaca_best_of_n.yaml --out runs/bon --set data_root=../shared/data --set "seeds=[0,1,2]"',
    )
)
def experiment(
    config: ConfigArg,
    out: OutDir,
    set_: SetValues = None,
    jobs: Jobs = None,
    figure_format: FigureFormat = "png",
) -> None:
    """Run a grid of datasets x budgets x methods x seeds in parallel; resumable.

    Finished cells (in OUT/results.jsonl) are skipped on rerun. Writes OUT/results.csv, OUT/summary.md, OUT/plots/*.png and OUT/report.html.
    """
    from ..experiments.config import load_config, parse_overrides
    from ..experiments.experiment import run_experiment
    from ..experiments.summarize import write_outputs

    cfg = load_config(
        config, parse_overrides(set_), out_dir=out
    )  # the whole config is checked before any cell runs
    start = time.perf_counter()
    cache_use: list[CacheUse] = []
    with show_progress():
        rows = run_experiment(cfg, out, jobs=jobs, cache_use=cache_use)
    _print_cache_use(cache_use)
    paths = write_outputs(rows, cfg, out, figure_format=figure_format)
    _print_summary(
        rows,
        (
            "accuracy",
            "ece",
            *(["spearman"] if any(r.get("kind") == "scored" for r in rows) else []),
        ),
    )
    typer.echo(f"{len(rows)} cells in {time.perf_counter() - start:.1f} s")
    typer.echo(f"summary: {paths['summary_md']}")
    typer.echo(f"report:  {paths['report_html']}")


@app.command(
    epilog=examples(
        "prefspace demo --out demo-output", "prefspace demo --out demo-output --figure-format svg"
    )
)
def demo(
    out: OutDir = Path("demo-output"),
    jobs: Jobs = None,
    figure_format: FigureFormat = "png",
) -> None:
    """Offline demo: real-only vs LENS-augmented reward models on the bundled pairs, with a report.

    Embeds the bundled demo pairs with the bundled encoder (in the shared embedding cache), trains both at
    small budgets, evaluates them on the same held-out pairs, and writes OUT/report.html.
    """
    from ..experiments.demo import run_demo

    start = time.perf_counter()
    with show_progress():
        result = run_demo(out, jobs=jobs, figure_format=figure_format)
    _print_cache_use(result.cache)
    _print_summary(result.rows)
    typer.echo(f"done in {time.perf_counter() - start:.1f} s")
    typer.echo(f"report: {result.report_html}")


@app.command(
    cls=RegistryHelpCommand,
    epilog=examples(
        "prefspace evaluate runs/bt --out eval/            # the model's own held-out pairs",
        "prefspace evaluate runs/bt test.jsonl --out eval/",
        "prefspace evaluate runs/bt responses.jsonl.gz --prompts prompts.jsonl.gz --out eval-bon/",
        "prefspace evaluate runs/bt reward-bench.jsonl --benchmark reward-bench --out eval-rb/",
    ),
)
@data_columns(exclude=("margin_key", "weight_key"))
@model_encoder_options(exclude=("length_controlled",))
def evaluate(
    model: ModelArg,
    out: OutDir,
    data: EvalData = None,
    *,
    prompts: Prompts = None,
    score_key: ScoreKey = None,
    limit_prompts: LimitPrompts = None,
    model_encoder: ModelEncoderOptions,
    n_boot: NBoot = 1000,
    figure_format: FigureFormat = "png",
    benchmark: Benchmark = None,
    columns: DataColumns,
) -> None:
    """Metrics and plots for one saved model; embeds DATA with the model's own encoder.

    Without DATA, the model's own held-out pairs (MODEL/test.jsonl, written by `prefspace train`).
    Pair data: accuracy with a Wilson 95% interval, per subset, calibration (ECE, reliability).
    Scored data (prompt/response rows with a score column, or responses joined to --prompts):
    best-of-N with oracle and random, per-prompt Spearman and Kendall.
    --benchmark reward-bench: also reward-bench's section scores (Chat, Chat Hard, Safety,
    Reasoning) and overall score; --benchmark reward-bench-2: its rows (one chosen against
    several rejected), best-of-4 accuracy per subset, Ties, the overall score.
    Writes OUT/metrics.json, OUT/plots/ and OUT/report.html (and, with --benchmark, every
    example's scores in OUT/reward_bench_scores.jsonl or OUT/reward_bench_2_scores.jsonl).
    """
    from ..workflows.scoring import evaluate_model_dir

    with show_progress() as progress:
        evaluation = evaluate_model_dir(
            model,
            data,
            out,
            prompts=prompts,
            score_key=score_key,
            limit_prompts=limit_prompts,
            cache=model_encoder.cache,
            n_boot=n_boot,
            load_kwargs=columns.load_kwargs(),
            benchmark=benchmark,
            encoder=model_encoder.for_model(model),
            figure_format=figure_format,
            progress=progress,
        )
    for line in evaluate_lines(evaluation, own_test=data is None):
        typer.echo(line)


def evaluate_lines(evaluation: Evaluation, *, own_test: bool) -> list[str]:
    """What ``evaluate`` prints: the data (``own_test``: the model's held-out pairs), the cache,
    the headline metrics, the verdict against the length baseline and the files written."""
    result, files = evaluation.metrics, evaluation.files
    lines = [f"data: the model's held-out pairs, {evaluation.data}"] if own_test else []
    lines += [evaluation.cache.describe(), _headline(result)]
    lines += _length_baseline_lines(result)
    lines.append(f"metrics: {files.metrics_json}")
    if files.per_example is not None:
        lines.append(f"per-example scores: {files.per_example}")
    lines.append(f"report:  {files.report_html}")
    return lines


def _headline(result: dict) -> str:
    """The headline metrics: a benchmark's scores, pair accuracy, or best-of-N and rank
    correlations for scored responses."""
    if "reward_bench_2" in result:
        return _benchmark_lines(result["reward_bench_2"])
    if "accuracy" in result:
        headline = (
            f"accuracy {result['accuracy']:.4f} [{result['ci_low']:.4f}, {result['ci_high']:.4f}] "
            f"on {result['n_pairs']} pairs; ECE {result['ece']:.4f}"
        )
        if result.get("subsets"):
            per = ", ".join(
                f"{k} {v['accuracy']:.3f}" for k, v in result["subsets"]["per_subset"].items()
            )
            headline += f"\nper subset: {per}; weighted {result['subsets']['weighted']:.4f}"
        if "reward_bench" in result:
            headline += "\n" + _benchmark_lines(result["reward_bench"])
        return headline
    c = result["best_of_n"]
    return (
        f"best-of-{c['n'][-1]} gold {c['model'][-1]:.4f} [{c['model_low'][-1]:.4f}, {c['model_high'][-1]:.4f}] (oracle {c['oracle'][-1]:.4f}, random {c['random'][-1]:.4f}); "
        f"Spearman {result['spearman']:.4f}, Kendall {result['kendall']:.4f} over {result['n_prompts']} prompts"
    )


def _length_baseline_lines(result: dict) -> list[str]:
    """The verdict against the length baseline, then each further comparison."""
    if not result.get("length_baseline"):
        return []
    from ..evaluate.single import baseline_verdict

    items = result["length_baseline"]
    items = items if isinstance(items, list) else [items]
    lines = [baseline_verdict(items)[1]]
    for c in items[1:]:
        lines.append(
            f"  {c['metric']}: model {c['model']:.4f}, length baseline {c['baseline']:.4f}, "
            f"{c['difference']:+.4f} [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}], {c['verdict']}"
        )
    source = (result.get("length_baseline_fit") or {}).get("source")
    if source:
        lines.append(f"  (length baseline fitted on {source})")
    return lines


def _benchmark_lines(res: dict) -> str:
    """The section (subset) scores of a reward-bench (2) result, one line each, then the overall score."""
    from ..evaluate.reward_bench import overall_text

    def fmt(v: dict) -> str:
        if v.get("ci_low") is None:
            return f"{v['score']:.4f}"
        return f"{v['score']:.4f} [{v['ci_low']:.4f}, {v['ci_high']:.4f}]"

    if res["benchmark"] == "reward-bench":
        parts = {name: (fmt(s), f"{s['n_pairs']} pairs") for name, s in res["sections"].items()}
        if res.get("prior_sets"):
            parts["Prior Sets (half weight)"] = (fmt(res["prior_sets"]), "")
        for name, s in res["sections"].items():
            if s.get("partial"):
                parts[name] = (
                    parts[name][0],
                    parts[name][1] + f", partial: {len(s['missing_subsets'])} subset(s) missing",
                )
    else:
        parts = {
            name: (fmt(s), f"{s['n_examples']} examples") for name, s in res["subsets"].items()
        }
    lines = [f"{res['benchmark']}:"] + [
        f"  {name:<24} {score}  {n}".rstrip() for name, (score, n) in parts.items()
    ]
    lines.append(f"  {'overall':<24} {overall_text(res)}")
    return "\n".join(lines)
