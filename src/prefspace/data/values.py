"""Checks and message helpers for single values of a data row, shared by every reader in ``data``.

Each check returns the cleaned value or raises :class:`~prefspace.data.dialogue.RowProblem` (a
reason code and a message saying what is wrong and how to fix it), which the readers turn into a
``DataError`` naming the file and line, or count when bad rows are skipped. The message helpers
(:func:`type_name`, :func:`clip`, :func:`key_list`) keep those messages short and uniform.

Example
-------
>>> prompt_value([{"role": "user", "content": "Hi"}], "prompt")
[{'role': 'user', 'content': 'Hi'}]
>>> number_value("0.5", "score", "score")
0.5
>>> response_value([{"role": "assistant", "content": "Hello"}], "response")
'Hello'
"""

from __future__ import annotations

import math
from typing import Any

from .._surface import option
from .dialogue import RowProblem
from .rules import check_prompt_texts, check_response_message, check_roles, check_text

__all__ = [
    "prompt_value",
    "response_value",
    "check_messages",
    "number_value",
    "required_value",
    "type_name",
    "clip",
    "key_list",
]


def prompt_value(value: Any, key: str, max_text_chars: int | None = None) -> Any:
    """A prompt: non-empty text, or a list of messages with at least one non-empty content.

    Its texts follow :mod:`prefspace.data.rules` (encodable; at most ``max_text_chars``
    characters when given, all messages together)."""
    if value is None:
        raise RowProblem("empty_text", f"{key!r} is empty (null). Fill it in, or remove the row.")
    if isinstance(value, str):
        if not value.strip():
            raise RowProblem("empty_text", f"{key!r} is empty text. Fill it in, or remove the row.")
        check_text(value, repr(key), max_text_chars)
        return value
    if isinstance(value, list):
        messages = check_messages(value, key)
        if not messages or not any(m["content"].strip() for m in messages):
            raise RowProblem(
                "empty_text", f"{key!r} holds no non-empty message. Fill it in, or remove the row."
            )
        check_prompt_texts(messages, repr(key), max_text_chars)
        return messages
    raise RowProblem(
        "wrong_type",
        f"{key!r} must be text or a list of {{'role', 'content'}} messages; found {type_name(value)}.",
    )


def check_messages(value: list, key: str) -> list[dict]:
    """``value`` as a non-empty list of ``{"role": str, "content": str}`` messages (other keys
    dropped), each role one of ``system``, ``user``, ``assistant``."""
    out = []
    for i, m in enumerate(value):
        if (
            not isinstance(m, dict)
            or not isinstance(m.get("role"), str)
            or not isinstance(m.get("content"), str)
        ):
            found = (
                type_name(m)
                if not isinstance(m, dict)
                else "keys "
                + key_list(m)
                + (f" with content {type_name(m.get('content'))}" if "content" in m else "")
            )
            raise RowProblem(
                "wrong_type",
                f"{key!r}[{i}] must be a message {{'role': str, 'content': str}}; found {found}.",
            )
        out.append({"role": m["role"], "content": m["content"]})
    if not out:
        raise RowProblem("empty_text", f"{key!r} is an empty list of messages.")
    return check_roles(out, repr(key))


def response_value(value: Any, key: str, max_text_chars: int | None = None) -> str:
    """A response: text (possibly empty: a generator that produced nothing is a real outcome), or
    a conversational completion, a list of the assistant's ``{"role", "content"}`` messages,
    whose contents are joined. The text follows :mod:`prefspace.data.rules` (encodable; at most
    ``max_text_chars`` characters when given)."""
    if isinstance(value, str):
        return check_text(value, repr(key), max_text_chars)
    if isinstance(value, list) and value and all(isinstance(m, dict) for m in value):
        messages = check_messages(value, key)
        for j, m in enumerate(messages):
            check_response_message(m, f"{key!r}[{j}]")
        return check_text("".join(m["content"] for m in messages), repr(key), max_text_chars)
    hint = ""
    if isinstance(value, list) and value and all(isinstance(t, str) for t in value):
        hint = f" For several responses in one row, put the list under {key + 's'!r}."
    raise RowProblem(
        "wrong_type",
        f"{key!r} must be text or a list of {{'role', 'content'}} messages; found {type_name(value)}.{hint}",
    )


def required_value(data: dict, key: str, keyword: str) -> Any:
    """``data[key]``; a missing key or a null value is a row problem naming the option ``keyword``
    (``"prompt_key"``) that maps the column (:func:`prefspace._surface.option`)."""
    if key not in data:
        raise RowProblem(
            "missing_key",
            f"missing key {key!r} (found: {key_list(data)}). If the column is named differently, pass "
            f"{option(keyword, 'NAME')}.",
        )
    value = data[key]
    if value is None:
        raise RowProblem(
            "missing_value", f"{key!r} is empty (null). Fill it in, or remove the row."
        )
    return value


def number_value(value: Any, key: str, field_name: str) -> float:
    """A finite float (not a bool); a bad value is the row problem ``bad_<field_name>``."""
    try:
        if isinstance(value, bool):
            raise ValueError
        v = float(value)
    except (TypeError, ValueError):
        raise RowProblem(
            f"bad_{field_name}",
            f"{key!r} must be a number; found {type_name(value)} {clip(str(value))}.",
        ) from None
    if not math.isfinite(v):
        raise RowProblem(f"bad_{field_name}", f"{key!r} is {v}; it must be a finite number.")
    return v


def type_name(value: Any) -> str:
    """How to name a value's type in a message: ``null``, ``a list``, ``an object``, ``int``..."""
    if value is None:
        return "null"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def clip(text: str, n: int = 50) -> str:
    """The text with runs of whitespace collapsed, cut to ``n`` characters, quoted."""
    text = " ".join(str(text).split())
    return repr(text if len(text) <= n else text[: n - 3] + "...")


def key_list(keys: Any) -> str:
    """The first 15 keys, quoted and comma-separated (``no keys`` for none)."""
    keys = list(keys)
    return (
        ", ".join(repr(k) for k in keys[:15]) + (", ..." if len(keys) > 15 else "")
        if keys
        else "no keys"
    )
