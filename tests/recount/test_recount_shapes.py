"""Request shapes from every log format reach the same accounting.

Expectations are built from plain tiktoken counts of the texts involved plus the framing
constants of docs/recount.md, never from the recount itself.
"""

from __future__ import annotations

import base64
import itertools
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tokaudit.ingest import ingest_paths
from tokaudit.recount import count_request, recount
from tokaudit.recount.render import format_functions
from tokaudit.store import open_store
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


# Responses API items and their Chat Completions twins
_QA_USER = {"role": "user", "content": "Weather in Paris today?"}
_QA_PARAMETERS = {"type": "object", "properties": {"city": {"type": "string"}}}
_QA_CHAT_TOOLS = [
    {"type": "function", "function": {"name": "weather", "parameters": _QA_PARAMETERS}}
]
_QA_RESPONSES_TOOLS = [{"type": "function", "name": "weather", "parameters": _QA_PARAMETERS}]


def _call(i: int) -> dict[str, Any]:
    return {
        "type": "function_call",
        "call_id": f"c{i}",
        "name": "weather",
        "arguments": json.dumps({"city": f"P{i}"}),
    }


def _output(i: int) -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": f"c{i}", "output": f"sunny {i}"}


def _chat_calls(ids: list[int]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": f"c{i}",
                "type": "function",
                "function": {"name": "weather", "arguments": json.dumps({"city": f"P{i}"})},
            }
            for i in ids
        ],
    }


def _chat_result(i: int) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": f"c{i}", "content": f"sunny {i}"}


def _same(a: Any, b: Any) -> bool:
    return (a.input_tokens, a.input_exact) == (b.input_tokens, b.input_exact)


def test_responses_function_calls_in_a_row_count_as_chats_parallel_calls() -> None:
    """Responses API function calls in a row are one assistant turn of parallel calls, as a
    Chat message with several tool_calls is (and their outputs the joint result message):
    each request counts as its Chat twin does, whatever follows the results."""
    for model in ("gpt-4o", "gpt-5-mini"):
        for after in (None, {"role": "user", "content": "And tomorrow?"}):
            for calls in (1, 2, 3):
                ids = list(range(calls))
                chat = [_QA_USER, _chat_calls(ids), *(_chat_result(i) for i in ids)]
                items = [_QA_USER, *(_call(i) for i in ids), *(_output(i) for i in ids)]
                if after is not None:
                    chat.append(after)
                    items.append(after)
                responses = {"input": items, "tools": _QA_RESPONSES_TOOLS}
                twin = {"messages": chat, "tools": _QA_CHAT_TOOLS}
                assert count_request(responses, model) == count_request(twin, model)


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
    bare = -1  # no property carries a comment
    assert (
        got.input_tokens
        == 3 + n("user", "hi", model="gpt-4") + 3 + n(text, model="gpt-4") + 9 + bare + 1
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


def test_gemini_system_instruction_and_tools_are_counted() -> None:
    """A Gemini ``systemInstruction`` is a Content, ``{"parts": [...]}``, and its tools are
    ``functionDeclarations``: both were counted as nothing (QA: a 600-token system prompt
    recounted as 2 tokens, and priced from that)."""
    system = "You are a meticulous assistant who answers in French."
    user = "What's the weather in Paris?"
    declarations = [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Get the current weather for a city",
                    "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}},
                }
            ]
        }
    ]
    contents = [{"role": "user", "parts": [{"text": user}]}]
    for shape in ({"parts": [{"text": system}]}, {"role": "system", "parts": [{"text": system}]}):
        got = count_request(
            {"systemInstruction": shape, "contents": contents}, "gemini-2.5-flash", "google"
        )
        assert (got.input_tokens, got.input_exact) == (n(system) + n(user), False)
    compact = '[{"functionDeclarations":[{"name":"get_weather","description":"Get the current '
    compact += 'weather for a city","parameters":{"type":"OBJECT","properties":{"city":'
    compact += '{"type":"STRING"}}}}]}]'
    assert json.loads(compact) == declarations
    got = count_request({"contents": contents, "tools": declarations}, "gemini-2.5-flash", "google")
    assert (got.input_tokens, got.input_exact) == (n(user) + n(compact), False)


def test_gemini_system_instruction_in_snake_case_is_stored_and_counted(tmp_path: Path) -> None:
    """The REST API takes ``system_instruction`` as well; ingest kept only the camel case."""
    system = "You are a meticulous assistant who answers in French."
    user = "What's the weather in Paris?"
    records = [
        {
            "timestamp": "2026-10-05T10:00:00Z",
            "provider": "google",
            "request_id": f"g-{key}",
            "request": {
                "model": "gemini-2.5-flash",
                key: {"parts": [{"text": system}]},
                "contents": [{"role": "user", "parts": [{"text": user}]}],
            },
            "response": {"candidates": [], "modelVersion": "gemini-2.5-flash"},
        }
        for key in ("systemInstruction", "system_instruction")
    ]
    con = _recounted_store(tmp_path, records)
    got = con.execute(
        "SELECT request_id, recounted_input_tokens FROM token_audit ORDER BY 1"
    ).fetchall()
    assert got == [
        ("g-systemInstruction", n(system) + n(user)),
        ("g-system_instruction", n(system) + n(user)),
    ]


def test_a_gpt5_assistant_message_costs_the_same_as_text_or_parts() -> None:
    """GPT-5 bills 2 more for an assistant message of the history (an estimate); a message
    whose content is a plain string took a shortcut without them, labelled exact (QA: a
    recorded gpt-5.4 chat, 35 billed, 33 recounted as exact, flagged by D15)."""
    for content in ("Two", [{"type": "text", "text": "Two"}]):
        body = {
            "messages": [
                {"role": "user", "content": "One"},
                {"role": "assistant", "content": content},
            ]
        }
        got = count_request(body, "gpt-5")
        framing = 3 + n("user", "One", model="gpt-5") + 3 + n("assistant", "Two", model="gpt-5")
        assert (got.input_tokens, got.input_exact) == (framing + 2 + 2, False), content


def test_unknown_model_gets_the_labelled_estimate() -> None:
    got = count_request(
        {"messages": [{"role": "user", "content": "Say this is a test"}]}, "acme-llm-7b"
    )
    assert (got.input_tokens, got.input_exact, got.tokenizer) == (PLAIN, False, "estimate-o200k")


def _tools_request(*functions: dict[str, Any], system: bool = False) -> dict[str, Any]:
    messages = [{"role": "user", "content": "hi"}]
    if system:
        messages.insert(0, {"role": "system", "content": "Be brief."})
    return {"messages": messages, "tools": [{"type": "function", "function": f} for f in functions]}


def _tools_cost(function: dict[str, Any], model: str) -> int:
    """What one function's tools block adds to a one-message request."""
    messages = [{"role": "user", "content": "Hi"}]
    tools = [{"type": "function", "function": function}]
    with_tools = count_request({"messages": messages, "tools": tools}, model).input_tokens
    without = count_request({"messages": messages}, model).input_tokens
    assert with_tools is not None and without is not None
    return with_tools - without


def test_docstring_descriptions_are_commented_line_by_line() -> None:
    """An indented, multi-line description: each line trimmed and commented on its own."""
    function = {
        "name": "c_to_f",
        "description": "Convert Celsius.\n\n    Args:\n        c: degrees\n    ",
        "parameters": {"type": "object", "properties": {}},
    }
    text, _ = format_functions([function])
    assert text == (
        "namespace functions {\n\n// Convert Celsius.\n//\n// Args:\n// c: degrees\n"
        "type c_to_f = () => any;\n\n} // namespace functions"
    )


def test_titles_are_comments_and_defaults_are_json() -> None:
    function = {
        "name": "f",
        "parameters": {
            "type": "object",
            "properties": {
                "isbn": {"title": "Isbn", "description": "The book", "type": "string"},
                "flag": {"type": "boolean", "default": False},
                "note": {"type": "string", "default": "none"},
            },
            "required": ["isbn"],
        },
    }
    text, simple = format_functions([function])
    assert text.split("\n")[3:8] == [
        "// Isbn",
        "// The book",
        "isbn: string,",
        "flag?: boolean, // default: false",
        'note?: string, // default: "none"',
    ]
    assert not simple  # defaults are an estimate


def test_local_references_are_drawn_inline() -> None:
    function = {
        "name": "final",
        "parameters": {
            "$defs": {"Item": {"type": "object", "properties": {"label": {"type": "string"}}}},
            "type": "object",
            "properties": {"items": {"type": "array", "items": {"$ref": "#/$defs/Item"}}},
            "required": ["items"],
        },
    }
    text, simple = format_functions([function])
    assert "items: {\nlabel?: string,\n}[]," in text
    assert not simple


# one function whose parameter is a described object with a described field
_POINT_FUNCTION = {
    "name": "f",
    "parameters": {
        "type": "object",
        "properties": {
            "point": {
                "type": "object",
                "description": "Where",
                "properties": {"x": {"type": "number", "description": "Across"}},
                "required": ["x"],
            }
        },
        "required": ["point"],
    },
}


def test_nested_objects_are_drawn_unindented_and_estimated() -> None:
    """A nested object's lines start at the margin (12 pydantic-ai and 2 sublayer recorded
    gpt-4o requests agree only so); hmarr's gpt-3.5 example indented them: an estimate."""
    text, simple = format_functions([_POINT_FUNCTION])
    assert text.split("\n")[2:9] == [
        "type f = (_: {",
        "// Where",
        "point: {",
        "// Across",
        "x: number,",
        "},",
        "}) => any;",
    ]
    assert not simple


