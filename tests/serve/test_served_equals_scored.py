"""For every head `prefspace train` can produce, the served reward equals `prefspace score`'s.

Each head is fitted on the 60 real AlpacaEval pairs (precomputed MiniLM rows), saved with the
live MiniLM encoder, then the same prompts and responses are scored three ways: `prefspace score`
on a JSONL file, the server's `/score`, and its `/get_reward` as OpenRLHF sends it (the query is
the prompt followed by the response, the prompt in `prompts`). All three embed the texts with
the same encoder, so the rewards agree to float32 rounding.
"""

from __future__ import annotations

import json
import sys

import httpx
import numpy as np
import pytest

from prefspace.cli import main
from prefspace.models import HEADS, RewardEnsemble, get_head, save_model
from prefspace.serve import BackgroundServer, ServeConfig, create_app

FAST = {
    "bt-mlp": {"max_epochs": 30},
    "clf-mlp": {"max_epochs": 30},
    "clf-lgbm": {"n_estimators": 50},
}
CASES = [*HEADS, "ensemble"]


def _head(name: str):
    if name == "ensemble":
        return RewardEnsemble(get_head("bt-linear"), n_members=3, random_state=0)
    accepted = HEADS[name]().get_params()
    params = {k: v for k, v in {**FAST.get(name, {}), "random_state": 0}.items() if k in accepted}
    return get_head(name, **params)


@pytest.mark.parametrize("head", CASES)
def test_served_reward_equals_the_score_command(
    head, train_pairs, short_pairs, minilm, tmp_path, capsys
):
    model_dir = tmp_path / head
    save_model(_head(head).fit(train_pairs.X), model_dir, minilm)
    prompts = [train_pairs.prompts[i] for i in short_pairs[:5]]
    responses = [train_pairs.chosen[i] for i in short_pairs[:5]]
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        "".join(
            json.dumps({"prompt": p, "response": r}) + "\n" for p, r in zip(prompts, responses)
        ),
        encoding="utf-8",
    )
    out = tmp_path / "rewards.jsonl"
    with pytest.raises(SystemExit) as code:
        main(["score", str(model_dir), str(rows), "--out", str(out)])
        sys.exit(0)
    assert code.value.code == 0, capsys.readouterr()
    scored = [json.loads(line)["reward"] for line in out.read_text(encoding="utf-8").splitlines()]

    app = create_app(model_dir, ServeConfig(max_text_chars=8000), encoder=minilm)
    with BackgroundServer(app) as srv, httpx.Client(base_url=srv.url, timeout=120) as client:
        served = client.post("/score", json={"prompt": prompts, "response": responses}).json()[
            "rewards"
        ]
        queries = [p + r for p, r in zip(prompts, responses)]
        got = client.post("/get_reward", json={"query": queries, "prompts": prompts}).json()[
            "rewards"
        ]
        info = client.get("/info").json()
    np.testing.assert_allclose(served, scored, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got, scored, rtol=1e-5, atol=1e-5)
    assert info["openrlhf"]["fallbacks"] == 0 and info["openrlhf"]["splits"]["prompt"] == len(
        queries
    )
