"""Request shapes from every log format reach the same accounting.

Expectations are built from plain tiktoken counts of the texts involved plus the framing
constants of docs/recount.md, never from the recount itself.
"""

from __future__ import annotations

from typing import Any

from tokaudit.recount import count_request
from tokaudit.recount.render import format_functions
from tokaudit.tokenizers import TiktokenTokenizer

TOK = TiktokenTokenizer()


def n(*texts: str, model: str = "gpt-4o-mini") -> int:
    return sum(TOK.count(list(texts), model))


PLAIN = 3 + n("user") + n("Say this is a test") + 3  # = 12, as OpenAI reported


def test_bare_message_list_and_otel_parts_count_like_chat() -> None:
    assert PLAIN == 12
    bare: Any = [{"role": "user", "content": "Say this is a test"}]
    assert count_request(bare, "gpt-4o-mini").input_tokens == PLAIN
    otel = {
        "system_instructions": [{"type": "text", "content": "You are terse."}],
        "messages": [
            {"role": "user", "parts": [{"type": "text", "content": "Say this is a test"}]}
        ],
    }
    got = count_request(otel, "gpt-4o-mini")
    assert (got.input_tokens, got.input_exact) == (
        PLAIN + 3 + n("system") + n("You are terse."),
        True,
    )


def test_responses_items_resolve_the_function_name() -> None:
    body = {
        "instructions": "Be brief.",
        "input": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "type": "function_call",
                "call_id": "c1",
                "name": "get_weather",
                "arguments": '{"city":"Paris"}',
            },
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
        ],
    }
    expected = (
        3
        + n("system")
        + n("Be brief.")
        + 3
        + n("user")
        + n("Weather in Paris?")
        + 3
        + n("assistant to=functions.get_weather")
        + n('{"city":"Paris"}')
        + 3
        + n("functions.get_weather")
        + n("sunny")
        + 2  # the reply answers one call
        + 3
    )
    got = count_request(body, "gpt-4o-mini")
    assert (got.input_tokens, got.input_exact) == (expected, False)


def test_legacy_functions_and_function_call() -> None:
    functions = [
        {
            "name": "lookup",
            "description": "Find a word",
            "parameters": {
                "type": "object",
                "properties": {"word": {"type": "string"}},
                "required": ["word"],
            },
        }
    ]
    text, simple = format_functions(functions)
    assert simple and text == (
        "namespace functions {\n\n// Find a word\ntype lookup = (_: {\nword: string,\n"
        "}) => any;\n\n} // namespace functions"
    )
    body = {
        "messages": [{"role": "user", "content": "hi"}],
        "functions": functions,
        "function_call": "none",
    }
    got = count_request(body, "gpt-4")
    assert (
        got.input_tokens == 3 + n("user", "hi", model="gpt-4") + 3 + n(text, model="gpt-4") + 9 + 1
    )
    assert not got.input_exact  # function_call "none" is an estimate (hmarr)


def test_anthropic_and_gemini_shapes_are_estimates() -> None:
    anthropic = {
        "system": [{"type": "text", "text": "You are terse."}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Say this is a test"}]}],
    }
    got = count_request(anthropic, "claude-sonnet-4-5", "anthropic")
    assert got.input_tokens == 3 + n("system", "You are terse.") + PLAIN
    assert (got.input_exact, got.tokenizer) == (False, "estimate-o200k")
    gemini = {
        "contents": [
            {"role": "user", "parts": [{"text": "Say this is a test"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},
        ]
    }
    got = count_request(gemini, "gemini-2.5-flash", "google")
    assert got.input_tokens == n("Say this is a test") + n("f", "{}")  # Gemini: no framing
    assert not got.input_exact


def test_unknown_model_gets_the_labelled_estimate() -> None:
    got = count_request(
        {"messages": [{"role": "user", "content": "Say this is a test"}]}, "acme-llm-7b"
    )
    assert (got.input_tokens, got.input_exact, got.tokenizer) == (PLAIN, False, "estimate-o200k")
