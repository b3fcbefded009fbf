"""What the length-controlled reward costs and buys on alpaca_bon (issue 20, item 5).

Run (from the repository root)::

    python benchmarks/length_control.py --data ../shared/data --prompts 300 --train 1000 --seeds 5

Rows: all-MiniLM-L6-v2 ``[prompt, response]`` (the precomputed vectors) plus the 8-column
text-feature block (:func:`prefspace.data.text_features.text_feature_block`, the encoder's own
token counts), for ``--prompts`` prompts drawn at random (seed 0) with all their responses. Per
seed, 60% of those prompts train (``--train`` pairs of two responses to one prompt, the higher
gold wins) and 40% test. Models, each fitted on the same training pairs:

- ``two-block``: ``BradleyTerryLinear(n_text_features=8)`` (penalties by its own CV), its reward;
- ``length-controlled``: the same fit, ``predict(E, length_controlled=True)`` (the reward
  without the text-feature block's contribution, as ODIN does);
- ``embedding only``: ``BradleyTerryLinear()`` on the embedding columns;
- ``length baseline``: ``LengthBaseline`` on the log-length difference.

Measured on the test prompts: pairwise accuracy on every test pair with different gold, and on
*length-balanced* pairs (the longer response wins in exactly half: as many pairs of each kind,
drawn at random from the test pairs); the within-prompt Pearson correlation of reward with
log length over all test responses; best-of-16 gold (16 responses drawn per prompt, the
top-reward pick) and the mean length in characters of those picks. Means over seeds and test
prompts (a prompt's accuracy is the mean over its pairs), with ``seed_item_bootstrap`` over seeds
and prompts; paired differences against ``two-block`` the same way.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import new_run_id, record_rows  # noqa: E402

METHODS = ("two-block", "length-controlled", "embedding only", "length baseline")


def _pairs(rows: np.ndarray, gold: np.ndarray, prompt: np.ndarray) -> np.ndarray:
    """All pairs of ``rows`` with one prompt and different gold, (chosen, rejected) by gold."""
    from prefspace.evaluate import gold_pairs

    return rows[gold_pairs(gold[rows], prompt[rows])]


def _per_prompt(values, groups):
    _, inv = np.unique(groups, return_inverse=True)
    return np.bincount(inv, weights=values) / np.bincount(inv)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--prompts", type=int, default=300)
    parser.add_argument("--train", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from prefspace.data import load_scored_responses
    from prefspace.data.text_features import log_length
    from prefspace.embed import get_encoder
    from prefspace.evaluate import seed_item_bootstrap
    from prefspace.evaluate.length_dependence import within_group_corr
    from prefspace.models import BradleyTerryLinear, LengthBaseline

    folder = args.data / "alpaca_bon"
    scored = load_scored_responses(
        folder / "responses.jsonl.gz", prompts=folder / "prompts.jsonl.gz", score_key="gold"
    )
    g0 = np.random.default_rng(0)
    chosen_prompts = np.sort(g0.choice(scored.n_prompts, size=args.prompts, replace=False))
    rows = np.flatnonzero(np.isin(scored.prompt_index, chosen_prompts))
    texts = [scored.responses[i] for i in rows]
    gold, prompt = scored.scores[rows], scored.prompt_index[rows]
    P = np.load(folder / "prompt_emb_minilm.npy").astype(np.float32)
    R = np.load(folder / "response_emb_minilm.npy").astype(np.float32)
    pid = np.array([int(scored.prompt_ids[p]) for p in prompt])
    block = get_encoder(text_features=True).text_feature_rows(texts)
    E = np.concatenate([P[pid], R[rows], block], axis=1)
    loglen, chars = log_length(texts), np.array([len(t) for t in texts], dtype=np.float64)
    load_start = os.getloadavg()[0]
    print(f"{len(rows)} responses of {args.prompts} prompts; load {load_start:.1f}", flush=True)

    items = {m: {"acc": [], "bal": [], "corr": [], "bon": [], "len": []} for m in METHODS}
    local = np.arange(len(rows))
    for seed in range(args.seeds):
        g = np.random.default_rng(seed)
        ps = np.unique(prompt)
        train_p = g.choice(ps, size=int(round(0.6 * len(ps))), replace=False)
        is_train = np.isin(prompt, train_p)
        tr = _pairs(local[is_train], gold, prompt)
        tr = tr[np.sort(g.choice(len(tr), size=min(args.train, len(tr)), replace=False))]
        te = _pairs(local[~is_train], gold, prompt)
        longer = loglen[te[:, 0]] > loglen[te[:, 1]]
        shorter = loglen[te[:, 0]] < loglen[te[:, 1]]
        k = min(longer.sum(), shorter.sum())
        bal = np.concatenate(
            [
                g.choice(np.flatnonzero(longer), k, replace=False),
                g.choice(np.flatnonzero(shorter), k, replace=False),
            ]
        )
        test_prompts = np.unique(prompt[~is_train])
        picks = [g.choice(local[prompt == p], size=16, replace=False) for p in test_prompts]
        test_rows = local[~is_train]

        two = BradleyTerryLinear(n_text_features=block.shape[1]).fit(E[tr])
        emb = BradleyTerryLinear().fit(E[tr][:, :, : -block.shape[1]])
        base = LengthBaseline().fit(loglen[tr])
        rewards = {
            "two-block": two.predict(E),
            "length-controlled": two.predict(E, length_controlled=True),
            "embedding only": emb.predict(E[:, : -block.shape[1]]),
            "length baseline": base.predict(loglen),
        }
        for m, r in rewards.items():
            correct = (r[te[:, 0]] > r[te[:, 1]]).astype(float)
            # per-prompt means are the items (pairs of one prompt are not independent)
            items[m]["acc"].append(_per_prompt(correct, prompt[te[:, 0]]))
            items[m]["bal"].append(_per_prompt(correct[bal], prompt[te[bal, 0]]))
            corr = within_group_corr(
                r[test_rows], loglen[test_rows], prompt[test_rows]
            )  # NaN: no spread
            items[m]["corr"].append(float(np.clip(corr, -1, 1)))
            top = [idx[np.argmax(r[idx])] for idx in picks]
            items[m]["bon"].append(gold[top])
            items[m]["len"].append(chars[top])
        print(
            f"seed {seed}: "
            + ", ".join(
                f"{m} {items[m]['acc'][-1].mean():.3f}/{items[m]['bal'][-1].mean():.3f}/"
                f"{items[m]['corr'][-1]:+.3f}"
                for m in METHODS
            ),
            flush=True,
        )

    out = []
    for m in METHODS:
        row = {
            "method": m,
            "seeds": args.seeds,
            "prompts": args.prompts,
            "train_pairs": args.train,
            "load_start": load_start,
        }
        for key, bounds in (
            ("acc", (0, 1)),
            ("bal", (0, 1)),
            ("bon", (0, 1)),
            ("len", (0, float(chars.max()))),
        ):
            iv = seed_item_bootstrap(items[m][key], bounds=bounds, shared_items=False)
            row.update({key: iv.estimate, f"{key}_lo": iv.low, f"{key}_hi": iv.high})
            if m != "two-block":
                d = seed_item_bootstrap(
                    items[m][key], items["two-block"][key], bounds=bounds, shared_items=False
                )
                row.update({f"{key}_vs": d.estimate, f"{key}_vs_lo": d.low, f"{key}_vs_hi": d.high})
        corr = np.array(items[m]["corr"])
        corr = corr[np.isfinite(corr)]  # a reward constant within every prompt has no correlation
        row["corr_seeds"] = int(corr.size)
        if corr.size:
            iv = seed_item_bootstrap(corr, bounds=(-1, 1))
            row.update(corr=iv.estimate, corr_lo=iv.low, corr_hi=iv.high)
        out.append(row)
    record_rows("length_control", "length_control", out, run=new_run_id())
    for r in out:
        print(
            f"{r['method']:<18} accuracy {r['acc']:.4f}  balanced {r['bal']:.4f}  length corr {r.get('corr', np.nan):+.3f}  "
            f"best-of-16 {r['bon']:.4f}  chosen length {r['len']:.0f} chars"
        )


if __name__ == "__main__":
    main()
