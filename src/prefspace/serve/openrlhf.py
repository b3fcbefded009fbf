"""OpenRLHF's remote reward protocol as its current client speaks it, and optional reward normalisation.

OpenRLHF's single-turn rollout (``openrlhf/utils/agent.py``, ``SingleTurnAgentExecutor``) posts
one query per request to ``--reward.remote_url``: ``{"query": [text], "prompts": [prompt],
"labels": [label]}``. ``text`` is ``tokenizer.decode(prompt_ids + answer_ids,
skip_special_tokens=False)``: special tokens stay in, and a prompt longer than the prompt budget
has been cut on the left (``prompt_ids[-max_prompt_length:]``), so ``text`` need not start
with ``prompt`` (which is the whole prompt, usually rendered with the policy's chat template).
The client reads ``rewards``, ``scores`` (falling back to ``rewards``) and ``extra_logs``; on an
HTTP error it retries five times and then leaves the reward unset, so the run loses it silently.

So every well-formed query is answered. :class:`QuerySplitter` finds the response in a query:

1. after ``prompt`` when the query starts with it or contains it (``"prompt"``);
2. after the part of ``prompt`` the query still holds when the query starts inside the prompt,
   i.e. the prompt was cut on the left (``"left_truncated"``);
3. after the last assistant marker of the chat template, when one is named
   (``--tokenizer`` or ``--chat-template``; ``"template"``);
4. otherwise the whole query is the response (``"whole_query"``).

The prompt that is embedded is ``prompt`` when given (the whole prompt, before any cut), else
whatever prompt text the query holds before the response. With a template, a rendered prompt is
turned back into messages (the template's default system message dropped), and then into the
format the model was trained on (a plain string for a single user turn of a model trained on
plain prompts). The template's special tokens and the ``--strip`` strings are removed. Cases 3
and 4 are *fallbacks* (the reward may differ from ``/score``'s for the same prompt and
response): the server counts them in ``/info`` and logs the 1st, 10th, 100th... Without a
template, a query holding a common chat template's markup (``<|im_start|>``, ``[INST]``...) is
counted as ``untemplated`` and warned about the same way: its markup is embedded with the texts.

:class:`RewardNormalizer` optionally maps rewards to ``(r - mean) / std`` with a fixed or a
running mean and standard deviation, and ``scores`` can be ``sigmoid(reward)``, in (0, 1), the
range OpenRLHF's dynamic filtering (``--algo.dynamic_filtering_range``) compares against.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._surface import option
from ..data.dataset import render_prompt_text
from ..exceptions import ConfigError
from .requests import GetRewardBody, ServeConfig, parse_body

logger = logging.getLogger(__name__)

__all__ = [
    "ChatMarkers",
    "ChatTemplate",
    "QuerySplitter",
    "Split",
    "split_query",
    "parse_get_reward",
    "RewardNormalizer",
    "OpenRLHFOptions",
    "SPLIT_METHODS",
]

SPLIT_METHODS = ("prompt", "left_truncated", "template", "whole_query")
SCORES = ("reward", "sigmoid")
NORMALIZE = ("none", "fixed", "running")
# sentinel message contents used to find a chat template's markers; plain words every template keeps
_S, _U1, _A1, _U2 = (
    "qqsystemsentinelqq",
    "qqfirstusersentinelqq",
    "qqassistantsentinelqq",
    "qqseconduser1sentinelqq",
)


# ---------------------------------------------------------------------------------- chat templates
@dataclass(frozen=True)
class ChatMarkers:
    """The strings a chat template puts around each role's content, as :func:`derive_markers`
    finds them. ``system_prefix`` and ``system_suffix`` are None for a template without a system
    role; ``default_system`` is the system message the template adds when none is given (None:
    it adds none)."""

    user_prefix: str
    user_suffix: str
    assistant_prefix: str
    assistant_suffix: str
    generation_prompt: str
    system_prefix: str | None
    system_suffix: str | None
    default_system: str | None


def _between(text: str, left: str, right: str) -> str | None:
    i = text.find(left)
    j = text.find(right, i + len(left)) if i >= 0 else -1
    return text[i + len(left) : j] if i >= 0 and j >= 0 else None


def derive_markers(render: Callable[[list, bool], str]) -> ChatMarkers | None:
    """The markers of a chat template, from renderings of sentinel conversations; None if unclear.

    ``render(messages, add_generation_prompt)`` renders a conversation to text.
    """

    def msg(role: str, content: str) -> dict:
        return {"role": role, "content": content}

    try:
        r_u = render([msg("user", _U1)], False)
        r_ua = render([msg("user", _U1), msg("assistant", _A1)], False)
        r_uau = render([msg("user", _U1), msg("assistant", _A1), msg("user", _U2)], False)
        r_gen = render([msg("user", _U1)], True)
    except Exception as exc:  # noqa: BLE001 - a template may raise for anything; then it cannot be used
        logger.warning(
            "the chat template could not render a probe conversation (%s); splitting without it",
            exc,
        )
        return None
    if r_u.count(_U1) != 1 or _A1 not in r_ua or _U2 not in r_uau:
        return None
    head, user_suffix = r_u.split(_U1)
    between_ua = _between(r_ua, _U1, _A1)
    assistant_suffix = r_ua.split(_A1, 1)[1]
    between_au = _between(r_uau, _A1, _U2)
    if between_ua is None or between_au is None or not between_ua.startswith(user_suffix):
        return None
    assistant_prefix = between_ua[len(user_suffix) :]
    if not between_au.startswith(assistant_suffix):
        return None
    user_prefix = between_au[len(assistant_suffix) :]
    generation_prompt = (
        r_gen[len(r_u) :] if r_gen.startswith(r_u) and len(r_gen) > len(r_u) else assistant_prefix
    )
    if not user_prefix.strip() or not assistant_prefix.strip() or not generation_prompt.strip():
        return None  # templates without role markers cannot be split on
    system_prefix = system_suffix = default_system = None
    try:
        r_su = render([msg("system", _S), msg("user", _U1)], False)
        before, after = r_su.split(_S, 1)
        between_su = after.split(_U1, 1)[0]
        if between_su.endswith(user_prefix) and before.strip():
            system_prefix, system_suffix = before, between_su[: len(between_su) - len(user_prefix)]
    except Exception:  # noqa: BLE001 - templates without a system role
        pass
    if system_prefix and head.endswith(user_prefix):
        block = head[: len(head) - len(user_prefix)]
        at = block.find(system_prefix.lstrip())
        if at >= 0 and system_suffix and block.endswith(system_suffix):
            default_system = (
                block[at + len(system_prefix.lstrip()) : len(block) - len(system_suffix)] or None
            )
    return ChatMarkers(
        user_prefix,
        user_suffix,
        assistant_prefix,
        assistant_suffix,
        generation_prompt,
        system_prefix,
        system_suffix,
        default_system,
    )


class ChatTemplate:
    """A policy's chat template: its special tokens and role markers, to read OpenRLHF's texts back.

    Build it with :meth:`from_tokenizer` (a Hugging Face tokenizer name or folder, a ``.gguf``
    file, or ``"smollm2-135m"``) or :meth:`from_template` (Jinja text, as in a tokenizer's
    ``chat_template``). ``markers`` is None when the template has no usable role markers; the
    special tokens are still removed then.
    """

    def __init__(
        self, special_tokens: Sequence[str] = (), markers: ChatMarkers | None = None, name: str = ""
    ):
        self.special_tokens = tuple(sorted({t for t in special_tokens if t}, key=len, reverse=True))
        self.markers = markers
        self.name = name

    @classmethod
    def from_tokenizer(cls, name_or_path: str) -> ChatTemplate:
        """Load a tokenizer (offline: a folder, a cached hub name, a ``.gguf`` file) and read its template."""
        from ..embed.smollm2 import is_smollm2, smollm2_gguf_path

        try:
            from transformers import AutoTokenizer

            path = Path(os.path.expanduser(str(name_or_path)))
            if is_smollm2(str(name_or_path)):
                path = smollm2_gguf_path()
            if path.suffix == ".gguf":
                tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
            else:
                tok = AutoTokenizer.from_pretrained(str(name_or_path))
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"could not load the tokenizer {name_or_path!r} ({exc}). Pass a local tokenizer folder, a .gguf file, "
                "or a hub name already in the local cache."
            ) from None
        specials = list(getattr(tok, "all_special_tokens", []) or [])
        for added in (getattr(tok, "added_tokens_decoder", None) or {}).values():
            if getattr(added, "special", False):
                specials.append(str(added.content))
        markers = None
        if getattr(tok, "chat_template", None):
            markers = derive_markers(
                lambda m, gen: str(
                    tok.apply_chat_template(m, tokenize=False, add_generation_prompt=gen)
                )
            )
        return cls(specials, markers, name=str(name_or_path))

    @classmethod
    def from_template(
        cls, template: str, special_tokens: Sequence[str] = (), name: str = ""
    ) -> ChatTemplate:
        """A template given as Jinja text (a file's content); ``special_tokens`` are removed from texts."""
        from jinja2.exceptions import TemplateError
        from jinja2.ext import loopcontrols
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(message: str):
            raise TemplateError(message)

        env = ImmutableSandboxedEnvironment(
            trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]
        )
        env.globals["raise_exception"] = raise_exception
        try:
            compiled = env.from_string(template)
        except TemplateError as exc:
            raise ConfigError(
                f"the chat template {name or ''} is not valid Jinja: {exc}."
            ) from None
        markers = derive_markers(
            lambda m, gen: compiled.render(
                messages=m, add_generation_prompt=gen, bos_token="", eos_token=""
            )
        )
        return cls(special_tokens, markers, name=name or "template")

    def remove_special(self, text: str, extra: Sequence[str] = ()) -> str:
        for token in (*self.special_tokens, *extra):
            text = text.replace(token, "")
        return text

    def parse(self, text: str) -> list[dict] | None:
        """A rendered conversation back as messages (None when no role marker occurs in it).

        Text before the first marker (what is left of a turn cut on the left) becomes a user
        message; the template's default system message and a trailing empty assistant turn
        are dropped.
        """
        m = self.markers
        if m is None:
            return None
        roles = [
            ("user", m.user_prefix, m.user_suffix),
            ("assistant", m.assistant_prefix, m.assistant_suffix),
        ]
        if m.system_prefix:
            roles.append(("system", m.system_prefix.lstrip(), m.system_suffix or ""))
        pieces: list[tuple[int, int, str, str]] = []  # (start, content start, role, suffix)
        for role, prefix, suffix in roles:
            start = text.find(prefix)
            while start >= 0:
                pieces.append((start, start + len(prefix), role, suffix))
                start = text.find(prefix, start + len(prefix))
        if not pieces:
            return None
        pieces.sort()
        kept: list[tuple] = []
        for (
            piece
        ) in pieces:  # a prefix inside another's (e.g. a shorter one) never starts a turn twice
            if kept and piece[0] < kept[-1][1]:
                continue
            kept.append(piece)
        messages = []
        lead = self.remove_special(text[: kept[0][0]]).strip()
        if lead:
            messages.append({"role": "user", "content": lead})
        for k, (_start, content_start, role, suffix) in enumerate(kept):
            end = kept[k + 1][0] if k + 1 < len(kept) else len(text)
            content = text[content_start:end]
            if suffix and suffix.strip() and suffix.strip() in content:
                content = content[: content.rfind(suffix.strip())]
            content = self.remove_special(content).strip()
            messages.append({"role": role, "content": content})
        if messages and messages[-1]["role"] == "assistant" and not messages[-1]["content"]:
            messages.pop()
        if (
            m.default_system is not None
            and messages
            and messages[0]["role"] == "system"
            and messages[0]["content"] == m.default_system.strip()
        ):
            messages.pop(0)
        return [msg for msg in messages if msg["content"]] or None

    def info(self) -> dict:
        return {
            "name": self.name,
            "special_tokens": list(self.special_tokens),
            "has_role_markers": self.markers is not None,
            "generation_prompt": None if self.markers is None else self.markers.generation_prompt,
        }


