"""The real reward server (uvicorn on a free loopback port) called over HTTP with httpx."""

from __future__ import annotations

import asyncio
import json

import httpx
import numpy as np
import pytest
from scipy.special import expit

import prefspace
from prefspace.exceptions import FingerprintMismatchError
from prefspace.serve import BackgroundServer, RewardScorer, ServeConfig, create_app

CONFIG = ServeConfig(
    max_items=64,
    max_text_chars=4000,
    max_body_bytes=64 * 1024,
    max_batch=256,
    max_wait_ms=30,
    strip=("</s>",),
)


@pytest.fixture(scope="module")
def scorer(model_dirs, minilm):
    return RewardScorer(model_dirs["bt"], encoder=minilm)


@pytest.fixture(scope="module")
def server(scorer):
    with BackgroundServer(create_app(scorer, CONFIG)) as srv:
        assert srv.host == "127.0.0.1"
        yield srv


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def texts(train_pairs, short_pairs):
    """Short AlpacaEval training pairs: prompts, chosen, rejected, and the prompts as messages."""
    prompts = [train_pairs.prompts[i] for i in short_pairs]
    chosen = [train_pairs.chosen[i] for i in short_pairs]
    rejected = [train_pairs.rejected[i] for i in short_pairs]
    messages = [[{"role": "user", "content": p}] for p in prompts]
    return prompts, chosen, rejected, messages


def test_health_and_info(client, minilm):
    assert client.get("/health").json() == {"status": "ok"}
    info = client.get("/info").json()
    assert info["model"]["class"] == "BradleyTerryMLP"
    assert info["encoder"]["fingerprint"] == minilm.fingerprint
    assert info["encoder"]["dim"] == 384 and info["encoder"]["layout"] == "separate"
    assert info["feature_dim"] == 768
    assert info["prefspace_version"] == prefspace.__version__
    assert info["limits"]["max_items"] == 64


def test_get_reward_openrlhf_request_matches_the_training_features(
    client, scorer, texts, train_pairs, short_pairs
):
    prompts, chosen, _, _ = texts
    # as OpenRLHF sends it: BOS + prompt + response + EOS, the prompt alone in "prompts"
    body = {
        "query": [f"<s>{p}{r}</s>" for p, r in zip(prompts, chosen)],
        "prompts": prompts,
        "labels": [""] * len(prompts),
    }
    out = client.post("/get_reward", json=body)
    assert out.status_code == 200, out.text
    got = out.json()
    assert set(got) == {"rewards", "scores", "extra_logs"}
    assert got["scores"] == got["rewards"]
    # the split and strip recover (prompt, response): the same rewards as the training rows give
    # (those are float16 copies of the same MiniLM vectors, hence the tolerance)
    from_training_rows = scorer.model.predict(train_pairs.X[short_pairs, 0])
    np.testing.assert_allclose(got["rewards"], from_training_rows, atol=0.02)
    np.testing.assert_allclose(got["rewards"], scorer.score(prompts, chosen), rtol=1e-5, atol=1e-5)


def test_get_reward_without_prompts_scores_whole_query_as_response(client, scorer, texts):
    prompts, chosen, _, _ = texts
    queries = [p + " " + r for p, r in zip(prompts, chosen)][:4]
    got = client.post("/get_reward", json={"query": queries}).json()["rewards"]
    np.testing.assert_allclose(got, scorer.score([""] * 4, queries), rtol=1e-5, atol=1e-5)


def test_score_pairs_gives_p_chosen_from_the_model(client, scorer, texts):
    prompts, chosen, rejected, _ = texts
    got = client.post(
        "/score", json={"prompt": prompts, "chosen": chosen, "rejected": rejected}
    ).json()
    rc, rr = scorer.score(prompts, chosen), scorer.score(prompts, rejected)
    np.testing.assert_allclose(got["rewards_chosen"], rc, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got["rewards_rejected"], rr, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got["p_chosen"], expit(rc - rr), rtol=1e-5, atol=1e-5)
    # these are training pairs, all ranked right by the fitted model
    assert np.all(np.asarray(got["p_chosen"]) > 0.5)
    assert "reward_std_chosen" not in got  # a single head has no spread


