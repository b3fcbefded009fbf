"""Reward models on embeddings: Bradley-Terry and classification heads, ensembles, save/load.

Every head takes pairs ``X`` of shape ``(n_pairs, 2, D)`` (``X[:, 0]`` chosen) in ``fit`` and
single rows ``E`` of shape ``(n, D)`` in ``predict``; see docs/models.md. ``HEADS`` names them
and ``get_head(name, **params)`` builds one, refusing unknown names and parameters. Importing this
package imports neither torch nor lightgbm: they load when a head that needs them trains.
:class:`LengthBaseline` is the learned length baseline every figure is compared with (it takes
log lengths, not embeddings). :class:`RewardScorer` scores text with a saved model (its own encoder, an LRU and disk cache):
the one way ``score``, ``evaluate``, ``select``, ``rerank`` and ``serve`` turn text into rewards.
"""

from .auto import DEFAULT_HEAD_GRID, HeadScore, HeadSelection, choose_head
from .ensemble import RewardEnsemble
from .features import with_prompt_features
from .holdout import prompt_groups
from .length import (
    LengthBaseline,
    LengthBaselineReport,
    cross_fit_length_rewards,
    cross_fit_scored_length_rewards,
    length_baseline_beside,
    pair_log_lengths,
)
from .lgbm import PreferenceClassifierLGBM
from .linear import BradleyTerryLinear
from .mlp import BradleyTerryMLP, PreferenceClassifierMLP
from .persistence import (
    FORMAT_NAME,
    FORMAT_VERSION,
    describe_model,
    load_length_baseline,
    load_model,
    load_model_encoder,
    save_model,
)
from .registry import HEADS, get_head
from .scorer import RewardScorer

__all__ = [
    "BradleyTerryLinear",
    "BradleyTerryMLP",
    "PreferenceClassifierMLP",
    "PreferenceClassifierLGBM",
    "RewardEnsemble",
    "RewardScorer",
    "LengthBaseline",
    "LengthBaselineReport",
    "pair_log_lengths",
    "length_baseline_beside",
    "cross_fit_length_rewards",
    "cross_fit_scored_length_rewards",
    "HEADS",
    "get_head",
    "with_prompt_features",
    "prompt_groups",
    "choose_head",
    "HeadSelection",
    "HeadScore",
    "DEFAULT_HEAD_GRID",
    "save_model",
    "load_model",
    "load_model_encoder",
    "describe_model",
    "load_length_baseline",
    "FORMAT_NAME",
    "FORMAT_VERSION",
]