def test_nested_objects_keep_hmarrs_indent_on_cl100k_models() -> None:
    """cl100k families indent a nested object's lines by 2 (hmarr's gpt-3.5 check), o200k
    families draw them flush."""
    tokenizer = TiktokenTokenizer()
    assert tokenizer.chat_profile("gpt-3.5-turbo").nested_indent == 2
    assert tokenizer.chat_profile("gpt-4-0613").nested_indent == 2
    assert tokenizer.chat_profile("gpt-4o").nested_indent == 0
    assert tokenizer.chat_profile("gpt-4.1-mini").nested_indent == 0
    indented, _ = format_functions([_POINT_FUNCTION], 2)
    assert "point: {\n  // Across\n  x: number,\n}," in indented
    assert format_functions([_POINT_FUNCTION])[0] == indented.replace("\n  ", "\n")
    # end to end, the recorded calls check both: 14 o200k requests agree only flush, and
    # instructor-rb's gpt-3.5 request keeps its indented count (test_recount_real_requests)


def test_each_function_without_property_comments_is_one_token_shorter() -> None:
    """Strict or not: a function whose properties carry no title, description or default
    costs one token less than its drawn text (14 recorded tool lists)."""
    bare = {
        "name": "f",
        "parameters": {
            "type": "object",
            "properties": {"path": {"type": "string"}},
            "required": ["path"],
        },
    }
    described = dict(
        bare,
        name="g",
        parameters={
            "type": "object",
            "properties": {"path": {"type": "string", "description": "Where"}},
            "required": ["path"],
        },
    )
    defaulted = dict(
        bare,
        name="h",
        parameters={"type": "object", "properties": {"flag": {"type": "boolean", "default": True}}},
    )
    functions = [bare, dict(bare, name="s", strict=True), described, defaulted]
    text, _ = format_functions(functions)
    got = count_request(_tools_request(*functions), "gpt-4o")
    assert got.input_tokens == 3 + n("user", "hi") + 3 + n(text) + 5 + 4 - 2
    assert not got.input_exact  # a strict schema and a default are estimates


def test_the_tools_block_and_its_system_message() -> None:
    """5 besides the block's text inside the request's system message, and 4 more for a
    system message of its own; GPT-5's tool prompt costs 90 instead of 5, and the system
    message the tools bring 1 (3 less: ``added_message_less``)."""
    function = {
        "name": "f",
        "parameters": {"type": "object", "properties": {"x": {"type": "string", "title": "X"}}},
    }
    text, _ = format_functions([function])
    for model, overhead in (("gpt-4o", 5), ("gpt-4.1-nano", 5), ("gpt-5-mini", 90)):
        priming = 2 if model.startswith("gpt-5") else 3
        added = 1 if model.startswith("gpt-5") else 4
        got = count_request(_tools_request(function), model)
        assert got.input_tokens == 3 + n("user", "hi") + priming + n(text) + overhead + added
        with_system = count_request(_tools_request(function, system=True), model)
        assert with_system.input_tokens == got.input_tokens - added + 3 + n("system", "Be brief.")
        assert not (model.startswith("gpt-5") and got.input_exact)  # GPT-5's prompt: 1 call


def test_search_models_bill_message_texts_only() -> None:
    body = {
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What are the latest news in Iceland?"},
        ]
    }
    got = count_request(body, "gpt-4o-search-preview")
    assert got.input_tokens == n(
        "You are a helpful assistant.", "What are the latest news in Iceland?"
    )
    assert got.input_tokens == 14 and not got.input_exact  # as OpenAI reported


def test_a_user_message_after_a_tool_result_costs_two_more() -> None:
    call = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "count", "arguments": '{"value": "one"}'},
            }
        ],
    }
    result = {"role": "tool", "tool_call_id": "c1", "content": "Counted: one"}
    follow = {"role": "user", "content": "Go on."}
    body = {"messages": [{"role": "user", "content": "Count."}, call, result, follow]}
    expected = (
        3
        + n("user", "Count.")
        + 3
        + n("assistant to=functions.count", '{"value":"one"}')  # arguments billed compact
        + 3
        + n("functions.count", "Counted: one")
        + 2  # the user message after the result
        + 3
        + n("user", "Go on.")
        + 3
    )
    got = count_request(body, "gpt-4o-mini")
    assert (got.input_tokens, got.input_exact) == (expected, False)
    # answered by the assistant (the reply) instead: 2 more, as before
    got = count_request({"messages": body["messages"][:3]}, "gpt-4o-mini")
    assert got.input_tokens == expected - 2 + 2 - 3 - n("user", "Go on.")


@pytest.mark.parametrize(
    ("sent", "billed"),
    [
        ('{"a": 1, "b": [1, 2]}', '{"a":1,"b":[1,2]}'),
        ('{\n  "q": "x: y, z"\n}', '{"q":"x: y, z"}'),  # spaces inside strings stay
        ('{"s": "a \\" b"}', '{"s":"a \\" b"}'),  # an escaped quote does not end the string
        ('{"n": 1.50e3}', '{"n":1.50e3}'),  # number literals as written
        ("not json at all", "not json at all"),
    ],
)
def test_tool_call_arguments_are_billed_without_whitespace(sent: str, billed: str) -> None:
    def body(arguments: str) -> dict[str, Any]:
        call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": arguments}}
        return {
            "messages": [
                {"role": "user", "content": "Go."},
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "c1", "content": "done"},
            ]
        }

    expected = (
        3
        + n("user", "Go.")
        + 3
        + n("assistant to=functions.f", billed)
        + 3
        + n("functions.f", "done")
        + 2  # the reply follows the result
        + 3
    )
    assert count_request(body(sent), "gpt-4o-mini").input_tokens == expected


def test_nested_properties_keep_their_comments_and_unions_are_drawn() -> None:
    function = {
        "name": "plan",
        "parameters": {
            "type": "object",
            "properties": {
                "steps": {
                    "type": "array",
                    "description": "The steps",
                    "items": {
                        "type": "object",
                        "properties": {
                            "tool": {"type": ["string", "null"], "description": "Tool or null"},
                            "args": {"anyOf": [{"type": "object"}, {"type": "null"}]},
                        },
                    },
                }
            },
        },
    }
    text, simple = format_functions([function])
    assert text.split("\n")[3:10] == [
        "// The steps",
        "steps?: {",
        "// Tool or null",
        "tool?: string | null,",
        "args?: object | null,",
        "}[],",
        "}) => any;",
    ]
    assert not simple


