"""``prefspace train`` and ``prefspace score``.

``train`` reads preference pairs, embeds what the cache lacks, holds out a test set grouped by
prompt (or reads one), optionally augments the training pairs, fits a reward head, prints the
metrics and saves the model with ``metrics.json`` beside it. ``score`` loads a saved model and
its encoder and writes a reward for every response of a file. Both parse options, call one
library function (:func:`prefspace.workflows.train_reward_model`,
:func:`prefspace.workflows.score_file`) and print what it returns; nothing else.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from . import app
from ._choices import RegistryChoice, RegistryHelpCommand
from ._options import (
    CacheOpt,
    DataArg,
    DataColumns,
    Device,
    EncoderBackend,
    LengthControlled,
    ModelBackend,
    ModelEncoder,
    ModelLayout,
    data_columns,
    default_cache_dir,
    examples,
)
from ._progress import show_progress


def _parse_params(items: list[str]) -> dict[str, Any]:
    """``["alpha=100", "hidden_sizes=[64]"]`` -> ``{"alpha": 100, "hidden_sizes": [64]}`` (JSON values, else text)."""
    from .._jsonread import JSONLimitError
    from .._jsonread import loads as json_loads
    from ..exceptions import ConfigError

    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--param expects NAME=VALUE (e.g. --param alpha=100); got {item!r}.")
        try:
            params[key.strip()] = json_loads(value)
        except JSONLimitError as exc:  # JSON, but too deep or too long to be a parameter
            raise ConfigError(
                f"--param {key.strip()}: {exc.msg}; a parameter is a number, text or a short list."
            ) from None
        except json.JSONDecodeError:
            params[key.strip()] = value
    return params


@app.command(
    cls=RegistryHelpCommand,
    epilog=examples(
        "prefspace train pairs.jsonl --head bt-mlp --out runs/bt",
        "prefspace train pairs.jsonl --augment auto --param hidden_sizes=[64] --out runs/bt-auto",
    ),
)
@data_columns()
def train(
    data: DataArg,
    columns: DataColumns,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Model folder to write (replaced if it holds a model).",
            show_default=False,
        ),
    ],
    encoder: Annotated[
        str,
        typer.Option(
            "--encoder", "-e", help="Encoder name or path (see `prefspace embed --help`)."
        ),
    ] = "all-MiniLM-L6-v2",
    encoder_backend: EncoderBackend = "auto",
    layout: Annotated[
        str | None,
        typer.Option(
            "--layout",
            help="'separate' (prompt and response embedded apart; the default for sentence-transformers encoders) or 'joint' (one text; MLP heads then export exactly with `prefspace export`).",
            show_default=False,
        ),
    ] = None,
    cache: CacheOpt = None,
    head: Annotated[
        str,
        typer.Option(
            "--head",
            parser=RegistryChoice("train_heads"),
            help="Reward head: {train_heads} (grouped cross-validation on the training pairs over heads and penalties; prints its choice).",
        ),
    ] = "bt-linear",
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            help="Head parameter NAME=VALUE (JSON value), repeatable, e.g. --param alpha=100.",
            show_default=False,
        ),
    ] = None,
    ensemble: Annotated[
        int,
        typer.Option(
            "--ensemble",
            min=1,
            help="Train an ensemble of K heads (bootstrap samples, different seeds).",
        ),
    ] = 1,
    aggregate: Annotated[
        str,
        typer.Option(
            "--aggregate",
            parser=RegistryChoice("aggregates"),
            help="Ensemble reward: {aggregates}.",
        ),
    ] = "mean",
    test: Annotated[
        str | None,
        typer.Option(
            "--test",
            help="Test pairs (same columns as DATA); default: hold out --test-fraction of DATA's prompts.",
            show_default=False,
        ),
    ] = None,
    test_fraction: Annotated[
        float,
        typer.Option(
            "--test-fraction",
            min=0.0,
            max=0.9,
            help="Share of DATA's pairs held out for testing, grouped by prompt (0: none).",
        ),
    ] = 0.2,
    seed: Annotated[
        int, typer.Option("--seed", min=0, help="Seed of the split, the augmentation and the head.")
    ] = 0,
    augment: Annotated[
        str,
        typer.Option(
            "--augment",
            parser=RegistryChoice("augment_methods"),
            help="Synthetic training pairs: {augment_methods}.",
        ),
    ] = "none",
    factor: Annotated[
        int, typer.Option("--factor", min=1, help="Synthetic pairs per real pair (--augment).")
    ] = 4,
    vae_data: Annotated[
        str | None,
        typer.Option(
            "--vae-data",
            help="Responses without labels (prompt/response rows, or responses joined to --vae-prompts) for the latent model of --augment lens/pca to be fitted on as well.",
            show_default=False,
        ),
    ] = None,
    vae_prompts: Annotated[
        str | None,
        typer.Option(
            "--vae-prompts",
            help="Prompts file joined to --vae-data's rows by prompt_id (as for scored responses).",
            show_default=False,
        ),
    ] = None,
    text_features: Annotated[
        bool,
        typer.Option(
            "--text-features/--no-text-features",
            help="Give the head the text-feature block (length, lines, lists, code, headings, truncation) beside the embedding, with a penalty of its own (docs/models.md).",
        ),
    ] = True,
    long_texts: Annotated[
        str,
        typer.Option(
            "--long-texts",
            help="Responses longer than the encoder's window: truncate (keep the start) or windows (mean of up to 8 windows; sentence-transformers encoders).",
        ),
    ] = "truncate",
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """Train a reward model on the preference pairs in DATA and save it to --out.

    Embeds what the cache lacks, holds out a test set grouped by prompt (unless --test is
    given), fits the head, prints TRL-named metrics and writes OUT/metrics.json with the model.
    """
    from ..embed.pipeline import describe_cache_use
    from ..workflows.training import train_reward_model

    params = _parse_params(param or [])
    start = time.perf_counter()
    enc: Any = encoder
    if long_texts != "truncate":
        from ..embed import get_encoder

        enc = get_encoder(
            encoder,
            backend=encoder_backend,
            long_texts=long_texts,
            text_features=text_features,
            **({} if layout is None else {"layout": layout}),
        )
    with show_progress() as progress:
        model, report = train_reward_model(
            data,
            encoder=enc,
            encoder_backend=encoder_backend,
            layout=layout,
            cache=cache or default_cache_dir(),
            head=head,
            text_features=text_features,
            params=params,
            ensemble=ensemble,
            aggregate=aggregate,
            test=test,
            test_fraction=test_fraction,
            random_state=seed,
            augment=augment,
            factor=factor,
            load_kwargs=columns.load_kwargs(),
            out=out,
            vae_data=vae_data,
            vae_prompts=vae_prompts,
            command=_command_line(),
            progress=progress,
        )
    total_seconds = time.perf_counter() - start
    for which, source in (("data", data), ("test", test)):
        n_ties = getattr(report.ties_left_out, which)
        if n_ties:
            typer.echo(
                f"{source}: {n_ties} tied pairs left out (a tie states no preference)", err=True
            )

    if as_json:
        typer.echo(
            json.dumps({**report.to_json(), "total_seconds": round(total_seconds, 3)}, indent=2)
        )
        return
    if report.head_auto is not None:
        typer.echo(f"--head auto chose {report.head_auto.best_label}: {report.head_auto.reason}")
    fitted = report.chosen_head
    what = report.model + (f" of {ensemble} x {fitted}" if ensemble > 1 else f" ({fitted})")
    aug = report.augment
    synth = (
        f" + {report.n_synthetic:,} synthetic ({aug.method if aug else augment})"
        if report.n_synthetic
        else ""
    )
    aug_time = f", augmentation {report.augment_seconds:.1f} s" if aug else ""
    typer.echo(describe_cache_use(report.cache))
    typer.echo(
        f"trained {what} on {report.n_train:,} pairs{synth} in {report.fit_seconds:.1f} s "
        f"(embedding {report.embed_seconds:.1f} s{aug_time}, {model.n_features_in_} features)"
    )
    for which, source in (("data", data), ("test", test)):
        n_dup = getattr(report.duplicates, which)
        if n_dup:
            action = "dropped (--dedupe)" if columns.dedupe else "kept; --dedupe drops them"
            typer.echo(f"  {source}: {n_dup:,} exact duplicate pairs ({action})")
    for line in augment_lines(aug):
        typer.echo("  " + line)
    shown = ("accuracy", "loss", "margin", "mean_reward", "min_reward", "max_reward")
    for label, metrics in (("train", report.train), ("test", report.test)):
        if metrics:
            typer.echo(
                f"  {label + ':':<7}"
                + "  ".join(f"{k} {metrics[k]:.4f}" for k in shown if k in metrics)
                + f"  ({metrics.get('n_pairs', 0):,} pairs)"
            )
    for line in baseline_lines(report.length_baseline):
        typer.echo("  " + line)
    if aug is not None and aug.heldout_variance_kept is not None:
        typer.echo(
            f"  the latent model keeps {100 * aug.heldout_variance_kept:.0f}% of held-out responses' variance "
            f"({100 * aug.train_variance_kept:.0f}% of its training responses')"
        )
    if "eval_accuracy" in report.train:
        typer.echo(f"  held out while training: eval_accuracy {report.train['eval_accuracy']:.4f}")
    for line in length_lines(report):
        typer.echo("  " + line)
    held_out = (
        ", test.jsonl (the held-out pairs: `prefspace evaluate " + str(out) + "` uses them)"
        if report.n_test and report.test_data is None
        else ""
    )
    typer.echo(f"  saved to {out} (metrics.json, model.json, README.md, split.json{held_out})")


def length_lines(report: Any) -> list[str]:
    """The truncation counts and the model's length dependence, as lines to print."""
    lines = []
    t = report.truncation
    if t and t.truncated:
        lines.append(
            f"truncated by the encoder ({t.token_limit} tokens): {t.truncated:,} of {t.texts:,} "
            f"responses; {100 * t.unseen_tokens_share:.1f}% of all response tokens unseen "
            f"(--long-texts windows reads up to 8 windows)"
        )
    elif t:
        lines.append(f"truncated by the encoder: none of {t.texts:,} responses")
    d = report.length_dependence
    if d and d.within_prompt_length_corr is not None:
        line = (
            f"length dependence ({d.responses} responses): reward-length correlation within prompts "
            f"{d.within_prompt_length_corr:+.3f}"
        )
        if d.text_feature_share is not None:
            line += f", {100 * d.text_feature_share:.0f}% of reward variance explained by the text features"
        if d.length_controlled_corr is not None:
            line += f"; length-controlled reward {d.length_controlled_corr:+.3f}"
        lines.append(line)
    return lines


