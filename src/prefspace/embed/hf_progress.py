"""Hide the Hugging Face libraries' own progress bars while prefspace works.

transformers writes its bars ("Loading weights", shard writing) straight to stderr; library code
must not print, and the command line shows its own progress. :func:`no_hf_progress_bars` is the
one place that switches them off, and it puts the previous setting back afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["no_hf_progress_bars"]


@contextmanager
def no_hf_progress_bars() -> Iterator[None]:
    """Within the block, transformers shows no progress bar; the previous setting is restored.

    Example
    -------
    >>> from transformers.utils import logging as hf_logging
    >>> with no_hf_progress_bars():
    ...     hf_logging.is_progress_bar_enabled()
    False
    """
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
