"""``prefspace embed``, ``prefspace info``, ``prefspace cache merge`` and ``cache compact``.

``embed`` reads preference data, embeds every prompt and response once (through the cache) and
reports what was new and what was already cached. ``info`` says what a cache or a model folder
holds. The commands parse options and call :mod:`prefspace.embed`; nothing else.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from . import app
from ._encoder_options import EncoderOptions, encoder_options
from ._groups import argument, option
from ._options import DataArg, DataColumns, data_columns, examples, json_flag
from ._progress import format_rate, show_progress
from ._scaling import ScalingOptions, scaling_options, slice_lines

if TYPE_CHECKING:
    from ..models.persistence import ModelDescription

ShardSize = option(
    int, "--shard-size", help="New texts per cache shard (the most a killed run loses).", min=1
)
Quiet = option(
    bool, "--quiet", "-q", help="No progress (a bar on a terminal, plain lines in a log)."
)
SummaryJson = json_flag("the summary")
InfoPath = argument(Path, "An embedding cache folder or a saved model folder.")
DescriptionJson = json_flag("the description")
CompactPath = argument(Path, "The cache to compact.")
MergeSources = argument(list[Path], "Caches to copy from.")
MergeInto = option(
    Path, "--into", help="The cache to copy into (created when missing).", show_default=False
)


@app.command(
    epilog=examples(
        "prefspace embed pairs.jsonl",
        "prefspace embed pairs.jsonl --encoder smollm2-135m --num-shards 8 --shard-index $SLURM_ARRAY_TASK_ID",
    )
)
@data_columns(exclude=("dedupe",))
@encoder_options()
@scaling_options()
def embed(
    data: DataArg,
    encoding: EncoderOptions,
    shard_size: ShardSize = 1024,
    quiet: Quiet = False,
    as_json: SummaryJson = False,
    *,
    scaling: ScalingOptions,
    columns: DataColumns,
) -> None:
    """Embed every prompt and response of DATA into the cache; each distinct text is embedded once.

    A second run finds everything cached and computes nothing. A run that is killed resumes
    where it stopped.
    """
    from ..workflows.embedding import embed_file

    _quiet_hugging_face_bars()
    with show_progress(not quiet and not as_json) as callback:
        run = embed_file(
            data,
            encoder=encoding.encoder,
            backend=encoding.encoder_backend,
            encoder_options=encoding.encoder_kwargs(),
            cache=encoding.cache_dir(),
            load_kwargs=columns.load_kwargs(),
            batch_size=encoding.batch_size,
            shard_size=shard_size,
            progress=callback,
            **scaling.kwargs(),
        )
    if as_json:
        typer.echo(json.dumps(run.to_json(), indent=2))
        return
    lines = slice_lines(run) if run.n_pairs is None else embed_lines(run, encoding.encoder)
    for line in lines:
        typer.echo(line)


def _quiet_hugging_face_bars() -> None:
    """Our own bar replaces the Hugging Face libraries' loading bars (without importing them
    here, which would cost seconds on a run that finds everything cached)."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if "transformers" in sys.modules:
        sys.modules["transformers"].utils.logging.disable_progress_bar()


def embed_lines(run: Any, encoder: str) -> list[str]:
    """What an :class:`prefspace.workflows.EmbedRun` of every pair did, as lines to print: the
    pairs, each role's distinct, new and cached texts, the time and the cache."""
    from ..embed.pipeline import ROLE_LABELS

    enc, st = run.encoder, run.stats
    computed, cached = run.new_texts, run.cached_texts
    lines = [
        f"embedded {run.n_pairs:,} pairs from {run.data} with {encoder} "
        f"({enc.layout} layout, {enc.feature_dim} features per response)"
    ]
    for role in st.total:
        lines.append(
            f"  {ROLE_LABELS.get(role, role) + ':':<24}{st.total[role]:>8,} distinct  "
            f"{st.computed[role]:>8,} new  {st.cached[role]:>8,} cached"
        )
    rate = f", {format_rate(computed, st.seconds, 'texts')}" if computed and st.seconds else ""
    state = "everything was cached" if computed == 0 else f"{computed:,} new texts embedded"
    lines.append(
        f"  {state}; {cached:,} cached; {run.total_seconds:.1f} s in all ({st.seconds:.1f} s embedding{rate})"
    )
    lines.append(f"  cache: {run.cache_dir} (fingerprint {enc.vectors_fingerprint})")
    return lines


def _human_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n} B"


