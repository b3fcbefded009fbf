"""A run killed with SIGKILL mid-write resumes computing only what is missing, and the final
cache equals an uninterrupted run's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from prefspace.embed import EmbeddingCache, embed_texts

SHARD = 16

# What the killed process runs: the real embedding loop on the real default encoder. The pause is
# this script's own: it wraps os.replace so that the rename of shard number PAUSE_AT (written in
# full under its temporary name) reports "paused" on stdout and then blocks for good, until the
# test kills the process. The library knows nothing of it.
SCRIPT = """
import json, os, sys, threading
from prefspace.embed import embed_texts, get_encoder

texts_file, cache_dir, shard_size, pause_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
real_replace, renames = os.replace, []

def replace(src, dst, *args, **kwargs):
    if os.path.basename(str(dst)).startswith("shard-"):
        renames.append(dst)
        if len(renames) == pause_at:
            print("paused", flush=True)
            threading.Event().wait()  # blocks until the process is killed
    return real_replace(src, dst, *args, **kwargs)

os.replace = replace
embed_texts(json.load(open(texts_file)), get_encoder(), cache=cache_dir, shard_size=shard_size)
print("finished", flush=True)
"""


def _snapshot(cache_dir: Path) -> dict:
    """{fingerprint: {text: vector}} over every shard, plus the sorted shard names."""
    cache = EmbeddingCache(cache_dir, create=False)
    out = {}
    for fp in cache.fingerprints():
        table = {}
        for texts, vectors in cache.entries(fp):
            for t, v in zip(texts, vectors):
                assert t not in table, f"{t!r} stored twice"
                table[t] = v
        out[fp] = table
    names = sorted(p.name for p in cache_dir.glob("*/shard-*.safetensors"))
    return {"tables": out, "shards": names}


@pytest.mark.timeout(300)
def test_sigkill_during_a_shard_write_then_resume_equals_a_clean_run(minilm, hh_path, tmp_path):
    from prefspace.data import load_preferences

    ds = load_preferences(hh_path, limit=400)
    distinct = sorted((set(ds.chosen) | set(ds.rejected)) - {""}, key=lambda t: (len(t), t))
    texts = distinct[:200]  # a few hundred real responses (the shortest, to keep the test quick)
    assert len(texts) == 200
    (tmp_path / "texts.json").write_text(json.dumps(texts))
    killed_dir, clean_dir = tmp_path / "killed", tmp_path / "clean"

    # 1. a subprocess stops for good while its 4th shard exists only under its temporary name
    with open(tmp_path / "stderr.txt", "w") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                SCRIPT,
                str(tmp_path / "texts.json"),
                str(killed_dir),
                str(SHARD),
                "4",
            ],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        try:
            said = []
            for line in iter(
                proc.stdout.readline, ""
            ):  # blocks until a line comes or the child exits
                said.append(line.strip())
                if said[-1] == "paused":
                    break
            if said[-1:] != ["paused"]:
                proc.kill()
                pytest.fail(
                    f"the embedding subprocess did not pause (said {said}): "
                    f"{(tmp_path / 'stderr.txt').read_text()[-2000:]}"
                )
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait()
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL

    # what a kill -9 leaves: three whole shards and one temporary file that readers ignore
    partial = EmbeddingCache(killed_dir, create=False)
    fp = minilm.role_fingerprint("text")
    assert partial.count(fp) == 3 * SHARD
    assert len(partial.temp_files()) == 1
    assert len(partial.missing(fp, texts)) == len(texts) - 3 * SHARD

    # 2. resume: only the missing texts are computed
    computed = []
    E_resumed = embed_texts(
        texts, minilm, cache=killed_dir, shard_size=SHARD, progress=computed.append
    )
    assert computed[-1].cached == 3 * SHARD and computed[-1].done == len(texts) - 3 * SHARD

    # 3. an uninterrupted run into a fresh cache
    E_clean = embed_texts(texts, minilm, cache=clean_dir, shard_size=SHARD)

    killed, clean = _snapshot(killed_dir), _snapshot(clean_dir)
    assert killed["shards"] == clean["shards"]  # the same texts went into the same shards
    assert killed["tables"].keys() == clean["tables"].keys() == {fp}
    assert killed["tables"][fp].keys() == clean["tables"][fp].keys() == set(texts)
    for t in texts:
        np.testing.assert_allclose(killed["tables"][fp][t], clean["tables"][fp][t], atol=1e-6)
    np.testing.assert_allclose(E_resumed, E_clean, atol=1e-6)
    assert EmbeddingCache(killed_dir).remove_temp_files() == 1  # the dead writer's leftover
