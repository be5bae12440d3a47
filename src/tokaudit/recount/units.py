"""Split stored request bodies into countable units, in DuckDB SQL.

Conversation logs re-send their history on every turn, so the same message appears in
many request bodies. Each message (and the system prompt, the tool definitions, the
response format) becomes a unit keyed by a hash of its content and its context; a unit
is tokenized once, ever, and a request's count is the sum of its units plus the reply
priming. The splitting runs in DuckDB (parallel C++ JSON), so Python only ever sees
the distinct units that have not been counted yet.

Context that changes a unit's count is part of its key: the provider (body shape), the
chat profile (framing), the tool's function name for a tool result, what follows a tool
result (the reply, an assistant or a user message), and whether the first system message
is followed by tool definitions (OpenAI pads it with a newline).
"""

from __future__ import annotations

import duckdb

from tokaudit.recount.render import ANSWERS, SYSTEM_END
from tokaudit.store.parallel import over_row_ranges, row_ranges, threads

__all__ = ["explode_inputs", "payload_rows", "unit_hash_sql", "unit_name_sql"]


def unit_hash_sql(provider: str, profile: str, kind: str, ctx: str, payload: str) -> str:
    """The SQL expression of a unit's key; the same formula everywhere.

    ``'u'`` + a hash of the context + DuckDB's 64-bit ``hash`` of the payload + its length
    in bytes: several times faster than md5 over every re-sent message, and two different
    units of the same length collide about once in 10^11 pairs. Should a DuckDB release
    change ``hash``, keys change and units are simply counted again. The length is
    ``strlen`` (bytes, stored beside the string) rather than ``length`` (characters, a
    scan of the text): 0.2 s of the benchmark's conversation recount.
    """
    return unit_name_sql(
        _prefix(provider, profile, kind, ctx), f"hash({payload})", f"strlen({payload}::VARCHAR)"
    )


def unit_name_sql(pre: str, h: str, n: str) -> str:
    """The stored key of a unit from its three numbers (context hash, payload hash, length).

    Working tables carry the numbers (joins on integers are several times faster than on
    40-character strings); the string is built only for distinct units.
    """
    return f"'u' || {pre}::VARCHAR || '.' || {h}::VARCHAR || ':' || {n}::VARCHAR"


def _prefix(provider: str, profile: str, kind: str, ctx: str) -> str:
    return f"hash({provider}, {profile}, {kind}, {ctx})"


# Every JSON function re-parses its argument, so each body is parsed once, by from_json
# into a struct (message lists come out as JSON[] directly; a key of another JSON type
# is NULL); array or string is told from the first character, not by parsing again.
_MESSAGE_SHAPE = '{"messages":"JSON[]","contents":"JSON","input":"JSON"}'
_SHAPE = (
    '{"messages":"JSON[]","contents":"JSON","input":"JSON","instructions":"JSON",'
    '"system":"JSON","systemInstruction":"JSON","system_instruction":"JSON",'
    '"system_instructions":"JSON",'
    '"tools":"JSON","functions":"JSON","response_format":"JSON","tool_choice":"JSON",'
    '"function_call":"JSON","text":"JSON","previous_response_id":"JSON",'
    '"conversation":"JSON","prompt":"JSON","prediction":"JSON"}'
)
# A body may also be a bare list of messages (Langfuse keeps the input as logged).
# ltrim copies the whole body, so it is only applied to the rare body starting with a space.
_BARE_LIST = """CASE WHEN left(p.body, 1) = '[' THEN CAST(p.body AS JSON[])
    WHEN left(p.body, 1) = ' ' AND left(ltrim(p.body), 1) = '[' THEN CAST(p.body AS JSON[])
    END"""


