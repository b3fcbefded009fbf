"""What :meth:`Studio.state <prefspace.studio.Studio.state>` reports: progress, the current
model and its learning curve, agreement and the settings, as frozen dataclasses.

:meth:`StudioState.to_json` is the body of ``GET /api/state`` (the page reads it); the CLI reads
the fields.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from .metrics import Agreement

__all__ = [
    "CurvePoint",
    "ModelSummary",
    "PoolSummary",
    "StudioProgress",
    "StudioSettings",
    "StudioState",
    "model_history",
]


@dataclass(frozen=True)
class StudioProgress:
    """How far the labelling is.

    session : judgments by the annotator asked about since the studio started (None when the
        state was asked for without an annotator)
    judgments : judgments in all, skips included; ``labels`` of them are not skips and
        ``skipped`` are
    batch : the current batch (from 1; 0 before the first)
    batch_size, batch_done, left_in_batch : its pairs, those done (every judgment they need),
        and those left
    rounds : the number of batches the loop stops after (None: until the pool runs out)
    """

    session: int | None
    judgments: int
    labels: int
    skipped: int
    batch: int
    batch_size: int
    batch_done: int
    left_in_batch: int
    rounds: int | None


@dataclass(frozen=True)
class ModelSummary:
    """The latest refit, as the ``models`` table of the label database records it: version,
    head, labels used, cross-validated accuracy with its 95% interval and folds, fit and
    cross-validation seconds, a note, and the learned length baseline's accuracy with the
    model's margin over it (and its interval). Figures not measured are None."""

    version: int
    head: str
    n_labels: int
    cv_accuracy: float | None
    cv_low: float | None
    cv_high: float | None
    cv_folds: int | None
    fit_seconds: float | None
    cv_seconds: float | None
    note: str | None
    length_accuracy: float | None
    vs_length: float | None
    vs_length_low: float | None
    vs_length_high: float | None


@dataclass(frozen=True)
class CurvePoint:
    """One point of the learning curve: a model version, the labels it was fitted on, its
    cross-validated accuracy and 95% interval."""

    version: int
    labels: int
    accuracy: float
    low: float | None
    high: float | None


@dataclass(frozen=True)
class PoolSummary:
    """The pool: its kind of candidate pairs (within or across prompts), how many candidate
    pairs and how many responses it holds."""

    kind: str
    candidates: int
    responses: int


@dataclass(frozen=True)
class StudioSettings:
    """The loop's settings the page shows, and the pool."""

    strategy: str
    batch_size: int
    explore: float
    overlap: int
    pool: PoolSummary


@dataclass(frozen=True)
class StudioState:
    """What the page shows, and what ``GET /api/state`` answers (:meth:`to_json`).

    held : the pairs leased to the annotator asked about (None without an annotator)
    status : ``"labelling"``, ``"refitting"`` (the next batch is being chosen) or ``"finished"``
    finished : why the loop finished (None while it runs)
    error : the last refit's or selection's error (None when they worked)
    progress, model, curve, agreement, settings : see their types; ``model`` is None before the
        first refit, and ``curve`` holds the refits with a cross-validated accuracy
    """

    held: tuple[str, ...] | None
    status: str
    finished: str | None
    error: str | None
    progress: StudioProgress
    model: ModelSummary | None
    curve: tuple[CurvePoint, ...]
    agreement: Agreement
    settings: StudioSettings

    def to_json(self) -> dict[str, Any]:
        """The fields, in order, as JSON values (tuples as lists): the ``/api/state`` body."""
        out = asdict(self)
        out["held"] = None if self.held is None else list(self.held)
        out["curve"] = [asdict(point) for point in self.curve]
        return out


def model_history(models: list[dict]) -> tuple[ModelSummary | None, tuple[CurvePoint, ...]]:
    """The latest refit (None before the first) and the learning curve (the refits with a
    cross-validated accuracy), from the ``models`` rows of the label database, oldest first."""
    latest = (
        ModelSummary(**{f.name: models[-1][f.name] for f in fields(ModelSummary)})
        if models
        else None
    )
    curve = tuple(
        CurvePoint(m["version"], m["n_labels"], m["cv_accuracy"], m["cv_low"], m["cv_high"])
        for m in models
        if m["cv_accuracy"] is not None
    )
    return latest, curve
