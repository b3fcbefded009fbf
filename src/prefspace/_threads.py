"""One thread knob: ``n_jobs``, honoured by torch and BLAS/OpenMP (threadpoolctl) together.

Every estimator and encoder that computes (reward heads, synthesizers, selectors, encoders)
takes ``n_jobs`` with the same meaning, and runs its work inside :func:`limit_threads`, the only
place in prefspace that sets a thread count:

- ``None``: leave the thread counts as they are (torch's and BLAS's own defaults);
- ``k >= 1``: use ``k`` threads inside the block, then restore the previous counts;
- ``-1``: all cores of this machine (``os.cpu_count()``).

The environment variable ``PREFSPACE_NUM_THREADS`` sets the default for ``n_jobs=None``, so
one setting reaches every library for a whole run.

Small matrices (reward heads, the VAE) are fastest on one thread on a shared machine: extra
threads spin-wait for a busy core. Those estimators therefore default to ``n_jobs=1``.

Example
-------
>>> with limit_threads(1):
...     pass
>>> resolve_n_jobs(-1) >= 1
True
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator

from .exceptions import ConfigError

__all__ = ["ENV_THREADS", "resolve_n_jobs", "limit_threads", "check_n_jobs"]

ENV_THREADS = "PREFSPACE_NUM_THREADS"


def check_n_jobs(n_jobs, name: str = "n_jobs") -> int | None:
    """Validate ``n_jobs``: None, -1, or a positive int; return it as an int (or None)."""
    if n_jobs is None:
        return None
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or (n_jobs < 1 and n_jobs != -1):
        raise ConfigError(
            f"{name} must be None, -1 (all cores) or a positive integer; got {n_jobs!r}."
        )
    return int(n_jobs)


def resolve_n_jobs(n_jobs) -> int | None:
    """The thread count ``n_jobs`` asks for, or None to leave the libraries' defaults.

    ``None`` falls back to ``PREFSPACE_NUM_THREADS`` when it is set.
    """
    n_jobs = check_n_jobs(n_jobs)
    if n_jobs is None:
        env = os.environ.get(ENV_THREADS, "").strip()
        if not env:
            return None
        try:
            n_jobs = check_n_jobs(int(env), name=ENV_THREADS)
        except ValueError:
            raise ConfigError(
                f"{ENV_THREADS} must be a positive integer or -1; got {env!r}."
            ) from None
    if n_jobs == -1:
        return os.cpu_count() or 1
    return n_jobs


class _SharedBlasLimit:
    """BLAS's thread count, shared by the blocks that hold it at once on several threads (folds
    side by side, a diagnostic beside a fit).

    OpenBLAS keeps one count for the whole process, and threadpoolctl restores the count it
    found on entry: two overlapping blocks would restore in the wrong order, lifting the other's
    limit early and leaving theirs behind for good. Blocks asking for the count in force share
    it instead; the last one out restores the count the first one found. (OpenMP's count and
    torch's are per thread: each block sets and restores its own.)"""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.threads: int | None = None
        self.holders = 0
        self.restore = contextlib.ExitStack()

    def acquire(self, threads: int) -> bool:
        """Hold the shared limit of ``threads`` (setting it when none is in force); False when
        another count is in force (the caller then sets and restores its own)."""
        with self.lock:
            if self.holders == 0:
                self.restore = contextlib.ExitStack()
                self.restore.enter_context(_limit_api("blas", threads))
                self.threads = threads
            elif self.threads != threads:
                return False
            self.holders += 1
            return True

    def release(self) -> None:
        with self.lock:
            self.holders -= 1
            if self.holders == 0:
                self.threads = None
                self.restore.close()


_SHARED_BLAS = _SharedBlasLimit()


def _limit_api(user_api: str, threads: int):
    """threadpoolctl's limit on the libraries of one API only, restoring only those on exit
    (``threadpool_limits(user_api=...)`` restores every library's count it found on entry)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api=user_api).limit(limits=threads)


def _set_torch(threads: int, stack: contextlib.ExitStack) -> None:
    """Set torch's count if torch is imported and ready; ``stack`` restores it."""
    torch = sys.modules.get("torch")
    if torch is None or getattr(getattr(torch, "__spec__", None), "_initializing", False):
        return  # not imported, or another thread is still importing it: not ready yet
    before = torch.get_num_threads()
    if before != threads:
        torch.set_num_threads(threads)
        stack.callback(torch.set_num_threads, before)


@contextlib.contextmanager
def limit_threads(n_jobs) -> Iterator[int | None]:
    """Run the block with ``n_jobs`` threads in torch (if imported) and in BLAS/OpenMP.

    Yields the resolved count (None when nothing was changed). torch's count is set only when
    torch is already imported: import it before entering the block. Blocks on other threads
    that ask for the same count share BLAS's process-wide limit (:class:`_SharedBlasLimit`); a
    block asking for another count sets and restores its own, as a nested block does.
    """
    threads = resolve_n_jobs(n_jobs)
    if threads is None:
        yield None
        return
    with contextlib.ExitStack() as own:
        _set_torch(threads, own)
        own.enter_context(_limit_api("openmp", threads))
        if _SHARED_BLAS.acquire(threads):
            own.callback(_SHARED_BLAS.release)
        else:
            own.enter_context(_limit_api("blas", threads))
        yield threads
