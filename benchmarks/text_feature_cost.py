"""What the text-feature block adds to `prefspace embed`'s time on HH (bar: under 5%).

Run (from the repository root)::

    python benchmarks/text_feature_cost.py --data ../shared/data --pairs 100

``prefspace embed``'s library call (:func:`prefspace.workflows.embedding.embed_file`) on the
first ``--pairs`` HH harmless-base pairs, all-MiniLM-L6-v2, each time into a new, empty cache:
with ``text_features`` off and on, in the order off, on, on, off (so a drift in the machine's
load falls on both alike). Recorded per run: wall and CPU seconds of this process. Then the
text-feature block alone (:func:`prefspace.embed.embed_text_features`, no cache) on the same
texts, timed the same way. The ratios are within this one run; the load average is recorded
beside them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import new_run_id, record_rows  # noqa: E402


def timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--pairs", type=int, default=100)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from prefspace.data import load_preferences
    from prefspace.embed import embed_text_features, get_encoder
    from prefspace.workflows.embedding import embed_file

    path = args.data / "hh_rlhf" / "harmless-base-test.jsonl.gz"
    get_encoder().load()  # the model's load is not part of either side
    load_start = os.getloadavg()[0]
    runs = []
    for i, on in enumerate((False, True, True, False)):
        with tempfile.TemporaryDirectory() as cache:
            _, wall, cpu = timed(
                lambda: embed_file(
                    path,
                    encoder_options={"text_features": on},
                    cache=cache,
                    load_kwargs={"limit": args.pairs},
                )
            )
        runs.append({"text_features": on, "wall_s": wall, "cpu_s": cpu})
        print(f"run {i}: text_features={on} wall {wall:.1f} s, CPU {cpu:.1f} s", flush=True)
    ds = load_preferences(path, limit=args.pairs)
    texts = list(ds.chosen) + list(ds.rejected)
    enc = get_encoder(text_features=True)
    enc.load()
    _, f_wall, f_cpu = timed(lambda: embed_text_features(texts, enc, None))
    off = [r for r in runs if not r["text_features"]]
    on = [r for r in runs if r["text_features"]]
    mean = lambda rows, k: sum(r[k] for r in rows) / len(rows)  # noqa: E731
    row = {
        "pairs": args.pairs,
        "texts": 3 * args.pairs,
        "responses": len(texts),
        "off_wall_s": mean(off, "wall_s"),
        "on_wall_s": mean(on, "wall_s"),
        "off_cpu_s": mean(off, "cpu_s"),
        "on_cpu_s": mean(on, "cpu_s"),
        "ratio_wall": mean(on, "wall_s") / mean(off, "wall_s"),
        "ratio_cpu": mean(on, "cpu_s") / mean(off, "cpu_s"),
        "block_wall_s": f_wall,
        "block_cpu_s": f_cpu,
        "block_share_cpu": f_cpu / mean(off, "cpu_s"),
        "block_share_wall": f_wall / mean(off, "wall_s"),
        "load_start": load_start,
        "load_end": os.getloadavg()[0],
    }
    run = new_run_id()
    record_rows("text_feature_cost", "text_feature_cost", [row], run=run)
    record_rows("text_feature_cost", "text_feature_cost_runs", runs, run=run)
    print(
        f"with text features / without: wall {row['ratio_wall']:.3f}, CPU {row['ratio_cpu']:.3f}; "
        f"the block alone: {100 * row['block_share_cpu']:.2f}% of the embed's CPU seconds "
        f"({row['block_cpu_s']:.2f} s of {row['off_cpu_s']:.1f} s); load {load_start:.1f} -> {row['load_end']:.1f}"
    )


if __name__ == "__main__":
    main()
