"""The reward server's endpoints as module-level handlers.

Each handler gets the shared :class:`ServeContext` through ``Depends(context)`` and its request
already parsed through a dependency: the body is read with the streaming size cap (413), decoded
(400) and checked by :mod:`prefspace.serve.requests` (422) once, before the handler runs; the
handlers only score and shape the answer. This module needs FastAPI (the ``serve`` extra);
:func:`prefspace.serve.create_app` imports it when an app is built.
"""

# No ``from __future__ import annotations``: FastAPI reads the handlers' annotations.
import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from scipy.special import expit

from .._http import BodyError, decode_json_object, read_capped_body
from .._jsonsafe import json_number
from ..exceptions import PrefspaceError
from ..models.scorer import RewardScorer
from .batching import BatcherStoppedError, MicroBatcher
from .openrlhf import OpenRLHFOptions, QuerySplitter, RewardNormalizer, parse_get_reward
from .requests import RequestError, ScoreRequest, ServeConfig, parse_score

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeContext:
    """What every handler shares."""

    scorer: RewardScorer
    batcher: MicroBatcher
    config: ServeConfig
    openrlhf: OpenRLHFOptions
    splitter: QuerySplitter
    normalizer: RewardNormalizer


def context(request: Request) -> ServeContext:
    return request.app.state.serve_context


Ctx = Annotated[ServeContext, Depends(context)]


def item_scorer(scorer: RewardScorer):
    """The batch function: per item ``(reward, reward std or None, feature row)``."""

    def score_items(prompts: list, responses: list) -> list:
        E = scorer.features(prompts, responses)
        rewards = scorer.predict(E)
        std = scorer.predict_std(E)
        return [(rewards[i], None if std is None else std[i], E[i]) for i in range(len(rewards))]

    return score_items


# ---------------------------------------------------------------------------- requests
async def json_body(request: Request, ctx: Ctx) -> dict:
    """The body as a JSON object, read with the size cap (413) and decoded (400/422)."""
    try:
        return decode_json_object(await read_capped_body(request, ctx.config.max_body_bytes))
    except BodyError as exc:
        raise RequestError.of(exc) from None


Body = Annotated[dict, Depends(json_body)]


def get_reward_request(ctx: Ctx, data: Body) -> tuple:
    """``/get_reward``'s body as (prompts, responses), the queries split."""
    return parse_get_reward(data, ctx.config, ctx.splitter)


def score_request(ctx: Ctx, data: Body) -> ScoreRequest:
    """``/score``'s body validated as :class:`ScoreBody` (422 naming the field)."""
    return parse_score(data, ctx.config)


# ---------------------------------------------------------------------------- errors
async def refused(request: Request, exc: RequestError) -> JSONResponse:
    return JSONResponse({"error": exc.message, "limit": exc.limit}, status_code=exc.status)


async def failed(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("internal error on %s", request.url.path)
    return JSONResponse(
        {"error": f"internal error ({type(exc).__name__}): {exc}", "limit": None}, status_code=500
    )


async def _score_items(ctx: ServeContext, prompts: list, responses: list) -> list:
    try:
        return await ctx.batcher.submit(prompts, responses)
    except PrefspaceError as exc:  # bad input the checks above could not see (e.g. the encoder's)
        raise RequestError(422, str(exc)) from None
    except BatcherStoppedError as exc:
        raise RequestError(503, f"the server cannot score now: {exc}.") from None


# ---------------------------------------------------------------------------- handlers
async def get_reward(ctx: Ctx, req: Annotated[tuple, Depends(get_reward_request)]) -> JSONResponse:
    prompts, responses = req
    items = await _score_items(ctx, prompts, responses)
    rewards = ctx.normalizer([json_number(it[0]) for it in items])
    if ctx.openrlhf.scores == "reward":
        scores = rewards
    else:
        scores = [None if r is None else float(expit(r)) for r in rewards]
    extra: dict[str, Any] = {}
    if ctx.scorer.has_std:
        extra["reward_std"] = [json_number(it[1]) for it in items]
    return JSONResponse({"rewards": rewards, "scores": scores, "extra_logs": extra})


async def score(ctx: Ctx, req: Annotated[ScoreRequest, Depends(score_request)]) -> JSONResponse:
    scorer = ctx.scorer
    if req.rejected is None:
        items = await _score_items(ctx, req.prompts, req.responses)
        out: dict[str, Any] = {"rewards": [json_number(it[0]) for it in items]}
        if scorer.has_std:
            out["reward_std"] = [json_number(it[1]) for it in items]
        return JSONResponse(out)
    n = len(req.responses)
    items = await _score_items(ctx, req.prompts + req.prompts, req.responses + req.rejected)
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


async def health(ctx: Ctx) -> JSONResponse:
    if not ctx.batcher.running:
        return JSONResponse(
            {"status": "unavailable", "error": "the batching worker is not running"},
            status_code=503,
        )
    return JSONResponse({"status": "ok"})


async def info(ctx: Ctx) -> JSONResponse:
    config = ctx.config
    out = ctx.scorer.info().to_json()
    out["limits"] = {
        "max_body_bytes": config.max_body_bytes,
        "max_items": config.max_items,
        "max_text_chars": config.max_text_chars,
    }
    out["batching"] = {"max_batch": config.max_batch, "max_wait_ms": config.max_wait_ms}
    out["strip"] = list(config.strip)
    out["openrlhf"] = {
        **ctx.splitter.info(),
        "normalization": ctx.normalizer.info(),
        "scores": ctx.openrlhf.scores,
    }
    out["stats"] = {**ctx.batcher.stats, **ctx.scorer.stats}
    return JSONResponse(out)


ROUTES: list[tuple[str, str, Callable[..., Any]]] = [
    ("POST", "/get_reward", get_reward),
    ("POST", "/score", score),
    ("GET", "/health", health),
    ("GET", "/info", info),
]
