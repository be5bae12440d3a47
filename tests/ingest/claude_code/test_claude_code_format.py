"""claude-code: Claude Code session transcripts (log-formats.md §5).

Each test writes the few lines it needs; expectations are worked out by hand from the
lines and the published Anthropic prices (claude_code_kit.PUBLISHED).
"""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path

import pytest
from claude_code_kit import (
    CWD,
    PUBLISHED,
    SESSION,
    SONNET_45,
    Store,
    assert_counts_add_up,
    assistant,
    encode_cwd,
    expected_cost,
    session_file,
    snapshot,
    summary,
    tool_result,
    usage,
    user,
    write_lines,
)

from tokaudit.ingest import ingest_paths
from tokaudit.ingest.claude_code import ClaudeCodeFormat, project_dir
from tokaudit.ingest.interface import FileHead


def test_one_response_per_content_block_keeps_the_largest_usage(
    store: Store, tmp_path: Path
) -> None:
    # Three blocks (thinking, text, tool_use) of one response: partial output 2, then 5,
    # then the final 120 on the last line. Kept: the last line, once.
    final = usage(cache_read=72634, write_5m=310, output=120)
    lines = [
        snapshot(),
        user(),
        assistant("msg_01A", "req_01A", usage(cache_read=72634, write_5m=310, output=2)),
        assistant("msg_01A", "req_01A", usage(cache_read=72634, write_5m=310, output=5)),
        assistant("msg_01A", "req_01A", final, stop="tool_use"),
        tool_result(),
        summary(),
    ]
    path = session_file(tmp_path, lines)
    result = store.ingest(path)
    [f] = result.files
    assert f.format == "claude-code"
    assert (f.records_read, f.loaded, f.duplicates, f.rejected, f.non_requests) == (7, 1, 2, 0, 4)
    assert_counts_add_up(result)
    [row] = store.requests().values()
    assert row["request_key"] == "anthropic:msg_01A"
    assert (row["request_id"], row["source_line"], row["finish_reason"]) == (
        "req_01A",
        5,
        "tool_use",
    )
    assert (row["input_tokens"], row["cache_read_tokens"], row["output_tokens"]) == (3, 72634, 120)
    assert (row["cache_write_5m_tokens"], row["cache_write_1h_tokens"]) == (310, 0)


def test_the_largest_usage_wins_wherever_it_is_in_the_file(store: Store, tmp_path: Path) -> None:
    # Out of order (the final line first): still the largest, not the first or the last.
    lines = [
        assistant("msg_01B", "req_01B", usage(output=300), uuid="x"),
        assistant("msg_01B", "req_01B", usage(output=4), uuid="y"),
    ]
    store.ingest(session_file(tmp_path, lines))
    [row] = store.requests().values()
    assert (row["output_tokens"], row["source_line"]) == (300, 1)


def test_5m_and_1h_cache_writes_are_priced_apart(store: Store, tmp_path: Path) -> None:
    u = usage(input_tokens=11, cache_read=18028, write_5m=1000, write_1h=1352, output=252)
    store.ingest(session_file(tmp_path, [assistant("msg_01C", "req_01C", u)]))
    [row] = store.costs().values()
    assert (row["cache_write_5m_tokens"], row["cache_write_1h_tokens"]) == (1000, 1352)
    # 11*3 + 1000*3.75 + 1352*6 + 18028*0.3 + 252*15, per million
    assert row["cost_usd"] == Decimal("0.0210834")
    assert row["cost_usd"] == expected_cost(SONNET_45, u)


def test_usage_without_the_split_is_all_5_minute(store: Store, tmp_path: Path) -> None:
    u = usage(write_5m=4000, output=50, split=False)
    store.ingest(session_file(tmp_path, [assistant("msg_01D", "req_01D", u)]))
    [row] = store.costs().values()
    assert (row["cache_write_5m_tokens"], row["cache_write_1h_tokens"]) == (4000, 0)
    assert row["cost_usd"] == expected_cost(SONNET_45, u)


