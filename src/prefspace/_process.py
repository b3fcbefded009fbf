"""The one "is this process alive" check, for lock files and temporary files tagged with a pid.

A pid is alive when the operating system knows it: ``os.kill(pid, 0)`` succeeds, or fails only
because the process belongs to another user. The current process is alive. The embedding
cache uses it to tell a killed run's temporary files from a running one's (the experiment
runner's lock is an OS file lock instead, released by the system when its process ends).
"""

from __future__ import annotations

import os

__all__ = ["pid_alive"]


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists (the current process included).

    Example
    -------
    >>> import os
    >>> pid_alive(os.getpid())
    True
    """
    pid = int(pid)
    if pid <= 0:
        return False  # 0 and negative numbers name process groups, not a process
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    except OSError:
        return False
    return True
