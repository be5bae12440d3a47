"""Split stored request bodies into countable units, in DuckDB SQL.

Conversation logs re-send their history on every turn, so the same message appears in
many request bodies. Each message (and the system prompt, the tool definitions, the
response format) becomes a unit keyed by a hash of its content and its context; a unit
is tokenized once, ever, and a request's count is the sum of its units plus the reply
priming. The splitting runs in DuckDB (parallel C++ JSON), so Python only ever sees
the distinct units that have not been counted yet.

Context that changes a unit's count is part of its key: the provider (body shape), the
chat profile (framing), the tool's function name for a tool result, whether a tool
result is the last message, and whether the first system message is followed by tool
definitions (OpenAI pads it with a newline).
"""

from __future__ import annotations

import duckdb

__all__ = ["explode_inputs", "load_payloads", "unit_hash_sql"]


def unit_hash_sql(provider: str, profile: str, kind: str, ctx: str, payload: str) -> str:
    """The SQL expression of a unit's key; the same formula everywhere.

    ``'u'`` + a hash of the context + DuckDB's 64-bit ``hash`` of the payload + its length:
    several times faster than md5 over every re-sent message, and two different units of
    the same length collide about once in 10^11 pairs. Should a DuckDB release change
    ``hash``, keys change and units are simply counted again.
    """
    return f"{_prefix(provider, profile, kind, ctx)} || {_payload_key(payload)}"


def _prefix(provider: str, profile: str, kind: str, ctx: str) -> str:
    return f"'u' || hash({provider}, {profile}, {kind}, {ctx})::VARCHAR || '.'"


def _payload_key(payload: str) -> str:
    return f"hash({payload})::VARCHAR || ':' || length({payload}::VARCHAR)"


# Every JSON function re-parses its argument, so each body is parsed once, by from_json
# into a struct (message lists come out as JSON[] directly; a key of another JSON type
# is NULL); array or string is told from the first character, not by parsing again.
_MESSAGE_SHAPE = '{"messages":"JSON[]","contents":"JSON[]","input":"JSON"}'
_SHAPE = (
    '{"messages":"JSON[]","contents":"JSON[]","input":"JSON","instructions":"JSON",'
    '"system":"JSON","systemInstruction":"JSON","system_instructions":"JSON",'
    '"tools":"JSON","functions":"JSON","response_format":"JSON","tool_choice":"JSON",'
    '"function_call":"JSON"}'
)
# A body may also be a bare list of messages (Langfuse keeps the input as logged).
_BARE_LIST = "CASE WHEN left(ltrim(p.body), 1) = '[' THEN CAST(p.body AS JSON[]) END"


def _is(value: str, first: str) -> str:
    return f"coalesce(left(ltrim({value}::VARCHAR), 1) = '{first}', false)"


_PARSED = f"""
WITH src AS (
    SELECT t.key, t.input_hash, t.provider, t.profile, p.chars,
        from_json(p.body, '{_SHAPE}') AS v, {_BARE_LIST} AS bare,
        -- tool results (tool_call_id, function_call_output) need their call's name: the
        -- per-message path. A fast scan of the text; a false hit only costs speed.
        contains(p.body, 'tool_call') OR contains(p.body, 'function_call_output') AS calls
    FROM _todo_in t JOIN prompt_texts p ON p.text_hash = t.input_hash
), m AS (
    SELECT *, coalesce(v.messages, v.contents,
                       CASE WHEN {_is("v.input", "[")} THEN CAST(v.input AS JSON[]) END,
                       bare, []::JSON[]) AS all_msgs
    FROM src
), l AS (
    SELECT key, input_hash, provider, profile, chars, all_msgs,
        -- tools (a system message then gets a newline) or tool results: per-message path
        ({_is("v.tools", "[")} AND v.tools::VARCHAR <> '[]')
            OR ({_is("v.functions", "[")} AND v.functions::VARCHAR <> '[]')
            OR coalesce(calls, false) AS complex,
        coalesce(v.instructions, v.system, v.systemInstruction, v.system_instructions) AS sys,
        CASE WHEN {_is("v.input", '"')} THEN v.input END AS input_str,
        CASE WHEN {_is("v.tools", "[")} AND v.tools::VARCHAR <> '[]' THEN v.tools
             WHEN {_is("v.functions", "[")} AND v.functions::VARCHAR <> '[]' THEN v.functions
        END AS tools,
        CASE WHEN {_is("v.response_format", "{")} THEN v.response_format END AS rfmt,
        v.tool_choice AS tchoice,
        v.function_call AS fcall
    FROM m
)
-- Plain requests keep only their messages' payload keys, not the messages: the few
-- payloads still to count are read again later from one body each.
SELECT key, input_hash, provider, profile, chars, complex, sys, input_str, tools, rfmt,
    tchoice, fcall,
    CASE WHEN complex THEN all_msgs END AS msgs,
    CASE WHEN NOT complex THEN list_transform(all_msgs, lambda m: {_payload_key("m")}) END
        AS keys
FROM l
"""