def test_malformed_schemas_are_estimates_never_errors() -> None:
    """Logged tool lists can hold anything: odd shapes are counted, as estimates."""
    odd: list[dict[str, Any]] = [
        {"name": "f", "parameters": {"type": "object", "properties": {"a": {}}, "required": [{}]}},
        {"name": "f", "parameters": {"type": "object", "properties": {"a": {}}, "required": "a"}},
        {"name": "f", "description": ["x"], "parameters": {}},
        {"name": "f", "parameters": {"properties": {"a": {"title": {"x": 1}, "type": "string"}}}},
        {"name": "f", "parameters": {"properties": {"a": {"anyOf": ["x", 3]}}}},
        {
            "name": "f",
            "parameters": {
                "properties": {"a": {"$ref": "#/$defs/A"}},
                "$defs": {"A": {"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}}},
            },
        },
    ]
    for function in odd:
        got = count_request(_tools_request(function), "gpt-4o")
        assert got.input_tokens is not None and got.input_tokens > 0
        assert not got.input_exact, function


def test_a_rule_that_fails_on_a_unit_counts_its_text_as_an_estimate(
    monkeypatch: Any,
) -> None:
    from tokaudit.recount import render

    def broken(functions: Any) -> Any:
        raise KeyError("unforeseen")

    monkeypatch.setattr(render, "format_functions", broken)
    function = {"name": "f", "parameters": {"properties": {"a": {"type": "string"}}}}
    got = count_request(_tools_request(function), "gpt-4o")
    assert not got.input_exact and got.input_tokens is not None
    # the tool list's logged JSON was counted (more than the message and its priming)
    assert got.input_tokens > 3 + n("user", "hi") + 3 + n('"name":"f"')


def test_a_response_format_after_a_full_stop_costs_the_merged_line_break_less() -> None:
    """The format joins the system message after a blank line: a system text ending in a
    full stop bills ``.\n\n`` as one token, so the format costs 1 less there than after a
    letter, and the same after a code fence (no merged token)."""
    schema = {
        "type": "json_schema",
        "json_schema": {
            "name": "answer",
            "schema": {"type": "object", "properties": {"a": {"type": "string"}}},
        },
    }

    def format_cost(system: Any) -> int:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": "Hi"}]
        body = {"messages": messages}
        with_format = count_request({**body, "response_format": schema}, "gpt-4o")
        without = count_request(body, "gpt-4o")
        assert with_format.input_tokens is not None and without.input_tokens is not None
        return with_format.input_tokens - without.input_tokens

    encode = TiktokenTokenizer().get_encoding("o200k_base").encode_ordinary
    assert len(encode(".\n\n")) == 1 and len(encode("```\n\n")) == 2  # o200k itself
    after_letter = format_cost("Answer briefly")
    assert format_cost("Answer briefly.") == after_letter - 1
    assert format_cost("Answer briefly:") == after_letter - 1
    assert format_cost("Answer as:\n```json\n{}\n```") == after_letter
    # a text ending in a long rule or many blank lines: the whole run is one pre-token
    for end in ("\n" + "-" * 40, "\n" * 40, "." * 40, "=" * 5000):
        merged = len(encode(end + "\n\n")) - len(encode(end)) - len(encode("\n\n"))
        assert format_cost("Answer briefly" + end) == after_letter - 1 + merged + 1
    # text parts are billed joined, so a list ending in a text part ends as that text
    parts = [{"type": "text", "text": "Answer "}, {"type": "text", "text": "briefly."}]
    assert format_cost(parts) == after_letter - 1
    # ... whatever their spelling, an empty last part, or a run split across parts
    for spelt in (
        ["Answer ", "briefly."],
        [{"text": "Answer briefly."}, {"type": "text", "text": ""}],
        {"type": "text", "text": "Answer briefly."},
    ):
        assert format_cost(spelt) == after_letter - 1, spelt
    split_run = [{"type": "text", "text": "Answer briefly\n---"}, {"type": "text", "text": "---"}]
    assert format_cost(split_run) == format_cost("Answer briefly\n------")
    image = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
    # ... and a list ending in an image has no text end: nothing taken off
    assert format_cost([{"type": "text", "text": "Answer briefly."}, image]) == after_letter


def test_adjacent_text_parts_are_billed_joined() -> None:
    """Two text parts of one message are one text to the tokenizer: ``pirate.`` + ``When``
    merge across the seam (one o200k token fewer than apart); an image between two parts
    keeps them apart."""
    first, second = "You talk like a pirate.", "When asked, talk about dogs."
    encode = TiktokenTokenizer().get_encoding("o200k_base").encode_ordinary
    assert len(encode(first + second)) == len(encode(first)) + len(encode(second)) - 1
    parts = [{"type": "text", "text": first}, {"type": "text", "text": second}]
    got = count_request({"messages": [{"role": "user", "content": parts}]}, "gpt-4o")
    assert got.input_tokens == 3 + n("user") + n(first + second) + 3
    assert not got.input_exact  # how parts are joined is read off one recorded request
    url = f"data:image/png;base64,{_png(64, 64)}"
    image = {"type": "image_url", "image_url": {"url": url, "detail": "low"}}
    apart = count_request(
        {"messages": [{"role": "user", "content": [parts[0], image, parts[1]]}]}, "gpt-4o"
    )
    assert apart.input_tokens == 3 + n("user") + n(first) + n(second) + 85 + 3


def test_a_named_tool_choice_merges_its_name_with_functions() -> None:
    """Forcing a function costs 6 and ``functions.NAME`` as one text: where the name splits
    after the dot (``.V ision Output``) that is 1 more than the name alone would give."""
    function = {
        "name": "VisionOutput",
        "parameters": {
            "type": "object",
            "properties": {"d": {"type": "string", "description": "What is seen"}},
        },
    }
    encode = TiktokenTokenizer().get_encoding("o200k_base").encode_ordinary
    assert len(encode("functions.VisionOutput")) == 2 + len(encode("VisionOutput"))
    body = _tools_request(function)
    free = count_request(body, "gpt-4o").input_tokens
    forced = {**body, "tool_choice": {"type": "function", "function": {"name": "VisionOutput"}}}
    got = count_request(forced, "gpt-4o")
    assert free is not None and got.input_tokens == free + 6 + n("functions.VisionOutput")
    assert not got.input_exact
    # the Responses API's spelling, and a bare name, are the same choice
    short = _tools_request({**function, "name": "f"})
    named = count_request(
        {**short, "tool_choice": {"type": "function", "function": {"name": "f"}}}, "gpt-4o"
    )
    for choice in ({"type": "function", "name": "f"}, {"type": "function", "function": "f"}):
        assert count_request({**short, "tool_choice": choice}, "gpt-4o") == named


def test_a_property_without_a_type_is_drawn_as_any() -> None:
    """magentic sends untyped parameters (``{"title": "Location"}``): drawn ``any``."""
    function = {
        "name": "get_current_weather",
        "description": "Get the weather",
        "parameters": {
            "type": "object",
            "properties": {"location": {"title": "Location"}},
            "required": ["location"],
        },
    }
    text, simple = format_functions([function])
    assert "\nlocation: any,\n" in text and not simple
    got = count_request(_tools_request(function), "gpt-4o")
    assert got.input_tokens == 3 + n("user", "hi") + 3 + n(text) + 5 + 4
    assert not got.input_exact


def test_a_tool_results_author_bills_the_function_name_on_its_own() -> None:
    """``functions.calculator`` as one text is 3 o200k tokens (``.cal culator``); a tool
    result bills the name alone (1) and 1 fixed token besides the message's 3."""
    encode = TiktokenTokenizer().get_encoding("o200k_base").encode_ordinary
    assert len(encode("functions.calculator")) == 3 and len(encode("calculator")) == 1
    call = {"id": "c1", "type": "function"}
    call["function"] = {"name": "calculator", "arguments": '{"e":"1+1"}'}
    messages = [
        {"role": "user", "content": "1+1?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
    ]
    before = count_request({"messages": messages}, "gpt-4o").input_tokens
    result = {"role": "tool", "tool_call_id": "c1", "content": "2"}
    got = count_request({"messages": [*messages, result]}, "gpt-4o")
    # the result: 3, the name, 1 and its content; 2 more as the assistant answers it
    assert before is not None
    assert got.input_tokens == before + 3 + n("calculator") + 1 + n("2") + 2


def test_a_schema_description_of_several_lines_is_billed_as_comment_lines() -> None:
    """A schema's own description of several lines (a pydantic docstring) is billed as
    ``//`` lines before the JSON, each as written; one of one line stays inside the JSON."""
    encode = TiktokenTokenizer().get_encoding("o200k_base").encode_ordinary
    messages = [{"role": "system", "content": "Plan"}, {"role": "user", "content": "Go"}]
    head = "# Response Formats\n\n## Step\n\n"

    def format_cost(description: str) -> int:
        schema = {"type": "object", "description": description, "properties": {"ok": {}}}
        rfmt = {"type": "json_schema", "json_schema": {"name": "Step", "schema": schema}}
        with_format = count_request({"messages": messages, "response_format": rfmt}, "gpt-4o")
        without = count_request({"messages": messages}, "gpt-4o")
        assert with_format.input_tokens is not None and without.input_tokens is not None
        return with_format.input_tokens - without.input_tokens

    def schema_json(description: str | None) -> str:
        schema: dict[str, Any] = {"type": "object"}
        if description is not None:
            schema["description"] = description
        return json.dumps({**schema, "properties": {"ok": {}}}, separators=(",", ":"))

    # what a format costs besides its text (the name, fixed tokens), from an empty one
    rest = format_cost("") - len(encode(head + schema_json("")))
    several = "Observation.\n\nAttributes:\n    ok: whether it worked."
    drawn = "".join(f"// {line}\n" for line in several.split("\n"))
    assert format_cost(several) == len(encode(head + drawn + schema_json(None))) + rest
    assert format_cost(several) != len(encode(head + schema_json(several))) + rest
    one = "Observation of one line."
    assert format_cost(one) == len(encode(head + schema_json(one))) + rest


def test_json_schema_response_format_is_drawn_as_harmony_documents_it() -> None:
    """ "# Response Formats ## NAME", the description as a comment, the schema as compact
    JSON without the keywords that only constrain the output (titles stay), the name once
    more, + 6 when the request has no system message and no tools, + 3 in its own system
    message, - 1 after a tools block (52 recorded requests, docs/recount.md)."""
    schema = {
        "title": "Answer",
        "type": "object",
        "properties": {
            "title": {"title": "Title", "type": "string"},
            "n": {"type": "integer", "minimum": 1, "maximum": 9},
            "required": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
        },
        "required": ["title", "n", "required"],
        "additionalProperties": False,
    }
    fmt = {
        "type": "json_schema",
        "json_schema": {"name": "Answer", "description": "One answer", "schema": schema},
    }
    drawn = (
        "# Response Formats\n\n## Answer\n\n// One answer\n"
        '{"title":"Answer","type":"object","properties":{"title":{"title":"Title",'
        '"type":"string"},"n":{"type":"integer"},"required":{"type":"array",'
        '"items":{"type":"string"}}}}'
    )
    user = [{"role": "user", "content": "hi"}]
    alone = count_request({"messages": user, "response_format": fmt}, "gpt-4o")
    assert alone.input_tokens == 3 + n("user", "hi") + 3 + n(drawn) + n("Answer") + 6
    assert not alone.input_exact
    system = [{"role": "system", "content": "Be brief"}, *user]
    with_system = count_request({"messages": system, "response_format": fmt}, "gpt-4o")
    assert with_system.input_tokens == alone.input_tokens - 6 + 3 + 3 + n("system", "Be brief")
    tool = {"type": "function", "function": {"name": "f", "parameters": {}}}
    without = count_request({"messages": system, "tools": [tool]}, "gpt-4o")
    both = count_request({"messages": system, "tools": [tool], "response_format": fmt}, "gpt-4o")
    assert both.input_tokens == without.input_tokens + n(drawn) + n("Answer") - 1


def test_parallel_results_are_billed_as_one_json_list() -> None:
    """The results of parallel calls: one ``multi_tool_use.parallel`` message holding the
    JSON list of their texts (a JSON object as its value), + 1, + 2 before the reply."""
    calls = [
        {"id": f"c{i}", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        for i in (1, 2)
    ]
    history = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "tool_call_id": "c1", "content": "caf\u00e9"},
        {"role": "tool", "tool_call_id": "c2", "content": '{"a": 1}'},
    ]
    got = count_request({"messages": history}, "gpt-4o")
    wrapper = '{"tool_uses":[{"recipient_name":"functions.f","parameters":{}}' + (
        ',{"recipient_name":"functions.f","parameters":{}}]}'
    )
    results = '["caf\\u00e9", {"a": 1}]'
    assert got.input_tokens == (
        3
        + n("user", "hi")
        + 3
        + n("assistant to=multi_tool_use.parallel", wrapper)
        + 3
        + n("multi_tool_use.parallel", results)
        + 1
        + 2
        + 3
    )
    assert not got.input_exact


def test_gpt5_tool_rounds_cost_the_commentary_channel_on_call_and_result() -> None:
    """GPT-5 (harmony): a tool call and a tool result each cost 3 more than on GPT-4o
    (``<|channel|>commentary``), a parallel call and its joint results one message each;
    a user message after parallel results costs 2 more, as after a single result (10
    recorded gpt-5-mini/nano requests, docs/recount.md). Estimates."""
    one = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    two = [*one, {"id": "c2", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    user = {"role": "user", "content": "hi"}

    def history(calls: list[dict[str, Any]], after: list[dict[str, Any]]) -> dict[str, Any]:
        results = [{"role": "tool", "tool_call_id": c["id"], "content": "ok"} for c in calls]
        call = {"role": "assistant", "content": None, "tool_calls": calls}
        return {"messages": [user, call, *results, *after]}

    for calls in (one, two):
        for after in ([], [{"role": "user", "content": "go on"}]):
            body = history(calls, after)
            gpt4o = count_request(body, "gpt-4o").input_tokens
            gpt5 = count_request(body, "gpt-5-mini")
            assert gpt4o is not None and gpt5.input_tokens == gpt4o - 1 + 3 + 3  # priming 2
            assert not gpt5.input_exact
    # the user message after parallel results: + 2 on every model
    plain = count_request(history(two, []), "gpt-4o").input_tokens
    followed = count_request(history(two, [{"role": "user", "content": "go on"}]), "gpt-4o")
    assert plain is not None
    assert followed.input_tokens == plain - 2 + 3 + n("user", "go on") + 2


def test_gpt5_json_schema_costs_4_less_and_each_answer_4_more() -> None:
    """GPT-5: a json_schema format costs 4 less than the GPT-4o rendering, and each
    assistant answer (no tool calls) of the history 4 more beside it (6 recorded gpt-5-mini
    and gpt-5.4 requests, docs/recount.md). Estimates."""
    fmt = {"type": "json_schema", "json_schema": {"name": "A", "schema": {"type": "object"}}}
    turns = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": '{"a":1}'},
        {"role": "user", "content": "again"},
    ]
    extra = []
    for messages in (turns[:1], turns):
        without = count_request({"messages": messages}, "gpt-5-mini").input_tokens
        drawn = count_request({"messages": messages, "response_format": fmt}, "gpt-4o")
        plain = count_request({"messages": messages}, "gpt-4o").input_tokens
        got = count_request({"messages": messages, "response_format": fmt}, "gpt-5-mini")
        assert without is not None and drawn.input_tokens is not None and plain is not None
        assert got.input_tokens is not None
        # gpt-4o's answers cost the same 4 more each (see the next test)
        assert got.input_tokens == without + (drawn.input_tokens - plain) - 4
        assert not got.input_exact
        extra.append(got.input_tokens - without)
    assert extra[1] == extra[0] + 4  # the one answer


def _schema_format_cost(model: str, history: list[dict[str, Any]]) -> int:
    """What a json_schema response format adds to a request with this history (always an
    estimate)."""
    fmt = {"type": "json_schema", "json_schema": {"name": "A", "schema": {"type": "object"}}}
    with_format = count_request({"messages": history, "response_format": fmt}, model)
    plain = count_request({"messages": history}, model)
    assert with_format.input_tokens is not None and plain.input_tokens is not None
    assert not with_format.input_exact
    return with_format.input_tokens - plain.input_tokens


def test_gpt4o_each_answer_in_a_json_schema_request_costs_4_more() -> None:
    """gpt-4o, as GPT-5: each assistant answer (no tool calls) in the history of a request
    with a json_schema format costs 4 more (blind batch _z: two django-ai-assistant requests
    with one answer, 4 under each without it). gpt-4o-mini has no recorded such request, so
    it has no such cost; a tool-call turn is no answer. Estimates."""
    ask = {"role": "user", "content": "hi"}
    answer = {"role": "assistant", "content": "Hello there."}
    call = {
        "role": "assistant",
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        ],
    }
    result = {"role": "tool", "tool_call_id": "c1", "content": "ok"}
    alone = _schema_format_cost("gpt-4o", [ask])
    assert _schema_format_cost("gpt-4o", [ask, answer, ask]) == alone + 4
    assert _schema_format_cost("gpt-4o", [ask, answer, ask, answer, ask]) == alone + 8
    assert _schema_format_cost("gpt-4o-2024-08-06", [ask, answer, ask]) == alone + 4
    assert _schema_format_cost("gpt-4o", [ask, call, result]) == alone
    assert _schema_format_cost("gpt-4o-mini", [ask, answer, ask]) == _schema_format_cost(
        "gpt-4o-mini", [ask]
    )


def test_gpt5_a_system_message_beside_a_format_or_tools_costs_the_instructions_heading() -> None:
    """GPT-5: the system message that tools or a json_schema format bring into a request
    without one costs 3 less than on GPT-4o (``added_message_less``), so a format costs 1
    less than the GPT-4o rendering beside a request's own system message as well as alone
    (2 recorded gpt-5-nano requests with one, 3 under at 4 less), and a tools block without
    a system message 90 + 1 (2 recorded gpt-5 requests, 3 over at 90 + 4). Estimates."""
    fmt = {"type": "json_schema", "json_schema": {"name": "A", "schema": {"type": "object"}}}
    messages = [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "hi"}]
    without = count_request({"messages": messages}, "gpt-5-nano").input_tokens
    drawn = count_request({"messages": messages, "response_format": fmt}, "gpt-4o").input_tokens
    plain = count_request({"messages": messages}, "gpt-4o").input_tokens
    got = count_request({"messages": messages, "response_format": fmt}, "gpt-5-nano")
    assert without is not None and drawn is not None and plain is not None
    assert got.input_tokens == without + (drawn - plain) - 1
    function = {"name": "f", "parameters": {"type": "object", "properties": {}}}
    text, _ = format_functions([function])
    alone = count_request(_tools_request(function), "gpt-5").input_tokens
    assert alone == 3 + n("user", "hi") + 2 + n(text) + 90 + 1


def test_an_object_whose_properties_carry_no_comment_is_drawn_on_one_line() -> None:
    """Later snapshots draw a comment-less object as a TypeScript type literal on one line,
    ``{ a: string, b?: "x" | "y" }``: 1 token less than hmarr's layout where the last type
    is a word (``string,\n})`` against `` string })``), nothing less where it ends in a
    quote (req_llm's enum: ``"fahrenheit" })``; 6 recorded requests billed as the 0613
    snapshots bill hmarr's layout). Nested comment-less objects too; a commented property
    keeps the layout of one property a line."""
    weather = {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    }
    text, _ = format_functions([weather], inline=True)
    line = 'type get_weather = (_: { location: string, unit?: "celsius" | "fahrenheit" }) => any;'
    assert line in text.split("\n")
    assert format_functions([weather])[0] != text  # hmarr's layout without ``inline``
    answers = {
        "name": "final_result",
        "parameters": {
            "type": "object",
            "properties": {
                "answers": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"answer": {"type": "string"}, "label": {"type": "string"}},
                        "required": ["answer", "label"],
                    },
                }
            },
            "required": ["answers"],
        },
    }
    assert "type final_result = (_: { answers: { answer: string, label: string }[] }) => any;" in (
        format_functions([answers], inline=True)[0].split("\n")
    )
    q = {"type": "string", "description": "Q"}
    described = {"name": "g", "parameters": {"type": "object", "properties": {"q": q}}}
    assert format_functions([described], inline=True) == format_functions([described])

    assert _tools_cost(weather, "gpt-4-turbo") == _tools_cost(weather, "gpt-4-0613")