def test_score_conversations_and_shared_prompt(client, scorer, texts):
    _, chosen, _, messages = texts
    convs = [
        list(m) + [{"role": "assistant", "content": r}] for m, r in zip(messages[:3], chosen[:3])
    ]
    got = client.post("/score", json={"messages": convs}).json()
    np.testing.assert_allclose(
        got["rewards"], scorer.score(messages[:3], chosen[:3]), rtol=1e-5, atol=1e-5
    )

    got = client.post("/score", json={"prompt": messages[0], "response": chosen[:3]}).json()
    np.testing.assert_allclose(
        got["rewards"], scorer.score([messages[0]] * 3, chosen[:3]), rtol=1e-5, atol=1e-5
    )


def test_ensemble_reports_spread(model_dirs, minilm, texts):
    prompts, chosen, _, _ = texts
    scorer = RewardScorer(model_dirs["ensemble"], encoder=minilm)
    with (
        BackgroundServer(create_app(scorer, CONFIG)) as srv,
        httpx.Client(base_url=srv.url, timeout=60) as c,
    ):
        info = c.get("/info").json()
        got = c.post("/score", json={"prompt": prompts[:5], "response": chosen[:5]}).json()
        rl = c.post(
            "/get_reward",
            json={
                "query": [p + r for p, r in zip(prompts[:5], chosen[:5])],
                "prompts": prompts[:5],
            },
        ).json()
    E = scorer.features(prompts[:5], chosen[:5])
    assert info["model"]["class"] == "RewardEnsemble" and info["model"]["ensemble"] is True
    np.testing.assert_allclose(got["reward_std"], scorer.model.predict_std(E), rtol=1e-5, atol=1e-6)
    assert np.all(np.asarray(got["reward_std"]) > 0)
    np.testing.assert_allclose(
        rl["extra_logs"]["reward_std"], got["reward_std"], rtol=1e-5, atol=1e-6
    )


# ---------------------------------------------------------------------------- errors
def test_body_over_the_limit_is_413(client):
    big = {"query": ["x" * 1000] * 70}  # > 64 KiB
    out = client.post("/get_reward", json=big)
    assert out.status_code == 413
    assert "max_body_bytes=65536" in out.json()["error"] and out.json()["limit"] == "max_body_bytes"


def test_chunked_body_over_the_limit_is_413(client):
    def chunks():
        yield b'{"query": ["'
        for _ in range(80):
            yield b"y" * 1024
        yield b'"]}'

    out = client.post("/get_reward", content=chunks(), headers={"content-type": "application/json"})
    assert out.status_code == 413


def test_too_many_texts_and_too_long_a_text_are_422_naming_the_limit(client):
    out = client.post("/get_reward", json={"query": ["hi"] * 65})
    assert out.status_code == 422
    assert out.json()["limit"] == "max_items" and "max_items=64" in out.json()["error"]

    out = client.post("/score", json={"prompt": "p", "response": ["z" * 4001]})
    assert out.status_code == 422
    assert (
        out.json()["limit"] == "max_text_chars"
        and "response[0] has 4001 characters" in out.json()["error"]
    )


@pytest.mark.parametrize(
    "path, content, status, message",
    [
        ("/get_reward", b'{"query": ["unterminated', 400, "malformed JSON"),
        ("/get_reward", b"", 400, "malformed JSON"),
        ("/score", b"\xff\xfe", 400, "not UTF-8"),
        ("/score", b'["a list"]', 422, "must be a JSON object"),
        ("/get_reward", b'{"query": ["a"], "prompts": ["p", "q"]}', 422, "'prompts' has 2 entries"),
        ("/score", b'{"prompt": ["p"], "response": [null]}', 422, "'response[0]' must be a string"),
    ],
)
def test_bad_requests_are_4xx_with_a_message(client, path, content, status, message):
    out = client.post(path, content=content, headers={"content-type": "application/json"})
    assert out.status_code == status
    assert message in out.json()["error"]


