"""Deterministic Claude Code session logs, shaped like Claude Code 2.x writes them.

Why: the Claude Code benchmark and the ccusage parity test need realistic transcripts
without anyone's private logs. The layout and line shapes follow log-formats.md §5:

    <out>/projects/<encoded-cwd>/<sessionId>.jsonl
    <out>/projects/<encoded-cwd>/<sessionId>/subagents/agent-<agentId>.jsonl

What the generator puts in, because real logs have it and each trips a naive counter:

- one line per content block (thinking / text / tool_use); the lines of one API response
  share ``message.id`` + ``requestId``; earlier lines carry a partial ``output_tokens``,
  the last one the final count and ``stop_reason``;
- user lines with large tool results (and their ``toolUseResult`` copy), prompts,
  ``file-history-snapshot``, ``summary`` and ``system`` lines, none with usage;
- 5-minute and 1-hour cache writes (a session uses one TTL), some older sessions with
  only ``cache_creation_input_tokens`` (no 5m/1h split);
- subagents (Task tool): a sidechain transcript under ``subagents/`` plus ``progress``
  lines in the parent that repeat the subagent's assistant records under ``data.message``;
- ``/btw`` side questions: a sidechain file that replays parent responses with the same
  ``message.id``, a new ``requestId`` and a larger cache read (ccusage#913);
- resumed sessions: a new session file that starts with verbatim copies of an earlier
  session's lines (same ids, timestamps and usage; the new ``sessionId``; ccusage#1762);
- ``<synthetic>`` API-error lines with zero usage.

Context is compacted before it reaches 200,000 tokens, as Claude Code does, so no request
crosses a long-context price tier. The standard library only; the seed is fixed:

    python bench/claude_code_gen.py OUT --lines 200000          # about 300 MB
    python bench/claude_code_gen.py OUT --lines 600 --text-scale 0.05   # a test fixture
"""

from __future__ import annotations

import argparse
import json
import random
import re
import string
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

SEED = 20261126
START = datetime(2026, 8, 3, 6, 0, tzinfo=UTC)
DAYS = 90
# (id as Claude Code writes it, weight): every Claude model current Claude Code logs name.
MODELS = [
    ("claude-sonnet-4-5-20250929", 24),
    ("claude-sonnet-4-6", 18),
    ("claude-opus-4-6", 14),
    ("claude-opus-4-5-20251101", 12),
    ("claude-haiku-4-5-20251001", 8),
    ("claude-opus-4-1-20250805", 8),
    ("claude-sonnet-4-20250514", 8),
    ("claude-opus-4-20250514", 8),
]
SUBAGENT_MODEL = "claude-haiku-4-5-20251001"
VERSIONS = ["1.0.128", "2.0.14", "2.0.37", "2.0.76", "2.1.3", "2.1.22"]
PROJECTS = [
    "/home/dev/src/tokaudit",
    "/home/dev/src/web-app",
    "/home/dev/src/api.v2",
    "/home/dev/work/billing_service",
    "/home/dev/work/infra/terraform",
    "/home/dev/src/mobile-client",
    "/home/dev/notes",
    "/home/dev/src/data-pipeline",
    "/home/dev/work/search-index",
    "/home/dev/src/ml_experiments",
]
TOOLS = ["Read", "Bash", "Edit", "Grep", "Glob", "Write", "TodoWrite", "WebFetch"]
B62 = string.ascii_letters + string.digits
WORDS = [
    "the",
    "a",
    "function",
    "returns",
    "value",
    "test",
    "file",
    "module",
    "import",
    "class",
    "error",
    "config",
    "path",
    "request",
    "response",
    "cache",
    "token",
    "model",
    "line",
    "count",
    "store",
    "query",
    "table",
    "index",
    "update",
    "delete",
    "insert",
    "select",
    "group",
    "order",
    "build",
    "check",
    "parse",
    "format",
    "render",
    "report",
    "budget",
    "price",
    "cost",
    "team",
    "user",
    "prompt",
    "session",
    "project",
    "branch",
    "commit",
    "diff",
    "review",
    "fix",
    "bug",
    "handle",
    "retry",
    "timeout",
    "stream",
    "chunk",
    "buffer",
    "read",
    "write",
    "open",
    "close",
    "async",
    "await",
]