VERDICT_WORDS = {
    "above": "the model beats it",
    "below": "the model is BELOW it",
    "not significantly different": "not significantly different (the model does not beat it)",
}


def baseline_lines(record: Any) -> list[str]:
    """The learned length baseline beside the model, as lines to print (empty without one).

    Reads the :class:`prefspace.models.LengthBaselineReport` of
    :func:`prefspace.models.length_baseline_beside`.
    """
    if record is None:
        return []
    test = record.test
    acc = f"train accuracy {record.train_accuracy:.4f}"
    if test is not None:
        acc += f", test accuracy {test.accuracy:.4f} [{test.ci_low:.4f}, {test.ci_high:.4f}]"
    lines = [
        f"length baseline (learned on the training pairs: the {record.direction} answer wins): {acc}"
    ]
    vs = record.vs_model
    if vs is not None:
        lines.append(
            f"model - length baseline on the test pairs: {100 * vs.difference:+.1f} points "
            f"[{100 * vs.ci_low:+.1f}, {100 * vs.ci_high:+.1f}] (paired 95% interval over prompts): "
            f"{VERDICT_WORDS[vs.verdict]}"
        )
    return lines


def _command_line() -> str | None:
    """``prefspace ...`` as typed, when this process is the prefspace command (None otherwise)."""
    program = sys.argv[0].replace("\\", "/") if sys.argv else ""
    if Path(program).name == "prefspace" or program.endswith(
        ("prefspace/__main__.py", "prefspace/cli/__main__.py")
    ):
        return shlex.join(["prefspace", *sys.argv[1:]])
    return None


