"""Parsing and checking the JSON bodies the reward server accepts.

Every function here turns a decoded JSON object into plain lists of prompts and responses,
or raises :class:`RequestError` with the HTTP status and a message naming the field, the
limit and the fix. Nothing here touches the model.

OpenRLHF's ``/get_reward`` body is parsed, and its queries split into prompt and response, by
:mod:`prefspace.serve.openrlhf`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._http import BodyError, decode_json_object
from ..data.dataset import render_prompt_text
from ..data.dialogue import RowProblem
from ..data.rules import check_encodable, check_response_message, check_roles

__all__ = ["RequestError", "ServeConfig", "parse_score", "string_list", "check_limits"]


class RequestError(Exception):
    """A request the server refuses: ``status`` (4xx), a message, and the limit involved if any."""

    def __init__(self, status: int, message: str, limit: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.limit = limit


@dataclass(frozen=True)
class ServeConfig:
    """Limits and batching settings of the reward server.

    Attributes
    ----------
    max_body_bytes : largest request body accepted; larger ones get 413.
    max_items : most texts scored in one request (a pair counts as two); more get 422.
    max_text_chars : longest prompt, response or query, in characters; longer get 422.
    max_batch : most texts in one encoder call (micro-batch size).
    max_wait_ms : how long a request waits for others to share its encoder call.
    lru_size : feature rows kept in memory.
    strip : strings removed from OpenRLHF prompts and responses (special tokens).
    """

    max_body_bytes: int = 4 * 1024 * 1024
    max_items: int = 512
    max_text_chars: int = 32_000
    max_batch: int = 256
    max_wait_ms: float = 5.0
    lru_size: int = 20_000
    strip: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        from ..exceptions import ConfigError

        for name in ("max_body_bytes", "max_items", "max_text_chars", "max_batch"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1; got {getattr(self, name)}.")
        if not 0 <= float(self.max_wait_ms) <= 10_000:
            raise ConfigError(f"max_wait_ms must be between 0 and 10000; got {self.max_wait_ms}.")
        if int(self.lru_size) < 0:
            raise ConfigError(f"lru_size must be >= 0; got {self.lru_size}.")
        if any(not isinstance(s, str) or not s for s in self.strip):
            raise ConfigError(f"strip must hold non-empty strings; got {self.strip!r}.")


def decode_body(body: bytes) -> dict:
    """Decode a request body as a JSON object, or raise RequestError (400/422)."""
    try:
        return decode_json_object(body)
    except BodyError as exc:
        raise RequestError(exc.status, exc.message) from None


# ---------------------------------------------------------------------------- checks
def _check_keys(data: dict, allowed: tuple[str, ...], endpoint: str) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise RequestError(
            422,
            f"{endpoint}: unknown key(s) {', '.join(map(repr, unknown))}; accepted keys: {', '.join(allowed)}.",
        )


def _rule(check, *args) -> Any:
    """Apply one of ``prefspace.data.rules``' checks (the rules data files follow); 422 on a problem."""
    try:
        return check(*args)
    except RowProblem as problem:
        raise RequestError(422, problem.message) from None


def _text(value: str, field: str) -> str:
    """A string that can be encoded (no lone UTF-16 surrogate such as ``"\\ud800"``), else 422."""
    return _rule(check_encodable, value, f"'{field}'")


def string_list(value: Any, field: str, *, allow_scalar: bool = True) -> list[str]:
    if isinstance(value, str) and allow_scalar:
        value = [value]
    if not isinstance(value, list):
        raise RequestError(422, f"'{field}' must be a list of strings; got {type(value).__name__}.")
    for i, v in enumerate(value):
        if not isinstance(v, str):
            raise RequestError(422, f"'{field}[{i}]' must be a string; got {type(v).__name__}.")
        _text(v, f"{field}[{i}]")
    return value


def _messages(value: Any, field: str) -> list[dict]:
    if not isinstance(value, list) or not value:
        raise RequestError(
            422, f"'{field}' must be a non-empty list of messages {{'role', 'content'}}."
        )
    for j, m in enumerate(value):
        if not (
            isinstance(m, dict)
            and isinstance(m.get("role"), str)
            and isinstance(m.get("content"), str)
        ):
            raise RequestError(
                422,
                f"'{field}[{j}]' must be a message {{'role': str, 'content': str}}; got {m!r:.80}.",
            )
        _text(m["content"], f"{field}[{j}].content")
    return _rule(
        check_roles, [{"role": m["role"], "content": m["content"]} for m in value], f"'{field}'"
    )


def _prompt(value: Any, field: str) -> str | list[dict]:
    if isinstance(value, str):
        return _text(value, field)
    if isinstance(value, list):
        return _messages(value, field)
    raise RequestError(
        422, f"'{field}' must be a string or a list of messages; got {type(value).__name__}."
    )


def _response(value: Any, field: str) -> str:
    """A response: a string, or TRL's conversational completion ``[{"role": "assistant", ...}]``."""
    if isinstance(value, str):
        return _text(value, field)
    if isinstance(value, list):
        msgs = _messages(value, field)
        for j, m in enumerate(msgs):
            _rule(check_response_message, m, f"'{field}[{j}]'")
        return "".join(m["content"] for m in msgs)
    raise RequestError(
        422,
        f"'{field}' must be a string or a list of assistant messages; got {type(value).__name__}.",
    )


