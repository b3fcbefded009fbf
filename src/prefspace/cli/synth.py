"""``prefspace synth``: synthetic preference pairs from real ones, with diagnostics.

Reads preference data, embeds it (through the cache), fits a synthesizer on all of it and
writes to ``--out``: ``synthetic.safetensors`` + ``provenance.csv`` (see
``prefspace.synth.io``), ``summary.json`` and, unless ``--diagnostics none``, the plots
``reconstruction.png``, ``label_preservation.png`` and ``projection.png``. Parses options,
calls :func:`prefspace.experiments.synthesize_file` and prints its summary; nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer

from . import app
from ._choices import RegistryChoice, RegistryHelpCommand
from ._options import (
    CacheOpt,
    DataArg,
    DataColumns,
    EncoderBackend,
    data_columns,
    default_cache_dir,
    examples,
)
from ._progress import show_progress


@app.command(
    cls=RegistryHelpCommand,
    epilog=examples(
        "prefspace synth pairs.jsonl --factor 4 --out synth/",
        "prefspace synth pairs.jsonl --diagnostics full --figure-format pdf --out synth/",
    ),
)
@data_columns()
def synth(
    data: DataArg,
    columns: DataColumns,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Folder for the synthetic pairs, provenance, summary and plots.",
            show_default=False,
        ),
    ],
    encoder: Annotated[
        str,
        typer.Option("--encoder", "-e", help="Encoder name or path (as for `prefspace embed`)."),
    ] = "all-MiniLM-L6-v2",
    encoder_backend: EncoderBackend = "auto",
    cache: CacheOpt = None,
    method: Annotated[
        str,
        typer.Option(
            "--method",
            "-m",
            parser=RegistryChoice("synthesizers"),
            help="Synthesizer: {synthesizers} (the guarded choice is `prefspace train --augment auto`).",
        ),
    ] = "lens",
    factor: Annotated[
        int, typer.Option("--factor", "-k", min=1, help="Synthetic pairs per real pair.")
    ] = 4,
    sigma2: Annotated[
        float | None,
        typer.Option(
            "--sigma2",
            help="Perturbation variance (lens/pca: latent, paper 0.01; perturb: per standardised dimension).",
            show_default=False,
        ),
    ] = None,
    latent_dim: Annotated[
        int | None,
        typer.Option(
            "--latent-dim",
            min=1,
            help="lens/pca latent size (default 16, the paper's).",
            show_default=False,
        ),
    ] = None,
    decoding: Annotated[
        str | None,
        typer.Option(
            "--decoding", help="lens/pca: 'direct' (paper) or 'residual'.", show_default=False
        ),
    ] = None,
    vae_steps: Annotated[
        int | None,
        typer.Option(
            "--vae-steps",
            min=1,
            help="lens: VAE optimisation steps (default 500).",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", min=0, help="Random seed; the same seed gives the same pairs.")
    ] = 0,
    diagnostics: Annotated[
        Literal["none", "fast", "full"],
        typer.Option(
            "--diagnostics",
            help="Diagnostics and their plots: 'fast' (two refits of the latent model and "
            "the label check at this sigma2 and factor), 'full' (six refits, four sigma2 values, factors 2, 4 "
            "and 8; several times the synthesis' cost) or 'none'.",
        ),
    ] = "fast",
    no_diagnostics: Annotated[
        bool, typer.Option("--no-diagnostics", help="Same as --diagnostics none.", hidden=True)
    ] = False,
    figure_format: Annotated[
        Literal["png", "svg", "pdf"],
        typer.Option(
            "--figure-format",
            help="Plots as PNG only, or also as SVG or PDF beside each PNG (for a paper).",
        ),
    ] = "png",
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Synthesize FACTOR new pairs per real pair of DATA in embedding space (LENS by default)."""
    from ..embed.pipeline import describe_cache_use
    from ..workflows.synthesis import synthesize_file

    params = {
        "sigma2": sigma2,
        "latent_dim": latent_dim,
        "decoding": decoding,
        "max_steps": vae_steps,
    }
    with show_progress() as progress:
        summary = synthesize_file(
            data,
            out,
            encoder=encoder,
            encoder_backend=encoder_backend,
            cache=cache or default_cache_dir(),
            method=method,
            factor=factor,
            params={k: v for k, v in params.items() if v is not None},
            random_state=seed,
            diagnostics="none" if no_diagnostics else diagnostics,
            load_kwargs=columns.load_kwargs(),
            figure_format=figure_format,
            progress=progress,
        )

    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    seconds = summary["seconds"]
    typer.echo(describe_cache_use(summary["cache"]))
    typer.echo(
        f"synthesized {summary['synthetic_pairs']:,} pairs ({method}, x{factor}) from {summary['pairs']:,} real pairs of {data}"
    )
    typer.echo(
        f"  fit {seconds['fit']:.1f} s, sample {seconds['sample']:.2f} s; embeddings {summary['feature_dim']}-d from {encoder}"
    )
    if "reconstruction" in summary:
        r = summary["reconstruction"]
        line = (
            f"  latent model ({r['latent_dim']}-d) keeps {100 * r['variance_kept']:.0f}% of the response variance "
            "on the pairs it was fitted on"
        )
        if r.get("heldout_variance_kept") is not None:
            how = (
                "the fit's own early-stopping pairs"
                if r.get("heldout_pairs") == "early_stopping"
                else f"refitted on {r['heldout_fit_pairs']:,} of them, measured on others"
            )
            line += f", {100 * r['heldout_variance_kept']:.0f}% on held-out pairs ({how})"
        else:
            line += "; the held-out share needs --diagnostics fast or full"
        typer.echo(line)
    if "label_preservation" in summary:
        own = summary["params"].get("sigma2")
        cell = next(
            (
                p
                for p in summary["label_preservation"]
                if p["factor"] == factor and p["sigma2"] in (None, own)
            ),
            None,
        )
        if cell:
            typer.echo(
                f"  an independent reward model agrees with {100 * cell['agreement']:.0f}% of inherited labels "
                f"(with {100 * cell['real_agreement']:.0f}% of real labels)"
            )
    if "diagnostics" in seconds:
        other = {"fast": "--diagnostics full visits more sizes and sigma2 values; ", "full": ""}[
            summary["diagnostics"]
        ]
        typer.echo(
            f"  diagnostics ({summary['diagnostics']}) took {seconds['diagnostics']:.1f} s of {seconds['total']:.1f} s; "
            f"{other}--diagnostics none skips them"
        )
    plots = [name for name in summary["files"].values() if name and name.endswith(".png")]
    extra = f" (+ {figure_format.upper()} copies)" if plots and figure_format != "png" else ""
    typer.echo(
        f"  wrote {out}/synthetic.safetensors, provenance.csv, summary.json"
        + (f" and {len(plots)} plots{extra}" if plots else "")
    )