def _candidate_label(method: str, factor: int, weight: float | None, params: dict | None) -> str:
    w = "1/k" if weight is None else f"{weight:g}"
    extra = "".join(f", {k}={v}" for k, v in (params or {}).items())
    return f"{method} x{factor} (weight {w}{extra})"


def augment_lines(report: Any) -> list[str]:
    """What ``--augment auto`` compared, what it chose and why, as lines to print (empty otherwise).

    Reads an :class:`prefspace.synth.AugmentReport` (``requested``, ``chosen``, ``reason``,
    ``candidates`` with each candidate's out-of-fold ``accuracy`` and its ``gain``/``z`` over
    real pairs only and over the repeat control).
    """
    if report is None or report.requested != "auto":
        return []
    cands = report.candidates or ()
    lines = []
    if cands:
        real = cands[0].accuracy - cands[0].gain
        lines.append(
            f"augment auto: cross-validated {len(cands)} candidates against real pairs only "
            f"on the {report.n_real:,} training pairs (out-of-fold accuracy on real pairs):"
        )
        labels = [_candidate_label(c.method, c.factor, c.weight, c.params) for c in cands]
        width = max(len(label) for label in labels)
        lines.append(f"  {'real pairs only':<{width}}  {real:.3f}")
        for label, c in zip(labels, cands):
            lines.append(
                f"  {label:<{width}}  {c.accuracy:.3f}  {100 * c.gain:+.1f} points (z {c.z:.2f})"
                f"; vs repeat {100 * c.gain_vs_repeat:+.1f} points (z {c.z_vs_repeat:.2f})"
            )
    if report.chosen:
        lines.append(
            f"augment auto chose {_candidate_label(*report.chosen)}: {report.reason or ''}"
        )
    else:
        lines.append(f"augment auto chose no synthesis (real pairs only): {report.reason or ''}")
    return lines


