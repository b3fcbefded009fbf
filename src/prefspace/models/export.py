"""Export a reward model as a plain sentence-transformers model whose output for a text is the reward.

``export_sentence_transformers(model_dir, out)`` writes a folder that
``SentenceTransformer(out).encode(texts)`` loads and runs without prefspace and without custom
code (``trust_remote_code`` stays off): the encoder's own modules (Transformer, Pooling,
Normalize) followed by standard ``Dense`` layers that hold the reward head's weights, ending in
one output dimension. ``encode(texts)[:, 0]`` is then the reward.

Exact only where the head is a composition of affine maps and element-wise activations of the
*same text's* embedding:

- "joint" layout (prompt and response embedded as one text): a linear head (one Dense layer,
  identity activation), an MLP head (one Dense layer per hidden layer with its ReLU, GELU or
  Tanh, then the output layer), and an ensemble of such heads with the mean reward (the members
  side by side: stacked first layers, block-diagonal hidden layers, averaged output). The input
  standardisation of MLP heads is folded into the first layer's weights and bias.
- "separate" layout (``[prompt vector, response vector]`` rows): only an affine head (linear,
  an MLP without hidden layers, their mean ensembles). Its reward is ``prompt term + response
  term``; the export holds the response term, so it ranks the responses to one prompt exactly
  (their reward differences are exact) while its absolute values differ from prefspace's by the
  prompt's term.

Everything else is refused with the reason: a model that reads the text-feature block
(counted from the text outside the network) or embeds long texts as a mean of windows, an MLP
head on the separate layout (the prompt enters through a non-linearity), ensembles with the ``min`` or ``mean_minus_std`` reward,
boosted trees (LightGBM), and encoders that are not sentence-transformers models (causal-LM
hidden states, precomputed vectors).

The folder is checked before it is put in place: it is loaded back with plain
``SentenceTransformer`` and its outputs on a few probe texts are compared with prefspace's
rewards; a difference above ``tolerance`` refuses the export.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import write_text_atomic
from .._paths import check_output
from .._version import __version__
from ..embed.encoder import render_joint_text
from ..exceptions import ConfigError, FormatError
from ._base import RewardHead
from .ensemble import RewardEnsemble
from .lgbm import PreferenceClassifierLGBM
from .linear import BradleyTerryLinear
from .mlp import BradleyTerryMLP, PreferenceClassifierMLP
from .persistence import describe_model, load_model, load_model_encoder

logger = logging.getLogger(__name__)

__all__ = ["EXPORT_FORMATS", "DenseLayer", "ExportResult", "head_as_dense_layers", "export_sentence_transformers", "export_model"]

EXPORT_FORMATS = ("sentence-transformers",)
MARKER = "prefspace_export.json"
# torch classes for the MLP heads' activations (sentence-transformers' Dense loads a "torch."
# class by name with trust_remote_code off); GELU is the exact (erf) GELU, as the heads use
_TORCH_ACTIVATIONS = {"identity": "Identity", "relu": "ReLU", "gelu": "GELU", "tanh": "Tanh"}
# (prompt, responses) used to check an export: short, so no truncation is involved
_PROBES = (
    ("How do I boil an egg?", ("Put it in boiling water for about eight minutes, then cool it in cold water.",
                               "Eggs are a good source of protein.",
                               "I cannot help with that.")),
    ("Write a haiku about rain.", ("Soft rain on the roof / the garden drinks in silence / puddles hold the sky",
                                   "Rain is water falling from clouds.")),
)


@dataclass
class DenseLayer:
    """One affine map and its activation: ``activation(weight @ x + bias)``.

    ``weight`` is float64 of shape ``(out, in)``, ``bias`` float64 ``(out,)``, ``activation``
    one of ``"identity"``, ``"relu"``, ``"gelu"`` (exact), ``"tanh"``.
    """

    weight: np.ndarray
    bias: np.ndarray
    activation: str = "identity"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        from scipy.special import erf

        z = x @ self.weight.T + self.bias
        if self.activation == "relu":
            return np.maximum(z, 0.0)
        if self.activation == "gelu":
            return 0.5 * z * (1.0 + erf(z / np.sqrt(2.0)))
        if self.activation == "tanh":
            return np.tanh(z)
        return z


@dataclass
class ExportResult:
    """What an export wrote and how it was checked.

    Attributes
    ----------
    path : the folder
    scope : ``"reward"`` (outputs are prefspace's rewards) or ``"response_term"`` (separate
        layout: outputs differ from the rewards by the prompt's term)
    input : how to build the text to encode (``"response"`` or ``"prompt and response rendered
        as one text"``)
    layers : the Dense layers' shapes and activations
    max_abs_diff : the largest difference from prefspace on the probe texts (for
        ``"response_term"``: of reward differences between responses to the same prompt)
    n_probe_texts : how many texts were compared
    """

    path: str
    scope: str
    input: str
    layers: list = field(default_factory=list)
    max_abs_diff: float = float("nan")
    n_probe_texts: int = 0
    source_model: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------ the head as layers
def _mlp_layers(model) -> list[DenseLayer]:
    w = {k: np.asarray(v, dtype=np.float64) for k, v in model.weights_.items()}
    mean, scale = w["input_mean"], w["input_scale"]
    n_hidden = sum(1 for k in w if k.startswith("hidden.") and k.endswith(".weight"))
    names = [(f"hidden.{i}.weight", f"hidden.{i}.bias", model.activation) for i in range(n_hidden)]
    names.append(("output.weight", "output.bias", "identity"))
    layers = [DenseLayer(w[wk].copy(), w[bk].reshape(-1).copy(), act) for wk, bk, act in names]
    # fold (x - mean) / scale into the first layer: W (x - m) / s + b = (W / s) x + (b - (W / s) m)
    first = layers[0]
    first.weight = first.weight / scale[None, :]
    first.bias = first.bias - first.weight @ mean
    return layers


def _linear_layers(model) -> list[DenseLayer]:
    return [DenseLayer(np.asarray(model.coef_, dtype=np.float64)[None, :].copy(), np.array([float(model.intercept_)]))]


def _side_by_side(members: list[list[DenseLayer]]) -> list[DenseLayer]:
    """The mean of several networks of the same depth and activations as one wider network."""
    from scipy.linalg import block_diag

    k = len(members)
    depth = len(members[0])
    if any(len(m) != depth for m in members) or any(
        [layer.activation for layer in m] != [layer.activation for layer in members[0]] for m in members
    ):
        raise ConfigError("the ensemble's members differ in depth or activation, so they cannot be laid side by side.")
    if depth == 1:  # affine members: the mean of affine maps is affine
        return [DenseLayer(np.mean([m[0].weight for m in members], axis=0), np.mean([m[0].bias for m in members], axis=0))]
    out = [DenseLayer(np.vstack([m[0].weight for m in members]), np.concatenate([m[0].bias for m in members]),
                      members[0][0].activation)]
    for j in range(1, depth - 1):
        out.append(DenseLayer(block_diag(*[m[j].weight for m in members]),
                              np.concatenate([m[j].bias for m in members]), members[0][j].activation))
    out.append(DenseLayer(np.hstack([m[-1].weight for m in members]) / k,
                          np.array([np.mean([m[-1].bias[0] for m in members])])))
    return out


def head_as_dense_layers(model: RewardHead) -> list[DenseLayer]:
    """The reward head as Dense layers on its input row (float64), or ConfigError saying why not.

    ``layers[-1]`` has one output; applying the layers in turn to rows ``E`` gives
    ``model.predict(E)`` up to float rounding.

    Example
    -------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(40, 2, 6)).astype("float32")
    >>> m = BradleyTerryLinear().fit(X)
    >>> layers = head_as_dense_layers(m)
    >>> bool(np.allclose(layers[0](X[:, 0].astype(float))[:, 0], m.predict(X[:, 0])))
    True
    """
    if isinstance(model, BradleyTerryLinear):
        return _linear_layers(model)
    if isinstance(model, (BradleyTerryMLP, PreferenceClassifierMLP)):
        check = getattr(model, "activation", "relu")
        if check not in _TORCH_ACTIVATIONS:
            raise ConfigError(f"the MLP's activation {check!r} has no standard torch layer to export it with.")
        return _mlp_layers(model)
    if isinstance(model, PreferenceClassifierLGBM):
        raise ConfigError(
            "a LightGBM head (clf-lgbm) is a set of boosted trees, which no sentence-transformers layer computes; "
            "export a linear or MLP head instead, or serve this model with `prefspace serve`."
        )
    if isinstance(model, RewardEnsemble):
        if model.aggregate != "mean":
            raise ConfigError(
                f"this ensemble's reward is {model.aggregate!r} over its members, which a stack of Dense layers "
                "cannot compute exactly (only the mean is linear in the members' rewards). Serve it with "
                "`prefspace serve`, or train an ensemble with --aggregate mean to export it."
            )
        return _side_by_side([head_as_dense_layers(m) for m in model.members_])
    raise ConfigError(f"{type(model).__name__} cannot be exported: no exact Dense-layer form is known for it.")


# ------------------------------------------------------------------------------ sentence-transformers
def _st_modules():
    try:  # sentence-transformers >= 6
        from sentence_transformers.base.modules.dense import Dense
        from sentence_transformers.base.modules.normalize import Normalize
    except ImportError:  # 3.x - 5.x
        from sentence_transformers.models import Dense, Normalize
    return Dense, Normalize


def _build(encoder, layers: list[DenseLayer]):
    import torch
    from sentence_transformers import SentenceTransformer

    Dense, Normalize = _st_modules()
    base = encoder.st
    modules = list(base)
    if encoder.normalize and not isinstance(modules[-1], Normalize):
        modules.append(Normalize())  # prefspace's normalize=True: L2 on top of the model's output
    for layer in layers:
        act = getattr(torch.nn, _TORCH_ACTIVATIONS[layer.activation])()
        out_f, in_f = layer.weight.shape
        modules.append(Dense(
            in_features=int(in_f), out_features=int(out_f), bias=True, activation_function=act,
            init_weight=torch.tensor(layer.weight, dtype=torch.float32),
            init_bias=torch.tensor(layer.bias, dtype=torch.float32),
        ))
    st = SentenceTransformer(modules=modules, device="cpu")
    if encoder.max_length is not None:
        st.max_seq_length = encoder.max_length
    if encoder.layout == "joint" and getattr(st, "tokenizer", None) is not None:
        # prefspace keeps the end of a long prompt+response text (the response); so does this model
        st.tokenizer.truncation_side = "left"
    return st


def _probe(encoder, model, scope: str) -> tuple[list[str], np.ndarray, list[list[int]]]:
    """Texts to feed the export, prefspace's reference values, and the groups of one prompt."""
    prompts, responses, groups = [], [], []
    for prompt, answers in _PROBES:
        groups.append(list(range(len(responses), len(responses) + len(answers))))
        prompts += [prompt] * len(answers)
        responses += list(answers)
    if encoder.layout == "joint":
        rows = encoder.encode_joint(prompts, responses)
        texts = [render_joint_text(p, r) for p, r in zip(prompts, responses)]
    else:
        rows = np.concatenate([encoder.encode_prompts(prompts), encoder.encode(responses)], axis=1)
        texts = list(responses)
    return texts, np.asarray(model.predict(rows), dtype=np.float64), groups


def _compare(outputs: np.ndarray, reference: np.ndarray, groups: list[list[int]], scope: str) -> float:
    if scope == "reward":
        return float(np.max(np.abs(outputs - reference)))
    diffs = [abs((outputs[i] - outputs[g[0]]) - (reference[i] - reference[g[0]])) for g in groups for i in g[1:]]
    return float(max(diffs))


def export_sentence_transformers(
    model_dir: str | os.PathLike,
    out: str | os.PathLike,
    *,
    tolerance: float = 1e-4,
) -> ExportResult:
    """Write ``model_dir``'s reward model to ``out`` as a plain sentence-transformers model.

    Parameters
    ----------
    model_dir : a directory written by ``save_model`` / ``prefspace train``
    out : the folder to write (created; an earlier export there is replaced; any other
        non-empty folder is refused)
    tolerance : the largest difference from prefspace's rewards accepted on the probe texts

    Returns
    -------
    ExportResult

    Raises
    ------
    ConfigError
        The model or its encoder has no exact sentence-transformers form (the message says why),
        or the written folder does not reproduce the rewards within ``tolerance``.

    Example
    -------
    >>> export_sentence_transformers("runs/bt-joint", "runs/bt-joint-st")        # doctest: +SKIP
    >>> from sentence_transformers import SentenceTransformer                     # doctest: +SKIP
    >>> SentenceTransformer("runs/bt-joint-st").encode(["What is 2+2?\\n\\n4"])[:, 0]  # doctest: +SKIP
    """
    model_dir, out = Path(model_dir), Path(out)
    check_output(out, inputs=[model_dir], kind="folder", what="--out")  # before anything is loaded
    if out.exists():
        if not out.is_dir():
            raise FormatError(f"{out} exists and is not a folder; choose another --out.")
        if any(out.iterdir()) and not (out / MARKER).is_file():
            raise FormatError(f"{out} is a non-empty folder that is not a prefspace export; refusing to replace it.")
    described = describe_model(model_dir)
    cfg = (described.get("encoder") or {}).get("config") or {}
    if not cfg:
        raise ConfigError(f"{model_dir} was saved without an encoder, so the text-to-reward model cannot be assembled.")
    if cfg.get("backend") != "sentence-transformers":
        raise ConfigError(
            f"{model_dir} uses a {cfg.get('backend')!r} encoder; only sentence-transformers encoders can be exported "
            "as a sentence-transformers model (causal-LM hidden states and precomputed vectors have no such form)."
        )
    if described.get("text_features") or cfg.get("text_features"):
        raise ConfigError(
            f"{model_dir} reads the text-feature block (length, lines, list items, truncation: "
            f"{', '.join((described.get('text_features') or {}).get('names') or [])}) beside the embedding. "
            "Those are counted from the text outside the network, and a sentence-transformers model's output "
            "is a function of its pooled embedding only, so no such model reproduces this reward. Serve it "
            "with `prefspace serve` or the TRL reward function (they compute the block), or train with "
            "--no-text-features to export."
        )
    if cfg.get("long_texts", "truncate") != "truncate":
        raise ConfigError(
            f"{model_dir} embeds long responses as the mean of windows (long_texts={cfg['long_texts']!r}); "
            "sentence-transformers truncates every text to one window, so the export would score other "
            "embeddings. Train with the default truncation to export."
        )
    model = load_model(model_dir)
    layers = head_as_dense_layers(model)
    encoder = load_model_encoder(model_dir)
    scope = "reward"
    if encoder.layout == "separate":
        if len(layers) != 1:
            raise ConfigError(
                f"{model_dir} is an MLP on the 'separate' layout: its reward depends on the prompt's and the "
                "response's embeddings through a non-linearity, so no model of one text reproduces it. Train "
                "with the 'joint' layout (--layout joint) or a linear head to export."
            )
        dim = int(encoder.dim)
        layers = [DenseLayer(layers[0].weight[:, dim:].copy(), layers[0].bias.copy())]
        scope = "response_term"

    st = _build(encoder, layers)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with _no_progress_bars():
            st.save(str(tmp))
            texts, reference, groups = _probe(encoder, model, scope)
            outputs = _reload_outputs(tmp, texts)
        diff = _compare(outputs, reference, groups, scope)
        if not np.isfinite(diff) or diff > tolerance:
            raise ConfigError(
                f"the exported model differs from prefspace's rewards by {diff:.3g} on the probe texts (tolerance "
                f"{tolerance:g}); nothing was written. This is a bug: please report it with the model's model.json."
            )
        result = ExportResult(
            path=str(out), scope=scope,
            input="prompt and response rendered as one text" if encoder.layout == "joint" else "response",
            layers=[{"in": int(l.weight.shape[1]), "out": int(l.weight.shape[0]), "activation": l.activation} for l in layers],
            max_abs_diff=diff, n_probe_texts=len(texts),
            source_model={"directory_name": model_dir.name, "class": described.get("class"),
                          "encoder_fingerprint": (described.get("encoder") or {}).get("fingerprint"),
                          "train_fingerprint": described.get("train_fingerprint")},
        )
        write_text_atomic(tmp / MARKER, json.dumps({"prefspace_version": __version__, **asdict(result)}, indent=2) + "\n")
        write_text_atomic(tmp / "README.md", _export_card(result, cfg))
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("exported %s to %s (%s; max difference %.2g)", model_dir, out, scope, diff)
    return result


class _no_progress_bars:
    """Hide transformers' progress bars (weight loading, shard writing) while exporting; restore after."""

    def __enter__(self) -> None:
        from transformers.utils import logging as hf_logging

        self._was_enabled = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()

    def __exit__(self, *exc) -> None:
        from transformers.utils import logging as hf_logging

        if self._was_enabled:
            hf_logging.enable_progress_bar()


def _reload_outputs(folder: Path, texts: list[str]) -> np.ndarray:
    """Outputs of the written folder, loaded the way a user loads it (no remote code)."""
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(folder), device="cpu", trust_remote_code=False)
    out = np.asarray(st.encode(texts, convert_to_numpy=True, show_progress_bar=False), dtype=np.float64)
    if out.ndim != 2 or out.shape[1] != 1:
        raise ConfigError(f"the exported model returns shape {out.shape}; expected ({len(texts)}, 1).")
    return out[:, 0]


