"""Usage objects to disjoint token classes, once per convention, as SQL macros.

Every format reads its provider's usage object and calls one of these, so the token
semantics of pricing-semantics §2 live in exactly one place:

- ``ta_usage_openai(u)``: ``prompt_tokens``/``input_tokens`` include cached and
  cache-write tokens; ``completion_tokens``/``output_tokens`` include reasoning. Also
  right for LiteLLM and OTel GenAI counts, which are cache-inclusive.
- ``ta_usage_anthropic(u)``: ``input_tokens`` exclude cache reads and writes; writes
  split into 5-minute and 1-hour. Also Claude Code's ``message.usage``.
- ``ta_usage_gemini(u)``: ``promptTokenCount`` includes ``cachedContentTokenCount``;
  ``thoughtsTokenCount`` is outside ``candidatesTokenCount``.

Each has an ``_n`` form on counts already extracted (``ta_usage_openai_n`` ...), for
formats that read the counts in one typed parse (the envelope, Claude Code); the
``(u)`` forms call it, so the rules are written once.

Each returns a STRUCT: has_usage, input (uncached, audio excluded), input_audio
(uncached audio input, split out only by the Gemini convention from the AUDIO entries of
``promptTokensDetails``), cache_read (audio excluded), cache_read_audio (cached audio: the
AUDIO entries of Gemini's ``cacheTokensDetails``), cache_write_5m, cache_write_1h, output
(incl. reasoning), reasoning, web_search, problem (why the object is inconsistent, or
NULL). A caller must store the audio classes as well as ``input`` and ``cache_read``.
"""

from __future__ import annotations

_OPENAI_P = "coalesce(ta_int(u, '$.prompt_tokens'), ta_int(u, '$.input_tokens'))"
_OPENAI_C = (
    "coalesce(ta_int(u, '$.prompt_tokens_details.cached_tokens'), "
    "ta_int(u, '$.input_tokens_details.cached_tokens'), 0)"
)
_OPENAI_W = (
    "coalesce(ta_int(u, '$.prompt_tokens_details.cache_write_tokens'), "
    "ta_int(u, '$.input_tokens_details.cache_write_tokens'), 0)"
)
_OPENAI_O = "coalesce(ta_int(u, '$.completion_tokens'), ta_int(u, '$.output_tokens'))"
_OPENAI_R = (
    "coalesce(ta_int(u, '$.completion_tokens_details.reasoning_tokens'), "
    "ta_int(u, '$.output_tokens_details.reasoning_tokens'))"
)
_AN_CW5 = "ta_int(u, '$.cache_creation.ephemeral_5m_input_tokens')"
_AN_CW1 = "ta_int(u, '$.cache_creation.ephemeral_1h_input_tokens')"
_AN_CW = "ta_int(u, '$.cache_creation_input_tokens')"
_GM_PT = "ta_int(u, '$.promptTokenCount')"
_GM_TU = "coalesce(ta_int(u, '$.toolUsePromptTokenCount'), 0)"
_GM_CC = "coalesce(ta_int(u, '$.cachedContentTokenCount'), 0)"


# google.cloud.aiplatform.v1beta1.Modality: Vertex with ``enum-encoding=int`` writes the
# number (TEXT 1, IMAGE 2, VIDEO 3, AUDIO 4, DOCUMENT 5) where others write the name.
MODALITY_NUMBERS = {"AUDIO": 4}


def gm_modality_is(value: str, modality: str) -> str:
    """SQL: the modality text ``value`` is ``modality``, by name or by enum number."""
    return f"{value} IN ('{modality}', '{MODALITY_NUMBERS[modality]}')"


def _gm_modality(details: str, modality: str) -> str:
    """Sum of ``tokenCount`` over the ``details`` entries of one modality (0 when absent)."""
    wanted = gm_modality_is("d ->> 'modality'", modality)
    return (
        f"coalesce(list_sum(list_transform(list_filter(ta_list(u -> '$.{details}'), "
        f"lambda d: {wanted}), lambda d: ta_int(d, '$.tokenCount'))), 0)"
    )


# The per-modality lists whose AUDIO entries the Gemini convention reads (count_problems
# checks them: a count read as absent would bill the audio at the text rate).
GEMINI_DETAILS = ("promptTokensDetails", "toolUsePromptTokensDetails", "cacheTokensDetails")


