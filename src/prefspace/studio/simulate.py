"""Headless mode: simulated annotators labelling through the studio's own HTTP API.

Each simulated annotator is an HTTP client doing what the page does (``GET /api/session``, then
``POST /api/next`` and ``POST /api/judgments`` in a loop) and answering like a Bradley-Terry
annotator on a score column: it prefers A with probability ``sigmoid(beta * (u(A) - u(B)))``,
``u`` the (optionally logit-transformed) score. It stops when the studio says ``finished``
(``rounds`` batches done, or the pool used up).

:func:`simulate_annotators` returns a :class:`Throughput` (one :class:`AnnotatorThroughput`
per annotator); :func:`loop_report` turns the database into one :class:`BatchRecord` per batch,
the figures the benchmark reports: selection latency, refit and cross-validation latency,
cross-validated accuracy.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..evaluate.simulate import label_pairs, transform_scores
from ..exceptions import ConfigError, DataError
from .storage import LabelStore

logger = logging.getLogger(__name__)

__all__ = ["simulate_annotators", "loop_report", "Throughput", "AnnotatorThroughput", "BatchRecord"]


@dataclass(frozen=True)
class AnnotatorThroughput:
    """One simulated annotator's figures.

    annotator : its name (``sim-1``, ...)
    labels : judgments it sent
    label_seconds : time spent in the two requests of each label, waits left out
    wait_seconds : time the server held ``/api/next`` open waiting for a pair
    seconds : its wall time from first request to last
    """

    annotator: str
    labels: int
    label_seconds: float
    wait_seconds: float
    seconds: float


@dataclass(frozen=True)
class Throughput:
    """What :func:`simulate_annotators` measured.

    labels : judgments sent by all annotators
    seconds : wall time of the whole simulation
    label_seconds : time spent in the two requests of each label, summed over annotators
    labels_per_minute : labels / label time across annotators (each annotator's requests are
        sequential; they overlap across annotators): what the server sustains. None without
        label time (no labels)
    wait_seconds : time the server held ``/api/next`` open waiting for a pair (refits, or pairs
        held by others), summed over annotators; not label time
    per_annotator : each annotator's own figures, in the order of their names
    """

    labels: int
    seconds: float
    label_seconds: float
    labels_per_minute: float | None
    wait_seconds: float
    per_annotator: tuple[AnnotatorThroughput, ...]


@dataclass(frozen=True)
class BatchRecord:
    """One batch of the label loop: its selection, and the refit that followed its labels.

    batch, size, strategy, n_explore : the batch (number from 1, pairs, the strategy that chose
        it, how many of them were drawn at random)
    select_seconds : time its selection took (None when not recorded)
    chosen_by : the model version that chose it (None: the first, random, batch)
    labels : A/B labels in the database once this batch was labelled (ties and skips left out)
    model_version : the refit on those labels (None when none was made yet)
    fit_seconds, cv_seconds : that refit's fit and cross-validation times
    cv_accuracy, cv_low, cv_high : its cross-validated accuracy and 95% interval (None below
        the studio's minimum number of labels)
    """

    batch: int
    size: int
    strategy: str
    n_explore: int
    select_seconds: float | None
    chosen_by: int | None
    labels: int
    model_version: int | None
    fit_seconds: float | None
    cv_seconds: float | None
    cv_accuracy: float | None
    cv_low: float | None
    cv_high: float | None

    def to_json(self) -> dict[str, Any]:
        """The record as the fields above, in that order (a line of ``--report`` without
        ``labels_per_minute``)."""
        return asdict(self)


def _client(url: str, token: str | None, timeout_s: float):
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    client = httpx.Client(base_url=url, headers=headers, timeout=timeout_s)
    r = client.get("/api/session")
    if r.status_code != 200:
        client.close()
        raise ConfigError(f"{url}/api/session answered {r.status_code}: {r.text[:200]}")
    client.headers["X-CSRF-Token"] = r.json()["csrf"]
    return client


def simulate_annotators(
    url: str,
    scores: dict[str, float],
    *,
    annotators: int = 1,
    beta: float = 1.0,
    transform: str | None = None,
    eps: float = 1e-4,
    random_state: int = 0,
    token: str | None = None,
    idle_timeout_s: float = 600.0,
    request_timeout_s: float = 120.0,
    max_labels: int = 10_000_000,
) -> Throughput:
    """Label through ``url``'s API until the studio finishes; return throughput figures.

    Parameters
    ----------
    url : the studio's base URL (``http://127.0.0.1:PORT``)
    scores : response id -> score (the ``--simulate`` column)
    annotators : simulated annotators labelling at once (threads named ``sim-1``, ...)
    beta, transform, eps : the Bradley-Terry annotator: ``transform`` ``None`` or ``"logit"``
        (scores in [0, 1], clipped to [eps, 1 - eps])
    random_state : the annotators' random draws (annotator i uses ``[random_state, i]``)
    token : the studio's access token, if it has one
    idle_timeout_s : give up when no pair comes for this long (a stuck studio)
    max_labels : stop after this many judgments in all (a bound on the loop)

    Returns
    -------
    :class:`Throughput`: labels, wall and label seconds, the labels per minute the server
    sustained, the time spent waiting for a pair (not label time), and each annotator's own
    figures.
    """
    if annotators < 1:
        raise ConfigError(f"annotators must be >= 1; got {annotators}.")
    ids = list(scores)
    values = np.asarray([scores[i] for i in ids], dtype=np.float64)
    if not np.isfinite(values).all():
        bad = ids[int(np.flatnonzero(~np.isfinite(values))[0])]
        raise DataError(
            f"the simulated annotator's score of response {bad!r} is missing or not finite."
        )
    utility = dict(zip(ids, transform_scores(values, transform, eps=eps).tolist()))
    results: list[AnnotatorThroughput | None] = [None] * annotators
    errors: list[BaseException] = []
    budget = _LabelBudget(int(max_labels))

    def run(i: int) -> None:
        client = _client(url, token, request_timeout_s)
        try:
            results[i] = _annotate(
                client,
                f"sim-{i + 1}",
                utility,
                beta,
                np.random.default_rng([int(random_state), i]),
                budget,
                idle_timeout_s,
            )
        finally:
            client.close()

    def guarded(i: int) -> None:
        try:
            run(i)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)

    t0 = time.perf_counter()
    threads = [
        threading.Thread(target=guarded, args=(i,), name=f"sim-{i + 1}", daemon=True)
        for i in range(annotators)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    seconds = time.perf_counter() - t0
    done = tuple(r for r in results if r is not None)  # every thread set its own, or raised
    labels = sum(r.labels for r in done)
    label_seconds = sum(r.label_seconds for r in done)
    return Throughput(
        labels=labels,
        seconds=seconds,
        label_seconds=label_seconds,
        # each annotator's requests are sequential; they overlap across annotators
        labels_per_minute=60.0 * labels / (label_seconds / annotators) if label_seconds else None,
        wait_seconds=sum(r.wait_seconds for r in done),
        per_annotator=done,
    )


class _LabelBudget:
    """The labels the simulated annotators may still give, shared between their threads."""

    def __init__(self, left: int) -> None:
        self.left = left
        self._lock = threading.Lock()

    def exhausted(self) -> bool:
        with self._lock:
            return self.left <= 0

    def spend(self) -> None:
        with self._lock:
            self.left -= 1


def _annotate(
    client: Any,
    name: str,
    utility: dict[str, float],
    beta: float,
    rng: np.random.Generator,
    budget: _LabelBudget,
    idle_timeout_s: float,
) -> AnnotatorThroughput:
    """One simulated annotator: ask for a pair, judge it, send the judgment, until the studio
    says it is finished (or the budget is spent); return its throughput figures."""
    labels = 0
    label_s = wait_s = 0.0
    t_start = time.perf_counter()
    idle_since = time.monotonic()
    while not budget.exhausted():
        t0 = time.perf_counter()
        r = client.post("/api/next", json={"annotator": name, "wait_s": 10})
        if r.status_code != 200:
            raise RuntimeError(f"/api/next answered {r.status_code}: {r.text[:300]}")
        body = r.json()
        waited = float(body.get("waited_s") or 0.0)
        wait_s += waited
        if body["status"] == "finished":
            break
        if body["status"] != "ok":
            if time.monotonic() - idle_since > idle_timeout_s:
                raise RuntimeError(
                    f"no pair for {idle_timeout_s:.0f} s (status {body['status']!r}, "
                    f"error {body.get('error')!r})"
                )
            continue
        pair = body["pair"]
        # the one simulated annotator (prefspace.evaluate.simulate): Bradley-Terry on the utilities
        a_wins = label_pairs(
            [utility[pair["id_a"]]],
            [utility[pair["id_b"]]],
            noise="bt",
            beta=beta,
            random_state=rng,
        )
        label = "a" if a_wins[0] else "b"
        r = client.post(
            "/api/judgments", json={"annotator": name, "pair_id": pair["pair_id"], "label": label}
        )
        if r.status_code != 201:
            raise RuntimeError(f"/api/judgments answered {r.status_code}: {r.text[:300]}")
        label_s += time.perf_counter() - t0 - waited
        labels += 1
        idle_since = time.monotonic()
        budget.spend()
    return AnnotatorThroughput(
        annotator=name,
        labels=labels,
        label_seconds=label_s,
        wait_seconds=wait_s,
        seconds=time.perf_counter() - t_start,
    )


# the columns of a refit (the ``models`` table) a BatchRecord carries under the same names
_REFIT_COLUMNS = ("fit_seconds", "cv_seconds", "cv_accuracy", "cv_low", "cv_high")


def _ids_key(j: dict) -> str:
    return j["pair_id"]


def loop_report(store: LabelStore) -> list[BatchRecord]:
    """One :class:`BatchRecord` per batch, in batch order: its selection, and the refit that
    followed its labels."""
    batches = store.batches()
    models = store.models()
    judgments = store.judgments()
    pair_batch = {p["pair_id"]: p["batch"] for p in store.pairs()}
    labels_after: dict[int, int] = {}
    count = 0
    for b in batches:
        count += sum(
            1
            for j in judgments
            if pair_batch[_ids_key(j)] == b["batch"] and j["label"] in ("a", "b")
        )
        labels_after[b["batch"]] = count
    out: list[BatchRecord] = []
    for b in batches:
        n = labels_after[b["batch"]]
        refit = next(
            (m for m in models if m["n_labels"] == n and m["version"] > (b["model_version"] or 0)),
            {},  # no refit on these labels yet
        )
        out.append(
            BatchRecord(
                batch=b["batch"],
                size=b["size"],
                strategy=b["strategy"],
                n_explore=b["n_explore"],
                select_seconds=b["select_seconds"],
                chosen_by=b["model_version"],
                labels=n,
                model_version=refit.get("version"),
                **{k: refit.get(k) for k in _REFIT_COLUMNS},
            )
        )
    return out
