"""Score responses with a saved reward model: the one object the server, TRL and rerank share.

:class:`RewardScorer` loads a model directory written by ``prefspace.models.save_model``,
rebuilds the encoder it was trained with (or checks the one you pass), and turns
``(prompt, response)`` texts into rewards. Features come from
``prefspace.embed.embed_responses``, the same function training uses, so served rewards
match the rewards the model was evaluated with. Feature rows are kept in an in-memory LRU
(and, when given, in an on-disk ``EmbeddingCache``), so a response scored twice is embedded
once.

What it does not do: batching of concurrent callers (``prefspace.serve.batching``) and HTTP
(``prefspace.serve.app``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, astuple, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._jsonsafe import json_safe
from .._validation import check_text_list
from .._version import __version__
from ..data.dataset import canonical_prompt
from ..data.dialogue import RowProblem
from ..data.rules import check_encodable
from ..embed import CacheUse, EmbeddingCache, EmbedStats, embed_responses
from ..exceptions import ConfigError, DataError
from .persistence import load_model, load_model_encoder

logger = logging.getLogger(__name__)

__all__ = ["RewardScorer", "ScorerInfo", "ServedModel", "ServedEncoder"]


@dataclass(frozen=True)
class ServedModel:
    """The model a :class:`RewardScorer` serves: its folder's name (not its path), its class's
    name, its parameters as JSON, and whether it is an ensemble (a reward spread is served)."""

    name: str
    class_name: str
    params: dict
    ensemble: bool

    def to_json(self) -> dict:
        """``{"name", "class", "params", "ensemble"}``: the fields, ``class_name`` as ``class``."""
        name, class_name, params, ensemble = astuple(self)
        return {"name": name, "class": class_name, "params": params, "ensemble": ensemble}


@dataclass(frozen=True)
class ServedEncoder:
    """The encoder a :class:`RewardScorer` embeds with: fingerprint, width of one text's
    embedding, layout (None when the encoder has none) and config (None likewise)."""

    fingerprint: str
    dim: int
    layout: str | None
    config: dict | None

    def to_json(self) -> dict:
        """``{"fingerprint", "dim", "layout", "config"}``."""
        return asdict(self)


@dataclass(frozen=True)
class ScorerInfo:
    """What a :class:`RewardScorer` serves (:meth:`RewardScorer.info`); :meth:`to_json` is the
    start of the server's ``/info`` answer.

    Attributes
    ----------
    model : :class:`ServedModel`; encoder : :class:`ServedEncoder`
    feature_dim : the width of a feature row (the embedding and any text-feature block; None
        when the model does not record it)
    text_features : the names of the text-feature block's columns (empty without the block)
    length_controlled : whether the rewards leave the text-feature block out
    prefspace_version : the version serving
    """

    model: ServedModel
    encoder: ServedEncoder
    feature_dim: int | None
    text_features: tuple[str, ...]
    length_controlled: bool
    prefspace_version: str

    def to_json(self) -> dict:
        """The JSON form: ``model`` and ``encoder`` as objects, ``text_features`` as a list."""
        return {
            "model": self.model.to_json(),
            "encoder": self.encoder.to_json(),
            "feature_dim": self.feature_dim,
            "text_features": list(self.text_features),
            "length_controlled": self.length_controlled,
            "prefspace_version": self.prefspace_version,
        }


def _check_texts(prompts: Sequence[Any], responses: Sequence[Any]) -> tuple[list, list]:
    prompts, responses = list(prompts), check_text_list(responses, name="responses")
    if len(prompts) != len(responses):
        raise DataError(
            f"got {len(prompts)} prompts but {len(responses)} responses; pass one prompt per response "
            "(repeat a prompt for each of its responses)."
        )
    for i, p in enumerate(prompts):
        if isinstance(p, str):
            continue
        if isinstance(p, list) and all(
            isinstance(m, dict)
            and isinstance(m.get("content"), str)
            and isinstance(m.get("role"), str)
            for m in p
        ):
            continue
        raise DataError(
            f"prompts[{i}] must be a string or a list of messages {{'role': str, 'content': str}}; "
            f"got {type(p).__name__}."
        )
    try:  # no tokenizer takes a lone UTF-16 surrogate; say which text holds one
        for i, r in enumerate(responses):
            check_encodable(r, f"responses[{i}]")
        for i, p in enumerate(prompts):
            for j, text in enumerate([p] if isinstance(p, str) else [m["content"] for m in p]):
                check_encodable(
                    text, f"prompts[{i}]" if isinstance(p, str) else f"prompts[{i}][{j}]['content']"
                )
    except RowProblem as problem:
        raise DataError(problem.message) from None
    return prompts, responses


class RewardScorer:
    """A saved reward model plus its encoder: ``score(prompts, responses) -> rewards``.

    Parameters
    ----------
    model_dir : str or Path
        A directory written by ``prefspace.models.save_model``.
    encoder : Encoder, optional
        The encoder to embed with. By default the encoder recorded in the model directory is
        rebuilt. One with a different fingerprint is refused with
        ``FingerprintMismatchError`` (its rewards would be meaningless).
    cache : EmbeddingCache or str or Path, optional
        An on-disk embedding cache shared with training, consulted for rows not in memory.
    lru_size : int
        How many feature rows to keep in memory (0 disables the in-memory cache).
    length_controlled : bool, default False
        Serve the length-controlled reward: the model's reward without its text-feature
        block's contribution (``model.predict(E, length_controlled=True)``, as ODIN serves its
        content head). For a model trained without the block this changes nothing.

    Attributes
    ----------
    model, encoder : the loaded reward head and its encoder
    feature_dim : int, the width of one feature row (``2 * dim`` for the "separate" layout)
    stats : dict of counters: ``encoder_calls``, ``rows_embedded``, ``lru_hits``, ``rows_scored``

    Example
    -------
    >>> scorer = RewardScorer("runs/bt-mlp")                          # doctest: +SKIP
    >>> scorer.score(["What is 2+2?"] * 2, ["4", "5"])                # doctest: +SKIP
    array([ 1.93, -0.71])
    """

    def __init__(
        self,
        model_dir: str | os.PathLike,
        encoder: Any = None,
        cache: Any = None,
        lru_size: int = 20_000,
        length_controlled: bool = False,
    ) -> None:

        self.model_dir = Path(model_dir)
        if not self.model_dir.is_dir():
            raise ConfigError(
                f"{self.model_dir}: not a directory. Pass the directory save_model wrote "
                "(it holds model.json and the weights)."
            )
        if lru_size < 0:
            raise ConfigError(f"lru_size must be >= 0; got {lru_size}.")
        if encoder is None:
            encoder = load_model_encoder(self.model_dir)
        # load_model refuses an encoder whose fingerprint differs from the one recorded at save time
        self.model = load_model(self.model_dir, encoder=encoder)
        self.encoder = encoder
        if cache is not None and not isinstance(cache, EmbeddingCache):
            cache = EmbeddingCache(cache)
        self.cache = cache
        self.lru_size = int(lru_size)
        self.length_controlled = bool(length_controlled)
        self._lru: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()  # guards the LRU and the counters
        self._encode_lock = threading.Lock()  # one encoder call at a time (torch is not re-entrant)
        self.stats = {"encoder_calls": 0, "rows_embedded": 0, "lru_hits": 0, "rows_scored": 0}
        self.embed_stats = EmbedStats()  # distinct texts asked of the cache, found there, embedded
        self.feature_dim = (
            int(self.model.n_features_in_) if hasattr(self.model, "n_features_in_") else None
        )
        logger.info(
            "loaded %s (%s) with encoder %s",
            self.model_dir,
            type(self.model).__name__,
            encoder.fingerprint,
        )

    # ------------------------------------------------------------------ features
    def features(self, prompts: Sequence[Any], responses: Sequence[Any]) -> np.ndarray:
        """Feature rows for each ``(prompt, response)``: float32 of shape ``(n, feature_dim)``.

        Rows already in memory are reused; the rest (deduplicated) are embedded with one
        ``embed_responses`` call.
        """

        prompts, responses = _check_texts(prompts, responses)
        keys = [(canonical_prompt(p), r) for p, r in zip(prompts, responses)]
        rows: list[np.ndarray | None] = [None] * len(keys)
        missing: dict[tuple[str, str], int] = {}  # key -> position in the to-embed lists
        miss_prompts: list = []
        miss_responses: list = []
        with self._lock:
            for i, key in enumerate(keys):
                row = self._lru.get(key)
                if row is not None:
                    self._lru.move_to_end(key)
                    rows[i] = row
                    self.stats["lru_hits"] += 1
                elif key not in missing:
                    missing[key] = len(miss_prompts)
                    miss_prompts.append(prompts[i])
                    miss_responses.append(responses[i])
        if miss_prompts:
            with self._encode_lock:
                fresh = embed_responses(
                    miss_prompts, miss_responses, self.encoder, self.cache, stats=self.embed_stats
                )
            fresh = np.asarray(fresh, dtype=np.float32)
            with self._lock:
                self.stats["encoder_calls"] += 1
                self.stats["rows_embedded"] += len(miss_prompts)
                for key, j in missing.items():
                    self._remember(key, fresh[j])
            for i, key in enumerate(keys):
                if rows[i] is None:
                    rows[i] = fresh[missing[key]]
        if not keys:
            return np.zeros((0, self.feature_dim or 0), dtype=np.float32)
        filled = [r for r in rows if r is not None]  # every row is filled by now
        return np.stack(filled).astype(np.float32, copy=False)

    def _remember(self, key: tuple[str, str], row: np.ndarray) -> None:
        if self.lru_size == 0:
            return
        self._lru[key] = row
        self._lru.move_to_end(key)
        while len(self._lru) > self.lru_size:
            self._lru.popitem(last=False)

    def cache_use(self) -> CacheUse:
        """Which cache this scorer reads and fills, and how many distinct texts it found there
        (:class:`prefspace.embed.CacheUse`)."""
        with self._encode_lock:
            return self.embed_stats.cache_use(self.cache)

    # ------------------------------------------------------------------ rewards
    def score(self, prompts: Sequence[Any], responses: Sequence[Any]) -> np.ndarray:
        """Rewards for each ``(prompt, response)``: float64 of shape ``(n,)``.

        ``prompts[i]`` is a string or conversational messages; ``responses[i]`` a string.
        """
        E = self.features(prompts, responses)
        return self.predict(E)

    def predict(self, E: np.ndarray) -> np.ndarray:
        """Rewards for feature rows ``E`` of shape ``(n, feature_dim)``: float64 ``(n,)``."""
        if len(E) == 0:
            return np.zeros(0, dtype=np.float64)
        with self._lock:
            self.stats["rows_scored"] += len(E)
        return np.asarray(
            self.model.predict(E, length_controlled=self.length_controlled), dtype=np.float64
        )

    @property
    def has_std(self) -> bool:
        """True when the model is an ensemble that reports its members' disagreement (``predict_std``)."""
        return callable(getattr(self.model, "predict_std", None))

    def predict_std(self, E: np.ndarray) -> np.ndarray | None:
        """Standard deviation of the ensemble members' rewards, ``(n,)`` (the reward's spread,
        ``reward_std`` in the server's answers); None for a single head."""
        if not self.has_std:
            return None
        if len(E) == 0:
            return np.zeros(0, dtype=np.float64)
        return np.asarray(self.model.predict_std(E), dtype=np.float64)

    def p_first_wins(self, E_first: np.ndarray, E_second: np.ndarray) -> np.ndarray:
        """P(first response preferred) for aligned rows, from the model's ``predict_proba``: ``(n,)``."""
        if len(E_first) == 0:
            return np.zeros(0, dtype=np.float64)
        X = np.stack([E_first, E_second], axis=1)
        return np.asarray(self.model.predict_proba(X), dtype=np.float64)

    # ------------------------------------------------------------------ description
    def info(self) -> ScorerInfo:
        """What is being served: the model's name (its folder's name, not its path), class and
        parameters, the encoder, dimensions (a :class:`ScorerInfo`)."""
        enc = self.encoder
        return ScorerInfo(
            model=ServedModel(
                name=self.model_dir.name,
                class_name=type(self.model).__name__,
                params=_jsonable_params(self.model),
                ensemble=self.has_std,
            ),
            encoder=ServedEncoder(
                fingerprint=enc.fingerprint,
                dim=int(enc.dim),
                layout=getattr(enc, "layout", None),
                config=enc.config() if hasattr(enc, "config") else None,
            ),
            feature_dim=self.feature_dim,
            text_features=tuple(getattr(enc, "text_feature_names", ())),
            length_controlled=self.length_controlled,
            prefspace_version=__version__,
        )


def _jsonable_params(model: Any) -> dict:
    """The model's ``get_params()`` as JSON; a value JSON cannot hold (an estimator, a Generator)
    is named by its type."""
    params = model.get_params(deep=False) if hasattr(model, "get_params") else {}
    return json_safe(params, default=lambda v: type(v).__name__)
