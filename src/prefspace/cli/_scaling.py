"""The scaling options of ``prefspace embed``: ``--backend ray`` and ``--num-shards/--shard-index``,
as one option group (:class:`ScalingOptions`, ``@scaling_options()``).

The work itself is :func:`prefspace.workflows.embed_file`; with several slices ``embed`` prints
:func:`slice_lines` instead of the pair summary, since the other slices are other jobs' work.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from ._groups import option_group, panel_options
from ._progress import format_rate

_PANEL = "Scaling"
_scaling_option = panel_options(_PANEL)

Engine = _scaling_option(
    Literal["local", "ray"],
    "--backend",
    help="Where to embed: 'local' (this process) or 'ray' (a Ray cluster, or a local Ray).",
)
NumWorkers = _scaling_option(
    int | None,
    "--num-workers",
    help="--backend ray: actors, each with its own copy of the encoder "
    "(default: as many as the cluster's GPUs or CPUs allow).",
    min=1,
)
GpusPerWorker = _scaling_option(
    float, "--gpus-per-worker", help="--backend ray: GPUs per actor (1 = one model per GPU).", min=0
)
RayAddress = _scaling_option(
    str | None,
    "--ray-address",
    help="--backend ray: the cluster to join (default: $RAY_ADDRESS, else a new local Ray).",
)
NumShards = _scaling_option(
    int,
    "--num-shards",
    help="Split the missing texts into N slices by text hash and embed one "
    "(for batch-scheduler array jobs; join the caches with `prefspace cache merge`).",
    min=1,
)
ShardIndex = _scaling_option(
    int, "--shard-index", help="Which slice to embed, 0 to N-1 (e.g. $SLURM_ARRAY_TASK_ID).", min=0
)


@dataclasses.dataclass(frozen=True)
class ScalingOptions:
    """Where ``prefspace embed`` embeds: here or on Ray, all of the missing texts or one slice."""

    engine: Engine = "local"
    num_workers: NumWorkers = None
    gpus_per_worker: GpusPerWorker = 0
    ray_address: RayAddress = None
    num_shards: NumShards = 1
    shard_index: ShardIndex = 0

    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :func:`prefspace.workflows.embed_file` they stand for.

        >>> ScalingOptions(num_shards=4, shard_index=1).kwargs()["shard_index"]
        1
        """
        return dataclasses.asdict(self)


scaling_options = option_group(ScalingOptions, "scaling")
"""Give ``embed`` its scaling options, collected into its ``scaling: ScalingOptions`` parameter."""


def slice_lines(run: Any) -> list[str]:
    """What one slice job did, as lines to print (an :class:`prefspace.workflows.EmbedRun`
    without pairs: the other slices are other jobs' work)."""
    stats, computed, cached = run.stats, run.new_texts, run.cached_texts
    rate = (
        f", {format_rate(computed, stats.seconds, 'texts')}" if computed and stats.seconds else ""
    )
    return [
        f"slice {run.shard_index} of {run.num_shards} of {run.data}: {computed:,} new texts embedded "
        f"({sum(stats.total.values()):,} distinct, {cached:,} already cached; the rest belong to other slices)",
        f"  {run.total_seconds:.1f} s in all ({stats.seconds:.1f} s embedding{rate})",
        f"  cache: {run.cache_dir} (fingerprint {run.encoder.vectors_fingerprint}); join the slices with "
        "`prefspace cache merge SLICE_CACHES... --into CACHE`",
    ]
