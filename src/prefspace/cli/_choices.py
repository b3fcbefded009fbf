"""Option choices taken from the library's registries, named in ``--help`` without importing it early.

The names a command accepts (heads, augmentation methods, synthesizers, strategies, ensemble
aggregates) come from :mod:`prefspace._names`, plain tuples that mirror the library's registries
(``prefspace.models.HEADS``, ``prefspace.synth.METHODS`` and ``SYNTHESIZERS``,
``prefspace.select.STRATEGIES``, ``prefspace.models.ensemble.AGGREGATES``; a test keeps them
equal) without importing the heads, so neither ``--help`` nor a refused name loads
scikit-learn or torch. An option's help text names them with a placeholder
(``"Reward head: {heads}."``) that :class:`RegistryHelpCommand` fills in when the command's
help is shown. An option takes ``parser=RegistryChoice("heads")``: typer's own choice check
(``typer.BadParameter``, as for a ``Literal`` option) then refuses a name outside the registry
(exit code 2, naming the flag and the choices), so no command checks its choices by hand.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperCommand

from .._names import (
    AGGREGATES,
    AUGMENT_METHODS,
    BENCHMARKS,
    HEADS,
    STRATEGIES,
    SYNTHESIZERS,
    TRAIN_HEADS,
)

REGISTRIES: dict[str, tuple[str, ...]] = {
    "heads": HEADS,
    "train_heads": TRAIN_HEADS,
    "augment_methods": AUGMENT_METHODS,
    "synthesizers": SYNTHESIZERS,
    "strategies": STRATEGIES,
    "aggregates": AGGREGATES,
    "benchmarks": BENCHMARKS,
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
            text = text.replace(placeholder, _either(names))
    return text


class RegistryChoice:
    """An option's parser: a choice among a registry's names. Use as
    ``typer.Option("--head", parser=RegistryChoice("heads"))``; a name outside the registry is a
    ``typer.BadParameter`` (exit code 2: "Invalid value for '--head': 'svm' is not one of ...").

    >>> RegistryChoice("aggregates")("min")
    'min'
    """

    __name__ = "RegistryChoice"  # typer names the parser in its messages

    def __init__(self, registry: str) -> None:
        if registry not in REGISTRIES:
            raise KeyError(f"no registry {registry!r}; known: {sorted(REGISTRIES)}")
        self.registry = registry

    def __call__(self, value: str) -> str:
        names = REGISTRIES[self.registry]
        if value not in names:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(map(repr, names))}.")
        return value


class RegistryHelpCommand(TyperCommand):
    """A typer command whose option help may name registry choices (``{heads}``, ...)."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        for param in self.params:
            help_text = getattr(param, "help", None)
            if help_text and "{" in help_text:
                param.help = fill_choices(help_text)
        super().format_help(ctx, formatter)
