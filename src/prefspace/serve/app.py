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

There is no ``/docs``, ``/redoc`` or ``/openapi.json``: the endpoints take raw JSON bodies that
FastAPI's schema would not describe; docs/serving.md is the API's reference.

Concurrent requests share encoder calls through a :class:`MicroBatcher`. Bodies larger than
``max_body_bytes`` get 413; too many texts or too long a text get 422 naming the limit;
malformed JSON gets 400. Errors are JSON: ``{"error": message, "limit": name-or-null}``.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the endpoints' annotations
# (``request: Request``) at definition time, and Request is imported inside create_app.
import asyncio
import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
from scipy.special import expit

from .._jsonsafe import json_number
from .._version import __version__
from ..exceptions import PrefspaceError
from ..models.persistence import describe_model
from ..models.scorer import RewardScorer
from .batching import BatcherStoppedError, MicroBatcher
from .openrlhf import OpenRLHFOptions, QuerySplitter, RewardNormalizer, parse_get_reward
from .requests import RequestError, ServeConfig, decode_body, parse_score

logger = logging.getLogger(__name__)

__all__ = ["create_app"]


def create_app(
    model: Union[str, Path, RewardScorer],
    config: Optional[ServeConfig] = None,
    *,
    encoder: Any = None,
    cache: Any = None,
    openrlhf: Optional[OpenRLHFOptions] = None,
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
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse


    config = config or ServeConfig()
    if isinstance(model, RewardScorer):
        scorer = model
    else:
        scorer = RewardScorer(model, encoder=encoder, cache=cache, lru_size=config.lru_size)
    batcher = MicroBatcher(_item_scorer(scorer), max_batch=config.max_batch, max_wait_s=config.max_wait_ms / 1000)
    openrlhf = openrlhf or OpenRLHFOptions()
    train_format = ((describe_model(scorer.model_dir).get("train_data") or {}).get("format") or "")
    splitter = QuerySplitter(openrlhf.load_template(config.strip), config.strip,
                             prompt_format=train_format.split(",")[0] or None)
    normalizer = RewardNormalizer(openrlhf.normalize, openrlhf.mean, openrlhf.std)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await batcher.start()
        logger.info("serving %s", scorer.model_dir)
        try:
            yield
        finally:
            await batcher.stop()

    app = FastAPI(
        title="prefspace reward server",
        version=__version__,
        lifespan=lifespan,
        # No generated API pages: the endpoints read raw JSON bodies (checked by serve.requests),
        # so a generated schema would describe none of them; docs/serving.md documents the API.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.scorer = scorer
    app.state.batcher = batcher
    app.state.config = config

    @app.exception_handler(RequestError)
    async def _refused(request: Request, exc: RequestError) -> JSONResponse:
        return JSONResponse({"error": exc.message, "limit": exc.limit}, status_code=exc.status)

    async def read_json(request: Request) -> dict:
        limit = config.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _too_large(int(declared), limit)
        body = bytearray()
        async for chunk in request.stream():  # also bounds chunked bodies without a length
            body += chunk
            if len(body) > limit:
                raise _too_large(len(body), limit, at_least=True)
        return decode_body(bytes(body))

    @app.exception_handler(Exception)
    async def _failed(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("internal error on %s", request.url.path)
        return JSONResponse({"error": f"internal error ({type(exc).__name__}): {exc}", "limit": None}, status_code=500)

    async def score_items(prompts: list, responses: list) -> list:
        try:
            return await batcher.submit(prompts, responses)
        except PrefspaceError as exc:  # bad input the checks above could not see (e.g. the encoder's)
            raise RequestError(422, str(exc)) from None
        except BatcherStoppedError as exc:
            raise RequestError(503, f"the server cannot score now: {exc}.") from None

    @app.post("/get_reward")
    async def get_reward(request: Request) -> JSONResponse:
        prompts, responses = parse_get_reward(await read_json(request), config, splitter)
        items = await score_items(prompts, responses)
        rewards = normalizer([json_number(it[0]) for it in items])
        scores = rewards if openrlhf.scores == "reward" else [None if r is None else float(expit(r)) for r in rewards]
        extra = {}
        if scorer.has_std:
            extra["reward_std"] = [json_number(it[1]) for it in items]
        return JSONResponse({"rewards": rewards, "scores": scores, "extra_logs": extra})

    @app.post("/score")
    async def score(request: Request) -> JSONResponse:
        req = parse_score(await read_json(request), config)
        if req.rejected is None:
            items = await score_items(req.prompts, req.responses)
            out: dict[str, Any] = {"rewards": [json_number(it[0]) for it in items]}
            if scorer.has_std:
                out["reward_std"] = [json_number(it[1]) for it in items]
            return JSONResponse(out)
        n = len(req.responses)
        items = await score_items(req.prompts + req.prompts, req.responses + req.rejected)
        chosen, rejected = items[:n], items[n:]
        E_c = np.stack([it[2] for it in chosen]) if n else np.zeros((0, 0), np.float32)
        E_r = np.stack([it[2] for it in rejected]) if n else np.zeros((0, 0), np.float32)
        p = await asyncio.to_thread(scorer.p_first_wins, E_c, E_r)
        out = {
            "rewards_chosen": [json_number(it[0]) for it in chosen],
            "rewards_rejected": [json_number(it[0]) for it in rejected],
            "p_chosen": [json_number(v) for v in p],
        }
        if scorer.has_std:
            out["reward_std_chosen"] = [json_number(it[1]) for it in chosen]
            out["reward_std_rejected"] = [json_number(it[1]) for it in rejected]
        return JSONResponse(out)

    @app.get("/health")
    async def health() -> JSONResponse:
        if not batcher.running:
            return JSONResponse({"status": "unavailable", "error": "the batching worker is not running"}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/info")
    async def info() -> JSONResponse:
        body = scorer.info()
        body["limits"] = {
            "max_body_bytes": config.max_body_bytes,
            "max_items": config.max_items,
            "max_text_chars": config.max_text_chars,
        }
        body["batching"] = {"max_batch": config.max_batch, "max_wait_ms": config.max_wait_ms}
        body["strip"] = list(config.strip)
        body["openrlhf"] = {**splitter.info(), "normalization": normalizer.info(), "scores": openrlhf.scores}
        body["stats"] = {**batcher.stats, **scorer.stats}
        return JSONResponse(body)

    return app


def _item_scorer(scorer: RewardScorer):
    """The batch function: per item ``(reward, spread or None, feature row)``."""

    def score_items(prompts: list, responses: list) -> list:
        E = scorer.features(prompts, responses)
        rewards = scorer.predict(E)
        spread = scorer.predict_std(E)
        return [(rewards[i], None if spread is None else spread[i], E[i]) for i in range(len(rewards))]

    return score_items


def _too_large(size: int, limit: int, at_least: bool = False) -> RequestError:
    more = "at least " if at_least else ""
    return RequestError(
        413,
        f"request body too large: {more}{size} bytes and the limit is max_body_bytes={limit}. "
        "Send fewer texts per request.",
        limit="max_body_bytes",
    )