def _as_list(value: Any, field: str) -> list:
    if isinstance(value, list):
        return value
    return [value]


def check_limits(texts: dict[str, list], n_texts: int, config: ServeConfig) -> None:
    """Refuse too many texts or a text too long (422, naming the limit).

    ``texts`` maps a field name (``"prompt"``, ``"response"``...) to its entries.
    """
    if n_texts > config.max_items:
        raise RequestError(
            422,
            f"batch size limit exceeded: the request holds {n_texts} texts to score and the limit is "
            f"max_items={config.max_items}. Split it into smaller requests.",
            limit="max_items",
        )
    for field, entries in texts.items():
        for i, t in enumerate(entries):
            length = len(t) if isinstance(t, str) else len(render_prompt_text(t))
            if length > config.max_text_chars:
                raise RequestError(
                    422,
                    f"text length limit exceeded: {field}[{i}] has {length} characters and the limit is "
                    f"max_text_chars={config.max_text_chars}. Truncate it before scoring.",
                    limit="max_text_chars",
                )


# ---------------------------------------------------------------------------- endpoints
_SCORE_KEYS = ("prompt", "response", "chosen", "rejected", "messages")


@dataclass
class ScoreRequest:
    """A parsed ``/score`` body: single responses, or pairs when ``rejected`` is set."""

    prompts: list
    responses: list  # the responses, or the chosen ones for pairs
    rejected: list | None = None


def parse_score(data: dict, config: ServeConfig) -> ScoreRequest:
    """Parse a ``/score`` body (see docs/serving.md for the three shapes)."""
    _check_keys(data, _SCORE_KEYS, "/score")
    if "messages" in data:
        if set(data) != {"messages"}:
            raise RequestError(
                422,
                "/score: send either 'messages' alone or 'prompt' with 'response'/'chosen'+'rejected'.",
            )
        convs = data["messages"]
        if not isinstance(convs, list):
            raise RequestError(
                422, f"'messages' must be a list of conversations; got {type(convs).__name__}."
            )
        if convs and isinstance(convs[0], dict):
            convs = [convs]  # one conversation
        prompts, responses = [], []
        for i, conv in enumerate(convs):
            msgs = _messages(conv, f"messages[{i}]")
            if (
                msgs[-1]["role"] != "assistant" or len(msgs) < 2
            ):  # the rule of prefspace.data.rules, and a prompt
                raise RequestError(
                    422,
                    f"'messages[{i}]' must end with the assistant response to score, after at least one prompt "
                    f"message; its last role is {msgs[-1]['role']!r}.",
                )
            prompts.append(msgs[:-1])
            responses.append(msgs[-1]["content"])
        check_limits({"messages": prompts, "response": responses}, len(responses), config)
        return ScoreRequest(prompts, responses)

    if "prompt" not in data:
        raise RequestError(422, "/score: missing key 'prompt' (or send 'messages').")
    pairs = "chosen" in data or "rejected" in data
    if pairs and "response" in data:
        raise RequestError(
            422,
            "/score: send 'response' (to score responses) or 'chosen' and 'rejected' (pairs), not both.",
        )
    if pairs and not ("chosen" in data and "rejected" in data):
        raise RequestError(422, "/score: pairs need both 'chosen' and 'rejected'.")
    if not pairs and "response" not in data:
        raise RequestError(
            422, "/score: missing key 'response' (or 'chosen' and 'rejected' for pairs)."
        )

    first_key = "chosen" if pairs else "response"
    first = _as_list(data[first_key], first_key)
    raw_prompts = data["prompt"]
    # one prompt (a string or one conversation) may be shared by every response
    shared = isinstance(raw_prompts, str) or (
        isinstance(raw_prompts, list) and bool(raw_prompts) and isinstance(raw_prompts[0], dict)
    )
    if shared:
        raw_prompts = [raw_prompts] * len(first)
    elif not isinstance(raw_prompts, list):
        raise RequestError(
            422,
            f"'prompt' must be a string, a conversation or a list of them; got {type(raw_prompts).__name__}.",
        )
    if len(raw_prompts) != len(first):
        raise RequestError(
            422, f"'prompt' has {len(raw_prompts)} entries but '{first_key}' has {len(first)}."
        )
    n_texts = len(first) * (2 if pairs else 1)
    check_limits({}, n_texts, config)  # the count first, before parsing every entry
    prompts = [_prompt(p, f"prompt[{i}]") for i, p in enumerate(raw_prompts)]
    responses = [_response(r, f"{first_key}[{i}]") for i, r in enumerate(first)]
    rejected = None
    if pairs:
        rej_raw = _as_list(data["rejected"], "rejected")
        if len(rej_raw) != len(first):
            raise RequestError(
                422, f"'rejected' has {len(rej_raw)} entries but 'chosen' has {len(first)}."
            )
        rejected = [_response(r, f"rejected[{i}]") for i, r in enumerate(rej_raw)]
    check_limits(
        {"prompt": prompts, first_key: responses, "rejected": rejected or []}, n_texts, config
    )
    return ScoreRequest(prompts, responses, rejected)
