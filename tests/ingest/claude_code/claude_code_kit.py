"""Claude Code transcript lines for the claude-code format tests.

The shapes follow log-formats.md §5 (what Claude Code 2.x writes); every test builds the
few lines it needs so its expectation can be computed by hand.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from tokaudit.ingest import IngestResult, ingest_paths
from tokaudit.pricing.store_tables import install_price_table
from tokaudit.pricing.table import load_price_table
from tokaudit.store import open_store

Json = dict[str, Any]
CWD = "/home/dev/src/web-app"
SESSION = "0b4f6f1e-1a2b-4c3d-8e9f-000000000001"
TS = "2026-09-12T20:58:13.089Z"
SONNET_45 = "claude-sonnet-4-5-20250929"

# List prices, USD per million tokens, from https://platform.claude.com/docs/en/about-claude/pricing
# (input, 5-minute cache write, 1-hour cache write, cache read, output): the independent
# expectation for every model Claude Code logs name.
PUBLISHED: dict[str, tuple[str, str, str, str, str]] = {
    "claude-opus-4-20250514": ("15", "18.75", "30", "1.50", "75"),
    "claude-opus-4-1-20250805": ("15", "18.75", "30", "1.50", "75"),
    "claude-opus-4-5-20251101": ("5", "6.25", "10", "0.50", "25"),
    "claude-opus-4-6": ("5", "6.25", "10", "0.50", "25"),
    "claude-sonnet-4-20250514": ("3", "3.75", "6", "0.30", "15"),
    "claude-sonnet-4-5-20250929": ("3", "3.75", "6", "0.30", "15"),
    "claude-sonnet-4-6": ("3", "3.75", "6", "0.30", "15"),
    "claude-haiku-4-5-20251001": ("1", "1.25", "2", "0.10", "5"),
}
# Advisor models (the advisor tool's pairs, platform.claude.com advisor-tool docs): not
# named as the response model of Claude Code lines, only inside usage.iterations[].
ADVISOR_PUBLISHED = {"claude-opus-4-7": ("5", "6.25", "10", "0.50", "25")}


def encode_cwd(cwd: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "-", cwd)


def usage(
    *,
    input_tokens: int = 3,
    cache_read: int = 0,
    write_5m: int = 0,
    write_1h: int = 0,
    output: int = 10,
    split: bool = True,
) -> Json:
    u: Json = {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": write_5m + write_1h,
        "cache_read_input_tokens": cache_read,
    }
    if split:
        u["cache_creation"] = {
            "ephemeral_5m_input_tokens": write_5m,
            "ephemeral_1h_input_tokens": write_1h,
        }
    u["output_tokens"] = output
    u["service_tier"] = "standard"
    return u


def assistant(
    msg_id: str | None,
    request_id: str | None,
    u: Json | None,
    *,
    ts: str = TS,
    model: str = SONNET_45,
    session: str = SESSION,
    cwd: str = CWD,
    sidechain: bool = False,
    stop: str | None = None,
    uuid: str = "a-1",
) -> Json:
    message: Json = {"model": model, "type": "message", "role": "assistant"}
    if msg_id is not None:
        message["id"] = msg_id
    message["content"] = [{"type": "text", "text": "Looking at the file."}]
    message["stop_reason"] = stop
    if u is not None:
        message["usage"] = u
    line: Json = {
        "parentUuid": None,
        "isSidechain": sidechain,
        "userType": "external",
        "cwd": cwd,
        "sessionId": session,
        "version": "2.0.76",
        "gitBranch": "main",
        "message": message,
    }
    if request_id is not None:
        line["requestId"] = request_id
    line.update({"type": "assistant", "uuid": uuid, "timestamp": ts})
    return line


def user(text: str = "fix the failing test", *, session: str = SESSION, cwd: str = CWD) -> Json:
    return {
        "parentUuid": None,
        "isSidechain": False,
        "userType": "external",
        "cwd": cwd,
        "sessionId": session,
        "version": "2.0.76",
        "gitBranch": "main",
        "type": "user",
        "message": {"role": "user", "content": text},
        "uuid": "u-1",
        "timestamp": TS,
    }


def tool_result(*, session: str = SESSION, cwd: str = CWD) -> Json:
    line = user(session=session, cwd=cwd)
    line["message"]["content"] = [
        {"tool_use_id": "toolu_01", "type": "tool_result", "content": "1\u2192import os"}
    ]
    line["toolUseResult"] = {"stdout": "import os", "stderr": "", "interrupted": False}
    return line


def summary() -> Json:
    return {"type": "summary", "summary": "Fixing the test suite", "leafUuid": "a-1"}


def snapshot() -> Json:
    return {
        "type": "file-history-snapshot",
        "messageId": "m-1",
        "snapshot": {"messageId": "m-1", "trackedFileBackups": {}, "timestamp": TS},
        "isSnapshotUpdate": False,
    }


def write_lines(path: Path, lines: list[Json | str]) -> Path:
    """Write JSON Lines (a str is written verbatim, for malformed lines)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(
        (item if isinstance(item, str) else json.dumps(item, separators=(",", ":"))) + "\n"
        for item in lines
    )
    path.write_text(text, encoding="utf-8")
    return path


def session_file(
    root: Path, lines: list[Json | str], *, cwd: str = CWD, name: str = SESSION
) -> Path:
    """``root/projects/<encoded cwd>/<name>.jsonl``."""
    return write_lines(root / "projects" / encode_cwd(cwd) / f"{name}.jsonl", lines)


@dataclass
class Store:
    con: duckdb.DuckDBPyConnection

    def ingest(self, *paths: Path | str) -> IngestResult:
        return ingest_paths(self.con, [str(p) for p in paths])

    def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, params or []).fetchall()

    def requests(self) -> dict[str, Json]:
        cur = self.con.execute("SELECT * FROM requests ORDER BY request_key")
        names = [d[0] for d in cur.description]
        return {row[0]: dict(zip(names, row, strict=True)) for row in cur.fetchall()}

    def costs(self) -> dict[str, Json]:
        cur = self.con.execute("SELECT * FROM request_costs ORDER BY request_key")
        names = [d[0] for d in cur.description]
        return {row[0]: dict(zip(names, row, strict=True)) for row in cur.fetchall()}

    def rejects(self) -> list[tuple[str, int, str]]:
        return [
            (str(f), int(n), str(r))
            for f, n, r in self.rows(
                "SELECT source_file, source_line, reason FROM rejects ORDER BY 1, 2"
            )
        ]


def open_priced_store(path: Path) -> Store:
    con = open_store(path)
    install_price_table(con, load_price_table(None))
    return Store(con)


def expected_cost(model: str, u: Json) -> Decimal:
    """Cost from the published prices and Anthropic's token semantics, by hand."""
    prices = PUBLISHED.get(model) or ADVISOR_PUBLISHED[model]
    inp, w5, w1, read, out = (Decimal(p) / Decimal(1_000_000) for p in prices)
    split = u.get("cache_creation")
    if split is None:
        c5, c1 = u.get("cache_creation_input_tokens", 0), 0
    else:
        c5, c1 = split["ephemeral_5m_input_tokens"], split["ephemeral_1h_input_tokens"]
    return (
        u["input_tokens"] * inp
        + c5 * w5
        + c1 * w1
        + u.get("cache_read_input_tokens", 0) * read
        + u["output_tokens"] * out
    )


def assert_counts_add_up(result: IngestResult) -> None:
    for f in result.files:
        assert f.records_read == f.loaded + f.duplicates + f.rejected + f.non_requests, f