def test_an_array_of_described_objects_is_drawn_as_array_of_its_object() -> None:
    """An array whose items are an object drawn on several lines (its properties carry
    comments) is ``Array<``, the object, ``>`` on lines of their own, the items' own
    description a comment before the brace (ChatGPT's leaked canvas tool; sublayer's two
    gpt-4o arrays agree only so, 7 under as ``{…}[]``); a comment-less object stays
    ``{ … }[]``."""
    review = {
        "type": "object",
        "description": "a single review",
        "properties": {"title": {"type": "string", "description": "The title"}},
        "required": ["title"],
    }
    function = {
        "name": "reviews",
        "parameters": {
            "type": "object",
            "properties": {"reviews": {"type": "array", "description": "Reviews", "items": review}},
        },
    }
    text, supported = format_functions([function], inline=True)
    assert (
        "// Reviews\nreviews?: Array<\n// a single review\n{\n// The title\ntitle: string,\n}\n>,"
        in (text)
    )
    assert not supported
    plain = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}
    function["parameters"]["properties"]["reviews"]["items"] = plain
    assert "reviews?: { title: string }[]," in format_functions([function], inline=True)[0]


def test_array_items_with_a_description_are_drawn_as_array_of_their_type() -> None:
    """Items with a description of their own are the array's type argument too, the
    description a comment before it: dd-trace-java's student schema (`clubs`, strings
    described "Name of School Club") was billed 9 more on gpt-4o-mini (blind batch _y, with
    and without a forced tool choice) than as `string[]`, and agrees so. The June 2023
    snapshots keep `string[]` (the same schema on gpt-3.5-turbo-0613 agrees so)."""
    clubs = {
        "type": "array",
        "description": "School clubs.",
        "items": {"type": "string", "description": "Name of School Club"},
    }
    function = {"name": "f", "parameters": {"type": "object", "properties": {"clubs": clubs}}}
    text, supported = format_functions([function], inline=True)
    assert "// School clubs.\nclubs?: Array<\n// Name of School Club\nstring\n>," in text
    assert not supported  # read off one schema: an estimate
    legacy, _ = format_functions([function], titles=False)
    assert "clubs?: string[]," in legacy
    bare = {**clubs, "items": {"type": "string"}}
    function["parameters"]["properties"]["clubs"] = bare
    text, supported = format_functions([function], inline=True)
    assert "clubs?: string[]," in text and supported
    body = {
        "messages": [{"role": "user", "content": "David is in the Chess Club."}],
        "tools": [
            {
                "type": "function",
                "function": {
                    **function,
                    "parameters": {"type": "object", "properties": {"clubs": clubs}},
                },
            }
        ],
    }
    described = count_request(body, "gpt-4o-mini")
    body["tools"][0]["function"]["parameters"]["properties"]["clubs"] = bare
    plain_items = count_request(body, "gpt-4o-mini")
    # Array<, the comment line and > cost their tokens; string[] becomes string
    extra = n("Array<\n// Name of School Club\nstring\n>") - n("string[]")
    assert described.input_tokens == plain_items.input_tokens + extra
    assert plain_items.input_exact and not described.input_exact


