"""Running the reward server with uvicorn: in the foreground, or in a background thread.

``run_server`` is what ``prefspace serve`` calls. ``BackgroundServer`` runs the same app in a
daemon thread on a free port (tests, benchmarks, notebooks) and stops it on exit. Both bind
their socket before uvicorn starts (:mod:`prefspace._http`, shared with the labeling studio),
and warn when the address is not loopback: the reward server has no authentication.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .._http import ThreadedServer, is_loopback, run_foreground

logger = logging.getLogger(__name__)

__all__ = ["run_server", "BackgroundServer"]


def _warn_if_exposed(host: str) -> None:
    if not is_loopback(host):
        logger.warning(
            "binding to %s: the reward server has no authentication; anyone who can reach this "
            "address can use it",
            host,
        )


def run_server(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "info",
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve ``app`` with uvicorn until interrupted (Ctrl-C); ``on_ready(url)`` once listening."""
    _warn_if_exposed(host)
    run_foreground(app, host, port, log_level=log_level, on_ready=on_ready)


class BackgroundServer(ThreadedServer):
    """Run an ASGI app with uvicorn in a daemon thread; a context manager.

    ``port=0`` lets the system pick a free port; ``url`` gives the address once started.

    Example
    -------
    >>> with BackgroundServer(create_app("runs/bt-mlp")) as server:     # doctest: +SKIP
    ...     httpx.get(server.url + "/health").json()
    {'status': 'ok'}
    """

    name = "prefspace-reward-server"

    def start(self) -> BackgroundServer:
        _warn_if_exposed(self.host)
        super().start()
        return self
