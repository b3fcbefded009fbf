"""The experiment runner: a grid of cells, run in parallel processes, resumable.

``run_experiment(config, out_dir)`` prepares each dataset once, then runs every
(dataset, budget, method, seed) cell that ``out_dir/results.jsonl`` does not already hold, in
up to ``jobs`` spawned worker processes (never more than the machine's cores). Each finished
cell is appended to ``results.jsonl`` as one JSON line by the parent (flushed and fsynced), so
an interrupted run loses at most the cells in flight; rerunning skips finished cells. A cell is
keyed by its coordinates and a hash of its dataset and method specs, so editing a method's
parameters reruns that method's cells instead of reusing stale rows.

What it does not do: schedule across machines, or retry a failing cell (the error stops the run
and names the cell; finished rows stay).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock, Timeout

from .._atomic import write_bytes_atomic
from .._jsonread import loads as json_loads
from .._jsonsafe import dumps
from .._paths import check_output
from .._progress import track
from ..exceptions import ConfigError, FormatError
from .cells import CellMethod, CellTask, cell_key, prepare_dataset, run_cell
from .config import config_paths, spec_hash

if TYPE_CHECKING:
    from ..embed import CacheUse

logger = logging.getLogger(__name__)

RESULTS_FILE = "results.jsonl"


def plan_cells(config: dict) -> list[CellTask]:
    """Every cell of the grid, in a stable order (dataset, method, seed, budget)."""
    tasks = []
    max_budget = max(config["budgets"])
    for ds in config["datasets"]:
        for method in config["methods"]:
            spec = spec_hash(
                {
                    "dataset": {k: v for k, v in ds.items() if k != "cache"},
                    "method": method,
                    "eval": config.get("eval") or {},
                    "max_budget": max_budget,
                }
            )
            for seed in config["seeds"]:
                for budget in config["budgets"]:
                    tasks.append(
                        CellTask(
                            key=cell_key(ds["name"], budget, method["name"], seed, spec),
                            dataset_name=ds["name"],
                            method=CellMethod.from_config(method),
                            budget=budget,
                            seed=seed,
                            max_budget=max_budget,
                            eval=config.get("eval") or {},
                        )
                    )
    return tasks


def read_results(path) -> list[dict]:
    """Rows of a results.jsonl; a truncated last line (an interrupted write) is ignored."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rows.append(json_loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                logger.warning("%s: ignoring a truncated last line (interrupted write)", path)
                continue
            raise FormatError(
                f"{path}:{i + 1}: not a JSON line; delete the line or the file to rerun those cells."
            ) from None
    return rows


def _drop_partial_last_line(path: Path) -> None:
    """A run killed mid-write leaves a last line without its newline: cut it off (atomically)
    before appending, so the next row does not land on the same line."""
    if not path.exists() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if data.endswith(b"\n"):
        return
    keep = data[: data.rfind(b"\n") + 1]
    logger.warning("%s: dropping a partial last line left by an interrupted run", path)
    write_bytes_atomic(path, keep)


def default_jobs() -> int:
    return max(
        1,
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1),
    )


def run_experiment(
    config: dict,
    out_dir,
    *,
    jobs: int | None = None,
    progress: Callable[[int, int, dict | None], None] | None = None,
    cache_use: list[CacheUse] | None = None,
) -> list[dict]:
    """Run the grid (only the cells not yet in ``out_dir/results.jsonl``) and return all rows
    of this config's cells, in plan order.

    Parameters
    ----------
    config : a resolved config (:func:`~prefspace.experiments.config.load_config`)
    out_dir : output directory; ``results.jsonl`` and ``prepared/`` live here
    jobs : worker processes, capped at the number of cores; 1 runs in this process
    progress : called as ``progress(done, total, row)`` once at the start (row None) and after
        each finished cell
    cache_use : a list that receives, per dataset embedded now, its embedding cache's counts
        (a :class:`~prefspace.embed.CacheUse`; prepared datasets reused add nothing)

    The grid's progress also goes to the progress callback listening in this context
    (``prefspace._progress.report_progress``): the embedding while datasets are prepared, then
    the stage ``"cells"`` with the last finished cell as its detail.
    """
    out = Path(out_dir)
    inputs, caches = config_paths(config)
    # before anything is written
    check_output(out, inputs=inputs, caches=caches, kind="folder", what="out_dir")
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / RESULTS_FILE
    tasks = plan_cells(config)
    _drop_partial_last_line(results_path)
    done_rows = {r["key"]: r for r in read_results(results_path) if "key" in r}
    todo = [t for t in tasks if t.key not in done_rows]
    total, done = len(tasks), len(tasks) - len(todo)
    logger.info("%d cells, %d already done, %d to run", total, done, len(todo))
    if progress:
        progress(done, total, None)

    if todo:
        max_budget = max(config["budgets"])
        handles = {}
        for ds in config["datasets"]:
            if any(t.dataset_name == ds["name"] for t in todo):
                handles[ds["name"]] = prepare_dataset(
                    ds, out, max_budget=max_budget, cache_use=cache_use
                )
        todo = [replace(t, dataset=handles[t.dataset_name]) for t in todo]
        n_jobs = min(jobs or config.get("jobs") or default_jobs(), default_jobs(), len(todo))
        cells = track("cells", total, "cells", start=done)
        with _run_lock(out), open(results_path, "a", encoding="utf-8") as sink:
            for row in _execute(todo, n_jobs):
                sink.write(dumps(row) + "\n")
                sink.flush()
                os.fsync(sink.fileno())
                done_rows[row["key"]] = row
                done += 1
                cells.update(done, cell_summary(row) if cells.active else "")
                if progress:
                    progress(done, total, row)
    return [done_rows[t.key] for t in tasks]


def cell_summary(row: dict) -> str:
    """A short text naming a finished cell and its headline metric, e.g.
    ``"hh b=100 bt-mlp s=2: accuracy 0.712"``."""
    metric = next(
        (m for m in ("accuracy", "spearman") if isinstance(row.get(m), (int, float))), None
    )
    score = f": {metric} {row[metric]:.3f}" if metric else ""
    return f"{row['dataset']} b={row['budget']} {row['method']} s={row['seed']}{score}"


RUN_LOCK = ".running.lock"


@contextmanager
def _run_lock(out: Path):
    """One writer per output directory: a second concurrent run would interleave rows.

    An OS file lock (``filelock``) on ``out/.running.lock``: the operating system releases it
    when the process that holds it ends, killed or not, so a crashed run never leaves a stale
    lock behind. A second run, in another process or in this one, is refused at once.
    """
    lock = FileLock(out / RUN_LOCK, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise ConfigError(
            f"{out} is being written by another experiment run; wait for it or use another --out."
        ) from None
    try:
        yield
    finally:
        lock.release()


def _execute(todo: list[CellTask], n_jobs: int):
    """Yield finished rows: in this process when n_jobs == 1, else from spawned workers."""
    if n_jobs <= 1:
        for task in todo:
            yield _run_safely(task)
        return
    ctx = get_context("spawn")
    with ProcessPoolExecutor(max_workers=n_jobs, mp_context=ctx, initializer=_init_worker) as pool:
        pending = {pool.submit(_run_safely, t) for t in todo}
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    yield fut.result()
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise


def _run_safely(task: CellTask) -> dict:
    try:
        return run_cell(task)
    except ConfigError:
        raise
    except Exception as exc:  # name the cell; keep the original type's message
        raise RuntimeError(f"cell {task.key} failed: {type(exc).__name__}: {exc}") from exc


def _init_worker() -> None:
    """Workers share the cores: one thread each (read by torch when a head first imports it)."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