def test_an_object_whose_only_comment_is_array_items_description_is_not_drawn_on_one_line() -> None:
    """The items' description is a comment line inside ``Array<…>``, so the object holding
    the array is drawn a property a line like any commented object, not as a one-line type
    literal with a comment inside it."""
    tags = {"type": "array", "items": {"type": "string", "description": "A tag"}}
    parameters = {"type": "object", "properties": {"name": {"type": "string"}, "tags": tags}}
    text, _ = format_functions([{"name": "f", "parameters": parameters}], inline=True)
    assert "type f = (_: {\nname?: string,\ntags?: Array<\n// A tag\nstring\n>,\n}) => any;" in text
    blank = {**tags, "items": {"type": "string", "description": "  "}}
    parameters["properties"]["tags"] = blank
    text, _ = format_functions([{"name": "f", "parameters": parameters}], inline=True)
    assert "type f = (_: { name?: string, tags?: string[] }) => any;" in text


def test_an_enum_default_is_written_unquoted_as_in_the_harmony_guide() -> None:
    function = {
        "name": "get_current_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "format": {
                    "type": "string",
                    "enum": ["celsius", "fahrenheit"],
                    "default": "celsius",
                }
            },
        },
    }
    text, _ = format_functions([function])
    assert 'format?: "celsius" | "fahrenheit", // default: celsius' in text.split("\n")


def test_a_json_schema_next_to_tools_shares_their_system_message() -> None:
    """With tools and no system message, the format costs its text, its name and - 1 (9
    recorded Mirascope and pydantic-ai gpt-4o requests); the tools bring the system message
    (their + 4)."""
    fmt = {
        "type": "json_schema",
        "json_schema": {"name": "A", "schema": {"type": "object", "properties": {}}},
    }
    function = {"name": "f", "parameters": {"type": "object", "properties": {}}}
    body = {**_tools_request(function), "response_format": fmt}
    drawn = '# Response Formats\n\n## A\n\n{"type":"object","properties":{}}'
    text, _ = format_functions([function])
    got = count_request(body, "gpt-4o")
    assert got.input_tokens == 3 + n("user", "hi") + 3 + n(text) + 5 + 4 + n(drawn, "A") - 1


def test_a_property_descriptions_trailing_spaces_are_not_billed() -> None:
    """Two recorded gpt-3.5 requests ("activities. ") were 1 over with the space drawn."""

    def tool(description: str) -> dict[str, Any]:
        prop = {"type": "string", "description": description}
        schema = {"type": "object", "properties": {"clubs": prop}}
        return {"type": "function", "function": {"name": "f", "parameters": schema}}

    def body(description: str) -> dict[str, Any]:
        return {"messages": [{"role": "user", "content": "Hi"}], "tools": [tool(description)]}

    spaced = count_request(body("School clubs. "), "gpt-3.5-turbo")
    trimmed = count_request(body("School clubs."), "gpt-3.5-turbo")
    assert (spaced.input_tokens, spaced.input_exact) == (trimmed.input_tokens, True)
    assert n("// School clubs. ", model="gpt-3.5-turbo") > n(
        "// School clubs.", model="gpt-3.5-turbo"
    )


def test_an_empty_tools_list_is_billed_as_an_empty_namespace() -> None:
    """A recorded gpt-4o-mini request with `tools: []` and a system message was 12 over
    what its messages cost: the empty block (7) and the tools overhead (5)."""
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    plain = count_request({"messages": messages}, "gpt-4o-mini")
    empty = count_request({"messages": messages, "tools": []}, "gpt-4o-mini")
    block = n("namespace functions {\n\n} // namespace functions")
    assert empty.input_tokens == plain.input_tokens + block + 5 == plain.input_tokens + 12
    assert plain.input_exact and not empty.input_exact
    # without a system message the block brings one (4 more), as a non-empty list does
    alone = count_request({"messages": messages[1:], "tools": []}, "gpt-4o-mini")
    assert (
        alone.input_tokens
        == count_request({"messages": messages[1:]}, "gpt-4o-mini").input_tokens + 16
    )


def test_a_named_tool_call_joins_its_name_to_the_role() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    turn = {"role": "assistant", "content": None, "tool_calls": [call]}
    result = {"role": "tool", "tool_call_id": "c1", "content": "ok"}

    def body(assistant: dict[str, Any]) -> dict[str, Any]:
        return {"messages": [{"role": "user", "content": "Go."}, assistant, result]}

    unnamed = count_request(body(turn), "gpt-4o-mini").input_tokens
    named = count_request(body({**turn, "name": "Leader"}), "gpt-4o-mini").input_tokens
    assert unnamed is not None and named is not None
    assert named - unnamed == n("assistant:Leader to=functions.f") - n("assistant to=functions.f")


def test_a_reply_costs_one_more_after_tools_unless_calls_are_forbidden() -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {}}}
    reply = {"messages": [{"role": "assistant", "content": "Four."}]}
    messages = [{"role": "user", "content": "2 + 2?"}]

    def output(**extra: Any) -> int | None:
        body = {"messages": messages, **extra}
        return count_request(body, "gpt-4o-mini", response=reply).output_tokens

    assert output() == n("Four.")
    assert output(tools=[tool]) == output(tools=[]) == n("Four.") + 1
    assert output(tools=[tool], tool_choice="none") == n("Four.")


def test_a_reply_to_a_request_with_stop_sequences_is_an_estimate() -> None:
    """A recorded gpt-4 ReAct reply cut at "\\nObservation:" was billed 4 more than its text:
    the matched stop sequence is billed but not logged."""
    messages = [{"role": "user", "content": "2 + 2?"}]
    reply = {"messages": [{"role": "assistant", "content": "Thought: easy."}]}
    # gpt-4.1: a family whose plain replies are exact (gpt-4's are estimates now)
    plain = count_request({"messages": messages}, "gpt-4.1", response=reply)
    stopped = count_request({"messages": messages, "stop": ["\nObs:"]}, "gpt-4.1", response=reply)
    assert plain.output_tokens == stopped.output_tokens == n("Thought: easy.", model="gpt-4.1")
    assert plain.output_exact and not stopped.output_exact
    # a null stop is no stop
    unset = count_request({"messages": messages, "stop": None}, "gpt-4.1", response=reply)
    assert unset.output_exact


def test_an_empty_tools_list_beside_legacy_functions_adds_no_second_block() -> None:
    """The functions are the request's one tools block: `tools: []` beside them used to add
    an empty block (7 + 5 tokens) on top."""
    function = {"name": "f", "parameters": {"type": "object", "properties": {}}}
    messages = [{"role": "user", "content": "Hi"}]
    alone = count_request({"messages": messages, "functions": [function]}, "gpt-4o-mini")
    both = count_request(
        {"messages": messages, "functions": [function], "tools": []}, "gpt-4o-mini"
    )
    assert both.input_tokens == alone.input_tokens


def test_json_nested_deeper_than_python_parses_is_an_estimate(tmp_path: Path) -> None:
    """A message holding JSON nested 2,000 levels deep raised RecursionError in the
    recount, which then failed every command on the store (QA); it is counted as its text,
    an estimate, and the store's other requests are counted as usual."""
    deep = "[" * 2000 + "]" * 2000
    head = '{"timestamp": "2026-10-01T10:00:00Z", "provider": "openai", "request_id": "%s", '
    tail = (
        '"response": {"model": "gpt-4o-mini", '
        '"usage": {"prompt_tokens": 10, "completion_tokens": 1}}}'
    )
    lines = [
        head % "deep"
        + '"request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": '
        + deep
        + "}]}, "
        + tail,
        head % "plain"
        + '"request": {"model": "gpt-4o-mini", "messages": '
        + '[{"role": "user", "content": "Say this is a test"}]}, '
        + tail,
    ]
    log = tmp_path / "deep.jsonl"
    log.write_text("\n".join(lines) + "\n", "utf-8")
    con = open_store(tmp_path / "s.duckdb")
    assert ingest_paths(con, [str(log)]).total("loaded") == 2
    recount(con)
    got = dict(
        con.execute(
            "SELECT request_id, (recounted_input_tokens, exact) FROM token_audit"
        ).fetchall()
    )
    assert got["plain"] == (PLAIN, True)
    tokens, exact = got["deep"]
    assert exact is False and tokens >= n(deep)