# A plain message, {"role": r, "content": "text"} and nothing else (payloads are compact
# JSON, so the length rules out other keys), goes to the counter as its role and text
# (kind 'plain'): no JSON parsing per message in Python.
_PLAIN = """(j.role NOT IN ('', 'tool', 'function') AND left(j.content::VARCHAR, 1) = '"'
    AND strlen(payload) = strlen(j.content::VARCHAR) + strlen(to_json(j.role)::VARCHAR) + 20)"""

TAIL = 2  # messages whose text is kept from every plain request (see _PARSED)
# The text of a content part, NULL for a part that is not text (render.py ``_part``).
_PART_TEXT = """CASE WHEN json_type(p) = 'VARCHAR' THEN p ->> '$'
    WHEN json_type(p, '$.text') = 'VARCHAR'
         AND coalesce(p ->> '$.type', 'text') IN ('text', 'input_text', 'output_text')
    THEN p ->> '$.text'
    WHEN p ->> '$.type' = 'text' AND json_type(p, '$.content') = 'VARCHAR'
    THEN p ->> '$.content' END"""
# A content's closing text: the content if it is a string, else the text parts after its
# last part that is not text, joined (adjacent text parts are billed joined: render.py);
# each other part becomes a NUL, and the text after the last NUL is kept.
_TEXT_OF = f"""CASE WHEN left(({{c}})::VARCHAR, 1) = '"' THEN ({{c}}) ->> '$'
    WHEN left(({{c}})::VARCHAR, 1) IN ('[', '{{{{') THEN string_split(array_to_string(
        list_transform(CASE WHEN left(({{c}})::VARCHAR, 1) = '[' THEN CAST({{c}} AS JSON[])
                            ELSE [{{c}}] END,
                       lambda p: coalesce({_PART_TEXT}, chr(0))), ''), chr(0))[-1] END"""
SYSTEM_TAIL = 16  # characters before a text's trailing run of punctuation and spaces
TAIL_CAP = 4096  # ... and at most this many in all


def _text_end(text: str) -> str:
    """SQL: the end of ``text`` a token merge with what follows it can reach: its trailing
    run of characters that are not letters or digits (a rule of dashes, blank lines), which
    the tokenizer's pre-tokens keep together, and ``SYSTEM_TAIL`` characters before it."""
    run = f"length(regexp_extract({text}, '[^\\p{{L}}\\p{{N}}]*$'))"
    return f"right({text}, least({run} + {SYSTEM_TAIL}, {TAIL_CAP}))"


def _is(value: str, first: str) -> str:
    return f"coalesce(left(ltrim({value}::VARCHAR), 1) = '{first}', false)"


# A body's message list as logged (``v`` its from_json struct, ``bare`` its _BARE_LIST):
# chat ``messages``, Gemini ``contents`` (a list of Contents, or one Content or one text,
# as the google-genai SDK takes them), or a Responses ``input`` list. It may hold JSON
# nulls, which are no message (``_message_list``).
_LOGGED_LIST = f"""coalesce(v.messages,
    CASE WHEN {_is("v.contents", "[")} THEN CAST(v.contents AS JSON[])
         WHEN {_is("v.contents", "{")} OR {_is("v.contents", '"')} THEN [v.contents] END,
    CASE WHEN {_is("v.input", "[")} THEN CAST(v.input AS JSON[]) END, bare)"""


def _message_list(logged: str) -> str:
    """SQL: the list ``logged`` without its nulls (copied only when it has any)."""
    return f"""CASE WHEN len({logged}) = list_aggregate({logged}, 'count') THEN {logged}
        ELSE list_filter({logged}, lambda m: m IS NOT NULL) END"""


# The text of a request's system field, or of its first system or developer message.
_SYSTEM_TEXT = f"""coalesce(CASE WHEN {_is("sys", '"')} THEN sys ->> '$' END,
    list_transform(
        list_filter(all_msgs, lambda m: (m ->> 'role') IN ('system', 'developer')),
        lambda m: {_TEXT_OF.format(c="m -> '$.content'")})[1])"""


