"""``prefspace train`` and ``prefspace score``.

``train`` reads preference pairs, embeds what the cache lacks, holds out a test set grouped by
prompt (or reads one), optionally augments the training pairs, fits a reward head, prints the
metrics and saves the model with ``metrics.json`` beside it. ``score`` loads a saved model and
its encoder and writes a reward for every response of a file. Both parse options, call one
library function (:func:`prefspace.experiments.train_reward_model`,
:func:`prefspace.experiments.score_file`) and print what it returns; nothing else.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from . import app
from ._choices import RegistryHelpCommand, check_choice
from ._options import (
    ChosenKey,
    DataArg,
    Dedupe,
    IdKey,
    LabelKey,
    Limit,
    MaxTextChars,
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
    Device,
    ModelBackend,
    ModelEncoder,
    ModelLayout,
    EncoderBackend,
    default_cache_dir,
    preference_load_kwargs,
    examples,
)
from ._progress import show_progress


def _parse_params(items: list[str]) -> dict[str, Any]:
    """``["alpha=100", "hidden_sizes=[64]"]`` -> ``{"alpha": 100, "hidden_sizes": [64]}`` (JSON values, else text)."""
    from ..exceptions import ConfigError

    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--param expects NAME=VALUE (e.g. --param alpha=100); got {item!r}.")
        try:
            params[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            params[key.strip()] = value
    return params


@app.command(cls=RegistryHelpCommand, epilog=examples(
    "prefspace train pairs.jsonl --head bt-mlp --out runs/bt",
    "prefspace train pairs.jsonl --augment auto --param hidden_sizes=[64] --out runs/bt-auto"))
def train(
    data: DataArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Model folder to write (replaced if it holds a model).", show_default=False)],
    encoder: Annotated[str, typer.Option("--encoder", "-e", help="Encoder name or path (see `prefspace embed --help`).")] = "all-MiniLM-L6-v2",
    encoder_backend: EncoderBackend = "auto",
    cache: Annotated[Optional[Path], typer.Option("--cache", help="Embedding cache folder (default: $PREFSPACE_HOME/embeddings).", show_default=False)] = None,
    head: Annotated[str, typer.Option("--head", help="Reward head: {train_heads} (grouped cross-validation on the training pairs over heads and penalties; prints its choice).")] = "bt-linear",
    param: Annotated[Optional[list[str]], typer.Option("--param", help="Head parameter NAME=VALUE (JSON value), repeatable, e.g. --param alpha=100.", show_default=False)] = None,
    ensemble: Annotated[int, typer.Option("--ensemble", min=1, help="Train an ensemble of K heads (bootstrap samples, different seeds).")] = 1,
    aggregate: Annotated[str, typer.Option("--aggregate", help="Ensemble reward: {aggregates}.")] = "mean",
    test: Annotated[Optional[str], typer.Option("--test", help="Test pairs (same columns as DATA); default: hold out --test-fraction of DATA's prompts.", show_default=False)] = None,
    test_fraction: Annotated[float, typer.Option("--test-fraction", min=0.0, max=0.9, help="Share of DATA's pairs held out for testing, grouped by prompt (0: none).")] = 0.2,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the split, the augmentation and the head.")] = 0,
    augment: Annotated[str, typer.Option("--augment", help="Synthetic training pairs: {augment_methods}.")] = "none",
    factor: Annotated[int, typer.Option("--factor", min=1, help="Synthetic pairs per real pair (--augment).")] = 4,
    vae_data: Annotated[Optional[str], typer.Option("--vae-data", help="Responses without labels (prompt/response rows, or responses joined to --vae-prompts) for the latent model of --augment lens/pca to be fitted on as well.", show_default=False)] = None,
    vae_prompts: Annotated[Optional[str], typer.Option("--vae-prompts", help="Prompts file joined to --vae-data's rows by prompt_id (as for scored responses).", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
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
    dedupe: Dedupe = False,
    split: Split = None,
    limit: Limit = None,
    max_text_chars: MaxTextChars = None,
) -> None:
    """Train a reward model on the preference pairs in DATA and save it to --out.

    Embeds what the cache lacks, holds out a test set grouped by prompt (unless --test is
    given), fits the head, prints TRL-named metrics and writes OUT/metrics.json with the model.
    """
    check_choice(head, "train_heads", flag="--head")
    check_choice(augment, "augment_methods", flag="--augment")
    check_choice(aggregate, "aggregates", flag="--aggregate")
    from ..experiments.training import train_reward_model
    params = _parse_params(param or [])
    start = time.perf_counter()
    with show_progress() as progress:
        model, report = train_reward_model(
            data, encoder=encoder, encoder_backend=encoder_backend, cache=cache or default_cache_dir(), head=head, params=params, ensemble=ensemble,
            aggregate=aggregate, test=test, test_fraction=test_fraction, seed=seed, augment=augment, factor=factor,
            load_kwargs=preference_load_kwargs(locals()), out=out, vae_data=vae_data, vae_prompts=vae_prompts,
            command=_command_line(), progress=progress,
        )
    report["total_seconds"] = round(time.perf_counter() - start, 3)
    for which, source in (("data", data), ("test", test)):
        if report["ties_left_out"][which]:
            typer.echo(f"{source}: {report['ties_left_out'][which]} tied pairs left out (a tie states no preference)", err=True)

    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    if "head_auto" in report:
        typer.echo(f"--head auto chose {report['head_auto']['chosen']}: {report['head_auto']['reason']}")
        head = report["head_auto"]["head"]
    what = report["model"] + (f" of {ensemble} x {head}" if ensemble > 1 else f" ({head})")
    synth = f" + {report['n_synthetic']:,} synthetic ({(report.get('augment') or {}).get('method', augment)})" if report["n_synthetic"] else ""
    aug_time = f", augmentation {report['augment_seconds']:.1f} s" if report.get("augment") else ""
    typer.echo(f"trained {what} on {report['n_train']:,} pairs{synth} in {report['fit_seconds']:.1f} s "
               f"(embedding {report['embed_seconds']:.1f} s{aug_time}, {model.n_features_in_} features)")
    for which, source in (("data", data), ("test", test)):
        n_dup = (report.get("duplicates") or {}).get(which, 0)
        if n_dup:
            action = "dropped (--dedupe)" if dedupe else "kept; --dedupe drops them"
            typer.echo(f"  {source}: {n_dup:,} exact duplicate pairs ({action})")
    for line in augment_lines(report.get("augment")):
        typer.echo("  " + line)
    shown = ("accuracy", "loss", "margin", "mean_reward", "min_reward", "max_reward")
    for label, metrics in (("train", report["train"]), ("test", report["test"])):
        if metrics:
            typer.echo(f"  {label + ':':<7}" + "  ".join(f"{k} {metrics[k]:.4f}" for k in shown if k in metrics)
                       + f"  ({metrics.get('n_pairs', 0):,} pairs)")
    kept = (report.get("augment") or {}).get("heldout_variance_kept")
    if kept is not None:
        typer.echo(f"  the latent model keeps {100 * kept:.0f}% of held-out responses' variance "
                   f"({100 * report['augment']['train_variance_kept']:.0f}% of its training responses')")
    if "eval_accuracy" in report["train"]:
        typer.echo(f"  held out while training: eval_accuracy {report['train']['eval_accuracy']:.4f}")
    typer.echo(f"  saved to {out} (metrics.json, model.json, README.md)")


def _command_line() -> str | None:
    """``prefspace ...`` as typed, when this process is the prefspace command (None otherwise)."""
    program = sys.argv[0].replace("\\", "/") if sys.argv else ""
    if Path(program).name == "prefspace" or program.endswith(("prefspace/__main__.py", "prefspace/cli/__main__.py")):
        return shlex.join(["prefspace", *sys.argv[1:]])
    return None


def _candidate_label(c: dict) -> str:
    weight = c.get("weight")
    w = "1/k" if weight is None else f"{weight:g}"
    params = c.get("params") or {}
    extra = "".join(f", {k}={v}" for k, v in params.items())
    return f"{c.get('method')} x{c.get('factor')} (weight {w}{extra})"


def augment_lines(info: Optional[dict]) -> list[str]:
    """What ``--augment auto`` compared, what it chose and why, as lines to print (empty otherwise).

    Reads the report of ``augment_pairs`` (``requested``, ``chosen``, ``reason``, ``candidates``
    with each candidate's out-of-fold ``accuracy`` and its ``gain``/``z`` over real pairs only,
    and over the repeat control where the report has it).
    """
    if not info or info.get("requested") != "auto":
        return []
    cands = info.get("candidates") or []
    lines = []
    if cands:
        real = cands[0]["accuracy"] - cands[0]["gain"]
        lines.append(f"augment auto: cross-validated {len(cands)} candidates against real pairs only "
                     f"on the {info.get('n_real', 0):,} training pairs (out-of-fold accuracy on real pairs):")
        width = max(len(_candidate_label(c)) for c in cands)
        lines.append(f"  {'real pairs only':<{width}}  {real:.3f}")
        for c in cands:
            text = f"  {_candidate_label(c):<{width}}  {c['accuracy']:.3f}  {100 * c['gain']:+.1f} points (z {c['z']:.2f})"
            if "gain_vs_repeat" in c:
                text += f"; vs repeat {100 * c['gain_vs_repeat']:+.1f} points (z {c['z_vs_repeat']:.2f})"
            lines.append(text)
    chosen = info.get("chosen")
    if chosen:
        m, k, w, p = chosen
        choice = _candidate_label({"method": m, "factor": k, "weight": w, "params": p})
        lines.append(f"augment auto chose {choice}: {info.get('reason', '')}")
    else:
        lines.append(f"augment auto chose no synthesis (real pairs only): {info.get('reason', '')}")
    return lines


# ------------------------------------------------------------------------------------ score
@app.command(epilog=examples("prefspace score runs/bt responses.jsonl --out rewards.jsonl", "prefspace score runs/bt pairs.jsonl --device cuda --out rewards.jsonl"))
def score(
    model_dir: Annotated[Path, typer.Argument(help="A model folder written by `prefspace train` or save_model.", show_default=False)],
    data: DataArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="JSONL file to write, one line per response or pair.", show_default=False)],
    cache: Annotated[Optional[Path], typer.Option("--cache", help="Embedding cache folder (default: $PREFSPACE_HOME/embeddings).", show_default=False)] = None,
    response_key: Annotated[str, typer.Option("--response-key", help="Rows mode: column holding the response.")] = "response",
    encoder: ModelEncoder = None,
    encoder_backend: ModelBackend = None,
    layout: ModelLayout = None,
    device: Device = None,
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
    max_text_chars: MaxTextChars = None,
) -> None:
    """Write a reward for every response in DATA, embedding with the model's own encoder.

    DATA holds either preference pairs (any format `prefspace train` reads; each output line
    has reward_chosen, reward_rejected and p_chosen, P(chosen wins)) or prompt/response rows
    (each line keeps the row's other columns, e.g. prompt_id or generator, and adds its id and
    reward).
    """
    from ..experiments.scoring import model_encoder, score_file

    enc = model_encoder(model_dir, encoder, layout=layout, device=device, backend=encoder_backend)
    with show_progress() as progress:
        summary = score_file(model_dir, data, out, cache=cache or default_cache_dir(), response_key=response_key,
                             load_kwargs=preference_load_kwargs(locals()), encoder=enc, progress=progress)
    if summary["mode"] == "rows":
        kept = f" (kept columns: {', '.join(summary['columns'])})" if summary["columns"] else ""
        typer.echo(f"scored {summary['n']:,} responses; wrote {out}{kept}")
    else:
        typer.echo(f"scored {summary['n']:,} pairs: accuracy {summary['accuracy']:.4f} (chosen strictly higher); wrote {out}")
