"""Reading JSON text from outside: every way it can be malformed is one ``json.JSONDecodeError``.

``json.loads`` fails in three ways on hostile or damaged text, and only the first is a
``JSONDecodeError``:

- invalid JSON (``JSONDecodeError``);
- an integer of more than 4,300 digits (``ValueError`` from Python's integer-string limit);
- arrays or objects nested thousands of levels deep (``RecursionError``).

:func:`loads` turns the other two into a ``JSONDecodeError`` with a message that says what was
found and where (``lineno``, ``colno``), so every reader catches one exception and reports it
as bad input. The digit limit is applied here whatever ``sys.set_int_max_str_digits`` says, so
a file reads the same on every machine. Floats are left to ``json`` (``1e999`` is infinity;
callers that need finite numbers check them).

Example
-------
>>> loads('{"n": 3}')
{'n': 3}
>>> try:
...     loads('{"n": ' + "9" * 5000 + '}')
... except json.JSONDecodeError as exc:
...     print(exc.msg)
an integer of 5,000 digits (the most read is 4,300)
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["loads", "JSONLimitError", "MAX_INT_DIGITS", "TOO_DEEP"]

MAX_INT_DIGITS = 4300  # Python's default limit for int(str)
TOO_DEEP = "arrays or objects nested too deeply to read (thousands of levels)"
_DEPTH_LIMIT = 500  # where the message places a too-deep document
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_LONG_INT = re.compile(rf"-?\d{{{MAX_INT_DIGITS + 1},}}")


class JSONLimitError(json.JSONDecodeError):
    """Valid JSON syntax past what is read: an integer too long or nesting too deep."""


class _HugeInteger(ValueError):
    def __init__(self, digits: int) -> None:
        super().__init__(digits)
        self.digits = digits


def _parse_int(text: str) -> int:
    digits = len(text) - text.startswith("-")
    if digits > MAX_INT_DIGITS:
        raise _HugeInteger(digits)
    return int(text)


_DECODER = (
    None  # one decoder, made on first use: json.loads would build one per call with parse_int
)


def loads(text: str) -> Any:
    """``json.loads(text)`` that raises only ``json.JSONDecodeError`` for malformed text.

    Raises
    ------
    json.JSONDecodeError : invalid JSON, or (as the subclass :class:`JSONLimitError`) an
        integer of more than :data:`MAX_INT_DIGITS` digits or nesting too deep to read;
        ``msg`` says which and ``pos`` points at it.
    """
    global _DECODER
    if _DECODER is None:
        _DECODER = json.JSONDecoder(parse_int=_parse_int)
    if not isinstance(text, str):
        raise TypeError(f"loads takes text; got {type(text).__name__} (decode bytes first)")
    try:
        return _DECODER.decode(text)
    except _HugeInteger as exc:
        match = _LONG_INT.search(text)
        pos = match.start() if match else 0
        raise JSONLimitError(
            f"an integer of {exc.digits:,} digits (the most read is {MAX_INT_DIGITS:,})", text, pos
        ) from None
    except RecursionError:
        raise JSONLimitError(TOO_DEEP, text, _deep_position(text)) from None


def _deep_position(text: str) -> int:
    """Where ``text`` first nests deeper than the depth limit (for the message's position)."""
    depth = 0
    for m in _TOKEN.finditer(text):
        tok = m.group()
        if tok in "[{":
            depth += 1
            if depth > _DEPTH_LIMIT:
                return m.start()
        elif tok in "]}":
            depth -= 1
    return 0
