"""The labeling studio: active labeling with people in the loop.

``prefspace label POOL --db labels.sqlite`` serves one page where annotators compare two
responses; the loop refits the reward head on every label in the background and chooses the
next batch with an active-labeling strategy. Pieces:

    LabelStore          the SQLite (WAL) database, one row per judgment  (storage.py)
    LabelPool           candidate responses, feature rows, candidate pairs (pool.py)
    Studio              leases, judgments, background refit and selection (loop.py)
    create_studio_app   the FastAPI app and its page                      (app.py)
    StudioServer        uvicorn on a pre-bound socket, in a thread        (server.py)
    simulate_annotators Bradley-Terry annotators over the HTTP API        (simulate.py)
    export_trl, export_label_studio, import_label_studio                  (export.py)

What they return are frozen dataclasses: ``Studio.state()`` a :class:`StudioState` (the body of
``GET /api/state``, state.py), ``agreement`` an :class:`Agreement`, ``simulate_annotators`` a
:class:`Throughput`, ``loop_report`` a list of :class:`BatchRecord`, and the exports'
counts a :class:`TrlExport`, :class:`LabelStudioExport` or :class:`LabelStudioImport`.

See docs/labeling.md.
"""

from .app import create_studio_app, is_loopback
from .build import build_studio
from .export import (
    LabelStudioExport,
    LabelStudioImport,
    TrlExport,
    export_label_studio,
    export_trl,
    import_label_studio,
    label_studio_config,
)
from .loop import PairClosedError, Studio, StudioConfig
from .metrics import Agreement, agreement, cross_validated_accuracy
from .pool import LabelPool, load_label_pool, pool_features
from .server import StudioServer, bind_socket
from .simulate import (
    AnnotatorThroughput,
    BatchRecord,
    Throughput,
    loop_report,
    simulate_annotators,
)
from .state import StudioState
from .storage import DuplicateJudgmentError, LabelStore, NothingToUndoError, UnknownPairError

__all__ = [
    "Agreement",
    "AnnotatorThroughput",
    "BatchRecord",
    "DuplicateJudgmentError",
    "LabelPool",
    "LabelStore",
    "LabelStudioExport",
    "LabelStudioImport",
    "NothingToUndoError",
    "PairClosedError",
    "Studio",
    "StudioConfig",
    "StudioServer",
    "StudioState",
    "Throughput",
    "TrlExport",
    "UnknownPairError",
    "agreement",
    "bind_socket",
    "build_studio",
    "create_studio_app",
    "cross_validated_accuracy",
    "export_label_studio",
    "export_trl",
    "import_label_studio",
    "is_loopback",
    "label_studio_config",
    "load_label_pool",
    "loop_report",
    "pool_features",
    "simulate_annotators",
]