@pytest.mark.parametrize("model", sorted(PUBLISHED))
def test_every_model_claude_code_names_is_priced(store: Store, tmp_path: Path, model: str) -> None:
    u = usage(input_tokens=7, cache_read=50000, write_5m=1200, write_1h=800, output=640)
    store.ingest(session_file(tmp_path, [assistant("msg_01E", "req_01E", u, model=model)]))
    [row] = store.costs().values()
    assert row["pricing_status"] == "priced", row["unpriced_reason"]
    assert row["cost_usd"] == expected_cost(model, u)


def test_advisor_iterations_are_calls_at_the_advisor_model(store: Store, tmp_path: Path) -> None:
    """usage.iterations[] entries of type advisor_message are one more call each, at the
    advisor model's rates, on top of the response's own usage (as ccusage counts them)."""
    final = usage(cache_read=5000, write_5m=300, output=120)
    advisor = {
        "type": "advisor_message",
        "model": "claude-opus-4-7",
        **usage(input_tokens=900, cache_read=4000, write_5m=200, output=700),
    }
    final["iterations"] = [{"type": "message", **usage(output=120)}, advisor]
    lines = [
        assistant("msg_01Z", "req_01Z", usage(cache_read=5000, write_5m=300, output=3)),
        assistant("msg_01Z", "req_01Z", final),
    ]
    result = store.ingest(session_file(tmp_path, lines))
    [f] = result.files
    # read: the two lines and the advisor call inside the second
    assert (f.records_read, f.loaded, f.duplicates, f.rejected) == (3, 2, 1, 0)
    assert_counts_add_up(result)
    costs = store.costs()
    main, extra = costs["anthropic:msg_01Z"], costs["anthropic:msg_01Z:advisor:2"]
    assert (main["model"], main["output_tokens"]) == (SONNET_45, 120)
    assert main["cost_usd"] == expected_cost(SONNET_45, final)
    assert (extra["model"], extra["input_tokens"], extra["output_tokens"]) == (
        "claude-opus-4-7",
        900,
        700,
    )
    assert (extra["cache_read_tokens"], extra["cache_write_5m_tokens"]) == (4000, 200)
    assert extra["cost_usd"] == expected_cost("claude-opus-4-7", advisor)
    assert (extra["team"], extra["source_line"]) == (main["team"], 2)


def test_synthetic_lines_are_not_requests(store: Store, tmp_path: Path) -> None:
    # Claude Code writes these itself (an API error it shows, an interrupted turn).
    synthetic = assistant(
        "5c1e0000-0000-4000-8000-000000000000", None, usage(output=0), model="<synthetic>"
    )
    synthetic["isApiErrorMessage"] = True
    result = store.ingest(session_file(tmp_path, [synthetic, assistant("msg_01F", "r", usage())]))
    [f] = result.files
    assert (f.loaded, f.non_requests, f.rejected) == (1, 1, 0)
    assert list(store.requests()) == ["anthropic:msg_01F"]


def test_resumed_session_copies_count_once_and_the_larger_copy_wins(
    store: Store, tmp_path: Path
) -> None:
    # Session A stopped after the partial line of msg_R; `claude --resume` copied the
    # response, complete, into session B, with B's session id.
    a = session_file(tmp_path, [assistant("msg_R", "req_R", usage(output=5))], name="a-session")
    b = session_file(
        tmp_path,
        [
            assistant("msg_R", "req_R", usage(output=480), session="b-session"),
            assistant("msg_S", "req_S", usage(output=7), session="b-session"),
        ],
        name="b-session",
    )
    result = store.ingest(a, b)
    fa, fb = result.files
    assert (fa.loaded, fa.duplicates) == (1, 0)
    assert (fb.loaded, fb.duplicates) == (1, 1)  # msg_R was known: a duplicate that updated it
    rows = store.requests()
    assert rows["anthropic:msg_R"]["output_tokens"] == 480
    assert rows["anthropic:msg_R"]["source_file"] == str(b.resolve())
    assert json.loads(rows["anthropic:msg_R"]["metadata"])["session_id"] == "b-session"
    assert store.rows("SELECT count(*) FROM requests") == [(2,)]


