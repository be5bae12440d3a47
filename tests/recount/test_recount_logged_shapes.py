"""Shapes real logs hold that no provider request does as such (QA, sixteenth session).

Gateways and observability tools log what they were given: Gemini ``contents`` as a text,
OpenAI-shaped messages for a Gemini model, a whole response object as the reply, a JSON
null in a message list. Each must be counted, or at least never labelled exact when a part
of it could not be. Expectations are plain tiktoken counts of the texts involved.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tokaudit.ingest import ingest_paths
from tokaudit.recount import count_request, recount
from tokaudit.store import open_store
from tokaudit.tokenizers import TiktokenTokenizer

TOK = TiktokenTokenizer()
LANGFUSE = Path(__file__).resolve().parents[1] / "fixtures" / "realworld" / "langfuse"
QUESTION = "What is Langfuse?"


def n(*texts: str, model: str = "gpt-4o-mini") -> int:
    return sum(TOK.count(list(texts), model))


@pytest.mark.parametrize(
    "contents",
    [
        QUESTION,
        {"role": "user", "parts": [{"text": QUESTION}]},
        [QUESTION],
        [{"text": QUESTION}],
        [{"role": "user", "parts": [{"text": QUESTION}]}],
    ],
    ids=["text", "one-content", "texts", "bare-parts", "contents"],
)
def test_gemini_contents_in_every_shape_the_sdk_takes_are_counted(contents: Any) -> None:
    """google-genai takes ``contents`` as a text, one Content, texts or Parts; all but the
    list of Contents were counted as nothing (the repository's own Langfuse Gemini fixture
    logs ``"contents": "What is Langfuse?"``: 6 billed, 0 recounted)."""
    got = count_request({"contents": contents}, "gemini-2.5-flash", "google")
    assert (got.input_tokens, got.input_exact) == (n(QUESTION), False)


def test_openai_shaped_messages_for_a_gemini_model_are_counted() -> None:
    """LiteLLM logs a Gemini request in OpenAI's shape; only ``parts`` was read, so the
    request was recounted as 0 and, logged without usage, priced from that."""
    system, user = "You are a helpful assistant.", "Tell me a joke about cats."
    body = {"messages": [{"role": "system", "content": system}, {"role": "user", "content": user}]}
    got = count_request(body, "gemini-2.5-flash", "google")
    assert (got.input_tokens, got.input_exact) == (n(system) + n(user), False)


def test_a_gemini_part_that_is_not_an_image_is_not_costed_as_one() -> None:
    """Inline audio was costed as a 1024 x 1024 image (1,032 tokens)."""
    for mime in ("audio/wav", "application/pdf", "video/mp4"):
        for key, mime_key in (("inlineData", "mimeType"), ("inline_data", "mime_type")):
            part = {key: {mime_key: mime, "data": "UklGRiQAAABXQVZF"}}
            contents = [{"role": "user", "parts": [part, {"text": "Transcribe"}]}]
            got = count_request({"contents": contents}, "gemini-2.5-flash", "google")
            assert (got.input_tokens, got.input_exact) == (n("Transcribe"), False), (key, mime)


def test_a_null_in_the_message_list_is_skipped_as_an_estimate() -> None:
    """A JSON null among the messages left the request with no count at all, so a log
    without usage stayed unpriced however often ``recount`` ran."""
    message = {"role": "user", "content": "Tell me a joke about cats."}
    plain = 3 + n("user") + n(message["content"]) + 3
    for messages in ([message, None], [None, message], [None, message, None]):
        got = count_request({"messages": messages}, "gpt-4o-mini")
        assert (got.input_tokens, got.input_exact) == (plain, False), messages
    assert count_request({"messages": [message]}, "gpt-4o-mini").input_exact


def test_a_null_message_before_a_rereadable_one_keeps_the_positions(tmp_path: Path) -> None:
    """A message not kept from a request's end is read again from its body by position:
    the positions must be those of the list without its nulls."""
    turns = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}"} for i in range(6)
    ]
    long_body = {"model": "gpt-4o-mini", "messages": [None, *turns]}
    short_body = {"model": "gpt-4o-mini", "messages": turns[:2]}
    log = tmp_path / "log.jsonl"
    log.write_text(
        "\n".join(
            json.dumps(
                {
                    "timestamp": "2026-10-16T08:46:28Z",
                    "provider": "openai",
                    "request_id": f"r{i}",
                    "request": body,
                    "response": {"id": f"r{i}", "model": "gpt-4o-mini"},
                }
            )
            for i, body in enumerate((long_body, short_body))
        )
        + "\n",
        "utf-8",
    )
    con = open_store(tmp_path / "s.duckdb")
    ingest_paths(con, [str(log)])
    recount(con)
    rows = dict(con.execute("SELECT request_id, recounted_input_tokens FROM requests").fetchall())

    def plain(messages: list[dict[str, str]]) -> int:
        return sum(3 + n(m["role"]) + n(m["content"]) for m in messages) + 3

    assert rows == {"r0": plain(turns), "r1": plain(turns[:2])}


def test_an_earlier_spoken_answer_makes_the_input_an_estimate() -> None:
    """An assistant turn that is a reference to audio (``{"audio": {"id": ...}}``) bills
    that audio's tokens, which no log holds: it was labelled exact."""
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "audio": {"id": "audio_abc123"}},
        {"role": "user", "content": "Again"},
    ]
    got = count_request({"messages": messages}, "gpt-4o-audio-preview")
    assert got.input_tokens is not None and not got.input_exact


