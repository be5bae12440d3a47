"""claude-code: broken assistant lines and foreign lines are rejects, never non-requests.

A non-request is a line Claude Code writes without a model call (user prompts, tool
results, summaries, snapshots, an assistant line with no usage, ``<synthetic>`` lines). An
assistant line whose message or usage is there but unusable, or a line with no string
``type``, is a reject with its file, line and reason: counted as a non-request it would
drop a call from spend without a word.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from claude_code_kit import (
    CWD,
    SESSION,
    Store,
    assert_counts_add_up,
    assistant,
    encode_cwd,
    open_priced_store,
    session_file,
    snapshot,
    summary,
    tool_result,
    usage,
    user,
    write_lines,
)

NO_TYPE = 'not a Claude Code line: no "type" field'
REAL = (
    Path(__file__).resolve().parents[2]
    / "fixtures"
    / "claude_code"
    / "claude-config"
    / "projects"
    / "-home-dev-src-web-app"
    / "ced7f427-91ae-4cff-91ef-129a0ad36dfb.jsonl"
)


def _with_message(msg_id: str, message: object) -> dict[str, object]:
    line = assistant(msg_id, "req_B", usage())
    line["message"] = message
    return line


def _with_usage(msg_id: str, value: object) -> dict[str, object]:
    line = assistant(msg_id, "req_B", usage())
    line["message"]["usage"] = value
    return line


def _with_count(msg_id: str, field: str, value: object) -> dict[str, object]:
    line = assistant(msg_id, "req_B", usage(output=40))
    line["message"]["usage"][field] = value
    return line


def test_unusable_message_or_usage_on_an_assistant_line_is_a_reject(
    store: Store, tmp_path: Path
) -> None:
    no_message = assistant("msg_B9", "req_B", usage())
    del no_message["message"]
    synthetic = assistant("msg_S", None, None, model="<synthetic>")
    synthetic["message"]["usage"] = None  # Claude Code's own line: still no call
    lines: list[dict[str, object] | str] = [
        snapshot(),
        user(),
        assistant("msg_OK", "req_OK", usage(output=9)),  # line 3: loads
        tool_result(),
        summary(),
        assistant("msg_NU", "req_NU", None),  # no usage at all: not a request
        synthetic,
        _with_usage("msg_B1", "lots"),  # line 8
        _with_usage("msg_B2", None),
        _with_usage("msg_B3", [1]),
        _with_message("msg_B4", "oops"),
        _with_message("msg_B5", [{"usage": {"input_tokens": 1}}]),
        no_message,
        _with_count("msg_B6", "output_tokens", None),
        _with_count("msg_B7", "input_tokens", None),
        # a null breakdown still reads as absent, as in the other formats
        _with_count("msg_OK2", "cache_read_input_tokens", None),
    ]
    result = store.ingest(session_file(tmp_path, lines))
    [f] = result.files
    assert (f.records_read, f.loaded, f.duplicates, f.rejected, f.non_requests) == (
        16,
        2,
        0,
        8,
        6,
    )
    assert_counts_add_up(result)
    got = {n: reason for _, n, reason in store.rejects()}
    assert got == {
        8: "message.usage is not an object (got string)",
        9: "message.usage is not an object (got null)",
        10: "message.usage is not an object (got array)",
        11: "message is not an object (got string)",
        12: "message is not an object (got array)",
        13: "no message on an assistant line",
        14: "message.usage.output_tokens is null",
        15: "message.usage.input_tokens is null",
    }
    raw = {n: r for n, r in store.rows("SELECT source_line, raw FROM rejects")}
    assert json.loads(raw[11])["message"] == "oops"
    rows = store.requests()
    assert sorted(rows) == ["anthropic:msg_OK", "anthropic:msg_OK2"]
    assert (
        rows["anthropic:msg_OK2"]["output_tokens"],
        rows["anthropic:msg_OK2"]["cache_read_tokens"],
    ) == (40, 0)


def test_a_progress_echo_with_unusable_usage_is_a_reject(store: Store, tmp_path: Path) -> None:
    echo = {
        "type": "progress",
        "sessionId": SESSION,
        "uuid": "e",
        "timestamp": "2026-09-12T20:59:00.000Z",
        "data": {
            "type": "agent_progress",
            "message": {
                "type": "assistant",
                "timestamp": "2026-09-12T20:59:00.000Z",
                "message": {"id": "msg_P", "model": "claude-sonnet-4-5", "usage": "lots"},
            },
        },
    }
    result = store.ingest(session_file(tmp_path, [echo]))
    [f] = result.files
    assert (f.records_read, f.rejected, f.non_requests) == (1, 1, 0)
    assert [r for _, _, r in store.rejects()] == [
        "data.message.message.usage is not an object (got string)"
    ]


def test_lines_without_a_string_type_are_rejects_wherever_they_are(
    store: Store, tmp_path: Path
) -> None:
    """Another log's lines appended to a real session: with or without usage, each is a
    reject, not a non-request; the session's own lines load exactly as alone."""
    alone = tmp_path / "alone" / "projects" / encode_cwd(CWD) / REAL.name
    alone.parent.mkdir(parents=True)
    shutil.copy(REAL, alone)
    [base] = store.ingest(alone).files
    assert base.rejected == 0 and base.non_requests > 0

    foreign: list[dict[str, object] | str] = [
        {"hello": "world"},
        {  # an OpenAI streamed pair (usage in the last chunk)
            "request": {"model": "gpt-4", "stream": True},
            "response": [{"id": "c1", "choices": [{"delta": {"content": "hi"}}]}],
        },
        {  # an OpenAI error pair: its only "type" is nested
            "request": {"model": "nope"},
            "error": {"status": 404, "type": "invalid_request_error", "message": "no model"},
        },
        {  # an OpenAI chat pair
            "request": {"model": "gpt-4o-mini"},
            "response": {"id": "c2", "usage": {"prompt_tokens": 8, "completion_tokens": 2}},
        },
        {"type": 5, "sessionId": SESSION, "uuid": "n"},
        {"type": None, "message": {"usage": {"input_tokens": 1, "output_tokens": 1}}},
        '   {"role": "assistant"}',  # leading blanks, still an object
    ]
    lines = REAL.read_text(encoding="utf-8").splitlines()
    mixed = write_lines(
        tmp_path / "mixed" / "projects" / encode_cwd(CWD) / REAL.name, [*lines, *foreign]
    )
    other = open_priced_store(tmp_path / "other.duckdb")
    result = other.ingest(mixed)
    [f] = result.files
    assert_counts_add_up(result)
    assert f.records_read == base.records_read + len(foreign)
    assert (f.loaded, f.duplicates, f.non_requests) == (
        base.loaded,
        base.duplicates,
        base.non_requests,
    )
    assert f.rejected == len(foreign)
    first = len(lines) + 1
    got = {n: reason for _, n, reason in other.rejects() if n >= first}
    assert got == {n: NO_TYPE for n in range(first, first + len(foreign))}
    spend = "SELECT sum(cost_usd) FROM request_costs"
    assert other.rows(spend) == store.rows(spend)
    other.con.close()