def test_a_later_run_with_a_larger_copy_updates_the_stored_request(
    store: Store, tmp_path: Path
) -> None:
    a = session_file(tmp_path, [assistant("msg_R", "req_R", usage(output=5))], name="a")
    store.ingest(a)
    b = session_file(tmp_path, [assistant("msg_R", "req_R", usage(output=480))], name="b")
    [fb] = store.ingest(b).files
    assert (fb.loaded, fb.duplicates) == (0, 1)
    [row] = store.requests().values()
    assert (row["output_tokens"], row["source_file"]) == (480, str(b.resolve()))
    # and a smaller copy after that changes nothing
    c = session_file(tmp_path, [assistant("msg_R", "req_R", usage(output=6))], name="c")
    store.ingest(c)
    [row] = store.requests().values()
    assert row["output_tokens"] == 480


@pytest.mark.parametrize("parent_first", [True, False])
def test_a_sidechain_replay_never_beats_the_parent_response(
    store: Store, tmp_path: Path, parent_first: bool
) -> None:
    # /btw replays the parent response with a new requestId and a far larger cache read
    # (ccusage#913): the parent's figures stand, whichever file loads first.
    parent = session_file(
        tmp_path, [assistant("msg_P", "req_P", usage(cache_read=20, output=10))], name="s"
    )
    replay = write_lines(
        tmp_path
        / "projects"
        / encode_cwd(CWD)
        / "s"
        / "subagents"
        / "agent-aside_question-1.jsonl",
        [
            assistant("msg_P", "req_replay", usage(cache_read=50000, output=10), sidechain=True),
            assistant("msg_Q", "req_Q", usage(cache_read=700, output=30), sidechain=True),
        ],
    )
    order = [parent, replay] if parent_first else [replay, parent]
    for path in order:  # separate runs: the second compares with the store
        store.ingest(path)
    rows = store.requests()
    assert sorted(rows) == ["anthropic:msg_P", "anthropic:msg_Q"]
    assert (
        rows["anthropic:msg_P"]["request_id"],
        rows["anthropic:msg_P"]["cache_read_tokens"],
    ) == (
        "req_P",
        20,
    )
    assert json.loads(rows["anthropic:msg_Q"]["metadata"])["is_sidechain"] is True


def test_ids_without_request_id_and_lines_without_ids(store: Store, tmp_path: Path) -> None:
    lines = [
        assistant("msg_N", None, usage(output=3)),  # no requestId: dedup on the id alone
        assistant("msg_N", None, usage(output=90)),
        assistant(None, None, usage(input_tokens=5, output=11)),  # no id: kept, it has usage
        assistant(None, None, None),  # neither id nor usage: not a request
    ]
    result = store.ingest(session_file(tmp_path, lines))
    [f] = result.files
    assert (f.loaded, f.duplicates, f.non_requests) == (2, 1, 1)
    rows = store.requests()
    assert rows["anthropic:msg_N"]["output_tokens"] == 90
    [hashed] = [k for k in rows if k.startswith("anthropic:line-md5:")]
    assert rows[hashed]["output_tokens"] == 11


def test_an_empty_message_id_is_no_id(store: Store, tmp_path: Path) -> None:
    """A line whose ``message.id`` is ``""`` had no key at all (a NULL request key), and
    the NOT NULL constraint failed the whole file: its good lines were lost with it (QA)."""
    lines = [
        assistant("msg_A", "req_A", usage(output=100)),
        assistant("", "req_E", usage(input_tokens=7, output=200)),
        assistant("msg_C", "req_C", usage(output=300)),
    ]
    result = store.ingest(session_file(tmp_path, lines))
    [f] = result.files
    assert (f.records_read, f.loaded, f.rejected, f.error) == (3, 3, 0, None)
    rows = store.requests()
    [hashed] = [k for k in rows if k.startswith("anthropic:line-md5:")]
    assert rows[hashed]["output_tokens"] == 200
    assert {rows[k]["output_tokens"] for k in ("anthropic:msg_A", "anthropic:msg_C")} == {100, 300}


