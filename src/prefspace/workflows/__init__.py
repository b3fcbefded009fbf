"""What each command runs: one back end per command, above the stages it chains.

Every function here chains the stages below it (data, embed, evaluate, models, synth, select)
for one command; nothing below imports it, and the functions do not call each other across
modules. The CLI commands parse options, call one of these, print its typed result and exit.

- ``prefspace embed``: :func:`embed_file` -> :class:`EmbedRun` (``embedding.py``).
- ``prefspace train``: :func:`train_reward_model` -> ``(model, TrainReport)`` (its parts are
  dataclasses too: ``training.StageSeconds``, ``training.Truncation``,
  ``training.ModelLengthDependence``, ``embed.CacheUse``, ``models.LengthBaselineReport``);
  :func:`augmented_fit_inputs` merges data weights and margins with synthetic pairs
  (``training.py``).
- ``prefspace synth``: :func:`synthesize_file` -> :class:`SynthesisSummary` (``synthesis.py``).
- ``prefspace score`` / ``evaluate`` / ``select``, with a saved model through ``RewardScorer``:
  :func:`score_file` -> :class:`ScoreSummary`, :func:`evaluate_model_dir` ->
  :class:`Evaluation` (with its :class:`EvaluationFiles`), :func:`select_for_labeling` ->
  :class:`SelectionSummary` (``scoring.py``).

The experiment grid and the active-learning simulation live beside this package, in
:mod:`prefspace.experiments`.
"""

from .embedding import EmbedRun, embed_file
from .scoring import (
    Evaluation,
    EvaluationFiles,
    ScoreSummary,
    SelectionSummary,
    evaluate_model_dir,
    model_encoder,
    score_file,
    select_for_labeling,
)
from .synthesis import SynthesisSummary, synthesize_file
from .training import TrainReport, augmented_fit_inputs, train_reward_model

__all__ = [
    "embed_file",
    "EmbedRun",
    "train_reward_model",
    "TrainReport",
    "augmented_fit_inputs",
    "synthesize_file",
    "SynthesisSummary",
    "score_file",
    "ScoreSummary",
    "evaluate_model_dir",
    "Evaluation",
    "EvaluationFiles",
    "model_encoder",
    "select_for_labeling",
    "SelectionSummary",
]