# Cached audio input, and uncached: prompt (and tool-use prompt) AUDIO minus cached AUDIO.
_GM_CACHED_AUDIO = _gm_modality("cacheTokensDetails", "AUDIO")
_GM_AUDIO = (
    f"({_gm_modality('promptTokensDetails', 'AUDIO')} "
    f"+ {_gm_modality('toolUsePromptTokensDetails', 'AUDIO')} "
    f"- {_GM_CACHED_AUDIO})"
)

USAGE_MACROS = f"""
-- The OpenAI convention on counts already read (p: prompt_tokens or input_tokens, c / w:
-- cached / cache-write tokens (0 when absent), o: completion_tokens or output_tokens,
-- r: reasoning tokens; NULL = absent). The envelope's typed parse calls it directly.
-- Sums of counts are HUGEINT: each count may be up to 2^63 - 1, and a BIGINT overflow
-- would fail the whole file; a record they do not fit is rejected by its problem.
CREATE OR REPLACE TEMP MACRO ta_usage_openai_n(p, c, w, o, r) AS {{
    'has_usage': p IS NOT NULL,
    'input': TRY_CAST(p::HUGEINT - c - w AS BIGINT),
    'input_audio': 0::BIGINT,
    'cache_read': c,
    'cache_read_audio': 0::BIGINT,
    'cache_write_5m': w,
    'cache_write_1h': 0::BIGINT,
    'output': coalesce(o, 0),
    'reasoning': r,
    'web_search': 0::BIGINT,
    'problem': CASE
        WHEN c::HUGEINT + w > p
            THEN 'cached tokens exceed prompt tokens: not OpenAI usage semantics'
        WHEN r > 0 AND o IS NULL
            THEN 'reasoning tokens without an output count (completion_tokens / output_tokens '
                 || 'is missing)'
        WHEN r > o
            THEN 'reasoning tokens exceed output tokens' END
}};
CREATE OR REPLACE TEMP MACRO ta_usage_openai(u) AS ta_usage_openai_n(
    {_OPENAI_P}, {_OPENAI_C}, {_OPENAI_W}, {_OPENAI_O}, {_OPENAI_R});
-- The Anthropic convention on counts already read (i: input_tokens, cr: cache reads,
-- cw: cache_creation_input_tokens, cw5 / cw1: its 5m / 1h split, o: output_tokens,
-- th: thinking_tokens, ws: web searches; NULL = absent). Formats that extract the counts
-- in one parse (Claude Code) call it directly; it is the one place the rules live.
CREATE OR REPLACE TEMP MACRO ta_usage_anthropic_n(i, cr, cw, cw5, cw1, o, th, ws) AS {{
    'has_usage': i IS NOT NULL,
    'input': i,
    'input_audio': 0::BIGINT,
    'cache_read': coalesce(cr, 0),
    'cache_read_audio': 0::BIGINT,
    'cache_write_5m': CASE WHEN cw5 IS NULL AND cw1 IS NULL
                           THEN coalesce(cw, 0) ELSE coalesce(cw5, 0) END,
    'cache_write_1h': coalesce(cw1, 0),
    'output': coalesce(o, 0),
    'reasoning': th,
    'web_search': coalesce(ws, 0),
    'problem': CASE
        WHEN (cw5 IS NOT NULL OR cw1 IS NOT NULL) AND cw IS NOT NULL
             AND coalesce(cw5, 0)::HUGEINT + coalesce(cw1, 0) <> cw
            THEN 'cache_creation 5m + 1h split does not add up to cache_creation_input_tokens'
        WHEN th > 0 AND o IS NULL
            THEN 'thinking tokens without an output count (output_tokens is missing)'
        WHEN th > o
            THEN 'thinking tokens exceed output tokens' END
}};
CREATE OR REPLACE TEMP MACRO ta_usage_anthropic(u) AS ta_usage_anthropic_n(
    ta_int(u, '$.input_tokens'), ta_int(u, '$.cache_read_input_tokens'), {_AN_CW},
    {_AN_CW5}, {_AN_CW1}, ta_int(u, '$.output_tokens'),
    ta_int(u, '$.output_tokens_details.thinking_tokens'),
    ta_int(u, '$.server_tool_use.web_search_requests'));
-- The Gemini convention on counts already read (pt: promptTokenCount, tu / cc: tool-use
-- prompt and cached tokens (0 when absent), ct: candidatesTokenCount, th:
-- thoughtsTokenCount, audio: uncached audio input, as in _GM_AUDIO, cached_audio: the
-- cached AUDIO tokens, part of cc; NULL = absent).
CREATE OR REPLACE TEMP MACRO ta_usage_gemini_n(pt, tu, cc, ct, th, audio, cached_audio) AS {{
    'has_usage': pt IS NOT NULL,
    'input': TRY_CAST(pt::HUGEINT + tu - cc - audio AS BIGINT),
    'input_audio': audio,
    'cache_read': cc - cached_audio,
    'cache_read_audio': cached_audio,
    'cache_write_5m': 0::BIGINT,
    'cache_write_1h': 0::BIGINT,
    'output': TRY_CAST(coalesce(ct, 0)::HUGEINT + coalesce(th, 0) AS BIGINT),
    'reasoning': th,
    'web_search': 0::BIGINT,
    'problem': CASE WHEN cc > coalesce(pt, 0)::HUGEINT + tu
                    THEN 'cachedContentTokenCount exceeds promptTokenCount'
                    WHEN cached_audio > cc
                    THEN 'cacheTokensDetails AUDIO exceeds cachedContentTokenCount'
                    WHEN audio < 0
                    THEN 'cacheTokensDetails AUDIO exceeds promptTokensDetails AUDIO'
                    WHEN cc + audio > coalesce(pt, 0)::HUGEINT + tu
                    THEN 'promptTokensDetails AUDIO exceeds the uncached prompt tokens'
                    WHEN pt::HUGEINT + tu - cc - audio > 9223372036854775807
                    THEN 'promptTokenCount + toolUsePromptTokenCount is too large'
                    WHEN coalesce(ct, 0)::HUGEINT + coalesce(th, 0) > 9223372036854775807
                    THEN 'candidatesTokenCount + thoughtsTokenCount is too large' END
}};
-- ta_int_problem for a count the provider always writes (NOT_NULL_FIELDS): a JSON null
-- there is a broken record, never a count of 0 (an absent field keeps its meaning).
CREATE OR REPLACE TEMP MACRO ta_count_problem(doc, label, path) AS CASE
    WHEN json_type(doc, path) = 'NULL' THEN label || ' is null'
    ELSE ta_int_problem(doc, label, path) END;
CREATE OR REPLACE TEMP MACRO ta_usage_gemini(u) AS ta_usage_gemini_n(
    {_GM_PT}, {_GM_TU}, {_GM_CC}, ta_int(u, '$.candidatesTokenCount'),
    ta_int(u, '$.thoughtsTokenCount'), {_GM_AUDIO}, {_GM_CACHED_AUDIO});
"""

