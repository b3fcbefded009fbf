"""Serving a trained reward model: an HTTP reward server, and the scorer behind it.

    RewardScorer(model_dir).score(prompts, responses)   -> float64 (n,) rewards
    create_app(model_dir, ServeConfig(...))              -> FastAPI app (/get_reward, /score, /health, /info)
    run_server(app, host, port) / BackgroundServer(app)  -> uvicorn in the foreground / a thread

The TRL reward function lives in ``prefspace.integrations.trl``; best-of-N reranking of
many responses per prompt is :func:`rerank`. FastAPI and uvicorn are imported only when an
app is built (``pip install prefspace[serve]``).
"""

from ..models.scorer import RewardScorer
from .app import create_app
from .openrlhf import OpenRLHFOptions, split_query
from .requests import ServeConfig
from .rerank import rerank
from .server import BackgroundServer, run_server

__all__ = [
    "RewardScorer",
    "create_app",
    "ServeConfig",
    "OpenRLHFOptions",
    "split_query",
    "run_server",
    "BackgroundServer",
    "rerank",
]
