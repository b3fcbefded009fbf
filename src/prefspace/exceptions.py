"""Errors prefspace raises on purpose.

Every error a user can fix is a :class:`PrefspaceError`. The CLI prints its
message and exits with code 2; any other exception is a bug (exit code 1).
Subclasses also inherit the matching built-in so ``except ValueError`` works.
"""

from __future__ import annotations


class PrefspaceError(Exception):
    """Base class: something the user can fix. The message says what and how."""


class DataError(PrefspaceError, ValueError):
    """Preference data that cannot be read: wrong columns, types, encoding, empty text..."""


class ShapeError(PrefspaceError, ValueError):
    """An array of the wrong shape or dtype was passed to an estimator or a metric."""


class ConfigError(PrefspaceError, ValueError):
    """An invalid parameter value or combination of options."""


class FormatError(PrefspaceError, ValueError):
    """An on-disk artefact (cache, model directory, synthetic set) is missing, corrupt or of an unknown version."""


class FingerprintMismatchError(PrefspaceError, ValueError):
    """Embeddings or a model were made with a different encoder than the one in use."""


class NotFittedError(PrefspaceError, AttributeError):
    """An estimator was used before ``fit``."""