# The counts each convention reads, relative to its usage object: checked for type.
COUNT_FIELDS: dict[str, list[str]] = {
    "openai": [
        "prompt_tokens",
        "input_tokens",
        "prompt_tokens_details.cached_tokens",
        "input_tokens_details.cached_tokens",
        "prompt_tokens_details.cache_write_tokens",
        "input_tokens_details.cache_write_tokens",
        "completion_tokens",
        "output_tokens",
        "completion_tokens_details.reasoning_tokens",
        "output_tokens_details.reasoning_tokens",
    ],
    "anthropic": [
        "input_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
        "cache_creation.ephemeral_5m_input_tokens",
        "cache_creation.ephemeral_1h_input_tokens",
        "output_tokens",
        "output_tokens_details.thinking_tokens",
        "server_tool_use.web_search_requests",
    ],
    "gemini": [
        "promptTokenCount",
        "toolUsePromptTokenCount",
        "cachedContentTokenCount",
        "candidatesTokenCount",
        "thoughtsTokenCount",
    ],
}

# The counts every usage object of the convention carries (input and output), as opposed
# to breakdowns (cache, reasoning, ...). A JSON null in one of these rejects the record: read
# as 0 it would price the call without its output or input. A null breakdown reads as
# absent, as it always has: gateways and SDK dumps write null for "not reported" there
# (LiteLLM's ``"prompt_tokens_details": {"cached_tokens": null, ...}``).
NOT_NULL_FIELDS: dict[str, list[str]] = {
    "openai": ["prompt_tokens", "input_tokens", "completion_tokens", "output_tokens"],
    "anthropic": ["input_tokens", "output_tokens"],
    "gemini": ["promptTokenCount", "candidatesTokenCount"],
}


