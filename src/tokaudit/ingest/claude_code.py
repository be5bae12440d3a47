"""Claude Code session transcripts: ``~/.claude/projects/<project>/<session>.jsonl``.

Documented in docs/formats.md (``## claude-code``); the field reference is log-formats.md
§5. Why it needs its own rules:

- Claude Code writes one line per content block. The lines of one API response share
  ``message.id`` (and ``requestId``); earlier lines carry a partial streaming
  ``output_tokens``, so the line with the largest usage is the one to keep
  (``preference``), across files too: ``claude --resume`` copies earlier responses into
  the new session's file, and a ``/btw`` side question replays parent responses in a
  sidechain file with a new ``requestId``. The key is therefore ``message.id`` alone
  (Anthropic message ids are unique per response), and a non-sidechain line beats a
  sidechain replay whatever its usage.
- Most lines are not model calls (user prompts, tool results, summaries, snapshots): they
  are ``non_request`` lines, counted as read but neither loaded nor rejected. So are
  ``<synthetic>`` lines, which Claude Code writes itself (an API error it shows, an
  interrupted turn): no call was billed. A broken call is never one: an assistant line
  whose ``message`` or ``message.usage`` is not an object, a usage with a null or no
  input or output count (``"usage": {}``), and any line whose ``type`` is absent or not a
  string (another log's) are rejects, whichever stage reads it (detection included).
- Usage follows the Anthropic convention (``ta_usage_anthropic_n``), 5-minute and 1-hour
  cache writes apart. ``usage.speed = "fast"`` becomes the ``fast`` service tier, which is
  unpriced unless the price table has that variant. ``usage.inference_geo`` (data
  residency) is kept in ``metadata.inference_geo``: ``us`` is priced as US-only inference.

Sessions are many small files, so ``stage_files`` reads a whole batch of them in one scan;
a batch the loader stages itself is read on every DuckDB thread (groups of files, then row
ranges).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import duckdb

from tokaudit.ingest.files import COMPRESSED_SUFFIXES, file_size
from tokaudit.ingest.interface import FileHead, LogFormat
from tokaudit.ingest.staging import (
    create_staged,
    path_sql,
    read_lines_sql,
    split_allowed,
    sql_string,
)
from tokaudit.ingest.usage import COUNT_FIELDS, NOT_NULL_FIELDS, not_plain_count
from tokaudit.store.parallel import any_order, over_row_ranges, threads

# Record types Claude Code writes (the ones without usage are not requests).
LINE_TYPES = {
    "user",
    "assistant",
    "summary",
    "system",
    "progress",
    "file-history-snapshot",
    "queue-operation",
    "attachment",
}
SYNTHETIC_MODEL = "<synthetic>"

_COUNT = "JSON"  # counts stay JSON scalars: their type is checked before use
_USAGE = {
    "input_tokens": _COUNT,
    "cache_read_input_tokens": _COUNT,
    "cache_creation_input_tokens": _COUNT,
    "cache_creation": {"ephemeral_5m_input_tokens": _COUNT, "ephemeral_1h_input_tokens": _COUNT},
    "output_tokens": _COUNT,
    "output_tokens_details": {"thinking_tokens": _COUNT},
    "server_tool_use": {"web_search_requests": _COUNT},
    "service_tier": "VARCHAR",
    "speed": "VARCHAR",
    "inference_geo": "VARCHAR",
    "iterations": "JSON",
}
_MESSAGE = {"id": "VARCHAR", "model": "VARCHAR", "stop_reason": "VARCHAR", "usage": "JSON"}
# One parse of each line that mentions "usage" or "assistant" extracts everything below. Subagent
# progress lines in a parent session wrap the record as {"data": {"message": {...}}}.
_LINE_SHAPE = {
    "type": "JSON",  # its JSON text: a string's starts with a quote, any other value's not
    "timestamp": "VARCHAR",
    "sessionId": "VARCHAR",
    "version": "VARCHAR",
    "cwd": "VARCHAR",
    "gitBranch": "VARCHAR",
    "isSidechain": "JSON",
    "agentId": "VARCHAR",
    "requestId": "VARCHAR",
    "message": _MESSAGE,
    "data": {
        "agentId": "VARCHAR",
        "message": {
            "timestamp": "VARCHAR",
            "requestId": "VARCHAR",
            "isSidechain": "JSON",
            "message": _MESSAGE,
        },
    },
}


def _shape(value: object) -> str:
    return sql_string(json.dumps(value, separators=(",", ":")))


def _field(path: str) -> str:
    """The struct access for a dotted usage field, e.g. ``uf.cache_creation.x``."""
    return "uf." + path


# The counts of the Anthropic convention, checked on the small JSON scalars: a valid count
# is a non-negative integer that fits BIGINT. ``ta_int_problem`` words the reason.
_COUNTS = COUNT_FIELDS["anthropic"]
# input and output are always written: a JSON null there is a broken line, never 0 (the
# struct reads null and absent alike, so both are suspect and ta_count_problem tells them
# apart on the usage object ``u``; real lines always have both counts).
_NOT_NULL = NOT_NULL_FIELDS["anthropic"]
_SUSPECT = " OR ".join(
    [not_plain_count(f"nullif({_field(f)}::VARCHAR, 'null')") for f in _COUNTS]
    + [f"{_field(f)} IS NULL" for f in _NOT_NULL]
)
_PROBLEMS = (
    "nullif(concat_ws('; ', "
    + ", ".join(
        f"ta_count_problem(u, 'message.usage.{f}', '$.{f}')"
        if f in _NOT_NULL
        else f"ta_int_problem({_field(f)}, 'message.usage.{f}', '$')"
        for f in _COUNTS
    )
    + "), '')"
)

# A usage object without one of those counts (``{}``) is just as broken: loaded, it would be
# a call of no tokens, or priced without its output (ccusage skips a usage without
# input_tokens). The label names the object as the line holds it.
_MISSING = (
    "CASE WHEN "
    + " OR ".join(f"{_field(f)} IS NULL" for f in _NOT_NULL)
    + " THEN CASE WHEN progress THEN 'data.message.message.usage' ELSE 'message.usage' END"
    + " || ' has no ' || concat_ws(' or ', "
    + ", ".join(f"CASE WHEN {_field(f)} IS NULL THEN '{f}' END" for f in _NOT_NULL)
    + ") END"
)


def _n(f: str) -> str:
    # A plain cast, 5x cheaper than ta_int: any count it could misread (12.5 rounds, -3,
    # 1e3) fails the _SUSPECT test, and its line is rejected with ta_int_problem's reason.
    return f"try_cast({_field(f)}::VARCHAR AS BIGINT)"


# ta_usage_anthropic_n takes the counts in COUNT_FIELDS' order
_USAGE_ARGS = ", ".join(_n(f) for f in _COUNTS)

# Stage 1: every physical line of every file, each classified as it is read (blank, not
# valid JSON, not an object, no "type", or to parse). Only the lines to parse (they mention
# "usage", or are assistant lines) or kept as rejects keep their text: the others are
# counted, never parsed again. A line that mentions "usage" is not validated here: stage 2
# parses it anyway, and a parse that fails makes it a reject there (half the bytes are such
# lines). Any other object line must have a string "type", as every Claude Code line has:
# one extraction reads it and validates the line (it costs what json_valid does), so the
# costlier checks run only on the few lines whose type is unknown, absent or unreadable.
_NO_TYPE = 'not a Claude Code line: no "type" field'
_KNOWN_TYPES = ", ".join(sql_string(t) for t in sorted(LINE_TYPES))
_LINES = r"""
SELECT filename, line_no, to_parse, bad,
    CASE WHEN to_parse OR bad IS NOT NULL THEN line END AS line