_PARSED = f"""
WITH src AS (
    SELECT p.text_hash AS input_hash, p.chars,
        from_json(p.body, '{_SHAPE}') AS v, {_BARE_LIST} AS bare,
        -- a body that is a bare string (a Langfuse input logged as text): one user message
        CASE WHEN left(p.body, 1) = '"' THEN p.body::JSON END AS bare_str,
        -- tool results (tool_call_id, function_call_output) need their call's name: the
        -- per-message path. A fast scan of the text for what both keys hold; a false hit
        -- only costs speed. (A needle opening with a letter common in prose, as 'tool_call'
        -- does, stops the scan at every such letter: 0.3 s more on 485 MB of bodies.)
        contains(p.body, '_call_') AS calls
    FROM ({{bodies}}) p
), logged AS (
    SELECT *, coalesce({_LOGGED_LIST}, []::JSON[]) AS logged_msgs FROM src
), m AS (
    SELECT *, {_message_list("logged_msgs")} AS all_msgs FROM logged
), l AS (
    SELECT input_hash, chars, all_msgs,
        -- tools (a system message then gets a newline) or tool results: per-message path
        ({_is("v.tools", "[")} AND v.tools::VARCHAR <> '[]')
            OR ({_is("v.functions", "[")} AND v.functions::VARCHAR <> '[]')
            OR coalesce(calls, false) AS complex,
        coalesce(v.instructions, v.system, v.systemInstruction, v.system_instruction,
                 v.system_instructions) AS sys,
        coalesce(CASE WHEN {_is("v.input", '"')} THEN v.input END, bare_str) AS input_str,
        CASE WHEN {_is("v.tools", "[")} AND v.tools::VARCHAR <> '[]' THEN v.tools
             WHEN {_is("v.functions", "[")} AND v.functions::VARCHAR <> '[]' THEN v.functions
        END AS tools,
        -- ``tools: []`` still brings an empty tools block on OpenAI (render.py)
        coalesce(v.tools::VARCHAR = '[]', false) AS empty_tools,
        -- Chat's response_format, or the Responses API's text.format
        coalesce(CASE WHEN {_is("v.response_format", "{")} THEN v.response_format END,
                 CASE WHEN {_is("v.text", "{")} THEN v.text -> '$.format' END) AS rfmt,
        -- context the server adds that the body does not hold, or a predicted output
        -- (billed beyond the messages: docs/recount.md): the count is an estimate
        -- (a JSON null dropped from the message list: counted without it, an estimate too)
        coalesce(v.previous_response_id, v.conversation, v.prompt, v.prediction,
                 CASE WHEN len(all_msgs) < len(logged_msgs) THEN '"a null message"'::JSON END)
            AS server,
        v.tool_choice AS tchoice,
        v.function_call AS fcall
    FROM m
)
-- Plain requests keep their messages' hashes and lengths, and the text of only their last
-- TAIL messages: a conversation's requests re-send its history, so each message first
-- appears at the end of a request (a new turn and the reply before it). Payloads not
-- found there are read again later from one body each.
-- Bodies are parsed once each, then joined to the request keys (a small build side).
SELECT t.kid, t.provider, t.profile, x.* FROM _todo_in t JOIN (
    SELECT input_hash, chars, complex, sys, input_str, tools, rfmt, tchoice,
        fcall, empty_tools, server,
        -- whether the request has a system message (a system field or a system or developer
        -- message): the tools and a response format go into it, or bring one (render.py);
        -- asked only of requests that have either
        CASE WHEN tools IS NOT NULL OR rfmt IS NOT NULL OR empty_tools
             THEN sys IS NOT NULL OR coalesce(
                list_bool_or(list_transform(all_msgs,
                    lambda m: (m ->> 'role') IN ('system', 'developer'))), false)
        END AS with_system,
        -- the end of the system text a response format joins (render.SYSTEM_END): the
        -- text of a system field, or of the first system message (a string, or a list
        -- ending in a text part: adjacent text parts are billed joined)
        CASE WHEN rfmt IS NOT NULL AND tools IS NULL THEN {_text_end(_SYSTEM_TEXT)}
        END AS sys_tail,
        CASE WHEN complex THEN all_msgs END AS msgs,
        -- the assistant answers (no tool calls, nor a legacy function call) in the history
        -- of a request with a response format: each costs more on GPT-5 and gpt-4o
        -- (render.py, ``_response_format``)
        CASE WHEN rfmt IS NOT NULL THEN len(list_filter(all_msgs,
            lambda m: (m ->> 'role') = 'assistant'
                AND coalesce(json_array_length(m -> '$.tool_calls'), 0) = 0
                AND coalesce(json_type(m, '$.function_call'), 'NULL') <> 'OBJECT'))
        END AS answers,
        CASE WHEN NOT complex THEN list_transform(all_msgs, lambda m: hash(m)) END AS hashes,
        CASE WHEN NOT complex THEN list_transform(all_msgs, lambda m: strlen(m::VARCHAR)) END
            AS lengths,
        CASE WHEN NOT complex THEN list_transform(all_msgs[-{TAIL}:], lambda m: m::VARCHAR)
        END AS tail
    FROM l) x USING (input_hash)
"""

