"""Does the prompt's format change the reward? Plain text vs a conversation vs a conversation with a system message.

A reward model trained on plain-text prompts (the bundled demo pairs, bt-mlp, the default
all-MiniLM-L6-v2 [prompt, response] rows, as `prefspace train` fits it) scores its held-out pairs
with the same prompt text given three ways: as a string (the training format, the control), as
TRL's conversational format ``[{"role": "user", ...}]`` (embedded as ``"User: ..."``), and with a
system message in front. Per format: the mean reward, the mean absolute change from the plain
reward, the pairwise accuracy and its paired difference from plain, with
``prefspace.evaluate.seed_item_bootstrap`` (one seed: a 95% bootstrap over the test pairs,
paired by pair for the difference).

    python benchmarks/prompt_format.py --cache .cache/emb
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import new_run_id, record_rows  # noqa: E402

from prefspace.data import load_demo, split_by_prompt  # noqa: E402
from prefspace.embed import EmbeddingCache, embed_pairs, embed_responses, get_encoder  # noqa: E402
from prefspace.evaluate import seed_item_bootstrap  # noqa: E402
from prefspace.models import BradleyTerryMLP  # noqa: E402

SYSTEM = "You are a helpful assistant."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default=None, help="embedding cache folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-boot", type=int, default=2000)
    args = parser.parse_args()

    encoder = get_encoder("all-MiniLM-L6-v2")
    cache = EmbeddingCache(args.cache) if args.cache else None
    train, test = split_by_prompt(load_demo(), test_fraction=0.2, random_state=args.seed)
    model = BradleyTerryMLP(random_state=args.seed).fit(embed_pairs(train, encoder, cache).X)
    formats = {
        "plain": list(test.prompts),
        "conversational": [[{"role": "user", "content": p}] for p in test.prompts],
        "conversational + system": [
            [{"role": "system", "content": SYSTEM}, {"role": "user", "content": p}]
            for p in test.prompts
        ],
    }
    rewards = {}
    for name, prompts in formats.items():
        rc = model.predict(embed_responses(prompts, list(test.chosen), encoder, cache))
        rr = model.predict(embed_responses(prompts, list(test.rejected), encoder, cache))
        rewards[name] = (rc, rr)
    base_c, base_r = rewards["plain"]
    base_correct = (base_c > base_r).astype(float)
    rows = []
    for name, (rc, rr) in rewards.items():
        correct = (rc > rr).astype(float)
        acc = seed_item_bootstrap(correct[None, :], n_boot=args.n_boot, random_state=args.seed)
        diff = seed_item_bootstrap(
            correct[None, :], base_correct[None, :], n_boot=args.n_boot, random_state=args.seed
        )
        lo, hi, dlo, dhi = acc.low, acc.high, diff.low, diff.high
        rows.append(
            {
                "format": name,
                "n_pairs": len(rc),
                "mean_reward": float(np.mean(np.r_[rc, rr])),
                "mean_abs_change": float(np.mean(np.abs(np.r_[rc - base_c, rr - base_r]))),
                "margin": float(np.mean(rc - rr)),
                "accuracy": float(correct.mean()),
                "lo": lo,
                "hi": hi,
                "delta": float(correct.mean() - base_correct.mean()),
                "delta_lo": dlo,
                "delta_hi": dhi,
            }
        )
        print(
            f"{name:<24} mean reward {rows[-1]['mean_reward']:+.3f}  |change| {rows[-1]['mean_abs_change']:.3f}  "
            f"margin {rows[-1]['margin']:.3f}  "
            f"accuracy {rows[-1]['accuracy']:.3f} [{lo:.3f}, {hi:.3f}]  vs plain {rows[-1]['delta']:+.3f} "
            f"[{dlo:+.3f}, {dhi:+.3f}]"
        )
    record_rows("prompt_format", "prompt-format", rows, run=new_run_id())


if __name__ == "__main__":
    main()