FROM (
    SELECT filename, line_no, line,
        has_usage_key OR coalesce(ty = 'assistant', false) AS to_parse,
        CASE
            WHEN line IS NULL OR line = '' THEN 'blank'
            WHEN has_usage_key AND starts_with(line, '{') THEN NULL
            WHEN ty IN ({known}) THEN NULL
            WHEN ty IS NOT NULL AND json_type(line, '$.type') = 'VARCHAR' THEN NULL
            WHEN NOT json_valid(line) THEN
                CASE WHEN regexp_full_match(line, '\s*') THEN 'blank' ELSE 'invalid JSON' END
            WHEN starts_with(line, '{') OR regexp_matches(line, '^\s*\{') THEN
                CASE WHEN json_type(line, '$.type') = 'VARCHAR' THEN NULL ELSE '{no_type}' END
            ELSE 'not a JSON object (got ' || ta_kind_name(json_type(line)) || ')'
        END AS bad
    FROM (
        SELECT filename, line_no, line, contains(line, '"usage"') AS has_usage_key,
            -- the "type" of a line that does not mention usage (NULL where unreadable)
            CASE WHEN has_usage_key THEN NULL
                 WHEN starts_with(line, '{') THEN try(line ->> '$.type')
                 WHEN regexp_matches(line, '^\s*\{') THEN try(line ->> '$.type')
            END AS ty
        FROM ({source})
    )
)
""".replace("{no_type}", _NO_TYPE).replace("{known}", _KNOWN_TYPES)

# An assistant line whose message.usage is no object (read as NULL or a scalar): its
# message or usage is broken, unless it has no usage at all (not a request). Checked on the
# raw line, only for such lines (real ones always carry a usage object).
_ASSISTANT_PROBLEM = """CASE
    WHEN json_type(line, '$.message') IS NULL THEN 'no message on an assistant line'
    WHEN json_type(line, '$.message') <> 'OBJECT'
        THEN 'message is not an object (got '
             || ta_kind_name(json_type(line, '$.message')) || ')'
    WHEN json_type(line, '$.message.usage') IS NOT NULL
        THEN 'message.usage is not an object (got '
             || ta_kind_name(json_type(line, '$.message.usage')) || ')'
    END"""

# Stage 2, over those lines: parse each line that can carry usage once, decide request,
# non-request or reject, and keep the raw text only where a reject needs it.
_SCAN = f"""
SELECT * EXCLUDE (line, r, u, uf, suspect, ts_raw, shape_problem),
    uf.service_tier AS service_tier, uf.speed AS speed, uf.iterations AS iterations,
    uf.inference_geo AS inference_geo,
    CASE WHEN reject_reason IS NOT NULL THEN line END AS line,
    CASE WHEN reject_reason IS NULL AND NOT non_request AND nullif(msg_id, '') IS NULL
         THEN md5(line) END AS line_md5
