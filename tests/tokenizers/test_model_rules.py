"""Model id -> encoding rules (data/model_encodings.yaml) and model id normalisation."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokaudit.tokenizers import (
    ChatMessage,
    EstimateTokenizer,
    TiktokenTokenizer,
    TokenizerError,
    normalize_model,
)
from tokaudit.tokenizers.tiktoken_plugin import load_model_rules


@pytest.fixture(scope="module")
def tokenizer() -> TiktokenTokenizer:
    return TiktokenTokenizer()


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini-2024-07-18", "o200k_base"),
        ("chatgpt-4o-latest", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("gpt-4.5-preview", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("gpt-5.4-2026-03-05", "o200k_base"),
        ("o1", "o200k_base"),
        ("o1-mini", "o200k_base"),
        ("o3-2025-04-16", "o200k_base"),
        ("o4-mini", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-0613", "cl100k_base"),
        ("gpt-4-turbo-2024-04-09", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("gpt-3.5-turbo-0301", "cl100k_base"),
        ("gpt-35-turbo", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
        ("text-embedding-ada-002", "cl100k_base"),
        # decorations found in logs
        ("openai/gpt-4o-mini", "o200k_base"),
        ("openrouter/openai/gpt-4o", "o200k_base"),
        ("  GPT-4O  ", "o200k_base"),
        ("ft:gpt-4o-mini-2024-07-18:acme::9xYz", "o200k_base"),
        ("azure/gpt-35-turbo", "cl100k_base"),
        ("gpt-oss-120b", "o200k_harmony"),
        ("groq/openai/gpt-oss-20b", "o200k_harmony"),
    ],
)
def test_encoding_for(tokenizer: TiktokenTokenizer, model: str, encoding: str) -> None:
    assert tokenizer.covers(model)
    assert tokenizer.encoding_for(model) == encoding


@pytest.mark.parametrize(
    "model",
    [
        "claude-sonnet-4-5",
        "anthropic/claude-3-5-haiku-20241022",
        "gemini-2.5-flash",
        "vertex_ai/gemini-1.5-pro",
        "gpt-4.7",  # unknown future family: not guessed as cl100k
        "o10",
        "",
    ],
)
def test_not_covered(tokenizer: TiktokenTokenizer, model: str) -> None:
    assert not tokenizer.covers(model)
    with pytest.raises(TokenizerError):
        tokenizer.encoding_for(model)


@pytest.mark.parametrize(
    ("model", "exact"),
    [
        ("gpt-4o-mini", True),
        ("gpt-4-0613", True),
        ("gpt-3.5-turbo-0125", True),
        ("gpt-3.5-turbo-0301", False),
        ("gpt-4.1", True),
        ("gpt-4.5-preview", True),  # one recorded call: "hello" -> 8
        ("gpt-5", True),
        ("o3-mini", True),
        ("o1", False),
        ("gpt-oss-120b", False),
    ],
)
def test_chat_exactness_follows_the_rules(
    tokenizer: TiktokenTokenizer, model: str, exact: bool
) -> None:
    assert tokenizer.count_chat([ChatMessage("user", "hi")], model)[1] is exact
    assert tokenizer.exact_for(model)  # plain-text counts are exact for every covered model


def test_normalize_model() -> None:
    assert normalize_model("OpenAI/GPT-4o-Mini") == "gpt-4o-mini"
    assert normalize_model("ft:gpt-3.5-turbo-0125:org:custom:id") == "gpt-3.5-turbo-0125"
    assert normalize_model("claude-sonnet-4-5") == "claude-sonnet-4-5"


def test_estimator_is_labelled_and_never_exact() -> None:
    estimate = EstimateTokenizer()
    assert estimate.name == "estimate-o200k"
    assert estimate.covers("claude-sonnet-4-5")
    assert estimate.encoding_for("gemini-2.5-flash") == "o200k_base"
    assert not estimate.exact_for("claude-sonnet-4-5")
    assert not estimate.exact_for("gpt-4o")
    tokens, exact = estimate.count_chat([ChatMessage("user", "Say this is a test")], "claude")
    assert (tokens, exact) == (12, False)


def test_version_tracks_rules(tmp_path: Path) -> None:
    default = TiktokenTokenizer().version
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {prefix: gpt-4o, encoding: o200k_base}\n", encoding="utf-8")
    custom = TiktokenTokenizer(rules_file=rules)
    assert custom.version != default
    assert custom.covers("gpt-4o") and not custom.covers("gpt-4")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("rules: [", "not valid YAML"),
        ("models: []", "top-level 'rules:' list"),
        ("rules:\n  - gpt-4o", r"rules\[0\]: expected a mapping"),
        ("rules:\n  - {encoding: o200k_base}", r"rules\[0\]: needs exactly one"),
        ("rules:\n  - {exact: a, prefix: b, encoding: o200k_base}", "needs exactly one"),
        ("rules:\n  - {prefix: gpt, encoding: p50k_base}", "'p50k_base' is not one of"),
        ("rules:\n  - {prefix: gpt, encoding: o200k_base, chat_exact: 'yes'}", "chat_exact"),
        ("rules:\n  - {prefix: gpt, encoding: o200k_base, reply_exact: 1}", "reply_exact"),
        ("rules:\n  - {prefix: gpt, encoding: o200k_base, enc: x}", "unknown keys"),
        ("rules:\n  - {prefix: gpt, encoding: o200k_base, reply_priming: -1}", "reply_priming"),
        ("rules:\n  - {prefix: gpt, encoding: o200k_base, image: {base: 85}}", "image must"),
        ("rules:\n  - {prefix: gpt, encoding: o200k_base, image: {patch: 1, tile: 2}}", "image"),
        ("rules:\n  - {prefix: gpt, encoding: o200k_base, framing: chatml}", "framing must"),
        (
            "rules:\n  - {prefix: gpt, encoding: o200k_base, tools_overhead: 1.5}",
            "tools_overhead must",
        ),
        (
            "rules:\n  - {prefix: gpt, encoding: o200k_base, tokens_per_message: -4}",
            "tokens_per_message must",
        ),
    ],
)
def test_invalid_rules_name_file_and_rule(text: str, error: str) -> None:
    with pytest.raises(TokenizerError, match=error) as info:
        load_model_rules(text, "my_rules.yaml", ["o200k_base", "cl100k_base"])
    assert "my_rules.yaml" in str(info.value)


@pytest.mark.parametrize(
    ("model", "priming", "base", "tile", "patch"),
    [
        ("gpt-4o-2024-08-06", 3, 85, 170, None),
        ("gpt-4o-mini", 3, 2833, 5667, None),  # OpenAI vision guide: mini images cost more
        ("gpt-4.1-nano", 3, None, None, 2.46),
        ("o4-mini", 2, None, None, 1.72),
        ("gpt-5", 2, 70, 140, None),
        ("gpt-4-turbo", 3, 85, 170, None),
    ],
)
def test_chat_profiles_follow_the_rules(
    tokenizer: TiktokenTokenizer,
    model: str,
    priming: int,
    base: int | None,
    tile: int | None,
    patch: float | None,
) -> None:
    profile = tokenizer.chat_profile(model)
    assert (profile.reply_priming, profile.image_base, profile.image_tile) == (priming, base, tile)
    assert profile.image_patch_multiplier == patch
    assert profile.reasoning is (priming == 2)
    # GPT-5's tool prompt says more; o4-mini's block was billed 4 more (one conversation)
    assert profile.tools_overhead == {"gpt-5": 90, "o4-mini": 9}.get(model, 5)
    assert profile.framing == "openai"


def test_gpt35_turbo_0301_frames_each_message_with_four_tokens() -> None:
    """The cookbook's 0301 framing; one recorded "Hello!" on it was billed 10."""
    from tokaudit.recount import count_request

    body = {"messages": [{"role": "user", "content": "Hello!"}]}
    got = count_request(body, "gpt-3.5-turbo-0301")
    tokens = TiktokenTokenizer().get_encoding("cl100k_base").encode_ordinary
    assert got.input_tokens == 4 + len(tokens("user")) + len(tokens("Hello!")) + 3 == 10
    assert not got.input_exact  # how a name replaces the role is not modelled
    assert count_request(body, "gpt-3.5-turbo-0125").input_tokens == 9


