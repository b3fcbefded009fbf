"""Running the reward server with uvicorn: in the foreground, or in a background thread.

``run_server`` is what ``prefspace serve`` calls. ``BackgroundServer`` runs the same app in a
daemon thread on a free port (tests, benchmarks, notebooks) and stops it on exit.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from typing import Any

from ..exceptions import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["run_server", "BackgroundServer"]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _uvicorn_config(app: Any, host: str, port: int, log_level: str):
    import uvicorn

    if not 0 <= int(port) <= 65535:
        raise ConfigError(f"port must be between 0 and 65535; got {port}.")
    if not _is_loopback(host):
        logger.warning(
            "binding to %s: the reward server has no authentication; anyone who can reach this address can use it",
            host,
        )
    # one worker process: the model lives in this process; the micro-batcher does the batching
    return uvicorn.Config(app, host=host, port=int(port), log_level=log_level, access_log=False, lifespan="on")


def run_server(app: Any, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info") -> None:
    """Serve ``app`` with uvicorn until interrupted (Ctrl-C)."""
    import uvicorn

    uvicorn.Server(_uvicorn_config(app, host, port, log_level)).run()


class BackgroundServer:
    """Run an ASGI app with uvicorn in a daemon thread; a context manager.

    ``port=0`` lets the system pick a free port; ``url`` gives the address once started.

    Example
    -------
    >>> with BackgroundServer(create_app("runs/bt-mlp")) as server:     # doctest: +SKIP
    ...     httpx.get(server.url + "/health").json()
    {'status': 'ok'}
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning",
                 start_timeout_s: float = 60.0):
        self.app = app
        self.host = host
        self.port = port
        self.log_level = log_level
        self.start_timeout_s = start_timeout_s
        self._server = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "BackgroundServer":
        import uvicorn

        self._server = uvicorn.Server(_uvicorn_config(self.app, self.host, self.port, self.log_level))
        self._thread = threading.Thread(target=self._server.run, name="prefspace-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self.start_timeout_s
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the reward server stopped while starting; see the log above")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the reward server did not start within {self.start_timeout_s} s")
            time.sleep(0.02)
        sockets = self._server.servers[0].sockets
        self.port = sockets[0].getsockname()[1]
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def __enter__(self) -> "BackgroundServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