def test_a_line_of_a_type_claude_code_may_add_is_not_a_request(
    store: Store, tmp_path: Path
) -> None:
    # a newer Claude Code's record type without usage: no call, not another log
    lines = [
        {"type": "custom-title", "sessionId": SESSION, "customTitle": "x"},
        assistant("msg_A", "req_A", usage()),
    ]
    result = store.ingest(session_file(tmp_path, lines))
    [f] = result.files
    assert (f.records_read, f.loaded, f.rejected, f.non_requests) == (2, 1, 0, 1)


def _echo(msg_id: str, u: object) -> dict[str, object]:
    """A subagent's response echoed in a parent session's progress line."""
    return {
        "type": "progress",
        "sessionId": SESSION,
        "uuid": "e-" + msg_id,
        "timestamp": "2026-09-12T20:59:00.000Z",
        "data": {
            "type": "agent_progress",
            "message": {
                "type": "assistant",
                "timestamp": "2026-09-12T20:59:00.000Z",
                "message": {"id": msg_id, "model": "claude-sonnet-4-5", "usage": u},
            },
        },
    }


def test_a_usage_object_without_its_counts_is_a_reject(store: Store, tmp_path: Path) -> None:
    """Claude Code always writes input_tokens and output_tokens: ``"usage": {}`` is a
    broken line (ccusage skips it), never a call without usage; an assistant line with no
    usage key at all, and a ``<synthetic>`` one, stay non-requests."""
    synthetic = assistant("msg_S", None, {}, model="<synthetic>")  # Claude Code's own line
    lines: list[dict[str, object] | str] = [
        user(),
        assistant("msg_OK", "req_OK", usage(input_tokens=7, output=9)),  # line 2: loads
        assistant("msg_E1", "req_E1", {}),  # line 3
        assistant("msg_E2", "req_E2", {"service_tier": "standard", "cache_read_input_tokens": 5}),
        assistant("msg_E3", "req_E3", {"input_tokens": 4, "cache_read_input_tokens": 5}),
        assistant("msg_E4", "req_E4", {"output_tokens": 12}),
        _echo("msg_E5", {}),  # line 7
        assistant("msg_NU", "req_NU", None),  # no usage at all: not a request
        synthetic,
    ]
    result = store.ingest(session_file(tmp_path, lines))
    [f] = result.files
    assert f.format == "claude-code"
    assert (f.records_read, f.loaded, f.duplicates, f.rejected, f.non_requests) == (9, 1, 0, 5, 3)
    assert_counts_add_up(result)
    got = {n: reason for _, n, reason in store.rejects()}
    assert got == {
        3: "message.usage has no input_tokens or output_tokens",
        4: "message.usage has no input_tokens or output_tokens",
        5: "message.usage has no output_tokens",
        6: "message.usage has no input_tokens",
        7: "data.message.message.usage has no input_tokens or output_tokens",
    }
    raw = {n: r for n, r in store.rows("SELECT source_line, raw FROM rejects")}
    assert json.loads(raw[3])["message"]["usage"] == {}
    [ok] = store.requests().values()
    assert (ok["request_key"], ok["input_tokens"], ok["output_tokens"]) == (
        "anthropic:msg_OK",
        7,
        9,
    )