def null_count_pattern() -> str:
    """A regexp finding, in a minified usage object, a NOT_NULL_FIELDS key set to null.

    It may also match such a key deeper down (never a miss), so a typed path that uses it
    to send a line to the reference SQL only sends a few lines too many.
    """
    names = sorted({f for fields in NOT_NULL_FIELDS.values() for f in fields})
    return '"(' + "|".join(names) + ')":null'


# A count the typed staging paths read with a plain cast: a non-negative whole number that
# fits BIGINT. Anything else (12.5, -3, 1e3, "7") is routed to ``ta_int_problem``'s reason.
PLAIN_INT = "[0-9]{1,18}"


def not_plain_count(value: str) -> str:
    """SQL: the count text ``value`` (NULL when absent) is not a plain whole number."""
    return f"({value} IS NOT NULL AND NOT regexp_full_match({value}, '{PLAIN_INT}'))"


def count_containers(convention: str) -> list[str]:
    """The objects holding a convention's breakdown counts (``prompt_tokens_details``, ...)."""
    return sorted({f.split(".")[0] for f in COUNT_FIELDS[convention] if "." in f})


def count_problems(convention: str, doc: str, label: str) -> str:
    """SQL: why a count in the usage object ``doc`` is unusable (wrong type, negative, or
    null where the convention always has a count: NOT_NULL_FIELDS), or why an object of
    counts is not one (``"prompt_tokens_details": "abc"`` read as no cached tokens: QA).
    Gemini's AUDIO ``tokenCount`` entries and their lists are checked too (GEMINI_DETAILS):
    ``"400"``, ``400.0`` or a list logged as an object read as no audio, billed as text."""
    containers = [
        f"CASE WHEN json_type({doc}, '$.{c}') NOT IN ('OBJECT', 'NULL') THEN "
        f"'{label}.{c} should be an object, got ' || ({doc} -> '$.{c}')::VARCHAR END"
        for c in count_containers(convention)
    ]
    audio = gm_modality_is("e ->> 'modality'", "AUDIO")
    details = [
        f"CASE WHEN json_type({doc}, '$.{d}') NOT IN ('ARRAY', 'NULL') THEN "
        f"'{label}.{d} should be a list, got ' || ({doc} -> '$.{d}')::VARCHAR "
        f"ELSE list_filter(list_transform(list_filter(ta_list({doc} -> '$.{d}'), "
        f"lambda e: {audio}), "
        f"lambda e: ta_int_problem(e, '{label}.{d} AUDIO tokenCount', '$.tokenCount')), "
        "lambda p: p IS NOT NULL)[1] END"
        for d in (GEMINI_DETAILS if convention == "gemini" else ())
    ]
    checks = ", ".join(
        [
            *containers,
            *details,
            *(
                f"{'ta_count_problem' if f in NOT_NULL_FIELDS[convention] else 'ta_int_problem'}"
                f"({doc}, '{label}.{f}', '$.{f}')"
                for f in COUNT_FIELDS[convention]
            ),
        ]
    )
    return f"nullif(concat_ws('; ', {checks}), '')"


def usage_struct(convention: str, doc: str) -> str:
    """SQL: the token-class STRUCT of the usage object ``doc``."""
    return f"ta_usage_{convention}({doc})"


# The token-class columns of ``_staged`` from a usage STRUCT ``us`` (a ``ta_usage_*`` result):
# NULL, never 0, where the record has no usage.
TOKEN_CLASS_COLUMNS = ",\n    ".join(
    f"CASE WHEN us.has_usage THEN us.{field} END AS {column}"
    for field, column in (
        ("input", "input_tokens"),
        ("input_audio", "input_audio_tokens"),
        ("cache_read", "cache_read_tokens"),
        ("cache_read_audio", "cache_read_audio_tokens"),
        ("cache_write_5m", "cache_write_5m_tokens"),
        ("cache_write_1h", "cache_write_1h_tokens"),
        ("output", "output_tokens"),
        ("reasoning", "reasoning_tokens"),
    )
)
