"""``prefspace synth``: synthetic preference pairs from real ones, with diagnostics.

Reads preference data, embeds it (through the cache), fits a synthesizer on all of it and
writes to ``--out``: ``synthetic.safetensors`` + ``provenance.csv`` (see
``prefspace.synth.io``), ``summary.json`` and, unless ``--no-diagnostics``, the plots
``reconstruction.png``, ``label_preservation.png`` and ``projection.png``. Parses options
and calls :mod:`prefspace.synth`; nothing else.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from .._atomic import write_text_atomic
from . import app
from ._options import (
    ChosenKey,
    DataArg,
    IdKey,
    LabelKey,
    Limit,
    MarginKey,
    OnBadRows,
    PromptKey,
    RejectedKey,
    ResponseAKey,
    ResponseBKey,
    Split,
    SubsetKey,
    Ties,
    WeightKey,
    preference_load_kwargs,
)


@app.command()
def synth(
    data: DataArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the synthetic pairs, provenance, summary and plots.", show_default=False)],
    encoder: Annotated[str, typer.Option("--encoder", "-e", help="Encoder name or path (as for `prefspace embed`).")] = "all-MiniLM-L6-v2",
    cache: Annotated[Optional[Path], typer.Option("--cache", help="Embedding cache folder (default: $PREFSPACE_HOME/embeddings).", show_default=False)] = None,
    method: Annotated[str, typer.Option("--method", "-m", help="lens, pca, perturb, gaussian or mixup.")] = "lens",
    factor: Annotated[int, typer.Option("--factor", "-k", min=1, help="Synthetic pairs per real pair.")] = 4,
    sigma2: Annotated[Optional[float], typer.Option("--sigma2", help="Perturbation variance (lens/pca: latent, paper 0.01; perturb: per standardised dimension).", show_default=False)] = None,
    latent_dim: Annotated[Optional[int], typer.Option("--latent-dim", min=1, help="lens/pca latent size (default 16, the paper's).", show_default=False)] = None,
    decoding: Annotated[Optional[str], typer.Option("--decoding", help="lens/pca: 'direct' (paper) or 'residual'.", show_default=False)] = None,
    vae_steps: Annotated[Optional[int], typer.Option("--vae-steps", min=1, help="lens: VAE optimisation steps (default 500).", show_default=False)] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives the same pairs.")] = 0,
    diagnostics: Annotated[bool, typer.Option("--diagnostics/--no-diagnostics", help="Also compute the diagnostics and write the plots.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    prompt_key: PromptKey = None,
    chosen_key: ChosenKey = None,
    rejected_key: RejectedKey = None,
    response_a_key: ResponseAKey = None,
    response_b_key: ResponseBKey = None,
    label_key: LabelKey = None,
    margin_key: MarginKey = None,
    weight_key: WeightKey = None,
    subset_key: SubsetKey = None,
    id_key: IdKey = None,
    on_bad_rows: OnBadRows = "error",
    ties: Ties = "drop",
    split: Split = None,
    limit: Limit = None,
) -> None:
    """Synthesize FACTOR new pairs per real pair of DATA in embedding space (LENS by default)."""
    from ..data import load_preferences
    from ..embed import EmbeddingCache, embed_pairs, get_encoder
    from ..synth import SYNTHESIZERS, make_synthesizer
    from ..synth import diagnostics as diag
    from ..synth.io import save_synthetic
    from .embed import default_cache_dir

    start = time.perf_counter()
    if method not in SYNTHESIZERS:
        from ..exceptions import ConfigError

        raise ConfigError(f"--method must be one of {', '.join(SYNTHESIZERS)}; got {method!r}. (Use `prefspace train --augment auto` for the guarded choice.)")
    params = {"sigma2": sigma2, "latent_dim": latent_dim, "decoding": decoding, "max_steps": vae_steps}
    params = {k: v for k, v in params.items() if v is not None}
    synthesizer = make_synthesizer(method, random_state=seed, **params)

    dataset = load_preferences(data, **preference_load_kwargs(locals()))
    enc = get_encoder(encoder)
    cache_dir = cache or default_cache_dir()
    pairs = embed_pairs(dataset, enc, EmbeddingCache(cache_dir))
    t_embed = time.perf_counter() - start

    t0 = time.perf_counter()
    synthesizer.fit(pairs.X)
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    syn = synthesizer.sample(factor)
    t_sample = time.perf_counter() - t0
    out.mkdir(parents=True, exist_ok=True)
    save_synthetic(out, syn, parent_ids=list(pairs.ids), metadata={"encoder_fingerprint": pairs.fingerprint, "dataset_fingerprint": getattr(pairs, "dataset_fingerprint", "")})

    summary = {
        "data": str(data),
        "pairs": len(pairs.X),
        "method": method,
        "factor": factor,
        "synthetic_pairs": len(syn),
        "params": synthesizer.get_params(),
        "encoder": enc.config(),
        "encoder_fingerprint": pairs.fingerprint,
        "feature_dim": int(pairs.X.shape[2]),
        "shared_columns": int(synthesizer.shared_mask_.sum()),
        "seconds": {"embed": round(t_embed, 3), "fit": round(t_fit, 3), "sample": round(t_sample, 3)},
        "files": {"pairs": "synthetic.safetensors", "provenance": "provenance.csv"},
    }
    if hasattr(synthesizer, "reconstruction_report"):
        summary["reconstruction"] = synthesizer.reconstruction_report()
    if diagnostics and len(pairs.X) >= 10:
        t0 = time.perf_counter()
        n = len(pairs.X)
        sizes = sorted({s for s in (25, 50, 100, 250, 500, 1000) if s <= (2 * n) // 3} | {(2 * n) // 3})
        if hasattr(synthesizer, "reconstruction_report"):
            curve = diag.reconstruction_curve(pairs.X, synthesizer, sizes, random_state=seed)
            summary["reconstruction_curve"] = curve
            diag.plot_reconstruction(curve, out / "reconstruction.png")
        own = synthesizer.get_params().get("sigma2")
        sigma2s = sorted({0.0025, 0.01, 0.04, 0.16} | ({float(own)} if own is not None else set()))
        pres = diag.label_preservation(pairs.X, synthesizer, sigma2s=sigma2s, random_state=seed)
        summary["label_preservation"] = pres
        diag.plot_label_preservation(pres, out / "label_preservation.png")
        diag.plot_projection(pairs.X, syn, out / "projection.png", random_state=seed)
        summary["files"].update(reconstruction="reconstruction.png" if "reconstruction_curve" in summary else None,
                                label_preservation="label_preservation.png", projection="projection.png")
        summary["seconds"]["diagnostics"] = round(time.perf_counter() - t0, 3)
    summary["seconds"]["total"] = round(time.perf_counter() - start, 3)
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2, default=str))

    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    typer.echo(f"synthesized {len(syn):,} pairs ({method}, x{factor}) from {len(pairs.X):,} real pairs of {data}")
    typer.echo(f"  fit {t_fit:.1f} s, sample {t_sample:.2f} s; embeddings {pairs.X.shape[2]}-d from {encoder}")
    if "reconstruction" in summary:
        r = summary["reconstruction"]
        typer.echo(f"  latent model keeps {100 * r['variance_kept']:.0f}% of the response variance ({r['latent_dim']}-d latent)")
    if "label_preservation" in summary:
        cell = next((p for p in summary["label_preservation"] if p["factor"] == factor and p["sigma2"] in (None, synthesizer.get_params().get("sigma2"))), None)
        if cell:
            typer.echo(f"  an independent reward model agrees with {100 * cell['agreement']:.0f}% of inherited labels "
                       f"(with {100 * cell['real_agreement']:.0f}% of real labels)")
    typer.echo(f"  wrote {out}/synthetic.safetensors, provenance.csv, summary.json" + (" and 3 plots" if diagnostics else ""))
