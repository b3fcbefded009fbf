"""The scaling part of ``prefspace embed``: ``--backend ray`` and ``--num-shards/--shard-index``.

``embed`` calls :func:`fill_cache` before it assembles the pairs: it plans the missing texts
(one slice of them with ``--num-shards``), computes them here or on Ray, and returns the counts.
With one shard ``embed`` then reads every row from the filled cache; with several it prints
:func:`echo_slice_summary` instead, since the other slices are other jobs' work.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, Optional

import typer

from ._progress import format_rate

_PANEL = "Scaling"

Engine = Annotated[
    Literal["local", "ray"],
    typer.Option("--backend", help="Where to embed: 'local' (this process) or 'ray' (a Ray cluster, or a local Ray).",
                 rich_help_panel=_PANEL),
]
NumWorkers = Annotated[
    Optional[int],
    typer.Option("--num-workers", min=1, help="--backend ray: actors, each with its own copy of the encoder "
                 "(default: as many as the cluster's GPUs or CPUs allow).", rich_help_panel=_PANEL, show_default=False),
]
GpusPerWorker = Annotated[
    float, typer.Option("--gpus-per-worker", min=0, help="--backend ray: GPUs per actor (1 = one model per GPU).",
                        rich_help_panel=_PANEL),
]
RayAddress = Annotated[
    Optional[str],
    typer.Option("--ray-address", help="--backend ray: the cluster to join (default: $RAY_ADDRESS, else a new local Ray).",
                 rich_help_panel=_PANEL, show_default=False),
]
NumShards = Annotated[
    int, typer.Option("--num-shards", min=1, help="Split the missing texts into N slices by text hash and embed one "
                      "(for batch-scheduler array jobs; join the caches with `prefspace cache merge`).", rich_help_panel=_PANEL),
]
ShardIndex = Annotated[
    int, typer.Option("--shard-index", min=0, help="Which slice to embed, 0 to N-1 (e.g. $SLURM_ARRAY_TASK_ID).",
                      rich_help_panel=_PANEL),
]


def fill_cache(dataset: Any, encoder: Any, cache: Any, *, engine: str, num_shards: int, shard_index: int,
               num_workers: Optional[int], gpus_per_worker: float, ray_address: Optional[str],
               batch_size: Optional[int], shard_size: int, progress: Any) -> Any:
    """Embed the missing texts of ``dataset`` (this job's slice) into ``cache``; returns EmbedStats."""
    from ..embed.shards import check_shard_args, compute_plan, plan_pairs

    check_shard_args(num_shards, shard_index)
    if engine == "local" and (num_workers is not None or gpus_per_worker or ray_address):
        from ..exceptions import ConfigError

        raise ConfigError("--num-workers, --gpus-per-worker and --ray-address apply to --backend ray; "
                          "add --backend ray or drop them.")
    plans = plan_pairs(dataset, encoder, cache, num_shards=num_shards, shard_index=shard_index)
    if engine == "ray":
        from ..embed.ray_backend import compute_plan_ray

        return compute_plan_ray(plans, encoder, cache, num_workers=num_workers, gpus_per_worker=gpus_per_worker,
                                address=ray_address, batch_size=batch_size, shard_size=shard_size, progress=progress)
    return compute_plan(plans, encoder, cache, batch_size=batch_size, shard_size=shard_size, progress=progress)


def echo_slice_summary(stats: Any, *, data: str, encoder: Any, cache_dir: Any, num_shards: int, shard_index: int,
                       seconds: float, as_json: bool) -> None:
    """Print what one slice job did (it does not assemble pairs: the other slices are missing)."""
    computed, cached = sum(stats.computed.values()), sum(stats.cached.values())
    if as_json:
        typer.echo(json.dumps({
            "data": str(data), "encoder": encoder.config(), "fingerprint": encoder.fingerprint,
            "cache": str(cache_dir), "num_shards": num_shards, "shard_index": shard_index,
            "distinct": stats.total, "cached": stats.cached, "computed": stats.computed,
            "new_texts": computed, "cached_texts": cached,
            "embed_seconds": round(stats.seconds, 3), "total_seconds": round(seconds, 3),
        }, indent=2))
        return
    rate = f", {format_rate(computed, stats.seconds, 'texts')}" if computed and stats.seconds else ""
    typer.echo(f"slice {shard_index} of {num_shards} of {data}: {computed:,} new texts embedded "
               f"({sum(stats.total.values()):,} distinct, {cached:,} already cached; the rest belong to other slices)")
    typer.echo(f"  {seconds:.1f} s in all ({stats.seconds:.1f} s embedding{rate})")
    typer.echo(f"  cache: {cache_dir} (fingerprint {encoder.fingerprint}); join the slices with "
               "`prefspace cache merge SLICE_CACHES... --into CACHE`")
