"""Running the studio's app with uvicorn in a thread, on a socket bound before the server starts.

Binding first means the address is known (``port=0`` picks a free port) and printed before the
first request, and a port already in use is a clear error, not a traceback from uvicorn. The
reward server runs the same way: both use :mod:`prefspace._http`, whose ``run_foreground``
serves the studio in the foreground for ``prefspace label``.
"""

from __future__ import annotations

from .._http import ThreadedServer, bind_socket

__all__ = ["bind_socket", "StudioServer"]


class StudioServer(ThreadedServer):
    """The studio's app served by uvicorn in a daemon thread (headless mode, tests,
    benchmarks); used as :class:`~prefspace._http.ThreadedServer` shows, with the app of
    :func:`~prefspace.studio.create_studio_app`."""

    name = "prefspace-studio-server"