FROM (
    SELECT *,
        CASE
            WHEN bad IS NOT NULL THEN nullif(bad, 'blank')
            WHEN not_claude_code THEN '{_NO_TYPE}'
            WHEN shape_problem IS NOT NULL THEN shape_problem
            WHEN non_request THEN NULL
            WHEN ts_raw IS NULL THEN 'missing timestamp'
            WHEN ts IS NULL THEN 'timestamp is not ISO 8601: ' || ts_raw
            WHEN suspect AND {_PROBLEMS} IS NOT NULL THEN {_PROBLEMS}
            WHEN suspect AND {_MISSING} IS NOT NULL THEN {_MISSING}
            WHEN model IS NULL OR model = '' THEN 'no model in message.model'
            WHEN us.problem IS NOT NULL THEN us.problem
        END AS reject_reason
    FROM (
        SELECT *,
            -- every Claude Code line has a type: a parsed line without one is some other
            -- log read as Claude Code (--format claude-code), never silently skipped
            bad IS NULL AND NOT not_claude_code AND shape_problem IS NULL
                AND (u IS NULL OR json_type(u) <> 'OBJECT' OR model = '{SYNTHETIC_MODEL}')
                AS non_request,
            try_cast(ts_raw AS TIMESTAMPTZ) AS ts,
            coalesce({_SUSPECT}, false) AS suspect,
            ta_usage_anthropic_n({_USAGE_ARGS}) AS us
        FROM (
            SELECT *, from_json(u, {_shape(_USAGE)}) AS uf,
                -- "type" is read as JSON text (escapes normalised): absent, null, a
                -- number, a boolean, an array or an object is no string, and no quote
                bad IS NULL AND r IS NOT NULL AND NOT coalesce(starts_with(r.type, '"'), false)
                    AS not_claude_code,
                CASE WHEN bad IS NOT NULL OR model = '{SYNTHETIC_MODEL}' THEN NULL
                     WHEN r.type = '"assistant"' AND (r.message.usage IS NULL
                                                    OR json_type(r.message.usage) <> 'OBJECT')
                         THEN {_ASSISTANT_PROBLEM}
                     -- a subagent's response echoed in a progress line
                     WHEN progress AND json_type(u) <> 'OBJECT'
                         THEN 'data.message.message.usage is not an object (got '
                              || ta_kind_name(json_type(u)) || ')'
                END AS shape_problem
            FROM (
                SELECT filename, line_no, line, bad, r, progress, u,
                    m.id AS msg_id, m.model AS model, m.stop_reason AS stop_reason,
                    CASE WHEN progress THEN coalesce(r.data.message.timestamp, r.timestamp)
                         ELSE r.timestamp END AS ts_raw,
                    CASE WHEN progress THEN r.data.message.requestId ELSE r.requestId END
                        AS request_id,
                    coalesce(CASE WHEN progress THEN r.data.message.isSidechain
                                  ELSE r.isSidechain END::VARCHAR = 'true', false)
                        AS is_sidechain,
                    coalesce(r.agentId, r.data.agentId) AS agent_id,
                    r.sessionId AS session_id, r.version AS version, r.cwd AS cwd,
                    r.gitBranch AS git_branch
                FROM (
                    SELECT *,
                        CASE WHEN progress THEN r.data.message.message ELSE r.message END AS m,
                        coalesce(r.message.usage, r.data.message.message.usage) AS u
                    FROM (
                        SELECT filename, line_no, line, bad, r,
                            r.message.usage IS NULL AND r.data.message.message.usage IS NOT NULL
                                AS progress
                        FROM (
                            -- a line stage 1 left unchecked is invalid where its parse fails
                            SELECT filename, line_no, line, r,
                                CASE WHEN bad IS NULL AND to_parse AND r IS NULL
                                     THEN CASE WHEN json_valid(line) THEN 'unreadable record'
                                               ELSE 'invalid JSON' END
                                     ELSE bad END AS bad
                            FROM (
                                SELECT filename, line_no, line, bad, to_parse,
                                    CASE WHEN bad IS NULL AND to_parse
                                         THEN try(from_json(line, {_shape(_LINE_SHAPE)}))
                                    END AS r
                                FROM _cc_lines WHERE true
                            )
                        )
                    )
                )
            )
        )
    )
)
"""

# Stage 3a: decode each project directory from a cwd logged in it.
_PROJECTS = """
CREATE OR REPLACE TEMP TABLE _cc_proj AS
WITH decoded AS (
    SELECT f.project_dir,
        min(c.cwd) FILTER (WHERE regexp_replace(c.cwd, '[^A-Za-z0-9]', '-', 'g')
                                 = f.project_dir) AS project_path
    FROM _cc_files f LEFT JOIN _cc c ON c.filename = f.filename AND c.cwd IS NOT NULL
    WHERE f.in_tree
    GROUP BY f.project_dir
), loose AS (
    -- a file outside a projects tree (a copied session, standard input): the folder it
    -- sits in says nothing, the working directory its lines logged does
    SELECT f.filename, min(c.cwd) AS project_path
    FROM _cc_files f LEFT JOIN _cc c ON c.filename = f.filename AND c.cwd IS NOT NULL
    WHERE NOT f.in_tree
    GROUP BY f.filename
)
SELECT f.*, coalesce(d.project_path, l.project_path) AS project_path,
    coalesce(regexp_extract(coalesce(d.project_path, l.project_path), '[^/\\\\]+$'),
             f.project_dir) AS project
