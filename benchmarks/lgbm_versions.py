"""clf-lgbm on the acceptance split, today's code against an earlier commit's, on the same arrays.

Run (from the repository root, in a git checkout)::

    python benchmarks/lgbm_versions.py --commit cc7cd8f --seeds 10

The arrays are the HH split of ``benchmarks/lens.py`` (``split_by_prompt(test_size=1000,
seed=0)``: 1,312 training pairs, 1,000 test pairs, all-MiniLM-L6-v2 in the separate layout),
embedded once with today's code. Each version's ``PreferenceClassifierLGBM(random_state=seed)``
is fitted on the training pairs and scored on the test pairs for seeds 0 .. ``--seeds`` - 1; the
earlier version's package is taken from ``git archive COMMIT src`` and run in its own process,
so only the head's code differs. Rows: per version and seed the test accuracy and the trees
kept, and per version the mean over seeds with its Wilson 95% interval over the pooled test
pairs of each seed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from _results import new_run_id, record_rows  # noqa: E402

FIT = """
import json, sys, numpy as np
from prefspace.models import PreferenceClassifierLGBM
d = np.load(sys.argv[1])
for seed in range(int(sys.argv[2])):
    m = PreferenceClassifierLGBM(random_state=seed).fit(d["train"])
    print(json.dumps({"seed": seed, "accuracy": m.score(d["test"]), "trees": getattr(m, "n_trees_", None)}), flush=True)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument(
        "--cache", type=Path, default=REPO / ".cache" / "hh-minilm", help="embedding cache for HH"
    )
    ap.add_argument("--commit", default="cc7cd8f")
    ap.add_argument("--seeds", type=int, default=10)
    args = ap.parse_args()
    import lens

    work = Path(tempfile.mkdtemp(prefix="prefspace-lgbm-versions-"))
    arrays = lens._hh_arrays(args.data, args.cache, work)
    old = work / "old"
    old.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", args.commit, "src"], check=True, capture_output=True
    ).stdout
    tar = work / "old.tar"
    tar.write_bytes(archive)
    with tarfile.open(tar) as t:
        t.extractall(old, filter="data")
    rows, run = [], new_run_id()
    load = os.getloadavg()[0]
    for version, src in (("today", REPO / "src"), (args.commit, old / "src")):
        env = {**os.environ, "PYTHONPATH": str(src)}
        out = subprocess.run(
            [sys.executable, "-c", FIT, str(arrays), str(args.seeds)],
            check=True,
            env=env,
            capture_output=True,
            text=True,
        ).stdout
        seeds = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        for s in seeds:
            rows.append({"part": "seed", "version": version, **s})
        acc = np.array([s["accuracy"] for s in seeds])
        rows.append(
            {
                "part": "summary",
                "version": version,
                "seeds": len(seeds),
                "accuracy": float(acc.mean()),
                "sd": float(acc.std(ddof=1)),
                "min": float(acc.min()),
                "max": float(acc.max()),
                "seed0": float(acc[0]),
                "load": load,
            }
        )
        print(rows[-1], flush=True)
    command = f"python benchmarks/lgbm_versions.py --commit {args.commit} --seeds {args.seeds}"
    record_rows(
        "lgbm_versions",
        "lgbm_versions",
        [r for r in rows if r["part"] == "summary"],
        run=run,
        command=command,
    )
    record_rows(
        "lgbm_versions",
        "lgbm_versions_seeds",
        [r for r in rows if r["part"] == "seed"],
        run=run,
        command=command,
    )


if __name__ == "__main__":
    main()