@app.command(
    epilog=examples("prefspace info ~/.cache/prefspace/embeddings", "prefspace info runs/bt --json")
)
def info(path: InfoPath, as_json: DescriptionJson = False) -> None:
    """Say what an embedding cache (encoders, texts, dimensions, shards, size) or a model folder
    (head, encoder, training data, metrics, files) holds."""
    from ..embed import EmbeddingCache, is_cache
    from ..exceptions import ConfigError

    if (path / "model.json").is_file():
        from ..models import describe_model, load_model

        load_model(
            path
        )  # checks model.json, the paths it names and the weights (exit 2 when damaged)
        description = describe_model(path)
        if as_json:
            typer.echo(json.dumps(description.to_json(), indent=2, default=str))
        else:
            _echo_model(description)
        return
    if not is_cache(path):
        raise ConfigError(
            f"{path} is neither an embedding cache (no prefspace-cache.json) nor a model folder (no model.json). "
            "Pass the folder given to `prefspace embed --cache` or to save_model."
        )
    summary = EmbeddingCache(path, create=False).summary()
    if as_json:
        typer.echo(json.dumps(summary.to_json(), indent=2))
        return
    typer.echo(
        f"embedding cache {summary.directory} (format v{summary.format_version}): "
        f"{summary.texts:,} texts, {_human_bytes(summary.bytes)}"
    )
    for space in summary.fingerprints:
        typer.echo(f"  {space.fingerprint}")
        typer.echo(
            f"      {_encoder_text(space.encoder or {})}: {space.texts:,} texts x {space.dim} dims "
            f"in {space.shards} shards, {_human_bytes(space.bytes)}"
        )
    if summary.temp_files:
        typer.echo(
            f"  {summary.temp_files} temporary files left by interrupted runs (ignored; removed by the next embed)"
        )


def _encoder_text(encoder: dict) -> str:
    """``"sentence-transformers all-MiniLM-L6-v2 (layout=separate, max_length=256)"``."""
    name = encoder.get("model") or encoder.get("name") or "?"
    extra = ", ".join(
        f"{k}={encoder[k]}"
        for k in ("layout", "layer", "pooling", "max_length")
        if encoder.get(k) is not None
    )
    return f"{encoder.get('backend', '?')} {name}" + (f" ({extra})" if extra else "")


def _value_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):  # a nested estimator: its class
        return str(value.get("class") or value.get("__class__") or "{...}")
    return str(value)


def _echo_model(d: ModelDescription) -> None:
    """A saved model in the same layout as a cache: a headline, then one indented line per part."""
    members = f" of {d.n_members} members" if d.n_members else ""
    typer.echo(
        f"model {d.path} ({d.class_name}{members}, {d.format or '?'} v{d.format_version}): "
        f"{d.n_features_in} features, {_human_bytes(d.size_bytes or 0)}"
    )
    enc = d.encoder or {}
    if enc:
        typer.echo(
            f"  encoder:  {_encoder_text(enc.get('config') or {})}, fingerprint {enc.get('fingerprint')}"
        )
    else:
        typer.echo(
            "  encoder:  none recorded (embed with the training encoder and call model.predict yourself)"
        )
    params = d.params or {}
    if params:
        typer.echo(
            "  params:   " + ", ".join(f"{k}={_value_text(v)}" for k, v in sorted(params.items()))
        )
    for label, metrics in (("metrics", d.metrics), ("training", d.training_metrics)):
        shown = {
            k: v
            for k, v in (metrics or {}).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        if shown:
            typer.echo(
                f"  {label + ':':<9} "
                + ", ".join(f"{k} {_value_text(v)}" for k, v in shown.items())
            )
    made = ", ".join(
        x
        for x in (
            f"created {d.created}" if d.created else "",
            f"prefspace {d.prefspace_version}" if d.prefspace_version else "",
            f"training data {str(d.train_fingerprint)[:12]}" if d.train_fingerprint else "",
        )
        if x
    )
    if made:
        typer.echo(f"  made:     {made}")
    typer.echo(f"  files:    {', '.join(d.files)}")


cache_app = typer.Typer(help="Manage embedding caches.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


@cache_app.command("compact", epilog=examples("prefspace cache compact .cache/emb"))
def cache_compact(path: CompactPath) -> None:
    """Rewrite each encoder's shards as one shard (after many small writes, e.g. by a server)."""
    from ..embed import EmbeddingCache

    report = EmbeddingCache(path, create=False).compact()
    typer.echo(
        f"{path}: {report.shards_rewritten:,} shards rewritten as {report.key_spaces_compacted} "
        "(one per key space that had several)"
    )


@cache_app.command(
    "merge", epilog=examples("prefspace cache merge slice-0 slice-1 slice-2 --into .cache/emb")
)
def cache_merge(sources: MergeSources, into: MergeInto) -> None:
    """Copy into --into every entry of the SOURCES caches that it lacks (same text and encoder)."""
    from ..embed import merge_caches

    for report in merge_caches(sources, into):
        typer.echo(f"{report.source}: {report.texts_added:,} texts added to {into}")