def test_a_type_that_is_no_string_is_a_reject_even_where_detection_reads_it(
    store: Store, tmp_path: Path
) -> None:
    """Lines whose ``type`` is an array, an object, a number or a boolean (with usage or
    without), here among the first lines the format detection reads: each is a reject, the
    session's own lines load, and nothing fails. A ``type`` string written with an escape
    is still a string."""
    escaped = json.dumps(assistant("msg_X", "req_X", usage(output=21)), separators=(",", ":"))
    escaped = escaped.replace('"type":"assistant","uuid"', '"type":"assist\\u0061nt","uuid"')
    assert '"assist\\u0061nt"' in escaped  # the line's own type, not a nested one

    def typed(kind: object, msg_id: str) -> dict[str, object]:
        line = assistant(msg_id, "req_" + msg_id, usage(output=50))
        line["type"] = kind
        return line

    lines: list[dict[str, object] | str] = [
        assistant("msg_A", "req_A", usage(output=11)),  # line 1
        typed(["assistant"], "msg_T1"),  # line 2
        user(),
        {"type": {"kind": "user"}, "sessionId": SESSION, "uuid": "u-2"},  # no usage: line 4
        summary(),
        assistant("msg_B", "req_B", usage(output=13)),
        typed({"name": "assistant"}, "msg_T2"),  # line 7
        typed(7, "msg_T3"),
        typed(True, "msg_T4"),
        {"type": ["user"], "sessionId": SESSION, "uuid": "u-3"},  # line 10
        escaped,  # line 11: loads
    ]
    result = store.ingest(session_file(tmp_path, lines))
    [f] = result.files
    assert (f.format, f.error) == ("claude-code", None)
    assert (f.records_read, f.loaded, f.duplicates, f.rejected, f.non_requests) == (
        11,
        3,
        0,
        6,
        2,
    )
    assert_counts_add_up(result)
    assert {n: reason for _, n, reason in store.rejects()} == {
        n: NO_TYPE for n in (2, 4, 7, 8, 9, 10)
    }
    rows = store.requests()
    assert sorted(rows) == ["anthropic:msg_A", "anthropic:msg_B", "anthropic:msg_X"]
    assert [rows[k]["output_tokens"] for k in sorted(rows)] == [11, 13, 21]


def test_a_count_beyond_int64_is_too_large_at_any_size(store: Store, tmp_path: Path) -> None:
    """2^64 read "should be a whole number, got 18446744073709551616" where 2^63 read "is
    too large": both are whole numbers BIGINT cannot hold, one reason for every size."""
    lines: list[dict[str, object] | str] = [
        _with_count("msg_A", "input_tokens", 2**63),
        _with_count("msg_B", "input_tokens", 2**64),
        _with_count("msg_C", "cache_read_input_tokens", 10**30),
        _with_count("msg_D", "output_tokens", -(10**30)),
        _with_count("msg_OK", "input_tokens", 2**63 - 1),
    ]
    result = store.ingest(session_file(tmp_path, lines))
    [f] = result.files
    assert (f.loaded, f.rejected) == (1, 4)
    assert {n: reason for _, n, reason in store.rejects()} == {
        1: "message.usage.input_tokens is too large: 9223372036854775808",
        2: "message.usage.input_tokens is too large: 18446744073709551616",
        3: "message.usage.cache_read_input_tokens is too large: 1000000000000000000000000000000",
        4: "message.usage.output_tokens is negative",
    }
