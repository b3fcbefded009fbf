"""``prefspace embed``, ``prefspace info`` and ``prefspace cache merge``.

``embed`` reads preference data, embeds every prompt and response once (through the cache) and
reports what was new and what was already cached. ``info`` says what a cache or a model folder
holds. The commands parse options and call :mod:`prefspace.embed`; nothing else.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from . import app
from ._options import (
    DataArg,
    DataColumns,
    EncoderBackend,
    data_columns,
    default_cache_dir,
    examples,
)
from ._progress import format_rate, show_progress
from ._scaling import (
    Engine,
    GpusPerWorker,
    NumShards,
    NumWorkers,
    RayAddress,
    ShardIndex,
    echo_slice_summary,
)


@app.command(
    epilog=examples(
        "prefspace embed pairs.jsonl",
        "prefspace embed pairs.jsonl --encoder smollm2-135m --num-shards 8 --shard-index $SLURM_ARRAY_TASK_ID",
    )
)
@data_columns(exclude=("dedupe",))
def embed(
    data: DataArg,
    columns: DataColumns,
    encoder: Annotated[
        str,
        typer.Option(
            "--encoder",
            "-e",
            help="Encoder name or path: all-MiniLM-L6-v2 (default), smollm2-135m, a folder, a .gguf file.",
        ),
    ] = "all-MiniLM-L6-v2",
    cache: Annotated[
        Path | None,
        typer.Option(
            "--cache",
            help="Embedding cache folder (default: $PREFSPACE_CACHE, else $PREFSPACE_HOME/embeddings, else ~/.cache/prefspace/embeddings; every command shares it).",
            show_default=False,
        ),
    ] = None,
    layout: Annotated[
        str | None,
        typer.Option(
            "--layout",
            help="'separate' (prompt and response apart, concatenated) or 'joint' (one text). Default: the encoder's.",
            show_default=False,
        ),
    ] = None,
    backend: EncoderBackend = "auto",
    layer: Annotated[
        int | None,
        typer.Option(
            "--layer", help="Causal LMs: hidden-state layer (-1 = last).", show_default=False
        ),
    ] = None,
    pooling: Annotated[
        str | None,
        typer.Option(
            "--pooling",
            help="Causal LMs: 'last' token or 'mean' over the response.",
            show_default=False,
        ),
    ] = None,
    max_length: Annotated[
        int | None,
        typer.Option(
            "--max-length",
            min=8,
            help="Token limit per text (default: the encoder's).",
            show_default=False,
        ),
    ] = None,
    device: Annotated[
        str | None,
        typer.Option("--device", help="cpu, cuda, ... (default: automatic).", show_default=False),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            min=1,
            help="Texts per forward pass (default: the encoder's).",
            show_default=False,
        ),
    ] = None,
    shard_size: Annotated[
        int,
        typer.Option(
            "--shard-size", min=1, help="New texts per cache shard (the most a killed run loses)."
        ),
    ] = 1024,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet", "-q", help="No progress (a bar on a terminal, plain lines in a log)."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    engine: Engine = "local",
    num_workers: NumWorkers = None,
    gpus_per_worker: GpusPerWorker = 0,
    ray_address: RayAddress = None,
    num_shards: NumShards = 1,
    shard_index: ShardIndex = 0,
    text_features: Annotated[
        bool,
        typer.Option(
            "--text-features/--no-text-features",
            help="Also measure each response's text-feature block (length, lines, lists, code, headings, truncation) into the cache, as `prefspace train` uses it.",
        ),
    ] = True,
    long_texts: Annotated[
        str,
        typer.Option(
            "--long-texts",
            help="Responses longer than the encoder's window: truncate (keep the start) or windows (mean of up to 8 windows; sentence-transformers encoders).",
        ),
    ] = "truncate",
) -> None:
    """Embed every prompt and response of DATA into the cache; each distinct text is embedded once.

    A second run finds everything cached and computes nothing. A run that is killed resumes
    where it stopped.
    """
    from ..embed.pipeline import ROLE_LABELS
    from ..workflows.embedding import embed_file

    show = not quiet and not as_json
    # our own bar replaces the Hugging Face libraries' loading bars (without importing them here,
    # which would cost seconds on a run that finds everything cached)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if "transformers" in sys.modules:
        sys.modules["transformers"].utils.logging.disable_progress_bar()
    options = {
        k: v
        for k, v in dict(
            layout=layout, layer=layer, pooling=pooling, max_length=max_length, device=device
        ).items()
        if v is not None
    }
    options["text_features"] = text_features
    if long_texts != "truncate":
        options["long_texts"] = long_texts
    with show_progress(show) as callback:
        run = embed_file(
            data,
            encoder=encoder,
            backend=backend,
            encoder_options=options,
            cache=cache or default_cache_dir(),
            load_kwargs=columns.load_kwargs(),
            engine=engine,
            num_shards=num_shards,
            shard_index=shard_index,
            num_workers=num_workers,
            gpus_per_worker=gpus_per_worker,
            ray_address=ray_address,
            batch_size=batch_size,
            shard_size=shard_size,
            progress=callback,
        )
    if as_json:
        typer.echo(json.dumps(run.to_json(), indent=2))
        return
    if run.n_pairs is None:
        return echo_slice_summary(run)
    enc, st = run.encoder, run.stats
    computed, cached = run.new_texts, run.cached_texts
    typer.echo(
        f"embedded {run.n_pairs:,} pairs from {data} with {encoder} "
        f"({enc.layout} layout, {enc.feature_dim} features per response)"
    )
    for role in st.total:
        typer.echo(
            f"  {ROLE_LABELS.get(role, role) + ':':<24}{st.total[role]:>8,} distinct  "
            f"{st.computed[role]:>8,} new  {st.cached[role]:>8,} cached"
        )
    rate = f", {format_rate(computed, st.seconds, 'texts')}" if computed and st.seconds else ""
    state = "everything was cached" if computed == 0 else f"{computed:,} new texts embedded"
    typer.echo(
        f"  {state}; {cached:,} cached; {run.total_seconds:.1f} s in all ({st.seconds:.1f} s embedding{rate})"
    )
    typer.echo(f"  cache: {run.cache_dir} (fingerprint {enc.vectors_fingerprint})")


def _human_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n} B"


@app.command(
    epilog=examples("prefspace info ~/.cache/prefspace/embeddings", "prefspace info runs/bt --json")
)
def info(
    path: Annotated[
        Path,
        typer.Argument(
            help="An embedding cache folder or a saved model folder.", show_default=False
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the description as JSON.")] = False,
) -> None:
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
            typer.echo(json.dumps(description, indent=2, default=str))
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
        typer.echo(json.dumps(summary, indent=2))
        return
    typer.echo(
        f"embedding cache {summary['directory']} (format v{summary['format_version']}): "
        f"{summary['texts']:,} texts, {_human_bytes(summary['bytes'])}"
    )
    for fp, s in summary["fingerprints"].items():
        encoder = s["encoder"] or {}
        typer.echo(f"  {fp}")
        typer.echo(
            f"      {_encoder_text(encoder)}: {s['texts']:,} texts x {s['dim']} dims "
            f"in {s['shards']} shards, {_human_bytes(s['bytes'])}"
        )
    if summary["temp_files"]:
        typer.echo(
            f"  {summary['temp_files']} temporary files left by interrupted runs (ignored; removed by the next embed)"
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


def _echo_model(d: dict) -> None:
    """A saved model in the same layout as a cache: a headline, then one indented line per part."""
    members = f" of {d['n_members']} members" if d.get("n_members") else ""
    typer.echo(
        f"model {d['path']} ({d['class']}{members}, {d.get('format') or '?'} v{d.get('format_version')}): "
        f"{d.get('n_features_in')} features, {_human_bytes(d.get('size_bytes') or 0)}"
    )
    enc = d.get("encoder") or {}
    if enc:
        typer.echo(
            f"  encoder:  {_encoder_text(enc.get('config') or {})}, fingerprint {enc.get('fingerprint')}"
        )
    else:
        typer.echo(
            "  encoder:  none recorded (embed with the training encoder and call model.predict yourself)"
        )
    params = d.get("params") or {}
    if params:
        typer.echo(
            "  params:   " + ", ".join(f"{k}={_value_text(v)}" for k, v in sorted(params.items()))
        )
    for label, metrics in (("metrics", d.get("metrics")), ("training", d.get("training_metrics"))):
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
            f"created {d['created']}" if d.get("created") else "",
            f"prefspace {d['prefspace_version']}" if d.get("prefspace_version") else "",
            f"training data {str(d['train_fingerprint'])[:12]}"
            if d.get("train_fingerprint")
            else "",
        )
        if x
    )
    if made:
        typer.echo(f"  made:     {made}")
    typer.echo(f"  files:    {', '.join(d.get('files') or [])}")


cache_app = typer.Typer(help="Manage embedding caches.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


@cache_app.command("compact", epilog=examples("prefspace cache compact .cache/emb"))
def cache_compact(
    path: Annotated[Path, typer.Argument(help="The cache to compact.", show_default=False)],
) -> None:
    """Rewrite each encoder's shards as one shard (after many small writes, e.g. by a server)."""
    from ..embed import EmbeddingCache

    removed = EmbeddingCache(path, create=False).compact()
    compacted = sum(1 for n in removed.values() if n)
    typer.echo(
        f"{path}: {sum(removed.values()):,} shards rewritten as {compacted} (one per key space that had several)"
    )


@cache_app.command(
    "merge", epilog=examples("prefspace cache merge slice-0 slice-1 slice-2 --into .cache/emb")
)
def cache_merge(
    sources: Annotated[list[Path], typer.Argument(help="Caches to copy from.", show_default=False)],
    into: Annotated[
        Path,
        typer.Option(
            "--into", help="The cache to copy into (created when missing).", show_default=False
        ),
    ],
) -> None:
    """Copy into --into every entry of the SOURCES caches that it lacks (same text and encoder)."""
    from ..embed.cache import merge_caches

    for src, added in merge_caches(sources, into):
        typer.echo(f"{src}: {sum(added.values()):,} texts added to {into}")
