"""Encoder speed on CPU against the FLOP limit, and the parity of the faster backends.

Command (from the repository root; results go to benchmarks/results/encoder_speed.jsonl and
docs/benchmarks.md, "Faster encoders on CPU")::

    python benchmarks/encoder_speed.py --data ../shared/data --texts 400 --repeats 3 --parity-pairs 400

Three parts (``--part speed``, ``--part parity`` or both):

**speed**: the first ``--texts`` distinct HH responses (harmless-base test, chosen then
rejected), embedded by each method in one process, the methods alternating (order reversed on
every repeat), median of ``--repeats``. The baseline is ``SentenceTransformer.encode(texts,
batch_size=64)``, which is what prefspace's default torch backend runs. Ratios are baseline
time / method time, by wall clock and by this process's CPU time (steadier on a shared machine).
Achieved GFLOP/s counts the model's real work, padding excluded: per text of n tokens
``2 * P * n + 4 * L * d * n**2`` (P = weights of the transformer layers, L layers, width d), over
the measured time, and over the CPU time (GFLOP per core-second, which the load of other jobs
barely changes). The peak is measured here too: a 2048 x 2048 float32 matmul in torch on the
same threads, per wall second and per CPU second (and bf16 for reference). Methods marked
"shipped": false were tried and are not shipped.

**profile**: where the time of the torch baseline goes (torch profiler: matrix products,
attention, other operators, and the rest: tokenization and Python), the padding share of fixed
batches of 64 versus a 4,096-token budget, and ONNX Runtime's own per-operator profile of the
int8 backend.

**parity**: ``--parity-pairs`` HH pairs embedded by torch and by each shipped backend
(separate layout): mean and minimum cosine of every prompt, chosen and rejected vector to
torch's; and ``bt-linear`` test accuracy on grouped splits (``split_by_prompt``, half the
prompts for testing) over ``--seeds`` seeds, with the paired difference to torch (t-interval
over seeds, clipped to [-1, 1]) and how often the two backends' models prefer the same response.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import new_run_id, record_rows, seed_interval  # noqa: E402

NAME = "encoder_speed"


def load_avg() -> float:
    return float(os.getloadavg()[0])


def hh_responses(data: Path, n: int) -> list[str]:
    from prefspace.data import load_preferences

    ds = load_preferences(data / "hh_rlhf" / "harmless-base-test.jsonl.gz")
    return list(dict.fromkeys([*ds.chosen, *ds.rejected]))[:n]


def transformer_shape(bert) -> tuple[int, int, int]:
    """(weights in the transformer layers, layers, width) of a BERT-like model."""
    layers = bert.encoder.layer
    P = sum(p.numel() for p in layers.parameters())
    return int(P), len(layers), int(bert.config.hidden_size)


def model_flops(lengths, P: int, L: int, d: int) -> float:
    n = np.asarray(lengths, dtype=np.float64)
    return float((2.0 * P * n + 4.0 * L * d * n * n).sum())


def measured_peak(dtype_name: str, size: int = 2048, reps: int = 10) -> tuple[float, float]:
    """(GFLOP per wall second, GFLOP per CPU second) of a size x size matmul; best of three.

    The second is per core-second (process CPU time over all threads): on a machine shared with
    other jobs it stays near what one core can do, while the first falls with the load.
    """
    import torch

    dtype = getattr(torch, dtype_name)
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    a @ b
    best, best_cpu = float("inf"), float("inf")
    for _ in range(3):
        t, c = time.perf_counter(), time.process_time()
        for _ in range(reps):
            a @ b
        best = min(best, time.perf_counter() - t)
        best_cpu = min(best_cpu, time.process_time() - c)
    work = 2.0 * size**3 * reps / 1e9
    return work / best, work / best_cpu


def cpu_info() -> dict:
    info = {"cores": os.cpu_count()}
    try:
        text = Path("/proc/cpuinfo").read_text()
        info["model"] = next(
            line.split(":", 1)[1].strip()
            for line in text.splitlines()
            if line.startswith("model name")
        )
        flags = next(
            line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")
        )
        info["int8_dot"] = "avx512_vnni" in flags or "avx_vnni" in flags
        info["bf16"] = "avx512_bf16" in flags or "amx_bf16" in flags
    except (OSError, StopIteration):
        pass
    return info


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)


# --------------------------------------------------------------------------- speed
def speed(args, run: str) -> None:
    import torch

    from prefspace.embed import get_encoder
    from prefspace.embed.onnx_backend import OnnxEncoder, token_budget_batches

    texts = hh_responses(args.data, args.texts)
    torch_enc = get_encoder().load()
    st = torch_enc.st
    tok = st.tokenizer
    limit = st.max_seq_length
    lengths = [len(x) for x in tok(texts, truncation=True, max_length=limit)["input_ids"]]
    P, L, d = transformer_shape(st[0].auto_model)
    flops = model_flops(lengths, P, L, d)
    threads = torch.get_num_threads()

    onnx = OnnxEncoder(backend="onnx").load()
    int8 = OnnxEncoder(backend="onnx-int8").load()
    onnx_fixed = OnnxEncoder(backend="onnx", max_batch_tokens=10**9, batch_size=64).load()
    dyn_path = Path(tempfile.mkdtemp()) / "dynamic-int8.onnx"
    quantize_dynamic_per_channel(onnx.artifact_path, dyn_path)
    dyn = OnnxEncoder(backend="onnx").load()
    dyn._session = _session(dyn_path, threads)

    bert16 = copy.deepcopy(st[0].auto_model).to(torch.bfloat16).eval()
    budget = token_budget_batches(lengths, 4096, 256)

    def torch_budget():
        out = np.empty((len(texts), torch_enc.dim), np.float32)
        for rows in budget:
            out[rows] = st.encode([texts[i] for i in rows], batch_size=len(rows))
        return out

    def torch_bf16_budget():
        out = np.empty((len(texts), torch_enc.dim), np.float32)
        for rows in budget:
            enc = tok(
                [texts[i] for i in rows],
                padding=True,
                truncation=True,
                max_length=limit,
                return_tensors="pt",
            )
            with torch.inference_mode():
                h = bert16(**enc).last_hidden_state.float()
            m = enc["attention_mask"].unsqueeze(-1).float()
            v = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
            out[rows] = torch.nn.functional.normalize(v, dim=1).numpy()
        return out

    methods = {
        "torch: SentenceTransformer.encode, batches of 64 (baseline)": (
            lambda: st.encode(texts, batch_size=64),
            True,
        ),
        "torch: token budget 4,096": (torch_budget, False),
        "torch: bf16 weights, token budget 4,096": (torch_bf16_budget, False),
        "onnx: fp32, fused graph, batches of 64": (lambda: onnx_fixed.encode(texts), False),
        "onnx: fp32, fused graph, token budget 4,096": (lambda: onnx.encode(texts), True),
        "onnx-int8: MatMulNBits 8-bit blocks of 32, token budget 4,096": (
            lambda: int8.encode(texts),
            True,
        ),
        "onnx: quantize_dynamic int8 per-channel, token budget 4,096": (
            lambda: dyn.encode(texts),
            False,
        ),
    }
    st.encode(texts[:16])  # warm-up
    for enc in (onnx, int8, onnx_fixed, dyn):
        enc.encode(texts[:16])

    peak32, peak32_cpu = measured_peak("float32")
    peak16, peak16_cpu = measured_peak("bfloat16")
    load0 = load_avg()
    wall = {k: [] for k in methods}
    cpu = {k: [] for k in methods}
    out = {}
    names = list(methods)
    for rep in range(args.repeats):
        for name in names if rep % 2 == 0 else names[::-1]:
            t, c = time.perf_counter(), time.process_time()
            out[name] = methods[name][0]()
            wall[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
        print(f"repeat {rep + 1}/{args.repeats} done (load {load_avg():.1f})", flush=True)
    load1 = load_avg()
    base = names[0]
    bw, bc = statistics.median(wall[base]), statistics.median(cpu[base])
    rows = []
    for name in names:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        cos = cosines(out[name], out[base])
        row = {
            "method": name,
            "shipped": methods[name][1],
            "texts": len(texts),
            "tokens": int(sum(lengths)),
            "wall_s": w,
            "cpu_s": c,
            "ratio_wall": bw / w,
            "ratio_cpu": bc / c,
            "texts_per_s": len(texts) / w,
            "tokens_per_s": sum(lengths) / w,
            "gflops": flops / w / 1e9,
            "pct_fp32_peak": 100.0 * flops / w / 1e9 / peak32,
            "gflops_per_cpu_s": flops / c / 1e9,
            "pct_fp32_peak_cpu": 100.0 * flops / c / 1e9 / peak32_cpu,
            "cos_mean": float(cos.mean()),
            "cos_min": float(cos.min()),
            "runs_wall": [round(x, 2) for x in wall[name]],
            "threads": threads,
            "load_start": load0,
            "load_end": load1,
        }
        rows.append(row)
        print(
            f"  {name:<62} wall {w:7.2f}s x{bw / w:4.2f}  cpu {c:7.2f}s x{bc / c:4.2f}  "
            f"{row['tokens_per_s']:7.0f} tok/s {row['gflops']:6.1f} GFLOP/s ({row['pct_fp32_peak']:.0f}% of peak)  "
            f"cos {row['cos_mean']:.5f}/{row['cos_min']:.5f}",
            flush=True,
        )
    record_rows(NAME, "encoder_speed", rows, run=run)
    record_rows(
        NAME,
        "encoder_peak",
        [
            {
                **cpu_info(),
                "threads": threads,
                "fp32_gemm_gflops": peak32,
                "bf16_gemm_gflops": peak16,
                "fp32_gemm_gflops_per_cpu_s": peak32_cpu,
                "bf16_gemm_gflops_per_cpu_s": peak16_cpu,
                "model_weights_in_layers": P,
                "layers": L,
                "width": d,
                "texts": len(texts),
                "tokens": int(sum(lengths)),
                "gflop_of_model_work": flops / 1e9,
                "load_start": load0,
                "load_end": load1,
            }
        ],
        run=run,
    )
    print(
        f"peak: fp32 matmul {peak32:.0f} GFLOP/s ({peak32_cpu:.0f} per CPU second), bf16 {peak16:.0f} GFLOP/s "
        f"on {threads} threads; load {load0:.1f} -> {load1:.1f}"
    )


def peak(run: str) -> None:
    import torch

    load0 = load_avg()
    peak32, peak32_cpu = measured_peak("float32")
    peak16, peak16_cpu = measured_peak("bfloat16")
    row = {
        **cpu_info(),
        "threads": torch.get_num_threads(),
        "fp32_gemm_gflops": peak32,
        "bf16_gemm_gflops": peak16,
        "fp32_gemm_gflops_per_cpu_s": peak32_cpu,
        "bf16_gemm_gflops_per_cpu_s": peak16_cpu,
        "load_start": load0,
        "load_end": load_avg(),
    }
    print(row)
    record_rows(NAME, "encoder_peak", [row], run=run)


def _session(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def quantize_dynamic_per_channel(src: Path, dst: Path) -> None:
    """The route tried first (issue 16): quantize_dynamic, per-channel int8 weights, MatMul only."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(src),
        str(dst),
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=["MatMul"],
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


