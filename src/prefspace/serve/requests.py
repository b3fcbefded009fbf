"""The JSON bodies the reward server accepts, as pydantic models checked once at the boundary.

:class:`ScoreBody` (``/score``) and :class:`GetRewardBody` (``/get_reward``) declare each key's
type; their validators apply the rules data files follow (:mod:`prefspace.data.rules`: no lone
surrogate, message roles) and the server's limits (``max_items``, ``max_text_chars``, from the
:class:`ServeConfig` passed as validation context). A body that fails raises
:class:`RequestError` with the HTTP status and a message naming the field, the limit and the
fix. Nothing here touches the model.

OpenRLHF's ``/get_reward`` body is parsed, and its queries split into prompt and response, by
:mod:`prefspace.serve.openrlhf`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .._http import LIMIT_EXCEEDED, BodyError, decode_json_object, validate_body
from ..data.dataset import render_prompt_text
from ..data.dialogue import RowProblem
from ..data.rules import check_encodable, check_response_message, check_roles

__all__ = [
    "RequestError",
    "ServeConfig",
    "ScoreBody",
    "GetRewardBody",
    "ScoreRequest",
    "parse_score",
    "parse_body",
    "decode_body",
]


class RequestError(BodyError):
    """A request the server refuses: ``status`` (4xx), a message, and the limit involved if any."""

    @classmethod
    def of(cls, exc: BodyError) -> RequestError:
        return cls(exc.status, exc.message, exc.limit)


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
        raise RequestError.of(exc) from None


def parse_body(model: type, data: dict, config: ServeConfig, where: str) -> Any:
    """``data`` validated as ``model`` under ``config``'s limits, or RequestError (422)."""
    try:
        return validate_body(model, data, where=where, noun="key", context={"config": config})
    except BodyError as exc:
        raise RequestError.of(exc) from None


# ---------------------------------------------------------------------------- checks
def _config(info: ValidationInfo) -> ServeConfig:
    return (info.context or {}).get("config") or ServeConfig()


def _limit(message: str, limit: str) -> PydanticCustomError:
    return PydanticCustomError(LIMIT_EXCEEDED, message, {"limit": limit})


def _rule(check, *args) -> Any:
    """Apply one of ``prefspace.data.rules``' checks (the rules data files follow); 422 on a problem."""
    try:
        return check(*args)
    except RowProblem as problem:
        raise ValueError(problem.message) from None


def _text(value: str, field: str) -> str:
    """A string that can be encoded (no lone UTF-16 surrogate such as ``"\\ud800"``)."""
    return _rule(check_encodable, value, f"'{field}'", False)  # a request has no rows to skip


def _type(value: Any) -> str:
    """The JSON type's Python name (``str``, ``int``, ``list``, ``dict``...), or ``null``."""
    return "null" if value is None else type(value).__name__


def string_list(value: Any, field: str) -> list[str]:
    """A list of encodable strings (one string counts as a list of one)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ValueError(f"'{field}' must be a list of strings; got {_type(value)}.")
    for i, v in enumerate(value):
        if not isinstance(v, str):
            raise ValueError(f"'{field}[{i}]' must be a string; got {_type(v)}.")
        _text(v, f"{field}[{i}]")
    return value


def _messages(value: Any, field: str) -> list[dict]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"'{field}' must be a non-empty list of messages {{'role', 'content'}}.")
    for j, m in enumerate(value):
        if not (
            isinstance(m, dict)
            and isinstance(m.get("role"), str)
            and isinstance(m.get("content"), str)
        ):
            raise ValueError(
                f"'{field}[{j}]' must be a message {{'role': str, 'content': str}}; got {m!r:.80}."
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
    raise ValueError(f"'{field}' must be a string or a list of messages; got {_type(value)}.")


def _response(value: Any, field: str) -> str:
    """A response: a string, or TRL's conversational completion ``[{"role": "assistant", ...}]``."""
    if isinstance(value, str):
        return _text(value, field)
    if isinstance(value, list):
        msgs = _messages(value, field)
        for j, m in enumerate(msgs):
            _rule(check_response_message, m, f"'{field}[{j}]'")
        return "".join(m["content"] for m in msgs)
    raise ValueError(
        f"'{field}' must be a string or a list of assistant messages; got {_type(value)}."
    )


