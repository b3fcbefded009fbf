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


@contextlib.contextmanager
def limit_threads(n_jobs) -> Iterator[int | None]:
    """Run the block with ``n_jobs`` threads in torch (if imported) and in BLAS/OpenMP.

    Yields the resolved count (None when nothing was changed). torch's count is set only when
    torch is already imported: import it before entering the block.
    """
    threads = resolve_n_jobs(n_jobs)
    if threads is None:
        yield None
        return
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    if getattr(getattr(torch, "__spec__", None), "_initializing", False):
        torch = None  # another thread is importing it (folds run side by side): not ready yet
    before = torch.get_num_threads() if torch is not None else None
    if torch is not None and before != threads:
        torch.set_num_threads(threads)
    try:
        with threadpool_limits(threads):
            yield threads
    finally:
        if torch is not None and before != threads:
            torch.set_num_threads(before)