def test_wrong_method_and_path_are_4xx(client):
    assert client.get("/get_reward").status_code == 405
    assert client.post("/nope", json={}).status_code == 404


def test_empty_query_list_gives_empty_rewards(client):
    assert client.post("/get_reward", json={"query": []}).json()["rewards"] == []


# ---------------------------------------------------------------------------- batching
def test_concurrent_requests_share_encoder_calls(server, scorer, client):
    n_requests = 16
    bodies = [
        {
            "prompt": f"Question {k}: name a colour.",
            "response": [f"Colour {k} is blue.", f"Colour {k} might be red."],
        }
        for k in range(n_requests)
    ]
    before = client.get("/info").json()["stats"]

    async def fire():
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as ac:
            return await asyncio.gather(*[ac.post("/score", json=b) for b in bodies])

    outs = asyncio.run(asyncio.wait_for(fire(), timeout=120))
    after = client.get("/info").json()["stats"]
    assert all(o.status_code == 200 for o in outs)
    calls = after["encoder_calls"] - before["encoder_calls"]
    assert 1 <= calls < n_requests
    assert after["rows_embedded"] - before["rows_embedded"] == 2 * n_requests
    # each request got its own rewards back
    for body, out in zip(bodies, outs):
        expected = scorer.score([body["prompt"]] * 2, body["response"])
        np.testing.assert_allclose(out.json()["rewards"], expected, rtol=1e-5, atol=1e-5)


def test_repeated_texts_come_from_the_memory_cache(client):
    body = {"prompt": "Cache me?", "response": ["Yes, a cached answer."]}
    first = client.post("/score", json=body).json()["rewards"]
    before = client.get("/info").json()["stats"]
    second = client.post("/score", json=body).json()["rewards"]
    after = client.get("/info").json()["stats"]
    assert first == second
    assert after["encoder_calls"] == before["encoder_calls"]
    assert after["lru_hits"] == before["lru_hits"] + 1


# ---------------------------------------------------------------------------- refusal
def test_server_refuses_a_model_encoder_mismatch(model_dirs):
    from prefspace.embed import get_encoder

    joint = get_encoder("all-MiniLM-L6-v2", layout="joint")
    with pytest.raises(FingerprintMismatchError, match="fingerprint"):
        create_app(model_dirs["bt"], encoder=joint)


def test_serve_cli_exits_2_on_mismatch(model_dirs, capsys):
    from prefspace.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["serve", str(model_dirs["bt"]), "--layout", "joint", "--port", "0"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "fingerprint" in err and "meaningless" in err


def test_bad_json_never_500_even_when_deeply_nested(client):
    out = client.post(
        "/score",
        content=b"[" * 20_000 + b"]" * 20_000,
        headers={"content-type": "application/json"},
    )
    assert out.status_code == 400
    assert "error" in json.loads(out.content)


# ---------------------------------------------------------------------------- the CLI, as a process
def test_prefspace_serve_process_binds_loopback_and_answers(model_dirs, tmp_path):
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(tmp_path / "server.log", "w+")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefspace",
            "serve",
            str(model_dirs["bt"]),
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not start within 120 s"
            time.sleep(0.3)
        out = httpx.post(
            url + "/get_reward", json={"query": ["Q? A."], "prompts": ["Q?"]}, timeout=120
        )
        assert out.status_code == 200 and len(out.json()["rewards"]) == 1
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()
    banner = (tmp_path / "server.log").read_text()
    assert (
        f"on http://127.0.0.1:{port}" in banner
        and f"--reward.remote_url http://127.0.0.1:{port}/get_reward" in banner
    )