FROM _cc_files f
LEFT JOIN decoded d ON f.in_tree AND d.project_dir = f.project_dir
LEFT JOIN loose l ON NOT f.in_tree AND l.filename = f.filename
"""

# Stage 3b: shape the `_staged` columns (blank lines are not records).
_STAGE = """
WITH calls AS (
SELECT
    c.line_no,
    f.file_no,
    c.line,
    c.reject_reason,
    c.non_request,
    'anthropic:' || coalesce(nullif(c.msg_id, ''), 'line-md5:' || c.line_md5) AS request_key,
    nullif(c.request_id, '') AS request_id,
    c.ts,
    'anthropic' AS provider,
    'messages' AS api,
    c.model AS model_responded,
    c.model,
    f.project AS team,
    f.project AS project,
    -- usage.inference_geo (data residency: "us" is US-only inference, priced 1.1x on 4.6+
    -- models) only where one was set ("not_available" or "" otherwise): a null patch adds
    -- no key
    CASE WHEN NOT c.non_request THEN json_merge_patch(json_object(
        'project_path', coalesce(f.project_path, f.project_dir),
        'session_id', c.session_id, 'version', c.version, 'cwd', c.cwd,
        'git_branch', c.git_branch, 'is_sidechain', c.is_sidechain,
        'agent_id', c.agent_id, 'progress_line', c.progress),
        json_object('inference_geo', CASE WHEN lower(trim(c.inference_geo))
                    NOT IN ('', 'not_available') THEN lower(trim(c.inference_geo)) END)) END
        AS metadata,
    c.us.input AS input_tokens,
    c.us.cache_read AS cache_read_tokens,
    c.us.cache_write_5m AS cache_write_5m_tokens,
    c.us.cache_write_1h AS cache_write_1h_tokens,
    c.us.output AS output_tokens,
    c.us.reasoning AS reasoning_tokens,
    c.us.web_search AS web_search_requests,
    coalesce(c.us.has_usage, false) AS has_usage,
    'ok' AS status,
    c.stop_reason AS finish_reason,
    coalesce(lower(c.service_tier) = 'batch', false) AS is_batch,
    CASE WHEN lower(c.speed) = 'fast' THEN 'fast'
         WHEN lower(c.service_tier) IN ('standard', 'batch') THEN NULL
         ELSE lower(c.service_tier) END AS service_tier,
    CASE WHEN c.reject_reason IS NULL AND NOT c.non_request AND nullif(c.msg_id, '') IS NOT NULL
              AND json_type(c.iterations) = 'ARRAY'
         THEN CAST(c.iterations AS JSON[]) END AS iterations
FROM (SELECT * FROM _cc WHERE bad IS DISTINCT FROM 'blank') c
JOIN _cc_proj f ON f.filename = c.filename
), advisor AS (
    -- An advisor sub-inference (usage.iterations[] of type advisor_message) is billed at its
    -- own model's rates, on top of the response's own usage: one more call, as ccusage
    -- counts it. Keyed by the response id and the iteration's position.
    SELECT * EXCLUDE (it, it_no, au)
        REPLACE (request_key || ':advisor:' || it_no AS request_key,
                 it ->> '$.model' AS model, it ->> '$.model' AS model_responded,
                 au.input AS input_tokens, au.cache_read AS cache_read_tokens,
                 au.cache_write_5m AS cache_write_5m_tokens,
                 au.cache_write_1h AS cache_write_1h_tokens, au.output AS output_tokens,
                 au.reasoning AS reasoning_tokens, 0 AS web_search_requests,
                 coalesce(au.has_usage, false) AS has_usage, NULL AS finish_reason,
                 json_merge_patch(metadata, json_object('advisor_iteration', it_no))
                     AS metadata,
                 CASE WHEN nullif(it ->> '$.model', '') IS NULL
                      THEN 'advisor iteration ' || it_no || ': no model'
                      WHEN au.problem IS NOT NULL
                      THEN 'advisor iteration ' || it_no || ': ' || au.problem END
                     AS reject_reason)
    FROM (
        SELECT *, ta_usage_anthropic(it) AS au
        FROM (SELECT calls.*, unnest(iterations) AS it,
                  generate_subscripts(iterations, 1) AS it_no
              FROM calls WHERE iterations IS NOT NULL)
        WHERE it ->> '$.type' = 'advisor_message'
    )
)
SELECT * EXCLUDE (iterations) FROM calls
UNION ALL BY NAME
SELECT * EXCLUDE (iterations) FROM advisor
"""


def _is_line(record: dict[str, object]) -> bool:
    """A Claude Code record: a known type with its session and line ids."""
    kind = record.get("type")
    if not isinstance(kind, str):  # another log's (a list or object would not even hash)
        return False
    if kind == "summary":
        return "leafUuid" in record
    if kind == "file-history-snapshot":
        return "messageId" in record
    return kind in LINE_TYPES and "sessionId" in record and "uuid" in record


def tree_dir(path: Path | str) -> str | None:
    """The ``<encoded-cwd>`` directory of a transcript in a ``projects`` tree, else None.

    ``projects/<project>/<session>.jsonl`` and
    ``projects/<project>/<session>/subagents/agent-*.jsonl``. (Strings, not ``Path``:
    called for thousands of files.)
    """
    parts = os.path.abspath(path).split(os.sep)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "projects" and i + 1 < len(parts) - 1:
            return parts[i + 1]
    return None


def project_dir(path: Path | str) -> str:
    """``tree_dir``, or for a file outside a ``projects`` tree its own directory (the
    fallback when its lines log no working directory)."""
    found = tree_dir(path)
    if found is not None:
        return found
    parts = os.path.abspath(path).split(os.sep)
    return parts[-2] if len(parts) > 1 else ""


def encode_cwd(cwd: str) -> str:
    """Claude Code's directory name for a working directory (non-alphanumerics to '-')."""
    return re.sub(r"[^A-Za-z0-9]", "-", cwd)


