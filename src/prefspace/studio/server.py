"""Running the studio's app with uvicorn, on a socket bound before the server starts.

Binding first means the address is known (``port=0`` picks a free port) and printed before the
first request, and a port already in use is a clear error, not a traceback from uvicorn.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any, Callable

from ..exceptions import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["bind_socket", "run_studio_server", "StudioServer"]


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``(host, port)``."""
    if not 0 <= int(port) <= 65535:
        raise ConfigError(f"port must be between 0 and 65535; got {port}.")
    try:
        infos = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConfigError(f"cannot resolve host {host!r}: {exc}.") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port.") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _url(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _config(app: Any, log_level: str):
    import uvicorn

    return uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="on")


def run_studio_server(app: Any, host: str = "127.0.0.1", port: int = 8765, *, log_level: str = "warning",
                      on_ready: Callable[[str], None] | None = None) -> None:
    """Serve ``app`` in the foreground until interrupted; ``on_ready(url)`` once listening."""
    import uvicorn

    sock = bind_socket(host, port)
    url = _url(sock, host)
    server = uvicorn.Server(_config(app, log_level))
    if on_ready is not None:
        on_ready(url)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


class StudioServer:
    """The app served by uvicorn in a daemon thread (headless mode, tests, benchmarks).

    Example
    -------
    >>> with StudioServer(app) as server:          # doctest: +SKIP
    ...     httpx.get(server.url + "/health").json()
    {'status': 'ok'}
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning",
                 start_timeout_s: float = 60.0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.log_level = log_level
        self.start_timeout_s = start_timeout_s
        self.url: str | None = None
        self._server = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    def start(self) -> "StudioServer":
        import uvicorn

        self._sock = bind_socket(self.host, self.port)
        self.port = self._sock.getsockname()[1]
        self.url = _url(self._sock, self.host)
        self._server = uvicorn.Server(_config(self.app, self.log_level))
        started = threading.Event()
        failed: list[BaseException] = []

        def run() -> None:
            try:
                self._server.run(sockets=[self._sock])
            except BaseException as exc:  # noqa: BLE001 - reported by start()
                failed.append(exc)
            finally:
                started.set()

        self._thread = threading.Thread(target=run, name="prefspace-studio-server", daemon=True)
        self._thread.start()
        # uvicorn sets `started` after the lifespan startup; poll it, bounded
        deadline = self.start_timeout_s
        step = 0.01
        waited = 0.0
        while not self._server.started:
            if started.wait(step):
                raise RuntimeError(f"the studio server stopped while starting: {failed[0] if failed else 'no error'}")
            waited += step
            if waited > deadline:
                self.stop()
                raise RuntimeError(f"the studio server did not start within {self.start_timeout_s} s")
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> "StudioServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
