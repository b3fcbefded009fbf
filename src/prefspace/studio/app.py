"""The labeling studio's web app (FastAPI): one page and a small JSON API.

Endpoints:

- ``GET /``: the page (``resources/studio/``); ``GET /static/app.js`` and ``/static/app.css``.
- ``GET /api/session``: ``{"csrf": ...}``, the token every POST must carry in ``X-CSRF-Token``.
- ``GET /api/state?annotator=NAME``: progress, the model's cross-validated accuracy and its
  learning curve, agreement, settings.
- ``POST /api/next`` ``{"annotator", "wait_s"?}``: the next pair for that annotator (or a status:
  ``refitting``, ``waiting``, ``finished``); ``wait_s`` (<= 30) long-polls for one.
- ``POST /api/judgments`` ``{"annotator", "pair_id", "label": "a"|"b"|"tie"|"skip", "reason"?}``:
  201 once the judgment is committed to the database.
- ``POST /api/release`` ``{"annotator", "pair_id"}``: give a leased pair back (the page does
  this when its annotator changes name).
- ``GET /health``.

Security: the server binds to loopback unless told otherwise, and then only answers requests
whose ``Host`` is a loopback name (so a web page cannot reach it through DNS rebinding). With an
access token (required for any other host) every request needs it: opening ``/?token=...``
once sets an HttpOnly, SameSite=Strict cookie; scripts send ``Authorization: Bearer ...``.
POSTs need ``Content-Type: application/json``, the CSRF token, and a matching ``Origin`` when
the browser sends one. Responses carry a Content-Security-Policy without inline scripts, and the
page inserts responses as text only: model output is never parsed as HTML. Bad requests are
4xx with ``{"error": ...}``: an unknown pair 404, a repeated judgment 409, a malformed body 400
or 422; never a 500.
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoints' annotations at
# definition time, and Request is imported inside create_studio_app.
import hmac
import ipaddress
import json
import logging
import re
import secrets
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any, Optional

from .._version import __version__
from ..exceptions import ConfigError, PrefspaceError
from .loop import PairClosedError, Studio
from .storage import LABELS, DuplicateJudgmentError, UnknownPairError

logger = logging.getLogger(__name__)

__all__ = ["create_studio_app", "is_loopback", "StudioRequestError"]

MAX_BODY_BYTES = 64 * 1024
MAX_REASON_CHARS = 2000
MAX_PAIR_ID_CHARS = 2048
_ANNOTATOR = re.compile(r"^[\w.@+\- ]{1,64}$")
TOKEN_COOKIE = "prefspace_label_token"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


class StudioRequestError(Exception):
    """A request the API refuses: HTTP ``status`` and a message for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _resource(name: str) -> bytes:
    return resources.files("prefspace").joinpath("resources", "studio", name).read_bytes()