def encode_cwd(cwd: str) -> str:
    """Claude Code's project directory name: every non-alphanumeric character becomes '-'."""
    return re.sub(r"[^A-Za-z0-9]", "-", cwd)


@dataclass
class Stats:
    lines: int = 0
    files: int = 0
    bytes: int = 0
    responses: int = 0
    sessions: int = 0


@dataclass
class Session:
    """One transcript being written: its lines, its subagent files, its clock and context."""

    sid: str
    cwd: str
    model: str
    version: str
    branch: str
    one_hour: bool
    split: bool  # writes the cache_creation 5m/1h object
    t: datetime
    lines: list[dict[str, Any]] = field(default_factory=list)
    subagents: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    context: int = 0
    parent: str | None = None
    responses: list[dict[str, Any]] = field(default_factory=list)  # final assistant lines


class Generator:
    def __init__(self, seed: int, text_scale: float, rare: float = 1.0) -> None:
        self.rng = random.Random(seed)
        self.scale = text_scale
        self.rare = rare  # multiplies the odds of the rare cases (a small fixture has them all)
        self.sessions = 0
        rng = self.rng
        self.paragraphs = [
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 400))) for _ in range(400)
        ]
        self.code = [
            "\n".join(
                f"{n:>6}\u2192" + "    " * rng.randint(0, 3) + " ".join(rng.choices(WORDS, k=8))
                for n in range(1, rng.randint(10, 120))
            )
            for _ in range(200)
        ]

    # ---- ids and text ---------------------------------------------------------------
    def _b62(self, n: int) -> str:
        return "".join(self.rng.choices(B62, k=n))

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def text(self, lo: int, hi: int) -> str:
        n = max(1, int(self.rng.randint(lo, hi) * self.scale))
        out = self.rng.choice(self.paragraphs)
        while len(out) < n:
            out += "\n\n" + self.rng.choice(self.paragraphs)
        return out[:n]

    def code_text(self, lo: int, hi: int) -> str:
        n = max(1, int(self.rng.randint(lo, hi) * self.scale))
        out = self.rng.choice(self.code)
        while len(out) < n:
            out += "\n" + self.rng.choice(self.code)
        return out[:n]

    # ---- line builders ----------------------------------------------------------------
    def _base(
        self,
        s: Session,
        kind: str,
        parent: str | None,
        sidechain: bool = False,
        agent: str | None = None,
    ) -> dict[str, Any]:
        line: dict[str, Any] = {"parentUuid": parent, "isSidechain": sidechain}
        if agent:
            line["agentId"] = agent
        line.update(
            {
                "userType": "external",
                "cwd": s.cwd,
                "sessionId": s.sid,
                "version": s.version,
                "gitBranch": s.branch,
            }
        )
        if kind != "assistant":  # assistant lines name their type after the message
            line["type"] = kind
        return line

    def tick(self, s: Session, lo: float, hi: float) -> str:
        s.t += timedelta(seconds=self.rng.uniform(lo, hi))
        return s.t.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def usage(self, s: Session, new: int, output: int, read: int | None = None) -> dict[str, Any]:
        read = s.context if read is None else read
        u: dict[str, Any] = {
            "input_tokens": self.rng.randint(1, 12),
            "cache_creation_input_tokens": new,
            "cache_read_input_tokens": read,
        }
        if s.split:
            u["cache_creation"] = {
                "ephemeral_5m_input_tokens": 0 if s.one_hour else new,
                "ephemeral_1h_input_tokens": new if s.one_hour else 0,
            }
        u["output_tokens"] = output
        u["service_tier"] = "standard"
        return u

    def user_prompt(self, s: Session, parent: str | None, **side: Any) -> dict[str, Any]:
        line = self._base(s, "user", parent, **side)
        line["message"] = {"role": "user", "content": self.text(40, 900)}
        line["uuid"], line["timestamp"] = self.uuid(), self.tick(s, 20, 600)
        return line

    def tool_result(self, s: Session, parent: str, tool_id: str, **side: Any) -> dict[str, Any]:
        body = self.code_text(200, 4000)
        line = self._base(s, "user", parent, **side)
        line["message"] = {
            "role": "user",
            "content": [{"tool_use_id": tool_id, "type": "tool_result", "content": body}],
        }
        line["uuid"], line["timestamp"] = self.uuid(), self.tick(s, 0.2, 20)
        line["toolUseResult"] = {
            "stdout": body[: len(body) // 2],
            "stderr": "",
            "interrupted": False,
            "isImage": False,
        }
        return line

    def response(
        self,
        s: Session,
        parent: str | None,
        model: str,
        final_tool: str | None,
        new: int,
        **side: Any,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The lines of one API response, one per content block; returns them and a tool id."""
        rng = self.rng
        msg_id, req_id = "msg_01" + self._b62(22), "req_011C" + self._b62(20)
        blocks: list[dict[str, Any]] = []
        if rng.random() < 0.35:
            blocks.append(
                {
                    "type": "thinking",
                    "thinking": self.text(100, 1500),
                    "signature": self._b62(int(300 * self.scale) + 40),
                }
            )
        if final_tool is None or rng.random() < 0.6:
            blocks.append({"type": "text", "text": self.text(30, 1200)})
        tool_id = None
        if final_tool is not None:
            tool_id = "toolu_01" + self._b62(22)
            blocks.append(
                {
                    "type": "tool_use",
                    "id": tool_id,
                    "name": final_tool,
                    "input": {"command": self.text(10, 300)},
                }
            )
        final_out = rng.randint(20, 2500)
        usage = self.usage(s, new, final_out)
        lines = []
        prev = parent
        for i, block in enumerate(blocks):
            last = i == len(blocks) - 1
            u = dict(usage)
            if not last:  # a partial streaming count, below the final one
                u["output_tokens"] = rng.randint(1, max(1, final_out // 3))
            line = self._base(s, "assistant", prev, **side)
            line["message"] = {
                "model": model,
                "id": msg_id,
                "type": "message",
                "role": "assistant",
                "content": [block],
                "stop_reason": ("tool_use" if tool_id else "end_turn") if last else None,
                "stop_sequence": None,
                "usage": u,
            }
            line["requestId"], line["type"] = req_id, "assistant"
            line["uuid"], line["timestamp"] = self.uuid(), self.tick(s, 0.3, 6)
            lines.append(line)
            prev = line["uuid"]
        s.context += new + final_out
        return lines, tool_id

    # ---- sessions ---------------------------------------------------------------------
    def new_session(self, cwd: str, t: datetime) -> Session:
        rng = self.rng
        if self.rare > 1:  # a fixture: every model, in turn
            model = MODELS[self.sessions % len(MODELS)][0]
        else:
            model = rng.choices([m for m, _ in MODELS], weights=[w for _, w in MODELS])[0]
        self.sessions += 1
        version = rng.choice(VERSIONS)
        return Session(
            sid=self.uuid(),
            cwd=cwd,
            model=model,
            version=version,
            branch=rng.choice(["main", "main", "dev", "fix/cache-key"]),
            one_hour=rng.random() < 0.3,
            split=not version.startswith("1."),
            t=t,
        )

    def fresh_context(self, s: Session) -> int:
        """Cache tokens written when a conversation starts (system prompt, tools, CLAUDE.md)."""
        s.context = 0
        return self.rng.randint(14000, 26000)

    def run_session(self, s: Session, target: int) -> None:
        rng = self.rng
        parent: str | None = None
        new = self.fresh_context(s) if not s.lines else rng.randint(200, 3000)
        while len(s.lines) < target:
            s.lines.append(
                {
                    "type": "file-history-snapshot",
                    "messageId": self.uuid(),
                    "snapshot": {
                        "messageId": self.uuid(),
                        "trackedFileBackups": {},
                        "timestamp": self.tick(s, 1, 30),
                    },
                    "isSnapshotUpdate": False,
                }
            )
            prompt = self.user_prompt(s, parent)
            s.lines.append(prompt)
            parent = prompt["uuid"]
            for step in range(rng.randint(1, 7)):
                if s.context + new > 170000:  # auto-compact before the 200k window
                    boundary = self._base(s, "system", parent)
                    boundary.update(
                        {
                            "subtype": "compact_boundary",
                            "content": "Conversation compacted",
                            "uuid": self.uuid(),
                            "timestamp": self.tick(s, 1, 5),
                            "level": "info",
                        }
                    )
                    s.lines.append(boundary)
                    new = self.fresh_context(s) + rng.randint(2000, 8000)
                if rng.random() < 0.01 * self.rare:
                    s.lines.append(self.synthetic(s, parent))
                last_step = step == 6 or rng.random() < 0.3
                tool = (
                    None
                    if last_step
                    else ("Task" if rng.random() < 0.04 * self.rare else rng.choice(TOOLS))
                )
                lines, tool_id = self.response(s, parent, s.model, tool, new)
                s.lines.extend(lines)
                s.responses.append(lines[-1])
                parent = lines[-1]["uuid"]
                if tool_id is None:
                    break
                if tool == "Task":
                    self.subagent(s, parent, tool_id)
                result = self.tool_result(s, parent, tool_id)
                s.lines.append(result)
                parent = result["uuid"]
                new = rng.randint(300, 6000)
            new = rng.randint(200, 3000)
            if rng.random() < 0.01 * self.rare and s.responses:
                self.side_question(s)
        if rng.random() < 0.3:
            s.lines.append({"type": "summary", "summary": self.text(20, 80), "leafUuid": parent})

    def subagent(self, s: Session, parent_uuid: str, tool_id: str) -> None:
        """A Task subagent: its own sidechain transcript, echoed as progress lines."""
        rng = self.rng
        agent = self._b62(7).lower()
        sub = Session(
            sid=s.sid,
            cwd=s.cwd,
            model=SUBAGENT_MODEL,
            version=s.version,
            branch=s.branch,
            one_hour=False,
            split=s.split,
            t=s.t,
        )
        side = {"sidechain": True, "agent": agent}
        lines = [self.user_prompt(sub, None, **side)]
        new = self.fresh_context(sub)
        parent = lines[0]["uuid"]
        for step in range(rng.randint(1, 5)):
            tool = None if step == 4 or rng.random() < 0.3 else rng.choice(TOOLS)
            resp, tid = self.response(sub, parent, sub.model, tool, new, **side)
            lines.extend(resp)
            for line in resp:
                if rng.random() < 0.5:  # the parent echoes some subagent records
                    echo = self._base(s, "progress", parent_uuid)
                    echo.update(
                        {
                            "data": {
                                "message": {
                                    "type": "assistant",
                                    "isSidechain": True,
                                    "message": line["message"],
                                    "requestId": line["requestId"],
                                    "uuid": line["uuid"],
                                    "timestamp": line["timestamp"],
                                },
                                "type": "agent_progress",
                                "agentId": agent,
                            },
                            "toolUseID": "agent_msg_" + self._b62(20),
                            "parentToolUseID": tool_id,
                            "uuid": self.uuid(),
                            "timestamp": line["timestamp"],
                        }
                    )
                    s.lines.append(echo)
            parent = resp[-1]["uuid"]
            if tid is None:
                break
            result = self.tool_result(sub, parent, tid, **side)
            lines.append(result)
            parent = result["uuid"]
            new = rng.randint(300, 5000)
        s.subagents[f"agent-{agent}"] = lines
        s.t = max(s.t, sub.t)

    def side_question(self, s: Session) -> None:
        """/btw: a sidechain file that replays parent responses, then answers on its own."""
        rng = self.rng
        agent = "aside_question-" + self._b62(8).lower()
        side = {"sidechain": True, "agent": agent}
        lines = []
        for original in s.responses[-rng.randint(1, 3) :]:
            copy = json.loads(json.dumps(original))
            copy["isSidechain"], copy["agentId"] = True, agent
            copy["requestId"] = "req_011C" + self._b62(20)
            copy["message"]["usage"]["cache_read_input_tokens"] += rng.randint(1000, 40000)
            copy["uuid"], copy["timestamp"] = self.uuid(), self.tick(s, 0.1, 2)
            lines.append(copy)
        lines.append(self.user_prompt(s, lines[-1]["uuid"], **side))
        answer, _ = self.response(
            s, lines[-1]["uuid"], s.model, None, rng.randint(100, 900), **side
        )
        lines.extend(answer)
        s.subagents[f"agent-{agent}"] = lines

    def synthetic(self, s: Session, parent: str | None) -> dict[str, Any]:
        line = self._base(s, "assistant", parent)
        line["message"] = {
            "id": str(self.uuid()),
            "model": "<synthetic>",
            "role": "assistant",
            "stop_reason": "stop_sequence",
            "stop_sequence": "",
            "type": "message",
            "usage": {
                "input_tokens": 0,
                "output_tokens": 0,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "server_tool_use": {"web_search_requests": 0},
                "service_tier": None,
            },
            "content": [
                {
                    "type": "text",
                    "text": 'API Error: 529 {"type":"error","error":'
                    '{"type":"overloaded_error","message":"Overloaded"}}',
                }
            ],
        }
        line["type"] = "assistant"
        line["uuid"], line["timestamp"] = self.uuid(), self.tick(s, 1, 10)
        line["isApiErrorMessage"] = True
        return line


def _write(path: Path, lines: list[dict[str, Any]], stats: Stats) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(
        json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n" for line in lines
    )
    path.write_text(data, encoding="utf-8")
    stats.files += 1
    stats.lines += len(lines)
    stats.bytes += len(data.encode("utf-8"))


def generate(
    out: Path,
    lines: int,
    seed: int = SEED,
    text_scale: float = 1.0,
    session_lines: int = 400,
    rare: float = 1.0,
) -> Stats:
    """Write about ``lines`` lines under ``out/projects``; deterministic for a given seed.

    ``rare`` > 1 makes the rare cases (resumes, side questions, subagents, synthetic
    lines) that many times likelier, rotates through every model and keeps to four
    projects: a small test fixture then holds every case.
    """
    gen = Generator(seed, text_scale, rare)
    rng = gen.rng
    stats = Stats()
    history: dict[str, list[Session]] = {}
    projects = PROJECTS[:4] if rare > 1 else PROJECTS
    while stats.lines < lines:
        cwd = rng.choice(projects)
        start = START + timedelta(days=rng.uniform(0, DAYS))
        s = gen.new_session(cwd, start)
        earlier = history.get(cwd, [])
        # claude --resume: a new session file that copies an earlier conversation
        if earlier and rng.random() < min(0.15 * rare, 0.35):
            base = rng.choice(earlier)
            s = Session(
                sid=gen.uuid(),
                cwd=cwd,
                model=base.model,
                version=base.version,
                branch=base.branch,
                one_hour=base.one_hour,
                split=base.split,
                t=base.t + timedelta(hours=rng.uniform(0.5, 30)),
                context=base.context,
            )
            s.parent = base.sid
            for line in base.lines[: rng.randint(len(base.lines) // 3, len(base.lines))]:
                if "sessionId" in line:
                    line = dict(line, sessionId=s.sid)
                s.lines.append(line)
        target = len(s.lines) + rng.randint(session_lines // 4, session_lines * 7 // 4)
        target = min(target, len(s.lines) + max(20, lines - stats.lines))
        gen.run_session(s, target)
        project = out / "projects" / encode_cwd(cwd)
        _write(project / f"{s.sid}.jsonl", s.lines, stats)
        for name, sub in s.subagents.items():
            _write(project / s.sid / "subagents" / f"{name}.jsonl", sub, stats)
        stats.responses += sum(1 for line in s.lines if line.get("type") == "assistant")
        stats.sessions += 1
        history.setdefault(cwd, []).append(s)
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="directory that will hold projects/")
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--text-scale",
        type=float,
        default=1.0,
        help="multiply text sizes (0.05 for a small test fixture)",
    )
    parser.add_argument(
        "--session-lines", type=int, default=400, help="mean lines per session file"
    )
    parser.add_argument(
        "--rare", type=float, default=1.0, help="make the rare cases this many times likelier"
    )
    args = parser.parse_args()
    stats = generate(
        args.out, args.lines, args.seed, args.text_scale, args.session_lines, args.rare
    )
    print(
        f"{stats.lines} lines, {stats.files} files, {stats.sessions} sessions, "
        f"{stats.bytes / 1e6:.1f} MB in {args.out}"
    )


if __name__ == "__main__":
    main()