# --------------------------------------------------------------------------- profile
def profile(args, run: str) -> None:
    import torch
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    from prefspace.embed import get_encoder
    from prefspace.embed.onnx_backend import OnnxEncoder, token_budget_batches

    texts = hh_responses(args.data, args.texts)
    st = get_encoder().load().st
    tok = st.tokenizer
    lengths = np.array(
        [len(x) for x in tok(texts, truncation=True, max_length=st.max_seq_length)["input_ids"]]
    )
    by_chars = np.argsort(
        [-len(t) for t in texts], kind="stable"
    )  # sentence-transformers' own order
    padded_64 = sum(
        len(b) * lengths[b].max() for b in (by_chars[i : i + 64] for i in range(0, len(texts), 64))
    )
    padded_budget = sum(len(b) * lengths[b].max() for b in token_budget_batches(lengths, 4096, 256))
    st.encode(texts[:16])
    t = time.perf_counter()
    tok(texts, padding=False, truncation=True, max_length=st.max_seq_length)
    tokenize_s = time.perf_counter() - t
    t = time.perf_counter()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        st.encode(texts, batch_size=64)
    total = time.perf_counter() - t
    groups = {"matrix products": 0.0, "attention": 0.0, "other operators": 0.0}
    for ev in prof.key_averages():
        us = ev.self_cpu_time_total / 1e6
        if ev.key in ("aten::addmm", "aten::mm", "aten::bmm", "aten::matmul", "aten::linear"):
            groups["matrix products"] += us
        elif "attention" in ev.key:
            groups["attention"] += us
        elif ev.key.startswith("aten::"):
            groups["other operators"] += us
    # self CPU times add up over the threads; scale them to the wall clock of the run
    op_total = sum(groups.values())
    rows = [
        {"backend": "torch (baseline)", "part": k, "seconds": v, "share": v / op_total}
        for k, v in groups.items()
    ]
    rows.append(
        {
            "backend": "torch (baseline)",
            "part": "tokenization (timed alone)",
            "seconds": tokenize_s,
            "share": tokenize_s / total,
        }
    )
    rows.append(
        {
            "backend": "torch (baseline)",
            "part": "padding: extra tokens, batches of 64",
            "seconds": None,
            "share": float(padded_64 / lengths.sum() - 1),
        }
    )
    rows.append(
        {
            "backend": "torch (baseline)",
            "part": "padding: extra tokens, token budget 4,096",
            "seconds": None,
            "share": float(padded_budget / lengths.sum() - 1),
        }
    )

    int8 = OnnxEncoder(backend="onnx-int8").load()
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = str(Path(tempfile.mkdtemp()) / "ort")
    options.intra_op_num_threads = torch.get_num_threads()
    int8._session = ort.InferenceSession(
        str(int8.artifact_path), options, providers=["CPUExecutionProvider"]
    )
    int8.encode(texts)
    trace = json.loads(Path(int8._session.end_profiling()).read_text())
    ops: dict[str, float] = {}
    for ev in trace:
        if ev.get("cat") == "Node" and ev.get("name", "").endswith("_kernel_time"):
            op = ev.get("args", {}).get("op_name", "?")
            kind = (
                "matrix products"
                if op in ("MatMulNBits", "MatMul", "MatMulIntegerToFloat", "Gemm")
                else "attention"
                if "Attention" in op
                else "other operators"
            )
            ops[kind] = ops.get(kind, 0.0) + ev["dur"] / 1e6
    op_total = sum(ops.values())
    rows += [
        {"backend": "onnx-int8", "part": k, "seconds": v, "share": v / op_total}
        for k, v in sorted(ops.items())
    ]
    for r in rows:
        print(f"  {r['backend']:<18} {r['part']:<45} share {r['share']:.3f}")
    record_rows(NAME, "encoder_profile", rows, run=run)


