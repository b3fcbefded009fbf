"""A pause point for the kill-and-resume tests (inactive unless PREFSPACE_TEST_PAUSE is set).

``PREFSPACE_TEST_PAUSE="before_rename:3"`` makes the process stop for good when it reaches that
point for the third time (here: the third shard is fully written under its temporary name but not
yet renamed), after creating the file named by ``PREFSPACE_TEST_PAUSE_MARKER``. The test then
kills it with SIGKILL at a known place. Points: ``before_rename`` (in ``EmbeddingCache.write_shard``)
and ``after_shard`` (in the embedding loop, after a shard is committed).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

_seen: Counter = Counter()


def pause_point(point: str) -> None:
    spec = os.environ.get("PREFSPACE_TEST_PAUSE")
    if not spec:
        return
    name, _, count = spec.partition(":")
    if name != point:
        return
    _seen[point] += 1
    if _seen[point] != int(count or 1):
        return
    marker = os.environ.get("PREFSPACE_TEST_PAUSE_MARKER")
    if marker:
        Path(marker).write_text(point)
    while True:  # wait to be killed
        time.sleep(0.5)
