"""Preference data: loading, validation, splitting (loaders under construction)."""

from .dataset import PreferenceDataset, ScoredResponses, prompt_key, render_prompt_text

__all__ = ["PreferenceDataset", "ScoredResponses", "prompt_key", "render_prompt_text"]