def test_a_rule_can_ask_for_plain_framing() -> None:
    [rule] = load_model_rules(
        "rules:\n  - {prefix: gpt-x, encoding: o200k_base, framing: plain}",
        "r.yaml",
        ["o200k_base"],
    )
    assert rule.profile().framing == "plain"


def test_profile_key_changes_with_any_counting_field() -> None:
    from tokaudit.tokenizers import ChatProfile

    keys = {
        ChatProfile().key,
        ChatProfile(exact=True).key,
        ChatProfile(reply_exact=False).key,
        ChatProfile(reply_priming=2).key,
        ChatProfile(image_base=85, image_tile=170).key,
        ChatProfile(framing="plain").key,
        ChatProfile(tools_overhead=90).key,
    }
    assert len(keys) == 7
    assert ChatProfile(note="x").key == ChatProfile().key


@pytest.mark.parametrize(
    ("model", "reply_exact"),
    [
        ("gpt-4o-2024-08-06", False),
        ("gpt-4.5-preview", False),
        ("gpt-4o-mini", False),
        ("gpt-4.1-mini", True),
    ],
)
def test_reply_exactness_follows_the_recorded_replies(
    tokenizer: TiktokenTokenizer, model: str, reply_exact: bool
) -> None:
    """gpt-4o(-mini) and gpt-4.5 replies were billed one token over their text in some
    recorded calls (docs/recount.md); gpt-4.1 replies agree."""
    profile = tokenizer.chat_profile(model)
    assert profile.exact is True and profile.reply_exact is reply_exact