# ---------------------------------------------------------------------------------- splitting queries
# role markers of common chat templates (ChatML, Llama 3, Llama 2/Mistral, Gemma, Phi, Zephyr, DeepSeek)
_TEMPLATE_MARKUP = re.compile(
    r"<\|im_start\|>|<\|start_header_id\|>|<\|eot_id\|>|\[INST\]|<start_of_turn>|<\|(?:user|assistant|system)\|>"
    r"|<｜(?:User|Assistant)｜>"
)


def looks_chat_templated(text: str) -> bool:
    """True when ``text`` holds a common chat template's role markup.

    Example
    -------
    >>> looks_chat_templated("<|im_start|>user\\nhi<|im_end|>"), looks_chat_templated("hi there")
    (True, False)
    """
    return _TEMPLATE_MARKUP.search(text) is not None


def _milestone(n: int) -> bool:
    """1, 10, 100, ...: when a counted event is logged again."""
    return n >= 1 and 10 ** (len(str(n)) - 1) == n


def overlap_end(
    query: str, prompt: str, skip: int = 4, anchors: tuple[int, ...] = (32, 16, 8)
) -> int | None:
    """Where the response starts in ``query`` when the query begins inside ``prompt`` (cut on the left).

    The first ``skip`` characters of the query are not compared (decoding a cut may garble the
    first character). A piece of the query after them (``anchors`` characters long, longest
    first, so that short overlaps are found too) is looked up in the prompt, and a place counts
    only when the whole rest of the prompt from there equals the query. Returns the index in
    ``query`` just after the prompt's end, for the longest overlap, or None.

    Example
    -------
    >>> overlap_end("the end of a long prompt. The answer", "Start of a long prompt... the end of a long prompt.")
    25
    """
    if len(query) <= skip or not prompt:
        return None
    for anchor in anchors:
        key = query[skip : skip + anchor]
        if len(key) < anchor:
            continue
        start = 0
        while True:
            j = prompt.find(key, start)
            if j < 0:
                break
            rest = len(prompt) - j
            if query[skip : skip + rest] == prompt[j:]:
                return skip + rest
            start = j + 1
    return None


