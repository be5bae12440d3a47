"""Counts checked against prompt_tokens that OpenAI reported for real, recorded requests.

The requests and responses are public test fixtures of other projects, copied with
their provenance into tests/fixtures/realworld/ (see the README and LICENSES there).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import cassette_response
from tokaudit.tokenizers import ChatMessage, TiktokenTokenizer, TokenizerError

OPENAI = Path(__file__).resolve().parents[1] / "fixtures" / "realworld" / "openai"


def _messages(raw: list[dict[str, Any]]) -> list[ChatMessage]:
    return [ChatMessage(m["role"], m["content"], m.get("name")) for m in raw]


def _cassette_cases(filename: str) -> list[Any]:
    document = yaml.safe_load((OPENAI / filename).read_text(encoding="utf-8"))
    cases = []
    for index, interaction in enumerate(document["interactions"]):
        request = json.loads(interaction["request"]["body"])
        usage = cassette_response(interaction["response"]["body"])["usage"]
        cases.append(
            pytest.param(
                request["model"],
                _messages(request["messages"]),
                usage["prompt_tokens"],
                id=f"{filename}[{index}]",
            )
        )
    return cases


def _batch_cases() -> list[Any]:
    def read(name: str) -> list[dict[str, Any]]:
        lines = (OPENAI / name).read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    outputs = {
        row["custom_id"]: row["response"]["body"]["usage"]["prompt_tokens"]
        for row in read("litellm_test_batch_utils_output.jsonl")
    }
    return [
        pytest.param(
            row["body"]["model"],
            _messages(row["body"]["messages"]),
            outputs[row["custom_id"]],
            id=f"litellm_batch[{row['custom_id']}]",
        )
        for row in read("litellm_batch_job_results_furniture.input.jsonl")
    ]


RECORDED_CHAT = [
    *_cassette_cases("otelcontrib_chat_completion_with_content.yaml"),  # gpt-4o-mini: 12
    *_cassette_cases("otelcontrib_chat_completion_streaming.yaml"),  # gpt-4 (cl100k): 12
    *_cassette_cases("openllmetry_openai_prompt_caching.yaml"),  # gpt-4o-mini, long: 1149
    *_batch_cases(),  # gpt-4o-mini: 20 and 22
]


@pytest.fixture(scope="module")
def tokenizer() -> TiktokenTokenizer:
    return TiktokenTokenizer()


def test_fixture_expectations_are_the_ones_documented() -> None:
    """Guard against a parsing bug that would make every case vacuous."""
    expected = sorted(param.values[2] for param in RECORDED_CHAT)
    assert expected == [12, 12, 20, 22, 1149, 1149, 1149, 1149]


@pytest.mark.parametrize(("model", "messages", "prompt_tokens"), RECORDED_CHAT)
def test_chat_count_matches_recorded_usage(
    tokenizer: TiktokenTokenizer, model: str, messages: list[ChatMessage], prompt_tokens: int
) -> None:
    assert tokenizer.count_chat(messages, model) == (prompt_tokens, True)


def test_responses_api_instructions_count_like_a_system_message(
    tokenizer: TiktokenTokenizer,
) -> None:
    """Responses API on gpt-4o-mini: instructions + input reported input_tokens=22."""
    document = yaml.safe_load(
        (OPENAI / "otelcontrib_responses_create_aggregates_cache_tokens.yaml").read_text()
    )
    interaction = document["interactions"][0]
    request = json.loads(interaction["request"]["body"])
    usage = cassette_response(interaction["response"]["body"])["usage"]
    messages = [
        ChatMessage("system", request["instructions"]),
        ChatMessage("user", request["input"]),
    ]
    assert tokenizer.count_chat(messages, request["model"]) == (usage["input_tokens"], True)


def test_reasoning_family_primes_the_reply_with_two(tokenizer: TiktokenTokenizer) -> None:
    """gpt-5.4 reported input_tokens=44 where the gpt-4o framing (priming 3) gives 45."""
    document = yaml.safe_load(
        (OPENAI / "otelcontrib_responses_create_reports_reasoning_tokens.yaml").read_text()
    )
    interaction = document["interactions"][0]
    request = json.loads(interaction["request"]["body"])
    usage = cassette_response(interaction["response"]["body"])["usage"]
    assert tokenizer.count_chat(_messages(request["input"]), request["model"]) == (
        usage["input_tokens"],
        True,
    )


def test_unverified_family_is_labelled_estimate(tokenizer: TiktokenTokenizer) -> None:
    """o1 framing was never checked against recorded usage: counted, not exact."""
    tokens, exact = tokenizer.count_chat([ChatMessage("user", "Say this is a test")], "o1")
    assert (tokens, exact) == (11, False)


@pytest.mark.parametrize(
    ("model", "name", "extra"),
    [
        ("gpt-4o", "alice", 2),  # user : alice
        ("gpt-4o", "user", 1),  # user :user (the colon merges into the name)
        ("gpt-4o", "primary", 2),
        ("gpt-4", "alice", 2),
        ("gpt-4", "example_user", 3),  # the cookbook's name: its 2 tokens + 1
    ],
)
def test_a_name_joins_the_role_as_role_colon_name(
    tokenizer: TiktokenTokenizer, model: str, name: str, extra: int
) -> None:
    """Recorded gpt-4o, gpt-4o-mini and gpt-4.1-nano calls bill ``user:user`` 1 more than
    the role alone and ``user:primary`` 2 more: the header is one text, ``role:name``."""
    plain = tokenizer.count_chat([ChatMessage("user", "Hello world!")], model)[0]
    named = tokenizer.count_chat([ChatMessage("user", "Hello world!", name=name)], model)[0]
    assert named == plain + extra


def test_count_is_per_text_and_in_order(tokenizer: TiktokenTokenizer) -> None:
    texts = ["Say this is a test", "", "Hello world!", "You are an unhelpful assistant."]
    assert tokenizer.count(texts, "gpt-4o-mini") == [5, 0, 3, 8]
    assert tokenizer.count(texts[:1], "openai/gpt-4o-mini") == [5]
    assert tokenizer.count([], "gpt-4o") == []


def test_vocabulary_choice_changes_counts(tokenizer: TiktokenTokenizer) -> None:
    text = "Tokenization differs between vocabularies: 日本語のテキスト"
    assert tokenizer.count([text], "gpt-4o") != tokenizer.count([text], "gpt-4")


def test_uncovered_model_is_an_error_naming_it(tokenizer: TiktokenTokenizer) -> None:
    with pytest.raises(TokenizerError, match="claude-sonnet-4-5"):
        tokenizer.count(["hi"], "claude-sonnet-4-5")
    with pytest.raises(TokenizerError, match=r"gemini-2\.5-flash"):
        tokenizer.count_chat([ChatMessage("user", "hi")], "gemini-2.5-flash")


def test_an_assistant_turn_costs_two_more_on_gpt5_and_is_an_estimate(
    tokenizer: TiktokenTokenizer,
) -> None:
    """Two recorded gpt-5.4 chats with 1 and 3 assistant turns were 2 and 6 under without
    the 2; o3-mini histories agree without it."""
    chat = [
        ChatMessage("user", "My name is Steve"),
        ChatMessage("assistant", "Hello Steve, how can I help you today?"),
        ChatMessage("user", "What is my name?"),
    ]
    texts = ["user", "My name is Steve", "assistant", "Hello Steve, how can I help you today?"]
    base = sum(tokenizer.count([*texts, "user", "What is my name?"], "gpt-5.4")) + 3 * 3
    assert tokenizer.count_chat(chat, "gpt-5.4") == (base + 2 + 2, False)  # +2, priming 2
    assert tokenizer.count_chat(chat[:1], "gpt-5.4")[1] is True
    assert tokenizer.count_chat(chat, "o3-mini") == (base + 2, True)