class ClaudeCodeFormat(LogFormat):
    name = "claude-code"
    description = "Claude Code session transcripts (~/.claude/projects/**/*.jsonl)"
    # Sessions are many small files: stage up to this many bytes of them in one scan.
    batch_bytes = 512 * 1024 * 1024
    parallel_staging = True  # reads only the transcripts
    lf_lines_only = True  # Claude Code writes JSON Lines with LF

    def sniff(self, head: FileHead) -> bool:
        return head.mostly(_is_line)

    def preference(self, row: str) -> str:
        """Among lines of one response: a non-sidechain line, then the largest usage.

        Summed as HUGEINT: counts near 2^63 - 1 are valid, and their BIGINT sum overflowed
        (the whole file failed)."""
        total = " + ".join(
            f"coalesce({row}.{c}::HUGEINT, 0)"
            for c in (
                "input_tokens",
                "cache_read_tokens",
                "cache_write_5m_tokens",
                "cache_write_1h_tokens",
                "output_tokens",
            )
        )
        sidechain = f"coalesce(({row}.metadata ->> 'is_sidechain')::BOOLEAN, false)::BIGINT"
        return f"[{sidechain}, -({total})]"

    def stage(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        self.stage_files(con, [path])

    def stage_files(self, con: duckdb.DuckDBPyConnection, paths: list[Path]) -> None:
        trees = [tree_dir(p) for p in paths]
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _cc_files AS SELECT * FROM "
            "(SELECT unnest(?::INTEGER[]) AS file_no, unnest(?::VARCHAR[]) AS filename, "
            "unnest(?::VARCHAR[]) AS project_dir, unnest(?::BOOLEAN[]) AS in_tree)",
            [
                list(range(len(paths))),
                [str(p) for p in paths],
                [t if t is not None else project_dir(p) for t, p in zip(trees, paths, strict=True)],
                [t is not None for t in trees],
            ],
        )
        # Lines first, then the parse: DuckDB's from_json costs about twice as much fused
        # into the file read as over a materialised table (json_valid does not).
        if not split_allowed(con):
            con.execute(f"CREATE OR REPLACE TEMP TABLE _cc_lines AS {_classified(paths)}")
            con.execute(f"CREATE OR REPLACE TEMP TABLE _cc AS {_SCAN}")
        else:  # no other batch stages meanwhile: each statement runs on every DuckDB thread
            # files split in groups, one per thread; compressed ones are numbered in
            # read order, so they are read apart, with the order kept
            plain = [p for p in paths if not _packed(p)]
            packed = [p for p in paths if _packed(p)]
            con.execute(f"CREATE OR REPLACE TEMP TABLE _cc_lines AS {_classified([])}")
            with any_order(con):
                if plain:
                    groups = _by_size(plain, threads(con))
                    con.execute(
                        "INSERT INTO _cc_lines "
                        + " UNION ALL ".join(f"({_classified(g)})" for g in groups)
                    )
            if packed:
                con.execute(f"INSERT INTO _cc_lines {_classified(packed)}")
            scan = over_row_ranges(con, _SCAN, "_cc_lines", "FROM _cc_lines WHERE")
            with any_order(con):
                con.execute(f"CREATE OR REPLACE TEMP TABLE _cc AS {scan}")
        con.execute("DROP TABLE _cc_lines")
        con.execute(_PROJECTS)
        create_staged(con, _STAGE, split=("_cc", "FROM _cc WHERE"))
        con.execute("DROP TABLE _cc; DROP TABLE _cc_proj")


