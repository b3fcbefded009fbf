"""The studio's endpoints as module-level handlers, and the request bodies they accept.

Each handler gets what it shares with the others (the :class:`Studio`, the CSRF and access
tokens, the page) from one :class:`StudioContext` through ``Depends(context)``, and its body as
a validated pydantic model through ``Depends(body(Model))``: the body is read with a size cap
(413 past ``MAX_BODY_BYTES``), decoded (400), and checked once, here at the boundary (422).
Nothing below the handlers checks a request again. This module needs FastAPI (the ``serve``
extra); :func:`prefspace.studio.create_studio_app` imports it when an app is built.
"""

# No ``from __future__ import annotations``: FastAPI reads the handlers' annotations.
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict
from starlette.concurrency import run_in_threadpool

from .._http import (
    LOOPBACK_NAMES,
    BodyError,
    decode_json_object,
    host_name,
    read_capped_body,
    validate_body,
)
from .._version import __version__
from ..exceptions import PrefspaceError
from .loop import PairClosedError, Studio
from .storage import (
    ANNOTATOR_NAME,
    LABELS,
    DuplicateJudgmentError,
    NothingToUndoError,
    UnknownPairError,
    unstorable,
)

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
MAX_REASON_CHARS = 2000
MAX_PAIR_ID_CHARS = 2048
MAX_WAIT_S = 30
TOKEN_COOKIE = "prefspace_label_token"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class StudioRequestError(Exception):
    """A request the API refuses: HTTP ``status`` and a message for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class StudioContext:
    """What every handler shares: the loop, the tokens, whether only loopback hosts are answered,
    and the page's bytes."""

    studio: Studio
    csrf: str
    token: str | None
    loopback: bool
    page: bytes
    statics: dict


def context(request: Request) -> StudioContext:
    return request.app.state.studio_context


# ---------------------------------------------------------------------------- request bodies
def _storable(value: str, field: str) -> str:
    """Text SQLite can store (:func:`~prefspace.studio.storage.unstorable`)."""
    problem = unstorable(field, value)
    if problem:
        raise ValueError(problem)
    return value


def check_annotator(value: Any) -> str:
    if not isinstance(value, str) or not ANNOTATOR_NAME.match(
        value.strip()
    ):  # the studio's one rule
        raise ValueError(
            "annotator must be a name of 1 to 64 letters, digits, spaces or . @ + - _ ; got "
            f"{str(value)[:80]!r}."
        )
    return value.strip()


