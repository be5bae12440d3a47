"""Streamed responses as SQL macros: a logged stream becomes one response object.

A stream may be logged as a JSON list of chunk objects, or as the raw server-sent-events
text (``data: {...}`` lines, ``data: [DONE]`` ignored). ``ta_stream_response(provider, r)``
folds it into the shape of a non-streamed response, so usage, ids, finish reasons and the
reply's text are read by the same SQL as any other body (only text deltas are joined;
tool-call argument deltas are not):

- OpenAI Chat Completions chunks (``object: chat.completion.chunk``): usage arrives only in
  the last chunk, and only with ``stream_options.include_usage``; no usage chunk means the
  folded response has no ``usage`` (``has_usage = false``, never zero tokens).
- OpenAI Responses events (``type: response.*``): the last event that carries the whole
  ``response`` object (``response.completed``, ``.incomplete`` or ``.failed``).
- Anthropic Messages events: ``message_start.message`` patched with the last
  ``message_delta`` (its ``stop_reason``) and the cumulative ``usage`` of the last one that
  has an ``output_tokens``; without such a ``message_delta`` the stream was cut short (or
  logged without its usage) and has no usage. The ``error`` of its last ``error`` event is
  the folded message's ``error``.
- Gemini ``streamGenerateContent`` chunks: the last ``usageMetadata``, ``modelVersion``,
  ``finishReason`` and ``groundingMetadata`` of the stream; the counts are cumulative, so a
  stream cut before any ``finishReason`` (nor a blocked prompt's
  ``promptFeedback.blockReason``) has no usage.
- An error sent mid-stream (OpenAI Chat's and Gemini's ``{"error": {...}}`` chunk, the
  Responses API's ``error`` event, Anthropic's ``error`` event) is the folded response's
  ``error``: with no usage, the call is an error row (envelope.py), not a reject.

``ta_stream_problem(provider, r)`` says why ``r`` is not a readable stream, or is NULL.
Over many rows, compute ``ta_stream_chunks(r)`` once as a column and use
``ta_stream_problem_of`` and ``ta_stream_fold`` on it: each macro call is expanded in full
when a query is planned, and planning dominates the cost of a small file.
``ta_body_provider(r)`` tells a response body's provider from its shape (``body_provider``
is the same test in Python, for format detection).
"""

from __future__ import annotations

import json
from typing import Any

_ANTHROPIC_EVENTS = (
    "message_start",
    "message_delta",
    "message_stop",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "ping",
    "error",
)
_EVENTS = ", ".join(f"'{e}'" for e in _ANTHROPIC_EVENTS)
# The counts a google-genai SDK dump's ``usage_metadata`` holds one of (genai_sdk.py): a
# ``usage_metadata`` without any is another library's, not Gemini's (LangChain's AIMessage
# has ``usage_metadata: {input_tokens, output_tokens, total_tokens}``).
_SDK_COUNTS = ("prompt_token_count", "candidates_token_count", "total_token_count")


# The keys that make a Gemini chunk or response body: the API's names, and the
# google-genai SDK's (its dumps are read as the API's JSON, genai_sdk.py).
# (the SDK's ``usage_metadata`` only with its counts: ``_sdk_usage``)
_GEMINI_CHUNK_KEYS = ("candidates", "usageMetadata", "promptFeedback", "prompt_feedback")
_GEMINI_BODY_KEYS = (
    "usageMetadata",
    "candidates",
    "modelVersion",
    "responseId",
    "model_version",
    "response_id",
)


def _any_key_sql(c: str, keys: tuple[str, ...]) -> str:
    """SQL: whether JSON object ``c`` has one of ``keys`` (the Python twin: ``k in c``)."""
    return " OR ".join(f"json_exists({c}, '$.{k}')" for k in keys)


def _sdk_usage_sql(c: str) -> str:
    """SQL: whether JSON ``c`` has the google-genai SDK's ``usage_metadata`` (``_SDK_COUNTS``)."""
    return "(" + _any_key_sql(c, tuple(f"usage_metadata.{k}" for k in _SDK_COUNTS)) + ")"


