"""OpenRLHF's current client, replayed: payloads built the way openrlhf/utils/agent.py builds them, with a real tokenizer."""

from __future__ import annotations

import logging
import math
import socket
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest

from prefspace._surface import command_line
from prefspace.embed import smollm2_gguf_path
from prefspace.exceptions import ConfigError
from prefspace.models import load_model, save_model
from prefspace.serve import BackgroundServer, RewardScorer, ServeConfig, create_app
from prefspace.serve.openrlhf import (
    ChatTemplate,
    OpenRLHFOptions,
    QuerySplitter,
    RewardNormalizer,
    overlap_end,
)

CONFIG = ServeConfig(max_items=16, max_text_chars=4000, max_wait_ms=5)
TRAIN = {
    "source": "alpaca pairs",
    "fingerprint": "f" * 64,
    "n_pairs": 60,
    "format": "standard, explicit prompt",
    "subsets": None,
    "licence": None,
}
CONVERSATIONS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [
        {
            "role": "user",
            "content": "Explain how plants make food from sunlight, step by step, for a child. "
            * 6,
        }
    ],
    [
        {"role": "system", "content": "You answer in one word."},
        {"role": "user", "content": "Name a colour of the sky."},
    ],
    [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Tell me a short joke about cats."},
    ],
    [{"role": "user", "content": "Écris « bonjour » en japonais, s'il te plaît. 日本語で。"}],
]
ANSWERS = [
    "Paris is the capital of France.",
    "Plants use light, water and air to make sugar, their food.",
    "Blue.",
    "Why did the cat sit on the computer? To keep an eye on the mouse!",
    "こんにちは (konnichiwa).",
]


@pytest.fixture(scope="module")
def smol_tokenizer(tmp_path_factory):
    """SmolLM2-135M-Instruct's tokenizer (from the offline GGUF), saved as a folder the server loads quickly."""
    from transformers import AutoTokenizer

    gguf = smollm2_gguf_path()
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    folder = tmp_path_factory.mktemp("smollm2-tokenizer")
    tok.save_pretrained(str(folder))
    return tok, folder


@pytest.fixture(scope="module")
def plain_model(model_dirs, minilm, tmp_path_factory):
    directory = tmp_path_factory.mktemp("openrlhf") / "bt-plain"
    save_model(load_model(model_dirs["bt"]), directory, minilm, train_data=TRAIN)
    return directory


def openrlhf_payload(tok, messages, answer, max_prompt_tokens):
    """What SingleTurnAgentExecutor posts: the templated prompt, cut on the left, + the answer, decoded with specials."""
    prompt = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tok(answer + tok.eos_token if answer else tok.eos_token, add_special_tokens=False)[
        "input_ids"
    ]
    if len(prompt_ids) > max_prompt_tokens:
        prompt_ids = prompt_ids[-max_prompt_tokens:]
    query = tok.decode(prompt_ids + answer_ids, skip_special_tokens=False)
    return {"query": [query], "prompts": [prompt], "labels": [""]}


def test_smollm2_template_markers_and_parsing(smol_tokenizer):
    tok, folder = smol_tokenizer
    template = ChatTemplate.from_tokenizer(str(folder))
    m = template.markers
    assert (
        m.user_prefix == "<|im_start|>user\n" and m.generation_prompt == "<|im_start|>assistant\n"
    )
    assert m.default_system and "SmolLM" in m.default_system
    assert "<|im_end|>" in template.special_tokens
    rendered = tok.apply_chat_template(CONVERSATIONS[3], tokenize=False, add_generation_prompt=True)
    assert template.parse(rendered) == CONVERSATIONS[3]  # the default system message is dropped
    rendered = tok.apply_chat_template(CONVERSATIONS[2], tokenize=False, add_generation_prompt=True)
    assert (
        template.parse(rendered) == CONVERSATIONS[2]
    )  # a system message of the user's own is kept


