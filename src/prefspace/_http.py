"""What the reward server and the labeling studio share about HTTP: loopback names, a listening
socket, uvicorn in the foreground or in a thread, a request body read with a size cap, JSON
decoded without a 500.

Both servers run one uvicorn server per process on a socket bound *before* uvicorn starts, so
the address (``port=0`` picks a free port) is known at once and a port in use is a clear
:class:`ConfigError`, not uvicorn's traceback. Nothing here knows about models or labels.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ._jsonread import loads
from ._surface import option
from .exceptions import ConfigError

logger = logging.getLogger(__name__)

__all__ = [
    "is_loopback",
    "host_name",
    "bind_socket",
    "socket_url",
    "run_foreground",
    "ThreadedServer",
    "json_api",
    "BodyError",
    "read_capped_body",
    "decode_json_object",
    "validate_body",
    "LIMIT_EXCEEDED",
]

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ``::1``, also as ``[::1]``).

    Example
    -------
    >>> is_loopback("[::1]"), is_loopback("127.0.0.2"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    host = host.strip().lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(host_header: str) -> str:
    """The host part of a ``Host`` header (``[::1]:8765`` -> ``::1``, ``localhost:80`` -> ``localhost``).

    Example
    -------
    >>> host_name("[::1]:8765"), host_name("LOCALHOST:80")
    ('::1', 'localhost')
    """
    h = host_header.strip().lower()
    if h.startswith("["):
        return h[1 : h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``(host, port)``; ConfigError when it cannot be had."""
    if isinstance(port, bool) or not 0 <= int(port) <= 65535:
        raise ConfigError(f"port must be between 0 and 65535; got {port}.")
    try:
        infos = socket.getaddrinfo(host.strip("[]"), int(port), type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConfigError(f"cannot resolve host {host!r}: {exc}.") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port} ({exc.strerror}); choose another {option('port')}."
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def socket_url(sock: socket.socket, host: str) -> str:
    """``http://host:port`` for a bound socket (IPv6 hosts in brackets)."""
    port = sock.getsockname()[1]
    bare = host.strip("[]")
    shown = f"[{bare}]" if ":" in bare else bare
    return f"http://{shown}:{port}"


def _uvicorn_server(app: Any, log_level: str):
    import uvicorn

    # one worker process: the model (or the label store) lives in this process
    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="on")
    return uvicorn.Server(config)


