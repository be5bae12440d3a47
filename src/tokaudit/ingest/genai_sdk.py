"""The google-genai Python SDK's dumps of Gemini responses, read as the API's JSON.

The SDK's types (``google/genai/types.py``, github.com/googleapis/python-genai) are pydantic
models whose fields are the API's names in snake_case: their ``alias_generator`` is
``to_camel``, so ``response.model_dump(mode="json")`` and ``to_json_dict()`` write
``usage_metadata.prompt_token_count`` where the REST API writes
``usageMetadata.promptTokenCount`` (log-formats §4: "camelCase on the wire and snake_case
in the Python SDK"). The values are the same: counts, enum names (``STOP``, ``AUDIO``,
``ON_DEMAND``) and RFC 3339 times.

``ta_genai_camel(r)`` rewrites the SDK's names of the fields tokaudit reads (and of the
parts of a reply, for its recount) to the API's, once, before the response is read, so an
SDK dump gets exactly the token classes, ids, model, finish reason and recount of the same
response logged as the API sent it. It takes a response object or a list of stream chunks
(JSON) and leaves anything else, and any response without one of the SDK's top-level or
candidate names (``_MARKS``), as it is.

- **Keys only.** A key is ``"name"`` after ``{`` or ``,`` (and optional spaces) and before
  optional spaces and ``:``. Inside a JSON string a quote is always escaped (``\\"``), so
  no text of a string value matches; each key found is wrapped in a character valid JSON
  never holds raw (U+0001), and the text split at it, so the rewrite is one regex pass.
- **camelCase wins.** A response that holds any of the API's names of ``_MARKS``
  (``usageMetadata``, ``modelVersion`` ...) is the API's JSON and is read as it is: its
  snake_case names, if any, are not read (renaming them could make a key appear twice).
- **Limit.** The names are renamed wherever they are keys: a function call's ``args``
  whose own keys are one of these names (``mime_type``, ``token_count`` ...) are recounted
  with the camelCase name.
"""

from __future__ import annotations

import re

# The SDK names of the fields read from a Gemini response (envelope.py, usage.py,
# streams.py) and of a reply's parts (recount/render.py reads the camelCase ones).
SDK_NAMES = (
    # GenerateContentResponse
    "usage_metadata",
    "model_version",
    "response_id",
    "create_time",
    "prompt_feedback",
    "block_reason",
    # Candidate, GroundingMetadata
    "finish_reason",
    "grounding_metadata",
    "web_search_queries",
    # GenerateContentResponseUsageMetadata, ModalityTokenCount
    "prompt_token_count",
    "candidates_token_count",
    "cached_content_token_count",
    "thoughts_token_count",
    "tool_use_prompt_token_count",
    "total_token_count",
    "prompt_tokens_details",
    "candidates_tokens_details",
    "cache_tokens_details",
    "tool_use_prompt_tokens_details",
    "token_count",
    "traffic_type",
    # Part, Blob, FileData, VideoMetadata
    "inline_data",
    "file_data",
    "function_call",
    "function_response",
    "executable_code",
    "code_execution_result",
    "thought_signature",
    "video_metadata",
    "mime_type",
    "file_uri",
    "display_name",
    "start_offset",
    "end_offset",
)


def camel(name: str) -> str:
    """The API's name of an SDK field (pydantic's ``to_camel``)."""
    return re.sub("_([a-z])", lambda m: m.group(1).upper(), name)


API_NAMES = {name: camel(name) for name in SDK_NAMES}

# Top-level and candidate names every SDK dump of a response (or chunk) has one of.
_MARKS = ("usage_metadata", "model_version", "response_id", "create_time", "finish_reason")


def _alternatives(names: tuple[str, ...] | list[str]) -> str:
    return "|".join(names)


def _key_pattern(names: str) -> str:
    # a key: after { or , (and spaces), before spaces and ':' (a string's quotes are escaped)
    return f'([{{,][ \\t\\n\\r]*)"({names})"([ \\t\\n\\r]*:)'


_API_MARKS = tuple(API_NAMES[m] for m in _MARKS)
_ALL = _alternatives(SDK_NAMES)
_TO_API = "CASE x " + " ".join(f"WHEN '{s}' THEN '{c}'" for s, c in API_NAMES.items()) + " END"
_SNAKE = ", ".join(f"'{s}'" for s in SDK_NAMES)

GENAI_MACROS = f"""
-- A JSON text split at the U+0001 around its known keys: the even elements are key names,
-- each SDK name becomes the API's. (No lambda here captures the text: DuckDB evaluates a
-- captured expression once per list element.)
CREATE OR REPLACE TEMP MACRO ta_genai_names(s) AS array_to_string(list_transform(s,
    lambda x, i: CASE WHEN i % 2 = 0 AND x IN ({_SNAKE}) THEN {_TO_API} ELSE x END), '');
-- A Gemini response (object, or list of stream chunks) with the google-genai SDK's field
-- names renamed to the API's, when it has the SDK's names and none of the API's.
CREATE OR REPLACE TEMP MACRO ta_genai_camel(r) AS CASE
    WHEN json_type(r) IN ('OBJECT', 'ARRAY')
         AND regexp_matches(r::VARCHAR, '{_key_pattern(_alternatives(_MARKS))}')
         AND NOT regexp_matches(r::VARCHAR, '{_key_pattern(_alternatives(_API_MARKS))}')
    THEN ta_genai_names(string_split(regexp_replace(r::VARCHAR, '{_key_pattern(_ALL)}',
        '\\1"' || chr(1) || '\\2' || chr(1) || '"\\3', 'g'), chr(1)))::JSON
    ELSE r END;
"""