STREAM_MACROS = rf"""
-- The payloads of the "data:" lines of server-sent-events text (NULL where not JSON).
CREATE OR REPLACE TEMP MACRO ta_sse_chunks(s) AS list_transform(
    list_filter(list_transform(string_split(s, E'\n'), lambda l: trim(l, E' \r\t')),
                lambda l: starts_with(l, 'data:') AND trim(substr(l, 6)) <> '[DONE]'),
    lambda l: CASE WHEN json_valid(trim(substr(l, 6))) THEN trim(substr(l, 6))::JSON END);
-- The chunks of a logged stream: a JSON list as is, or the events of SSE text.
CREATE OR REPLACE TEMP MACRO ta_stream_chunks(r) AS CASE json_type(r)
    WHEN 'ARRAY' THEN CAST(r AS JSON[])
    WHEN 'VARCHAR' THEN ta_sse_chunks(r ->> '$') END;
-- The first / last element that is present (neither SQL NULL nor JSON null).
CREATE OR REPLACE TEMP MACRO ta_first(xs) AS
    list_filter(xs, lambda x: x IS NOT NULL AND json_type(x) <> 'NULL')[1];
CREATE OR REPLACE TEMP MACRO ta_last(xs) AS
    list_filter(xs, lambda x: x IS NOT NULL AND json_type(x) <> 'NULL')[-1];
-- The error an OpenAI stream chunk reports, or NULL: a Chat Completions stream sends
-- {{"error": {{...}}}} as a data line when it fails mid-stream, the Responses API an
-- event {{"type": "error", "code", "message", "param"}} (its streaming events reference).
CREATE OR REPLACE TEMP MACRO ta_error_chunk(c) AS CASE
    WHEN json_type(c, '$.error') = 'OBJECT' AND c ->> 'object' IS NULL
         AND c ->> 'type' IS NULL THEN c -> 'error'
    WHEN c ->> 'type' = 'error' THEN json_object('code', c -> 'code',
         'message', c -> 'message', 'param', c -> 'param') END;
-- Whether one chunk has the shape of the provider's stream chunks (an error chunk aside:
-- it tells no provider apart).
CREATE OR REPLACE TEMP MACRO ta_is_shape_chunk(provider, c) AS coalesce(CASE provider
    WHEN 'openai' THEN c ->> 'object' = 'chat.completion.chunk'
                       OR starts_with(c ->> 'type', 'response.')
                       -- Azure OpenAI's content-filter chunks: no object, id or model
                       OR (c ->> 'object' = '' AND json_type(c, '$.choices') = 'ARRAY')
    WHEN 'anthropic' THEN c ->> 'type' IN ({_EVENTS})
    -- (and the google-genai SDK's names of the last two: genai_sdk.py)
    WHEN 'google' THEN json_type(c) = 'OBJECT'
                       AND ({_any_key_sql("c", _GEMINI_CHUNK_KEYS)} OR {_sdk_usage_sql("c")})
    END, false);
-- Whether one chunk belongs in the provider's stream: its chunks, or an error sent
-- mid-stream (Anthropic's error event is one of its events already).
CREATE OR REPLACE TEMP MACRO ta_is_chunk(provider, c) AS ta_is_shape_chunk(provider, c)
    OR coalesce(CASE provider
        WHEN 'openai' THEN ta_error_chunk(c) IS NOT NULL
        WHEN 'google' THEN json_type(c, '$.error') = 'OBJECT' END, false);
CREATE OR REPLACE TEMP MACRO ta_stream_problem_of(provider, ch, is_text) AS CASE
    WHEN ch IS NULL THEN NULL
    WHEN len(ch) = 0 AND is_text THEN 'a string with no SSE "data:" line'
    WHEN len(ch) = 0 THEN 'an empty list'
    WHEN list_position(list_transform(ch, lambda c: c IS NULL), true) IS NOT NULL
        THEN 'stream event ' || list_position(list_transform(ch, lambda c: c IS NULL), true)
             || ' is not valid JSON'
    WHEN list_position(list_transform(ch, lambda c: ta_is_chunk(provider, c)), false) IS NOT NULL
        THEN 'element ' || list_position(list_transform(ch, lambda c: ta_is_chunk(provider, c)),
             false) || ' is not a stream chunk (' || provider || ')'
    WHEN provider = 'anthropic'
         AND list_position(list_transform(ch, lambda c: c ->> 'type'), 'message_start') IS NULL
        THEN 'no message_start event (the usage of the input is in it)'
    END;
-- Why a logged stream cannot be read, or NULL when it can (or when r is not a stream).
CREATE OR REPLACE TEMP MACRO ta_stream_problem(provider, r) AS
    ta_stream_problem_of(provider, ta_stream_chunks(r), json_type(r) = 'VARCHAR');
-- A chat chunk's choice of index 0 (absent index: the first), or NULL.
CREATE OR REPLACE TEMP MACRO ta_choice0(c) AS
    list_filter(ta_list(c -> 'choices'), lambda x: coalesce(x ->> 'index', '0') = '0')[1];
CREATE OR REPLACE TEMP MACRO ta_stream_openai(ch) AS CASE
    WHEN list_position(list_transform(ch, lambda c: starts_with(c ->> 'type', 'response.')),
                       true) IS NOT NULL
    -- an error event after the response began (response.created's object has no usage)
    -- makes the call an error, as a response.failed event does
    THEN json_merge_patch(coalesce(ta_last(list_transform(ch, lambda c:
             CASE WHEN json_type(c, '$.response') = 'OBJECT' THEN c -> 'response' END)),
             '{{}}'::JSON), json_object('error', ta_last(list_transform(ch, lambda c:
             CASE WHEN ta_error_chunk(c) IS NOT NULL THEN ta_error_chunk(c)
                  WHEN json_type(c, '$.response.error') = 'OBJECT'
                  THEN c -> '$.response.error' END))))
    ELSE json_object(
        -- (Azure's content-filter chunks carry an empty id and model and created 0)
        'id', ta_first(list_transform(ch, lambda c: CASE WHEN c ->> 'id' <> '' THEN c -> 'id' END)),
        'object', 'chat.completion',
        'created', ta_first(list_transform(ch, lambda c:
            CASE WHEN c ->> 'created' <> '0' THEN c -> 'created' END)),
        'model', ta_last(list_transform(ch, lambda c:
            CASE WHEN c ->> 'model' <> '' THEN c -> 'model' END)),
        'service_tier', ta_last(list_transform(ch, lambda c: c -> 'service_tier')),
        -- the first choice's deltas only: with n > 1 each chunk carries one choice, by index
        'choices', json_array(json_object(
            'message', json_object('role', 'assistant', 'content', array_to_string(
                list_transform(ch, lambda c:
                    coalesce(ta_choice0(c) ->> '$.delta.content', '')), '')),
            'finish_reason',
            ta_last(list_transform(ch, lambda c: ta_choice0(c) -> 'finish_reason'))))::JSON,
        'usage', ta_last(list_transform(ch, lambda c: c -> 'usage')),
        -- a stream that failed mid-way: the call's error (with no usage, envelope.py)
        'error', ta_last(list_transform(ch, lambda c: ta_error_chunk(c))))
    END;
-- An Anthropic message_delta with an output count (any JSON but null: a bad one is
-- rejected by the count checks); one without it leaves message_start's placeholder.
CREATE OR REPLACE TEMP MACRO ta_output_delta(c) AS c ->> 'type' = 'message_delta'
    AND coalesce(json_type(c, '$.usage.output_tokens') <> 'NULL', false);
CREATE OR REPLACE TEMP MACRO ta_stream_anthropic(ch) AS json_merge_patch(
    coalesce(ta_first(list_transform(ch, lambda c:
        CASE WHEN c ->> 'type' = 'message_start' THEN c -> 'message' END)), '{{}}'::JSON),
    json_object(
        'content', json_array(json_object('type', 'text', 'text', array_to_string(
            list_transform(ch, lambda c: coalesce(c ->> '$.delta.text', '')), '')))::JSON,
        'stop_reason', ta_last(list_transform(ch, lambda c:
            CASE WHEN c ->> 'type' = 'message_delta' THEN c -> '$.delta.stop_reason' END)),
        -- an error event (overloaded_error mid-stream): the call's error (envelope.py)
        'error', ta_last(list_transform(ch, lambda c:
            CASE WHEN c ->> 'type' = 'error' THEN c -> 'error' END)),
        -- patching {{}} first drops null counts, so they never erase message_start's. With
        -- no message_delta that counts the output the stream was cut before its end (or its
        -- usage was not logged): message_start's output count is a placeholder (1), so the
        -- usage is dropped (a JSON null deletes it) and the call is unpriced no_usage, as an
        -- OpenAI stream without its usage chunk is.
        'usage', CASE WHEN list_position(list_transform(ch, lambda c: ta_output_delta(c)),
                                         true) IS NOT NULL
            THEN json_merge_patch('{{}}'::JSON, ta_last(list_transform(ch, lambda c:
                CASE WHEN ta_output_delta(c) THEN c -> 'usage' END)))
            END));
-- Whether a Gemini chunk ends its stream: a candidate's finishReason (a name, or the
-- enum number Vertex writes), or the promptFeedback of a blocked prompt.
CREATE OR REPLACE TEMP MACRO ta_gemini_end(c) AS coalesce(
    list_bool_or(list_transform(ta_list(c -> 'candidates'),
        lambda x: coalesce(json_type(x, '$.finishReason') <> 'NULL', false)))
    OR json_type(c, '$.promptFeedback.blockReason') <> 'NULL', false);
CREATE OR REPLACE TEMP MACRO ta_stream_gemini(ch) AS json_object(
    'responseId', ta_first(list_transform(ch, lambda c: c -> 'responseId')),
    'modelVersion', ta_last(list_transform(ch, lambda c: c -> 'modelVersion')),
    'createTime', ta_first(list_transform(ch, lambda c: c -> 'createTime')),
    'candidates', json_array(json_object(
        'content', json_object('role', 'model', 'parts', json_array(json_object('text',
            array_to_string(list_transform(ch, lambda c: array_to_string(list_transform(
                ta_list(c -> '$.candidates[0].content.parts'),
                lambda x: coalesce(x ->> 'text', '')), '')), '')))),
        'finishReason',
        ta_last(list_transform(ch, lambda c: c -> '$.candidates[0].finishReason')),
        -- grounding with Google Search: its queries arrive with the last chunks
        'groundingMetadata',
        ta_last(list_transform(ch, lambda c: c -> '$.candidates[0].groundingMetadata'))))::JSON,
    -- the counts are cumulative, final only once the stream has ended: with no
    -- finishReason (nor a blocked prompt) it was cut short, and its last counts are a part
    -- of what was billed, so the stream has no usage (unpriced no_usage), as a cut
    -- Anthropic or OpenAI stream has none
    'usageMetadata', CASE WHEN list_bool_or(list_transform(ch, lambda c: ta_gemini_end(c)))
        THEN ta_last(list_transform(ch, lambda c: c -> 'usageMetadata')) END,
    -- an error sent mid-stream ({{"error": {{code, message, status}}}}): the call's error
    'error', ta_last(list_transform(ch, lambda c:
        CASE WHEN json_type(c, '$.error') = 'OBJECT' THEN c -> 'error' END)));
-- Which provider a response body (or the first chunk of a logged stream) came from.
CREATE OR REPLACE TEMP MACRO ta_chunk_provider(c) AS CASE
    WHEN ta_is_shape_chunk('openai', c) THEN 'openai'
    WHEN ta_is_shape_chunk('anthropic', c) THEN 'anthropic'
    WHEN ta_is_shape_chunk('google', c) THEN 'google' END;
CREATE OR REPLACE TEMP MACRO ta_object_provider(r) AS CASE
    WHEN json_type(r) <> 'OBJECT' THEN NULL
    WHEN {_any_key_sql("r", _GEMINI_BODY_KEYS)} OR {_sdk_usage_sql("r")} THEN 'google'
    WHEN r ->> 'type' = 'message' OR starts_with(r ->> 'id', 'msg_') THEN 'anthropic'
    WHEN r ->> 'object' IN ('chat.completion', 'response', 'text_completion')
         OR starts_with(r ->> 'id', 'chatcmpl-') OR starts_with(r ->> 'id', 'resp_')
         OR json_exists(r, '$.choices') THEN 'openai' END;
CREATE OR REPLACE TEMP MACRO ta_body_provider(r) AS CASE
    WHEN json_type(r) IN ('ARRAY', 'VARCHAR') THEN ta_chunk_provider(ta_stream_chunks(r)[1])
    ELSE ta_object_provider(r) END;
-- The chunks of a readable stream folded into one response object.
CREATE OR REPLACE TEMP MACRO ta_stream_fold(provider, ch) AS CASE provider
    WHEN 'openai' THEN ta_stream_openai(ch)
    WHEN 'anthropic' THEN ta_stream_anthropic(ch)
    WHEN 'google' THEN ta_stream_gemini(ch) END;
-- A response body: an object as is, a stream folded into one object, else NULL. (A
-- convenience: queries over many rows compute the chunks once, as a column, and call
-- ta_stream_problem_of and ta_stream_fold on it; every macro call expands in full.)
CREATE OR REPLACE TEMP MACRO ta_stream_response(provider, r) AS CASE
    WHEN json_type(r) = 'OBJECT' THEN r
    WHEN json_type(r) NOT IN ('ARRAY', 'VARCHAR') OR ta_stream_problem(provider, r) IS NOT NULL
        THEN NULL
    ELSE ta_stream_fold(provider, ta_stream_chunks(r)) END;
"""