def _host_name(host_header: str) -> str:
    """The host part of a Host header (``[::1]:8765`` -> ``::1``, ``localhost:80`` -> ``localhost``)."""
    h = host_header.strip().lower()
    if h.startswith("["):
        return h[1 : h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def create_studio_app(studio: Studio, *, host: str = "127.0.0.1", token: Optional[str] = None):
    """The ASGI app around a :class:`Studio` (started here, stopped when the app shuts down).

    Parameters
    ----------
    studio : the loop to serve
    host : the address the server binds to; any host but loopback needs ``token``
    token : access token (at least 16 characters) or None (loopback only)

    Example
    -------
    >>> app = create_studio_app(Studio(LabelStore("labels.sqlite"), pool))   # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=8765)                      # doctest: +SKIP
    """
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, RedirectResponse, Response
    from starlette.concurrency import run_in_threadpool

    loopback = is_loopback(host)
    if token is not None and len(token) < 16:
        raise ConfigError("the access token must have at least 16 characters (e.g. `python -c 'import secrets; "
                          "print(secrets.token_urlsafe(24))'`).")
    if not loopback and not token:
        raise ConfigError(
            f"serving on {host} (not loopback) needs an access token: pass --token (or set PREFSPACE_LABEL_TOKEN); "
            "annotators then open http://HOST:PORT/?token=TOKEN once."
        )
    csrf = secrets.token_urlsafe(32)
    page = _resource("index.html").replace(b"{{CSRF}}", csrf.encode()).replace(b"{{VERSION}}", __version__.encode())
    statics = {"app.js": ("application/javascript", _resource("app.js")),
               "app.css": ("text/css", _resource("app.css"))}
    studio.start()

    @asynccontextmanager
    async def lifespan(app):
        try:
            yield
        finally:
            await run_in_threadpool(studio.stop)

    app = FastAPI(title="prefspace labeling studio", version=__version__, lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url=None)
    app.state.studio = studio

    def _headers(resp: Response) -> Response:
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Cache-Control"] = "no-store"
        return resp

    def _error(status: int, message: str) -> Response:
        return _headers(JSONResponse({"error": message}, status_code=status))

    def _authorised(request: Request) -> bool:
        if not token:
            return True
        given = request.cookies.get(TOKEN_COOKIE, "")
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        return hmac.compare_digest(given.encode(), token.encode())

    @app.middleware("http")
    async def guard(request: Request, call_next):
        host_header = request.headers.get("host", "")
        if loopback and _host_name(host_header) not in _LOOPBACK_NAMES:
            return _error(421, f"this studio only answers requests addressed to a loopback name, not {host_header!r}.")
        path = request.url.path
        if request.method == "GET" and path == "/" and token and "token" in request.query_params:
            if hmac.compare_digest(request.query_params["token"].encode(), token.encode()):
                resp = RedirectResponse("/", status_code=303)
                resp.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict", path="/")
                return _headers(resp)
            return _error(401, "wrong access token.")
        if path != "/health" and not _authorised(request):
            return _error(401, "this studio needs its access token: open /?token=TOKEN once, or send "
                               "'Authorization: Bearer TOKEN'.")
        if request.method not in ("GET", "HEAD"):
            ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "application/json":
                return _error(415, "POST bodies must be JSON (Content-Type: application/json).")
            if not hmac.compare_digest(request.headers.get("x-csrf-token", "").encode(), csrf.encode()):
                return _error(403, "missing or wrong X-CSRF-Token header (GET /api/session gives it; the page "
                                   "sends it for you).")
            origin = request.headers.get("origin")
            if origin is not None and origin.split("://", 1)[-1].lower() != host_header.lower():
                return _error(403, f"cross-origin request from {origin!r} refused.")
        try:
            resp = await call_next(request)
        except Exception:  # noqa: BLE001 - a bug; logged, and the client gets JSON
            logger.exception("internal error on %s", path)
            return _error(500, "internal error (a bug in prefspace; see the server log).")
        return _headers(resp)

    @app.exception_handler(StudioRequestError)
    async def _refused(request: Request, exc: StudioRequestError):
        return _error(exc.status, exc.message)

    async def read_json(request: Request) -> dict:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise StudioRequestError(413, f"request body too large ({declared} bytes; limit {MAX_BODY_BYTES}).")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise StudioRequestError(413, f"request body too large (limit {MAX_BODY_BYTES} bytes).")
        try:
            data = json.loads(bytes(body).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StudioRequestError(400, f"the body is not valid JSON ({exc}).") from None
        if not isinstance(data, dict):
            raise StudioRequestError(422, f"the body must be a JSON object; got {type(data).__name__}.")
        return data

    def annotator_of(value: Any) -> str:
        if not isinstance(value, str) or not _ANNOTATOR.match(value.strip()):
            raise StudioRequestError(
                422, "annotator must be a name of 1 to 64 letters, digits, spaces or . @ + - _ ; got "
                     f"{str(value)[:80]!r}.")
        return value.strip()

    def known_keys(data: dict, allowed: set) -> None:
        extra = sorted(set(data) - allowed)
        if extra:
            raise StudioRequestError(422, f"unknown field(s) {', '.join(map(repr, extra))}; allowed: "
                                          f"{', '.join(sorted(allowed))}.")

    @app.get("/")
    async def index():
        return Response(page, media_type="text/html; charset=utf-8")

    @app.get("/static/{name}")
    async def static(name: str):
        if name not in statics:
            raise StudioRequestError(404, f"no static file {name!r}.")
        media, body = statics[name]
        return Response(body, media_type=media)

    @app.get("/health")
    async def health():
        return JSONResponse({"status": "ok"})

    @app.get("/api/session")
    async def session():
        return JSONResponse({"csrf": csrf, "version": __version__, "labels": list(LABELS)})

    @app.get("/api/state")
    async def state(annotator: Optional[str] = None):
        who = None if annotator is None else annotator_of(annotator)
        return JSONResponse(await run_in_threadpool(studio.state, who))

    @app.post("/api/next")
    async def next_pair(request: Request):
        data = await read_json(request)
        known_keys(data, {"annotator", "wait_s"})
        who = annotator_of(data.get("annotator"))
        wait_s = data.get("wait_s", 0)
        if isinstance(wait_s, bool) or not isinstance(wait_s, (int, float)) or not 0 <= wait_s <= 30:
            raise StudioRequestError(422, f"wait_s must be a number of seconds between 0 and 30; got {wait_s!r}.")
        return JSONResponse(await run_in_threadpool(studio.next_pair, who, float(wait_s)))

    @app.post("/api/release")
    async def release(request: Request):
        data = await read_json(request)
        known_keys(data, {"annotator", "pair_id"})
        who = annotator_of(data.get("annotator"))
        pair_id = data.get("pair_id")
        if not isinstance(pair_id, str) or not pair_id or len(pair_id) > MAX_PAIR_ID_CHARS:
            raise StudioRequestError(422, "pair_id must be the id of a pair this studio gave you (a string).")
        try:
            held = await run_in_threadpool(studio.release, who, pair_id)
        except UnknownPairError as exc:
            raise StudioRequestError(404, str(exc)) from None
        return JSONResponse({"released": held})

    @app.post("/api/judgments")
    async def judge(request: Request):
        data = await read_json(request)
        known_keys(data, {"annotator", "pair_id", "label", "reason"})
        who = annotator_of(data.get("annotator"))
        pair_id, label, reason = data.get("pair_id"), data.get("label"), data.get("reason")
        if not isinstance(pair_id, str) or not pair_id or len(pair_id) > MAX_PAIR_ID_CHARS:
            raise StudioRequestError(422, "pair_id must be the id of a pair this studio gave you (a string).")
        if label not in LABELS:
            raise StudioRequestError(422, f"label must be one of {', '.join(map(repr, LABELS))}; got {label!r}.")
        if reason is not None:
            if not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS:
                raise StudioRequestError(422, f"reason must be text of at most {MAX_REASON_CHARS} characters.")
            reason = reason.strip() or None
        try:
            row = await run_in_threadpool(studio.judge, who, pair_id, label, reason=reason)
        except UnknownPairError as exc:
            raise StudioRequestError(404, str(exc)) from None
        except (DuplicateJudgmentError, PairClosedError) as exc:
            raise StudioRequestError(409, str(exc)) from None
        except PrefspaceError as exc:
            raise StudioRequestError(422, str(exc)) from None
        body = {"judgment": {k: row[k] for k in ("judgment_id", "pair_id", "annotator", "label", "created_at")}}
        return JSONResponse(body, status_code=201)

    return app
