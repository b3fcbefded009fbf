"""kill -9 at any point loses no committed label: every judgment whose write returned (or whose
HTTP request got its 201) is in the database when it is reopened."""

from __future__ import annotations

import os
import queue
import re
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import numpy as np

from prefspace.studio import LabelStore

SRC = str(Path(__file__).resolve().parents[2] / "src")

WRITER = r"""
import sys
from prefspace.studio import LabelStore
store = LabelStore(sys.argv[1])
pairs = [{"pair_id": f"p{i}", "id_a": f"a{i}", "id_b": f"b{i}", "prompt": "q", "response_a": "x",
          "response_b": "y", "strategy": "random"} for i in range(2000)]
store.add_batch(pairs, strategy="random", model_version=None)
print("ready", flush=True)
for i in range(2000):
    store.add_judgment(f"p{i}", "writer", "ab"[i % 2], reason="r" * (i % 50))
    print(f"p{i}", flush=True)  # only after the commit returned
"""


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _lines(stream, q):
    for line in iter(stream.readline, ""):
        q.put(line.rstrip("\n"))
    q.put(None)


def _check_db(path: Path) -> set:
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    with LabelStore(path) as store:  # reopens (recovers the WAL) and keeps working
        return {j["pair_id"] for j in store.judgments()}


def test_kill_9_of_a_writer_loses_no_committed_judgment(tmp_path):
    rng = np.random.default_rng(0)
    for attempt in range(2):  # kill at two different moments
        db = tmp_path / f"w{attempt}.sqlite"
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True, env=_env()
        )
        q: queue.Queue = queue.Queue()
        threading.Thread(target=_lines, args=(proc.stdout, q), daemon=True).start()
        assert q.get(timeout=120) == "ready"
        kill_after = int(rng.integers(5, 200))
        acknowledged = []
        while len(acknowledged) < kill_after:
            line = q.get(timeout=120)
            assert line is not None, "the writer stopped early"
            acknowledged.append(line)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        while (
            line := q.get(timeout=60)
        ) is not None:  # acknowledged before the kill, still in the pipe
            acknowledged.append(line)
        stored = _check_db(db)
        assert set(acknowledged) <= stored
        assert len(stored) <= len(acknowledged) + 1  # at most the one in flight


def test_kill_9_of_the_server_loses_no_label_that_got_201(small_pool, tmp_path):
    db = tmp_path / "served.sqlite"
    cmd = [
        sys.executable,
        "-m",
        "prefspace",
        "label",
        str(small_pool["pool"]),
        "--db",
        str(db),
        "--id-key",
        "id",
        "--features",
        str(small_pool["features"]),
        "--prompt-features",
        str(small_pool["prompt_features"]),
        "--batch",
        "120",
        "--port",
        "0",
    ]
    proc = subprocess.Popen(
        cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=_env()
    )
    q: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stderr, q), daemon=True).start()
    url = None
    while url is None:
        line = q.get(timeout=180)
        assert line is not None, "the studio exited before serving"
        m = re.search(r"open (http://127\.0\.0\.1:\d+)/", line)
        url = m.group(1) if m else None
    committed: list[str] = []
    lock = threading.Lock()
    enough = threading.Event()

    def annotate(name: str) -> None:
        with httpx.Client(base_url=url, timeout=30) as c:
            try:
                c.headers["X-CSRF-Token"] = c.get("/api/session").json()["csrf"]
                for _ in range(200):
                    r = c.post("/api/next", json={"annotator": name})
                    if r.json()["status"] != "ok":
                        return
                    pid = r.json()["pair"]["pair_id"]
                    r = c.post(
                        "/api/judgments", json={"annotator": name, "pair_id": pid, "label": "a"}
                    )
                    if r.status_code == 201:
                        with lock:
                            committed.append(pid)
                            if len(committed) >= 40:
                                enough.set()
            except httpx.HTTPError:
                return  # the server was killed under this request

    threads = [threading.Thread(target=annotate, args=(f"ann{i}",), daemon=True) for i in range(3)]
    for t in threads:
        t.start()
    assert enough.wait(timeout=180)
    proc.send_signal(signal.SIGKILL)  # while the three annotators are still posting
    proc.wait(timeout=60)
    for t in threads:
        t.join(timeout=60)
    stored = _check_db(db)
    assert len(committed) >= 40 and set(committed) <= stored
