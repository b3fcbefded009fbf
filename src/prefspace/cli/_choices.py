"""Option choices taken from the library's registries, named in ``--help`` without importing it early.

The names a command accepts (heads, augmentation methods, synthesizers, strategies, ensemble
aggregates) live in the library: ``prefspace.models.HEADS``, ``prefspace.synth.METHODS`` and
``SYNTHESIZERS``, ``prefspace.select.STRATEGIES``, ``prefspace.models.ensemble.AGGREGATES``.
An option's help text names them with a placeholder (``"Reward head: {heads}."``) that
:class:`RegistryHelpCommand` fills in when the command's help is shown, so ``prefspace --help``
imports none of those modules (and none of them imports torch). :func:`check_choice` refuses
a name outside the registry with the option's flag in the message.
"""

from __future__ import annotations

from typing import Any, Callable

from typer.core import TyperCommand


def head_names() -> tuple[str, ...]:
    from ..models import HEADS

    return tuple(HEADS)


def train_head_names() -> tuple[str, ...]:
    """What ``prefspace train --head`` accepts: every head, and ``auto``."""
    from ..workflows.training import HEAD_CHOICES

    return tuple(HEAD_CHOICES)


def augment_methods() -> tuple[str, ...]:
    from ..synth import METHODS

    return tuple(METHODS)


def synthesizer_names() -> tuple[str, ...]:
    from ..synth import SYNTHESIZERS

    return tuple(SYNTHESIZERS)


def strategy_names() -> tuple[str, ...]:
    from ..select import STRATEGIES

    return tuple(STRATEGIES)


def aggregate_names() -> tuple[str, ...]:
    from ..models.ensemble import AGGREGATES

    return tuple(AGGREGATES)


def benchmark_names() -> tuple[str, ...]:
    from ..evaluate.reward_bench import BENCHMARKS

    return tuple(BENCHMARKS)


REGISTRIES: dict[str, Callable[[], tuple[str, ...]]] = {
    "heads": head_names,
    "train_heads": train_head_names,
    "augment_methods": augment_methods,
    "synthesizers": synthesizer_names,
    "strategies": strategy_names,
    "aggregates": aggregate_names,
    "benchmarks": benchmark_names,
}


def _either(names: tuple[str, ...]) -> str:
    """``("a", "b", "c")`` -> ``"a, b or c"``."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def fill_choices(text: str) -> str:
    """``text`` with each ``{registry}`` placeholder replaced by that registry's names.

    >>> fill_choices("Ensemble reward: {aggregates}.")
    'Ensemble reward: mean, min or mean_minus_std.'
    """
    for key, names in REGISTRIES.items():
        placeholder = "{" + key + "}"
        if placeholder in text:
            text = text.replace(placeholder, _either(names()))
    return text


def check_choice(value: str, registry: str, *, flag: str) -> str:
    """``value`` if the registry has it, else a ConfigError (exit code 2) listing the names."""
    from .._validation import check_in

    return check_in(value, REGISTRIES[registry](), name=flag)


class RegistryHelpCommand(TyperCommand):
    """A typer command whose option help may name registry choices (``{heads}``, ...)."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        for param in self.params:
            help_text = getattr(param, "help", None)
            if help_text and "{" in help_text:
                param.help = fill_choices(help_text)
        super().format_help(ctx, formatter)
