"""Preference data: loading, validation, splitting, and the bundled demo set.

- :func:`load_preferences` reads pairs (TRL standard/conversational, explicit/implicit prompt,
  HH-RLHF dialogues, two responses plus a label) into a :class:`PreferenceDataset`.
- :func:`read_responses` reads many responses per prompt, with scores where the source has
  them, into :class:`ScoredResponses` (the one reader of such files: selection candidates and
  best-of-N reranking use it too); :func:`load_scored_responses` is the same with scores
  required.
- Each reader's report is typed: ``PreferenceDataset.info`` is a :class:`PairsReport`,
  ``ScoredResponses.info`` a :class:`ResponsesReport` (``to_json()`` gives the plain dict).
- :func:`split_by_prompt` makes a deterministic train/test split with no prompt on both sides.
- :func:`demo_path` / :func:`load_demo` give the small preference set shipped with prefspace.
"""

from .dataset import PreferenceDataset, ScoredResponses, canonical_prompt, render_prompt_text
from .demo import demo_path, load_demo
from .preferences import load_preferences
from .report import PairColumns, PairsReport, ResponseColumns, ResponsesReport, SplitRecord
from .scored import load_scored_responses, read_responses
from .split import split_by_prompt

__all__ = [
    "PreferenceDataset",
    "ScoredResponses",
    "PairsReport",
    "PairColumns",
    "ResponsesReport",
    "ResponseColumns",
    "SplitRecord",
    "canonical_prompt",
    "render_prompt_text",
    "load_preferences",
    "load_scored_responses",
    "read_responses",
    "split_by_prompt",
    "demo_path",
    "load_demo",
]