def test_a_langfuse_input_logged_as_a_string_is_one_user_message(tmp_path: Path) -> None:
    """Langfuse keeps an input as logged; a plain string was never counted, so its request
    stayed unpriced and "waiting to be counted" after every recount (QA)."""
    text = "Create a poem about Open Telemetry."
    records = [
        {
            "id": f"lf-{kind}",
            "traceId": f"t-{kind}",
            "type": "GENERATION",
            "name": "gen",
            "startTime": "2026-10-16T08:46:28Z",
            "model": "gpt-4o-mini",
            "input": given,
        }
        for kind, given in (("str", text), ("list", [{"role": "user", "content": text}]))
    ]
    con = _recounted_store(tmp_path, records)
    got = dict(con.execute("SELECT request_id, recounted_input_tokens FROM token_audit").fetchall())
    assert got == {"lf-str": 3 + n("user", text) + 3, "lf-list": 3 + n("user", text) + 3}


@pytest.mark.parametrize("body", [{}, {"messages": 42}, {"messages": "hi"}])
def test_a_body_with_nothing_countable_is_the_priming_alone_an_estimate(
    body: dict[str, Any], tmp_path: Path
) -> None:
    """No count at all left the request waiting to be counted on every run (and report and
    check reopened the store to count it); it is now the reply priming, labelled estimate."""
    got = count_request(body, "gpt-4o-mini")
    assert (got.input_tokens, got.input_exact) == (3, False)


RESPONSES = {"instructions": "Be brief.", "input": "And another one?"}
SCHEMA = {
    "type": "object",
    "properties": {"a": {"type": "string"}},
    "required": ["a"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    "context",
    [
        {"previous_response_id": "resp_123"},
        {"conversation": "conv_123"},
        {"prompt": {"id": "pmpt_123", "version": "2"}},
    ],
)
def test_responses_context_held_by_the_server_makes_an_estimate(context: dict[str, Any]) -> None:
    """The server adds an earlier response, a conversation or a stored prompt that the log
    does not hold: the logged input's count was labelled exact (QA: 11 exact, 45 billed)."""
    plain = count_request(RESPONSES, "gpt-4o-mini")
    assert plain.input_exact
    got = count_request({**RESPONSES, **context}, "gpt-4o-mini")
    assert (got.input_tokens, got.input_exact) == (plain.input_tokens, False)


def test_responses_text_format_is_drawn_like_a_chat_response_format() -> None:
    """``text.format`` (the Responses API's structured output, one level flatter than Chat's
    response_format) was ignored and the count left exact."""
    spec = {"name": "answer", "schema": SCHEMA, "strict": True}
    as_responses = {**RESPONSES, "text": {"format": {"type": "json_schema", **spec}}}
    as_chat = {**RESPONSES, "response_format": {"type": "json_schema", "json_schema": spec}}
    got, want = count_request(as_responses, "gpt-4o-mini"), count_request(as_chat, "gpt-4o-mini")
    assert (got.input_tokens, got.input_exact) == (want.input_tokens, False)
    assert got.input_tokens > count_request(RESPONSES, "gpt-4o-mini").input_tokens
    plain_text = {**RESPONSES, "text": {"format": {"type": "text"}, "verbosity": "low"}}
    assert count_request(plain_text, "gpt-4o-mini") == count_request(RESPONSES, "gpt-4o-mini")


def test_a_predicted_output_makes_input_and_reply_estimates(tmp_path: Path) -> None:
    """Predicted Outputs: a recorded gpt-4o call was billed 12 input tokens beyond its
    messages, and its reply 37 rejected prediction tokens beyond its text; both counts were
    labelled exact where the family's are (held-out batch _o). The envelope keeps the key."""
    messages = [{"role": "user", "content": "Say this is a test"}]
    prediction = {"type": "content", "content": "This is a test."}
    plain = count_request({"messages": messages}, "gpt-4.1")
    assert plain.input_exact
    got = count_request({"messages": messages, "prediction": prediction}, "gpt-4.1")
    assert (got.input_tokens, got.input_exact) == (plain.input_tokens, False)
    record = {
        "timestamp": "2026-10-01T10:00:00Z",
        "provider": "openai",
        "request_id": "p1",
        "request": {"model": "gpt-4.1", "messages": messages, "prediction": prediction},
        "response": {
            "object": "chat.completion",
            "model": "gpt-4.1-2025-04-14",
            "choices": [{"message": {"role": "assistant", "content": "This is a test."}}],
        },
    }
    con = _recounted_store(tmp_path, [record])
    row = con.execute(
        "SELECT recounted_input_tokens, recounted_output_tokens, exact FROM token_audit"
    ).fetchone()
    assert row == (plain.input_tokens, n("This is a test."), False)
    reply = con.execute("SELECT recount_output_exact FROM requests").fetchone()
    assert reply == (False,)


def test_the_envelope_keeps_the_responses_keys_the_recount_reads(tmp_path: Path) -> None:
    record = {
        "timestamp": "2026-10-01T10:00:00Z",
        "provider": "openai",
        "request_id": "r1",
        "request": {"model": "gpt-4o-mini", **RESPONSES, "previous_response_id": "resp_1"},
        "response": {"object": "response", "model": "gpt-4o-mini", "output": []},
    }
    con = _recounted_store(tmp_path, [record])
    got = con.execute("SELECT recounted_input_tokens, exact FROM token_audit").fetchall()
    assert got == [(count_request(RESPONSES, "gpt-4o-mini").input_tokens, False)]


def _otel_chat(*attributes: tuple[str, Any]) -> str:
    """An OTLP JSON document of one OpenAI gpt-4o-mini chat span with these attributes."""
    attrs = [("gen_ai.operation.name", "chat"), ("gen_ai.provider.name", "openai")]
    attrs += [("gen_ai.request.model", "gpt-4o-mini"), *attributes]
    span = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "eee19b7ec3c1b174",
        "name": "chat gpt-4o-mini",
        "startTimeUnixNano": "1792140000000000000",
        "endTimeUnixNano": "1792140001000000000",
        "attributes": [
            {"key": k, "value": {"intValue" if isinstance(v, int) else "stringValue": v}}
            for k, v in attrs
        ],
    }
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})


def _litellm_chat(messages: list[dict[str, Any]], **fields: Any) -> str:
    """A LiteLLM StandardLoggingPayload of one gpt-4o-mini call."""
    payload = {
        "id": "chatcmpl-slp",
        "call_type": "acompletion",
        "status": "success",
        "custom_llm_provider": "openai",
        "startTime": "2026-10-16 08:46:28.000",
        "endTime": "2026-10-16 08:46:29.000",
        "model": "gpt-4o-mini",
        "messages": messages,
        **fields,
    }
    return json.dumps(payload)


def _recounted_store(tmp_path: Path, records: list[dict[str, Any]]) -> duckdb.DuckDBPyConnection:
    """A store holding ``records`` (envelope lines), ingested and recounted."""
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
    con = open_store(tmp_path / "s.duckdb")
    ingest_paths(con, [str(log)])
    recount(con)
    return con


def _recounted(tmp_path: Path, logs: dict[str, str], query: str) -> dict[str, list[Any]]:
    """Each log ingested into its own store and recounted: ``query``'s rows, by log name."""
    out = {}
    for name, text in logs.items():
        log = tmp_path / name
        log.write_text(text + "\n", "utf-8")
        con = open_store(tmp_path / f"{name}.duckdb")
        assert ingest_paths(con, [str(log)]).total("loaded") == 1, name
        recount(con)
        out[name] = con.execute(query).fetchall()
    return out


def _otel_user(text: str) -> tuple[str, str]:
    parts = [{"role": "user", "parts": [{"type": "text", "content": text}]}]
    return ("gen_ai.input.messages", json.dumps(parts))


def test_tools_logged_by_otel_and_litellm_are_counted_as_the_envelope_counts_them(
    tmp_path: Path,
) -> None:
    """OTel keeps tool definitions in ``gen_ai.tool.definitions`` and LiteLLM's
    StandardLoggingPayload in ``model_parameters``; both were left out of the stored input,
    so the recount missed the tools block and still said exact (QA: 23 against 60)."""
    system, user = "You are a terse assistant.", "What's the weather in Tokyo?"
    function = {
        "name": "get_weather",
        "description": "Get the weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city"}},
            "required": ["city"],
        },
    }
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    tools = [{"type": "function", "function": function}]
    want = count_request({"messages": messages, "tools": tools}, "gpt-4o-mini")
    usage = {"prompt_tokens": 62, "completion_tokens": 3}
    logs = {
        "otel.json": _otel_chat(
            ("gen_ai.usage.input_tokens", 62),
            ("gen_ai.usage.output_tokens", 3),
            ("gen_ai.system_instructions", json.dumps([{"type": "text", "content": system}])),
            _otel_user(user),
            ("gen_ai.tool.definitions", json.dumps([{"type": "function", **function}])),
        ),
        "litellm.jsonl": _litellm_chat(
            messages,
            response={"id": "chatcmpl-slp", "model": "gpt-4o-mini", "usage": usage},
            model_parameters={"tools": tools, "tool_choice": "auto"},
            **usage,
        ),
    }
    got = _recounted(tmp_path, logs, "SELECT recounted_input_tokens, exact FROM token_audit")
    assert got == {name: [(want.input_tokens, want.input_exact)] for name in logs}