_OPENAI_OBJECTS = ("chat.completion", "response", "text_completion")


def _sdk_usage(record: dict[str, Any]) -> bool:
    """Whether ``record`` has the google-genai SDK's ``usage_metadata`` (mirrors
    ``_sdk_usage_sql``)."""
    usage = record.get("usage_metadata")
    return isinstance(usage, dict) and any(k in usage for k in _SDK_COUNTS)


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def chunk_provider(chunk: Any) -> str | None:
    """The provider whose stream chunks look like ``chunk`` (mirrors ``ta_is_chunk``)."""
    if not isinstance(chunk, dict):
        return None
    kind = chunk.get("type")
    if (
        chunk.get("object") == "chat.completion.chunk"
        or (isinstance(kind, str) and kind.startswith("response."))
        or (chunk.get("object") == "" and isinstance(chunk.get("choices"), list))  # Azure filter
    ):
        return "openai"
    if kind in _ANTHROPIC_EVENTS:
        return "anthropic"
    if any(k in chunk for k in _GEMINI_CHUNK_KEYS) or _sdk_usage(chunk):
        return "google"
    return None


def body_provider(body: Any) -> str | None:
    """The provider of a response body or logged stream (mirrors ``ta_body_provider``)."""
    if isinstance(body, list):
        return chunk_provider(body[0]) if body else None
    if isinstance(body, str):
        for line in body.splitlines():
            line = line.strip()
            if line.startswith("data:") and line[5:].strip() != "[DONE]":
                try:
                    return chunk_provider(json.loads(line[5:]))
                except (json.JSONDecodeError, RecursionError):  # not JSON, or too deep
                    return None
        return None
    if not isinstance(body, dict):
        return None
    if any(k in body for k in _GEMINI_BODY_KEYS) or _sdk_usage(body):
        return "google"
    ident = _str(body.get("id"))
    if body.get("type") == "message" or ident.startswith("msg_"):
        return "anthropic"
    if (
        body.get("object") in _OPENAI_OBJECTS
        or ident.startswith(("chatcmpl-", "resp_"))
        or "choices" in body
    ):
        return "openai"
    return None


_OPENAI_MODEL_PREFIXES = ("gpt-", "o1", "o3", "o4", "chatgpt-", "text-embedding-", "davinci")


def request_provider(body: Any) -> str | None:
    """A guess at a request body's provider, for detecting files of failed calls only."""
    if not isinstance(body, dict):
        return None
    model = _str(body.get("model"))
    if "contents" in body:
        return "google"
    if model.startswith("claude"):
        return "anthropic"
    if model.startswith(_OPENAI_MODEL_PREFIXES):
        return "openai"
    return None
