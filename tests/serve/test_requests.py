"""Parsing and limits of the reward server's request bodies (no model needed)."""

from __future__ import annotations

import pydantic
import pytest

from prefspace.exceptions import ConfigError
from prefspace.serve.openrlhf import parse_get_reward, split_query
from prefspace.serve.requests import (
    GetRewardBody,
    RequestError,
    ScoreBody,
    ServeConfig,
    decode_body,
    parse_score,
)

CFG = ServeConfig(max_items=8, max_text_chars=100)


def test_split_query_strips_the_given_prompt_prefix():
    assert split_query("Human: hi\n\nAssistant: hello", "Human: hi\n\nAssistant:") == (
        "Human: hi\n\nAssistant:",
        " hello",
    )


def test_split_query_without_prompt_scores_the_whole_text():
    assert split_query("just a response", None) == ("", "just a response")
    assert split_query("just a response", "") == ("", "just a response")


def test_split_query_finds_the_prompt_after_a_bos_token_and_strips_tokens():
    assert split_query("<s>Q: 2+2? A: 4</s>", "Q: 2+2? A:", strip=("<s>", "</s>")) == (
        "Q: 2+2? A:",
        " 4",
    )


def test_split_query_strips_the_tokens_from_the_prompt_too():
    assert split_query("<s>Q: hi</s> A: yes</s>", "<s>Q: hi</s>", strip=("<s>", "</s>")) == (
        "Q: hi",
        " A: yes",
    )


def test_split_query_scores_the_whole_query_when_the_prompt_is_not_in_it():
    # no template to split on: the whole query is the response, with the given prompt (a counted fallback)
    assert split_query("completely different", "Q: 2+2?") == ("Q: 2+2?", "completely different")


def test_get_reward_parses_openrlhf_body_and_ignores_labels():
    prompts, responses = parse_get_reward(
        {"query": ["P1 R1", "P2 R2"], "prompts": ["P1", "P2"], "labels": ["x", "y"]}, CFG
    )
    assert prompts == ["P1", "P2"]
    assert responses == [" R1", " R2"]


def test_get_reward_answers_a_query_without_its_prompt_and_clips_long_texts():
    prompts, responses = parse_get_reward(
        {"query": ["P1 R1", "other"], "prompts": ["P1", "P2"]}, CFG
    )
    assert prompts == ["P1", "P2"] and responses == [" R1", "other"]
    # longer than max_text_chars=100: the end (where the response is) is kept, not refused
    prompts, responses = parse_get_reward(
        {"query": ["x" * 150 + " the answer"], "prompts": ["x" * 150]}, CFG
    )
    assert responses == ["the answer"] and prompts == ["x" * 100]


def test_get_reward_needs_query_and_matching_prompt_count():
    with pytest.raises(RequestError, match="missing key 'query'"):
        parse_get_reward({"prompts": ["a"]}, CFG)
    with pytest.raises(RequestError, match="'prompts' has 1 entries but 'query' has 2"):
        parse_get_reward({"query": ["a", "b"], "prompts": ["a"]}, CFG)
    with pytest.raises(RequestError, match=r"'query\[1\]' must be a string; got int"):
        parse_get_reward({"query": ["a", 3]}, CFG)


def test_limits_name_the_limit():
    with pytest.raises(RequestError, match="max_items=8") as err:
        parse_get_reward({"query": ["x"] * 9}, CFG)
    assert err.value.status == 422 and err.value.limit == "max_items"
    with pytest.raises(
        RequestError, match=r"response\[0\] has 101 characters .* max_text_chars=100"
    ) as err:
        parse_score({"prompt": "p", "response": ["y" * 101]}, CFG)
    assert err.value.limit == "max_text_chars"
    with pytest.raises(RequestError, match=r"prompt\[0\] has 150 characters"):
        parse_score({"prompt": "p" * 150, "response": ["ok"]}, CFG)


def test_pairs_count_twice_toward_max_items():
    with pytest.raises(RequestError, match="holds 10 texts"):
        parse_score({"prompt": ["p"] * 5, "chosen": ["a"] * 5, "rejected": ["b"] * 5}, CFG)


def test_score_accepts_lists_a_shared_prompt_and_conversations():
    req = parse_score({"prompt": ["p1", "p2"], "response": ["r1", "r2"]}, CFG)
    assert (req.prompts, req.responses, req.rejected) == (["p1", "p2"], ["r1", "r2"], None)

    req = parse_score({"prompt": "shared", "response": ["a", "b", "c"]}, CFG)
    assert req.prompts == ["shared"] * 3

    conv = [{"role": "user", "content": "hi"}]
    req = parse_score(
        {"prompt": conv, "response": [[{"role": "assistant", "content": "hello"}]]}, CFG
    )
    assert req.prompts == [conv] and req.responses == ["hello"]

    req = parse_score({"messages": [conv + [{"role": "assistant", "content": "yo"}]]}, CFG)
    assert req.prompts == [conv] and req.responses == ["yo"]


def test_score_pairs():
    req = parse_score({"prompt": ["p"], "chosen": ["good"], "rejected": ["bad"]}, CFG)
    assert (req.responses, req.rejected) == (["good"], ["bad"])


