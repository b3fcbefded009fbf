"""``prefspace synth``: synthetic preference pairs from real ones, with diagnostics.

Reads preference data, embeds it (through the cache), fits a synthesizer on all of it and
writes to ``--out``: ``synthetic.safetensors`` + ``provenance.csv`` (see
``prefspace.synth.io``), ``summary.json`` and, unless ``--diagnostics none``, the plots
``reconstruction.png``, ``label_preservation.png`` and ``projection.png``. Parses options,
calls :func:`prefspace.workflows.synthesize_file` and prints its summary; nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import typer

from . import app
from ._choices import RegistryChoice, RegistryHelpCommand
from ._encoder_options import EMBED_ONLY, EncoderOptions, encoder_options
from ._groups import option
from ._options import (
    DataArg,
    DataColumns,
    data_columns,
    examples,
    figure_format_option,
    json_flag,
    out_option,
)
from ._progress import show_progress

if TYPE_CHECKING:
    from ..workflows.synthesis import Reconstruction, SynthesisSummary

SynthOut = out_option("Folder for the synthetic pairs, provenance, summary and plots.")
Method = option(
    str,
    "--method",
    "-m",
    help="Synthesizer: {synthesizers} (the guarded choice is `prefspace train --augment auto`).",
    parser=RegistryChoice("synthesizers"),
)
Factor = option(int, "--factor", "-k", help="Synthetic pairs per real pair.", min=1)
Sigma2 = option(
    float | None,
    "--sigma2",
    help="Perturbation variance (lens/pca: latent, paper 0.01; perturb: per standardised dimension).",
)
LatentDim = option(
    int | None, "--latent-dim", help="lens/pca latent size (default 16, the paper's).", min=1
)
Decoding = option(str | None, "--decoding", help="lens/pca: 'direct' (paper) or 'residual'.")
VaeSteps = option(
    int | None, "--vae-steps", help="lens: VAE optimisation steps (default 500).", min=1
)
Seed = option(int, "--seed", help="Random seed; the same seed gives the same pairs.", min=0)
Diagnostics = option(
    Literal["none", "fast", "full"],
    "--diagnostics",
    help="Diagnostics and their plots: 'fast' (two refits of the latent model and "
    "the label check at this sigma2 and factor), 'full' (six refits, four sigma2 values, factors 2, 4 "
    "and 8; several times the synthesis' cost) or 'none'.",
)
NoDiagnostics = option(bool, "--no-diagnostics", help="Same as --diagnostics none.", hidden=True)
FigureFormat = figure_format_option(
    "Plots as PNG only, or also as SVG or PDF beside each PNG (for a paper)."
)
SummaryJson = json_flag("the summary")


@app.command(
    cls=RegistryHelpCommand,
    epilog=examples(
        "prefspace synth pairs.jsonl --factor 4 --out synth/",
        "prefspace synth pairs.jsonl --diagnostics full --figure-format pdf --out synth/",
    ),
)
@data_columns()
@encoder_options(
    exclude=(*EMBED_ONLY, "layout", "text_features", "long_texts"),
    helps={"encoder": "Encoder name or path (as for `prefspace embed`)."},
)
def synth(
    data: DataArg,
    out: SynthOut,
    encoding: EncoderOptions,
    method: Method = "lens",
    factor: Factor = 4,
    sigma2: Sigma2 = None,
    latent_dim: LatentDim = None,
    decoding: Decoding = None,
    vae_steps: VaeSteps = None,
    seed: Seed = 0,
    diagnostics: Diagnostics = "fast",
    no_diagnostics: NoDiagnostics = False,
    figure_format: FigureFormat = "png",
    as_json: SummaryJson = False,
    *,
    columns: DataColumns,
) -> None:
    """Synthesize FACTOR new pairs per real pair of DATA in embedding space (LENS by default)."""
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
            encoder=encoding.encoder,
            encoder_backend=encoding.encoder_backend,
            cache=encoding.cache_dir(),
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
        typer.echo(json.dumps(summary.to_json(), indent=2))
        return
    typer.echo(summary.cache.describe())
    lines = synth_lines(
        summary, data=data, encoder=encoding.encoder, out=out, figure_format=figure_format
    )
    for line in lines:
        typer.echo(line)


def synth_lines(
    summary: SynthesisSummary, *, data: str, encoder: str, out: Path, figure_format: str
) -> list[str]:
    """What ``synth`` prints after synthesizing: the pairs, the time, the latent model's
    reconstruction, the label check, the diagnostics' cost and the files written."""
    seconds, method, factor = summary.seconds, summary.method, summary.factor
    lines = [
        f"synthesized {summary.synthetic_pairs:,} pairs ({method}, x{factor}) from {summary.pairs:,} real pairs of {data}",
        f"  fit {seconds.fit:.1f} s, sample {seconds.sample:.2f} s; embeddings {summary.feature_dim}-d from {encoder}",
    ]
    if summary.reconstruction is not None:
        lines.append(_reconstruction_line(summary.reconstruction))
    cell = _label_cell(summary)
    if cell:
        lines.append(
            f"  an independent reward model agrees with {100 * cell['agreement']:.0f}% of inherited labels "
            f"(with {100 * cell['real_agreement']:.0f}% of real labels)"
        )
    if seconds.diagnostics is not None:
        other = {"fast": "--diagnostics full visits more sizes and sigma2 values; ", "full": ""}[
            summary.diagnostics
        ]
        lines.append(
            f"  diagnostics ({summary.diagnostics}) took {seconds.diagnostics:.1f} s of {seconds.total:.1f} s; "
            f"{other}--diagnostics none skips them"
        )
    plots = [name for name in summary.files.values() if name and name.endswith(".png")]
    extra = f" (+ {figure_format.upper()} copies)" if plots and figure_format != "png" else ""
    lines.append(
        f"  wrote {out}/synthetic.safetensors, provenance.csv, summary.json"
        + (f" and {len(plots)} plots{extra}" if plots else "")
    )
    return lines


def _reconstruction_line(r: Reconstruction) -> str:
    """How much of the response variance the latent model keeps, fitted and held out."""
    line = (
        f"  latent model ({r.latent_dim}-d) keeps {100 * r.variance_kept:.0f}% of the response variance "
        "on the pairs it was fitted on"
    )
    held = r.heldout
    if held is None:
        return line + "; the held-out share needs --diagnostics fast or full"
    how = (
        "the fit's own early-stopping pairs"
        if held.pairs == "early_stopping"
        else f"refitted on {held.fit_pairs:,} of them, measured on others"
    )
    return line + f", {100 * held.variance_kept:.0f}% on held-out pairs ({how})"


def _label_cell(summary: SynthesisSummary) -> dict | None:
    """The label-preservation check at the run's own factor and sigma2, if it was made."""
    own = summary.params.get("sigma2")
    return next(
        (
            p
            for p in summary.label_preservation or ()
            if p["factor"] == summary.factor and p["sigma2"] in (None, own)
        ),
        None,
    )
