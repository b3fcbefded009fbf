"""``prefspace export``: a saved reward model as a plain sentence-transformers folder."""

from __future__ import annotations

from pathlib import Path

import typer

from . import app
from ._groups import argument, option
from ._options import examples, out_option

ModelArg = argument(Path, "A model directory written by `prefspace train` / save_model.")
ExportOut = out_option("Folder to write (an earlier export there is replaced).")
ExportFormat = option(str, "--format", help="Export format: sentence-transformers.")


@app.command("export", epilog=examples("prefspace export runs/bt --out runs/bt-st"))
def export(model: ModelArg, out: ExportOut, format: ExportFormat = "sentence-transformers") -> None:
    """Write MODEL as a folder that `SentenceTransformer(OUT)` loads without prefspace; its output is the reward.

    Exact for linear and MLP heads (and their mean ensembles) on the joint layout; a linear head
    on the separate layout (the default) exports prompt-aware: encode_query(prompts) +
    encode_document(responses) is the reward. Other models are refused with the reason and the
    flag to retrain with. The folder is checked against prefspace's rewards before it is written.
    """
    from ..models.export import export_model

    result = export_model(model, out, format=format)
    layers = " -> ".join(
        f"Dense({layer['in']}->{layer['out']}, {layer['activation']})"
        + (f" [{layer['route']}]" if "route" in layer else "")
        for layer in result.layers
    )
    typer.echo(f"exported {model} to {out}: encoder modules, then {layers}")
    typer.echo(f"  input: {result.input}")
    if result.scope == "response_term":
        typer.echo(
            "  output: the response's term of the reward (separate layout): it ranks responses to one prompt "
            "exactly; absolute values differ from prefspace's by the prompt's term"
        )
    elif result.scope == "prompt_plus_response":
        typer.echo(
            "  output: encode_query(prompts)[:, 0] + encode_document(responses)[:, 0] is the reward; "
            "encode(responses) alone scores the response (exact for ranking responses to one prompt)"
        )
    else:
        typer.echo("  output: the reward")
    typer.echo(
        f"  checked: largest difference from prefspace {result.max_abs_diff:.2g} on {result.n_probe_texts} probe texts"
    )
