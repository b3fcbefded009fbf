"""A prefspace reward model as a TRL reward function (``GRPOTrainer(reward_funcs=...)``).

TRL calls a custom reward function as ``f(prompts=..., completions=..., completion_ids=...,
**dataset_columns, trainer_state=..., log_metric=..., ...)`` and expects one float per
completion. Prompts and completions come in TRL's two formats:

- standard: ``prompts[i]`` and ``completions[i]`` are strings;
- conversational: ``prompts[i]`` is a list of messages and ``completions[i]`` is
  ``[{"role": "assistant", "content": "..."}]``.

The same text scores differently as a plain prompt and as a conversation (the encoder sees
``"User: ..."`` blocks for messages), so the callable warns once when the prompts it receives
are of the other format than the model's training prompts (recorded in ``model.json``).

The callable is picklable (TRL's async GRPO sends reward functions to a worker process): it
pickles the model directory, the encoder's configuration and the cache's folder, and reloads
the model on first use.
It does not need trl to be imported; trl is only the caller.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._validation import check_whole
from ..exceptions import DataError

if TYPE_CHECKING:
    from ..embed import EmbeddingCache, Encoder
    from ..models.scorer import RewardScorer

logger = logging.getLogger(__name__)

__all__ = ["PrefspaceRewardFunction", "reward_function"]


def _completion_text(c: Any, i: int) -> str:
    if isinstance(c, str):
        return c
    if isinstance(c, list) and all(isinstance(m, dict) for m in c):
        parts = []
        for m in c:
            content = m.get("content")
            if not isinstance(content, str):
                raise DataError(
                    f"completions[{i}]: message content must be a string; got {type(content).__name__} "
                    "(multimodal content is not supported by text encoders)."
                )
            parts.append(content)
        return "".join(parts)
    raise DataError(
        f"completions[{i}] must be a string or a list of messages [{{'role': 'assistant', 'content': str}}]; "
        f"got {type(c).__name__}."
    )


def _prompt(p: Any, i: int) -> Any:
    if isinstance(p, str):
        return p
    if isinstance(p, list) and all(
        isinstance(m, dict) and isinstance(m.get("content"), str) for m in p
    ):
        return [{"role": str(m.get("role", "")), "content": m["content"]} for m in p]
    raise DataError(
        f"prompts[{i}] must be a string or a list of messages {{'role', 'content': str}}; got {type(p).__name__}."
    )


class PrefspaceRewardFunction:
    """Callable ``(prompts, completions, **kwargs) -> list[float | None]`` backed by a reward
    scorer (None for a reward that is not finite: TRL turns it into NaN and skips it).

    Build it with :func:`reward_function` (from a model folder), or from a
    :class:`~prefspace.models.RewardScorer` already loaded. ``__name__``
    (``"prefspace_<model dir name>"``) is what TRL logs the rewards under
    (``rewards/<name>/mean``). A pickled copy reloads the model, with the scorer's encoder and
    cache, on its first call.
    """

    def __init__(self, scorer: RewardScorer, *, batch_size: int = 512, name: str | None = None):
        self._scorer: RewardScorer | None = scorer
        self.model_dir = Path(scorer.model_dir)
        self.length_controlled = bool(scorer.length_controlled)
        self._encoder_config = scorer.encoder.config()
        self._cache_dir = None if scorer.cache is None else str(scorer.cache.directory)
        self.batch_size = check_whole(batch_size, name="batch_size")
        self.__name__ = name or f"prefspace_{self.model_dir.name}"
        self._warned_format = False
        self._training_format: str | None = "unset"  # read from model.json on the first call

    @property
    def scorer(self) -> RewardScorer:
        """The underlying :class:`~prefspace.models.RewardScorer` (reloaded on first use after
        unpickling)."""
        if self._scorer is None:
            from ..embed import encoder_from_config
            from ..models.scorer import RewardScorer

            self._scorer = RewardScorer(
                self.model_dir,
                encoder=encoder_from_config(self._encoder_config),
                cache=self._cache_dir,
                length_controlled=self.length_controlled,
            )
        return self._scorer

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any
    ) -> list[float | None]:
        if len(prompts) != len(completions):
            raise DataError(
                f"got {len(prompts)} prompts but {len(completions)} completions; TRL passes one prompt per completion."
            )
        ps = [_prompt(p, i) for i, p in enumerate(prompts)]
        cs = [_completion_text(c, i) for i, c in enumerate(completions)]
        scorer = self.scorer
        self._check_format(ps)
        rewards: list[float] = []
        spreads: list[float] = []
        for start in range(0, len(cs), self.batch_size):
            E = scorer.features(
                ps[start : start + self.batch_size], cs[start : start + self.batch_size]
            )
            rewards.extend(float(r) for r in scorer.predict(E))
            s = scorer.predict_std(E)
            if s is not None:
                spreads.extend(float(v) for v in s)
        log_metric = kwargs.get("log_metric")
        if spreads and callable(log_metric):
            log_metric(f"{self.__name__}/reward_std", sum(spreads) / len(spreads))
        return [
            r if math.isfinite(r) else None for r in rewards
        ]  # TRL turns None into NaN (skipped)

    @property
    def training_format(self) -> str | None:
        """``"standard"`` or ``"conversational"``: the format of the training prompts, when recorded."""
        from ..models.persistence import describe_model

        return describe_model(self.model_dir).prompt_format

    def _check_format(self, prompts: list) -> None:
        if self._warned_format or not prompts:
            return
        trained = self._training_format
        if trained == "unset":
            trained = self._training_format = self.training_format
        if trained is None:
            return
        given = "conversational" if isinstance(prompts[0], list) else "standard"
        if given != trained:
            self._warned_format = True
            logger.warning(
                "%s: the reward model was trained on %s prompts but receives %s ones; the same text gets a different "
                "reward in the other format (messages are embedded as 'User: ...' blocks). Give the GRPO dataset "
                "prompts in the training format (docs/serving.md).",
                self.__name__,
                "plain-text" if trained == "standard" else "conversational",
                "plain-text" if given == "standard" else "conversational",
            )

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_scorer"] = None  # models and locks do not pickle; reloaded on first call
        return state

    def __repr__(self) -> str:
        return f"PrefspaceRewardFunction({str(self.model_dir)!r}, name={self.__name__!r})"


def reward_function(
    model_dir: str | Path,
    encoder: Encoder | None = None,
    cache: EmbeddingCache | str | os.PathLike | None = None,
    batch_size: int = 512,
    name: str | None = None,
    length_controlled: bool = False,
) -> PrefspaceRewardFunction:
    """A TRL reward function scoring completions with the reward model saved in ``model_dir``.

    The model is loaded now, so a wrong directory or an encoder mismatch fails here rather
    than in the middle of training.

    Parameters
    ----------
    model_dir : a directory written by ``prefspace.models.save_model``
    encoder : an encoder to use instead of the recorded one (must have the same fingerprint)
    cache : an ``EmbeddingCache`` or its directory
    batch_size : completions per encoder call
    name : the name TRL logs rewards under (default ``prefspace_<dir name>``)
    length_controlled : score without the model's text-feature block (length, structure), as
        ODIN's content head (Chen et al., ICML 2024): the policy gains nothing from length alone.
        A model trained without the block gives its plain reward.

    Returns
    -------
    PrefspaceRewardFunction : ``f(prompts, completions, **kwargs) -> list[float | None]``

    Example
    -------
    >>> from trl import GRPOConfig, GRPOTrainer                        # doctest: +SKIP
    >>> reward = reward_function("runs/bt-mlp")                        # doctest: +SKIP
    >>> reward(prompts=["What is 2+2?"], completions=["4"])            # doctest: +SKIP
    [1.42]
    >>> trainer = GRPOTrainer(model=policy, reward_funcs=reward,       # doctest: +SKIP
    ...                       args=GRPOConfig(output_dir="grpo"), train_dataset=ds)
    """
    from ..models.scorer import RewardScorer

    scorer = RewardScorer(
        model_dir, encoder=encoder, cache=cache, length_controlled=length_controlled
    )  # loaded now: a bad directory or an encoder mismatch fails here
    return PrefspaceRewardFunction(scorer, batch_size=batch_size, name=name)