@dataclass
class Split:
    """One query, split: the prompt to embed (text or messages), the response, and how it was found."""

    prompt: Any
    response: str
    how: str


class QuerySplitter:
    """Split OpenRLHF queries into (prompt, response); counts how each was split.

    Parameters
    ----------
    template : ChatTemplate, optional
        The policy's chat template: its special tokens are removed, its assistant marker
        splits queries whose prompt cannot be found, and rendered prompts become messages.
    strip : strings removed from prompts and responses (``--strip``), besides the template's.
    prompt_format : ``"standard"`` or ``"conversational"``, the format of the model's training
        prompts (from ``model.json``); decides how parsed messages are passed on. None: messages.
    """

    def __init__(
        self,
        template: ChatTemplate | None = None,
        strip: Sequence[str] = (),
        prompt_format: str | None = None,
    ):
        self.template = template
        self.strip = tuple(sorted({s for s in strip if s}, key=len, reverse=True))
        self.prompt_format = prompt_format
        self.counts: Counter = Counter()
        self.fallbacks = 0
        self.untemplated = 0
        self._lock = threading.Lock()

    def describe(self) -> str:
        """What happens to ``/get_reward`` queries, in a sentence for the startup log."""
        if self.template is None or self.template.markers is None:
            head = (
                f"no chat template ({option('tokenizer')} or {option('chat_template')}): "
                if self.template is None
                else f"the chat template of {self.template.name} has no role markers: "
            )
            return (
                head
                + "each /get_reward query is split at the prompt sent with it in 'prompts'; a query "
                "without a prompt, or whose prompt is not in it, is scored whole as the response, and "
                "chat-template markup stays in the texts, so those rewards differ from /score's. Each "
                "such fallback is counted in /info (openrlhf.fallbacks) and logged; queries that look "
                "chat-templated are counted (openrlhf.untemplated) and warned about. Pass the policy's "
                f"{option('tokenizer')} to read them as /score does."
            )
        return (
            f"chat template of {self.template.name}: each /get_reward query is split at the prompt sent "
            "with it, else after the template's last assistant marker (a fallback, counted in /info "
            "as openrlhf.fallbacks and logged), and the template's markup is removed."
        )

    def _count(self, how: str, untemplated: bool) -> None:
        fallback = how in ("template", "whole_query")
        with self._lock:
            self.counts[how] += 1
            self.fallbacks += fallback
            self.untemplated += untemplated
            n_fallbacks, n_untemplated = self.fallbacks, self.untemplated
        if fallback and _milestone(n_fallbacks):
            logger.warning(
                "/get_reward fallback #%d: a query was split by %r (its prompt was not found in "
                "it), so its reward may differ from /score's for the same prompt and response",
                n_fallbacks,
                how,
            )
        if untemplated and _milestone(n_untemplated):
            logger.warning(
                "/get_reward query #%d that looks chat-templated, but no chat template is known: "
                "its markup is embedded with the texts and the reward differs from /score's. "
                "Restart with the policy's %s (or %s).",
                n_untemplated,
                option("tokenizer"),
                option("chat_template"),
            )

    def _clean(self, text: str) -> str:
        if self.template is not None:
            text = self.template.remove_special(text, self.strip)
        else:
            for s in self.strip:
                text = text.replace(s, "")
        return text

    def _prompt(self, text: str) -> Any:
        messages = self.template.parse(text) if self.template is not None else None
        if messages is None:
            return self._clean(text) if self.template is None else self._clean(text).strip()
        if self.prompt_format == "standard":
            if len(messages) == 1 and messages[0]["role"] == "user":
                return messages[0]["content"]
            return render_prompt_text(messages)
        return messages

    def split(self, query: str, prompt: str | None) -> Split:
        """Split one query (see the module docstring for the order of the methods)."""
        response = None
        how = ""
        remaining = ""
        if prompt:
            at = 0 if query.startswith(prompt) else query.find(prompt)
            if at >= 0:
                response, how = query[at + len(prompt) :], "prompt"
            else:
                cut = overlap_end(query, prompt)
                if cut is not None:
                    response, how = query[cut:], "left_truncated"
        markers = self.template.markers if self.template is not None else None
        if response is None and markers is not None:
            at = query.rfind(markers.generation_prompt)
            if at >= 0:
                response, how, remaining = (
                    query[at + len(markers.generation_prompt) :],
                    "template",
                    query[:at],
                )
        if response is None:
            response, how = query, "whole_query"
        self._count(how, untemplated=markers is None and looks_chat_templated(query))
        if how == "prompt" and self.template is None:
            return Split(
                self._clean(prompt or ""), self._clean(response), how
            )  # the long-standing plain split
        prompt_text = prompt if prompt else remaining
        if (
            markers is not None
            and markers.assistant_suffix.strip()
            and markers.assistant_suffix.strip() in response
        ):
            response = response[: response.find(markers.assistant_suffix.strip())]
        return Split(
            self._prompt(prompt_text) if prompt_text else "", self._clean(response).strip(), how
        )

    def info(self) -> dict:
        with self._lock:
            return {
                "splits": {m: int(self.counts.get(m, 0)) for m in SPLIT_METHODS},
                "fallbacks": int(self.fallbacks),
                "untemplated": int(self.untemplated),
                "template": None if self.template is None else self.template.info(),
                "prompt_format": self.prompt_format,
            }