def _conversation(value: Any, field: str) -> list[dict]:
    """A whole conversation: prompt messages, then the assistant response to score."""
    msgs = _messages(value, field)
    if msgs[-1]["role"] != "assistant" or len(msgs) < 2:  # the rule of prefspace.data.rules
        raise ValueError(
            f"'{field}' must end with the assistant response to score, after at least one prompt "
            f"message; its last role is {msgs[-1]['role']!r}."
        )
    return msgs


def _each(parse) -> BeforeValidator:
    """Parse every entry of a list field with ``parse(entry, "field[i]")``."""

    def entries(value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, list):
            return value  # left to the field's type, which names it
        return [parse(v, f"{info.field_name}[{i}]") for i, v in enumerate(value)]

    return BeforeValidator(entries)


def check_count(n_texts: int, config: ServeConfig, what: str = "texts to score") -> None:
    """Refuse more than ``max_items`` texts (422 naming the limit)."""
    if n_texts > config.max_items:
        raise _limit(
            f"batch size limit exceeded: the request holds {n_texts} {what} and the limit is "
            f"max_items={config.max_items}. Split it into smaller requests.",
            "max_items",
        )


def check_lengths(texts: dict[str, list], config: ServeConfig) -> None:
    """Refuse a text longer than ``max_text_chars`` (422 naming the limit).

    ``texts`` maps a field name (``"prompt"``, ``"response"``...) to its entries.
    """
    for field, entries in texts.items():
        for i, t in enumerate(entries):
            length = len(t) if isinstance(t, str) else len(render_prompt_text(t))
            if length > config.max_text_chars:
                raise _limit(
                    f"text length limit exceeded: {field}[{i}] has {length} characters and the "
                    f"limit is max_text_chars={config.max_text_chars}. Truncate it before scoring.",
                    "max_text_chars",
                )


# ---------------------------------------------------------------------------- /score
Prompt = str | list[dict[str, str]]  # a text, or messages {"role", "content"}


@dataclass
class ScoreRequest:
    """A parsed ``/score`` body: single responses, or pairs when ``rejected`` is set."""

    prompts: list
    responses: list  # the responses, or the chosen ones for pairs
    rejected: list | None = None