_MESSAGES = """
WITH m0 AS (
    SELECT key, provider, profile, tools IS NOT NULL AS has_tools, sys IS NOT NULL AS has_sys,
        unnest(msgs) AS msg, unnest(range(1, len(msgs) + 1)) AS i, len(msgs) AS n
    FROM _parsed WHERE complex
), m1 AS (
    SELECT *, json_extract(msg, ['$.role', '$.type', '$.tool_call_id', '$.call_id', '$.name',
                                 '$.tool_calls']) AS f
    FROM m0
), m AS (
    SELECT key, provider, profile, has_tools, has_sys, msg, i, n,
        f[1] ->> '$' AS role, f[2] ->> '$' AS mtype, f[3] ->> '$' AS tool_call_id,
        f[4] ->> '$' AS call_id, f[5] ->> '$' AS fname,
        CASE WHEN left(f[6]::VARCHAR, 1) = '[' THEN CAST(f[6] AS JSON[]) END AS calls,
        min(CASE WHEN f[1] ->> '$' IN ('system', 'developer') THEN i END)
            OVER (PARTITION BY key) AS first_sys,
        lead(coalesce(f[1] ->> '$', f[2] ->> '$')) OVER (PARTITION BY key ORDER BY i)
            AS next_role
    FROM m1
), tc AS (
    SELECT key, unnest(calls) AS call, len(calls) AS ncalls FROM m WHERE calls IS NOT NULL
), named AS (
    SELECT key, call_id, any_value(name) AS name, max(ncalls) AS ncalls FROM (
        SELECT key, call ->> 'id' AS call_id, call -> '$.function' ->> 'name' AS name, ncalls
        FROM tc
        UNION ALL
        SELECT key, call_id, fname, 1 FROM m WHERE mtype = 'function_call'
    ) WHERE call_id IS NOT NULL GROUP BY ALL
)
SELECT m.key, m.provider, m.profile, 'msg' AS kind,
    CASE
        WHEN m.provider <> 'openai' THEN ''
        WHEN m.role = 'tool' OR m.mtype = 'function_call_output' THEN
            coalesce(c.name, '')
            || CASE WHEN coalesce(m.next_role, 'assistant') IN ('assistant', 'message')
                     AND coalesce(c.ncalls, 1) = 1 THEN '|last' ELSE '' END
        WHEN m.i = m.first_sys AND m.has_tools AND NOT m.has_sys THEN 'pad'
        ELSE ''
    END AS ctx,
    m.msg::VARCHAR AS payload
FROM m LEFT JOIN named c
  ON c.key = m.key
 AND c.call_id = coalesce(m.tool_call_id,
                          CASE WHEN m.mtype = 'function_call_output' THEN m.call_id END)
"""