_MESSAGES = """
WITH m0 AS (
    SELECT kid, provider, profile, tools IS NOT NULL AS has_tools, sys IS NOT NULL AS has_sys,
        unnest(msgs) AS msg, unnest(range(1, len(msgs) + 1)) AS i, len(msgs) AS n
    FROM _parsed WHERE complex
), m1 AS (
    SELECT *, json_extract(msg, ['$.role', '$.type', '$.tool_call_id', '$.call_id', '$.name',
                                 '$.tool_calls']) AS f
    FROM m0
), m AS (
    SELECT kid, provider, profile, has_tools, has_sys, msg, i, n,
        f[1] ->> '$' AS role, f[2] ->> '$' AS mtype, f[3] ->> '$' AS tool_call_id,
        f[4] ->> '$' AS call_id, f[5] ->> '$' AS fname,
        CASE WHEN left(f[6]::VARCHAR, 1) = '[' THEN CAST(f[6] AS JSON[]) END AS calls,
        min(CASE WHEN f[1] ->> '$' IN ('system', 'developer') THEN i END)
            OVER (PARTITION BY kid) AS first_sys,
        lead(coalesce(f[1] ->> '$', f[2] ->> '$')) OVER (PARTITION BY kid ORDER BY i)
            AS next_role,
        lag(coalesce(f[1] ->> '$', f[2] ->> '$')) OVER (PARTITION BY kid ORDER BY i)
            AS prev_role
    FROM m1
), r AS (
    -- Responses API function calls in a row are one assistant turn of parallel calls, as
    -- one Chat message with several tool_calls is: numbered runs of them
    SELECT *, coalesce(mtype = 'function_call', false) AS is_call,
        i - row_number() OVER (PARTITION BY kid, coalesce(mtype = 'function_call', false)
                               ORDER BY i) AS run
    FROM m
), mr AS (
    SELECT *, count(*) OVER (PARTITION BY kid, is_call, run) AS run_len,
        min(i) OVER (PARTITION BY kid, is_call, run) AS run_first
    FROM r
), merged AS (
    -- a run of several calls drawn as the Chat message that holds them (render.py)
    SELECT kid, run, to_json({'role': 'assistant', 'tool_calls': list({'id': call_id,
        'type': 'function', 'function': {'name': fname, 'arguments': msg ->> 'arguments'}}
        ORDER BY i)})::VARCHAR AS payload
    FROM mr WHERE is_call AND run_len > 1 GROUP BY kid, run
), tc AS (
    SELECT kid, unnest(calls) AS call, len(calls) AS ncalls FROM m WHERE calls IS NOT NULL
), named AS (
    SELECT kid, call_id, any_value(name) AS name, max(ncalls) AS ncalls FROM (
        SELECT kid, call ->> 'id' AS call_id, call -> '$.function' ->> 'name' AS name, ncalls
        FROM tc
        UNION ALL
        SELECT kid, call_id, fname, run_len FROM mr WHERE is_call
    ) WHERE call_id IS NOT NULL GROUP BY ALL
)
SELECT m.kid, m.provider, m.profile, 'msg' AS kind,
    CASE
        WHEN m.provider <> 'openai' THEN ''
        WHEN m.role = 'tool' OR m.mtype = 'function_call_output' THEN
            coalesce(c.name, '')
            || CASE WHEN coalesce(c.ncalls, 1) > 1 THEN
                        -- a result of parallel calls: one piece of their joint message
                        -- (render.py), told whether it opens it, closes it, and whether
                        -- the assistant answers right after
                        '|par'
                        || CASE WHEN m.prev_role IN ('tool', 'function_call_output')
                                THEN '' ELSE ',first' END
                        || CASE WHEN m.next_role IN ('tool', 'function_call_output')
                                THEN ''
                                WHEN coalesce(m.next_role, 'assistant')
                                     IN ('assistant', 'message', 'function_call')
                                THEN ',end,reply'
                                WHEN m.next_role = 'user' THEN ',end,user'
                                ELSE ',end' END
                    -- a Responses function_call item is the assistant answering, as
                    -- the Chat twin's assistant message holding that call is
                    WHEN coalesce(m.next_role, 'assistant')
                         IN ('assistant', 'message', 'function_call')
                    THEN '|last'
                    WHEN m.next_role = 'user' THEN '|user' ELSE '' END
        WHEN m.i = m.first_sys AND m.has_tools AND NOT m.has_sys THEN 'pad'
        ELSE ''
    END AS ctx,
    coalesce(g.payload, m.msg::VARCHAR) AS payload
FROM mr m LEFT JOIN named c
  ON c.kid = m.kid
 AND c.call_id = coalesce(m.tool_call_id,
                          CASE WHEN m.mtype = 'function_call_output' THEN m.call_id END)
LEFT JOIN merged g ON m.is_call AND g.kid = m.kid AND g.run = m.run
WHERE NOT (m.is_call AND m.i > m.run_first)  -- a run's later calls are in its first unit
"""

