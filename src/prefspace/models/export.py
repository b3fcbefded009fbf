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
- "separate" layout (``[prompt vector, response vector]`` rows): an affine head (linear, an
  MLP without hidden layers, their mean ensembles). Its reward is ``prompt term + response
  term``. With sentence-transformers >= 5 the export is prompt-aware: a ``Router`` sends
  ``encode_query(prompts)`` through the encoder and the prompt's Dense layer and
  ``encode_document(responses)`` (also plain ``encode``) through the encoder and the
  response's, so ``encode_query(p)[:, 0] + encode_document(r)[:, 0]`` is the reward, exactly
  (scope ``"prompt_plus_response"``). Older sentence-transformers get the response term alone
  (scope ``"response_term"``): it ranks the responses to one prompt exactly, while its
  absolute values differ from prefspace's by the prompt's term. The card says which.

Everything else is refused with the reason and a way forward that exists: a model that reads
the text-feature block (counted from the text outside the network) or embeds long texts as a
mean of windows, an MLP head on the separate layout (the prompt enters through a
non-linearity: retrain with ``--layout joint`` or ``--head bt-linear``), ensembles with the
``min`` or ``mean_minus_std`` reward (``--aggregate mean``), boosted trees (LightGBM: ``--head
bt-linear``), and encoders that are not sentence-transformers models (causal-LM hidden
states, precomputed vectors).

The folder is checked before it is put in place: it is loaded back with plain
``SentenceTransformer`` and its outputs on a few probe texts are compared with prefspace's
rewards; a difference above ``tolerance`` refuses the export.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_folder, write_text_atomic
from .._paths import check_output
from .._version import __version__
from ..data.dataset import render_prompt_text
from ..embed.encoder import render_joint_text
from ..embed.hf_progress import no_hf_progress_bars
from ..exceptions import ConfigError
from ._base import RewardHead
from .card import front_matter, hub_metadata
from .ensemble import RewardEnsemble
from .lgbm import PreferenceClassifierLGBM
from .linear import BradleyTerryLinear
from .mlp import BradleyTerryMLP, PreferenceClassifierMLP
from .persistence import (
    ModelDescription,
    check_replaceable_folder,
    describe_model,
    load_model,
    load_model_encoder,
)

logger = logging.getLogger(__name__)

__all__ = [
    "EXPORT_FORMATS",
    "DenseLayer",
    "ExportResult",
    "head_as_dense_layers",
    "export_sentence_transformers",
    "export_model",
]

