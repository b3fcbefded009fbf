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
- ``POST /api/undo`` ``{"annotator"}``: take back that annotator's last judgment while its batch
  is still open; the pair is leased to them again and returned, to be judged anew.
- ``GET /health``.

Security: the server binds to loopback unless told otherwise, and then only answers requests
whose ``Host`` is a loopback name (so a web page cannot reach it through DNS rebinding). With an
access token (required for any other host) every request needs it: opening ``/?token=...``
once sets an HttpOnly, SameSite=Strict cookie; scripts send ``Authorization: Bearer ...``.
POSTs need ``Content-Type: application/json``, the CSRF token, and a matching ``Origin`` when
the browser sends one. Responses carry a Content-Security-Policy without inline scripts, and the
page inserts responses as text only: model output is never parsed as HTML. Bad requests are
4xx with ``{"error": ...}``: an unknown pair 404, a repeated judgment 409, a malformed body 400
(also nesting too deep and integers too long for Python) or 422 (checked once, by the pydantic
models below, before a handler runs; text that cannot be stored as UTF-8 included); never a 500.

The handlers are module-level functions; what they share (the studio, the CSRF and access
tokens, the page) is one :class:`StudioContext` on ``app.state``, handed to them by FastAPI's
``Depends``.
"""

from __future__ import annotations

import secrets
from importlib import resources

from .._http import is_loopback, json_api
from .._surface import option
from .._version import __version__
from ..exceptions import ConfigError
from .loop import Studio

__all__ = ["create_studio_app", "is_loopback"]


def _resource(name: str) -> bytes:
    return resources.files("prefspace").joinpath("resources", "studio", name).read_bytes()


def create_studio_app(studio: Studio, *, host: str = "127.0.0.1", token: str | None = None):
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
    from starlette.concurrency import run_in_threadpool

    from .routes import ROUTES, StudioContext, StudioRequestError, guard, refused

    loopback = is_loopback(host)
    if token is not None and len(token) < 16:
        raise ConfigError(
            "the access token must have at least 16 characters (e.g. `python -c 'import secrets; "
            "print(secrets.token_urlsafe(24))'`)."
        )
    if not loopback and not token:
        raise ConfigError(
            f"serving on {host} (not loopback) needs an access token: pass {option('token')} (or set "
            "PREFSPACE_LABEL_TOKEN); "
            "annotators then open http://HOST:PORT/?token=TOKEN once."
        )
    csrf = secrets.token_urlsafe(32)
    page = (
        _resource("index.html")
        .replace(b"{{CSRF}}", csrf.encode())
        .replace(b"{{VERSION}}", __version__.encode())
    )
    statics = {
        "app.js": ("application/javascript", _resource("app.js")),
        "app.css": ("text/css", _resource("app.css")),
    }
    studio.start()

    async def shutdown() -> None:
        await run_in_threadpool(studio.stop)

    return json_api(
        "prefspace labeling studio",
        ROUTES,
        errors={StudioRequestError: refused},
        state={
            "studio": studio,
            "studio_context": StudioContext(studio, csrf, token, loopback, page, statics),
        },
        shutdown=shutdown,
        middleware=guard,
    )
