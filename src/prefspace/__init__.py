"""prefspace: reward models from scarce preference data in LLM embedding space.

The public entry points live in one subpackage per stage of the data flow::

    prefspace.data         load_preferences, load_scored_responses, split_by_prompt
    prefspace.embed        get_encoder, EmbeddingCache, embed_pairs, embed_responses
    prefspace.evaluate     metrics, best-of-N, calibration, simulated annotators, reports
    prefspace.models       BradleyTerryLinear, BradleyTerryMLP, PreferenceClassifierMLP,
                           PreferenceClassifierLGBM, RewardEnsemble, save_model, load_model
    prefspace.synth        LatentSynthesizer (LENS) and augmentation baselines
    prefspace.select       active-labeling strategies and candidate pools
    prefspace.workflows    what each command runs: embed_file, train_reward_model,
                           synthesize_file, score/evaluate/select with a saved model
    prefspace.experiments  experiment grids, the active-learning simulation, the demo
    prefspace.serve        HTTP reward server

Each stage imports only the stages listed above it (``tests/test_architecture.py`` checks).

Each name is also reachable as ``prefspace.<name>``; the subpackage is imported on
first use, so ``import prefspace`` is cheap: it imports neither torch nor any model,
and it changes no environment variable.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__ as __version__

_STAGES = (
    "data",
    "embed",
    "evaluate",
    "models",
    "synth",
    "select",
    "workflows",
    "experiments",
    "serve",
    "studio",
)


def __getattr__(name: str) -> Any:
    for stage in _STAGES:
        module = importlib.import_module(f"{__name__}.{stage}")
        if name in getattr(module, "__all__", ()):
            return getattr(module, name)
    raise AttributeError(f"module 'prefspace' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_STAGES])
