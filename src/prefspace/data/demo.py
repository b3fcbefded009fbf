"""The small preference set shipped inside prefspace (``resources/demo/``).

330+ pairs written for this project across three subsets (``helpfulness``, ``harmlessness``,
``honesty``), in the TRL standard format with an explicit prompt. See ``DATA_CARD.md`` beside the
file for how it was written and what it is not good for. Licence: CC0-1.0.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .dataset import PreferenceDataset


def demo_path() -> Path:
    """Path of the bundled ``preferences.jsonl`` (inside the installed package).

    Example
    -------
    >>> demo_path().name
    'preferences.jsonl'
    """
    return Path(str(resources.files("prefspace") / "resources" / "demo" / "preferences.jsonl"))


def load_demo(**kwargs) -> PreferenceDataset:
    """Load the bundled demo pairs; keyword arguments go to :func:`load_preferences`.

    Example
    -------
    >>> ds = load_demo()
    >>> sorted(set(ds.subset))
    ['harmlessness', 'helpfulness', 'honesty']
    """
    from .preferences import load_preferences

    return load_preferences(demo_path(), **kwargs)