def _png(width: int, height: int) -> str:
    """A base64 PNG whose header gives its size (the image accounting reads only that)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(header)) + b"IHDR" + header
    chunk += struct.pack(">I", zlib.crc32(b"IHDR" + header))
    return base64.b64encode(b"\x89PNG\r\n\x1a\n" + chunk).decode()


def test_estimated_shapes_count_what_they_hold() -> None:
    """QA found these counted as nothing, or inflated: Anthropic tools written with
    input_schema, Gemini parts in snake_case, OpenTelemetry tool_call parts, non-ASCII tool
    arguments as \\uXXXX escapes, and an image inside an Anthropic tool_result."""
    claude, gemini = "claude-sonnet-4-5", "gemini-2.5-flash"
    schema = {"type": "object", "properties": {"q": {"type": "string", "description": "Query"}}}
    user = [{"role": "user", "content": "Find it"}]
    with_parameters = {"messages": user, "tools": [{"name": "search", "parameters": schema}]}
    with_input_schema = {"messages": user, "tools": [{"name": "search", "input_schema": schema}]}
    assert count_request(with_input_schema, claude, "anthropic") == count_request(
        with_parameters, claude, "anthropic"
    )
    assert (
        count_request(with_input_schema, claude, "anthropic").input_tokens
        > count_request({"messages": user}, claude, "anthropic").input_tokens
    )

    image = {"mimeType": "image/png", "data": _png(800, 400)}
    camel = [
        {"inlineData": image},
        {"functionCall": {"name": "f", "args": {"q": "東京の天気"}}},
        {"functionResponse": {"name": "f", "response": {"ok": True}}},
    ]
    snake = [
        {"inline_data": image},
        {"function_call": {"name": "f", "args": {"q": "東京の天気"}}},
        {"function_response": {"name": "f", "response": {"ok": True}}},
    ]
    for camel_part, snake_part in zip(camel, snake, strict=True):
        got = count_request(
            {"contents": [{"role": "user", "parts": [snake_part]}]}, gemini, "google"
        )
        want = count_request(
            {"contents": [{"role": "user", "parts": [camel_part]}]}, gemini, "google"
        )
        assert got == want and want.input_tokens and want.input_tokens > 1, snake_part
    # arguments as their characters: the name, then the JSON text as written
    call = count_request({"contents": [{"role": "model", "parts": [camel[1]]}]}, gemini, "google")
    assert call.input_tokens == n("f") + n('{"q": "東京の天気"}')

    chat = {
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "Sunny"},
        ]
    }
    otel = {
        "messages": [
            {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
            {
                "role": "assistant",
                "parts": [
                    {
                        "type": "tool_call",
                        "id": "c1",
                        "name": "weather",
                        "arguments": {"city": "Paris"},
                    }
                ],
            },
            {
                "role": "tool",
                "parts": [{"type": "tool_call_response", "id": "c1", "response": "Sunny"}],
            },
        ]
    }
    assert count_request(otel, "gpt-4o-mini").input_tokens > count_request(
        {"messages": otel["messages"][:1]}, "gpt-4o-mini"
    ).input_tokens + n("weather", "Sunny")
    assert count_request(chat, "gpt-4o-mini").input_tokens is not None

    picture = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": _png(1000, 500)},
    }
    as_block = count_request(
        {"messages": [{"role": "user", "content": [picture]}]}, claude, "anthropic"
    )
    in_result = count_request(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [picture]}],
                }
            ]
        },
        claude,
        "anthropic",
    )
    assert in_result.input_tokens == as_block.input_tokens


def test_replies_logged_by_otel_and_litellm_are_recounted(tmp_path: Path) -> None:
    """A call logged without usage is priced from its recount, its reply included; OTel's
    gen_ai.output.messages and LiteLLM's response.choices were not stored, so such calls
    were priced with no output at all (QA: a fifth of the envelope's price)."""
    reply, user = "Spans and traces, woven into light.", "Create a poem about Open Telemetry."
    answer = [{"role": "assistant", "parts": [{"type": "text", "content": reply}]}]
    logs = {
        "otel.json": _otel_chat(_otel_user(user), ("gen_ai.output.messages", json.dumps(answer))),
        "litellm.jsonl": _litellm_chat(
            [{"role": "user", "content": user}],
            response={
                "id": "chatcmpl-slp",
                "model": "gpt-4o-mini",
                "choices": [{"message": {"role": "assistant", "content": reply}}],
            },
        ),
    }
    got = _recounted(tmp_path, logs, "SELECT recounted_output_tokens FROM token_audit")
    assert got == {name: [(n(reply),)] for name in logs}


@pytest.mark.parametrize(
    "output",
    [
        "Spans and traces, woven into light.",
        {"role": "assistant", "content": "Spans and traces, woven into light."},
        [{"role": "assistant", "content": "Spans and traces, woven into light."}],
        {
            "choices": [
                {"message": {"role": "assistant", "content": "Spans and traces, woven into light."}}
            ]
        },
    ],
    ids=["text", "message", "messages", "choices"],
)
def test_a_langfuse_generations_output_is_recounted(tmp_path: Path, output: Any) -> None:
    """Langfuse keeps the reply in ``output``, which was not stored: a generation logged
    without usage was priced with no output at all (QA)."""
    record = {
        "id": "lf-1",
        "traceId": "t1",
        "type": "GENERATION",
        "name": "gen",
        "startTime": "2026-10-16T08:46:28Z",
        "model": "gpt-4o-mini",
        "input": [{"role": "user", "content": "Create a poem about Open Telemetry."}],
        "output": output,
    }
    got = _recounted(
        tmp_path,
        {"langfuse.jsonl": json.dumps(record)},
        "SELECT recounted_output_tokens FROM token_audit",
    )
    assert got == {"langfuse.jsonl": [(n("Spans and traces, woven into light."),)]}


def test_a_unit_whose_fixed_tokens_come_to_minus_one_is_counted() -> None:
    """-1 marked a failed count and was also a unit's starting total: a system message and
    six functions of one bare property each (their per-function -1 against the +5 of the
    block) came out as a failed count, None, instead of its tokens."""

    def tokens(functions: int) -> int | None:
        tools = [
            {
                "type": "function",
                "function": {
                    "name": f"f{i}",
                    "parameters": {"type": "object", "properties": {"a": {"type": "string"}}},
                },
            }
            for i in range(functions)
        ]
        system = [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "hi"}]
        return count_request({"messages": system, "tools": tools}, "gpt-4o").input_tokens

    counts = [tokens(k) for k in range(4, 9)]
    assert None not in counts
    steps = {b - a for a, b in itertools.pairwise(counts)}  # type: ignore[operator]
    assert len(steps) == 1  # each function adds the same tokens, the sixth too


def test_an_anthropic_replys_text_blocks_are_counted_joined_like_any_text_parts() -> None:
    """Adjacent text blocks of a reply are billed as one text, on every provider."""
    body = {"messages": [{"role": "user", "content": "Hi"}]}
    two = [{"type": "text", "text": "You are a pirate."}, {"type": "text", "text": "When asked"}]
    one = [{"type": "text", "text": "You are a pirate.When asked"}]
    split = count_request(body, "claude-sonnet-4-5", "anthropic", {"content": two})
    whole = count_request(body, "claude-sonnet-4-5", "anthropic", {"content": one})
    encode = TiktokenTokenizer().get_encoding("o200k_base").encode_ordinary
    assert len(encode("You are a pirate.When asked")) < len(encode("You are a pirate.")) + len(
        encode("When asked")
    )  # the seam merges, so counting the blocks apart would count one more
    assert split.output_tokens == whole.output_tokens is not None
    assert not split.output_exact  # Claude's counts are estimates


def test_a_lone_surrogate_is_counted_as_a_replacement_character_and_estimated() -> None:
    """No UTF-8 text holds an unpaired surrogate (ingest rejects such lines); the library
    counts it as U+FFFD, labelled an estimate, instead of failing the whole call."""
    lone = count_request({"messages": [{"role": "user", "content": "a\ud800b"}]}, "gpt-4o")
    fffd = count_request({"messages": [{"role": "user", "content": "a\ufffdb"}]}, "gpt-4o")
    assert lone.input_tokens == fffd.input_tokens is not None
    assert fffd.input_exact and not lone.input_exact


def test_another_providers_tool_choice_adds_nothing_as_in_a_store() -> None:
    """Stored Anthropic bodies leave tool_choice out, so counting one directly does too
    (OpenAI's named-choice rule drew it as functions.NAME)."""
    tool = {"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}
    body = {"messages": [{"role": "user", "content": "Weather?"}], "tools": [tool]}
    forced = {**body, "tool_choice": {"type": "tool", "name": "get_weather"}}
    model = "claude-sonnet-4-5"
    assert (
        count_request(forced, model, "anthropic").input_tokens
        == count_request(body, model, "anthropic").input_tokens
    )
    openai_tool = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}
    openai_body = {"messages": body["messages"], "tools": [openai_tool]}
    named = {"type": "function", "function": {"name": "get_weather"}}
    with_choice = count_request({**openai_body, "tool_choice": named}, "gpt-4o").input_tokens
    without = count_request(openai_body, "gpt-4o").input_tokens
    assert with_choice is not None and without is not None and with_choice > without


def test_a_parallel_result_that_is_a_json_string_goes_in_as_that_string() -> None:
    """Parallel results are billed as the JSON list of their values: a result sent as the
    JSON string ``"Status OK"`` is that string (3 recorded requests of the blind batch _p),
    the same as the plain text ``Status OK``, not a string holding escaped quotes."""
    call = {"type": "function", "function": {"name": "check", "arguments": "{}"}}
    tool = {"type": "function", "function": {"name": "check", "parameters": {}}}

    def count(result: str) -> int | None:
        messages = [
            {"role": "user", "content": "Check twice"},
            {"role": "assistant", "tool_calls": [{**call, "id": "a"}, {**call, "id": "b"}]},
            {"role": "tool", "tool_call_id": "a", "content": result},
            {"role": "tool", "tool_call_id": "b", "content": result},
        ]
        return count_request({"messages": messages, "tools": [tool]}, "gpt-4o-mini").input_tokens

    assert count('"Status OK"') == count("Status OK") is not None
    assert count('{"ok": true}') != count("Status OK")


