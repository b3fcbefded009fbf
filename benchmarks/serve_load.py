"""Load test of the reward server on loopback: rewards/s and latency at 1, 8 and 32 clients.

Run from the repository root::

    python benchmarks/serve_load.py --data ../shared/data --requests 200 --per-request 8 --concurrency 1 8 32
    python benchmarks/serve_load.py --data ../shared/data --requests 40 --encoder-backends sentence-transformers onnx-int8
    python benchmarks/serve_load.py --data ../shared/data --get-reward 8 --concurrency 8

With ``--get-reward N``: cold OpenRLHF ``/get_reward`` requests against the encoder itself, in
one run. Each request holds 32 queries (4 prompts x 8 of their responses, as a GRPO group
sends; query = prompt + response, with ``prompts``); ``N`` requests per set, from the first
``--concurrency`` level's clients. Two disjoint sets of texts: the encoder alone embeds the
first (``embed_responses`` on all its (prompt, response) items, one call, in this process, with
its weights loaded beforehand), then the server answers the second, cold. Rows: texts per second
of each and their ratio (table ``serve_get_reward``).

With ``--encoder-backends``, the same head (trained once per backend on the same precomputed
MiniLM rows, saved with that backend's encoder) is served by each backend in turn on the same
requests, so cold rewards/s compare the encoders' speed in one run. The head was fitted on torch
vectors; the int8 vectors differ from them by a mean cosine of 0.9997, which this load test does
not score.

What it does:

1. Trains a small ``BradleyTerryMLP`` on real all-MiniLM-L6-v2 embeddings of AlpacaEval pairs
   (the precomputed vectors in ``alpaca_bon``: best vs worst gold response of each prompt) and
   saves it with the live MiniLM encoder (or serves ``--model DIR`` if given).
2. Starts ``prefspace serve`` in a subprocess on a free 127.0.0.1 port.
3. For each concurrency level, sends ``--requests`` POST /score requests, each one AlpacaEval
   prompt with ``--per-request`` of its real responses, from that many concurrent clients:
   first *cold* (texts never seen, so every response is embedded by MiniLM), then the same
   requests again *warm* (every row in the server's memory cache: HTTP, batching and the
   reward head only). Each level uses different prompts, so cold really is cold.
4. Prints rewards/s, p50/p99 latency and the error count (which must be zero) per run, and
   the server's batching counters.

Everything stays on loopback; every loop is bounded by ``--requests``. The issue suggests
5,000 requests per level; on the shared 2-core CPU machine the cold runs embed every text, so
the default is 200 requests per level (805 prompts allow at most 268 per level at 3 levels).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import new_run_id, record_rows  # noqa: E402


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_model(
    data: Path, out: Path, n_prompts: int = 805, backend: str = "sentence-transformers"
) -> Path:
    """A BradleyTerryMLP on precomputed MiniLM rows of (best, worst) gold responses per prompt."""
    from prefspace.data import load_scored_responses
    from prefspace.embed import get_encoder
    from prefspace.models import BradleyTerryMLP, save_model

    alpaca = data / "alpaca_bon"
    scored = load_scored_responses(
        alpaca / "responses.jsonl.gz", prompts=alpaca / "prompts.jsonl.gz"
    )
    P = np.load(alpaca / "prompt_emb_minilm.npy", mmap_mode="r")
    R = np.load(alpaca / "response_emb_minilm.npy", mmap_mode="r")
    rows = []
    for k, idx in enumerate(scored.groups()[:n_prompts]):
        order = idx[np.argsort(scored.scores[idx])]
        p = np.asarray(P[k], dtype=np.float32)
        rows.append([np.concatenate([p, R[order[-1]]]), np.concatenate([p, R[order[0]]])])
    X = np.asarray(rows, dtype=np.float32)
    model = BradleyTerryMLP(hidden_sizes=(256,), random_state=0).fit(X)
    return save_model(model, out, get_encoder("all-MiniLM-L6-v2", backend=backend))


def build_requests(data: Path, n_requests: int, per_request: int, levels: int) -> list[list[dict]]:
    """Per level, ``n_requests`` bodies: one prompt and ``per_request`` of its responses (disjoint prompts)."""
    from prefspace.data import load_scored_responses

    alpaca = data / "alpaca_bon"
    scored = load_scored_responses(
        alpaca / "responses.jsonl.gz", prompts=alpaca / "prompts.jsonl.gz"
    )
    groups = scored.groups()
    if n_requests * levels > len(groups):
        raise SystemExit(
            f"--requests {n_requests} x {levels} levels needs more than the {len(groups)} prompts"
        )
    rng = np.random.default_rng(0)
    out = []
    for level in range(levels):
        bodies = []
        for k in range(level * n_requests, (level + 1) * n_requests):
            pick = rng.choice(groups[k], size=per_request, replace=False)
            bodies.append(
                {"prompt": scored.prompts[k], "response": [scored.responses[i] for i in pick]}
            )
        out.append(bodies)
    return out


async def _load(url: str, bodies: list[dict], concurrency: int) -> dict:
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    n_rewards = 0
    queue: asyncio.Queue = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal n_rewards
        while True:
            try:
                body = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            t0 = time.perf_counter()
            try:
                r = await http.post("/score", json=body)
                if r.status_code != 200:
                    errors.append(f"{r.status_code}: {r.text[:200]}")
                else:
                    n_rewards += len(r.json()["rewards"])
            except httpx.HTTPError as exc:
                errors.append(repr(exc))
            latencies.append(time.perf_counter() - t0)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as http:
        t0 = time.perf_counter()
        await asyncio.gather(*[client(http) for _ in range(concurrency)])
        wall = time.perf_counter() - t0
    lat = np.asarray(latencies) * 1000
    return {
        "requests": len(bodies),
        "rewards": n_rewards,
        "wall_s": wall,
        "rewards_per_s": n_rewards / wall,
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }


def build_get_reward_sets(data: Path, n_requests: int, skip_prompts: int) -> list[list[dict]]:
    """Two sets of ``n_requests`` /get_reward bodies of 32 queries (4 prompts x 8 responses)."""
    from prefspace.data import load_scored_responses

    alpaca = data / "alpaca_bon"
    scored = load_scored_responses(
        alpaca / "responses.jsonl.gz", prompts=alpaca / "prompts.jsonl.gz"
    )
    groups = scored.groups()
    rng = np.random.default_rng(1)
    k = skip_prompts
    sets = []
    for _ in range(2):
        bodies = []
        for _ in range(n_requests):
            queries, prompts = [], []
            for _ in range(4):
                if k >= len(groups):
                    raise SystemExit("not enough alpaca_bon prompts for --get-reward; lower it")
                for i in rng.choice(groups[k], size=8, replace=False):
                    prompts.append(scored.prompts[k])
                    queries.append(scored.prompts[k] + "\n" + scored.responses[i])
                k += 1
            bodies.append({"query": queries, "prompts": prompts})
        sets.append(bodies)
    return sets


def encoder_rate(model: Path, bodies: list[dict]) -> dict:
    """The encoder alone on the (prompt, response) items of ``bodies``: texts per second."""
    from prefspace.embed import embed_responses
    from prefspace.models import load_model_encoder

    encoder = load_model_encoder(model)
    embed_responses(["warm-up"], ["warm-up"], encoder)  # load the weights before timing
    prompts = [p for b in bodies for p in b["prompts"]]
    responses = [q[len(p) + 1 :] for b in bodies for p, q in zip(b["prompts"], b["query"])]
    t0, c0 = time.perf_counter(), time.process_time()
    embed_responses(prompts, responses, encoder)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "items": len(responses),
        "wall_s": wall,
        "cpu_s": cpu,
        "items_per_s": len(responses) / wall,
    }


async def _get_reward_load(url: str, bodies: list[dict], concurrency: int) -> dict:
    import httpx

    errors, n = [], 0
    queue: asyncio.Queue = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)

    async def client(http) -> None:
        nonlocal n
        while True:
            try:
                body = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            r = await http.post("/get_reward", json=body)
            if r.status_code != 200:
                errors.append(f"{r.status_code}: {r.text[:200]}")
            else:
                n += len(r.json()["rewards"])

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=1200, limits=limits) as http:
        t0 = time.perf_counter()
        await asyncio.gather(*[client(http) for _ in range(concurrency)])
        wall = time.perf_counter() - t0
    return {
        "items": n,
        "wall_s": wall,
        "items_per_s": n / wall,
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }


def _start_server(model: Path, args, tmp: Path, name: str):
    import httpx

    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "prefspace",
        "serve",
        str(model),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--max-batch",
        str(args.max_batch),
        "--max-wait-ms",
        str(args.max_wait_ms),
        "--log-level",
        "warning",
    ]
    log = open(tmp / f"server-{name}.log", "w+")
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while True:
        if server.poll() is not None:
            log.seek(0)
            raise SystemExit(f"the server exited: {log.read()}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("the server did not start within 300 s")
        time.sleep(0.5)
    httpx.post(url + "/score", json={"prompt": "warm-up", "response": ["warm-up"]}, timeout=600)
    return server, url, log


def get_reward_vs_encoder(model: Path, args, tmp: Path, backend: str) -> list[dict]:
    """Cold /get_reward (32 queries a request, ``--concurrency[0]`` clients) against the encoder."""
    import httpx

    first, second = build_get_reward_sets(args.data, args.get_reward, skip_prompts=0)
    load0 = os.getloadavg()[0]
    enc = encoder_rate(model, first)
    print(
        f"encoder alone: {enc['items']} items in {enc['wall_s']:.1f} s ({enc['items_per_s']:.2f}/s, "
        f"{enc['cpu_s']:.1f} CPU s; load {load0:.1f})",
        flush=True,
    )
    server, url, log = _start_server(model, args, tmp, f"get-reward-{backend}")
    try:
        load1 = os.getloadavg()[0]
        r = asyncio.run(_get_reward_load(url, second, args.concurrency[0]))
        stats = httpx.get(url + "/info").json()["stats"]
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
    print(
        f"/get_reward cold, {args.concurrency[0]} clients: {r['items']} items in {r['wall_s']:.1f} s "
        f"({r['items_per_s']:.2f}/s; load {load1:.1f}); encoder / server time per item "
        f"{enc['items_per_s'] / r['items_per_s']:.2f}x; {stats['batches']} batches, "
        f"{stats['items'] / max(stats['batches'], 1):.1f} items per batch; errors {r['errors']}",
        flush=True,
    )
    if r["first_error"]:
        print(f"  first error: {r['first_error']}")
    return [
        {
            "backend": backend,
            "clients": args.concurrency[0],
            "per_request": 32,
            "requests": len(second),
            "encoder_items_per_s": enc["items_per_s"],
            "encoder_cpu_s": enc["cpu_s"],
            "server_items_per_s": r["items_per_s"],
            "slowdown": enc["items_per_s"] / r["items_per_s"],
            "batches": stats["batches"],
            "items_per_batch": stats["items"] / max(stats["batches"], 1),
            "errors": r["errors"],
            "load_encoder": load0,
            "load_server": load1,
        }
    ]


def serve_levels(model: Path, levels, args, tmp: Path, backend: str) -> tuple[list[dict], int]:
    """Start ``prefspace serve MODEL``, run every level cold then warm; rows and the error count."""
    import httpx

    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "prefspace",
        "serve",
        str(model),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--max-batch",
        str(args.max_batch),
        "--max-wait-ms",
        str(args.max_wait_ms),
        "--log-level",
        "warning",
    ]
    log = open(tmp / f"server-{backend}.log", "w+")
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, text=True)
    url = f"http://127.0.0.1:{port}"
    rows, total_errors = [], 0
    try:
        deadline = time.monotonic() + 300
        while True:
            if server.poll() is not None:
                log.seek(0)
                raise SystemExit(f"the server exited: {log.read()}")
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the server did not start within 300 s")
            time.sleep(0.5)
        # one small request loads the encoder's weights before timing
        httpx.post(url + "/score", json={"prompt": "warm-up", "response": ["warm-up"]}, timeout=600)
        info = httpx.get(url + "/info").json()
        print(
            f"model {info['model']['class']} {info['feature_dim']}-d rows, encoder all-MiniLM-L6-v2 on {backend} "
            f"({info['encoder']['fingerprint'][:12]}), max_batch {args.max_batch}, max_wait {args.max_wait_ms} ms, "
            f"{os.cpu_count()} CPUs"
        )
        print(
            f"{'clients':>7} {'cache':>5} {'requests':>8} {'rewards':>7} {'wall s':>7} {'rewards/s':>9} "
            f"{'p50 ms':>8} {'p99 ms':>8} {'errors':>6}"
        )
        for conc, bodies in zip(args.concurrency, levels):
            for label in ("cold", "warm"):
                r = asyncio.run(_load(url, bodies, conc))
                total_errors += r["errors"]
                print(
                    f"{conc:>7} {label:>5} {r['requests']:>8} {r['rewards']:>7} {r['wall_s']:>7.1f} "
                    f"{r['rewards_per_s']:>9.1f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['errors']:>6}"
                )
                if r["first_error"]:
                    print(f"  first error: {r['first_error']}")
                rows.append(
                    {
                        "backend": backend,
                        "clients": conc,
                        "cache": label,
                        "per_request": args.per_request,
                        "load": os.getloadavg()[0],
                        **{
                            k: r[k]
                            for k in (
                                "requests",
                                "rewards",
                                "wall_s",
                                "rewards_per_s",
                                "p50_ms",
                                "p99_ms",
                                "errors",
                            )
                        },
                    }
                )
        stats = httpx.get(url + "/info").json()["stats"]
        print(
            f"server: {stats['jobs']} requests in {stats['batches']} batches "
            f"({stats['items'] / max(stats['batches'], 1):.1f} texts per batch), "
            f"{stats['encoder_calls']} encoder calls, {stats['rows_embedded']} rows embedded, "
            f"{stats['lru_hits']} memory-cache hits"
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
    return rows, total_errors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument(
        "--model",
        type=Path,
        default=None,
        help="serve this model directory instead of training one",
    )
    ap.add_argument("--requests", type=int, default=200, help="requests per concurrency level")
    ap.add_argument("--per-request", type=int, default=8, help="responses per request")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--max-batch", type=int, default=256)
    ap.add_argument("--max-wait-ms", type=float, default=5.0)
    ap.add_argument(
        "--encoder-backends",
        nargs="+",
        default=["sentence-transformers"],
        help="serve the same head with each encoder backend in turn (e.g. sentence-transformers onnx-int8), "
        "on the same requests; each server starts with an empty memory cache",
    )
    ap.add_argument(
        "--get-reward",
        type=int,
        default=0,
        metavar="N",
        help="only the cold /get_reward comparison with the encoder, N requests of 32 queries per set",
    )
    args = ap.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    run, rows, total_errors = new_run_id(), [], 0
    if args.get_reward:
        with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
            for backend in args.encoder_backends:
                model = args.model or train_model(
                    args.data, Path(tmp) / f"model-{backend}", backend=backend
                )
                rows += get_reward_vs_encoder(model, args, Path(tmp), backend)
        record_rows("serve_load", "serve_get_reward", rows, run=run)
        if any(r["errors"] for r in rows):
            raise SystemExit(1)
        return
    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        levels = build_requests(args.data, args.requests, args.per_request, len(args.concurrency))
        for backend in args.encoder_backends:
            model = args.model or train_model(
                args.data, Path(tmp) / f"model-{backend}", backend=backend
            )
            got, errors = serve_levels(model, levels, args, Path(tmp), backend)
            rows += got
            total_errors += errors
    table = (
        "serve_load"
        if args.encoder_backends == ["sentence-transformers"]
        else "serve_load_backends"
    )
    record_rows("serve_load", table, rows, run=run)
    print(f"errors: {total_errors}")
    if total_errors:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
