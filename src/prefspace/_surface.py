"""How an error message names an option: the keyword argument from Python, the flag from the
command line.

The library raises one message for both: :func:`option` gives ``subset_key='topic'`` when a
Python caller passed the keywords, and ``--subset-key topic`` while the ``prefspace`` command
runs (its root callback enters :func:`command_line` for the command's duration). Nothing here
changes behaviour; it only chooses words.

Example
-------
>>> option("subset_key", "topic"), option("limit_prompts"), option("dedupe", True)
("subset_key='topic'", 'limit_prompts', 'dedupe=True')
>>> with command_line():
...     option("subset_key", "topic"), option("limit_prompts"), option("dedupe", True)
('--subset-key topic', '--limit-prompts', '--dedupe')
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = ["option", "command_line", "on_command_line"]

_NO_VALUE = object()
_CLI: ContextVar[bool] = ContextVar("prefspace_command_line", default=False)


def on_command_line() -> bool:
    """True while the ``prefspace`` command runs."""
    return _CLI.get()


def option(keyword: str, value: Any = _NO_VALUE, *, flag: str | None = None) -> str:
    """The option ``keyword`` (with ``value``) as the caller spells it: ``keyword=value`` in
    Python, ``--flag value`` on the command line (``flag`` defaults to ``--`` + the keyword in
    kebab case). ``value=True`` is a switch: ``keyword=True``, or the bare ``--flag``."""
    if _CLI.get():
        name = flag or "--" + keyword.replace("_", "-")
        return name if value is _NO_VALUE or value is True else f"{name} {value}"
    return keyword if value is _NO_VALUE else f"{keyword}={value!r}"


@contextmanager
def command_line() -> Iterator[None]:
    """Messages name command-line flags inside this block."""
    token = _CLI.set(True)
    try:
        yield
    finally:
        _CLI.reset(token)


def enter_command_line() -> Any:
    """Name flags from now on (the CLI's root callback); returns the token :func:`leave` takes."""
    return _CLI.set(True)


def leave(token: Any) -> None:
    _CLI.reset(token)