@pytest.mark.parametrize(
    "body, message",
    [
        ({"prompts": ["p"], "response": ["r"]}, "unknown key\\(s\\) 'prompts'"),
        ({"response": ["r"]}, "missing key 'prompt'"),
        ({"prompt": ["p"]}, "missing key 'response'"),
        ({"prompt": ["p"], "chosen": ["a"]}, "need both 'chosen' and 'rejected'"),
        ({"prompt": ["p"], "response": ["r"], "chosen": ["a"], "rejected": ["b"]}, "not both"),
        ({"prompt": ["p", "q"], "response": ["r"]}, "'prompt' has 2 entries but 'response' has 1"),
        ({"prompt": ["p"], "response": [5]}, "'response\\[0\\]' must be a string"),
        (
            {"messages": [[{"role": "user", "content": "hi"}]]},
            "must end with the assistant response",
        ),
        ({"prompt": [[{"role": "user"}]], "response": ["r"]}, "must be a message"),
    ],
)
def test_score_refuses_bad_bodies_with_a_reason(body, message):
    with pytest.raises(RequestError, match=message) as err:
        parse_score(body, CFG)
    assert err.value.status == 422


def test_decode_body_malformed_json_is_400_and_non_object_is_422():
    with pytest.raises(RequestError, match="malformed JSON") as err:
        decode_body(b'{"query": [')
    assert err.value.status == 400
    with pytest.raises(RequestError, match="not UTF-8") as err:
        decode_body(b"\xff\xfe{")
    assert err.value.status == 400
    with pytest.raises(RequestError, match="must be a JSON object; got a JSON list") as err:
        decode_body(b"[1, 2]")
    assert err.value.status == 422


def test_serve_config_refuses_bad_settings():
    with pytest.raises(ConfigError, match="max_items must be >= 1"):
        ServeConfig(max_items=0)
    with pytest.raises(ConfigError, match="strip must hold non-empty strings"):
        ServeConfig(strip=("",))


# ---------------------------------------------------------------------------- the models
@pytest.mark.parametrize(
    "body, message",
    [
        ({"prompt": 5, "response": ["r"]}, "'prompt' must be a string, a conversation .* got int"),
        ({"prompt": "p", "response": [{"a": 1}]}, r"'response\[0\]' must be a string"),
        ({"prompt": "p", "chosen": ["a"], "rejected": [None]}, r"'rejected\[0\]' must be"),
        ({"messages": {"role": "user"}}, "'messages' must be a list of conversations; got dict"),
        ({"messages": [["hi"]]}, r"'messages\[0\]\[0\]' must be a message"),
    ],
)
def test_score_body_names_the_field_of_a_wrong_type(body, message):
    with pytest.raises(RequestError, match=message) as err:
        parse_score(body, CFG)
    assert err.value.status == 422 and err.value.limit is None


@pytest.mark.parametrize(
    "body, message",
    [
        ({"query": 3}, "'query' must be a list of strings; got int"),
        ({"query": None}, "'query' must be a list of strings; got null"),
        ({"query": ["a"], "prompts": 7}, "'prompts' must be a list of strings; got int"),
        ({"query": ["a"], "prompts": [["a"]]}, r"'prompts\[0\]' must be a string; got list"),
    ],
)
def test_get_reward_body_names_the_field_of_a_wrong_type(body, message):
    with pytest.raises(RequestError, match=message) as err:
        parse_get_reward(body, CFG)
    assert err.value.status == 422


def test_get_reward_missing_query_is_described_and_prompts_may_be_null():
    with pytest.raises(RequestError, match=r"^/get_reward: missing key 'query' \(a list of"):
        parse_get_reward({"labels": [1]}, CFG)
    assert parse_get_reward({"query": "just text", "prompts": None}, CFG) == ([""], ["just text"])


def test_score_body_is_a_typed_model_validated_under_the_config():
    body = ScoreBody.model_validate(
        {"prompt": "p", "chosen": "a", "rejected": "b"}, context={"config": CFG}
    )
    assert (body.prompt, body.chosen, body.rejected, body.response) == (["p"], ["a"], ["b"], None)
    with pytest.raises(pydantic.ValidationError, match="max_items=8"):
        ScoreBody.model_validate({"prompt": "p", "response": ["r"] * 9}, context={"config": CFG})
    with pytest.raises(pydantic.ValidationError, match="max_text_chars=100"):
        ScoreBody.model_validate({"prompt": "p", "response": "r" * 101}, context={"config": CFG})
    with pytest.raises(pydantic.ValidationError, match="holds 9 queries .* max_items=8"):
        GetRewardBody.model_validate({"query": ["x"] * 9}, context={"config": CFG})
    with pytest.raises(RequestError, match=r"unknown key\(s\) 'extra'") as err:
        parse_score({"prompt": "p", "response": "r", "extra": 1}, CFG)
    assert "accepted keys: prompt, response, chosen, rejected, messages" in err.value.message


def test_decode_body_refuses_huge_integers_and_deep_nesting_with_400():
    with pytest.raises(RequestError, match="an integer of 5,000 digits") as err:
        decode_body(b'{"query": [' + b"9" * 5000 + b"]}")
    assert err.value.status == 400
    with pytest.raises(RequestError, match="nested too deeply") as err:
        decode_body(b'{"query": ' + b"[" * 50_000 + b"]" * 50_000 + b"}")
    assert err.value.status == 400


def test_a_lone_surrogate_in_a_request_names_the_field_and_no_row_skipping():
    with pytest.raises(RequestError, match=r"'response\[0\]' holds a lone UTF-16 surrogate") as err:
        parse_score({"prompt": "p", "response": ["bad \ud800"]}, CFG)
    assert err.value.status == 422 and "on_bad_rows" not in err.value.message
