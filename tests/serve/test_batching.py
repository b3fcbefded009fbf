"""The micro-batcher: concurrent jobs share calls, results go back to the right caller."""

from __future__ import annotations

import asyncio
import threading

import pytest

from prefspace.exceptions import ConfigError, DataError
from prefspace.serve.batching import MicroBatcher


class _LengthScorer:
    """Scores a response by its length; records the size of every call and its thread."""

    def __init__(self, gate: threading.Event | None = None):
        self.calls: list[int] = []
        self.threads: set[str] = set()
        self.gate = gate  # when given, the first call waits for it: later jobs queue up meanwhile

    def __call__(self, prompts, responses):
        self.calls.append(len(responses))
        self.threads.add(threading.current_thread().name)
        if any(r == "BAD" for r in responses):
            raise DataError("response 'BAD' is not allowed")
        if self.gate is not None and len(self.calls) == 1:
            assert self.gate.wait(timeout=20), "the test never opened the gate"
        return [float(len(p) * 100 + len(r)) for p, r in zip(prompts, responses)]


def _run(coro):
    return asyncio.run(asyncio.wait_for(coro, timeout=30))


def test_concurrent_jobs_share_calls_and_get_their_own_results():
    gate = threading.Event()
    scorer = _LengthScorer(gate)

    async def main():
        batcher = MicroBatcher(scorer, max_batch=64, max_wait_s=0.05)
        await batcher.start()
        jobs = [
            asyncio.ensure_future(
                batcher.submit(["p" * k] * 3, ["x" * k, "y" * (k + 1), "z" * (k + 2)])
            )
            for k in range(1, 17)
        ]
        while batcher.stats["jobs"] < 16:  # every job submitted while the first call is held
            await asyncio.sleep(0)
        gate.set()
        results = await asyncio.gather(*jobs)
        await batcher.stop()
        return results, batcher.stats

    results, stats = _run(main())
    for k, res in enumerate(results, start=1):
        assert res == [k * 100 + k, k * 100 + k + 1, k * 100 + k + 2]
    assert sum(scorer.calls) == 48
    assert len(scorer.calls) <= 2  # the first call, then everything that queued behind it
    assert max(scorer.calls) <= 64
    assert stats["jobs"] == 16 and stats["batches"] == len(scorer.calls)
    assert scorer.threads == {n for n in scorer.threads if n.startswith("prefspace-scorer")}


def test_max_batch_caps_a_call_and_carries_the_rest():
    scorer = _LengthScorer()

    async def main():
        batcher = MicroBatcher(scorer, max_batch=5, max_wait_s=0.05)
        await batcher.start()
        res = await asyncio.gather(*[batcher.submit(["p"] * 2, ["a", "bb"]) for _ in range(6)])
        await batcher.stop()
        return res

    res = _run(main())
    assert res == [[101.0, 102.0]] * 6
    assert max(scorer.calls) <= 5 and sum(scorer.calls) == 12


def test_a_bad_job_fails_alone():
    scorer = _LengthScorer()

    async def main():
        batcher = MicroBatcher(scorer, max_batch=64, max_wait_s=0.05)
        await batcher.start()
        out = await asyncio.gather(
            batcher.submit(["p"], ["ok"]),
            batcher.submit(["p"], ["BAD"]),
            batcher.submit(["p"], ["fine"]),
            return_exceptions=True,
        )
        await batcher.stop()
        return out

    good, bad, fine = _run(main())
    assert good == [102.0] and fine == [104.0]
    assert isinstance(bad, DataError)


def test_submit_before_start_and_bad_settings_are_refused():
    with pytest.raises(ConfigError, match="max_batch must be >= 1"):
        MicroBatcher(_LengthScorer(), max_batch=0)

    async def main():
        await MicroBatcher(_LengthScorer()).submit(["p"], ["r"])

    with pytest.raises(RuntimeError, match="start\\(\\) was not called"):
        _run(main())
