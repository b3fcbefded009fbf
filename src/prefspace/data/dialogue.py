"""Split whole dialogues into a prompt and a final response (the implicit-prompt formats).

Two dialogue encodings are understood:

- conversational: a list of ``{"role", "content"}`` messages. Chosen and rejected share a prefix
  of messages (the prompt) and differ in one final message (the response).
- Anthropic HH-RLHF text: ``"\\n\\nHuman: ...\\n\\nAssistant: ..."``. The shared prefix up to and
  including the last ``"\\n\\nAssistant:"`` it contains is the prompt; the rest of each dialogue,
  with surrounding whitespace removed, is the response. The prompt is returned as messages
  (``Human`` -> ``user``, ``Assistant`` -> ``assistant``; the empty Assistant turn that awaits
  the response is dropped), so a causal-LM encoder can apply its chat template and
  :func:`~prefspace.data.render_prompt_text` gives readable ``"User: ..."`` text.

Functions raise :class:`RowProblem`, which the loaders turn into a located ``DataError``.
"""

from __future__ import annotations

import re

from .._surface import option

_HH_TURN = re.compile(r"(?:^|\n\n)(Human|Assistant):")
_HH_ASSISTANT = "\n\nAssistant:"
_ROLES = {"Human": "user", "Assistant": "assistant"}


class RowProblem(Exception):
    """A row-level problem: ``reason`` is a short code counted when skipping, ``message`` says what and how to fix."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def looks_like_hh(text: str) -> bool:
    """True when ``text`` is an HH-RLHF dialogue (starts with a Human turn and has an Assistant turn)."""
    return text.lstrip(" \n").startswith("Human:") and _HH_ASSISTANT in text


def hh_to_messages(text: str) -> list[dict]:
    """Parse HH dialogue text into messages; an empty trailing Assistant turn is dropped.

    Example
    -------
    >>> hh_to_messages("\\n\\nHuman: Hi\\n\\nAssistant: Hello!\\n\\nHuman: Bye\\n\\nAssistant:")
    [{'role': 'user', 'content': 'Hi'}, {'role': 'assistant', 'content': 'Hello!'}, {'role': 'user', 'content': 'Bye'}]
    """
    marks = list(_HH_TURN.finditer(text))
    if not marks or text[: marks[0].start()].strip():
        raise RowProblem("not_a_dialogue", "text does not start with a '\\n\\nHuman:' turn")
    messages = []
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        messages.append({"role": _ROLES[m.group(1)], "content": text[m.end() : end].strip()})
    if messages[-1]["role"] == "assistant" and not messages[-1]["content"]:
        messages.pop()
    return messages


def _common_prefix(a: str, b: str) -> str:
    """The longest common prefix of ``a`` and ``b``, by bisection on slices compared in C
    (``os.path.commonprefix`` walks the characters in Python: a quarter of reading HH).

    >>> _common_prefix("abcd", "abxy"), _common_prefix("", "a"), _common_prefix("ab", "ab")
    ('ab', '', 'ab')
    """
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return a[:lo]


def split_hh(chosen: str, rejected: str) -> tuple[list[dict], str, str]:
    """``(prompt_messages, chosen_response, rejected_response)`` from two whole HH dialogues.

    Example
    -------
    >>> split_hh("\\n\\nHuman: 2+2?\\n\\nAssistant: 4", "\\n\\nHuman: 2+2?\\n\\nAssistant: 5")
    ([{'role': 'user', 'content': '2+2?'}], '4', '5')
    """
    shared = _common_prefix(chosen, rejected)
    cut = shared.rfind(_HH_ASSISTANT)
    if cut < 0:
        raise RowProblem(
            "not_a_dialogue",
            "chosen and rejected share no '\\n\\nAssistant:' turn, so the prompt cannot be told apart "
            f"from the responses. Pass the prompt in its own column ({option('prompt_key')}).",
        )
    end = cut + len(_HH_ASSISTANT)
    prompt = hh_to_messages(chosen[:end])
    if not any(m["role"] == "user" and m["content"] for m in prompt):
        raise RowProblem(
            "empty_text",
            "the shared dialogue prefix has no non-empty Human turn to use as the prompt.",
        )
    return prompt, chosen[end:].strip(), rejected[end:].strip()


def split_conversation(chosen: list[dict], rejected: list[dict]) -> tuple[list[dict], dict, dict]:
    """``(prompt_messages, chosen_message, rejected_message)`` from two whole conversations.

    The prompt is the longest shared prefix of messages; each conversation must then have exactly
    one message left.
    """
    n = 0
    for a, b in zip(chosen, rejected):
        if (a["role"], a["content"]) != (b["role"], b["content"]):
            break
        n += 1
    rest_c, rest_r = chosen[n:], rejected[n:]
    if n == 0:
        raise RowProblem(
            "missing_key",
            "no prompt column and chosen/rejected share no leading messages, so there is no prompt. "
            f"Pass the prompt column with {option('prompt_key')}.",
        )
    if len(rest_c) != 1 or len(rest_r) != 1:
        raise RowProblem(
            "not_a_dialogue",
            f"chosen and rejected share {n} leading messages and then have {len(rest_c)} and {len(rest_r)} "
            "messages left; the implicit-prompt format needs exactly one final message each. Put the shared "
            f"turns in a prompt column ({option('prompt_key')}) and the final replies in chosen/rejected.",
        )
    return chosen[:n], rest_c[0], rest_r[0]
