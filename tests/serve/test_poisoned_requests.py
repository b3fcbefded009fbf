"""Issue 13 on the server: one bad request never hurts another, and bad input is a 4xx, never a 500.

The real reward server (the session's saved BradleyTerryMLP and MiniLM, uvicorn on a loopback
port) gets one poisoned request among concurrent good ones; every good one must get 200 with
its own rewards. The micro-batcher is also driven directly with the real scorer and a text its
tokenizer refuses, so the isolation holds even for input the request checks would let through.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import numpy as np
import pytest

from prefspace.serve import BackgroundServer, RewardScorer, ServeConfig, create_app
from prefspace.serve.batching import MicroBatcher

LONE = "a broken emoji \ud83d"  # a high surrogate without its low half
CONFIG = ServeConfig(
    max_items=64, max_text_chars=4000, max_body_bytes=256 * 1024, max_batch=256, max_wait_ms=50
)


@pytest.fixture(scope="module")
def scorer(model_dirs, minilm):
    return RewardScorer(model_dirs["bt"], encoder=minilm, lru_size=0)


@pytest.fixture(scope="module")
def server(scorer):
    with BackgroundServer(create_app(scorer, CONFIG)) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=120) as c:
        yield c


def body(obj) -> bytes:
    """JSON as a client sends it: ``json.dumps`` escapes a lone surrogate as ``\\ud83d``."""
    return json.dumps(obj).encode("ascii")


def post(client, path: str, obj):
    return client.post(path, content=body(obj), headers={"content-type": "application/json"})


# ---------------------------------------------------------------------------- the poisoned batch
@pytest.mark.parametrize(
    "path, poison",
    [
        ("/score", {"prompt": "Say hi.", "response": ["Hello!", LONE]}),
        (
            "/get_reward",
            {"query": ["Say hi. Hello!", "Say hi. " + LONE], "prompts": ["Say hi.", "Say hi."]},
        ),
    ],
)
def test_one_poisoned_request_among_concurrent_good_ones(server, scorer, path, poison):
    n_good = 15
    good = [
        {
            "prompt": f"Poison test {path} {k}: name a fruit.",
            "response": [f"Fruit {k} is an apple."],
        }
        for k in range(n_good)
    ]
    requests = [("/score", b) for b in good]
    requests.insert(7, (path, poison))

    async def fire():
        async with httpx.AsyncClient(base_url=server.url, timeout=120) as ac:
            return await asyncio.gather(
                *[
                    ac.post(p, content=body(b), headers={"content-type": "application/json"})
                    for p, b in requests
                ]
            )

    outs = asyncio.run(asyncio.wait_for(fire(), timeout=300))
    bad = outs.pop(7)
    assert bad.status_code == 422, bad.text
    assert "lone UTF-16 surrogate" in bad.json()["error"] and "[1]" in bad.json()["error"]
    assert [o.status_code for o in outs] == [200] * n_good, [
        o.text for o in outs if o.status_code != 200
    ]
    for b, o in zip(good, outs):  # each good request got its own rewards
        np.testing.assert_allclose(
            o.json()["rewards"], scorer.score([b["prompt"]], b["response"]), rtol=1e-5, atol=1e-5
        )


def test_the_batcher_isolates_a_job_the_tokenizer_refuses(scorer):
    """Every check bypassed: a lone surrogate reaches the real tokenizer inside a shared batch, which
    raises a TypeError (a library error, not a PrefspaceError); only that job may fail."""
    from prefspace.embed import embed_responses

    prompts = [f"Isolation {k}: say something kind." for k in range(6)]
    responses = [f"Kind thing number {k}." for k in range(6)]
    jobs = [([p], [r]) for p, r in zip(prompts, responses)]
    jobs.insert(3, (["Isolation: a poisoned prompt."], [LONE]))
    calls: list[int] = []

    def score(
        p, r
    ):  # the real encoder and model, without RewardScorer's text checks; records each call's size
        calls.append(len(r))
        return scorer.model.predict(
            np.asarray(embed_responses(p, r, scorer.encoder), dtype=np.float32)
        )

    async def main():
        # max_batch = every item: the first call holds all jobs, the poisoned one included
        batcher = MicroBatcher(score, max_batch=len(jobs), max_wait_s=10)
        await batcher.start()
        try:
            return await asyncio.gather(
                *[batcher.submit(p, r) for p, r in jobs], return_exceptions=True
            )
        finally:
            await batcher.stop()

    out = asyncio.run(asyncio.wait_for(main(), timeout=300))
    assert calls[0] == len(jobs)  # they did share one encoder call
    poisoned = out.pop(3)
    assert isinstance(poisoned, TypeError), poisoned
    assert not any(isinstance(o, BaseException) for o in out), out
    np.testing.assert_allclose(
        np.concatenate(out), scorer.score(prompts, responses), rtol=1e-5, atol=1e-5
    )


# ---------------------------------------------------------------------------- the 4xx corpus
# (path, body, status, fragments of the error message); never 500
BAD_REQUESTS = [
    # item 1: a lone surrogate is refused at the request boundary, naming the field
    (
        "/score",
        {"prompt": "q", "response": ["fine", LONE]},
        422,
        ["'response[1]'", "lone UTF-16 surrogate"],
    ),
    (
        "/score",
        {"prompt": LONE, "response": ["fine"]},
        422,
        ["'prompt[0]'", "lone UTF-16 surrogate"],
    ),
    ("/score", {"prompt": ["q"], "chosen": ["a"], "rejected": [LONE]}, 422, ["'rejected[0]'"]),
    (
        "/score",
        {"messages": [[{"role": "user", "content": "q"}, {"role": "assistant", "content": LONE}]]},
        422,
        ["'messages[0][1].content'", "lone UTF-16 surrogate"],
    ),
    ("/get_reward", {"query": ["fine", LONE]}, 422, ["'query[1]'", "lone UTF-16 surrogate"]),
    ("/get_reward", {"query": ["q a", "q b"], "prompts": ["q", LONE]}, 422, ["'prompts[1]'"]),
    # item 8: the rules data files follow
    (
        "/score",
        {"prompt": [{"role": "tool", "content": "42"}], "response": ["a"]},
        422,
        ["has role 'tool'", "'system', 'user' or 'assistant'"],
    ),
    (
        "/score",
        {"prompt": "q", "response": [[{"role": "user", "content": "a"}]]},
        422,
        ["'response[0][0]'", "its role is 'user'"],
    ),
    (
        "/score",
        {"messages": [[{"role": "assistant", "content": "a"}, {"role": "user", "content": "b"}]]},
        422,
        ["last role is 'user'"],
    ),
    (
        "/score",
        {
            "messages": [
                [{"role": "narrator", "content": "a"}, {"role": "assistant", "content": "b"}]
            ]
        },
        422,
        ["has role 'narrator'"],
    ),
    # item 6 on the server: nesting
    ("/score", None, 400, ["nested too deeply"]),
]


@pytest.mark.parametrize(
    "path, obj, status, fragments",
    BAD_REQUESTS,
    ids=[f"{i}-{r[0]}" for i, r in enumerate(BAD_REQUESTS)],
)
def test_bad_requests_are_4xx_naming_the_field(client, path, obj, status, fragments):
    content = b"[" * 50_000 + b"]" * 50_000 if obj is None else body(obj)
    out = client.post(path, content=content, headers={"content-type": "application/json"})
    assert out.status_code == status, out.text
    error = out.json()["error"]
    for fragment in fragments:
        assert fragment in error, error


# ---------------------------------------------------------------------------- item 9: the surface
def test_info_names_the_model_without_its_path(client, model_dirs):
    out = client.get("/info")
    assert out.status_code == 200
    assert out.json()["model"]["name"] == model_dirs["bt"].name
    assert str(model_dirs["bt"].parent) not in out.text  # no path on the server's disk


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc"])
def test_no_generated_api_pages(client, path):
    assert client.get(path).status_code == 404


def test_the_server_still_answers_after_the_corpus(client):
    out = post(client, "/score", {"prompt": "Still there?", "response": ["Yes."]})
    assert out.status_code == 200 and len(out.json()["rewards"]) == 1


def test_the_scorer_names_a_text_no_tokenizer_takes(scorer):
    from prefspace.exceptions import DataError

    with pytest.raises(DataError, match=r"responses\[1\] holds a lone UTF-16 surrogate"):
        scorer.score(["q", "q"], ["fine", LONE])
    with pytest.raises(DataError, match=r"prompts\[0\]\[0\]\['content'\]"):
        scorer.score([[{"role": "user", "content": LONE}]], ["fine"])