def test_the_0613_snapshots_draw_no_titles_and_take_no_token_off_bare_functions() -> None:
    """gpt-4-0613 and gpt-3.5-turbo-0613 bill tool definitions as hmarr's 2023 renderer
    draws them: a property's title is no comment, and a function whose properties carry
    no comment costs its drawn text (later snapshots: a title comment, and 1 less)."""
    tokenizer = TiktokenTokenizer()
    encode = tokenizer.get_encoding("cl100k_base").encode_ordinary
    titled = {
        "name": "f",
        "parameters": {"type": "object", "properties": {"q": {"title": "Q", "type": "string"}}},
    }
    bare = {"name": "g", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}
    assert tokenizer.chat_profile("gpt-4-0613").legacy_functions
    assert tokenizer.chat_profile("gpt-3.5-turbo-0613").legacy_functions
    assert not tokenizer.chat_profile("gpt-3.5-turbo-0125").legacy_functions
    assert not tokenizer.chat_profile("gpt-4-1106-preview").legacy_functions

    title_comment = len(encode(format_functions([titled])[0])) - len(
        encode(format_functions([titled], titles=False)[0])
    )
    assert title_comment > 0
    for old, new in (
        ("gpt-4-0613", "gpt-4-1106-preview"),
        ("gpt-3.5-turbo-0613", "gpt-3.5-turbo-0125"),
    ):
        assert _tools_cost(titled, new) - _tools_cost(titled, old) == title_comment
        assert _tools_cost(bare, old) - _tools_cost(bare, new) == 1


def test_o4_mini_bills_its_tools_block_and_tool_rounds_as_a_reasoning_model() -> None:
    """o4-mini (one recorded conversation of the blind batch r): its tools block costs 4
    more than gpt-4o's, and a tool call and its result 3 more each, as on GPT-5."""
    tool = {"type": "function", "function": {"name": "weather", "parameters": {}}}
    call = {"id": "c", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
    first = [{"role": "user", "content": "Weather?"}]
    round_trip = [
        *first,
        {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c", "content": "sunny"},
    ]

    def cost(messages: list[dict[str, Any]], model: str, tools: bool) -> int:
        body: dict[str, Any] = {"messages": messages, **({"tools": [tool]} if tools else {})}
        got = count_request(body, model).input_tokens
        assert got is not None
        return got

    for model, extra_tools in (("o4-mini-2025-04-16", 4), ("o3-mini-2025-01-31", 0)):
        block = cost(first, model, True) - cost(first, model, False)
        assert block == cost(first, "gpt-4o", True) - cost(first, "gpt-4o", False) + extra_tools
    o4_round = cost(round_trip, "o4-mini", True) - cost(first, "o4-mini", True)
    gpt4o_round = cost(round_trip, "gpt-4o", True) - cost(first, "gpt-4o", True)
    assert o4_round == gpt4o_round + 6


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-5-mini", "gpt-4.1-nano", "o4-mini"])
@pytest.mark.parametrize("calls", [1, 2, 3])
def test_responses_rounds_of_calls_count_as_their_chat_twin(model: str, calls: int) -> None:
    """Two rounds of calls: the first round's results are followed by the assistant's
    next calls, which on the Chat twin is an assistant message (LAST_TOOL_RESULT / the
    ',end,reply' flags) but was a 'function_call' item nobody read as the assistant."""
    chat: list[dict[str, Any]] = [_QA_USER]
    items: list[dict[str, Any]] = [_QA_USER]
    for round_ in range(2):
        ids = [10 * round_ + i for i in range(calls)]
        chat += [_chat_calls(ids), *(_chat_result(i) for i in ids)]
        items += [*(_call(i) for i in ids), *(_output(i) for i in ids)]
    chat_body = {"messages": chat, "tools": _QA_CHAT_TOOLS}
    responses_body = {"input": items, "tools": _QA_RESPONSES_TOOLS}
    assert _same(count_request(responses_body, model), count_request(chat_body, model))


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-5-mini"])
def test_one_call_with_object_arguments_counts_as_its_text(model: str) -> None:
    """A single function_call whose arguments are a JSON object was drawn with spaces
    (json.dumps' default), 1 over its compact text; several such calls were compact."""
    as_text = {"input": [_QA_USER, _call(0), _output(0)]}
    as_object = {"input": [_QA_USER, {**_call(0), "arguments": {"city": "P0"}}, _output(0)]}
    assert _same(count_request(as_object, model), count_request(as_text, model))


@pytest.mark.parametrize(
    "prop",
    [
        {"type": "integer", "enum": [1, True, None]},  # drawn "1 | True | None"
        {"type": "string", "enum": "abc"},  # drawn '"a" | "b" | "c"'
        {"type": "string", "enum": []},  # drawn as nothing
        {"type": "string", "enum": ["x", 1]},
    ],
)
def test_enums_drawn_in_no_known_way_are_estimates(prop: dict[str, Any]) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "f",
                "parameters": {
                    "type": "object",
                    "properties": {"a": {**prop, "description": "A thing."}},
                },
            },
        }
    ]
    got = count_request({"messages": [_QA_USER], "tools": tools}, "gpt-4o")
    assert got.input_exact is False


def test_a_blank_description_is_an_estimate() -> None:
    parameters = {"type": "object", "properties": {"a": {"type": "string", "description": " "}}}
    tools = [{"type": "function", "function": {"name": "f", "parameters": parameters}}]
    assert count_request({"messages": [_QA_USER], "tools": tools}, "gpt-4o").input_exact is False


def test_a_named_tool_choice_without_a_name_names_no_function() -> None:
    body = _tools_request({"name": "f", "parameters": {"type": "object", "properties": {}}})
    free = count_request(body, "gpt-4o")
    empty = {"type": "function", "function": {"name": ""}}
    got = count_request({**body, "tool_choice": empty}, "gpt-4o")
    assert got.input_tokens == free.input_tokens and not got.input_exact


def test_a_body_too_deep_to_write_as_json_is_a_value_error() -> None:
    schema: dict[str, Any] = {"type": "object", "properties": {}}
    inner = schema
    for _ in range(3000):
        nested: dict[str, Any] = {"type": "object", "properties": {}}
        inner["properties"] = {"a": nested}
        inner = nested
    with pytest.raises(ValueError, match="nested too deeply"):
        count_request(_tools_request({"name": "f", "parameters": schema}), "gpt-4o")


def test_azure_bare_gpt35_turbo_is_framed_as_0301_and_an_estimate() -> None:
    """Azure names every gpt-35-turbo version "gpt-35-turbo" in its responses; the 28 such
    recorded calls (blind batch _za) billed 4 tokens a message, as 0301 does, so the bare id
    is counted so and labelled an estimate; a dated Azure id keeps its own framing."""
    messages = [{"role": "system", "content": "Rate it."}, {"role": "user", "content": "5?"}]
    bare = count_request({"messages": messages}, "gpt-35-turbo")
    dated = count_request({"messages": messages}, "gpt-35-turbo-0125")
    assert bare.input_tokens is not None and dated.input_tokens is not None
    assert bare.input_tokens == dated.input_tokens + len(messages)
    assert not bare.input_exact and dated.input_exact
    assert count_request({"messages": messages}, "gpt-3.5-turbo-0301").input_tokens == (
        bare.input_tokens
    )


def test_an_items_description_the_june_2023_snapshots_do_not_draw_changes_no_label() -> None:
    """QA: on gpt-4-0613 the items' description is not drawn (``string[]``), so a function
    whose only comment it is stays as labelled as the same function without it (it had
    become exact: a label for a shape never checked)."""
    items = {"type": "array", "items": {"type": "string", "description": "a tag"}}
    bare_items = {"type": "array", "items": {"type": "string"}}

    def counted(prop: dict[str, Any], model: str) -> tuple[int | None, bool]:
        function = {
            "name": "f",
            "parameters": {"type": "object", "properties": {"a": prop}, "required": ["a"]},
        }
        got = count_request(_tools_request(function), model)
        return got.input_tokens, got.input_exact

    for model in ("gpt-4-0613", "gpt-3.5-turbo-0613"):
        assert counted(items, model) == counted(bare_items, model)


def test_items_descriptions_at_any_depth_make_the_object_a_property_a_line() -> None:
    """QA: a description on the items of an array of arrays, or of an array inside an
    ``anyOf``, was missed, and the function was drawn on one line around a multi-line
    ``Array<…>``."""
    cells = {
        "type": "array",
        "items": {"type": "array", "items": {"type": "string", "description": "cell"}},
    }
    optional = {
        "anyOf": [
            {"type": "array", "items": {"type": "string", "description": "a tag"}},
            {"type": "null"},
        ]
    }
    for prop in (cells, optional):
        parameters = {"type": "object", "properties": {"a": prop}}
        text, _ = format_functions([{"name": "f", "parameters": parameters}], inline=True)
        assert "type f = (_: {\na?: " in text  # not "(_: { a?: ..."


def test_a_legacy_function_call_turn_is_no_answer_beside_a_json_schema_format() -> None:
    """QA: an assistant turn holding a legacy ``function_call`` counted as an answer (4 more
    on gpt-4o beside a json_schema format) where the same turn as ``tool_calls`` did not."""
    ask = {"role": "user", "content": "hi"}
    legacy = {
        "role": "assistant",
        "content": None,
        "function_call": {"name": "f", "arguments": "{}"},
    }
    result = {"role": "function", "name": "f", "content": "ok"}
    alone = _schema_format_cost("gpt-4o", [ask])
    assert _schema_format_cost("gpt-4o", [ask, legacy, result]) == alone
    # "function_call": null, as SDKs write it on every assistant message, is an answer
    answer = {"role": "assistant", "content": "Hello.", "function_call": None}
    assert _schema_format_cost("gpt-4o", [ask, answer, ask]) == alone + 4