def split_query(query: str, prompt: str | None, strip: tuple[str, ...] = ()) -> tuple[Any, str]:
    """Split one OpenRLHF ``query`` into ``(prompt, response)`` without a chat template.

    Example
    -------
    >>> split_query("<s>Q: hi A: hello</s>", "Q: hi A:", strip=("<s>", "</s>"))
    ('Q: hi A:', ' hello')
    """
    s = QuerySplitter(strip=strip).split(query, prompt)
    return s.prompt, s.response


def parse_get_reward(
    data: dict, config: ServeConfig, splitter: QuerySplitter | None = None
) -> tuple[list, list[str]]:
    """``{"query": [...], "prompts": [...]?, "labels": ...?}`` -> (prompts, responses).

    Refused (422) only when malformed: no ``query``, a non-string entry, ``prompts`` of another
    length, more than ``max_items`` queries. A query or prompt longer than ``max_text_chars``
    keeps its last ``max_text_chars`` characters (the response is at the end) instead of being
    refused; every well-formed query is scored.
    """
    body = parse_body(GetRewardBody, data, config, "/get_reward: ")
    queries, raw_prompts = body.query, body.prompts
    limit = config.max_text_chars
    splitter = splitter or QuerySplitter(strip=config.strip)
    prompts, responses = [], []
    for i, q in enumerate(queries):
        p = None if raw_prompts is None else raw_prompts[i]
        if len(q) > limit:
            q = q[-limit:]
        if p is not None and len(p) > limit:
            p = p[-limit:]
        s = splitter.split(q, p)
        prompts.append(s.prompt)
        responses.append(s.response)
    return prompts, responses