# ------------------------------------------------------------------------------------ score
@app.command(
    epilog=examples(
        "prefspace score runs/bt responses.jsonl --out rewards.jsonl",
        "prefspace score runs/bt pairs.jsonl --device cuda --out rewards.jsonl",
    )
)
@data_columns(exclude=("dedupe",))
def score(
    model_dir: Annotated[
        Path,
        typer.Argument(
            help="A model folder written by `prefspace train` or save_model.", show_default=False
        ),
    ],
    data: DataArg,
    columns: DataColumns,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="JSONL file to write, one line per response or pair.",
            show_default=False,
        ),
    ],
    cache: CacheOpt = None,
    response_key: Annotated[
        str, typer.Option("--response-key", help="Rows mode: column holding the response.")
    ] = "response",
    encoder: ModelEncoder = None,
    encoder_backend: ModelBackend = None,
    layout: ModelLayout = None,
    device: Device = None,
    length_controlled: LengthControlled = False,
) -> None:
    """Write a reward for every response in DATA, embedding with the model's own encoder.

    DATA holds either preference pairs (any format `prefspace train` reads; each output line
    has reward_chosen, reward_rejected and p_chosen, P(chosen wins)) or prompt/response rows
    (each line keeps the row's other columns, e.g. prompt_id or generator, and adds its id and
    reward).
    """
    from ..embed.pipeline import describe_cache_use
    from ..workflows.scoring import model_encoder, score_file

    enc = model_encoder(model_dir, encoder, layout=layout, device=device, backend=encoder_backend)
    with show_progress() as progress:
        summary = score_file(
            model_dir,
            data,
            out,
            cache=cache or default_cache_dir(),
            response_key=response_key,
            load_kwargs=columns.load_kwargs(),
            encoder=enc,
            progress=progress,
            length_controlled=length_controlled,
        )
    typer.echo(describe_cache_use(summary["cache"]))
    if summary["mode"] == "rows":
        kept = f" (kept columns: {', '.join(summary['columns'])})" if summary["columns"] else ""
        typer.echo(f"scored {summary['n']:,} responses; wrote {out}{kept}")
    else:
        typer.echo(
            f"scored {summary['n']:,} pairs: accuracy {summary['accuracy']:.4f} (chosen strictly higher); wrote {out}"
        )
