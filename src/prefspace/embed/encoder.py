"""The encoder interface every backend implements, and the helpers they share.

An encoder turns text into float32 vectors. Besides plain ``encode(texts)`` it knows the three
*roles* a text plays when a reward model's input row is built (see
:func:`prefspace.embed.embed_responses`):

``"text"``
    a text embedded on its own, keeping its start when too long (responses, free text);
``"prompt"``
    a prompt (a string or ``{role, content}`` messages) embedded on its own, keeping its *end*
    when too long, because the latest turns matter most;
``"joint"``
    a (prompt, response) pair rendered as one text and embedded together.

``layout`` decides which roles make a response row: ``"separate"`` concatenates
``[prompt vector, response vector]`` (``feature_dim = 2 * dim``); ``"joint"`` uses one vector
(``feature_dim = dim``).

The ``fingerprint`` names everything that changes the numbers (backend, model weights, layer,
pooling, max length, normalisation, templates, layout, the text-feature block) and nothing that
does not (device, batch size, threads), so a cache made on one machine serves another with the
same weights.

``text_features`` (off by default; ``True`` or a version turns it on) appends the *text-feature
block* of :mod:`prefspace.data.text_features` to every response row, after the embedding: the
response's length, structure and whether this encoder truncated it, counted with this encoder's
own tokenizer (:meth:`Encoder.count_tokens`, :attr:`Encoder.token_limit`). Rows then have
``feature_dim = embedding part + len(TEXT_FEATURE_NAMES)`` columns. The vectors' cache keys
(:meth:`Encoder.role_fingerprint`) do not depend on it, so turning it on re-uses every cached
embedding; the block itself is cached under :attr:`Encoder.text_features_namespace`.

``n_jobs`` (the encoders that compute take it) is the thread count while encoding, with the
meaning it has everywhere in prefspace (:mod:`prefspace._threads`): None leaves torch's and
BLAS's settings (or ``PREFSPACE_NUM_THREADS``), ``k`` uses ``k`` threads and restores the
previous counts afterwards, -1 all cores. It is a setting of this process, not of the
embeddings: it is in neither the fingerprint nor ``config()``.

This module does not load any model; the backends do, lazily, on first use.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._threads import limit_threads, resolve_n_jobs
from .._validation import check_text_list
from ..data.dataset import canonical_prompt, render_prompt_text
from ..data.text_features import (
    TEXT_FEATURE_NAMES,
    TEXT_FEATURES_VERSION,
    check_text_features_version,
    text_feature_block,
)
from ..exceptions import ConfigError, ShapeError

logger = logging.getLogger(__name__)

LAYOUTS = ("separate", "joint")
ROLES = ("text", "prompt", "joint")

# Bumped when prefspace changes how it turns text into numbers (a fix to truncation, a new
# rendering): the fingerprints change with it, so stale cache entries are never reused.
FEATURE_VERSION = 1


_WORD_PIECES = re.compile(r"\w+|[^\w\s]")


def check_text_features(value: Any) -> int | None:
    """The text-feature version an encoder setting asks for: None (off), or a known version.

    ``False``/``None`` turn the block off, ``True`` asks for the current version, an int for
    that version (refused with a ConfigError when this library does not compute it).
    """
    if value is None or value is False:
        return None
    if value is True:
        return TEXT_FEATURES_VERSION
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"text_features must be True, False or a version number; got {value!r}.")
    try:
        return check_text_features_version(value)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def hash_config(identity: dict) -> str:
    """A 32-hex-digit sha256 of a JSON-able dict, independent of key order."""
    blob = json.dumps(identity, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


_WEIGHT_SUFFIXES = (
    ".safetensors",
    ".bin",
    ".gguf",
    ".pt",
    ".pth",
    ".json",
    ".txt",
    ".model",
    ".tiktoken",
)
_IGNORED_FILES = {"README.md", ".gitattributes", "data_config.json"}
_hash_memo: dict[tuple, str] = {}


def hash_model_files(path: str | Path) -> str:
    """sha256 over the files that define a model (weights, configs, tokenizer), in name order.

    ``path`` is a model directory or one file (a GGUF checkpoint). Results are memoised per
    (path, size, mtime) for the life of the process.
    """
    path = Path(path)
    files = (
        [path]
        if path.is_file()
        else sorted(
            p
            for p in path.rglob("*")
            if p.is_file()
            and p.suffix in _WEIGHT_SUFFIXES
            and p.name not in _IGNORED_FILES
            and ".cache" not in p.parts
        )
    )
    if not files:
        raise ConfigError(
            f"{path}: no model files found (expected weights such as model.safetensors)."
        )
    stamp = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    if stamp in _hash_memo:
        return _hash_memo[stamp]
    h = hashlib.sha256()
    for p in files:
        h.update(str(p.relative_to(path) if path.is_dir() else p.name).encode("utf-8") + b"\0")
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
    digest = h.hexdigest()[:32]
    _hash_memo[stamp] = digest
    return digest


def joint_key(prompt: Any, response: str) -> str:
    """The cache key of a (prompt, response) pair in the ``"joint"`` role: canonical JSON."""
    return json.dumps([canonical_prompt(prompt), response], ensure_ascii=False)


def first_places(keys: Sequence[str]) -> dict[str, int]:
    """Each distinct key with the index of its first occurrence, in order of appearance."""
    first: dict[str, int] = {}
    for i, k in enumerate(keys):
        first.setdefault(k, i)
    return first


def item_keys(role: str, items: Sequence[Any]) -> list[str]:
    """Cache keys (exact strings) for the items of one role.

    ``"text"`` items are strings and are their own key; ``"prompt"`` items are prompts (string
    or messages) keyed by :func:`prefspace.data.canonical_prompt`; ``"joint"`` items are
    ``(prompt, response)`` tuples keyed by :func:`joint_key`.
    """
    if role == "text":
        return list(items)
    if role == "prompt":
        return [canonical_prompt(p) for p in items]
    if role == "joint":
        return [joint_key(p, r) for p, r in items]
    raise ConfigError(f"role must be one of {', '.join(map(repr, ROLES))}; got {role!r}.")


def render_joint_text(prompt: Any, response: str) -> str:
    """One plain text holding a prompt and its response (for text encoders without a chat template).

    A conversational prompt gets the response as a final assistant turn, rendered with
    :func:`prefspace.data.render_prompt_text` (``"User: ...\\n\\nAssistant: ..."``); a string
    prompt is followed by a blank line and the response.
    """
    if isinstance(prompt, str):
        return f"{prompt}\n\n{response}"
    return render_prompt_text([*prompt, {"role": "assistant", "content": response}])


class Encoder(ABC):
    """Turns texts into float32 vectors of dimension ``dim``.

    Subclasses implement ``_encode_texts``, ``_encode_prompts``, ``_encode_joint``, ``dim`` and
    ``_identity``, and name their settings in ``_config_fields``; those with a tokenizer
    override :meth:`count_tokens` and :attr:`token_limit`. The public methods validate input
    and guarantee the output type: ``float32`` ndarray of shape ``(n, dim)``, C-contiguous,
    also for ``n == 0``.

    Example
    -------
    >>> from prefspace.embed import get_encoder
    >>> enc = get_encoder("all-MiniLM-L6-v2")
    >>> enc.encode(["hello", "world"]).shape
    (2, 384)
    >>> enc.layout, enc.feature_dim
    ('separate', 768)
    """

    backend: str = ""
    layout: str = "separate"
    #: batch size used when the caller gives none (a good CPU default for this backend)
    default_batch_size: int = 64
    #: threads while encoding (see the module docstring); None leaves the libraries' settings
    n_jobs: int | None = None
    #: version of the text-feature block appended to response rows, or None (see the module
    #: docstring); set with :meth:`set_text_features`
    text_features: int | None = None
    #: the settings :meth:`config` records after ``backend``, each read from the attribute of
    #: that name (``batch_size`` from :attr:`default_batch_size`)
    _config_fields: tuple[str, ...] = ()
    _fingerprint: str | None = None

    # -- what subclasses provide -------------------------------------------------------
    @property
    @abstractmethod
    def dim(self) -> int:
        """Dimension of one vector."""

    @abstractmethod
    def _identity(self) -> dict:
        """Everything that changes the numbers, JSON-able (hashed into the fingerprint)."""

    def _config(self) -> dict:
        """The backend's JSON-able settings (``backend`` first, then ``_config_fields``);
        see :meth:`config`."""
        cfg: dict[str, Any] = {"backend": self.backend}
        for name in self._config_fields:
            cfg[name] = getattr(self, "default_batch_size" if name == "batch_size" else name)
        return cfg

    def config(self) -> dict:
        """JSON-able settings; ``encoder_from_config(enc.config())`` rebuilds this encoder.

        ``text_features`` (the block's version) is there only when the block is on.
        """
        cfg = self._config()
        if self.text_features:
            cfg["text_features"] = self.text_features
        return cfg

    def set_text_features(self, text_features: Any = True) -> Encoder:
        """Turn the text-feature block on (``True`` or a known version) or off; returns self."""
        self.text_features = check_text_features(text_features)
        self._fingerprint = None
        return self

    @property
    def n_text_features(self) -> int:
        """Columns of the text-feature block at the end of each response row (0 when off)."""
        return len(TEXT_FEATURE_NAMES) if self.text_features else 0

    @property
    def text_feature_names(self) -> tuple[str, ...]:
        """Names of the text-feature columns (empty when off)."""
        return TEXT_FEATURE_NAMES if self.text_features else ()

    @property
    def token_limit(self) -> int | None:
        """How many tokens of a text :meth:`encode` reads (None: this encoder has no limit it
        knows of). A text with more is truncated."""
        return None

    def count_tokens(self, texts: Sequence[str]) -> np.ndarray:
        """Tokens of each text, without special tokens: int64 ``(n,)``.

        Encoders with a tokenizer count with it; this default (encoders without one, such as
        precomputed vectors) counts words and punctuation marks.
        """
        return np.fromiter(
            (len(_WORD_PIECES.findall(t)) for t in texts), dtype=np.int64, count=len(texts)
        )

    def text_feature_rows(self, texts: Sequence[str]) -> np.ndarray:
        """The text-feature block of each text as this encoder sees it: float32 ``(n, 8)``
        (:func:`prefspace.data.text_features.text_feature_block`), whether or not the block is on."""
        texts = check_text_list(texts)
        return text_feature_block(texts, self.count_tokens(texts), self.token_limit)

    @property
    def text_features_namespace(self) -> str:
        """The cache namespace of the text-feature block: ``"<hash>.features"``, the hash over the
        vectors' fingerprint (the tokenizer and limit) and the block's current version."""
        return f"{hash_config({'vectors': self.vectors_fingerprint, 'text_features': TEXT_FEATURES_VERSION})}.features"

    @abstractmethod
    def _encode_texts(self, texts: list[str]) -> np.ndarray: ...

    @abstractmethod
    def _encode_prompts(self, prompts: list) -> np.ndarray: ...

    @abstractmethod
    def _encode_joint(self, prompts: list, responses: list[str]) -> np.ndarray: ...

    def load(self) -> Encoder:
        """Load the model now rather than on the first ``encode`` (e.g. before timing); returns self."""
        return self

    # -- the public interface ----------------------------------------------------------
    @property
    def embedding_dim(self) -> int:
        """The embedding part of a response row: ``2 * dim`` (separate layout) or ``dim`` (joint)."""
        return 2 * self.dim if self.layout == "separate" else self.dim

    @property
    def feature_dim(self) -> int:
        """Length of a response row: :attr:`embedding_dim` plus the text-feature block's columns."""
        return self.embedding_dim + self.n_text_features

    @property
    def vectors_fingerprint(self) -> str:
        """32 hex digits naming everything that changes the vectors (layout included): the key of
        the cache namespaces. The same as :attr:`fingerprint` when the text-feature block is off."""
        fp = getattr(self, "_vectors_fingerprint", None)
        if fp is None:
            identity = {
                "feature_version": FEATURE_VERSION,
                "backend": self.backend,
                "layout": self.layout,
            }
            identity.update(self._identity())
            fp = hash_config(identity)
            self._vectors_fingerprint = fp
        return fp

    @property
    def fingerprint(self) -> str:
        """32 hex digits naming everything that changes a response row (layout and text-feature
        block included)."""
        fp = getattr(self, "_fingerprint", None)
        if fp is None:
            fp = self.vectors_fingerprint
            if self.text_features:
                fp = hash_config({"vectors": fp, "text_features": self.text_features})
            self._fingerprint = fp
        return fp

    @property
    def weights_sha256(self) -> str | None:
        """sha256 (32 hex digits) of the files holding the model's weights, tokenizer and
        configs (:func:`hash_model_files`), or None when they are not on disk (a hub name
        not yet downloaded) or the backend has no model files (precomputed vectors)."""
        weights = self._identity().get("weights")
        return weights.get("files_sha256") if isinstance(weights, dict) else None

    def role_fingerprint(self, role: str) -> str:
        """The cache namespace of one role: ``"<fingerprint>.<role>"``."""
        if role not in ROLES:
            raise ConfigError(f"role must be one of {', '.join(map(repr, ROLES))}; got {role!r}.")
        return f"{self.vectors_fingerprint}.{role}"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed each text alone; a text longer than the encoder's limit keeps its start.

        Parameters
        ----------
        texts : list of str, length n

        Returns
        -------
        ndarray of shape (n, dim), float32
        """
        texts = check_text_list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._finish(self._threaded(self._encode_texts, texts), len(texts))

    def encode_prompts(self, prompts: Sequence[Any]) -> np.ndarray:
        """Embed each prompt alone (str or messages); a prompt too long keeps its end (latest turns).

        Returns ndarray of shape (n, dim), float32.
        """
        prompts = list(prompts)
        if not prompts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._finish(self._threaded(self._encode_prompts, prompts), len(prompts))

    def encode_joint(self, prompts: Sequence[Any], responses: Sequence[str]) -> np.ndarray:
        """Embed each (prompt, response) rendered as one text; too long keeps the end.

        Returns ndarray of shape (n, dim), float32.
        """
        prompts, responses = list(prompts), check_text_list(responses, name="responses")
        if len(prompts) != len(responses):
            raise ShapeError(
                f"got {len(prompts)} prompts but {len(responses)} responses; they must pair up."
            )
        if not prompts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._finish(self._threaded(self._encode_joint, prompts, responses), len(prompts))

    def encode_role(self, role: str, items: Sequence[Any]) -> np.ndarray:
        """Dispatch on ``role``: texts, prompts, or ``(prompt, response)`` tuples."""
        if role == "text":
            return self.encode(items)
        if role == "prompt":
            return self.encode_prompts(items)
        if role == "joint":
            items = list(items)
            return self.encode_joint([p for p, _ in items], [r for _, r in items])
        raise ConfigError(f"role must be one of {', '.join(map(repr, ROLES))}; got {role!r}.")

    def _threaded(self, fn, *args):
        """``fn(*args)`` with ``n_jobs`` threads (nothing changed when there is nothing to set)."""
        if resolve_n_jobs(self.n_jobs) is None:
            return fn(*args)
        self.load()  # imports torch first, so that limit_threads sets its thread count too
        with limit_threads(self.n_jobs):
            return fn(*args)

    def _finish(self, vectors: Any, n: int) -> np.ndarray:
        arr = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
        if arr.shape != (n, self.dim):
            raise ShapeError(
                f"{type(self).__name__} returned shape {arr.shape}; expected ({n}, {self.dim})."
            )
        return arr

    def __repr__(self) -> str:
        cfg = {k: v for k, v in self.config().items() if k != "backend" and v is not None}
        args = ", ".join(f"{k}={v!r}" for k, v in cfg.items())
        return f"{type(self).__name__}({args})"


def check_layout(layout: str) -> str:
    if layout not in LAYOUTS:
        raise ConfigError(
            f"layout must be 'separate' (prompt and response embedded alone, concatenated) or "
            f"'joint' (one text); got {layout!r}."
        )
    return layout