class ScoreBody(BaseModel):
    """A ``/score`` body (docs/serving.md): ``prompt`` with ``response`` or with ``chosen`` and
    ``rejected`` (pairs), or ``messages`` alone (whole conversations).

    ``prompt`` may be one prompt (a string or a conversation) shared by every response, and
    ``response``/``chosen``/``rejected`` one text; both are read as lists.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: Annotated[list[Prompt] | None, _each(_prompt)] = None
    response: Annotated[list[str] | None, _each(_response)] = None
    chosen: Annotated[list[str] | None, _each(_response)] = None
    rejected: Annotated[list[str] | None, _each(_response)] = None
    messages: Annotated[list[list[dict[str, str]]] | None, _each(_conversation)] = None

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, data: Any, info: ValidationInfo) -> Any:
        """Which keys go together, one prompt shared, the counts; before any entry is parsed."""
        if not isinstance(data, dict) or set(data) - set(cls.model_fields):
            return data  # an unknown key: refused by extra="forbid", naming it
        if "messages" in data:
            return _conversations_shape(data, _config(info))
        return _responses_shape(data, _config(info))

    @model_validator(mode="after")
    def _lengths(self, info: ValidationInfo) -> ScoreBody:
        req = self.request()
        first = "chosen" if req.rejected is not None else "response"
        prompts = "messages" if self.messages is not None else "prompt"
        texts = {prompts: req.prompts, first: req.responses, "rejected": req.rejected or []}
        check_lengths(texts, _config(info))
        return self

    def request(self) -> ScoreRequest:
        """The body as prompts and responses (and rejected responses for pairs)."""
        if self.messages is not None:
            return ScoreRequest(
                [c[:-1] for c in self.messages], [c[-1]["content"] for c in self.messages]
            )
        prompts = list(self.prompt or [])
        if self.rejected is not None:
            return ScoreRequest(prompts, list(self.chosen or []), list(self.rejected))
        return ScoreRequest(prompts, list(self.response or []))


def _conversations_shape(data: dict, config: ServeConfig) -> dict:
    if set(data) != {"messages"}:
        raise ValueError(
            "/score: send either 'messages' alone or 'prompt' with 'response'/'chosen'+'rejected'."
        )
    convs = data["messages"]
    if not isinstance(convs, list):
        raise ValueError(f"'messages' must be a list of conversations; got {_type(convs)}.")
    if convs and isinstance(convs[0], dict):
        convs = [convs]  # one conversation
    check_count(len(convs), config)
    return {"messages": convs}


def _responses_shape(data: dict, config: ServeConfig) -> dict:
    if "prompt" not in data:
        raise ValueError("/score: missing key 'prompt' (or send 'messages').")
    pairs = "chosen" in data or "rejected" in data
    if pairs and "response" in data:
        raise ValueError(
            "/score: send 'response' (to score responses) or 'chosen' and 'rejected' (pairs), "
            "not both."
        )
    if pairs and not ("chosen" in data and "rejected" in data):
        raise ValueError("/score: pairs need both 'chosen' and 'rejected'.")
    if not pairs and "response" not in data:
        raise ValueError("/score: missing key 'response' (or 'chosen' and 'rejected' for pairs).")
    # one text may stand for a list of one
    out = {k: v if isinstance(v, list) else [v] for k, v in data.items() if k != "prompt"}
    first_key = "chosen" if pairs else "response"
    n = len(out[first_key])
    prompts = data["prompt"]
    # one prompt (a string or one conversation) may be shared by every response
    if isinstance(prompts, str) or (
        isinstance(prompts, list) and bool(prompts) and isinstance(prompts[0], dict)
    ):
        prompts = [prompts] * n
    elif not isinstance(prompts, list):
        raise ValueError(
            f"'prompt' must be a string, a conversation or a list of them; got {_type(prompts)}."
        )
    if len(prompts) != n:
        raise ValueError(f"'prompt' has {len(prompts)} entries but '{first_key}' has {n}.")
    check_count(n * (2 if pairs else 1), config)
    if pairs and len(out["rejected"]) != n:
        raise ValueError(f"'rejected' has {len(out['rejected'])} entries but 'chosen' has {n}.")
    return {"prompt": prompts, **out}


def parse_score(data: dict, config: ServeConfig) -> ScoreRequest:
    """Parse a ``/score`` body (see docs/serving.md for the three shapes)."""
    return parse_body(ScoreBody, data, config, "/score: ").request()


# ---------------------------------------------------------------------------- /get_reward
def _strings(value: Any, info: ValidationInfo) -> list[str]:
    return string_list(value, str(info.field_name))


def _optional_strings(value: Any, info: ValidationInfo) -> list[str] | None:
    return None if value is None else _strings(value, info)


class GetRewardBody(BaseModel):
    """A ``/get_reward`` body: OpenRLHF's ``{"query": [...], "prompts": [...]?}``; other keys
    (``labels``...) are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    query: Annotated[list[str], BeforeValidator(_strings)] = Field(
        description="a list of prompt+response texts"
    )
    prompts: Annotated[list[str] | None, BeforeValidator(_optional_strings)] = None

    @field_validator("query")
    @classmethod
    def _count(cls, query: list[str], info: ValidationInfo) -> list[str]:
        check_count(len(query), _config(info), "queries")
        return query

    @model_validator(mode="after")
    def _one_prompt_per_query(self) -> GetRewardBody:
        if self.prompts is not None and len(self.prompts) != len(self.query):
            raise ValueError(
                f"'prompts' has {len(self.prompts)} entries but 'query' has {len(self.query)}; "
                "send one prompt per query."
            )
        return self
