"""Embeddings: encoders, the content-addressed cache, and the rows a reward model sees.

::

    enc = get_encoder("all-MiniLM-L6-v2")                 # or "smollm2-135m", a path, ...
    pairs = embed_pairs(dataset, enc, cache="~/.cache/prefspace/embeddings")
    pairs.X.shape                                         # (n_pairs, 2, enc.feature_dim)
    rows = embed_responses(prompts, responses, enc)       # what serving scores

Importing this package loads neither torch nor a model; encoders load them on first use.
"""

from .cache import CacheMissError, EmbeddingCache, is_cache
from .causal_lm import CausalLMEncoder
from .encoder import Encoder
from .pipeline import (
    EmbedProgress,
    EmbedStats,
    PairEmbeddings,
    embed_items,
    embed_pairs,
    embed_responses,
    embed_text_features,
    embed_texts,
)
from .onnx_backend import OnnxEncoder
from .precomputed import PrecomputedEncoder, scored_response_features
from .registry import encoder_from_config, get_encoder
from .smollm2 import smollm2_gguf_path
from .sentence_transformer import SentenceTransformerEncoder


__all__ = [
    "Encoder",
    "SentenceTransformerEncoder",
    "CausalLMEncoder",
    "OnnxEncoder",
    "PrecomputedEncoder",
    "get_encoder",
    "encoder_from_config",
    "smollm2_gguf_path",
    "EmbeddingCache",
    "CacheMissError",
    "is_cache",
    "embed_texts",
    "embed_items",
    "embed_responses",
    "embed_pairs",
    "embed_text_features",
    "PairEmbeddings",
    "EmbedProgress",
    "EmbedStats",
    "scored_response_features",
]