def run_foreground(
    app: Any,
    host: str,
    port: int,
    *,
    log_level: str = "info",
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve ``app`` until interrupted (Ctrl-C); ``on_ready(url)`` once the socket listens."""
    sock = bind_socket(host, port)
    server = _uvicorn_server(app, log_level)
    if on_ready is not None:
        on_ready(socket_url(sock, host))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


class ThreadedServer:
    """An ASGI app served by uvicorn in a daemon thread; a context manager.

    ``port=0`` lets the system pick a free port; ``url`` and ``port`` are set once started
    (after the app's lifespan startup has run).

    Example
    -------
    >>> with ThreadedServer(app) as server:          # doctest: +SKIP
    ...     httpx.get(server.url + "/health").json()
    {'status': 'ok'}
    """

    name = "prefspace-server"

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
        start_timeout_s: float = 60.0,
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.log_level = log_level
        self.start_timeout_s = start_timeout_s
        self.url: str | None = None
        self._server = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    def start(self) -> ThreadedServer:
        self._sock = bind_socket(self.host, self.port)
        self.port = self._sock.getsockname()[1]
        self.url = socket_url(self._sock, self.host)
        self._server = server = _uvicorn_server(self.app, self.log_level)
        done = threading.Event()
        failed: list[BaseException] = []

        def run() -> None:
            try:
                server.run(sockets=[self._sock])
            except BaseException as exc:  # noqa: BLE001 - reported by start()
                failed.append(exc)
            finally:
                done.set()

        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        waited, step = 0.0, 0.01
        while not server.started:  # uvicorn sets it after the lifespan startup; poll, bounded
            if done.wait(step):
                self.stop()
                reason = failed[0] if failed else "see the log above"
                raise RuntimeError(f"the server stopped while starting: {reason}")
            waited += step
            if waited > self.start_timeout_s:
                self.stop()
                raise RuntimeError(f"the server did not start within {self.start_timeout_s} s")
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

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# ---------------------------------------------------------------------------- the app
def json_api(
    title: str,
    routes: Sequence[tuple[str, str, Callable[..., Any]]],
    *,
    errors: dict[type, Callable],
    state: dict[str, Any],
    startup: Callable[[], Awaitable[None]] | None = None,
    shutdown: Callable[[], Awaitable[None]] | None = None,
    middleware: Callable | None = None,
) -> Any:
    """A FastAPI app for one of prefspace's servers.

    ``routes`` are ``(method, path, handler)``; ``errors`` maps an exception type to its
    handler; ``state`` is set on ``app.state`` (what the handlers' dependencies read);
    ``startup`` and ``shutdown`` are awaited by the app's lifespan; ``middleware`` wraps every
    request (an HTTP middleware). There are no generated API pages (``/docs``, ``/redoc``,
    ``/openapi.json``): the bodies are read with a size cap and then validated by the server's
    own models, so the documentation describes the API.
    """
    from contextlib import asynccontextmanager

    from fastapi import FastAPI

    from ._version import __version__

    @asynccontextmanager
    async def lifespan(app: Any):
        if startup is not None:
            await startup()
        try:
            yield
        finally:
            if shutdown is not None:
                await shutdown()

    no_api_pages: dict[str, Any] = {"docs_url": None, "redoc_url": None, "openapi_url": None}
    app = FastAPI(title=title, version=__version__, lifespan=lifespan, **no_api_pages)
    for name, value in state.items():
        setattr(app.state, name, value)
    if middleware is not None:
        app.middleware("http")(middleware)
    for exc_type, handler in errors.items():
        app.add_exception_handler(exc_type, handler)
    for method, path, handler in routes:
        app.add_api_route(path, handler, methods=[method])
    return app


# ---------------------------------------------------------------------------- request bodies
class BodyError(Exception):
    """A body refused: ``status`` 400, 413 or 422, a message, and the limit involved if any."""

    def __init__(self, status: int, message: str, limit: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.limit = limit


async def read_capped_body(request: Any, limit: int, limit_name: str = "max_body_bytes") -> bytes:
    """The body of a Starlette request, refused with 413 as soon as it passes ``limit`` bytes.

    The declared ``Content-Length`` is checked first; the stream is counted as it arrives, so
    chunked bodies without a length are bounded too.
    """

    def too_large(size: int, more: str = "") -> BodyError:
        return BodyError(
            413,
            f"request body too large: {more}{size} bytes and the limit is "
            f"{limit_name}={limit}. Send less per request.",
            limit=limit_name,
        )

    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(int(declared))
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large(len(body), "at least ")
    return bytes(body)


def decode_json_object(body: bytes) -> dict:
    """A body as a JSON object; 400 for anything the JSON reader refuses, 422 for a non-object.

    Refused with 400: bytes that are not UTF-8, malformed JSON, nesting too deep to read
    (``[[[[...``) and integers of more than 4,300 digits (the guard of
    :func:`prefspace._jsonread.loads`, the same on every machine).

    Example
    -------
    >>> decode_json_object(b"[" * 30_000)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    prefspace._http.BodyError: malformed JSON in the request body: arrays or objects nested too deeply...
    """
    try:
        text = body.decode("utf-8")  # JSON over HTTP is UTF-8 (RFC 8259)
    except UnicodeDecodeError:
        raise BodyError(
            400, "the request body is not UTF-8 text; send JSON encoded as UTF-8."
        ) from None
    try:
        data = loads(text)
    except json.JSONDecodeError as exc:
        raise BodyError(400, f"malformed JSON in the request body: {exc}.") from None
    if not isinstance(data, dict):
        raise BodyError(
            422, f"the request body must be a JSON object; got a JSON {type(data).__name__}."
        )
    return data


#: The error type of a pydantic validator that refuses a request for passing a server limit;
#: its context names the limit (``PydanticCustomError(LIMIT_EXCEEDED, message, {"limit": name})``).
LIMIT_EXCEEDED = "limit_exceeded"


def validate_body(
    model: Any, data: Any, *, where: str = "", noun: str = "field", context: Any = None
) -> Any:
    """``data`` (a decoded JSON body) validated as the pydantic ``model``; else BodyError(422).

    The message is the first problem's, naming its field: an unknown or a missing ``noun``
    (with the field's description, or the model's docstring), a validator's own message, or
    pydantic's prefixed by the field's path. ``where`` (``"/score: "``) starts the messages
    about the body's keys; ``context`` reaches the validators (``info.context``).
    """
    from pydantic import ValidationError

    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise _first_problem(model, exc, where, noun) from None


def _first_problem(model: Any, exc: Any, where: str, noun: str) -> BodyError:
    errors = exc.errors(include_url=False)
    extra = [str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden"]
    if extra:  # before a field's problem: a misspelt key explains a missing one
        return BodyError(
            422,
            f"{where}unknown {noun}(s) {', '.join(map(repr, sorted(extra)))}; accepted "
            f"{noun}s: {', '.join(model.model_fields)}.",
        )
    err = errors[0]
    field = "".join(f"[{x}]" if isinstance(x, int) else f".{x}" for x in err["loc"]).lstrip(".")
    if err["type"] == "missing":
        about = model.model_fields[field].description if field in model.model_fields else None
        why = f" ({about})." if about else f"; {(model.__doc__ or '').strip()}"
        return BodyError(422, f"{where}missing {noun} {field!r}{why}")
    if err["type"] == LIMIT_EXCEEDED:
        return BodyError(422, err["msg"], limit=err["ctx"]["limit"])
    if err["type"] == "value_error":  # a validator's message, which names its field
        return BodyError(422, str(err["msg"]).removeprefix("Value error, "))
    return BodyError(422, f"{field or 'the body'!r}: {err['msg']}.")
