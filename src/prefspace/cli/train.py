"""``prefspace train`` and ``prefspace score``.

``train`` reads preference pairs, embeds what the cache lacks, holds out a test set grouped by
prompt (or reads one), optionally augments the training pairs, fits a reward head, prints the
metrics and saves the model with ``metrics.json`` beside it. ``score`` loads a saved model and
its encoder and writes a reward for every response of a file. Both parse options, call one
library function (:func:`prefspace.workflows.train_reward_model`,
:func:`prefspace.workflows.score_file`) and print what it returns; nothing else.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import typer

from . import app
from ._choices import RegistryChoice, RegistryHelpCommand
from ._encoder_options import (
    EMBED_ONLY,
    EncoderOptions,
    ModelEncoderOptions,
    encoder_options,
    model_encoder_options,
)
from ._groups import argument, option, option_group
from ._options import (
    DataArg,
    DataColumns,
    data_columns,
    examples,
    json_flag,
    out_option,
)
from ._progress import show_progress

ModelOut = out_option("Model folder to write (replaced if it holds a model).")
Head = option(
    str,
    "--head",
    help="Reward head: {train_heads} (grouped cross-validation on the training pairs over heads and penalties; prints its choice).",
    parser=RegistryChoice("train_heads"),
)
Param = option(
    list[str] | None,
    "--param",
    help="Head parameter NAME=VALUE (JSON value), repeatable, e.g. --param alpha=100.",
)
Ensemble = option(
    int,
    "--ensemble",
    help="Train an ensemble of K heads (bootstrap samples, different seeds).",
    min=1,
)
Aggregate = option(
    str, "--aggregate", help="Ensemble reward: {aggregates}.", parser=RegistryChoice("aggregates")
)
TestData = option(
    str | None,
    "--test",
    help="Test pairs (same columns as DATA); default: hold out --test-fraction of DATA's prompts.",
)
TestFraction = option(
    float,
    "--test-fraction",
    help="Share of DATA's pairs held out for testing, grouped by prompt (0: none).",
    min=0.0,
    max=0.9,
)
Seed = option(int, "--seed", help="Seed of the split, the augmentation and the head.", min=0)
Augment = option(
    str,
    "--augment",
    help="Synthetic training pairs: {augment_methods}.",
    parser=RegistryChoice("augment_methods"),
)
Factor = option(int, "--factor", help="Synthetic pairs per real pair (--augment).", min=1)
VaeData = option(
    str | None,
    "--vae-data",
    help="Responses without labels (prompt/response rows, or responses joined to --vae-prompts) for the latent model of --augment lens/pca to be fitted on as well.",
)
VaePrompts = option(
    str | None,
    "--vae-prompts",
    help="Prompts file joined to --vae-data's rows by prompt_id (as for scored responses).",
)
MetricsJson = json_flag("the metrics")
ModelArg = argument(Path, "A model folder written by `prefspace train` or save_model.")
ScoresOut = out_option("JSONL file to write, one line per response or pair.")
ResponseKey = option(str, "--response-key", help="Rows mode: column holding the response.")

# train's own wording of three encoder options (what they do to the head, not to the cache)
_TRAIN_HELPS = {
    "encoder": "Encoder name or path (see `prefspace embed --help`).",
    "layout": "'separate' (prompt and response embedded apart; the default for sentence-transformers encoders) or 'joint' (one text; MLP heads then export exactly with `prefspace export`).",
    "text_features": "Give the head the text-feature block (length, lines, lists, code, headings, truncation) beside the embedding, with a penalty of its own (docs/models.md).",
}


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


@dataclasses.dataclass(frozen=True)
class FitSettings:
    """What ``train`` fits and holds out: keyword arguments of
    :func:`prefspace.workflows.train_reward_model` (``--seed`` is ``random_state``)."""

    head: Head = "bt-linear"
    param: Param = None
    ensemble: Ensemble = 1
    aggregate: Aggregate = "mean"
    test: TestData = None
    test_fraction: TestFraction = 0.2
    random_state: Seed = 0
    augment: Augment = "none"
    factor: Factor = 4
    vae_data: VaeData = None
    vae_prompts: VaePrompts = None

    def kwargs(self) -> dict[str, Any]:
        """The settings as keyword arguments, the head's ``--param NAME=VALUE`` items parsed
        into ``params``."""
        settings = dataclasses.asdict(self)
        settings["params"] = _parse_params(settings.pop("param") or [])
        return settings


fit_settings = option_group(FitSettings, "fitting")


@app.command(
    cls=RegistryHelpCommand,
    epilog=examples(
        "prefspace train pairs.jsonl --head bt-mlp --out runs/bt",
        "prefspace train pairs.jsonl --augment auto --param hidden_sizes=[64] --out runs/bt-auto",
    ),
)
@data_columns()
@encoder_options(exclude=EMBED_ONLY, helps=_TRAIN_HELPS)
@fit_settings()
def train(
    data: DataArg,
    out: ModelOut,
    encoding: EncoderOptions,
    fitting: FitSettings,
    as_json: MetricsJson = False,
    *,
    columns: DataColumns,
) -> None:
    """Train a reward model on the preference pairs in DATA and save it to --out.

    Embeds what the cache lacks, holds out a test set grouped by prompt (unless --test is
    given), fits the head, prints TRL-named metrics and writes OUT/metrics.json with the model.
    """
    from ..workflows.embedding import encoder_or_name
    from ..workflows.training import train_reward_model

    settings = fitting.kwargs()  # a bad --param stops here, before any embedding
    start = time.perf_counter()
    options = encoding.encoder_kwargs()
    with show_progress() as progress:
        model, report = train_reward_model(
            data,
            encoder=encoder_or_name(encoding.encoder, encoding.encoder_backend, options),
            encoder_backend=encoding.encoder_backend,
            layout=encoding.layout,
            cache=encoding.cache_dir(),
            text_features=encoding.text_features,
            load_kwargs=columns.load_kwargs(),
            out=out,
            command=_command_line(),
            progress=progress,
            **settings,
        )
    total_seconds = time.perf_counter() - start
    sources = {"data": data, "test": fitting.test}
    for which, source in sources.items():
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
    lines = train_lines(
        report, model, sources, ensemble=fitting.ensemble, dedupe=bool(columns.dedupe), out=out
    )
    for line in lines:
        typer.echo(line)


def train_lines(
    report: Any, model: Any, sources: dict, *, ensemble: int, dedupe: bool, out: Path
) -> list[str]:
    """What ``train`` prints after fitting: the choices, the cache, the fit, duplicates, the
    metrics beside the length baseline, length dependence and where the model went.

    ``sources`` names the training and test data as given (``{"data": ..., "test": ...}``).
    """
    from ..embed.pipeline import describe_cache_use

    lines = []
    if report.head_auto is not None:
        lines.append(f"--head auto chose {report.head_auto.best_label}: {report.head_auto.reason}")
    lines += [describe_cache_use(report.cache), _fit_line(report, model, ensemble)]
    for which, source in sources.items():
        n_dup = getattr(report.duplicates, which)
        if n_dup:
            action = "dropped (--dedupe)" if dedupe else "kept; --dedupe drops them"
            lines.append(f"  {source}: {n_dup:,} exact duplicate pairs ({action})")
    aug = report.augment
    indented = augment_lines(aug) + _metric_lines(report) + baseline_lines(report.length_baseline)
    lines += ["  " + line for line in indented]
    if aug is not None and aug.heldout_variance_kept is not None:
        lines.append(
            f"  the latent model keeps {100 * aug.heldout_variance_kept:.0f}% of held-out responses' variance "
            f"({100 * aug.train_variance_kept:.0f}% of its training responses')"
        )
    if "eval_accuracy" in report.train:
        lines.append(
            f"  held out while training: eval_accuracy {report.train['eval_accuracy']:.4f}"
        )
    lines += ["  " + line for line in length_lines(report)]
    held_out = (
        ", test.jsonl (the held-out pairs: `prefspace evaluate " + str(out) + "` uses them)"
        if report.n_test and report.test_data is None
        else ""
    )
    lines.append(f"  saved to {out} (metrics.json, model.json, README.md, split.json{held_out})")
    return lines


def _fit_line(report: Any, model: Any, ensemble: int) -> str:
    """``trained MODEL (HEAD) on N pairs + M synthetic (lens) in S s (...)``."""
    fitted = report.chosen_head
    what = report.model + (f" of {ensemble} x {fitted}" if ensemble > 1 else f" ({fitted})")
    aug = report.augment
    synth = f" + {report.n_synthetic:,} synthetic ({aug.method})" if report.n_synthetic else ""
    aug_time = f", augmentation {report.seconds.augment:.1f} s" if aug else ""
    return (
        f"trained {what} on {report.n_train:,} pairs{synth} in {report.seconds.fit:.1f} s "
        f"(embedding {report.seconds.embed:.1f} s{aug_time}, {model.n_features_in_} features)"
    )


def _metric_lines(report: Any) -> list[str]:
    """The train and test metrics, one line each."""
    shown = ("accuracy", "loss", "margin", "mean_reward", "min_reward", "max_reward")
    return [
        f"{label + ':':<7}"
        + "  ".join(f"{k} {metrics[k]:.4f}" for k in shown if k in metrics)
        + f"  ({metrics.get('n_pairs', 0):,} pairs)"
        for label, metrics in (("train", report.train), ("test", report.test))
        if metrics
    ]


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
@model_encoder_options()
def score(
    model_dir: ModelArg,
    data: DataArg,
    out: ScoresOut,
    model_encoder: ModelEncoderOptions,
    response_key: ResponseKey = "response",
    *,
    columns: DataColumns,
) -> None:
    """Write a reward for every response in DATA, embedding with the model's own encoder.

    DATA holds either preference pairs (any format `prefspace train` reads; each output line
    has reward_chosen, reward_rejected and p_chosen, P(chosen wins)) or prompt/response rows
    (each line keeps the row's other columns, e.g. prompt_id or generator, and adds its id and
    reward).
    """
    from ..workflows.scoring import score_file

    with show_progress() as progress:
        summary = score_file(
            model_dir,
            data,
            out,
            cache=model_encoder.cache_dir(),
            response_key=response_key,
            load_kwargs=columns.load_kwargs(),
            encoder=model_encoder.for_model(model_dir),
            progress=progress,
            length_controlled=model_encoder.length_controlled,
        )
    typer.echo(summary.cache.describe())
    if summary.mode == "rows":
        kept = f" (kept columns: {', '.join(summary.columns)})" if summary.columns else ""
        typer.echo(f"scored {summary.n:,} responses; wrote {out}{kept}")
    else:
        typer.echo(
            f"scored {summary.n:,} pairs: accuracy {summary.accuracy:.4f} (chosen strictly higher); wrote {out}"
        )
