"""The reward server: a FastAPI app around a :class:`RewardScorer`.

Endpoints (request and response examples in docs/serving.md):

- ``POST /get_reward``: OpenRLHF's remote reward-model protocol, ``{"query": [...],
  "prompts": [...]}`` -> ``{"rewards": [...], "scores": [...], "extra_logs": {...}}``; queries
  are split by :mod:`prefspace.serve.openrlhf` (left-truncated prompts, special tokens, chat
  templates), and rewards optionally normalised.
- ``POST /score``: ``prompt`` + ``response`` lists, ``prompt`` + ``chosen`` + ``rejected``
  pairs (adds ``p_chosen``), or ``messages`` conversations.
- ``GET /health`` and ``GET /info`` (the model's name, class and parameters, the encoder, the
  limits; never the model's path on the server's disk).

There is no ``/docs``, ``/redoc`` or ``/openapi.json``: the bodies are read with a size cap and
then validated as the pydantic models of :mod:`prefspace.serve.requests` (``ScoreBody``,
``GetRewardBody``), which take several shapes a generated schema would not describe;
docs/serving.md is the API's reference.

The handlers are module-level functions in :mod:`prefspace.serve.routes`; what they share (the
scorer, the batcher, the limits, the query splitter) is one :class:`ServeContext` on
``app.state``, handed to them by FastAPI's ``Depends``.

Concurrent requests share encoder calls through a :class:`MicroBatcher`. Bodies larger than
``max_body_bytes`` get 413; too many texts or too long a text get 422 naming the limit;
malformed JSON gets 400. Errors are JSON: ``{"error": message, "limit": name-or-null}``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .._http import json_api
from ..models.persistence import describe_model
from ..models.scorer import RewardScorer
from .batching import MicroBatcher
from .openrlhf import OpenRLHFOptions, QuerySplitter, RewardNormalizer
from .requests import RequestError, ServeConfig

logger = logging.getLogger(__name__)

__all__ = ["create_app"]


def create_app(
    model: str | Path | RewardScorer,
    config: ServeConfig | None = None,
    *,
    encoder: Any = None,
    cache: Any = None,
    openrlhf: OpenRLHFOptions | None = None,
):
    """Build the reward server's ASGI app (FastAPI) for a saved model.

    Parameters
    ----------
    model : str, Path or RewardScorer
        A model directory written by ``save_model`` (loaded here, so a model/encoder mismatch
        raises ``FingerprintMismatchError`` before any request is served), or a scorer.
    config : ServeConfig, optional
        Limits and batching settings.
    encoder, cache : passed to :class:`RewardScorer` when ``model`` is a directory (a scorer
        passed in keeps its own encoder, cache and ``lru_size``).
    openrlhf : OpenRLHFOptions, optional
        The policy's tokenizer or chat template (to split queries), reward normalisation and
        what ``scores`` holds for ``/get_reward``.

    Example
    -------
    >>> import uvicorn                                                     # doctest: +SKIP
    >>> uvicorn.run(create_app("runs/bt-mlp"), host="127.0.0.1", port=8000)  # doctest: +SKIP
    """
    from .routes import ROUTES, ServeContext, failed, item_scorer, refused

    config = config or ServeConfig()
    if isinstance(model, RewardScorer):
        scorer = model
    else:
        scorer = RewardScorer(model, encoder=encoder, cache=cache, lru_size=config.lru_size)
    batcher = MicroBatcher(
        item_scorer(scorer), max_batch=config.max_batch, max_wait_s=config.max_wait_ms / 1000
    )
    openrlhf = openrlhf or OpenRLHFOptions()
    splitter = QuerySplitter(
        openrlhf.load_template(config.strip),
        config.strip,
        prompt_format=describe_model(scorer.model_dir).prompt_format,
    )
    normalizer = RewardNormalizer(openrlhf.normalize, openrlhf.mean, openrlhf.std)
    ctx = ServeContext(scorer, batcher, config, openrlhf, splitter, normalizer)

    async def startup() -> None:
        await batcher.start()
        logger.info("serving %s", scorer.model_dir)
        logger.info("%s", splitter.describe())

    return json_api(
        "prefspace reward server",
        ROUTES,
        errors={RequestError: refused, Exception: failed},
        state={"scorer": scorer, "batcher": batcher, "config": config, "serve_context": ctx},
        startup=startup,
        shutdown=batcher.stop,
    )
