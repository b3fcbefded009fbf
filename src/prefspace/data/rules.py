"""The rules every text, conversation and score must pass, wherever it comes from.

Each reader of ``data`` (pairs, scored responses, candidate pools), the reward server's request
parser and the rows mode of ``score`` call these checks, so one input is accepted or refused the
same way everywhere:

- **text** (:func:`check_text`): a Python string holding no lone UTF-16 surrogate (``"\\ud800"``
  written as a JSON escape; it cannot be encoded as UTF-8, so no tokenizer or cache can take
  it) and at most ``max_text_chars`` characters (default :data:`MAX_TEXT_CHARS`, far above any
  real prompt or response; every encoder truncates long before it, but tokenizing a 20 MB text
  still costs minutes and gigabytes).
- **conversation** (:func:`check_roles`, :func:`check_response_message`): every message has role
  ``system``, ``user`` or ``assistant``; the message being scored (the last one of a whole
  conversation, or a conversational completion) is the assistant's.
- **score** (:func:`prefspace.data.values.number_value`): a finite number (numeric text, as CSV
  cells hold, included; not a bool, other text, NaN or infinity); a missing or null score means
  "no score" where scores are optional.

Checks raise :class:`~prefspace.data.dialogue.RowProblem`, which readers turn into a
``DataError`` naming the file and line (or count when ``on_bad_rows="skip"``) and the server
into a 422 naming the field.

Example
-------
>>> check_text("fine", "response")
'fine'
>>> try:
...     check_text("bad \\ud800", "response")
... except RowProblem as p:
...     print(p.reason)
invalid_text
>>> check_roles([{"role": "user", "content": "Hi"}], "'prompt'")
[{'role': 'user', 'content': 'Hi'}]
"""

from __future__ import annotations

import re
from typing import Any

from .._surface import option
from .._validation import check_whole
from .dialogue import RowProblem

__all__ = [
    "MAX_TEXT_CHARS",
    "ROLES",
    "check_max_text_chars",
    "find_surrogate",
    "check_encodable",
    "check_text",
    "check_prompt_texts",
    "check_roles",
    "check_response_message",
]

#: Default longest text (prompt or response), in characters. The longest text in the bundled
#: real data (alpaca_bon responses) has 32,627 characters; HH-RLHF's longest dialogue 4,327.
MAX_TEXT_CHARS = 100_000
#: The message roles a conversation may use.
ROLES = ("system", "user", "assistant")

_SURROGATE = re.compile("[\ud800-\udfff]")
# a JSON escape of a high or low surrogate: only lines holding one need a closer look
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def check_max_text_chars(value: Any) -> int:
    """Validate the ``max_text_chars`` parameter (a whole number >= 1)."""
    return check_whole(value, name="max_text_chars")


def may_hold_surrogate(raw: bytes) -> bool:
    """False when the JSON text ``raw`` certainly decodes to strings without lone surrogates."""
    return _SURROGATE_ESCAPE.search(raw) is not None


def find_surrogate(value: Any, path: str = "") -> tuple[str, int] | None:
    """``(where, position)`` of the first lone surrogate in a decoded JSON value, else None.

    ``where`` names the key path (``'prompt'[1]['content']``), ``position`` the character.
    """
    stack = [(value, path)]
    while stack:
        v, p = stack.pop()
        if isinstance(v, str):
            m = _SURROGATE.search(v)
            if m is not None:
                return p or "a value", m.start()
        elif isinstance(v, dict):
            for k, x in reversed(list(v.items())):
                in_key = _SURROGATE.search(k) if isinstance(k, str) else None
                if in_key is not None:
                    return f"{p}key {k!r}", in_key.start()
                stack.append((x, f"{p}[{k!r}]" if p else repr(k)))
        elif isinstance(v, list):
            for i in range(len(v) - 1, -1, -1):
                stack.append((v[i], f"{p}[{i}]"))
    return None


def surrogate_problem(where: str, position: int, skippable: bool = True) -> RowProblem:
    """The row problem for a lone surrogate at ``where``, character ``position``; a row of a
    file (``skippable``) may also be skipped with ``on_bad_rows``."""
    skip = f", or pass {option('on_bad_rows', 'skip')}" if skippable else ""
    return RowProblem(
        "invalid_text",
        f"{where} holds a lone UTF-16 surrogate (a '\\ud800'-'\\udfff' escape without its pair) at "
        f"character {position}; it is not a character and cannot be encoded as UTF-8. Fix the "
        f"text (a broken emoji or a cut-off escape){skip}.",
    )


def check_encodable(text: str, key: str, skippable: bool = True) -> str:
    """``text`` if it holds no lone surrogate (so it can be encoded as UTF-8); else a RowProblem
    (``skippable``: the fix may be to skip the row, as for a row of a file)."""
    if text.isascii():
        return text
    m = _SURROGATE.search(text)
    if m is not None:
        raise surrogate_problem(key, m.start(), skippable)
    return text


def check_text(text: str, key: str, max_text_chars: int | None = MAX_TEXT_CHARS) -> str:
    """``text`` if it is encodable and not longer than ``max_text_chars`` (None: any length); else a RowProblem."""
    check_encodable(text, key)
    if max_text_chars is not None and len(text) > max_text_chars:
        raise RowProblem(
            "text_too_long",
            f"{key} has {len(text):,} characters and the limit is {max_text_chars:,} (max_text_chars). "
            f"Shorten it, raise the limit with {option('max_text_chars')}, or pass "
            f"{option('on_bad_rows', 'skip')}.",
        )
    return text


def check_prompt_texts(prompt: Any, key: str, max_text_chars: int | None = MAX_TEXT_CHARS) -> None:
    """:func:`check_text` on a prompt: a string, or messages (each content, and all of them together)."""
    if isinstance(prompt, str):
        check_text(prompt, key, max_text_chars)
        return
    total = 0
    for i, m in enumerate(prompt):
        check_text(m["content"], f"{key}[{i}]['content']", max_text_chars)
        total += len(m["content"])
    if max_text_chars is not None and total > max_text_chars:
        raise RowProblem(
            "text_too_long",
            f"{key}'s messages have {total:,} characters together and the limit is {max_text_chars:,} "
            "(max_text_chars). Shorten them, raise the limit with "
            f"{option('max_text_chars')}, or pass {option('on_bad_rows', 'skip')}.",
        )


def check_roles(messages: list[dict], key: str) -> list[dict]:
    """Refuse a message whose role is not one of :data:`ROLES`."""
    for i, m in enumerate(messages):
        if m["role"] not in ROLES:
            raise RowProblem(
                "bad_role",
                f"{key}[{i}] has role {m['role']!r}; a message's role must be 'system', 'user' or 'assistant'.",
            )
    return messages


def check_response_message(message: dict, key: str) -> dict:
    """Refuse a scored message (a conversation's last one, or a completion) that is not the assistant's."""
    if message["role"] != "assistant":
        raise RowProblem(
            "bad_role",
            f"{key} is the message being scored but its role is {message['role']!r}; it must be the assistant's "
            "(a conversation ends with the assistant's reply to the prompt before it).",
        )
    return message
