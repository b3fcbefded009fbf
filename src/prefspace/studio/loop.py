"""The labeling loop: hand out pairs, record judgments, refit and choose the next batch.

A :class:`Studio` owns a :class:`~prefspace.studio.storage.LabelStore`, a
:class:`~prefspace.studio.pool.LabelPool` and a reward head. It is what the web app calls:

- :meth:`Studio.next_pair` leases an open pair of the current batch to an annotator. With
  ``overlap=1`` a pair is leased to one annotator at a time; with ``overlap=K`` to at most
  ``K`` different annotators, and it needs ``K`` judgments to be done. A lease expires after
  ``lease_seconds`` (an annotator who walked away does not hold a pair forever);
- :meth:`Studio.judge` validates and commits one judgment (unknown pair: ``UnknownPairError``;
  the same annotator again: ``DuplicateJudgmentError``; a pair already done or held by
  others: :class:`PairClosedError`);
- when every pair of the current batch is done, a background thread refits the head on all
  labels (ties and skips left out), measures its cross-validated accuracy, and chooses the
  next batch with the strategy, a share ``explore`` of it at random. Requests never wait on
  it: until the batch is ready :meth:`next_pair` answers ``status="refitting"``.

Without a model the first batch is random. With ``rounds=N`` the loop stops after N batches
(after the last refit). Batch order and the A/B side of each pair are shuffled (seeded), so
annotators cannot tell exploration pairs apart or learn a side bias.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import clone

from .._estimators import seeded
from .._surface import option
from ..data.text_features import log_length
from ..exceptions import ConfigError, PrefspaceError
from ..models import BradleyTerryLinear, RewardEnsemble, save_model
from ..select import STRATEGIES, get_selector, selector_options
from .metrics import agreement, cross_validated_accuracy
from .pool import LabelPool
from .state import PoolSummary, StudioProgress, StudioSettings, StudioState, model_history
from .storage import DuplicateJudgmentError, LabelStore, NothingToUndoError, UnknownPairError

logger = logging.getLogger(__name__)

__all__ = ["Studio", "StudioConfig", "PairClosedError"]

MAX_WAIT_S = 30.0

RefitCallback = Callable[[int, Any, int], None]
"""Called as ``on_refit(version, model, n_labels)`` in the worker after each refit."""


class PairClosedError(PrefspaceError, ValueError):
    """The pair already has all the judgments it needs, or the rest are leased to others."""


@dataclass
class StudioConfig:
    """Settings of the loop (the ``prefspace label`` options of the same names).

    strategy : a ``prefspace.select`` strategy (``d-optimal``, ``random``, ``uncertainty``, ...)
    batch_size : pairs per batch
    explore : share of each batch (after the first) chosen at random instead, in [0, 1]
    overlap : judgments each pair needs, from different annotators (>= 2 gives agreement)
    rounds : stop after this many batches (None: until the pool runs out)
    lam : ridge of the D-optimal information matrix (None: the head's own prior); D-optimal's own
        random share is off here, since ``explore`` already draws one
    seed : seeds the first batch, exploration, the A/B sides and the head
    lease_seconds : how long a pair stays reserved for the annotator it was shown to
    cv_folds, min_cv_labels : cross-validation of the head on the labels so far
    """

    strategy: str = (
        "random"  # the label-loop benchmark: D-optimal behind random (docs/benchmarks.md)
    )
    batch_size: int = 20
    explore: float = 0.2
    overlap: int = 1
    rounds: int | None = None
    lam: float | None = None
    seed: int = 0
    lease_seconds: float = 600.0
    cv_folds: int = 5
    min_cv_labels: int = 8

    def check(self) -> StudioConfig:
        if self.strategy not in STRATEGIES:
            raise ConfigError(
                f"strategy must be one of {', '.join(STRATEGIES)}; got {self.strategy!r}."
            )
        if int(self.batch_size) < 1:
            raise ConfigError(f"batch size must be >= 1; got {self.batch_size}.")
        if not 0.0 <= float(self.explore) <= 1.0:
            raise ConfigError(f"explore must be a share in [0, 1]; got {self.explore}.")
        if int(self.overlap) < 1:
            raise ConfigError(f"overlap must be >= 1; got {self.overlap}.")
        if self.rounds is not None and int(self.rounds) < 1:
            raise ConfigError(f"rounds must be >= 1; got {self.rounds}.")
        if float(self.lease_seconds) <= 0:
            raise ConfigError(f"lease_seconds must be > 0; got {self.lease_seconds}.")
        return self


@dataclass
class _Pair:
    pair_id: str
    batch: int
    rank: int
    rows: tuple[int, int]
    strategy: str
    model_version: int | None
    annotators: set = field(default_factory=set)  # who judged it (skips included)
    leases: dict = field(default_factory=dict)  # annotator -> (started, expires)


class Studio:
    """The labeling loop over one label database and one pool.

    Parameters
    ----------
    store : LabelStore
    pool : LabelPool
    head : an unfitted reward head, cloned at each refit (default ``BradleyTerryLinear()``;
        a model's own class and settings when ``model`` is given)
    model : an already fitted head (``--model``): model version 0, which chooses the first batch
    config : StudioConfig
    encoder : recorded with the model when ``save_to`` is set
    save_to : a directory; the latest refit is saved there (``save_model``) after each refit
    model_source : shown for version 0 (e.g. the ``--model`` directory)
    on_refit : called as ``on_refit(version, model, n_labels)`` in the worker after each refit
        (benchmarks evaluate each version on held-out data with it)

    Example
    -------
    >>> studio = Studio(LabelStore("labels.sqlite"), pool, config=StudioConfig(batch_size=10))  # doctest: +SKIP
    >>> studio.start(); studio.next_pair("ann")["status"]                                      # doctest: +SKIP
    'ok'
    """

    def __init__(
        self,
        store: LabelStore,
        pool: LabelPool,
        *,
        head: Any = None,
        model: Any = None,
        config: StudioConfig | None = None,
        encoder: Any = None,
        save_to: str | os.PathLike | None = None,
        model_source: str | None = None,
        on_refit: RefitCallback | None = None,
    ) -> None:
        self.store = store
        self.pool = pool
        self._log_lengths = log_length(pool.candidates.responses)  # for the learned length baseline
        self.config = (config or StudioConfig()).check()
        if head is None:
            if model is not None:
                head = clone(model)
            else:
                head = BradleyTerryLinear()
        if self.config.strategy == "ensemble":
            if not isinstance(head, RewardEnsemble):
                head = RewardEnsemble(head, n_members=5, random_state=self.config.seed)
        self.head = head
        self.encoder = encoder
        self.save_to = None if save_to is None else Path(save_to)
        self.model_source = model_source
        self._initial_model = model
        self.model = model
        self.model_version: int | None = None
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._pairs: dict[str, _Pair] = {}
        self._order: list[
            str
        ] = []  # ids of the pairs still open (fewer judgments than overlap), batch/rank order
        self._n_batches = 0
        self._judgments: list[dict] = []
        self._session: dict[str, int] = {}
        self._busy = False
        self._job_wanted = False
        self._finished: str | None = None
        self._error: str | None = None
        self._stop = False
        self._worker: threading.Thread | None = None
        self._started = False
        self.on_refit = on_refit

    # ================================================================== life cycle
    def start(self) -> Studio:
        """Check the database against the pool, restore its state, make sure a batch is open,
        start the background worker. Idempotent."""
        with self._lock:
            if self._started:
                return self
            self._check_meta()
            self._restore()
            models = self.store.models()
            if self.model is not None and not models:
                self.store.add_model(
                    0,
                    head=type(self.model).__name__,
                    n_labels=0,
                    note=f"loaded from {self.model_source}" if self.model_source else "loaded",
                )
                models = self.store.models()
            if models:
                self.model_version = int(models[-1]["version"])
            # no refit here: a model is only needed to choose a batch, and every batch after the
            # first is chosen right after a refit on all labels (labels imported while the studio
            # was stopped included)
            if self._n_batches == 0:
                self._choose_batch()
            elif self._batch_complete():
                refitted = bool(models) and int(models[-1]["n_labels"]) == len(
                    self._training_judgments()
                )
                if self._rounds_done() and refitted:
                    self._finished = self._rounds_message()
                else:
                    self._job_wanted = (
                        True  # refit (unless killed mid-way, it already ran) and go on
                    )
            self._stop = False
            self._worker = threading.Thread(
                target=self._work, name="prefspace-studio-refit", daemon=True
            )
            self._worker.start()
            self._started = True
            self._cond.notify_all()
        return self

    def stop(self, timeout: float | None = 60.0) -> None:
        """Stop the background worker (a refit in progress finishes first)."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._worker is not None:
            self._worker.join(timeout)
        self._started = False

    def __enter__(self) -> Studio:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _check_meta(self) -> None:
        meta = self.store.meta()
        digest = meta.get("pool_digest")
        if digest is not None and digest != self.pool.digest:
            raise ConfigError(
                f"{self.store.path} was made with another pool ({meta.get('pool_source', '?')}, "
                f"{meta.get('pool_responses', '?')} responses); start it with that pool or use a new "
                f"{option('db')}."
            )
        if digest is None:
            self.store.set_meta(
                pool_digest=self.pool.digest,
                pool_source=str(self.pool.candidates.source),
                pool_responses=str(len(self.pool.candidates)),
                pool_kind=self.pool.kind,
                created_at=str(time.time()),
            )

    def _restore(self) -> None:
        pairs = self.store.pairs()
        rows = self.pool.rows_for(
            [(p["id_a"], p["id_b"]) for p in pairs], where=str(self.store.path)
        )
        for p, (ra, rb) in zip(pairs, rows.tolist()):
            self._pairs[p["pair_id"]] = _Pair(
                p["pair_id"], p["batch"], p["rank"], (ra, rb), p["strategy"], p["model_version"]
            )
        self._n_batches = len(self.store.batches())
        self._judgments = self.store.judgments()
        for j in self._judgments:
            self._pairs[j["pair_id"]].annotators.add(j["annotator"])
        self._order = [
            pid for pid, p in self._pairs.items() if self._open(p)
        ]  # dicts keep insertion order

    # ================================================================== queries
    def _current_batch(self) -> list[_Pair]:
        return [p for p in self._pairs.values() if p.batch == self._n_batches]

    def _open(self, p: _Pair) -> bool:
        return len(p.annotators) < self.config.overlap

    def _batch_complete(self) -> bool:
        return self._n_batches > 0 and not any(
            self._pairs[pid].batch == self._n_batches for pid in self._order
        )

    def _rounds_message(self) -> str:
        n = int(self.config.rounds or 0)  # called once rounds (a number) are done
        return f"all {n} round{'s' if n != 1 else ''} done"

    def _rounds_done(self) -> bool:
        return self.config.rounds is not None and self._n_batches >= int(self.config.rounds)

    def _training_judgments(self) -> list[dict]:
        return [j for j in self._judgments if j["label"] in ("a", "b")]

    def _training_set(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pairs winner first, ``(m, 2, D)``, the prompt of each (for grouped folds) and the
        pairs' log lengths ``(m, 2)`` (for the learned length baseline)."""
        judged = self._training_judgments()
        rows = np.array([self._pairs[j["pair_id"]].rows for j in judged], dtype=np.int64).reshape(
            -1, 2
        )
        a_wins = np.array([j["label"] == "a" for j in judged], dtype=bool)
        oriented = np.where(a_wins[:, None], rows, rows[:, ::-1])
        return (
            self.pool.features[oriented],
            self.pool.prompt_of_rows(oriented[:, 0]),
            self._log_lengths[oriented],
        )

    # ================================================================== annotators
    def _expire(self, now: float) -> float | None:
        """Drop expired leases; return the earliest expiry still pending."""
        earliest = None
        for pid in self._order:
            p = self._pairs[pid]
            for who, (_, until) in list(p.leases.items()):
                if until <= now:
                    del p.leases[who]
                elif earliest is None or until < earliest:
                    earliest = until
        return earliest

    def _status(self) -> str:
        if self._finished:
            return "finished"
        if self._busy or self._job_wanted:
            return "refitting"
        return "waiting"

    def next_pair(self, annotator: str, wait_s: float = 0.0) -> dict:
        """Lease the next pair to ``annotator``; wait up to ``wait_s`` seconds (at most 30) when
        none is free now.

        Returns ``{"status": "ok", "pair": {...}, "waited_s": ...}`` or ``{"status": s, ...}``
        with s ``"refitting"`` (the next batch is being chosen), ``"waiting"`` (every open pair
        is held by or done by others) or ``"finished"`` (all rounds done or the pool is used
        up). ``waited_s`` is how long the call waited for a pair.
        """
        t0 = time.monotonic()
        deadline = t0 + min(max(float(wait_s), 0.0), MAX_WAIT_S)
        with self._cond:
            while True:
                now = time.time()
                earliest = self._expire(now)
                found = self._lease(annotator, now)
                if found is not None:
                    return {
                        "status": "ok",
                        "pair": found,
                        "waited_s": round(time.monotonic() - t0, 4),
                    }
                status = self._status()
                remaining = deadline - time.monotonic()
                if status == "finished" or remaining <= 0 or self._stop:
                    return {
                        "status": status,
                        "error": self._error,
                        "waited_s": round(time.monotonic() - t0, 4),
                    }
                timeout = (
                    remaining if earliest is None else min(remaining, max(earliest - now, 0.01))
                )
                self._cond.wait(timeout)

    def _lease(self, annotator: str, now: float) -> dict | None:
        overlap = self.config.overlap
        candidate = None
        for pid in self._order:
            p = self._pairs[pid]
            if not self._open(p) or annotator in p.annotators:
                continue
            if annotator in p.leases:  # a page reload gets the same pair back
                candidate = p
                break
            if candidate is None and len(p.annotators) + len(p.leases) < overlap:
                candidate = p
        if candidate is None:
            return None
        started = candidate.leases.get(annotator, (now, None))[0]
        candidate.leases[annotator] = (started, now + float(self.config.lease_seconds))
        return self._public_pair(candidate)

    def _public_pair(self, p: _Pair) -> dict:
        c = self.pool.candidates
        ra, rb = p.rows
        pa, pb = int(c.prompt_index[ra]), int(c.prompt_index[rb])
        return {
            "pair_id": p.pair_id,
            "id_a": c.ids[ra],
            "id_b": c.ids[rb],
            "batch": p.batch,
            "prompt": c.prompts[pa],
            "prompt_b": c.prompts[pb] if pa != pb else None,
            "response_a": c.responses[ra],
            "response_b": c.responses[rb],
        }

    def release(self, annotator: str, pair_id: str) -> bool:
        """Give back the lease ``annotator`` holds on ``pair_id`` (the page does this when its
        annotator changes name); True if there was one."""
        with self._cond:
            p = self._pairs.get(pair_id)
            if p is None:
                raise UnknownPairError(f"no pair {pair_id!r} in this studio.")
            held = p.leases.pop(annotator, None) is not None
            if held:
                self._cond.notify_all()
            return held

    def judge(
        self,
        annotator: str,
        pair_id: str,
        label: str,
        *,
        reason: str | None = None,
        source: str = "studio",
    ) -> dict:
        """Commit one judgment; returns the stored row. See the module docstring for the errors."""
        with self._cond:
            p = self._pairs.get(pair_id)
            if p is None:
                raise UnknownPairError(f"no pair {pair_id!r} in this studio.")
            if annotator in p.annotators:
                raise DuplicateJudgmentError(f"{annotator!r} already judged pair {pair_id!r}.")
            now = time.time()
            self._expire(now)
            others = [a for a in p.leases if a != annotator]
            if not self._open(p):
                raise PairClosedError(
                    f"pair {pair_id!r} already has its {self.config.overlap} judgment(s)."
                )
            if annotator not in p.leases and len(p.annotators) + len(others) >= self.config.overlap:
                raise PairClosedError(
                    f"pair {pair_id!r} is assigned to another annotator; ask for the next pair."
                )
            lease = p.leases.get(annotator)
            seconds = None if lease is None else round(now - lease[0], 3)
            row = self.store.add_judgment(
                pair_id, annotator, label, reason=reason, seconds=seconds, source=source
            )
            p.annotators.add(annotator)
            p.leases.pop(annotator, None)
            if not self._open(p):
                self._order.remove(pair_id)
            self._judgments.append(row)
            if label != "skip":
                self._session[annotator] = self._session.get(annotator, 0) + 1
            if p.batch == self._n_batches and self._batch_complete():
                self._job_wanted = (
                    True  # the worker refits, then chooses the next batch or finishes
                )
            self._cond.notify_all()
            return row

    def undo(self, annotator: str) -> dict:
        """Take back ``annotator``'s last judgment: the row is deleted from the database and the
        pair is leased to them again, to be judged anew; returns ``{"undone": row, "pair": ...}``.

        A judgment whose batch is already closed can be undone too: the model keeps what it was
        fitted on until the next refit, which uses the new judgment. Raises
        :class:`NothingToUndoError` when the annotator has no judgment.
        """
        with self._cond:
            mine = [j for j in self._judgments if j["annotator"] == annotator]
            if not mine:
                raise NothingToUndoError(f"{annotator!r} has no judgment to undo.")
            row = mine[-1]
            self.store.delete_judgment(row["judgment_id"])
            self._judgments.remove(row)
            p = self._pairs[row["pair_id"]]
            p.annotators.discard(annotator)
            if row["label"] != "skip":
                self._session[annotator] = max(self._session.get(annotator, 0) - 1, 0)
            if row["pair_id"] not in self._order:
                self._order.insert(0, row["pair_id"])
            now = time.time()
            p.leases[annotator] = (now, now + float(self.config.lease_seconds))
            self._cond.notify_all()
            logger.info("%s undid their judgment of pair %s", annotator, row["pair_id"])
            return {
                "undone": {k: row[k] for k in ("judgment_id", "pair_id", "label")},
                "pair": self._public_pair(p),
            }

    # ================================================================== background work
    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._job_wanted and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                self._job_wanted = False
                self._busy = True
            try:
                self._run_job()
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _run_job(self) -> None:
        """Refit, then choose the next batch. A failed refit keeps the previous model; a failed
        selection falls back to a random batch; only when that fails too does the loop stop."""
        errors = []
        try:
            self._refit()
        except Exception as exc:  # noqa: BLE001 - keep serving; the page shows the error
            logger.exception("refit failed; keeping model version %s", self.model_version)
            errors.append(f"refit failed ({type(exc).__name__}: {exc})")
        if self._rounds_done():
            with self._cond:
                self._finished = self._rounds_message()
        else:
            try:
                self._choose_batch()
            except Exception as exc:  # noqa: BLE001
                logger.exception(
                    "selection with %s failed; choosing this batch at random", self.config.strategy
                )
                errors.append(
                    f"selection failed ({type(exc).__name__}: {exc}); this batch is random"
                )
                try:
                    self._choose_batch(random_only=True)
                except Exception as exc2:  # noqa: BLE001
                    logger.exception("random selection failed too")
                    with self._cond:
                        self._finished = f"stopped: no next batch ({type(exc2).__name__}: {exc2})"
        with self._cond:
            self._error = "; ".join(errors) or None

    def _refit(self) -> None:
        """Fit the head on every label so far (and its cross-validated accuracy); a new version."""
        with self._lock:
            X, groups, lengths = self._training_set()
            n_labels = len(X)
        if n_labels == 0:
            return
        t0 = time.perf_counter()
        model = seeded(self.head, self.config.seed).fit(X)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        cv = cross_validated_accuracy(
            self.head,
            X,
            groups,
            folds=self.config.cv_folds,
            min_pairs=self.config.min_cv_labels,
            random_state=self.config.seed,
            lengths=lengths,
        )
        cv_s = time.perf_counter() - t0
        with self._lock:
            version = (self.model_version if self.model_version is not None else 0) + 1
            self.store.add_model(
                version,
                head=type(model).__name__,
                n_labels=n_labels,
                cv=cv,
                fit_seconds=round(fit_s, 4),
                cv_seconds=round(cv_s, 4),
            )
            self.model, self.model_version = model, version
        if self.save_to is not None:
            save_model(
                model,
                self.save_to,
                self.encoder,
                metrics={
                    "labels": n_labels,
                    **({f"cv_{k}": v for k, v in cv.items()} if cv else {}),
                },
            )
        logger.info(
            "model v%d: %d labels, cv accuracy %s, fit %.2fs, cv %.2fs",
            version,
            n_labels,
            None if cv is None else round(cv["accuracy"], 4),
            fit_s,
            cv_s,
        )
        if self.on_refit is not None:
            self.on_refit(version, model, n_labels)

    def _selector(self, name: str, rng: np.random.Generator):
        # the loop draws its own random share (``explore``), so D-optimal's is off
        return get_selector(
            name, **selector_options(name, lam=self.config.lam, random_state=rng, exploration=0.0)
        )

    def _choose_batch(self, random_only: bool = False) -> None:
        """Choose and store the next batch (the worker, or start() for the first)."""
        cfg = self.config
        with self._lock:
            batch_no = self._n_batches + 1
            model, version = (
                (None, self.model_version) if random_only else (self.model, self.model_version)
            )
            chosen_rows = np.array([p.rows for p in self._pairs.values()], dtype=np.int64).reshape(
                -1, 2
            )
            X_lab = self._training_set()[0] if self._training_judgments() else None
        rng = np.random.default_rng([int(cfg.seed), batch_no])
        pairs = self.pool.pairs
        exclude = pairs.index_of(chosen_rows) if len(chosen_rows) else np.zeros(0, dtype=np.int64)
        exclude = np.unique(exclude[exclude >= 0])
        k = min(int(cfg.batch_size), len(pairs) - exclude.size)
        if k <= 0:
            with self._cond:
                self._finished = "every candidate pair has been labelled"
                self._cond.notify_all()
            return
        t0 = time.perf_counter()
        gains = None
        if model is None:
            strategy, k_explore = "random", k
            picked = np.zeros(0, dtype=np.int64)
        else:
            strategy = cfg.strategy
            k_explore = int(round(float(cfg.explore) * k))
            selector = self._selector(strategy, rng)
            picked = (
                selector.select(pairs, model, k - k_explore, labelled=X_lab, exclude=exclude)
                if k - k_explore > 0
                else np.zeros(0, dtype=np.int64)
            )
            g = getattr(selector, "gains_", None)
            gains = None if g is None else np.asarray(g, dtype=np.float64)[: picked.size]
        explored = np.zeros(0, dtype=np.int64)
        if k_explore:
            explored = self._selector("random", rng).select(
                pairs, None, k_explore, exclude=np.concatenate([exclude, picked])
            )
        select_s = time.perf_counter() - t0
        records = []
        for i, t in enumerate(picked.tolist()):
            records.append((t, strategy, None if gains is None else float(gains[i])))
        label = "random" if model is None else "explore"
        records += [(t, label, None) for t in explored.tolist()]
        order = rng.permutation(len(records))
        swap = rng.random(len(records)) < 0.5
        rows = pairs.rows(np.array([r[0] for r in records], dtype=np.int64))
        out = []
        for pos in order.tolist():
            ra, rb = rows[pos].tolist()
            if swap[pos]:
                ra, rb = rb, ra
            out.append(
                self.pool.pair_record(ra, rb, strategy=records[pos][1], gain=records[pos][2])
            )
        with self._cond:
            batch = self.store.add_batch(
                out,
                strategy=strategy,
                model_version=version,
                n_explore=len(explored),
                select_seconds=round(select_s, 4),
            )
            for rank, rec in enumerate(out):
                ra, rb = self.pool.row_of[rec["id_a"]], self.pool.row_of[rec["id_b"]]
                self._pairs[rec["pair_id"]] = _Pair(
                    rec["pair_id"], batch, rank, (ra, rb), rec["strategy"], version
                )
                self._order.append(rec["pair_id"])
            self._n_batches = batch
            self._cond.notify_all()
        logger.info(
            "batch %d: %d pairs (%s, %d explored) in %.2fs",
            batch,
            len(out),
            strategy,
            len(explored),
            select_s,
        )

    # ================================================================== reporting
    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Block until no refit is pending or running (True) or ``timeout`` passes (False)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._busy or self._job_wanted:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def state(self, annotator: str | None = None) -> StudioState:
        """Progress, the current model and its learning curve, agreement; what the page shows
        (:meth:`StudioState.to_json` is the body of ``GET /api/state``).

        With ``annotator``, ``held`` lists the pairs leased to them now (the page sees at once
        that the pair it shows was judged in another tab or lost its lease)."""
        with self._lock:
            batch = self._current_batch()
            done = sum(not self._open(p) for p in batch)
            labels = sum(j["label"] != "skip" for j in self._judgments)
            model, curve = model_history(self.store.models())
            now = time.time()
            held = (
                None
                if annotator is None
                else tuple(
                    pid
                    for pid in self._order
                    if annotator in self._pairs[pid].leases
                    and self._pairs[pid].leases[annotator][1] > now
                )
            )
            return StudioState(
                held=held,
                status="labelling" if self._status() == "waiting" else self._status(),
                finished=self._finished,
                error=self._error,
                progress=StudioProgress(
                    session=None if annotator is None else self._session.get(annotator, 0),
                    judgments=len(self._judgments),
                    labels=labels,
                    skipped=len(self._judgments) - labels,
                    batch=self._n_batches,
                    batch_size=len(batch),
                    batch_done=done,
                    left_in_batch=len(batch) - done,
                    rounds=self.config.rounds,
                ),
                model=model,
                curve=curve,
                agreement=agreement(self._judgments),
                settings=StudioSettings(
                    strategy=self.config.strategy,
                    batch_size=self.config.batch_size,
                    explore=self.config.explore,
                    overlap=self.config.overlap,
                    pool=PoolSummary(
                        kind=self.pool.kind,
                        candidates=len(self.pool.pairs),
                        responses=len(self.pool.candidates),
                    ),
                ),
            )
