"""prefspace: reward models from scarce preference data in LLM embedding space.

The public entry points live in one subpackage per stage of the data flow::

    prefspace.data       load_preferences, load_scored_responses, split_by_prompt
    prefspace.embed      get_encoder, EmbeddingCache, embed_pairs, embed_responses
    prefspace.models     BradleyTerryLinear, BradleyTerryMLP, PreferenceClassifierMLP,
                         PreferenceClassifierLGBM, RewardEnsemble, save_model, load_model
    prefspace.synth      LatentSynthesizer (LENS) and augmentation baselines
    prefspace.select     active-labeling strategies and candidate pools
    prefspace.evaluate   metrics, best-of-N, experiment runner, plots and reports
    prefspace.serve      HTTP reward server

Each name is also reachable as ``prefspace.<name>``; the subpackage is imported on
first use, so ``import prefspace`` is cheap: it imports neither torch nor any model,
and it changes no environment variable.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_STAGES = ("data", "embed", "models", "synth", "select", "evaluate", "serve")


def __getattr__(name: str) -> Any:
    for stage in _STAGES:
        module = importlib.import_module(f"{__name__}.{stage}")
        if name in getattr(module, "__all__", ()):
            return getattr(module, name)
    raise AttributeError(f"module 'prefspace' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_STAGES])