_SINGLES = f"""
SELECT kid, provider, profile, 'sys' AS kind,
    CASE WHEN provider = 'openai' AND tools IS NOT NULL THEN 'pad' ELSE '' END AS ctx,
    sys::VARCHAR AS payload FROM _parsed WHERE sys IS NOT NULL
UNION ALL
SELECT kid, provider, profile, 'str', '', input_str::VARCHAR FROM _parsed
WHERE input_str IS NOT NULL
UNION ALL
SELECT l.kid, l.provider, l.profile, 'tools',
    CASE WHEN l.with_system THEN 'sys' ELSE '' END,
    coalesce(l.tools::VARCHAR, '[]')
FROM _parsed l WHERE l.tools IS NOT NULL OR (l.empty_tools AND l.provider = 'openai')
UNION ALL
SELECT kid, provider, profile, 'rfmt',
    CASE WHEN answers > 0 THEN answers || '{ANSWERS}' ELSE '' END
    || CASE WHEN tools IS NOT NULL THEN 'tools'
            WHEN with_system THEN coalesce('{SYSTEM_END}' || sys_tail, '') ELSE 'alone' END,
    rfmt::VARCHAR FROM _parsed WHERE rfmt IS NOT NULL
UNION ALL
SELECT kid, provider, profile, 'tchoice', '', coalesce(tchoice, fcall)::VARCHAR FROM _parsed
WHERE coalesce(tchoice, fcall) IS NOT NULL
UNION ALL
SELECT kid, provider, profile, 'server', '', server::VARCHAR FROM _parsed
WHERE server IS NOT NULL
"""


MAX_RANGES = 64  # more row ranges than this and the bodies are picked by a join instead