EXPORT_FORMATS = ("sentence-transformers",)
MARKER = "prefspace_export.json"
# torch classes for the MLP heads' activations (sentence-transformers' Dense loads a "torch."
# class by name with trust_remote_code off); GELU is the exact (erf) GELU, as the heads use
_TORCH_ACTIVATIONS = {"identity": "Identity", "relu": "ReLU", "gelu": "GELU", "tanh": "Tanh"}
# (prompt, responses) used to check an export: short, so no truncation is involved
_PROBES = (
    (
        "How do I boil an egg?",
        (
            "Put it in boiling water for about eight minutes, then cool it in cold water.",
            "Eggs are a good source of protein.",
            "I cannot help with that.",
        ),
    ),
    (
        "Write a haiku about rain.",
        (
            "Soft rain on the roof / the garden drinks in silence / puddles hold the sky",
            "Rain is water falling from clouds.",
        ),
    ),
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
    scope : ``"reward"`` (outputs are prefspace's rewards), ``"prompt_plus_response"``
        (separate layout: ``encode_query(prompt) + encode_document(response)`` is the reward) or
        ``"response_term"`` (separate layout, sentence-transformers < 5: outputs differ from the
        rewards by the prompt's term)
    input : how to call the model (see ``scope``)
    layers : the Dense layers' shapes and activations (with their ``route`` for a Router)
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
    return [
        DenseLayer(
            np.asarray(model.coef_, dtype=np.float64)[None, :].copy(),
            np.array([float(model.intercept_)]),
        )
    ]


def _side_by_side(members: list[list[DenseLayer]]) -> list[DenseLayer]:
    """The mean of several networks of the same depth and activations as one wider network."""
    from scipy.linalg import block_diag

    k = len(members)
    depth = len(members[0])
    if any(len(m) != depth for m in members) or any(
        [layer.activation for layer in m] != [layer.activation for layer in members[0]]
        for m in members
    ):
        raise ConfigError(
            "the ensemble's members differ in depth or activation, so they cannot be laid side by side."
        )
    if depth == 1:  # affine members: the mean of affine maps is affine
        return [
            DenseLayer(
                np.mean([m[0].weight for m in members], axis=0),
                np.mean([m[0].bias for m in members], axis=0),
            )
        ]
    out = [
        DenseLayer(
            np.vstack([m[0].weight for m in members]),
            np.concatenate([m[0].bias for m in members]),
            members[0][0].activation,
        )
    ]
    for j in range(1, depth - 1):
        out.append(
            DenseLayer(
                block_diag(*[m[j].weight for m in members]),
                np.concatenate([m[j].bias for m in members]),
                members[0][j].activation,
            )
        )
    out.append(
        DenseLayer(
            np.hstack([m[-1].weight for m in members]) / k,
            np.array([np.mean([m[-1].bias[0] for m in members])]),
        )
    )
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
            raise ConfigError(
                f"the MLP's activation {check!r} has no standard torch layer to export it with."
            )
        return _mlp_layers(model)
    if isinstance(model, PreferenceClassifierLGBM):
        raise ConfigError(
            "a LightGBM head (clf-lgbm) is a set of boosted trees, which no sentence-transformers layer computes. "
            "To export, retrain with `prefspace train ... --head bt-linear` (or an MLP head with --layout joint); "
            "or serve this model as it is with `prefspace serve`."
        )
    if isinstance(model, RewardEnsemble):
        if model.aggregate != "mean":
            raise ConfigError(
                f"this ensemble's reward is {model.aggregate!r} over its members, which a stack of Dense layers "
                "cannot compute exactly (only the mean is linear in the members' rewards). Serve it with "
                "`prefspace serve`, or retrain with `prefspace train ... --ensemble K --aggregate mean` to export it."
            )
        return _side_by_side([head_as_dense_layers(m) for m in model.members_])
    raise ConfigError(
        f"{type(model).__name__} cannot be exported: no exact Dense-layer form is known for it."
    )


# ------------------------------------------------------------------------------ sentence-transformers
def _st_modules():
    try:  # sentence-transformers >= 6
        from sentence_transformers.base.modules.dense import Dense
        from sentence_transformers.base.modules.normalize import Normalize
    except ImportError:  # 3.x - 5.x
        from sentence_transformers.models import Dense, Normalize
    return Dense, Normalize


def _router_class():
    """sentence-transformers' ``Router`` (>= 5), or None on older versions."""
    try:  # sentence-transformers >= 6
        from sentence_transformers.base.modules.router import Router
    except ImportError:
        try:  # 5.x
            from sentence_transformers.models import Router
        except ImportError:
            return None
    return Router


def _encoder_modules(encoder) -> list:
    _, Normalize = _st_modules()
    modules = list(encoder.st)
    if encoder.normalize and not isinstance(modules[-1], Normalize):
        modules.append(Normalize())  # prefspace's normalize=True: L2 on top of the model's output
    return modules


def _dense_modules(layers: list[DenseLayer]) -> list:
    import torch

    Dense, _ = _st_modules()
    out = []
    for layer in layers:
        act = getattr(torch.nn, _TORCH_ACTIVATIONS[layer.activation])()
        out_f, in_f = layer.weight.shape
        out.append(
            Dense(
                in_features=int(in_f),
                out_features=int(out_f),
                bias=True,
                activation_function=act,
                init_weight=torch.tensor(layer.weight, dtype=torch.float32),
                init_bias=torch.tensor(layer.bias, dtype=torch.float32),
            )
        )
    return out


def _build_router(encoder, prompt_layer: DenseLayer, response_layer: DenseLayer):
    """Two routes over copies of the encoder: "query" (prompts, kept at their end like prefspace
    does) and "document" (responses; the default route of plain ``encode``)."""
    import copy

    from sentence_transformers import SentenceTransformer

    query = [copy.deepcopy(m) for m in _encoder_modules(encoder)]
    tokenizer = getattr(query[0], "tokenizer", None)
    if tokenizer is not None:
        tokenizer.truncation_side = (
            "left"  # prefspace keeps the end of a long prompt (its latest turns)
        )
    document = _encoder_modules(encoder)
    router = _router_class().for_query_document(
        query + _dense_modules([prompt_layer]), document + _dense_modules([response_layer])
    )
    st = SentenceTransformer(modules=[router], device="cpu")
    if encoder.max_length is not None:
        st.max_seq_length = encoder.max_length
    return st


def _build(encoder, layers: list[DenseLayer]):
    from sentence_transformers import SentenceTransformer

    modules = _encoder_modules(encoder) + _dense_modules(layers)
    st = SentenceTransformer(modules=modules, device="cpu")
    if encoder.max_length is not None:
        st.max_seq_length = encoder.max_length
    if encoder.layout == "joint" and getattr(st, "tokenizer", None) is not None:
        # prefspace keeps the end of a long prompt+response text (the response); so does this model
        st.tokenizer.truncation_side = "left"
    return st


def _probe(encoder, model) -> tuple[list, list[str], np.ndarray, list[list[int]]]:
    """Probe prompts and responses, prefspace's rewards for them, and the groups of one prompt."""
    prompts: list = []
    responses: list[str] = []
    groups: list[list[int]] = []
    for prompt, answers in _PROBES:
        groups.append(list(range(len(responses), len(responses) + len(answers))))
        prompts += [prompt] * len(answers)
        responses += list(answers)
    if encoder.layout == "joint":
        rows = encoder.encode_joint(prompts, responses)
    else:
        rows = np.concatenate([encoder.encode_prompts(prompts), encoder.encode(responses)], axis=1)
    return prompts, responses, np.asarray(model.predict(rows), dtype=np.float64), groups


def _compare(
    outputs: np.ndarray, reference: np.ndarray, groups: list[list[int]], scope: str
) -> float:
    if scope != "response_term":
        return float(np.max(np.abs(outputs - reference)))
    diffs = [
        abs((outputs[i] - outputs[g[0]]) - (reference[i] - reference[g[0]]))
        for g in groups
        for i in g[1:]
    ]
    return float(max(diffs))


def _exportable_encoder_config(model_dir: Path, described: ModelDescription) -> dict:
    """The saved model's encoder config, or a ConfigError saying why no sentence-transformers
    model can reproduce its reward (no encoder, another backend, the text-feature block, windows)."""
    cfg = (described.encoder or {}).get("config") or {}
    if not cfg:
        raise ConfigError(
            f"{model_dir} was saved without an encoder, so the text-to-reward model cannot be assembled."
        )
    if cfg.get("backend") != "sentence-transformers":
        raise ConfigError(
            f"{model_dir} uses a {cfg.get('backend')!r} encoder; only sentence-transformers encoders can be exported "
            "as a sentence-transformers model (causal-LM hidden states and precomputed vectors have no such form)."
        )
    if described.text_features or cfg.get("text_features"):
        raise ConfigError(
            f"{model_dir} reads the text-feature block (length, lines, list items, truncation: "
            f"{', '.join((described.text_features or {}).get('names') or [])}) beside the embedding. "
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
    return cfg


def export_sentence_transformers(
    model_dir: str | os.PathLike,
    out: str | os.PathLike,
    *,
    tolerance: float = 1e-5,
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
    check_replaceable_folder(out, MARKER, "a prefspace export")
    described = describe_model(model_dir)
    cfg = _exportable_encoder_config(model_dir, described)
    model = load_model(model_dir)
    layers = head_as_dense_layers(model)
    encoder = load_model_encoder(model_dir)
    scope, layers = _export_layers(model_dir, layers, encoder)
    st = (
        _build_router(encoder, *layers)
        if scope == "prompt_plus_response"
        else _build(encoder, layers)
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_folder(out) as tmp:  # nothing is written unless the check below passes
        with no_hf_progress_bars():
            st.save(str(tmp))
            prompts, responses, reference, groups = _probe(encoder, model)
            outputs = _reload_outputs(tmp, prompts, responses, encoder.layout, scope)
        diff = _compare(outputs, reference, groups, scope)
        if not np.isfinite(diff) or diff > tolerance:
            raise ConfigError(
                f"the exported model differs from prefspace's rewards by {diff:.3g} on the probe texts (tolerance "
                f"{tolerance:g}); nothing was written. This is a bug: please report it with the model's model.json."
            )
        result = _export_result(out, model_dir, described, encoder, scope, layers, diff, responses)
        write_text_atomic(
            tmp / MARKER,
            json.dumps({"prefspace_version": __version__, **asdict(result)}, indent=2) + "\n",
        )
        write_text_atomic(
            tmp / "README.md", _export_card(result, cfg, described.to_json(), out.name)
        )
    logger.info("exported %s to %s (%s; max difference %.2g)", model_dir, out, scope, diff)
    return result


def _export_layers(model_dir: Path, layers: list, encoder: Any) -> tuple[str, list]:
    """What the export computes (``"reward"``, ``"prompt_plus_response"`` or ``"response_term"``)
    and its dense layers (the head's, split on the 'separate' layout); refuses an MLP there."""
    if encoder.layout != "separate":
        return "reward", layers
    if len(layers) != 1:
        raise ConfigError(
            f"{model_dir} is an MLP on the 'separate' layout: its reward depends on the prompt's and the "
            "response's embeddings through a non-linearity, so no sentence-transformers model reproduces it. "
            "To export, retrain with `prefspace train ... --layout joint` (prompt and response embedded as "
            "one text; MLP heads then export exactly) or with `--head bt-linear` (exported prompt-aware on "
            "this layout); or serve this model as it is with `prefspace serve`."
        )
    dim = int(encoder.dim)
    prompt_layer = DenseLayer(layers[0].weight[:, :dim].copy(), np.zeros(1))
    response_layer = DenseLayer(layers[0].weight[:, dim:].copy(), layers[0].bias.copy())
    if _router_class() is not None:
        return "prompt_plus_response", [prompt_layer, response_layer]
    return "response_term", [response_layer]


def _export_result(
    out: Path,
    model_dir: Path,
    described: ModelDescription,
    encoder: Any,
    scope: str,
    layers,
    diff,
    responses,
) -> ExportResult:
    """The :class:`ExportResult` of a checked export."""
    result = ExportResult(
        path=str(out),
        scope=scope,
        input=_INPUTS[scope if encoder.layout == "separate" else "joint"],
        layers=[
            {
                "in": int(layer.weight.shape[1]),
                "out": int(layer.weight.shape[0]),
                "activation": layer.activation,
            }
            for layer in layers
        ],
        max_abs_diff=diff,
        n_probe_texts=len(responses),
        source_model={
            "directory_name": model_dir.name,
            "class": described.class_name,
            "encoder_fingerprint": (described.encoder or {}).get("fingerprint"),
            "train_fingerprint": described.train_fingerprint,
        },
    )
    if scope == "prompt_plus_response":
        result.layers[0]["route"], result.layers[1]["route"] = (
            "query (prompt)",
            "document (response)",
        )
    return result


_INPUTS = {
    "joint": "prompt and response rendered as one text",
    "prompt_plus_response": "the prompt through encode_query, the response through encode_document (or encode); "
    "the reward is the sum of the two outputs",
    "response_term": "response",
}


def _reload_outputs(
    folder: Path, prompts: list, responses: list[str], layout: str, scope: str
) -> np.ndarray:
    """Outputs of the written folder, loaded and called the way a user would (no remote code)."""
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(folder), device="cpu", trust_remote_code=False)

    def run(texts: list[str], **kwargs: Any) -> np.ndarray:
        out = np.asarray(
            st.encode(texts, convert_to_numpy=True, show_progress_bar=False, **kwargs),
            dtype=np.float64,
        )
        if out.ndim != 2 or out.shape[1] != 1:
            raise ConfigError(
                f"the exported model returns shape {out.shape}; expected ({len(texts)}, 1)."
            )
        return out[:, 0]

    if layout == "joint":
        return run([render_joint_text(p, r) for p, r in zip(prompts, responses)])
    if scope == "prompt_plus_response":
        return run([render_prompt_text(p) for p in prompts], task="query") + run(
            responses, task="document"
        )
    return run(responses)


def _export_card(result: ExportResult, cfg: dict, header: dict, name: str) -> str:

    joint = result.scope == "reward"
    how = (
        "`render_joint_text(prompt, response)`: a string prompt, a blank line, then the response "
        '(`f"{prompt}\\n\\n{response}"`); a conversation as `User: ...` / `Assistant: ...` blocks separated '
        "by blank lines, the response as the last `Assistant:` block"
    )
    usage = ["rewards = model.encode(texts)[:, 0]"]
    if result.scope == "reward":
        scope = "Its output is the reward prefspace computes, from the prompt and the response together."
    elif result.scope == "prompt_plus_response":
        scope = (
            "The model was trained on [prompt, response] rows with a linear head, so its reward is a prompt "
            "term plus a response term. `encode_query(prompts)` gives the prompt's term and "
            "`encode_document(responses)` the response's; their sum is the reward prefspace computes. "
            "Plain `encode(responses)` scores the response alone (the document route): that ranks the "
            "responses to one prompt exactly, but its values differ from the rewards by the prompt's term."
        )
        usage = [
            "rewards = model.encode_query(prompts)[:, 0] + model.encode_document(responses)[:, 0]",
            "same_prompt_ranking = model.encode(responses)[:, 0]   # the response alone",
        ]
    else:
        scope = (
            "Its output scores the response alone: the model was trained on [prompt, response] rows with a "
            "linear head, and this export holds the response's term of the reward (this version of "
            "sentence-transformers has no Router for a prompt-aware export). Differences between responses "
            "to the same prompt equal prefspace's, so it ranks them exactly, but absolute values differ "
            "from prefspace's rewards by the prompt's term."
        )
    layers = " -> ".join(
        f"Dense({layer['in']}->{layer['out']}, {layer['activation']})"
        + (f" [{layer['route']}]" if "route" in layer else "")
        for layer in result.layers
    )
    meta = hub_metadata(
        header,
        name,
        library_name="sentence-transformers",
        pipeline_tag="feature-extraction",
        tags=("sentence-transformers",),
    )
    prompt_text = (
        "Prompts given as conversations are rendered as `User: ...` / `Assistant: ...` blocks "
        "separated by blank lines (`prefspace.data.dataset.render_prompt_text`) before `encode_query`."
    )
    return "\n".join(
        [
            *front_matter(meta),
            f"# Reward model exported from prefspace ({result.source_model.get('class')})",
            "",
            f"A plain sentence-transformers model: the `{cfg.get('model')}` encoder's modules, then {layers}. "
            "It loads with `SentenceTransformer(path)`; no prefspace and no remote code are needed.",
            "",
            scope,
            "",
            "```python",
            "from sentence_transformers import SentenceTransformer",
            "model = SentenceTransformer(PATH)",
            *usage,
            "```",
            "",
            f"Each text is {how}."
            if joint
            else (prompt_text if result.scope == "prompt_plus_response" else ""),
            "Long texts keep their end (the tokenizer truncates on the left), as prefspace does; "
            "prefspace cuts at a word boundary, so a text longer than the encoder's limit may differ slightly."
            if result.scope != "response_term"
            else "",
            "",
            f"Checked when written: largest difference from prefspace on {result.n_probe_texts} probe texts "
            f"{result.max_abs_diff:.2g}.",
            "",
        ]
    )


def export_model(
    model_dir: str | os.PathLike,
    out: str | os.PathLike,
    *,
    format: str = "sentence-transformers",
    **kwargs: Any,
) -> ExportResult:
    """Export a saved model in ``format`` (one of :data:`EXPORT_FORMATS`)."""
    if format not in EXPORT_FORMATS:
        raise ConfigError(
            f"unknown export format {format!r}; choose one of: {', '.join(EXPORT_FORMATS)}."
        )
    return export_sentence_transformers(model_dir, out, **kwargs)
