"""Recount: independent token counts for logged requests, stored beside the reported ones.

Reported usage is what the provider billed; the recount is the auditor's own count,
and the only count for logs that carry text but no usage. The flow, all keyed so a
second run does only new work:

1. Each distinct model gets a tokenizer (a plugin, else the labelled estimator), an
   encoding and a chat profile (its framing).
2. Request bodies not yet counted at the current tokenizer version are split into
   units in SQL (``units.py``): messages, system prompt, tools, response format.
3. Units not yet in ``token_counts`` are rendered and counted (``render.py``), on
   every core when the work is large (``pool.py``); each is stored under its hash.
4. A request's input count is the sum of its units plus the reply priming, stored
   under a key of (provider, profile, input hash); its reply is counted the same way.
5. System prompts are sized with o200k_base for the caching finding, mostly from the
   message units just counted (``sizes.py``).
6. ``requests.recounted_*`` are filled from those rows.

A text the model's tokenizer fails on is counted with the estimate instead (``pool.py``).
Such counts are estimates and are never stored in ``token_counts``: they stand in for
the plugin's count under the plugin's key, so storing them would make later runs skip
the plugin. They live in the temp table ``_fallback_counts`` (the key the count would
have had, its tokens) for this run, and the requests they fill are labelled
``<plugin>+estimate-o200k`` (``pool.fallback_label``), exact false. The next run asks the
plugin again.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb

from tokaudit.recount.pieces import PIECE_RESULTS, SPLIT_UNIT, count_by_pieces, piece_groups
from tokaudit.recount.pool import FAILED, Counter, Groups, default_workers, fallback_label
from tokaudit.recount.render import ACCOUNTING_VERSION
from tokaudit.recount.sizes import UNSIZED_SYSTEM_PROMPT, any_unsized
from tokaudit.recount.units import explode_inputs, payload_rows, unit_hash_sql, unit_name_sql
from tokaudit.store.connection import bulk_insert, temp_table
from tokaudit.store.parallel import any_order
from tokaudit.tokenizers import (
    ChatProfile,
    EstimateTokenizer,
    Registry,
    Tokenizer,
    load_tokenizers,
)

__all__ = [
    "COUNT_FAILED",
    "UNSIZED_SYSTEM_PROMPT",
    "RecountResult",
    "RequestCount",
    "RequestToCount",
    "count_request",
    "count_requests",
    "not_counted_sql",
    "profile_key",
    "recount",
]

MODEL_TOK_COLUMNS = {
    "model": "VARCHAR",
    "tokenizer": "VARCHAR",
    "tokenizer_version": "VARCHAR",
    "encoding": "VARCHAR",
    "exact": "BOOLEAN",
    "profile": "VARCHAR",
    "profile_exact": "BOOLEAN",
    "priming": "BIGINT",
}
TOKEN_COUNT_COLUMNS = {
    "text_hash": "VARCHAR",
    "tokenizer": "VARCHAR",
    "tokenizer_version": "VARCHAR",
    "encoding": "VARCHAR",
    "tokens": "BIGINT",
    "exact": "BOOLEAN",
}
GROUP_KEY = "tokenizer, model, provider, profile"  # what a unit's counting depends on
_GROUP_COLUMNS = {
    "gid": "INTEGER",
    **{name: "VARCHAR" for name in GROUP_KEY.split(", ")},
    "sid": "INTEGER",  # the piece-counting group (pieces.py), NULL to count texts whole
}
SYSTEM_ENCODING_MODEL = "gpt-4o"  # system prompts are sized with o200k_base for findings
BATCH = 2000
_UPSERT = """ON CONFLICT DO UPDATE SET tokens = excluded.tokens, exact = excluded.exact,
    tokenizer_version = excluded.tokenizer_version"""
# The key of a request's input (and output) count: provider, framing and content.
INPUT_KEY = "md5(concat_ws(':', 'in', {p}, m.profile, {h}))"
OUTPUT_KEY = "md5(concat_ws(':', 'out', {p}, m.profile, coalesce({i}, ''), {o}))"


def profile_key(profile: ChatProfile) -> str:
    """What a stored count depends on besides the tokenizer: the plugin's framing and the
    version of the request-shape rules (``render.ACCOUNTING_VERSION``), so that a change of
    either recounts instead of reusing counts made the old way."""
    return f"{profile.key}.{ACCOUNTING_VERSION}"


def not_counted_sql(key: str, tokenizer: str, encoding: str, version: str) -> str:
    """SQL: the text ``key`` has no stored count by that tokenizer, encoding and version
    (what the recount counts; ``pending.py`` asks the same without counting)."""
    return f"""NOT EXISTS (
            SELECT 1 FROM token_counts c
            WHERE c.text_hash = {key} AND c.tokenizer = {tokenizer} AND c.encoding = {encoding}
              AND c.tokenizer_version = {version})"""


@dataclass(frozen=True)
class RecountResult:
    # distinct units (messages, prompts, replies) counted and stored this run; estimates
    # standing in for a failing tokenizer are not stored, so not in this number
    texts_counted: int
    requests_updated: int
    broken_plugins: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class RequestCount:
    """One request counted the way ``recount`` counts it (for checks and the API)."""

    input_tokens: int | None
    input_exact: bool
    output_tokens: int | None
    output_exact: bool
    tokenizer: str | None


def _batches(cursor: duckdb.DuckDBPyConnection) -> Iterator[list[Any]]:
    while rows := cursor.fetchmany(BATCH):
        yield rows


def _plan(
    con: duckdb.DuckDBPyConnection, registry: Registry, estimate: Tokenizer
) -> tuple[dict[str, Tokenizer], dict[str, ChatProfile]]:
    """``_model_tok``: each distinct model's tokenizer, encoding and chat profile."""
    models = [m for (m,) in con.execute("SELECT DISTINCT model FROM requests").fetchall()]
    rows: list[tuple[object, ...]] = []
    profiles: dict[str, ChatProfile] = {}
    for model in models:
        tok = registry.for_model(model) or estimate
        try:
            profile, encoding, exact = (
                tok.chat_profile(model),
                tok.encoding_for(model),
                (tok.exact_for(model)),
            )
        except Exception as exc:  # a plugin failing on one model falls back to the estimate
            registry.broken.append((tok.name, f"{type(exc).__name__} on {model!r}: {exc}"))
            tok = estimate
            profile, encoding, exact = tok.chat_profile(model), tok.encoding_for(model), False
        key = profile_key(profile)
        profiles[key] = profile
        priming = profile.reply_priming if profile.framing == "openai" else 0
        rows.append((model, tok.name, tok.version, encoding, exact, key, profile.exact, priming))
    temp_table(con, "_model_tok", MODEL_TOK_COLUMNS, rows)
    tokenizers = {t.name: t for t in [*registry.tokenizers, estimate]}
    return tokenizers, profiles