def _packed(path: Path) -> bool:
    return path.name.lower().endswith(COMPRESSED_SUFFIXES)


def _classified(paths: list[Path]) -> str:
    return _LINES.replace("{source}", _lines_sql(paths))


def _by_size(paths: list[Path], groups: int) -> list[list[Path]]:
    """``paths`` in at most ``groups`` lists of about equal bytes (largest first, greedy)."""
    totals = [0] * max(1, groups)
    members: list[list[Path]] = [[] for _ in totals]
    for size, path in sorted(((file_size(p), p) for p in paths), key=lambda sp: -sp[0]):
        smallest = totals.index(min(totals))
        totals[smallest] += size
        members[smallest].append(path)
    return [m for m in members if m]


def _lines_sql(paths: list[Path]) -> str:
    """``(filename, line_no, line)`` for every physical line of ``paths``.

    Plain files are read whole and split on LF (a CR before it is dropped): far cheaper
    than a CSV scan. Compressed files go through the CSV reader, which decompresses.
    """
    compressed = [p for p in paths if _packed(p)]
    plain = [p for p in paths if not _packed(p)]
    parts = []
    if plain:
        listed = "[" + ", ".join(path_sql(p) for p in plain) + "]"
        # each file's name as given, by DuckDB's file_index: the name DuckDB reports can
        # be spelt otherwise (a path with glob characters, or //), and _cc_files joins on it
        names = "[" + ", ".join(sql_string(str(p)) for p in plain) + "]"
        parts.append(
            "SELECT filename, line_no, CASE WHEN suffix(line, chr(13)) THEN line[:-2] "
            "ELSE line END AS line FROM (SELECT filename, generate_subscripts(ls, 1) AS "
            "line_no, unnest(ls) AS line FROM (SELECT "
            f"{names}[file_index::BIGINT + 1] AS filename, string_split(content, "
            f"chr(10)) AS ls FROM read_text({listed})))"
        )
    for p in compressed:
        parts.append(
            f"SELECT {sql_string(str(p))} AS filename, row_number() OVER () AS line_no, "
            f"line FROM {read_lines_sql(p)}"
        )
    if not parts:  # no rows, the same columns
        return (
            "SELECT NULL::VARCHAR AS filename, NULL::BIGINT AS line_no, "
            "NULL::VARCHAR AS line LIMIT 0"
        )
    return " UNION ALL ".join(parts)