def test_a_template_file_works_like_a_tokenizer(tmp_path):
    llama_like = (
        "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
        "{{ m['content'] }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}"
        "<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
    )
    template = ChatTemplate.from_template(llama_like, ["<|eot_id|>", "<|begin_of_text|>"])
    splitter = QuerySplitter(template, prompt_format="conversational")
    query = (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nIt is 4.<|eot_id|>"
    )
    s = splitter.split(query, None)  # no prompt sent: split on the assistant marker
    assert (s.how, s.prompt, s.response) == (
        "template",
        [{"role": "user", "content": "What is 2+2?"}],
        "It is 4.",
    )
    with pytest.raises(ConfigError, match="not valid Jinja"):
        ChatTemplate.from_template("{% for %}")


def test_overlap_finds_where_a_left_cut_prompt_ends():
    prompt = "System text. User asks: how do magnets work? Assistant:"
    assert overlap_end("asks: how do magnets work? Assistant: They align.", prompt) == len(
        "asks: how do magnets work? Assistant:"
    )
    assert overlap_end("Something unrelated entirely, no overlap here.", prompt) is None


@pytest.fixture
def cli_server(tmp_path):
    """Start ``prefspace serve MODEL ARGS...`` on a free loopback port; yields its URL once /health answers."""
    procs = []

    def start(model, *args):
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
                str(model),
                "--port",
                str(port),
                "--log-level",
                "warning",
                *args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        procs.append((proc, log))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    return url
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not start within 180 s"
            time.sleep(0.3)

    yield start
    for proc, log in procs:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()