def _count_pending(
    con: duckdb.DuckDBPyConnection, counter: Counter, need: str, rows: str
) -> tuple[int, bool]:
    """Count the units of the table ``need`` and store them in ``token_counts``.

    ``need`` has (rn, unit_hash, tokenizer, version, encoding, n): rows numbered 1.. and the
    payload length ``n``; the query ``rows`` gives their render inputs (``pool.UnitRow``).
    Units counted by their pieces are counted and summed in DuckDB (``pieces.py``); the
    others stream into the counter in batches, and Python keeps only their counts, which go
    back to DuckDB as three strings (one parameter each: a list parameter costs about a
    microsecond per element). The counts are left in ``_res`` (rn, tokens, exact); a unit
    without a payload has no row.

    Units the counter's fallback counted (in part) are estimates standing in for their
    tokenizer's count: they are in ``_res`` but not stored, and their ``rn`` are in the
    table ``_fell`` (for the caller to drop). Returns the units stored and whether there are
    any such estimates (only then is ``_fell`` made).
    """
    con.execute("CREATE OR REPLACE TEMP TABLE _res (rn BIGINT, tokens BIGINT, exact BOOLEAN)")
    size = con.execute(f"SELECT count(*), coalesce(sum(n), 0) FROM {need}").fetchone()
    pending, total_chars = (int(size[0]), int(size[1])) if size else (0, 0)
    if not pending:
        return 0, False
    # Each unit carries a number for its (tokenizer, model, provider, profile), not the four.
    found = con.execute(f"SELECT DISTINCT {GROUP_KEY} FROM {need}").fetchall()
    groups: Groups = {
        gid: (str(t), str(m), str(p), str(f)) for gid, (t, m, p, f) in enumerate(found)
    }
    # Groups whose tokenizer splits at spaces count plain texts by their pieces (pieces.py).
    sids = piece_groups(counter, groups)
    temp_table(
        con,
        "_groups",
        _GROUP_COLUMNS,
        [(gid, *group, sids.get(gid)) for gid, group in groups.items()],
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _units AS
        SELECT r.rn, g.gid, g.sid, r.kind, r.ctx, r.payload FROM ({rows}) r JOIN _groups g
        USING ({GROUP_KEY})"""
    )
    fell: set[int] = set()  # units counted (in part) by the fallback: the failure path
    if sids:  # counted in DuckDB, left in PIECE_RESULTS
        count_by_pieces(con, counter, groups, sids, fell)
        con.execute(f"INSERT INTO _res SELECT rn, tokens, exact FROM {PIECE_RESULTS}")
        con.execute(f"DROP TABLE IF EXISTS {PIECE_RESULTS}")
    whole = f"FROM _units WHERE NOT coalesce({SPLIT_UNIT}, false)"  # texts counted whole
    whole_chars = con.execute(f"SELECT coalesce(sum(length(payload)), 0) {whole}").fetchone()
    units = con.execute(f"SELECT rn, gid, kind, ctx, payload {whole}")
    numbers: list[int] = []
    tokens: list[int] = []
    exact: list[bool] = []
    for rn, count, is_exact in counter.run(
        _batches(units), groups, int(whole_chars[0]) if whole_chars else total_chars, fell
    ):
        numbers.append(rn)
        tokens.append(count)
        exact.append(is_exact)
    con.execute("DROP TABLE _units")
    con.execute("DROP TABLE _groups")
    if numbers:
        con.execute(
            """INSERT INTO _res
            SELECT unnest(n), unnest(t), unnest(e) FROM (
                SELECT list_transform(string_split(?, ','), lambda x: CAST(x AS BIGINT)) AS n,
                    list_transform(string_split(?, ','), lambda x: CAST(x AS BIGINT)) AS t,
                    list_transform(string_split(?, ','), lambda x: x = '1') AS e)""",
            [
                ",".join(map(str, numbers)),
                ",".join(map(str, tokens)),
                ",".join("1" if e else "0" for e in exact),
            ],
        )
    counter.failed.update(
        name
        for (name,) in con.execute(
            f"SELECT DISTINCT w.tokenizer FROM {need} w JOIN _res r USING (rn) "
            f"WHERE r.tokens = {FAILED}"
        ).fetchall()
    )
    keep = ""  # every unit counted is stored, but for the estimates standing in
    if fell:
        temp_table(con, "_fell", {"rn": "BIGINT"}, [(rn,) for rn in sorted(fell)])
        counter.estimated.update(
            str(name)
            for (name,) in con.execute(
                f"SELECT DISTINCT w.tokenizer FROM {need} w JOIN _fell USING (rn)"
            ).fetchall()
        )
        keep = "AND rn NOT IN (SELECT rn FROM _fell)"
    stored = con.execute(
        f"""INSERT INTO token_counts
        SELECT w.unit_hash, w.tokenizer, w.version, w.encoding, r.tokens, r.exact
        FROM {need} w JOIN _res r USING (rn) WHERE r.tokens <> {FAILED} {keep}
        {_UPSERT}"""
    ).fetchone()
    return (int(stored[0]) if stored else 0), bool(fell)


def _count_table(
    con: duckdb.DuckDBPyConnection, counter: Counter, select_sql: str, keep_estimates: bool
) -> int:
    """``_count_pending`` for units whose payloads are at hand: ``select_sql`` yields
    (unit_hash, tokenizer, version, encoding, provider, profile, kind, ctx, payload, model).
    With ``keep_estimates`` (the units are whole requests' replies), the units the fallback
    counted go to ``_fallback_counts`` for this run.
    """
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _work AS "
        f"SELECT row_number() OVER () AS rn, length(payload) AS n, * FROM ({select_sql})"
    )
    counter.warm_up(_tokenizer_models(con, "_work"))
    counted, fell = _count_pending(
        con,
        counter,
        "_work",
        "SELECT rn, tokenizer, version, encoding, provider, profile, kind, ctx, payload, model "
        "FROM _work",
    )
    if fell and keep_estimates:
        con.execute(
            f"""INSERT INTO _fallback_counts
            SELECT w.unit_hash, w.tokenizer, w.encoding, r.tokens
            FROM _work w JOIN _res r USING (rn) JOIN _fell USING (rn)
            WHERE r.tokens <> {FAILED}
            ON CONFLICT DO NOTHING"""
        )
    _drop(con, "_work", "_res", "_fell")
    return counted


def _recount_inputs(con: duckdb.DuckDBPyConnection, counter: Counter) -> int:
    """Inputs not yet counted: split into units, count the new units, sum per request."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _todo_keys AS
        SELECT *, dense_rank() OVER (ORDER BY key) AS kid,
            dense_rank() OVER (ORDER BY tokenizer, version, encoding) AS tid FROM (
        SELECT DISTINCT {INPUT_KEY.format(p="q.provider", h="q.input_hash")} AS key,
            q.input_hash, q.provider, m.profile, m.tokenizer, m.tokenizer_version AS version,
            m.encoding, m.exact, m.profile_exact, m.priming,
            first(q.model ORDER BY q.model) OVER w AS model
        FROM requests q JOIN _model_tok m USING (model)
        JOIN prompt_texts p ON p.text_hash = q.input_hash
        WHERE {
            not_counted_sql(
                INPUT_KEY.format(p="q.provider", h="q.input_hash"),
                "m.tokenizer",
                "m.encoding",
                "m.tokenizer_version",
            )
        }
        WINDOW w AS (PARTITION BY q.input_hash, q.provider, m.profile, m.tokenizer, m.encoding))"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _todo_in AS
        SELECT DISTINCT kid, input_hash, provider, profile FROM _todo_keys"""
    )
    if con.execute("SELECT count(*) FROM _todo_in").fetchone() == (0,):
        _drop(con, "_todo_in", "_todo_keys")
        return 0
    counter.warm_up(_tokenizer_models(con, "_todo_keys"))  # while DuckDB reads the bodies
    explode_inputs(con)
    # Each distinct unit under each tokenizer (tid), with its stored count if it has one;
    # the units without are numbered (rn) for counting. Integer keys until the unit's name.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _ucount AS
        WITH k AS (
            SELECT kid, tid, min(provider) AS provider, min(profile) AS profile,
                min(model) AS model
            FROM _todo_keys GROUP BY kid, tid
        ), u AS (
            -- one request key stands for each unit: grouping the units' occurrences on
            -- integers only (string aggregates over them cost 0.2 s on the benchmark's
            -- conversations); the unit's key holds its provider and profile, and the
            -- model only picks the tokenizer's encoding, which ``tid`` fixes
            SELECT o.pre, o.h, o.n, o.tid, k.provider, k.profile, k.model
            FROM (SELECT r.pre, r.h, r.n, t.tid, min(r.kid) AS kid
                  FROM _req_units r JOIN (SELECT DISTINCT kid, tid FROM k) t USING (kid)
                  GROUP BY r.pre, r.h, r.n, t.tid) o
            JOIN k USING (kid, tid)
        ), named AS (
            SELECT u.*, k.tokenizer, k.version, k.encoding,
                {unit_name_sql("pre", "h", "n")} AS unit_hash
            FROM u JOIN (SELECT DISTINCT tid, tokenizer, version, encoding FROM _todo_keys) k
                USING (tid)
        )
        SELECT u.*, c.tokens, c.exact,
            CASE WHEN c.tokens IS NULL
                 THEN row_number() OVER (PARTITION BY c.tokens IS NULL) END AS rn
        FROM named u LEFT JOIN token_counts c ON c.text_hash = u.unit_hash
             AND c.tokenizer = u.tokenizer AND c.encoding = u.encoding
             AND c.tokenizer_version = u.version"""
    )
    need = "(SELECT * FROM _ucount WHERE rn IS NOT NULL)"
    counted, fell = _count_pending(con, counter, need, payload_rows(con, need))
    con.execute(
        f"""UPDATE _ucount SET tokens = r.tokens, exact = r.exact
        FROM _res r WHERE _ucount.rn = r.rn AND r.tokens <> {FAILED}"""
    )
    # on the failure path, whether a sum holds a unit the fallback counted
    # A body with nothing countable in it (no messages, a bare number) sums to 0 tokens, an
    # estimate: without a count its request stayed "waiting to be counted" forever.
    sums = f"""
            SELECT t.kid, t.tid, coalesce(sum(c.tokens), 0) AS tokens,
                coalesce(bool_and(c.exact), false) AND count(r.h) > 0 AS exact
                {", bool_or(f.rn IS NOT NULL) AS fell" if fell else ""}
            FROM (SELECT DISTINCT kid, tid FROM _todo_keys) t LEFT JOIN _req_units r USING (kid)
            LEFT JOIN _ucount c ON c.pre = r.pre AND c.h = r.h AND c.n = r.n AND c.tid = t.tid
            {"LEFT JOIN _fell f ON f.rn = c.rn" if fell else ""}
            GROUP BY t.kid, t.tid
            HAVING count(c.tokens) = count(r.h)  -- a unit no tokenizer could count: no sum
    """
    if fell:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _sums AS {sums}")
        sums = "SELECT * FROM _sums WHERE NOT fell"
        # sums holding an estimate stand in for the tokenizer's: kept for this run only
        con.execute(
            """INSERT INTO _fallback_counts
            SELECT t.key, t.tokenizer, t.encoding, s.tokens + t.priming
            FROM _todo_keys t JOIN (SELECT * FROM _sums WHERE fell) s USING (kid, tid)
            ON CONFLICT DO NOTHING"""
        )
    con.execute(
        f"""INSERT INTO token_counts
        SELECT t.key, t.tokenizer, t.version, t.encoding, s.tokens + t.priming,
            s.exact AND t.exact AND t.profile_exact
        FROM _todo_keys t JOIN ({sums}) s USING (kid, tid)
        {_UPSERT}"""
    )
    _drop(con, "_sums", "_fell")
    _drop(con, "_todo_in", "_todo_keys", "_req_units", "_ucount", "_occ", "_payloads", "_res")
    _drop(con, "_tails", "_reps")
    _prompt_sizes_from_units(con)
    return counted


COUNT_FAILED = "count() failed"  # how a broken_plugins message of a failed count starts


def _count_failure(name: str, counter: Counter, estimate: str) -> str:
    """Why tokenizer ``name``'s counts are missing or estimated this run (a warning)."""
    reason = f"{COUNT_FAILED} ({counter.errors.get(name, 'no reason given')})"
    label = fallback_label(name, estimate)
    estimated = (
        f"the texts it failed on were counted with the estimate ({estimate}) instead, so "
        f"their requests' recounts are labelled estimates (tokenizer {label!r}, not exact)"
    )
    if name not in counter.failed:
        return f"{reason}; {estimated}"
    if name == estimate or label not in counter.errors:  # the estimate itself; no fallback
        return f"{reason}; the requests it failed on keep no recount this run"
    also = f"the estimate failed on some too ({counter.errors[label]})"
    if name not in counter.estimated:
        return f"{reason}, and {also}: the requests it failed on keep no recount this run"
    return f"{reason}; {estimated}, but {also}: those requests keep no recount this run"


def _drop(con: duckdb.DuckDBPyConnection, *tables: str) -> None:
    for table in tables:
        con.execute(f"DROP TABLE IF EXISTS {table}")


def _tokenizer_models(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    """One (tokenizer, model) per tokenizer in ``table``: what ``Counter.warm_up`` loads."""
    rows = con.execute(f"SELECT tokenizer, min(model) FROM {table} GROUP BY ALL").fetchall()
    return [(str(name), str(model)) for name, model in rows]


def _recount_outputs(con: duckdb.DuckDBPyConnection, counter: Counter) -> int:
    key = OUTPUT_KEY.format(p="q.provider", i="q.input_hash", o="q.output_hash")
    # what to count first, on hashes only: the bodies are read (decompressed) only for it
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _todo_out AS
        WITH q AS (
            SELECT {key} AS unit_hash, q.provider, q.model, q.input_hash, q.output_hash,
                m.tokenizer, m.tokenizer_version AS version, m.encoding, m.profile
            FROM requests q JOIN _model_tok m USING (model)
            WHERE q.output_hash IS NOT NULL
        )
        SELECT * FROM q
        WHERE {not_counted_sql("q.unit_hash", "q.tokenizer", "q.encoding", "q.version")}"""
    )
    if con.execute("SELECT count(*) FROM _todo_out").fetchone() == (0,):
        _drop(con, "_todo_out")
        return 0
    counted = _count_table(
        con,
        counter,
        """SELECT DISTINCT t.unit_hash, t.tokenizer, t.version, t.encoding, t.provider,
            t.profile, 'output' AS kind,
            -- a cheap text test first: most bodies have no tools and are not parsed. An
            -- empty tools list counts (one recorded reply, 1 under without it); a request
            -- that forbids calls (tool_choice none) does not (one recorded reply, 1 over)
            CASE WHEN t.provider = 'openai' AND contains(i.body, '"tools"')
                      AND json_type(i.body, '$.tools') = 'ARRAY'
                      AND coalesce(i.body ->> '$.tool_choice', '') <> 'none'
                 THEN 'tools' ELSE '' END
            -- stop sequences: the reply's billed count may hold the matched one (render.py)
            || CASE WHEN t.provider = 'openai' AND contains(i.body, '"stop"')
                         AND coalesce(json_type(i.body, '$.stop'), 'NULL') <> 'NULL'
                    THEN '|stop' ELSE '' END
            -- a predicted output: rejected prediction tokens are billed as output
            || CASE WHEN t.provider = 'openai' AND contains(i.body, '"prediction"')
                         AND coalesce(json_type(i.body, '$.prediction'), 'NULL') <> 'NULL'
                    THEN '|prediction' ELSE '' END AS ctx,
            o.body AS payload,
            first(t.model ORDER BY t.model)
                OVER (PARTITION BY t.unit_hash, t.tokenizer, t.encoding) AS model
        FROM _todo_out t JOIN prompt_texts o ON o.text_hash = t.output_hash
        LEFT JOIN prompt_texts i ON i.text_hash = t.input_hash""",
        keep_estimates=True,
    )
    _drop(con, "_todo_out")
    return counted


def _prompt_sizes_from_units(con: duckdb.DuckDBPyConnection) -> None:
    """Size system prompts from message units already counted, instead of tokenizing twice.

    A plain message unit ``{"role": r, "content": "text"}`` counted with tiktoken's
    o200k_base under the OpenAI framing is 3 + 1 (every standard role is one token in
    o200k_base) + the text's tokens, so the text alone is that minus 4: exactly what
    ``_recount_system_prompts`` would count. Each prompt not sized yet is looked up as
    such a message, built the way the units' payloads are written: first as the usual
    system or user message, then (the few left) with any standard role and either key
    order. Anything else is left to ``_recount_system_prompts``.
    """
    usual = "VALUES ('system', true), ('user', true)"
    every = ", ".join(
        f"('{role}', {first})"
        for role in ("system", "user", "developer", "assistant")
        for first in ("true", "false")
    )
    # the text is escaped once (to_json writes strings as json_object does), not per candidate
    payload = """CASE
        WHEN r.role_first THEN '{"role":"' || r.role || '","content":' || p.text || '}'
        ELSE '{"content":' || p.text || ',"role":"' || r.role || '"}' END"""
    unit = unit_hash_sql("'openai'", "profile", "'msg'", "''", "payload")
    for roles in (usual, f"VALUES {every}"):
        if not any_unsized(con):  # sized from their pieces, or by the first roles
            return
        con.execute(
            f"""INSERT INTO token_counts
            SELECT p.text_hash, 'tiktoken', any_value(p.version), 'o200k_base',
                any_value(c.tokens) - 4, any_value(p.exact)
            FROM (SELECT *, {unit} AS unit_hash FROM (
                SELECT p.text_hash, m.tokenizer_version AS version,
                    p.provider = 'openai' AS exact, m.profile, {payload} AS payload
                FROM (SELECT text_hash, provider, to_json(body)::VARCHAR AS text
                      FROM prompt_texts p
                      WHERE {UNSIZED_SYSTEM_PROMPT}) p
                CROSS JOIN (SELECT DISTINCT profile, tokenizer_version FROM _model_tok
                            WHERE tokenizer = 'tiktoken' AND encoding = 'o200k_base'
                              AND priming IN (2, 3)) m
                CROSS JOIN ({roles}) AS r(role, role_first)
            )) p JOIN token_counts c ON c.text_hash = p.unit_hash AND c.tokenizer = 'tiktoken'
                 AND c.encoding = 'o200k_base' AND c.tokenizer_version = p.version
            GROUP BY p.text_hash
            ON CONFLICT DO NOTHING"""
        )


def _recount_system_prompts(
    con: duckdb.DuckDBPyConnection, counter: Counter, registry: Registry, estimate: Tokenizer
) -> int:
    """System prompts (or first messages), sized with o200k_base for the caching finding.

    Plain text, no framing; exact for OpenAI only. Counted like units, on every core.
    """
    tik = registry.for_model(SYSTEM_ENCODING_MODEL) or estimate
    counter.tokenizers.setdefault(tik.name, tik)
    profile = ChatProfile()
    counter.profiles.setdefault(profile.key, profile)
    if not any_unsized(con):
        return 0
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _raw_todo AS
        SELECT p.text_hash AS unit_hash, ? AS tokenizer, ? AS version, 'o200k_base' AS encoding,
            p.provider, '{profile.key}' AS profile, 'raw' AS kind, p.provider AS ctx,
            p.body AS payload, ? AS model
        FROM prompt_texts p
        WHERE {UNSIZED_SYSTEM_PROMPT}""",
        [tik.name, tik.version, SYSTEM_ENCODING_MODEL],
    )
    # a size the fallback made is not kept: sizes are not stored per tokenizer version, so
    # a stored estimate would never be replaced by tiktoken's count
    counted = _count_table(con, counter, "SELECT * FROM _raw_todo", keep_estimates=False)
    con.execute("DROP TABLE _raw_todo")
    return counted


def recount(
    con: duckdb.DuckDBPyConnection,
    registry: Registry | None = None,
    workers: int | None = None,
) -> RecountResult:
    """Count what is new or was counted by an older tokenizer version; fill ``requests``."""
    registry = registry if registry is not None else load_tokenizers()
    estimate = EstimateTokenizer()
    tokenizers, profiles = _plan(con, registry, estimate)
    counter = Counter(
        tokenizers,
        profiles,
        workers if workers is not None else default_workers(),
        fallback=estimate,
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _fallback_counts (text_hash VARCHAR, tokenizer VARCHAR,
            encoding VARCHAR, tokens BIGINT, PRIMARY KEY (text_hash, tokenizer, encoding))"""
    )
    with any_order(con):  # working tables need no row order (store/parallel.py)
        counted = _recount_inputs(con, counter)
    counted += _recount_outputs(con, counter)
    counted += _recount_system_prompts(con, counter, registry, estimate)
    broken = list(registry.broken) + [
        (name, _count_failure(name, counter, estimate.name))
        for name in sorted(counter.failed | counter.estimated)
    ]
    in_key = INPUT_KEY.format(p="q.provider", h="q.input_hash")
    out_key = OUTPUT_KEY.format(p="q.provider", i="q.input_hash", o="q.output_hash")
    # The counts of each request: its tokenizer's stored ones, else (the failure path only)
    # the estimates that stood in for them this run, labelled with the fallback.
    col = {
        "tokenizer": "m.tokenizer",
        "in_tokens": "ci.tokens",
        "in_exact": "ci.exact",
        "out_tokens": "co.tokens",
        "out_exact": "co.exact",
    }
    joins = ""
    if con.execute("SELECT count(*) FROM _fallback_counts").fetchone() != (0,):
        col = {
            "tokenizer": f"""CASE WHEN fi.tokens IS NULL AND fo.tokens IS NULL THEN m.tokenizer
                ELSE m.tokenizer || '{fallback_label("", estimate.name)}' END""",
            "in_tokens": "coalesce(fi.tokens, ci.tokens)",
            "in_exact": "CASE WHEN fi.tokens IS NULL THEN ci.exact ELSE false END",
            "out_tokens": "coalesce(fo.tokens, co.tokens)",
            "out_exact": "CASE WHEN fo.tokens IS NULL THEN co.exact ELSE false END",
        }
        joins = f"""LEFT JOIN _fallback_counts fi ON fi.text_hash = {in_key}
             AND fi.tokenizer = m.tokenizer AND fi.encoding = m.encoding
        LEFT JOIN _fallback_counts fo ON q.output_hash IS NOT NULL AND fo.text_hash = {out_key}
             AND fo.tokenizer = m.tokenizer AND fo.encoding = m.encoding"""
    # Join once into a small table, then update only the rows whose recount changed.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _fresh AS
        SELECT q.request_key, {col["tokenizer"]} AS tokenizer,
            {col["in_tokens"]} AS in_tokens, {col["in_exact"]} AS in_exact,
            {col["out_tokens"]} AS out_tokens, {col["out_exact"]} AS out_exact
        FROM requests q JOIN _model_tok m USING (model)
        LEFT JOIN token_counts ci ON ci.text_hash = {in_key}
             AND ci.tokenizer = m.tokenizer AND ci.encoding = m.encoding
        LEFT JOIN token_counts co ON q.output_hash IS NOT NULL AND co.text_hash = {out_key}
             AND co.tokenizer = m.tokenizer AND co.encoding = m.encoding
        {joins}
        WHERE ({col["in_tokens"]} IS NOT NULL OR {col["out_tokens"]} IS NOT NULL)
          AND (q.recounted_input_tokens IS DISTINCT FROM coalesce({col["in_tokens"]},
                                                                  q.recounted_input_tokens)
               OR q.recount_exact IS DISTINCT FROM coalesce({col["in_exact"]}, q.recount_exact)
               OR q.recount_tokenizer IS DISTINCT FROM {col["tokenizer"]}
               OR q.recounted_output_tokens IS DISTINCT FROM coalesce({col["out_tokens"]},
                                                                      q.recounted_output_tokens)
               OR q.recount_output_exact IS DISTINCT FROM coalesce({col["out_exact"]},
                                                                   q.recount_output_exact))"""
    )
    updated = con.execute(
        """UPDATE requests SET
            recounted_input_tokens = coalesce(f.in_tokens, requests.recounted_input_tokens),
            recount_exact = coalesce(f.in_exact, requests.recount_exact),
            recount_tokenizer = f.tokenizer,
            recounted_output_tokens = coalesce(f.out_tokens, requests.recounted_output_tokens),
            recount_output_exact = coalesce(f.out_exact, requests.recount_output_exact)
        FROM _fresh f WHERE requests.request_key = f.request_key"""
    ).fetchone()
    _drop(con, "_fresh", "_fallback_counts", "_model_tok")
    return RecountResult(counted, int(updated[0]) if updated else 0, broken)


_TEXT_COLUMNS = {
    "text_hash": "VARCHAR",
    "kind": "VARCHAR",
    "provider": "VARCHAR",
    "body": "VARCHAR",
    "preview": "VARCHAR",
    "chars": "BIGINT",
}
_REQUEST_COLUMNS = {
    "request_key": "VARCHAR",
    "source_file": "VARCHAR",
    "source_line": "BIGINT",
    "source_format": "VARCHAR",
    "ts": "TIMESTAMPTZ",
    "provider": "VARCHAR",
    "model": "VARCHAR",
    "has_usage": "BOOLEAN",
    "status": "VARCHAR",
    "is_batch": "BOOLEAN",
    "input_hash": "VARCHAR",
    "output_hash": "VARCHAR",
}
_DEFAULT_REGISTRY: Registry | None = None  # count_request's plugins, loaded once
_SCRATCH: duckdb.DuckDBPyConnection | None = None
_SCRATCH_LOCK = threading.Lock()


@dataclass(frozen=True)
class RequestToCount:
    """One request for ``count_requests``: input keys, model, provider, optional reply."""

    body: dict[str, Any]
    model: str
    provider: str = "openai"
    response: dict[str, Any] | None = None


def count_request(
    body: dict[str, Any],
    model: str,
    provider: str = "openai",
    response: dict[str, Any] | None = None,
    registry: Registry | None = None,
) -> RequestCount:
    """Count one request (and optionally its reply body) exactly as ``recount`` would.

    ``body`` holds the input-bearing request keys (``messages``, ``tools``, ...);
    ``response`` the output-bearing ones (``{"messages": [...]}`` for OpenAI chat).
    A body nested too deeply for Python's JSON writer is a ``ValueError``.
    """
    return count_requests([RequestToCount(body, model, provider, response)], registry)[0]


def count_requests(
    items: list[RequestToCount], registry: Registry | None = None
) -> list[RequestCount]:
    """Count many requests in one recount, in order.

    It runs the same SQL as a store's recount on a private in-memory store (one per
    process, emptied around each call), so there is one implementation.
    """
    from tokaudit.store import open_store

    global _DEFAULT_REGISTRY, _SCRATCH
    if registry is None:
        if _DEFAULT_REGISTRY is None:
            _DEFAULT_REGISTRY = load_tokenizers()
        registry = _DEFAULT_REGISTRY
    with _SCRATCH_LOCK:
        if _SCRATCH is None:
            _SCRATCH = open_store(":memory:")
        return _count_many(_SCRATCH, items, registry)


def _count_many(
    con: duckdb.DuckDBPyConnection, items: list[RequestToCount], registry: Registry
) -> list[RequestCount]:
    tables = ("requests", "prompt_texts", "token_counts")
    for table in tables:
        con.execute(f"DELETE FROM {table}")

    def md5(text: str) -> str:
        return hashlib.md5(text.encode("utf-8")).hexdigest()  # = DuckDB's md5()

    texts: dict[str, tuple[object, ...]] = {}
    requests: list[tuple[object, ...]] = []
    now = datetime.now(UTC)
    replaced: set[int] = set()  # items holding a lone surrogate: their counts are estimates

    def dumps(value: Any, index: int) -> str:
        try:
            text = json.dumps(value, ensure_ascii=False)
        except RecursionError as exc:  # Python's JSON writer stops at about 1,000 levels
            raise ValueError(f"request {index} is nested too deeply to count") from exc
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: no UTF-8 text holds it (nor does a
            # store: ingest rejects such lines), so it is counted as U+FFFD
            replaced.add(index)
            return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return text

    for index, item in enumerate(items):
        body = dumps(item.body, index)
        texts[md5(body)] = (md5(body), "input", item.provider, body, "", len(body))
        output_hash = None
        if item.response is not None:
            output = dumps(item.response, index)
            output_hash = md5(output)
            texts.setdefault(output_hash, (output_hash, "output", item.provider, output, "", 0))
        requests.append(
            (
                f"{index:09d}",
                "",
                0,
                "api",
                now,
                item.provider,
                item.model,
                False,
                "ok",
                False,
                md5(body),
                output_hash,
            )
        )
    try:
        bulk_insert(con, "prompt_texts", _TEXT_COLUMNS, list(texts.values()))
        bulk_insert(con, "requests", _REQUEST_COLUMNS, requests)
        recount(con, registry, workers=1)
        rows = con.execute(
            """SELECT recounted_input_tokens, recount_exact, recounted_output_tokens,
                recount_output_exact, recount_tokenizer FROM requests ORDER BY request_key"""
        ).fetchall()
    finally:
        for table in tables:
            con.execute(f"DELETE FROM {table}")
    return [
        RequestCount(
            input_tokens=row[0],
            input_exact=bool(row[1]) and index not in replaced,
            output_tokens=row[2],
            output_exact=bool(row[3]) and index not in replaced,
            tokenizer=row[4],
        )
        for index, row in enumerate(rows)
    ]