def _export_card(result: ExportResult, cfg: dict) -> str:
    joint = result.input != "response"
    how = ("`render_joint_text(prompt, response)`: a string prompt, a blank line, then the response "
           "(`f\"{prompt}\\n\\n{response}\"`); a conversation as `User: ...` / `Assistant: ...` blocks separated "
           "by blank lines, the response as the last `Assistant:` block") if joint else "the response alone"
    scope = ("Its output is the reward prefspace computes." if result.scope == "reward" else
             "Its output is the response's term of the reward (the model was trained on [prompt, response] rows "
             "with a linear head): differences between responses to the same prompt equal prefspace's, so it ranks "
             "them exactly, but absolute values differ from prefspace's rewards by the prompt's term.")
    layers = " -> ".join(f"Dense({l['in']}->{l['out']}, {l['activation']})" for l in result.layers)
    return "\n".join([
        "---",
        "library_name: sentence-transformers",
        "tags:",
        "- reward-model",
        "- prefspace",
        "---",
        "",
        f"# Reward model exported from prefspace ({result.source_model.get('class')})",
        "",
        f"A plain sentence-transformers model: the `{cfg.get('model')}` encoder's modules, then {layers}. "
        "It loads with `SentenceTransformer(path)`; no prefspace and no remote code are needed.",
        "",
        f"{scope}",
        "",
        "```python",
        "from sentence_transformers import SentenceTransformer",
        "model = SentenceTransformer(PATH)",
        "rewards = model.encode(texts)[:, 0]",
        "```",
        "",
        f"Each text is {how}.",
        "" if not joint else "Long texts keep their end (the tokenizer truncates on the left), as prefspace does; "
        "prefspace cuts at a word boundary, so a text longer than the encoder's limit may differ slightly.",
        "",
        f"Checked when written: largest difference from prefspace on {result.n_probe_texts} probe texts "
        f"{result.max_abs_diff:.2g}.",
        "",
    ])


def export_model(model_dir: str | os.PathLike, out: str | os.PathLike, *, format: str = "sentence-transformers", **kwargs: Any) -> ExportResult:
    """Export a saved model in ``format`` (one of :data:`EXPORT_FORMATS`)."""
    if format not in EXPORT_FORMATS:
        raise ConfigError(f"unknown export format {format!r}; choose one of: {', '.join(EXPORT_FORMATS)}.")
    return export_sentence_transformers(model_dir, out, **kwargs)