def body_parts(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The bodies of ``_todo_in`` as one query per DuckDB thread, over ranges of rows.

    DuckDB scans a table on one thread per 122,880 rows, so parsing the bodies of a store
    of 40,000 requests would run on one core; the same query over row ranges, joined by
    UNION ALL, runs a range per thread (with ``preserve_insertion_order`` off). The rows
    are picked by their row numbers, not by a join: a join copies every body it passes
    (measured: twice the scan's time). Bodies to count usually lie in a few runs of rows
    (all of them, or the newest files'); scattered ones fall back to the join.
    """
    runs = con.execute(
        """SELECT min(r), max(r) FROM (
            SELECT r, r - row_number() OVER (ORDER BY r) AS run FROM (
                SELECT rowid AS r FROM prompt_texts
                WHERE text_hash IN (SELECT input_hash FROM _todo_in)))
        GROUP BY run ORDER BY 1"""
    ).fetchall()
    parts = threads(con)
    if not runs:
        return ["SELECT * FROM prompt_texts WHERE false"]
    if len(runs) > MAX_RANGES:
        return [
            f"""SELECT * FROM prompt_texts WHERE {rows}
            AND text_hash IN (SELECT input_hash FROM _todo_in)"""
            for rows in row_ranges(con, "prompt_texts")
        ]
    # cut the runs into ``parts`` pieces of about the same number of rows
    total = sum(last - first + 1 for first, last in runs)
    share = total // parts + 1
    pieces: list[list[str]] = [[]]
    room = share
    for first, last in runs:
        while first <= last:
            end = min(last, first + room - 1)
            pieces[-1].append(f"rowid BETWEEN {first} AND {end}")
            room -= end - first + 1
            first = end + 1
            if room == 0:
                pieces.append([])
                room = share
    return [f"SELECT * FROM prompt_texts WHERE {' OR '.join(piece)}" for piece in pieces if piece]


def explode_inputs(con: duckdb.DuckDBPyConnection) -> None:
    """``_todo_in`` (kid, input_hash, provider, profile) → ``_req_units``, ``_occ``, ``_payloads``.

    A unit is identified by three numbers, ``pre`` (its context), ``h`` and ``n`` (its
    payload's hash and length); ``unit_name_sql`` turns them into the stored key.
    ``_req_units(kid, pre, h, n)`` lists every unit of every request key (a unit that
    appears twice in one request is listed twice). Units of requests with tools carry their
    payload in ``_payloads``; messages of plain requests are only located, in
    ``_occ(kid, pre, h, n, input_hash, idx, chars, payload)`` (payload only for the last
    ``TAIL`` messages of each request), and the others read back by ``payload_rows`` for
    the ones still to count.
    """
    parts = " UNION ALL ".join(
        f"({_PARSED.replace('{bodies}', bodies)})" for bodies in body_parts(con)
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE _parsed AS {parts}")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _payloads AS
        SELECT kid, {_prefix("provider", "profile", "kind", "ctx")} AS pre, hash(payload) AS h,
            strlen(payload) AS n, kind, ctx, payload
        FROM (({_MESSAGES}) UNION ALL {_SINGLES})"""
    )
    occurrences = f"""SELECT kid, {_prefix("provider", "profile", "'msg'", "''")} AS pre,
            unnest(hashes) AS h, unnest(lengths) AS n, input_hash,
            unnest(range(1, len(hashes) + 1)) AS idx, chars,
            unnest(list_concat(list_resize([]::VARCHAR[], len(hashes) - len(tail)), tail))
                AS payload
        FROM _parsed WHERE NOT complex"""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _occ AS "
        + over_row_ranges(con, occurrences, "_parsed", "FROM _parsed WHERE")
    )
    con.execute("DROP TABLE _parsed")
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _req_units AS
        SELECT kid, pre, h, n FROM _payloads UNION ALL SELECT kid, pre, h, n FROM _occ"""
    )


def payload_rows(con: duckdb.DuckDBPyConnection, need: str) -> str:
    """A query of the units in the table ``need`` as the counter's rows (``pool.UnitRow``).

    ``need`` has (rn, pre, h, n, tokenizer, version, encoding, provider, profile, model).
    A plain message's text is taken from a request that kept it (``_tails``); the others
    (``_reps``) are read from the largest body they appear in, each such body parsed once
    for all the messages it supplies, and only when there are any: the read scans every
    stored body. Leaves ``_tails`` and ``_reps`` for the caller to drop.
    """
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _tails AS
        SELECT o.pre, o.h, o.n, any_value(o.payload) AS payload
        FROM _occ o SEMI JOIN (SELECT DISTINCT pre, h, n FROM {need}) w USING (pre, h, n)
        WHERE o.payload IS NOT NULL
        GROUP BY ALL"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _reps AS
        SELECT o.pre, o.h, o.n, arg_max(struct_pack(b := o.input_hash, i := o.idx), o.chars)
            AS loc
        FROM _occ o SEMI JOIN (SELECT DISTINCT pre, h, n FROM {need}) w USING (pre, h, n)
        WHERE NOT EXISTS (
            SELECT 1 FROM _tails t WHERE t.pre = o.pre AND t.h = o.h AND t.n = o.n)
        GROUP BY ALL"""
    )
    sources = ["SELECT pre, h, n, 'msg' AS kind, '' AS ctx, payload FROM _tails"]
    if con.execute("SELECT count(*) FROM _reps").fetchone() != (0,):
        sources.append(
            f"""SELECT unnest(pres) AS pre, unnest(hs) AS h, unnest(ns) AS n, 'msg' AS kind,
                '' AS ctx, unnest(msgs)::VARCHAR AS payload
            FROM (
                SELECT pres, hs, ns, list_select({_message_list("logged")}, idxs) AS msgs
                FROM (SELECT *, {_LOGGED_LIST} AS logged FROM (
                    SELECT b.*, from_json(p.body, '{_MESSAGE_SHAPE}') AS v, {_BARE_LIST} AS bare
                    FROM (
                        SELECT loc.b AS input_hash, list(pre) AS pres, list(h) AS hs,
                            list(n) AS ns, list(loc.i) AS idxs
                        FROM _reps GROUP BY loc.b
                    ) b JOIN prompt_texts p ON p.text_hash = b.input_hash)))"""
        )
    # units of requests with tools; a message also found in a plain body is read there
    sources.append(
        f"""SELECT pre, h, n, any_value(kind), any_value(ctx), any_value(payload)
        FROM _payloads p SEMI JOIN (SELECT DISTINCT pre, h, n FROM {need}) w USING (pre, h, n)
        WHERE NOT EXISTS (SELECT 1 FROM _occ o WHERE o.pre = p.pre AND o.h = p.h AND o.n = p.n)
        GROUP BY ALL"""
    )
    units = "\n        UNION ALL\n        ".join(sources)
    return f"""
        SELECT rn, tokenizer, version, encoding, provider, profile,
            CASE WHEN plain THEN 'plain' ELSE kind END AS kind,
            CASE WHEN plain THEN j.role ELSE ctx END AS ctx,
            CASE WHEN plain THEN j.content ->> '$' ELSE payload END AS payload, model
        FROM (SELECT *, coalesce({_PLAIN}, false) AS plain FROM (
            SELECT w.rn, w.tokenizer, w.version, w.encoding, w.provider, w.profile, u.kind,
                u.ctx, u.payload, w.model,
                CASE WHEN u.kind = 'msg' AND u.ctx = '' AND w.provider <> 'google'
                     THEN from_json(u.payload, '{{"role":"VARCHAR","content":"JSON"}}') END AS j
            FROM {need} w JOIN ({units}) u ON u.pre = w.pre AND u.h = w.h AND u.n = w.n))"""