def _pair_id(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_PAIR_ID_CHARS:
        raise ValueError("pair_id must be the id of a pair this studio gave you (a string).")
    return _storable(value, "pair_id")


def _label(value: Any) -> str:
    if value not in LABELS:
        raise ValueError(f"label must be one of {', '.join(map(repr, LABELS))}; got {value!r:.80}.")
    return value


def _reason(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_REASON_CHARS:
        raise ValueError(f"reason must be text of at most {MAX_REASON_CHARS} characters.")
    return _storable(value, "reason").strip() or None


def _wait_s(value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 <= value <= MAX_WAIT_S
    ):
        raise ValueError(
            f"wait_s must be a number of seconds between 0 and {MAX_WAIT_S}; got {value!r:.80}."
        )
    return float(value)


Annotator = Annotated[str, BeforeValidator(check_annotator)]
PairId = Annotated[str, BeforeValidator(_pair_id)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NextBody(_Body):
    """``POST /api/next``: who asks, and how long to wait for a pair."""

    annotator: Annotator
    wait_s: Annotated[float, BeforeValidator(_wait_s)] = 0.0


class ReleaseBody(_Body):
    """``POST /api/release``: give back a pair leased to ``annotator``."""

    annotator: Annotator
    pair_id: PairId


class UndoBody(_Body):
    """``POST /api/undo``: take back ``annotator``'s last judgment."""

    annotator: Annotator


class JudgmentBody(_Body):
    """``POST /api/judgments``: one judgment."""

    annotator: Annotator
    pair_id: PairId
    label: Annotated[str, BeforeValidator(_label)]
    reason: Annotated[str | None, BeforeValidator(_reason)] = None


def body(model: type):
    """A dependency: the request's JSON body validated as ``model`` (413, 400 or 422 otherwise)."""

    async def read(request: Request):
        try:
            data = decode_json_object(
                await read_capped_body(request, MAX_BODY_BYTES, "MAX_BODY_BYTES")
            )
            return validate_body(model, data)
        except BodyError as exc:
            raise StudioRequestError(exc.status, exc.message) from None

    return read


# ---------------------------------------------------------------------------- guard and errors
def with_headers(resp: Response) -> Response:
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["Cache-Control"] = "no-store"
    return resp


def error(status: int, message: str) -> Response:
    return with_headers(JSONResponse({"error": message}, status_code=status))


async def refused(request: Request, exc: StudioRequestError) -> Response:
    return error(exc.status, exc.message)


def _authorised(request: Request, token: str | None) -> bool:
    if not token:
        return True
    given = request.cookies.get(TOKEN_COOKIE, "")
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    return hmac.compare_digest(given.encode("utf-8", "replace"), token.encode())


async def guard(request: Request, call_next):
    """Host, token, content type, CSRF and Origin checks before any handler; headers after."""
    ctx = context(request)
    host_header = request.headers.get("host", "")
    if ctx.loopback and host_name(host_header) not in LOOPBACK_NAMES:
        return error(
            421,
            f"this studio only answers requests addressed to a loopback name, not {host_header!r}.",
        )
    path = request.url.path
    token = ctx.token
    if request.method == "GET" and path == "/" and token and "token" in request.query_params:
        if hmac.compare_digest(
            request.query_params["token"].encode("utf-8", "replace"), token.encode()
        ):
            resp = RedirectResponse("/", status_code=303)
            resp.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict", path="/")
            return with_headers(resp)
        return error(401, "wrong access token.")
    if path != "/health" and not _authorised(request, token):
        return error(
            401,
            "this studio needs its access token: open /?token=TOKEN once, or send "
            "'Authorization: Bearer TOKEN'.",
        )
    if request.method not in ("GET", "HEAD"):
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return error(415, "POST bodies must be JSON (Content-Type: application/json).")
        if not hmac.compare_digest(
            request.headers.get("x-csrf-token", "").encode("utf-8", "replace"), ctx.csrf.encode()
        ):
            return error(
                403,
                "missing or wrong X-CSRF-Token header (GET /api/session gives it; the page "
                "sends it for you).",
            )
        origin = request.headers.get("origin")
        if origin is not None and origin.split("://", 1)[-1].lower() != host_header.lower():
            return error(403, f"cross-origin request from {origin!r} refused.")
    try:
        resp = await call_next(request)
    except Exception:  # noqa: BLE001 - a bug; logged, and the client gets JSON
        logger.exception("internal error on %s", path)
        return error(500, "internal error (a bug in prefspace; see the server log).")
    return with_headers(resp)


# ---------------------------------------------------------------------------- handlers
Ctx = Annotated[StudioContext, Depends(context)]


async def index(ctx: Ctx):
    return Response(ctx.page, media_type="text/html; charset=utf-8")


async def static(name: str, ctx: Ctx):
    if name not in ctx.statics:
        raise StudioRequestError(404, f"no static file {name[:80]!r}.")
    media, content = ctx.statics[name]
    return Response(content, media_type=media)


async def health():
    return JSONResponse({"status": "ok"})


async def session(ctx: Ctx):
    return JSONResponse({"csrf": ctx.csrf, "version": __version__, "labels": list(LABELS)})


async def state(ctx: Ctx, annotator: str | None = None):
    try:
        who = None if annotator is None else check_annotator(annotator)
    except ValueError as exc:
        raise StudioRequestError(422, str(exc)) from None
    got = await run_in_threadpool(ctx.studio.state, who)
    return JSONResponse(got.to_json())


async def next_pair(ctx: Ctx, req: Annotated[NextBody, Depends(body(NextBody))]):
    return JSONResponse(await run_in_threadpool(ctx.studio.next_pair, req.annotator, req.wait_s))


async def release(ctx: Ctx, req: Annotated[ReleaseBody, Depends(body(ReleaseBody))]):
    try:
        held = await run_in_threadpool(ctx.studio.release, req.annotator, req.pair_id)
    except UnknownPairError as exc:
        raise StudioRequestError(404, str(exc)) from None
    return JSONResponse({"released": held})


async def undo(ctx: Ctx, req: Annotated[UndoBody, Depends(body(UndoBody))]):
    try:
        out = await run_in_threadpool(ctx.studio.undo, req.annotator)
    except NothingToUndoError as exc:
        raise StudioRequestError(409, str(exc)) from None
    return JSONResponse(out)


async def judge(ctx: Ctx, req: Annotated[JudgmentBody, Depends(body(JudgmentBody))]):
    try:
        row = await run_in_threadpool(
            ctx.studio.judge, req.annotator, req.pair_id, req.label, reason=req.reason
        )
    except UnknownPairError as exc:
        raise StudioRequestError(404, str(exc)) from None
    except (DuplicateJudgmentError, PairClosedError) as exc:
        raise StudioRequestError(409, str(exc)) from None
    except PrefspaceError as exc:
        raise StudioRequestError(422, str(exc)) from None
    out = {
        "judgment": {
            k: row[k] for k in ("judgment_id", "pair_id", "annotator", "label", "created_at")
        }
    }
    return JSONResponse(out, status_code=201)


ROUTES: list[tuple[str, str, Callable[..., Any]]] = [
    ("GET", "/", index),
    ("GET", "/static/{name}", static),
    ("GET", "/health", health),
    ("GET", "/api/session", session),
    ("GET", "/api/state", state),
    ("POST", "/api/next", next_pair),
    ("POST", "/api/release", release),
    ("POST", "/api/undo", undo),
    ("POST", "/api/judgments", judge),
]