def test_subagent_progress_echoes_count_once(store: Store, tmp_path: Path) -> None:
    record = assistant(
        "msg_G", "req_G", usage(output=33), sidechain=True, model="claude-haiku-4-5-20251001"
    )
    record["agentId"] = "a1b2c3d"
    echo = {
        "parentUuid": "p",
        "isSidechain": False,
        "userType": "external",
        "cwd": CWD,
        "sessionId": SESSION,
        "version": "2.0.76",
        "gitBranch": "main",
        "type": "progress",
        "data": {
            "message": {
                "type": "assistant",
                "isSidechain": True,
                "message": record["message"],
                "requestId": "req_G",
                "uuid": "g",
                "timestamp": "2026-09-12T20:59:00.000Z",
            },
            "type": "agent_progress",
            "agentId": "a1b2c3d",
        },
        "toolUseID": "agent_msg_1",
        "parentToolUseID": "toolu_1",
        "uuid": "e",
        "timestamp": "2026-09-12T20:59:00.000Z",
    }
    parent = session_file(tmp_path, [echo])
    sub = write_lines(
        tmp_path / "projects" / encode_cwd(CWD) / SESSION / "subagents" / "agent-a1b2c3d.jsonl",
        [record],
    )
    result = store.ingest(tmp_path)
    assert result.total("loaded") == 1 and result.total("duplicates") == 1
    [row] = store.requests().values()
    assert (row["model"], row["output_tokens"]) == ("claude-haiku-4-5-20251001", 33)
    meta = json.loads(row["metadata"])
    assert meta["agent_id"] == "a1b2c3d" and meta["is_sidechain"] is True
    assert row["source_file"] in {str(parent.resolve()), str(sub.resolve())}


def test_project_directory_is_the_default_team_and_project(store: Store, tmp_path: Path) -> None:
    cwd = "/home/dev/src/api.v2"  # encoded as -home-dev-src-api-v2: the dot is lost
    path = session_file(
        tmp_path, [user(cwd=cwd), assistant("msg_T", "r", usage(), cwd=cwd)], cwd=cwd
    )
    store.ingest(path)
    [row] = store.requests().values()
    assert (row["team"], row["project"]) == ("api.v2", "api.v2")
    meta = json.loads(row["metadata"])
    assert meta["project_path"] == cwd
    assert (meta["session_id"], meta["version"], meta["cwd"]) == (SESSION, "2.0.76", cwd)


def test_a_session_outside_a_projects_tree_takes_its_project_from_cwd(
    store: Store, tmp_path: Path
) -> None:
    """A copied session or standard input: the folder it sits in (a temp folder for
    stdin) says nothing about the project; the working directory its lines log does."""
    from typer.testing import CliRunner

    from tokaudit.cli import app

    cwd = "/home/dev/src/api.v2"
    lines = [user(cwd=cwd), assistant("msg_L", "r", usage(), cwd=cwd)]
    loose = write_lines(tmp_path / "copied" / "session.jsonl", lines)
    store.ingest(loose)
    [row] = store.requests().values()
    assert (row["team"], row["project"], json.loads(row["metadata"])["project_path"]) == (
        "api.v2",
        "api.v2",
        cwd,
    )
    db = tmp_path / "stdin.duckdb"
    result = CliRunner().invoke(app, ["ingest", "-", "--db", str(db)], input=loose.read_bytes())
    assert result.exit_code == 0, result.stderr
    teams = CliRunner().invoke(
        app, ["sql", "--db", str(db), "-f", "csv", "SELECT DISTINCT team, project FROM requests"]
    )
    assert teams.stdout.splitlines() == ["team,project", "api.v2,api.v2"]


def test_an_undecodable_project_keeps_its_directory_name(store: Store, tmp_path: Path) -> None:
    # No line names a cwd that encodes to the directory: the encoded name stands.
    path = write_lines(
        tmp_path / "projects" / "-srv-build-agent" / "s.jsonl",
        [assistant("msg_U", "r", usage(), cwd="/somewhere/else")],
    )
    store.ingest(path)
    [row] = store.requests().values()
    assert row["project"] == "-srv-build-agent"


