"""``prefspace train`` and ``prefspace score``.

``train`` reads preference pairs, embeds what the cache lacks, holds out a test set grouped by
prompt (or reads one), optionally augments the training pairs, fits a reward head, prints the
metrics and saves the model with ``metrics.json`` beside it. ``score`` loads a saved model and
its encoder and writes a reward for every response of a file. Both parse options and call the
library; nothing else.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import numpy as np
import typer

from .._atomic import atomic_path, write_text_atomic
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

HEAD_NAMES = ("bt-linear", "bt-mlp", "clf-mlp", "clf-lgbm")
AUGMENT_METHODS = ("none", "repeat", "lens", "perturb", "gaussian", "mixup", "pca", "auto")


def _cache_dir(cache: Optional[Path]) -> Path:
    if cache is not None:
        return cache
    home = os.environ.get("PREFSPACE_HOME")
    return Path(home).expanduser() / "embeddings" if home else Path("~/.cache/prefspace/embeddings").expanduser()


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


def _make_head(head: str, params: dict, seed: int):
    from ..exceptions import ConfigError
    from ..models import HEADS

    cls = HEADS[head]
    est = cls()
    unknown = sorted(set(params) - set(est.get_params()))
    if unknown:
        raise ConfigError(
            f"--param {unknown[0]!r} is not a parameter of {cls.__name__} ({head}); "
            f"its parameters are: {', '.join(sorted(est.get_params()))}."
        )
    est.set_params(**{k: tuple(v) if isinstance(v, list) else v for k, v in params.items()})
    if "random_state" in est.get_params():
        est.set_params(random_state=seed)
    return est


def _without_ties(dataset, label: str):
    if dataset.tie is None or not dataset.tie.any():
        return dataset
    keep = np.flatnonzero(~dataset.tie)
    typer.echo(f"{label}: {int(dataset.tie.sum())} tied pairs left out (a tie states no preference)", err=True)
    return dataset.select(keep)


def _write_json_atomic(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


@app.command()
def train(
    data: DataArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Model folder to write (replaced if it holds a model).", show_default=False)],
    encoder: Annotated[str, typer.Option("--encoder", "-e", help="Encoder name or path (see `prefspace embed --help`).")] = "all-MiniLM-L6-v2",
    cache: Annotated[Optional[Path], typer.Option("--cache", help="Embedding cache folder (default: $PREFSPACE_HOME/embeddings).", show_default=False)] = None,
    head: Annotated[str, typer.Option("--head", help="Reward head: bt-linear, bt-mlp, clf-mlp or clf-lgbm.")] = "bt-mlp",
    param: Annotated[Optional[list[str]], typer.Option("--param", help="Head parameter NAME=VALUE (JSON value), repeatable, e.g. --param alpha=100.", show_default=False)] = None,
    ensemble: Annotated[int, typer.Option("--ensemble", min=1, help="Train an ensemble of K heads (bootstrap samples, different seeds).")] = 1,
    aggregate: Annotated[str, typer.Option("--aggregate", help="Ensemble reward: mean, min or mean_minus_std.")] = "mean",
    test: Annotated[Optional[str], typer.Option("--test", help="Test pairs (same columns as DATA); default: hold out --test-fraction of DATA's prompts.", show_default=False)] = None,
    test_fraction: Annotated[float, typer.Option("--test-fraction", min=0.0, max=0.9, help="Share of DATA's pairs held out for testing, grouped by prompt (0: none).")] = 0.2,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the split, the augmentation and the head.")] = 0,
    augment: Annotated[str, typer.Option("--augment", help="Synthetic training pairs: none, repeat (the control: copies), lens, perturb, gaussian, mixup, pca or auto.")] = "none",
    factor: Annotated[int, typer.Option("--factor", min=1, help="Synthetic pairs per real pair (--augment).")] = 4,
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
    split: Split = None,
    limit: Limit = None,
) -> None:
    """Train a reward model on the preference pairs in DATA and save it to --out.

    Embeds what the cache lacks, holds out a test set grouped by prompt (unless --test is
    given), fits the head, prints TRL-named metrics and writes OUT/metrics.json with the model.
    """
    from .._validation import check_in
    from ..data import load_preferences, split_by_prompt
    from ..embed import EmbeddingCache, embed_pairs, get_encoder
    from ..evaluate import reward_metrics
    from ..models import RewardEnsemble, save_model

    check_in(head, HEAD_NAMES, name="--head")
    check_in(augment, AUGMENT_METHODS, name="--augment")
    check_in(aggregate, ("mean", "min", "mean_minus_std"), name="--aggregate")
    start = time.perf_counter()

    # ---- data: train and test pairs, no prompt on both sides
    load_kwargs = preference_load_kwargs(locals())
    dataset = _without_ties(load_preferences(data, **load_kwargs), str(data))
    if test is not None:
        load_kwargs.pop("limit", None)
        train_ds, test_ds = dataset, _without_ties(load_preferences(test, **load_kwargs), str(test))
    elif test_fraction > 0:
        train_ds, test_ds = split_by_prompt(dataset, test_fraction=test_fraction, seed=seed)
    else:
        train_ds, test_ds = dataset, None

    # ---- embeddings (cached)
    enc = get_encoder(encoder)
    store = EmbeddingCache(_cache_dir(cache))
    t0 = time.perf_counter()
    X_train = embed_pairs(train_ds, enc, store).X
    X_test = embed_pairs(test_ds, enc, store).X if test_ds is not None and len(test_ds) else None
    embed_seconds = time.perf_counter() - t0

    # ---- model and (optionally) synthetic pairs
    model = _make_head(head, _parse_params(param or []), seed)
    if ensemble > 1:
        model = RewardEnsemble(model, n_members=ensemble, aggregate=aggregate, random_state=seed)
    sample_weight, margin = train_ds.weight, train_ds.margin
    X_fit, augment_info = X_train, None
    if augment != "none":
        from ..synth import augment_pairs

        X_fit, sample_weight, augment_info = augment_pairs(X_train, method=augment, factor=factor, estimator=model,
                                                           sample_weight=sample_weight, random_state=seed)
        fit_params = augment_info.pop("fit_params")  # parent and groups: validation stays real
        if margin is not None:  # a synthetic pair keeps its parent's margin
            parent = fit_params["parent"]
            margin = np.concatenate([margin, margin[parent[len(X_train):]]])
    else:
        fit_params = {}

    t0 = time.perf_counter()
    model.fit(X_fit, sample_weight=sample_weight, margin=margin, **fit_params)
    fit_seconds = time.perf_counter() - t0

    # ---- metrics and saving
    test_metrics = None
    if X_test is not None:
        rewards = model.predict(X_test.reshape(-1, X_test.shape[2])).reshape(len(X_test), 2)
        test_metrics = reward_metrics(rewards[:, 0], rewards[:, 1])
    report = {
        "data": str(data),
        "test_data": str(test) if test is not None else None,
        "head": head,
        "model": type(model).__name__,
        "params": model.get_params(deep=False) if ensemble == 1 else {"n_members": ensemble, "aggregate": aggregate},
        "encoder": enc.config(),
        "encoder_fingerprint": enc.fingerprint,
        "n_train": len(X_train),
        "n_synthetic": len(X_fit) - len(X_train),
        "n_test": 0 if X_test is None else len(X_test),
        "seed": seed,
        "augment": augment_info,
        "train": model.metrics_,
        "test": test_metrics,
        "embed_seconds": round(embed_seconds, 3),
        "fit_seconds": round(fit_seconds, 3),
    }
    report = json.loads(json.dumps(report, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))
    flat = {f"test_{k}": v for k, v in (test_metrics or {}).items()}
    save_model(model, out, enc, metrics=flat, train_fingerprint=train_ds.fingerprint)
    _write_json_atomic(Path(out) / "metrics.json", report)
    report["total_seconds"] = round(time.perf_counter() - start, 3)

    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    what = type(model).__name__ + (f" of {ensemble} x {head}" if ensemble > 1 else f" ({head})")
    synth = f" + {report['n_synthetic']:,} synthetic ({augment})" if report["n_synthetic"] else ""
    typer.echo(f"trained {what} on {len(X_train):,} pairs{synth} in {fit_seconds:.1f} s "
               f"(embedding {embed_seconds:.1f} s, {enc.feature_dim} features)")
    shown = ("accuracy", "loss", "margin", "mean_reward", "min_reward", "max_reward")
    for label, metrics in (("train", model.metrics_), ("test", test_metrics)):
        if metrics:
            typer.echo(f"  {label + ':':<7}" + "  ".join(f"{k} {metrics[k]:.4f}" for k in shown if k in metrics)
                       + f"  ({metrics.get('n_pairs', 0):,} pairs)")
    if "eval_accuracy" in model.metrics_:
        typer.echo(f"  held out while training: eval_accuracy {model.metrics_['eval_accuracy']:.4f}")
    typer.echo(f"  saved to {out} (metrics.json, model.json)")


# ------------------------------------------------------------------------------------ score
def _read_rows(data: str, prompt_key: str, response_key: str, id_key: str, split: Optional[str], limit: Optional[int]):
    """(prompts, responses, ids) from a file of prompt/response rows."""
    from ..data.readers import read_source
    from ..exceptions import DataError

    raw = read_source(data, split=split)
    prompts, responses, ids = [], [], []
    for i, row in enumerate(raw.rows):
        if limit is not None and len(responses) >= limit:
            break
        if row.problem is not None:
            raise DataError(f"{row.where}: {row.problem[1]}")
        for key in (prompt_key, response_key):
            if key not in row.data:
                raise DataError(f"{row.where}: missing key {key!r} (found: {', '.join(map(repr, row.data))}). "
                                f"Name the columns with --prompt-key / --response-key.")
        if not isinstance(row.data[response_key], str):
            raise DataError(f"{row.where}: {response_key!r} must be text; got {type(row.data[response_key]).__name__}.")
        prompts.append(row.data[prompt_key])
        responses.append(row.data[response_key])
        ids.append(str(row.data.get(id_key, i)))
    return prompts, responses, ids


def _looks_like_rows(data: str, response_key: str, split: Optional[str]) -> bool:
    from ..data.readers import read_source

    first = next((r.data for r in read_source(data, split=split).rows if r.data is not None), None)
    return isinstance(first, dict) and response_key in first and "chosen" not in first and "response_a" not in first


@app.command()
def score(
    model_dir: Annotated[Path, typer.Argument(help="A model folder written by `prefspace train` or save_model.", show_default=False)],
    data: DataArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="JSONL file to write, one line per response or pair.", show_default=False)],
    cache: Annotated[Optional[Path], typer.Option("--cache", help="Embedding cache folder (default: $PREFSPACE_HOME/embeddings).", show_default=False)] = None,
    response_key: Annotated[str, typer.Option("--response-key", help="Rows mode: column holding the response.")] = "response",
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
    """Write a reward for every response in DATA, embedding with the model's own encoder.

    DATA holds either preference pairs (any format `prefspace train` reads; each output line
    has reward_chosen, reward_rejected and p_chosen, P(chosen wins)) or prompt/response rows
    (each line has the row's id and its reward).
    """
    from ..data import load_preferences
    from ..embed import EmbeddingCache, embed_pairs, embed_responses
    from ..models import load_model, load_model_encoder

    enc = load_model_encoder(model_dir)
    model = load_model(model_dir, enc)
    store = EmbeddingCache(_cache_dir(cache))
    lines: list[dict] = []
    if _looks_like_rows(data, response_key, split):
        prompts, responses, ids = _read_rows(data, prompt_key or "prompt", response_key, id_key or "id", split, limit)
        rewards = model.predict(embed_responses(prompts, responses, enc, store))
        lines = [{"id": i, "reward": float(r)} for i, r in zip(ids, rewards)]
        summary = f"scored {len(lines):,} responses"
    else:
        dataset = load_preferences(data, **preference_load_kwargs(locals()))
        X = embed_pairs(dataset, enc, store).X
        rewards = model.predict(X.reshape(-1, X.shape[2])).reshape(len(X), 2)
        p = model.predict_proba(X)
        lines = [{"id": i, "reward_chosen": float(rc), "reward_rejected": float(rr), "p_chosen": float(pc)}
                 for i, rc, rr, pc in zip(dataset.ids, rewards[:, 0], rewards[:, 1], p)]
        summary = (f"scored {len(lines):,} pairs: accuracy {float(np.mean(rewards[:, 0] > rewards[:, 1])):.4f} "
                   f"(chosen strictly higher)")
    with atomic_path(out) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")
    typer.echo(f"{summary}; wrote {out}")