def test_replayed_openrlhf_payloads_always_get_a_finite_reward(
    smol_tokenizer, plain_model, minilm, cli_server
):
    """`prefspace serve --tokenizer`: every payload gets 200 and a finite reward; a left-cut prompt scores like the whole one."""
    tok, folder = smol_tokenizer
    url = cli_server(plain_model, "--tokenizer", str(folder), "--scores", "sigmoid")
    got = []
    with httpx.Client(base_url=url, timeout=120) as client:
        for max_prompt_tokens in (4096, 40, 12):  # whole prompts, then prompts cut on the left
            for messages, answer in zip(CONVERSATIONS, ANSWERS):
                out = client.post(
                    "/get_reward", json=openrlhf_payload(tok, messages, answer, max_prompt_tokens)
                )
                assert out.status_code == 200, out.text
                body = out.json()
                assert len(body["rewards"]) == 1 and math.isfinite(body["rewards"][0])
                assert body["scores"][0] == pytest.approx(1 / (1 + math.exp(-body["rewards"][0])))
                got.append(body["rewards"][0])
        # an empty answer (the policy stopped at once) still gets a reward
        out = client.post("/get_reward", json=openrlhf_payload(tok, CONVERSATIONS[0], "", 4096))
        assert out.status_code == 200 and math.isfinite(out.json()["rewards"][0])
        info = client.get("/info").json()["openrlhf"]
    splits = info["splits"]
    assert splits["left_truncated"] >= 5 and splits["prompt"] >= 5 and info["fallbacks"] == 0
    assert info["template"]["has_role_markers"] and info["prompt_format"] == "standard"
    # the reward does not depend on how much of the prompt survived the cut
    got = np.array(got).reshape(3, len(CONVERSATIONS))
    np.testing.assert_allclose(got[1], got[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[2], got[0], rtol=1e-5, atol=1e-5)
    # and it is the reward of the conversation in the training format (one user turn -> plain text)
    expected = RewardScorer(plain_model, encoder=minilm).score(
        [CONVERSATIONS[0][0]["content"], CONVERSATIONS[1][0]["content"]], ANSWERS[:2]
    )
    np.testing.assert_allclose(got[0, :2], expected, rtol=1e-5, atol=1e-5)


def test_wordpiece_decoding_falls_back_without_a_4xx(minilm, model_dirs):
    """MiniLM's tokenizer lowercases and respaces text when decoding: the prompt is not found, the query is still scored."""
    tok = minilm.st.tokenizer
    scorer = RewardScorer(model_dirs["bt"], encoder=minilm)
    with (
        BackgroundServer(create_app(scorer, CONFIG)) as srv,
        httpx.Client(base_url=srv.url, timeout=120) as client,
    ):
        for prompt, answer in [
            ("What is the Capital of France?", "Paris, of course."),
            ("Say HELLO.", "Hello!"),
        ]:
            ids = (
                tok(prompt, add_special_tokens=False)["input_ids"][-3:]
                + tok(answer + " [SEP]", add_special_tokens=False)["input_ids"]
            )
            out = client.post(
                "/get_reward",
                json={"query": [tok.decode(ids)], "prompts": [prompt], "labels": [None]},
            )
            assert out.status_code == 200, out.text
            assert math.isfinite(out.json()["rewards"][0])
        info = client.get("/info").json()["openrlhf"]
    assert info["fallbacks"] == 2 and info["splits"]["whole_query"] == 2


def test_normalisation_and_sigmoid_scores(model_dirs, minilm):
    scorer = RewardScorer(model_dirs["bt"], encoder=minilm)
    prompts = ["Name a fruit.", "Name a fruit.", "Name a fruit."]
    answers = ["An apple.", "A carrot is a fruit.", "Banana."]
    raw = scorer.score(prompts, answers)
    body = {"query": [p + " " + a for p, a in zip(prompts, answers)], "prompts": prompts}
    opts = OpenRLHFOptions(normalize="fixed", mean=0.5, std=2.0, scores="sigmoid")
    with (
        BackgroundServer(create_app(scorer, CONFIG, openrlhf=opts)) as srv,
        httpx.Client(base_url=srv.url, timeout=120) as c,
    ):
        out = c.post("/get_reward", json=body).json()
        info = c.get("/info").json()["openrlhf"]
    np.testing.assert_allclose(out["rewards"], (raw - 0.5) / 2.0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        out["scores"], 1 / (1 + np.exp(-(raw - 0.5) / 2.0)), rtol=1e-5, atol=1e-6
    )
    assert all(0 < s < 1 for s in out["scores"]) and info["scores"] == "sigmoid"
    assert info["normalization"]["mode"] == "fixed"

    running = RewardNormalizer("running")
    first = running([1.0, 3.0])
    assert first == [-1 / math.sqrt(2), 1 / math.sqrt(2)]  # mean 2, sample std sqrt(2)
    running([2.0])
    assert running.info()["n"] == 3 and running.info()["mean"] == pytest.approx(2.0)
    with pytest.raises(ConfigError, match="std > 0"):
        RewardNormalizer("fixed", 0.0, 0.0)
    with pytest.raises(ConfigError, match="not both"):
        OpenRLHFOptions(tokenizer="a", chat_template="b")


def test_every_fallback_is_counted_and_logged_and_untemplated_queries_warned(caplog):
    """No template: a query without a prompt is a counted fallback; chat markup is counted and warned about."""
    splitter = QuerySplitter()
    assert "fallback" in splitter.describe()
    # the option is named as the caller spells it: the keyword from Python, the flag from the CLI
    assert "(tokenizer or chat_template)" in splitter.describe()
    with command_line():
        assert "(--tokenizer or --chat-template)" in splitter.describe()
    with caplog.at_level(logging.WARNING, logger="prefspace.serve.openrlhf"):
        assert splitter.split("Q? A.", "Q?").how == "prompt"
        assert splitter.split("just a query", None).how == "whole_query"
        chatml = "<|im_start|>user\nQ?<|im_end|>\n<|im_start|>assistant\nA.<|im_end|>"
        s = splitter.split(chatml, "<|im_start|>user\nQ?<|im_end|>\n<|im_start|>assistant\n")
    assert s.how == "prompt"
    info = splitter.info()
    assert (
        info["fallbacks"] == 1 and info["untemplated"] == 1 and info["splits"]["whole_query"] == 1
    )
    messages = [r.getMessage() for r in caplog.records]
    assert any("fallback #1" in m for m in messages)
    assert any("looks chat-templated" in m and "policy's tokenizer" in m for m in messages)
    # with a template that has role markers, the startup sentence says how queries are split
    chatml_template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    template = ChatTemplate.from_template(chatml_template, ["<|im_end|>"], name="chatml.jinja")
    assert template.markers is not None and "chatml.jinja" in QuerySplitter(template).describe()
