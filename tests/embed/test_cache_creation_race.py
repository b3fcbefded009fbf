"""Creating an embedding cache is race-free and recovers from a creation that was killed (issue 13, item 3).

Real processes race to create the same new caches: each waits for a start signal (a file it
polls for), then creates every cache of a list in the same order and writes a shard into each.
Before the fix, a process that saw another one's temporary marker refused the folder as "not
empty and not a cache".
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from prefspace.embed import EmbeddingCache
from prefspace.exceptions import FormatError

N_PROCESSES = 6
N_CACHES = 20

_WORKER = r"""
import os, sys, time
from pathlib import Path
import numpy as np
from prefspace.embed.cache import EmbeddingCache

root, index, n_caches = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
(root / f"ready-{index}").touch()
deadline = time.monotonic() + 120
while not (root / "go").exists():  # poll the start signal
    if time.monotonic() > deadline:
        sys.exit("no start signal")
    time.sleep(0.001)
for k in range(n_caches):
    cache = EmbeddingCache(root / f"cache-{k}")
    cache.write_shard("fp", [f"text from process {index}"], np.full((1, 4), index, np.float32))
print("done")
"""


def _src_path() -> str:
    import prefspace

    return str(Path(prefspace.__file__).resolve().parents[1])


def test_processes_creating_the_same_new_caches_all_succeed(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    env = {**os.environ, "PYTHONPATH": _src_path() + os.pathsep + os.environ.get("PYTHONPATH", "")}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(tmp_path), str(i), str(N_CACHES)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(N_PROCESSES)
    ]
    try:
        deadline = time.monotonic() + 180
        while not all((tmp_path / f"ready-{i}").exists() for i in range(N_PROCESSES)):
            failed = [p for p in procs if p.poll() not in (None, 0)]
            assert not failed, failed[0].communicate()[1]
            assert time.monotonic() < deadline, "workers did not start"
            time.sleep(0.01)
        (tmp_path / "go").touch()
        results = [p.communicate(timeout=180) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    errors = [err for p, (_, err) in zip(procs, results) if p.returncode != 0]
    assert not errors, errors[0]
    for k in range(N_CACHES):
        cache = EmbeddingCache(tmp_path / f"cache-{k}", create=False)
        assert cache.count("fp") == N_PROCESSES  # every process's shard is there
        leftovers = [
            p.name
            for p in (tmp_path / f"cache-{k}").iterdir()
            if p.name.startswith(".prefspace-cache.json")
        ]
        assert leftovers == []


def test_a_creation_killed_before_its_rename_is_recovered(tmp_path):
    folder = tmp_path / "cache"
    folder.mkdir()
    # what a creator killed between writing and renaming its marker leaves (its pid is gone)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    import socket

    stale = folder / f".prefspace-cache.json.tmp-{socket.gethostname()}-{int(dead.stdout)}-1"
    stale.write_text('{"format": "prefspace-embed')
    cache = EmbeddingCache(folder)
    assert (folder / "prefspace-cache.json").is_file()
    assert not stale.exists()  # a dead creator's temporary marker is removed
    cache.write_shard("fp", ["a"], np.ones((1, 2), np.float32))
    assert EmbeddingCache(folder, create=False).count("fp") == 1


def test_a_live_creators_temporary_marker_does_not_block(tmp_path):
    folder = tmp_path / "cache"
    folder.mkdir()
    import socket

    writing = folder / f".prefspace-cache.json.tmp-{socket.gethostname()}-{os.getpid()}-7"
    writing.write_text("{")
    EmbeddingCache(folder)
    assert writing.exists()  # still being written by a live process: left alone
    assert EmbeddingCache(folder, create=False).count("fp") == 0


def test_a_foreign_folder_is_still_refused(tmp_path):
    (tmp_path / "mine.txt").write_text("not a cache")
    with pytest.raises(FormatError, match="not empty and is not a prefspace embedding cache"):
        EmbeddingCache(tmp_path)
