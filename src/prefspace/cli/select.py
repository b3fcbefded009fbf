"""``prefspace select``: choose the candidate pairs most worth sending to annotators."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import app
from ._choices import RegistryChoice, RegistryHelpCommand
from ._options import (
    CacheOpt,
    MaxTextChars,
    PoolIdKey,
    PoolJoinKey,
    PoolPromptKey,
    PoolResponseKey,
    default_cache_dir,
    deprecated_option,
    examples,
    renamed,
)
from ._progress import show_progress

_STRATEGY_HELP = (
    "{strategies}. Default random: in this project's label-loop and active-labeling benchmarks "
    "(docs/benchmarks.md) D-optimal selection learned more slowly than random; see "
    "docs/active-labeling.md."
)


@app.command(
    cls=RegistryHelpCommand,
    epilog=examples(
        "prefspace select runs/bt candidates.jsonl --batch 100 --strategy d-optimal --out to_label.jsonl"
    ),
)
def select(
    model: Annotated[
        Path,
        typer.Argument(
            help="A model directory written by `prefspace train` (save_model).", show_default=False
        ),
    ],
    pool: Annotated[
        str,
        typer.Argument(
            help="Candidate responses: rows of prompt + response (or prompt + responses list), scored or not.",
            show_default=False,
        ),
    ],
    batch: Annotated[
        int,
        typer.Option(
            "--batch", "-b", min=1, help="How many pairs to choose (as `prefspace label --batch`)."
        ),
    ] = 100,
    strategy: Annotated[
        str,
        typer.Option("--strategy", "-s", parser=RegistryChoice("strategies"), help=_STRATEGY_HELP),
    ] = "random",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Where to write the chosen pairs (JSON lines); required, as in every command (leaving it out writes to_label.jsonl with a warning, for one release).",
            show_default=False,
        ),
    ] = None,
    labelled: Annotated[
        str | None,
        typer.Option(
            "--labelled",
            help="Preference data already labelled: used by past-aware and coreset, and never chosen again.",
            show_default=False,
        ),
    ] = None,
    cross_prompt: Annotated[
        bool,
        typer.Option(
            "--cross-prompt", help="Pair responses to different prompts instead of within a prompt."
        ),
    ] = False,
    max_candidates: Annotated[
        int,
        typer.Option(
            "--max-candidates",
            min=1,
            help="Score a random sample of this many candidate pairs when the pool is larger.",
        ),
    ] = 1_000_000,
    lam: Annotated[
        float | None,
        typer.Option(
            "--lam",
            help="Ridge lambda of the D-optimal information matrix (default: the head's own penalty, in its standardised coordinates).",
            show_default=False,
        ),
    ] = None,
    explore: Annotated[
        float,
        typer.Option(
            "--explore",
            min=0.0,
            max=0.99,
            help="D-optimal: share of the batch drawn at random (as `prefspace label --explore`).",
        ),
    ] = 0.25,
    outlier_z: Annotated[
        float | None,
        typer.Option(
            "--outlier-z",
            min=0.0,
            help="D-optimal: never let the greedy part pair a response whose distance from its prompt's other responses has a robust z-score above this (default 3.5; 0 turns the guard off).",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int,
        typer.Option(
            "--seed", min=0, help="Seed for the random strategy and the candidate sample."
        ),
    ] = 0,
    prompts: Annotated[
        str | None,
        typer.Option(
            "--prompts",
            help="Separate prompts file joined on --join-key (alpaca_bon layout; rows then need a score).",
            show_default=False,
        ),
    ] = None,
    prompt_key: PoolPromptKey = "prompt",
    response_key: PoolResponseKey = "response",
    id_key: PoolIdKey = None,
    join_key: PoolJoinKey = "prompt_id",
    cache: CacheOpt = None,
    max_text_chars: MaxTextChars = None,
    budget: deprecated_option("--budget/-n", "--batch", int) = None,
    exploration: deprecated_option("--exploration", "--explore", float) = None,
) -> None:
    """Embed POOL with MODEL's own encoder, choose BATCH pairs with STRATEGY, write them for annotators.

    Each output line has the pair's texts and ids (pair_id, prompt, response_a, response_b, id_a,
    id_b, ...); add a "label" ("a", "b" or "tie") and read it back with --label-key label.
    """
    from ..embed.pipeline import describe_cache_use
    from ..workflows.scoring import select_for_labeling

    batch = renamed("--budget/-n", "--batch", budget, batch)
    explore = renamed("--exploration", "--explore", exploration, explore)
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
            cross_prompt=cross_prompt,
            max_candidates=max_candidates,
            lam=lam,
            random_state=seed,
            selector_params=d_optimal,
            prompts=prompts,
            prompt_key=prompt_key,
            response_key=response_key,
            id_key=id_key,
            join_key=join_key,
            cache=cache or default_cache_dir(),
            progress=progress,
            **({} if max_text_chars is None else {"max_text_chars": max_text_chars}),
        )
    typer.echo(describe_cache_use(summary["cache"]))
    typer.echo(
        f"wrote {summary['n_pairs']:,} pairs to {out} (strategy {strategy}, {summary['pool']}-prompt pool of "
        f"{summary['n_candidates']:,} candidates from {summary['n_responses']:,} responses to {summary['n_prompts']:,} prompts"
        + (f"; {summary['n_excluded']:,} already labelled" if labelled is not None else "")
        + ")"
    )