_SINGLES = """
SELECT key, provider, profile, 'sys' AS kind,
    CASE WHEN provider = 'openai' AND tools IS NOT NULL THEN 'pad' ELSE '' END AS ctx,
    sys::VARCHAR AS payload FROM _parsed WHERE sys IS NOT NULL
UNION ALL
SELECT key, provider, profile, 'str', '', input_str::VARCHAR FROM _parsed
WHERE input_str IS NOT NULL
UNION ALL
SELECT l.key, l.provider, l.profile, 'tools',
    CASE WHEN l.sys IS NOT NULL OR list_bool_or(list_transform(coalesce(l.msgs, []::JSON[]),
             lambda x: (x ->> 'role') IN ('system', 'developer'))) THEN 'sys' ELSE '' END,
    l.tools::VARCHAR
FROM _parsed l WHERE l.tools IS NOT NULL
UNION ALL
SELECT key, provider, profile, 'rfmt', '', rfmt::VARCHAR FROM _parsed WHERE rfmt IS NOT NULL
UNION ALL
SELECT key, provider, profile, 'tchoice', '', coalesce(tchoice, fcall)::VARCHAR FROM _parsed
WHERE coalesce(tchoice, fcall) IS NOT NULL
"""


def explode_inputs(con: duckdb.DuckDBPyConnection) -> None:
    """``_todo_in`` (key, input_hash, provider, profile) → ``_req_units``, ``_occ``, ``_payloads``.

    ``_req_units(key, unit_hash)`` lists every unit of every request key (a unit that
    appears twice in one request is listed twice). Units of requests with tools carry their
    payload in ``_payloads``; messages of plain requests are only located, in
    ``_occ(unit_hash, input_hash, idx, chars, provider, profile)``, and read back by
    ``load_payloads`` for the ones still to count.
    """
    con.execute(f"CREATE OR REPLACE TEMP TABLE _parsed AS {_PARSED}")
    hashed = unit_hash_sql("provider", "profile", "kind", "ctx", "payload")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _payloads AS
        SELECT key, {hashed} AS unit_hash, provider, profile, kind, ctx, payload
        FROM (({_MESSAGES}) UNION ALL {_SINGLES})"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _occ AS
        SELECT key, {_prefix("provider", "profile", "'msg'", "''")} || unnest(keys) AS unit_hash,
            input_hash, unnest(range(1, len(keys) + 1)) AS idx, chars, provider, profile
        FROM _parsed WHERE NOT complex"""
    )
    con.execute("DROP TABLE _parsed")
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _req_units AS
        SELECT key, unit_hash FROM _payloads UNION ALL SELECT key, unit_hash FROM _occ"""
    )


def load_payloads(con: duckdb.DuckDBPyConnection, need: str) -> None:
    """``_units``: the render inputs of the unit hashes selected by ``need``.

    A plain message is read from the largest body it appears in (usually a conversation's
    last request, which holds all of them), each such body parsed once for all the
    messages it supplies.
    """
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _units AS
        WITH wanted AS ({need}),
        reps AS (
            SELECT o.unit_hash, arg_max(struct_pack(h := o.input_hash, i := o.idx), o.chars)
                AS loc, any_value(o.provider) AS provider, any_value(o.profile) AS profile
            FROM _occ o SEMI JOIN wanted w ON w.unit_hash = o.unit_hash
            GROUP BY o.unit_hash
        ), bodies AS (
            SELECT loc.h AS input_hash, list(unit_hash) AS hashes, list(loc.i) AS idxs,
                list(provider) AS providers, list(profile) AS profiles
            FROM reps GROUP BY loc.h
        ), parsed AS (
            SELECT b.*, from_json(p.body, '{_MESSAGE_SHAPE}') AS v, {_BARE_LIST} AS bare
            FROM bodies b JOIN prompt_texts p ON p.text_hash = b.input_hash
        ), picked AS (
            SELECT hashes, providers, profiles, list_select(coalesce(v.messages, v.contents,
                CASE WHEN {_is("v.input", "[")} THEN CAST(v.input AS JSON[]) END, bare),
                idxs) AS msgs
            FROM parsed
        )
        SELECT unnest(hashes) AS unit_hash, unnest(providers) AS provider,
            unnest(profiles) AS profile, 'msg' AS kind, '' AS ctx,
            unnest(msgs)::VARCHAR AS payload
        FROM picked
        UNION ALL
        SELECT unit_hash, any_value(provider), any_value(profile), any_value(kind),
            any_value(ctx), any_value(payload)
        FROM _payloads SEMI JOIN wanted USING (unit_hash) GROUP BY unit_hash"""
    )