# ---------------------------------------------------------------------------------- normalisation
class RewardNormalizer:
    """``(r - mean) / std`` with a fixed or a running (all rewards served so far) mean and std.

    Parameters
    ----------
    mode : ``"none"``, ``"fixed"`` (``mean`` and ``std`` given) or ``"running"`` (Welford's
        update over every reward served, the current request's included, before it is scaled;
        the std is 1 until two rewards have been seen)
    mean, std : for ``"fixed"``
    """

    def __init__(self, mode: str = "none", mean: float | None = None, std: float | None = None):
        if mode not in NORMALIZE:
            raise ConfigError(
                f"reward normalisation must be one of {', '.join(NORMALIZE)}; got {mode!r}."
            )
        if mode == "fixed":
            if (
                mean is None
                or std is None
                or not (math.isfinite(mean) and math.isfinite(std))
                or std <= 0
            ):
                raise ConfigError(
                    f"fixed normalisation needs a finite mean and a std > 0; got mean={mean}, std={std}."
                )
        elif mean is not None or std is not None:
            raise ConfigError(
                "a reward mean and std are only used with fixed normalisation "
                f"({option('normalize', 'fixed')})."
            )
        self.mode = mode
        self._mean = 0.0 if mean is None else float(mean)
        self._std = 1.0 if std is None else float(std)
        self._n = 0
        self._m2 = 0.0
        self._lock = threading.Lock()

    def __call__(self, rewards: Sequence[float | None]) -> list[float | None]:
        if self.mode == "none":
            return list(rewards)
        with self._lock:
            if self.mode == "running":
                for r in rewards:
                    if r is None or not math.isfinite(r):
                        continue
                    self._n += 1
                    delta = r - self._mean
                    self._mean += delta / self._n
                    self._m2 += delta * (r - self._mean)
                if self._n >= 2:
                    self._std = math.sqrt(self._m2 / (self._n - 1)) or 1.0
            mean, std = self._mean, self._std
        return [None if r is None else (r - mean) / std for r in rewards]

    def info(self) -> dict:
        with self._lock:
            return {
                "mode": self.mode,
                "mean": self._mean,
                "std": self._std,
                "n": self._n if self.mode == "running" else None,
            }


