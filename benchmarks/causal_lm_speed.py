"""The causal-LM encoder on CPU (SmolLM2-135M, joint layout): speed, and which layer to use.

Command (from the repository root; results go to benchmarks/results/causal_lm_speed.jsonl and
docs/benchmarks.md, "Faster encoders on CPU")::

    python benchmarks/causal_lm_speed.py --data ../shared/data --pairs 16 --repeats 3 --layer-pairs 120

**speed** (``--pairs`` HH pairs, chosen and rejected rendered with the chat template as one
text each, layer -1, last-token pooling): the forward pass prefspace ran before (the whole
``...ForCausalLM``, which also computes next-token logits over the 49,152-word vocabulary for
every token) against the current one (the transformer body only: same hidden states, no
logits), and bf16 weights (tried). Methods alternate, order reversed every repeat, median of
``--repeats``; cosine of each method's vectors to the old path's. ``--device cuda`` runs the same
on a GPU.

**layers** (``--layer-pairs`` HH pairs): one forward pass gives every layer; ``bt-linear`` HH
test accuracy from SmolLM2-135M hidden states at three layers (last-token pooling) against
all-MiniLM-L6-v2 (separate layout) on the same pairs, over ``--seeds`` grouped splits (half the
prompts for testing), each with a t-interval over seeds clipped to [0, 1].
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import new_run_id, record_rows, seed_interval  # noqa: E402

NAME = "causal_lm_speed"


def pooled_layers(enc, prepared, layers, *, full_model: bool) -> dict[int, np.ndarray]:
    """Last-token vectors of several layers for prepared (ids, mask) rows, in one pass per batch.

    ``full_model=True`` runs the whole ``...ForCausalLM`` (with its logits), as prefspace did
    before; otherwise the transformer body only, as :class:`CausalLMEncoder` does now.
    """
    import torch

    lm = enc.lm
    body = lm if full_model else lm.base_model
    device = next(lm.parameters()).device
    out = {layer: np.empty((len(prepared), enc.dim), np.float32) for layer in layers}
    order = sorted(range(len(prepared)), key=lambda i: -len(prepared[i][0]))
    pad = enc._pad_id()
    for b in range(0, len(order), enc.default_batch_size):
        rows = order[b : b + enc.default_batch_size]
        width = max(len(prepared[i][0]) for i in rows)
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        attn = torch.zeros((len(rows), width), dtype=torch.long)
        for r, i in enumerate(rows):
            n = len(prepared[i][0])
            ids[r, :n] = torch.tensor(prepared[i][0])
            attn[r, :n] = 1
        positions = (attn.cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            result = body(
                input_ids=ids.to(device),
                attention_mask=attn.to(device),
                position_ids=positions.to(device),
                output_hidden_states=True,
                use_cache=False,
            )
        last = (attn * torch.arange(width)).argmax(-1)
        for layer in layers:
            hidden = result.hidden_states[layer].float().cpu()
            out[layer][rows] = hidden[torch.arange(len(rows)), last].numpy()
    return out


def cosines(a, b):
    return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)


def speed(args, run: str, ds) -> None:
    import torch

    from prefspace.embed import CausalLMEncoder

    enc = CausalLMEncoder("smollm2-135m", device=args.device).load()
    bf16 = CausalLMEncoder("smollm2-135m", device=args.device, dtype="bfloat16").load()
    prompts, responses = list(ds.prompts) * 2, list(ds.chosen) + list(ds.rejected)
    prepared = [enc._prepare_joint(p, r) for p, r in zip(prompts, responses)]
    tokens = sum(len(ids) for ids, _ in prepared)
    methods = {
        "before: whole causal LM (logits for every token), fp32": lambda: pooled_layers(
            enc, prepared, [-1], full_model=True
        )[-1],
        "now: transformer body only, fp32": lambda: enc.encode_joint(prompts, responses),
        "tried: transformer body only, bf16 weights": lambda: bf16.encode_joint(prompts, responses),
    }
    enc.encode_joint(prompts[:2], responses[:2])
    bf16.encode_joint(prompts[:2], responses[:2])
    load0 = os.getloadavg()[0]
    wall = {k: [] for k in methods}
    out = {}
    names = list(methods)
    for rep in range(args.repeats):
        for name in names if rep % 2 == 0 else names[::-1]:
            t = time.perf_counter()
            out[name] = methods[name]()
            wall[name].append(time.perf_counter() - t)
        print(f"repeat {rep + 1}/{args.repeats} (load {os.getloadavg()[0]:.1f})", flush=True)
    base = names[0]
    rows = []
    for name in names:
        w = statistics.median(wall[name])
        cos = cosines(out[name], out[base])
        rows.append(
            {
                "method": name,
                "device": args.device or ("cuda" if torch.cuda.is_available() else "cpu"),
                "pairs": len(ds),
                "texts": len(prepared),
                "tokens": tokens,
                "wall_s": w,
                "texts_per_s": len(prepared) / w,
                "tokens_per_s": tokens / w,
                "ratio": statistics.median(wall[base]) / w,
                "cos_mean": float(cos.mean()),
                "cos_min": float(cos.min()),
                "runs_wall": [round(x, 1) for x in wall[name]],
                "threads": torch.get_num_threads(),
                "load_start": load0,
                "load_end": os.getloadavg()[0],
            }
        )
        print(
            f"  {name:<55} {w:7.1f}s  {len(prepared) / w:5.2f} texts/s  x{rows[-1]['ratio']:.2f}  "
            f"cos {cos.mean():.5f}/{cos.min():.5f}",
            flush=True,
        )
    record_rows(NAME, "causal_lm_speed", rows, run=run)


def layers(args, run: str, ds) -> None:
    from prefspace.data import split_by_prompt
    from prefspace.embed import CausalLMEncoder, SentenceTransformerEncoder, embed_pairs
    from prefspace.models import BradleyTerryLinear

    enc = CausalLMEncoder("smollm2-135m", device=args.device).load()
    n_states = enc.lm.config.num_hidden_layers + 1
    chosen_layers = [n_states // 3, (2 * n_states) // 3, -1]
    n = len(ds)
    prepared = [
        enc._prepare_joint(p, r)
        for p, r in zip(list(ds.prompts) * 2, list(ds.chosen) + list(ds.rejected))
    ]
    t = time.perf_counter()
    vecs = pooled_layers(enc, prepared, chosen_layers, full_model=False)
    print(
        f"  SmolLM2 hidden states of {len(prepared)} texts in {time.perf_counter() - t:.0f}s",
        flush=True,
    )
    # the pooled last layer is what the encoder itself returns
    check = enc.encode_joint(list(ds.prompts[:2]), list(ds.chosen[:2]))
    np.testing.assert_allclose(check, vecs[-1][:2], rtol=1e-4, atol=1e-4)
    features = {
        f"SmolLM2-135M layer {layer if layer >= 0 else n_states - 1} of {n_states - 1}": np.stack(
            [vecs[layer][:n], vecs[layer][n:]], axis=1
        )
        for layer in chosen_layers
    }
    features["all-MiniLM-L6-v2 (separate layout)"] = embed_pairs(ds, SentenceTransformerEncoder()).X
    index = {pid: i for i, pid in enumerate(ds.ids)}
    splits = []
    for seed in range(args.seeds):
        train, test = split_by_prompt(ds, test_fraction=0.5, random_state=seed)
        splits.append(
            (np.array([index[i] for i in train.ids]), np.array([index[i] for i in test.ids]))
        )
    rows = []
    for name, X in features.items():
        accs = [BradleyTerryLinear().fit(X[tr]).score(X[te]) for tr, te in splits]
        acc, lo, hi = seed_interval(accs)
        rows.append(
            {
                "features": name,
                "dim": int(X.shape[2]),
                "pairs": n,
                "seeds": args.seeds,
                "test_pairs": int(np.mean([len(te) for _, te in splits])),
                "accuracy": acc,
                "lo": lo,
                "hi": hi,
            }
        )
        print(f"  {name:<45} bt-linear accuracy {acc:.4f} [{lo:.4f}, {hi:.4f}]", flush=True)
    record_rows(NAME, "causal_lm_layers", rows, run=run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--pairs", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--layer-pairs", type=int, default=120)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--device", default=None, help="cpu (default when no GPU) or cuda")
    parser.add_argument("--part", choices=("all", "speed", "layers"), default="all")
    args = parser.parse_args()

    from prefspace.data import load_preferences

    path = args.data / "hh_rlhf" / "harmless-base-test.jsonl.gz"
    run = new_run_id()
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if args.part in ("all", "speed"):
        speed(args, run, load_preferences(path, limit=args.pairs))
    if args.part in ("all", "layers"):
        layers(args, run, load_preferences(path, limit=args.layer_pairs))


if __name__ == "__main__":
    main()
