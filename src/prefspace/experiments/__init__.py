"""Experiments above the stages: grids of cells, the active-learning simulation, the demo.

Everything here chains the stages below it (data, embed, evaluate, models, synth, select);
nothing below imports it. What a single command runs (train, score, synth, evaluate, select,
embed) lives beside it in :mod:`prefspace.workflows`.

- Experiment grids: :func:`load_config` -> :func:`run_experiment` -> :func:`write_outputs`
  (results.csv, summary.md, plots, report.html); :func:`read_results`.
- Active learning against gold scores: :func:`run_active_learning`.
- The demo behind ``make demo``: :func:`run_demo`.
"""

from .active_learning import run_active_learning
from .config import load_config, parse_overrides
from .demo import run_demo
from .experiment import read_results, run_experiment
from .summarize import write_outputs

__all__ = [
    "load_config",
    "parse_overrides",
    "run_experiment",
    "read_results",
    "write_outputs",
    "run_active_learning",
    "run_demo",
]