# --------------------------------------------------------------------------- parity
def parity(args, run: str) -> None:
    from prefspace.data import load_preferences, split_by_prompt
    from prefspace.embed import SentenceTransformerEncoder, embed_pairs
    from prefspace.embed.onnx_backend import OnnxEncoder
    from prefspace.models import BradleyTerryLinear

    ds = load_preferences(
        args.data / "hh_rlhf" / "harmless-base-test.jsonl.gz", limit=args.parity_pairs
    )
    X = {}
    for backend in ("sentence-transformers", "onnx", "onnx-int8"):
        t = time.perf_counter()
        enc = (
            SentenceTransformerEncoder()
            if backend == "sentence-transformers"
            else OnnxEncoder(backend=backend)
        )
        X[backend] = embed_pairs(ds, enc).X
        print(
            f"  embedded {len(ds)} pairs with {backend} in {time.perf_counter() - t:.0f}s (load {load_avg():.1f})",
            flush=True,
        )
    ref = X["sentence-transformers"]
    dim = ref.shape[2] // 2

    def vectors(A):  # every prompt, chosen and rejected vector
        return np.concatenate([A[:, 0, :dim], A[:, 0, dim:], A[:, 1, dim:]])

    splits = []
    for seed in range(args.seeds):
        train, test = split_by_prompt(ds, test_fraction=0.5, random_state=seed)
        index = {pid: i for i, pid in enumerate(ds.ids)}
        splits.append(
            (np.array([index[i] for i in train.ids]), np.array([index[i] for i in test.ids]))
        )

    def fit_scores(A):
        accs, prefs = [], []
        for tr, te in splits:
            model = BradleyTerryLinear().fit(A[tr])
            accs.append(model.score(A[te]))
            prefs.append(model.predict(A[te][:, 0]) > model.predict(A[te][:, 1]))
        return np.array(accs), prefs

    base_acc, base_prefs = fit_scores(ref)
    rows = []
    for backend, A in X.items():
        cos = cosines(vectors(A), vectors(ref))
        acc, prefs = fit_scores(A)
        delta, lo, hi = seed_interval(acc - base_acc, low=-1.0, high=1.0)
        agree = float(np.mean([np.mean(p == q) for p, q in zip(prefs, base_prefs)]))
        rows.append(
            {
                "backend": backend,
                "pairs": len(ds),
                "vectors": int(len(cos)),
                "cos_mean": float(cos.mean()),
                "cos_min": float(cos.min()),
                "seeds": args.seeds,
                "test_pairs": int(np.mean([len(te) for _, te in splits])),
                "accuracy": float(acc.mean()),
                "accuracy_seed0": float(acc[0]),
                "delta_vs_torch": delta,
                "delta_lo": lo,
                "delta_hi": hi,
                "same_preference": agree,
            }
        )
        print(
            f"  {backend:<22} cos {cos.mean():.5f} / min {cos.min():.5f}  bt-linear acc {acc.mean():.4f} "
            f"(seed 0: {acc[0]:.4f})  vs torch {delta:+.4f} [{lo:+.4f}, {hi:+.4f}]  same preference {agree:.3f}",
            flush=True,
        )
    record_rows(NAME, "encoder_parity", rows, run=run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument(
        "--texts", type=int, default=400, help="HH responses for the speed and profile parts"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parity-pairs", type=int, default=400)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--part",
        choices=("all", "speed", "profile", "parity", "peak"),
        default="all",
        help="peak: only the matmul peak (the speed part measures it too)",
    )
    args = parser.parse_args()
    run = new_run_id()
    print(f"load average at start: {load_avg():.1f} on {os.cpu_count()} cores")
    if args.part == "peak":
        peak(run)
    if args.part in ("all", "speed"):
        speed(args, run)
    if args.part in ("all", "profile"):
        profile(args, run)
    if args.part in ("all", "parity"):
        parity(args, run)


if __name__ == "__main__":
    main()
