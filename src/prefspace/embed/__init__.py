"""Embeddings: encoders, the content-addressed cache, and the rows a reward model sees.

::

    enc = get_encoder("all-MiniLM-L6-v2")                 # or "smollm2-135m", a path, ...
    pairs = embed_pairs(dataset, enc, cache="~/.cache/prefspace/embeddings")
    pairs.X.shape                                         # (n_pairs, 2, enc.feature_dim)
    rows = embed_responses(prompts, responses, enc)       # what serving scores

Importing this package loads neither torch nor a model; encoders load them on first use.
"""

from .cache import (
    CACHE_ENV,
    CacheMissError,
    EmbeddingCache,
    default_cache_dir,
    is_cache,
    merge_caches,
)
from .cache_reports import CacheCompactReport, CacheMergeReport, CacheSummary, FingerprintSummary
from .causal_lm import CausalLMEncoder
from .encoder import Encoder
from .onnx_backend import OnnxEncoder
from .pipeline import (
    CacheUse,
    EmbedProgress,
    EmbedStats,
    PairEmbeddings,
    describe_cache_use,
    embed_items,
    embed_pairs,
    embed_responses,
    embed_text_features,
    embed_texts,
)
from .precomputed import PrecomputedEncoder, scored_response_features
from .registry import encoder_from_config, get_encoder
from .sentence_transformer import SentenceTransformerEncoder
from .smollm2 import smollm2_gguf_path

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
    "default_cache_dir",
    "CACHE_ENV",
    "merge_caches",
    "CacheSummary",
    "FingerprintSummary",
    "CacheMergeReport",
    "CacheCompactReport",
    "describe_cache_use",
    "CacheUse",
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
