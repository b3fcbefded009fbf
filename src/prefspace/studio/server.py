"""Running the studio's app with uvicorn, on a socket bound before the server starts.

Binding first means the address is known (``port=0`` picks a free port) and printed before the
first request, and a port already in use is a clear error, not a traceback from uvicorn. The
reward server runs the same way: both use :mod:`prefspace._http`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._http import ThreadedServer, bind_socket, run_foreground

__all__ = ["bind_socket", "run_studio_server", "StudioServer"]


def run_studio_server(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    log_level: str = "warning",
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve ``app`` in the foreground until interrupted; ``on_ready(url)`` once listening."""
    run_foreground(app, host, port, log_level=log_level, on_ready=on_ready)


class StudioServer(ThreadedServer):
    """The studio's app served by uvicorn in a daemon thread (headless mode, tests,
    benchmarks); used as :class:`~prefspace._http.ThreadedServer` shows, with the app of
    :func:`~prefspace.studio.create_studio_app`."""

    name = "prefspace-studio-server"
