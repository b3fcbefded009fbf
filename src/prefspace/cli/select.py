"""``prefspace select``: choose the candidate pairs most worth sending to annotators."""

from __future__ import annotations

from pathlib import Path

import typer

from . import app
from ._choices import RegistryHelpCommand
from ._groups import argument, option
from ._options import (
    CacheOpt,
    CandidatePairs,
    MaxTextChars,
    PoolColumns,
    RenamedFlag,
    Strategy,
    candidate_pairs,
    default_cache_dir,
    examples,
    out_option,
    pool_columns,
)
from ._progress import show_progress

ModelArg = argument(Path, "A model directory written by `prefspace train` (save_model).")
Pool = argument(
    str,
    "Candidate responses: rows of prompt + response (or prompt + responses list), scored or not.",
)
Batch = option(
    int, "--batch", "-b", help="How many pairs to choose (as `prefspace label --batch`).", min=1
)
PairsOut = out_option(
    "Where to write the chosen pairs (JSON lines); required, as in every command (leaving it out writes to_label.jsonl with a warning, for one release).",
    Path | None,
)
Labelled = option(
    str | None,
    "--labelled",
    help="Preference data already labelled: used by past-aware and coreset, and never chosen again.",
)
Lam = option(
    float | None,
    "--lam",
    help="Ridge lambda of the D-optimal information matrix (default: the head's own penalty, in its standardised coordinates).",
)
Explore = option(
    float,
    "--explore",
    help="D-optimal: share of the batch drawn at random (as `prefspace label --explore`).",
    min=0.0,
    max=0.99,
)
OutlierZ = option(
    float | None,
    "--outlier-z",
    help="D-optimal: never let the greedy part pair a response whose distance from its prompt's other responses has a robust z-score above this (default 3.5; 0 turns the guard off).",
    min=0.0,
)
Seed = option(int, "--seed", help="Seed for the random strategy and the candidate sample.", min=0)
BudgetRenamed = RenamedFlag("--budget/-n", "--batch", int)
ExplorationRenamed = RenamedFlag("--exploration", "--explore", float)
_PROMPTS_HELP = (
    "Separate prompts file joined on --join-key (alpaca_bon layout; rows then need a score)."
)


@app.command(
    cls=RegistryHelpCommand,
    epilog=examples(
        "prefspace select runs/bt candidates.jsonl --batch 100 --strategy d-optimal --out to_label.jsonl"
    ),
)
@pool_columns(helps={"prompts": _PROMPTS_HELP})
@candidate_pairs()
def select(
    model: ModelArg,
    pool: Pool,
    *,
    batch: Batch = 100,
    strategy: Strategy = "random",
    out: PairsOut = None,
    labelled: Labelled = None,
    pairs: CandidatePairs,
    lam: Lam = None,
    explore: Explore = 0.25,
    outlier_z: OutlierZ = None,
    seed: Seed = 0,
    keys: PoolColumns,
    cache: CacheOpt = None,
    max_text_chars: MaxTextChars = None,
    budget: BudgetRenamed.option = None,
    exploration: ExplorationRenamed.option = None,
) -> None:
    """Embed POOL with MODEL's own encoder, choose BATCH pairs with STRATEGY, write them for annotators.

    Each output line has the pair's texts and ids (pair_id, prompt, response_a, response_b, id_a,
    id_b, ...); add a "label" ("a", "b" or "tie") and read it back with --label-key label.
    """
    from ..workflows.scoring import select_for_labeling

    batch = BudgetRenamed.value(budget, batch)
    explore = ExplorationRenamed.value(exploration, explore)
    if exploration is not None and not 0.0 <= exploration <= 0.99:
        raise typer.BadParameter(
            f"{exploration} is not in the range 0<=x<=0.99.", param_hint="--exploration"
        )
    if out is None:
        out = Path("to_label.jsonl")
        typer.echo(
            f"warning: select without --out is deprecated (--out will be required, as in every command); "
            f"writing {out}.",
            err=True,
        )
    d_optimal = {"exploration": explore}  # --outlier-z 0: no guard; not given: the default
    if outlier_z is not None:
        d_optimal["outlier_z"] = outlier_z or None
    with show_progress() as progress:
        summary = select_for_labeling(
            model,
            pool,
            out,
            budget=batch,
            strategy=strategy,
            labelled=labelled,
            **pairs.kwargs(),
            lam=lam,
            random_state=seed,
            selector_params=d_optimal,
            **keys.kwargs(),
            cache=cache or default_cache_dir(),
            progress=progress,
            **({} if max_text_chars is None else {"max_text_chars": max_text_chars}),
        )
    typer.echo(summary.cache.describe())
    excluded = (
        f"; {summary.n_excluded:,} already labelled" if summary.n_excluded is not None else ""
    )
    typer.echo(
        f"wrote {summary.n_pairs:,} pairs to {out} (strategy {strategy}, {summary.pool}-prompt pool of "
        f"{summary.n_candidates:,} candidates from {summary.n_responses:,} responses to "
        f"{summary.n_prompts:,} prompts{excluded})"
    )
