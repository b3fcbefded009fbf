"""The scaling options of ``prefspace embed``: ``--backend ray`` and ``--num-shards/--shard-index``.

The work itself is :func:`prefspace.workflows.embed_file`; with several slices ``embed`` prints
:func:`echo_slice_summary` instead of the pair summary, since the other slices are other jobs' work.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import typer

from ._progress import format_rate

_PANEL = "Scaling"

Engine = Annotated[
    Literal["local", "ray"],
    typer.Option(
        "--backend",
        help="Where to embed: 'local' (this process) or 'ray' (a Ray cluster, or a local Ray).",
        rich_help_panel=_PANEL,
    ),
]
NumWorkers = Annotated[
    int | None,
    typer.Option(
        "--num-workers",
        min=1,
        help="--backend ray: actors, each with its own copy of the encoder "
        "(default: as many as the cluster's GPUs or CPUs allow).",
        rich_help_panel=_PANEL,
        show_default=False,
    ),
]
GpusPerWorker = Annotated[
    float,
    typer.Option(
        "--gpus-per-worker",
        min=0,
        help="--backend ray: GPUs per actor (1 = one model per GPU).",
        rich_help_panel=_PANEL,
    ),
]
RayAddress = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        help="--backend ray: the cluster to join (default: $RAY_ADDRESS, else a new local Ray).",
        rich_help_panel=_PANEL,
        show_default=False,
    ),
]
NumShards = Annotated[
    int,
    typer.Option(
        "--num-shards",
        min=1,
        help="Split the missing texts into N slices by text hash and embed one "
        "(for batch-scheduler array jobs; join the caches with `prefspace cache merge`).",
        rich_help_panel=_PANEL,
    ),
]
ShardIndex = Annotated[
    int,
    typer.Option(
        "--shard-index",
        min=0,
        help="Which slice to embed, 0 to N-1 (e.g. $SLURM_ARRAY_TASK_ID).",
        rich_help_panel=_PANEL,
    ),
]


def echo_slice_summary(run: Any) -> None:
    """Print what one slice job did (an :class:`prefspace.workflows.EmbedRun` without pairs: the
    other slices are other jobs' work)."""
    stats, computed, cached = run.stats, run.new_texts, run.cached_texts
    rate = (
        f", {format_rate(computed, stats.seconds, 'texts')}" if computed and stats.seconds else ""
    )
    typer.echo(
        f"slice {run.shard_index} of {run.num_shards} of {run.data}: {computed:,} new texts embedded "
        f"({sum(stats.total.values()):,} distinct, {cached:,} already cached; the rest belong to other slices)"
    )
    typer.echo(f"  {run.total_seconds:.1f} s in all ({stats.seconds:.1f} s embedding{rate})")
    typer.echo(
        f"  cache: {run.cache_dir} (fingerprint {run.encoder.vectors_fingerprint}); join the slices with "
        "`prefspace cache merge SLICE_CACHES... --into CACHE`"
    )