@dataclass
class OpenRLHFOptions:
    """How ``/get_reward`` reads queries and shapes its answer.

    Attributes
    ----------
    tokenizer : a tokenizer whose special tokens and chat template the policy uses (a folder, a
        cached hub name, a ``.gguf`` file, ``"smollm2-135m"``)
    chat_template : a file holding the policy's chat template (Jinja), when no tokenizer is given
    normalize : ``"none"``, ``"fixed"`` or ``"running"``; mean, std : for ``"fixed"``
    scores : ``"reward"`` (``scores`` = the reward) or ``"sigmoid"`` (``scores`` = sigmoid of the
        reward, in (0, 1), for dynamic filtering)
    """

    tokenizer: str | None = None
    chat_template: str | None = None
    normalize: str = "none"
    mean: float | None = None
    std: float | None = None
    scores: str = "reward"
    template: ChatTemplate | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.scores not in SCORES:
            raise ConfigError(f"scores must be one of {', '.join(SCORES)}; got {self.scores!r}.")
        if self.tokenizer and self.chat_template:
            raise ConfigError("name the policy's tokenizer or its chat template file, not both.")
        RewardNormalizer(self.normalize, self.mean, self.std)  # check now

    def load_template(self, strip: Sequence[str] = ()) -> ChatTemplate | None:
        """The named tokenizer's or template file's :class:`ChatTemplate` (None when neither is named)."""
        if self.template is not None:
            return self.template
        if self.tokenizer:
            self.template = ChatTemplate.from_tokenizer(self.tokenizer)
        elif self.chat_template:
            path = Path(self.chat_template).expanduser()
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(
                    f"cannot read the chat template file {path} ({exc.strerror or exc})."
                ) from None
            self.template = ChatTemplate.from_template(text, strip, name=path.name)
        return self.template
