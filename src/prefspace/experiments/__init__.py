"""Orchestration above the stages: one model's training, experiment grids, the demo.

Everything here chains the stages below it (data, embed, evaluate, models, synth, select);
nothing below imports it. The CLI commands are thin wrappers over these functions.

- One reward model from a preference file: :func:`train_reward_model` -> ``(model, report)``
  (``prefspace train``); :func:`augmented_fit_inputs` merges data weights and margins with
  synthetic pairs.
- Synthetic pairs with diagnostics: :func:`synthesize_file` (``prefspace synth``).
- A saved model on a file, through ``RewardScorer``: :func:`score_file` (``prefspace score``),
  :func:`evaluate_model` (``prefspace evaluate``), :func:`select_for_labeling`
  (``prefspace select``).

- Experiment grids: :func:`load_config` -> :func:`run_experiment` -> :func:`write_outputs`
  (results.csv, summary.md, plots, report.html); :func:`read_results`.
- Active learning against gold scores: :func:`run_active_learning`.
- The demo behind ``make demo``: :func:`run_demo`.
"""

from .active_learning import run_active_learning
from .config import load_config, parse_overrides
from .demo import run_demo
from .experiment import read_results, run_experiment
from .scoring import evaluate_model, score_file, select_for_labeling
from .summarize import write_outputs
from .synthesis import synthesize_file
from .training import augmented_fit_inputs, train_reward_model

__all__ = [
    "train_reward_model",
    "augmented_fit_inputs",
    "synthesize_file",
    "score_file",
    "evaluate_model",
    "select_for_labeling",
    "load_config",
    "parse_overrides",
    "run_experiment",
    "read_results",
    "write_outputs",
    "run_active_learning",
    "run_demo",
]
