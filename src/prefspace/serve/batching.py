"""Micro-batching: many concurrent requests, one encoder call.

Each request becomes a *job* (a list of ``(prompt, response)`` items). A single worker task
takes the first waiting job, then keeps collecting jobs for at most ``max_wait_s`` or until
``max_batch`` items are gathered, runs the batch through ``score_fn`` in a worker thread (so
the event loop keeps accepting requests while the encoder runs), and hands every job its own
slice of the result. While one batch is being scored, new requests queue up and form the
next batch, so under load batches fill without waiting.

If a batch of several jobs fails, whatever the exception (bad input the request checks could
not see, or a library error such as a tokenizer refusing a text), the jobs are retried one by
one, so only the job at fault gets the error and every other request gets its rewards.

What it does not do: limits on request size (the app checks those before submitting).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..exceptions import ConfigError, PrefspaceError

logger = logging.getLogger(__name__)

__all__ = ["MicroBatcher", "BatcherStoppedError"]


class BatcherStoppedError(RuntimeError):
    """The batching worker is not running (not started yet, or shutting down)."""


@dataclass
class _Job:
    prompts: list
    responses: list
    future: asyncio.Future = field(repr=False)


class MicroBatcher:
    """Gather concurrent scoring jobs into batches for ``score_fn(prompts, responses) -> rows``.

    Parameters
    ----------
    score_fn : callable
        ``score_fn(prompts, responses)`` returns a sequence (e.g. an array) with one entry per
        item; it runs in a dedicated worker thread, one batch at a time.
    max_batch : int
        Most items in one ``score_fn`` call. A single job larger than this runs alone.
    max_wait_s : float
        How long the first job of a batch waits for company.

    Attributes
    ----------
    stats : dict with ``jobs`` (submitted), ``batches`` (score_fn calls), ``items``.

    Example
    -------
    >>> async def main():                                           # doctest: +SKIP
    ...     batcher = MicroBatcher(scorer.score, max_batch=256, max_wait_s=0.005)
    ...     await batcher.start()
    ...     rewards = await batcher.submit(["Hi"], ["Hello!"])
    ...     await batcher.stop()
    """

    def __init__(
        self,
        score_fn: Callable[[list, list], Sequence],
        max_batch: int = 256,
        max_wait_s: float = 0.005,
    ):
        if int(max_batch) < 1:
            raise ConfigError(f"max_batch must be >= 1; got {max_batch}.")
        if not (0 <= float(max_wait_s) <= 10):
            raise ConfigError(f"max_wait_s must be between 0 and 10 seconds; got {max_wait_s}.")
        self.score_fn = score_fn
        self.max_batch = int(max_batch)
        self.max_wait_s = float(max_wait_s)
        self.stats = {"jobs": 0, "batches": 0, "items": 0}
        self._queue: asyncio.Queue[_Job] | None = None
        self._task: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._carry: _Job | None = None  # a job that did not fit in the previous batch

    async def start(self) -> None:
        """Start the worker task on the running event loop."""
        self._queue = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefspace-scorer")
        self._task = asyncio.get_running_loop().create_task(self._run(), name="prefspace-batcher")

    async def stop(self) -> None:
        """Cancel the worker, fail jobs still waiting, and release the thread."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        pending = [self._carry] if self._carry else []
        while self._queue is not None and not self._queue.empty():
            pending.append(self._queue.get_nowait())
        for job in pending:
            if not job.future.done():
                job.future.set_exception(BatcherStoppedError("the server is shutting down"))
        self._carry = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    @property
    def running(self) -> bool:
        """True while the worker task is alive and accepting jobs."""
        return self._task is not None and not self._task.done()

    async def submit(self, prompts: Sequence[Any], responses: Sequence[Any]) -> list:
        """Queue one job and wait for its results (a list, one entry per item)."""
        if self._queue is None or self._task is None:
            raise BatcherStoppedError("MicroBatcher.start() was not called")
        if self._task.done():
            raise BatcherStoppedError("the batching worker has stopped")
        job = _Job(list(prompts), list(responses), asyncio.get_running_loop().create_future())
        self.stats["jobs"] += 1
        await self._queue.put(job)
        return await job.future

    # ------------------------------------------------------------------ worker
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect(loop)
            await self._score(loop, batch)

    async def _collect(self, loop: asyncio.AbstractEventLoop) -> list[_Job]:
        assert self._queue is not None
        first = self._carry if self._carry is not None else await self._queue.get()
        self._carry = None
        batch, n = [first], len(first.prompts)
        deadline = loop.time() + self.max_wait_s
        while n < self.max_batch:
            try:
                job = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            if n + len(job.prompts) > self.max_batch:
                self._carry = job  # starts the next batch
                break
            batch.append(job)
            n += len(job.prompts)
        return batch

    async def _score(self, loop: asyncio.AbstractEventLoop, batch: list[_Job]) -> None:
        live = [job for job in batch if not job.future.done()]  # a cancelled request needs no work
        if not live:
            return
        prompts = [p for job in live for p in job.prompts]
        responses = [r for job in live for r in job.responses]
        self.stats["batches"] += 1
        self.stats["items"] += len(prompts)
        try:
            out = await loop.run_in_executor(self._executor, self.score_fn, prompts, responses)
        except Exception as exc:  # noqa: BLE001 - every waiting request must hear about it
            if len(live) > 1:
                # one job's input broke the batch: score the jobs alone so only the one at fault fails
                logger.info(
                    "a batch of %d jobs failed (%s: %s); scoring them one by one",
                    len(live),
                    type(exc).__name__,
                    exc,
                )
                for job in live:
                    await self._score(loop, [job])
                return
            if not isinstance(exc, PrefspaceError):
                logger.exception("scoring a job of %d items failed", len(prompts))
            _fail(live[0], exc)
            return
        start = 0
        for job in live:
            stop = start + len(job.prompts)
            if not job.future.done():
                job.future.set_result(list(out[start:stop]))
            start = stop


def _fail(job: _Job, exc: BaseException) -> None:
    if not job.future.done():
        job.future.set_exception(exc)