def test_rejects_keep_file_line_and_reason(store: Store, tmp_path: Path) -> None:
    good = assistant("msg_OK", "r", usage(output=9))
    no_ts = assistant("msg_T1", "r", usage())
    del no_ts["timestamp"]
    bad_ts = assistant("msg_T2", "r", usage(), ts="yesterday")
    negative = assistant("msg_T3", "r", usage(output=-4))
    fractional = assistant("msg_T4", "r", usage(output=2))
    fractional["message"]["usage"]["output_tokens"] = 2.5
    split = assistant("msg_T5", "r", usage(write_5m=10))
    split["message"]["usage"]["cache_creation_input_tokens"] = 99
    no_model = assistant("msg_T6", "r", usage())
    del no_model["message"]["model"]
    lines: list[dict[str, object] | str] = [
        good,
        '{"type":"assistant","message":{"usage":{"input_tokens":3',  # truncated write
        "",
        no_ts,
        bad_ts,
        negative,
        fractional,
        split,
        no_model,
        "[1, 2]",
        "   ",
        '["usage", 1]',  # mentions usage, but is no object
        "12.5",  # DuckDB calls it a double: the reason says number
        '{"type":"assistant","message":{"usage":{}}} and more',  # an object, then junk
    ]
    path = session_file(tmp_path, lines)
    result = store.ingest(path)
    [f] = result.files
    assert (f.records_read, f.loaded, f.rejected) == (12, 1, 11)  # blank lines are not records
    assert_counts_add_up(result)
    got = {n: reason for _, n, reason in store.rejects()}
    assert got == {
        2: "invalid JSON",
        4: "missing timestamp",
        5: "timestamp is not ISO 8601: yesterday",
        6: "message.usage.output_tokens is negative",
        7: "message.usage.output_tokens should be a whole number, got 2.5",
        8: "cache_creation 5m + 1h split does not add up to cache_creation_input_tokens",
        9: "no model in message.model",
        10: "not a JSON object (got array)",
        12: "not a JSON object (got array)",
        13: "not a JSON object (got number)",
        14: "invalid JSON",
    }
    raw = {n: r for n, r in store.rows("SELECT source_line, raw FROM rejects")}
    assert raw[2] == lines[1]