def test_a_legacy_function_call_reply_is_counted_as_an_estimate() -> None:
    """A reply that is a legacy ``function_call`` was counted as 0 tokens and labelled
    exact, so the billing-discrepancy finding flagged a correct bill."""
    arguments = '{"city":"Paris"}'
    call = {"name": "get_weather", "arguments": arguments}
    reply: dict[str, Any] = {"role": "assistant", "content": None, "function_call": call}
    body = {
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "functions": [{"name": "get_weather", "parameters": {"type": "object", "properties": {}}}],
    }
    got = count_request(body, "gpt-4.1-2025-04-14", response={"messages": [reply]})
    assert got.output_tokens is not None
    assert got.output_tokens >= n("get_weather") + n(arguments)
    assert not got.output_exact


@pytest.mark.parametrize(
    "reply",
    [
        {
            "object": "response",
            "output": [{"type": "message", "content": [{"type": "output_text", "text": "Sunny."}]}],
        },
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "Sunny."}]}}]},
        {"index": 0, "message": {"role": "assistant", "content": "Sunny."}},
        {"choices": [{"message": {"role": "assistant", "content": "Sunny."}}]},
    ],
    ids=["responses", "gemini", "otel-choice", "chat"],
)
def test_a_whole_response_logged_as_the_reply_is_counted(reply: dict[str, Any]) -> None:
    """Langfuse keeps the output its integration gave it: a Responses object, a Gemini
    response, an OpenTelemetry choice event. Each was counted as 0, the Responses one
    labelled exact."""
    got = count_request(
        {"messages": [{"role": "user", "content": "Weather?"}]},
        "gpt-4.1-2025-04-14",
        response={"messages": [reply]},
    )
    assert got.output_tokens == n("Sunny.")


def test_a_chat_completions_response_body_is_read_as_the_reply() -> None:
    """``count_request(response=...)`` given the response body as it came (``choices``)
    counted nothing, labelled exact."""
    body = {"messages": [{"role": "user", "content": "Weather?"}]}
    response = {"object": "chat.completion", "choices": [{"message": {"content": "Sunny."}}]}
    got = count_request(body, "gpt-4.1-2025-04-14", response=response)
    wrapped = count_request(
        body, "gpt-4.1-2025-04-14", response={"messages": [{"content": "Sunny."}]}
    )
    assert (got.output_tokens, got.output_exact) == (n("Sunny."), wrapped.output_exact)


def test_an_earlier_refusal_is_counted_as_an_estimate() -> None:
    """An assistant turn holding only a ``refusal`` was counted without it, labelled exact."""
    refusal = "I can't help with that request."
    messages = [
        {"role": "user", "content": "Help me pick a lock."},
        {"role": "assistant", "content": None, "refusal": refusal},
        {"role": "user", "content": "Fine."},
    ]
    got = count_request({"messages": messages}, "gpt-4o-2024-08-06")
    without = count_request({"messages": [messages[0], messages[2]]}, "gpt-4o-2024-08-06")
    assert without.input_tokens is not None and got.input_tokens is not None
    assert got.input_tokens >= without.input_tokens + 3 + n("assistant") + n(refusal)
    assert not got.input_exact


def test_a_reply_of_no_known_shape_is_never_exact() -> None:
    for reply in ({"messages": [{"role": "assistant"}]}, {"messages": []}, {"something": 1}):
        got = count_request(
            {"messages": [{"role": "user", "content": "Hi"}]}, "gpt-4.1-2025-04-14", response=reply
        )
        assert (got.output_tokens, got.output_exact) == (0, False), reply


def test_langfuse_agent_generations_count_their_instructions_and_tools(tmp_path: Path) -> None:
    """The OpenAI Agents SDK's generations (the repository's Langfuse fixture) log only the
    input items: the agent's instructions sit in the model parameters and its tools in
    the response. Recounted from the items alone, one was 13 tokens against 55 billed and
    labelled exact, and the billing-discrepancy finding flagged it. Both are now counted:
    within 2 of the bill, and estimates (a strict tool with titles)."""
    con = open_store(tmp_path / "lf.duckdb")
    ingest_paths(con, [str(LANGFUSE / "openai-agents-2025-09-30.trace.json")])
    recount(con)
    rows = con.execute(
        "SELECT reported_input_tokens, recounted_input_tokens, exact FROM token_audit"
    ).fetchall()
    assert len(rows) == 2
    for reported, recounted, exact in rows:
        assert abs(recounted - reported) <= 2 and not exact
