"""The names each registry accepts, as plain tuples, for the command line's help and checks.

``prefspace train --help`` lists the reward heads, ``synth --help`` the synthesizers, and so on.
Taking those names from the registries themselves (``prefspace.models.HEADS`` maps each name to
its class) would import the heads, and with them scikit-learn and scipy, before any help is
shown. The tables here import nothing; ``tests/test_names.py`` checks that each one lists the
same names, in the same order, as the registry it mirrors, so adding a head without naming it
here fails a test rather than hiding the head from the CLI.

What this module does not do: build anything. ``get_head``, ``get_synthesizer`` and
``get_selector`` remain the one way to turn a name into an estimator.
"""

from __future__ import annotations

__all__ = [
    "HEADS",
    "TRAIN_HEADS",
    "SYNTHESIZERS",
    "AUGMENT_METHODS",
    "STRATEGIES",
    "AGGREGATES",
    "BENCHMARKS",
]

# prefspace.models.HEADS (models/registry.py)
HEADS: tuple[str, ...] = ("bt-linear", "bt-mlp", "clf-mlp", "clf-lgbm")
# prefspace.workflows.training.HEAD_CHOICES: every head, and the cross-validated choice
TRAIN_HEADS: tuple[str, ...] = (*HEADS, "auto")
# prefspace.synth.SYNTHESIZERS (synth/registry.py); "repeat" is the control
SYNTHESIZERS: tuple[str, ...] = ("lens", "pca", "perturb", "gaussian", "mixup", "repeat")
# prefspace.synth.METHODS: no augmentation, each synthesizer, and the guarded choice
AUGMENT_METHODS: tuple[str, ...] = ("none", *SYNTHESIZERS, "auto")
# prefspace.select.STRATEGIES
STRATEGIES: tuple[str, ...] = (
    "random",
    "uncertainty",
    "ensemble",
    "d-optimal",
    "past-aware",
    "coreset",
)
# prefspace.models.ensemble.AGGREGATES
AGGREGATES: tuple[str, ...] = ("mean", "min", "mean_minus_std")
# prefspace.evaluate.reward_bench.BENCHMARKS
BENCHMARKS: tuple[str, ...] = ("reward-bench", "reward-bench-2")