def test_other_logs_forced_through_the_format_are_rejected_not_skipped(
    store: Store, tmp_path: Path
) -> None:
    """Lines with usage but no "type" are no Claude Code lines: --format claude-code on an
    envelope log must reject them, not count them as non-requests and load nothing."""
    envelope = {
        "timestamp": "2026-10-01T10:00:00Z",
        "provider": "openai",
        "request": {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
        "response": {"id": "chatcmpl-1", "usage": {"prompt_tokens": 8, "completion_tokens": 2}},
    }
    path = write_lines(tmp_path / "envelope.jsonl", [envelope, {**envelope, "x": 1}])
    [f] = ingest_paths(store.con, [str(path)], fmt_name="claude-code").files
    assert (f.records_read, f.loaded, f.rejected, f.non_requests) == (2, 0, 2, 0)
    reasons = {reason for _, _, reason in store.rejects()}
    assert reasons == {'not a Claude Code line: no "type" field'}


def test_fast_mode_is_not_priced_as_standard(store: Store, tmp_path: Path) -> None:
    u = usage(output=100)
    u["speed"] = "fast"
    store.ingest(session_file(tmp_path, [assistant("msg_F", "r", u, model="claude-opus-4-6")]))
    [row] = store.costs().values()
    assert (row["service_tier"], row["pricing_status"], row["unpriced_reason"]) == (
        "fast",
        "unpriced",
        "unknown_context",
    )
    assert row["cost_usd"] is None


def test_the_config_directory_is_read_from_its_projects_folder(
    store: Store, tmp_path: Path
) -> None:
    # What ~/.claude holds besides transcripts is not a log, and must not be an error.
    config = tmp_path / ".claude"
    session_file(config, [user(), assistant("msg_H", "r", usage())])
    write_lines(config / "history.jsonl", [{"display": "fix it", "project": CWD}])
    (config / "settings.json").write_text('{"model": "opus"}')
    (config / ".credentials.json").write_text('{"claudeAiOauth": {}}')
    write_lines(config / "todos" / f"{SESSION}.json", [])
    result = store.ingest(config)
    assert [Path(f.path).name for f in result.files] == [f"{SESSION}.jsonl"]
    assert not result.errors and result.total("loaded") == 1


def test_a_batch_loads_like_one_file_at_a_time(tmp_path: Path) -> None:
    from claude_code_kit import open_priced_store

    lines_a = [assistant("msg_1", "r1", usage(output=5)), assistant("msg_2", "r2", usage())]
    lines_b = [assistant("msg_1", "r1", usage(output=50), session="b"), user(session="b")]
    a = session_file(tmp_path / "logs", lines_a, name="a")
    b = session_file(tmp_path / "logs", lines_b, name="b")
    together = open_priced_store(tmp_path / "together.duckdb")
    apart = open_priced_store(tmp_path / "apart.duckdb")
    try:
        batch = together.ingest(tmp_path / "logs")
        singles = [apart.ingest(a), apart.ingest(b)]
        counts = [(f.loaded, f.duplicates, f.non_requests) for f in batch.files]
        assert counts == [
            (f.loaded, f.duplicates, f.non_requests) for r in singles for f in r.files
        ]
        drop = {"ingested_at"}
        assert {
            k: {c: v for c, v in r.items() if c not in drop} for k, r in together.requests().items()
        } == {k: {c: v for c, v in r.items() if c not in drop} for k, r in apart.requests().items()}
    finally:
        together.con.close()
        apart.con.close()


def test_one_unreadable_file_does_not_sink_the_batch(store: Store, tmp_path: Path) -> None:
    root = tmp_path / "logs"
    for i in range(4):
        session_file(root, [assistant(f"msg_{i}", f"r{i}", usage())], name=f"s{i}")
    plain = root / "projects" / encode_cwd(CWD) / "s2.jsonl"
    broken = plain.with_name("s2.jsonl.gz")  # cut short inside its one line
    broken.write_bytes(gzip.compress(plain.read_bytes())[:-12])
    plain.unlink()
    odd = root / "projects" / encode_cwd(CWD) / "s3.jsonl"  # one byte that is not UTF-8
    odd.write_bytes(odd.read_bytes().replace(b"Looking", b"Look\xff\xfeng"))
    result = store.ingest(root)
    assert result.errors == []
    assert [Path(f.path).name for f in result.damaged] == ["s2.jsonl.gz"]
    assert result.total("loaded") == 2
    rejects = {(Path(f).name, n): reason for f, n, reason in store.rejects()}
    assert set(rejects) == {("s2.jsonl.gz", 1), ("s3.jsonl", 1)}
    assert rejects[("s2.jsonl.gz", 1)].startswith(
        "truncated .gz archive; what could be read ends inside this line, which is incomplete"
    )
    assert rejects[("s3.jsonl", 1)].startswith("not valid UTF-8 (byte 0xff")


def test_unchanged_files_are_skipped_and_appended_lines_load(store: Store, tmp_path: Path) -> None:
    path = session_file(tmp_path, [user(), assistant("msg_1", "r1", usage(output=5))])
    store.ingest(path)
    [again] = store.ingest(path).files
    assert again.skipped
    # Claude Code appends to the session file: the old lines are duplicates now.
    with path.open("a") as fh:
        fh.write(json.dumps(assistant("msg_1", "r1", usage(output=77))) + "\n")
        fh.write(json.dumps(assistant("msg_2", "r2", usage(output=8))) + "\n")
    [grown] = store.ingest(path).files
    assert (grown.records_read, grown.loaded, grown.duplicates, grown.non_requests) == (4, 1, 2, 1)
    rows = store.requests()
    assert (rows["anthropic:msg_1"]["output_tokens"], rows["anthropic:msg_2"]["output_tokens"]) == (
        77,
        8,
    )


def test_sniff_and_project_dir() -> None:
    fmt = ClaudeCodeFormat()
    head = FileHead(Path("x.jsonl"), [], [snapshot(), user(), assistant("m", "r", usage())])
    assert fmt.sniff(head)
    envelope = {"timestamp": TS_ENV, "provider": "anthropic", "response": {}}
    assert not fmt.sniff(FileHead(Path("x.jsonl"), [], [envelope]))
    assert project_dir(Path("/h/.claude/projects/-h-src-app/s.jsonl")) == "-h-src-app"
    sub = Path("/h/.claude/projects/-h-src-app/s/subagents/agent-1.jsonl")
    assert project_dir(sub) == "-h-src-app"
    assert project_dir(Path("/tmp/loose/s.jsonl")) == "loose"


TS_ENV = "2026-09-12T20:58:13Z"
