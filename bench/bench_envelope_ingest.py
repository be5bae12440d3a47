"""Benchmark: `tokaudit ingest` on envelope logs against DuckDB's raw `read_json`.

Why: ingest must stay within 2x of the time DuckDB itself needs to parse the same
files, and its peak memory must not grow with the input (it streams). Both sides run
as child processes in the same run, so the ratio is comparable on any machine:

    python bench/bench_envelope_ingest.py                  # 200,000 lines, then 4x
    python bench/bench_envelope_ingest.py --lines 20000    # a quick look
    python bench/bench_envelope_ingest.py --with-recount   # also load + recount at 1x
    python bench/bench_envelope_ingest.py --repeat 3       # medians of 3 alternating runs
    python bench/bench_envelope_ingest.py --small-files 3000   # 3,000 one-request files
    TOKAUDIT_MEMORY_LIMIT=2GB python bench/bench_envelope_ingest.py   # memory capped

"ingest" is `tokaudit ingest --no-recount`: parse, validate, map usage, hash and store.
By default the larger input has more files of the same size (a month of daily logs
instead of a week); --bigger-files makes each file bigger instead. Files are loaded one
at a time, so peak memory follows the largest file, not the whole input.
The recount (tokenizing every new prompt and reply, `tokaudit recount`) is a separate
cost, timed with --with-recount.

The generator reuses the bundled sample month (`sample_logs/`, realistic OpenAI,
Anthropic and Gemini bodies) as templates. Every generated line gets its own
request id, timestamp, team and user, and a unique tail on its last user message,
so no two requests share an input text (the costly, realistic case for prompt
storage). Standard library only; the seed is fixed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_logs"
SEED = 20261126
FILES = 4  # at 1x the input is split like daily log files
TEAMS = ["support-bot", "search", "growth", "data-platform", "legal-review", "billing"]
RID, TS, TAIL, TEAM, USER = "\x00rid\x00", "\x00ts\x00", "\x00tail\x00", "\x00team\x00", "\x00u\x00"


def _sample_records() -> list[dict[str, Any]]:
    records = []
    for path in sorted(SAMPLES.glob("*.jsonl*")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # the sample plants a truncated line; templates must be valid
                if isinstance(record, dict) and isinstance(record.get("request"), dict):
                    records.append(record)
    return records


def _mark_last_user_text(request: dict[str, Any]) -> bool:
    """Append the TAIL placeholder to the last text of the last message; False if none."""
    items = request.get("messages") or request.get("contents") or request.get("input")
    if not isinstance(items, list) or not items or not isinstance(items[-1], dict):
        return False
    last = items[-1]
    content = last.get("content", last.get("parts"))
    if isinstance(content, str):
        last["content"] = content + TAIL
        return True
    if isinstance(content, list):
        for part in reversed(content):
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                part["text"] += TAIL
                return True
    return False


def _template(record: dict[str, Any]) -> list[str] | None:
    """The record as JSON, split at its placeholders: [text, key, text, key, ...]."""
    record = json.loads(json.dumps(record))
    if not _mark_last_user_text(record["request"]):
        return None
    record["request_id"] = RID
    record["timestamp"] = TS
    meta = record.setdefault("metadata", {}) or {}
    meta["team"], meta["user"] = TEAM, USER
    record["metadata"] = meta
    response = record.get("response")
    if isinstance(response, dict):
        for key in ("id", "responseId"):
            if key in response:
                response[key] = RID
    text = json.dumps(record, separators=(",", ":"))
    for key in (RID, TS, TAIL, TEAM, USER):
        text = text.replace(json.dumps(key)[1:-1], key)
    parts: list[str] = []
    rest = text
    while True:
        positions = [(rest.find(k), k) for k in (RID, TS, TAIL, TEAM, USER) if k in rest]
        if not positions:
            parts.append(rest)
            return parts
        pos, key = min(positions)
        parts.extend([rest[:pos], key])
        rest = rest[pos + len(key) :]


def generate(out_dir: Path, lines: int, files: int = FILES) -> list[Path]:
    """Write ``lines`` envelope lines into ``files`` files under ``out_dir``."""
    rng = random.Random(SEED)
    templates = [t for t in (_template(r) for r in _sample_records()) if t]
    out_dir.mkdir(parents=True, exist_ok=True)
    start = datetime(2026, 10, 1, tzinfo=UTC)
    step = timedelta(days=30) / max(lines, 1)
    paths = []
    per_file = -(-lines // files)
    n = 0
    for f in range(files):
        path = out_dir / f"envelope-{f + 1:02d}.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            buf: list[str] = []
            for _ in range(min(per_file, lines - n)):
                values = {
                    RID: f"bench-{n:09d}",
                    TS: (start + step * n).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    TAIL: f" (ticket {rng.randrange(10**9):09d}-{n})",
                    TEAM: rng.choice(TEAMS),
                    USER: f"u{rng.randrange(400)}",
                }
                buf.append("".join(values.get(p, p) for p in templates[n % len(templates)]))
                buf.append("\n")
                n += 1
                if len(buf) >= 20000:
                    fh.write("".join(buf))
                    buf.clear()
            fh.write("".join(buf))
        paths.append(path)
    return paths


@dataclass
class Run:
    seconds: float
    peak_rss_mb: float
    cpu_seconds: float  # user + system time of the child: steadier than wall time on a busy machine


def _run(cmd: list[str], env: dict[str, str]) -> Run:
    """Run a child process; its wall time, CPU time and own peak RSS (os.wait4 rusage)."""
    began = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.stderr.write(out.decode() + err.decode())
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}")
    cpu = usage.ru_utime + usage.ru_stime
    return Run(seconds, usage.ru_maxrss / 1024, cpu)  # Linux reports ru_maxrss in KiB


DUCKDB_RAW = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("CREATE TABLE raw AS SELECT * FROM read_json(?, format = 'newline_delimited')",
            [sys.argv[2:]])
"""


def measure(files: list[Path], work: Path, env: dict[str, str], recount: bool) -> dict[str, Run]:
    """DuckDB read_json into a table, and tokaudit ingest into a fresh store, on ``files``."""
    names = [str(p) for p in files]
    out: dict[str, Run] = {}
    for db in work.glob("*.duckdb*"):
        db.unlink()
    out["read_json"] = _run(
        [sys.executable, "-c", DUCKDB_RAW, str(work / "raw.duckdb"), *names], env
    )
    ingest = [sys.executable, "-m", "tokaudit", "ingest", *names, "-o", "json"]
    out["ingest"] = _run([*ingest, "--db", str(work / "load.duckdb"), "--no-recount"], env)
    if recount:
        out["ingest+recount"] = _run([*ingest, "--db", str(work / "full.duckdb")], env)
    return out


def median_runs(
    files: list[Path], work: Path, env: dict[str, str], recount: bool, repeat: int
) -> dict[str, Run]:
    """``measure`` ``repeat`` times, the steps alternating; each step's median time and CPU.

    Why: read_json's own time varies by up to a fifth between runs on a shared machine, and
    the ratio with it. Peak RSS is the largest seen.
    """
    rounds = [measure(files, work, env, recount) for _ in range(repeat)]
    return {
        step: Run(
            statistics.median(r[step].seconds for r in rounds),
            max(r[step].peak_rss_mb for r in rounds),
            statistics.median(r[step].cpu_seconds for r in rounds),
        )
        for step in rounds[0]
    }


def small_files(work: Path, env: dict[str, str], count: int, repeat: int) -> None:
    """``count`` files of one request each: read_json over all of them against ingest.

    Per-file costs dominate here (detection, a plan of the staging SQL, a transaction),
    which the 1x/4x runs of a few large files never show.
    """
    files = generate(work / "small", count, count)
    size = sum(p.stat().st_size for p in files)
    folder = str(work / "small")  # a folder and a glob: no file list on the command line
    rounds = []
    for _ in range(repeat):
        for db in work.glob("*.duckdb*"):
            db.unlink()
        raw = _run([sys.executable, "-c", DUCKDB_RAW, str(work / "raw.duckdb"), folder + "/*"], env)
        load = [sys.executable, "-m", "tokaudit", "ingest", folder, "-o", "json", "--no-recount"]
        rounds.append(
            {"read_json": raw, "ingest": _run([*load, "--db", str(work / "s.duckdb")], env)}
        )
    runs = {
        step: Run(
            statistics.median(r[step].seconds for r in rounds),
            max(r[step].peak_rss_mb for r in rounds),
            statistics.median(r[step].cpu_seconds for r in rounds),
        )
        for step in rounds[0]
    }
    base = runs["read_json"].seconds
    print(f"load average {os.getloadavg()[0]:.2f}; medians of {repeat} alternating run(s)")
    for step, run in runs.items():
        print(
            f"{step:<10} {run.seconds:8.2f} s  {run.seconds / base:6.2f}x read_json  "
            f"CPU {run.cpu_seconds:7.2f} s  peak RSS {run.peak_rss_mb:,.0f} MB"
        )
    print(
        f"{count:,} files of one request ({size / 1e6:,.1f} MB): ingest "
        f"{runs['ingest'].seconds / count * 1000:.1f} ms a file, "
        f"{runs['ingest'].seconds / base:.2f}x read_json"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000, help="lines at 1x")
    parser.add_argument("--scale", type=int, default=4, help="the larger input, as a multiple")
    parser.add_argument("--workdir", type=Path, help="keep generated files here")
    parser.add_argument(
        "--bigger-files",
        action="store_true",
        help="grow the input by making each file bigger (default: by more files of one size)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run each input this many times, read_json and ingest alternating; medians",
    )
    parser.add_argument(
        "--with-recount",
        action="store_true",
        help="also time the default `tokaudit ingest` (load, then recount) at 1x",
    )
    parser.add_argument(
        "--small-files",
        type=int,
        default=0,
        help="instead: this many files of one request each (a logger writing a file per call)",
    )
    args = parser.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="tokaudit-bench-"))
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), CI="1")
    if args.small_files:
        if args.with_recount:
            parser.error("--with-recount times the 1x input: leave it out with --small-files")
        try:
            small_files(work, env, args.small_files, max(1, args.repeat))
        finally:
            if args.workdir is None:
                shutil.rmtree(work, ignore_errors=True)
        return
    try:
        sizes = {1: args.lines, args.scale: args.lines * args.scale}
        results: dict[int, tuple[dict[str, Run], int]] = {}
        for factor, lines in sizes.items():
            began = time.perf_counter()
            count = FILES if args.bigger_files else FILES * factor
            files = generate(work / f"x{factor}", lines, count)
            size = sum(p.stat().st_size for p in files)
            print(
                f"generated {lines:,} lines in {count} files, {size / 1e6:,.0f} MB in "
                f"{time.perf_counter() - began:.1f} s",
                file=sys.stderr,
            )
            runs = median_runs(
                files, work, env, args.with_recount and factor == 1, max(1, args.repeat)
            )
            results[factor] = (runs, size)
            shutil.rmtree(work / f"x{factor}")
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPU, {platform.platform()}")
        print(
            f"python {platform.python_version()}, date {datetime.now(UTC):%Y-%m-%d}; "
            f"medians of {max(1, args.repeat)} alternating run(s)"
        )
        limit = os.environ.get("TOKAUDIT_MEMORY_LIMIT") or "unset (DuckDB's default: 80% of RAM)"
        print(f"TOKAUDIT_MEMORY_LIMIT: {limit}; load average {os.getloadavg()[0]:.2f}")
        print(
            f"{'input':>6} {'lines':>10} {'MB':>6}  {'step':<15} {'seconds':>8} "
            f"{'x read_json':>11} {'CPU s':>8} {'x CPU':>6} {'peak RSS MB':>11}"
        )
        for factor, (runs, size) in results.items():
            base, base_cpu = runs["read_json"].seconds, runs["read_json"].cpu_seconds
            for step, run in runs.items():
                print(
                    f"{factor:>5}x {sizes[factor]:>10,} {size / 1e6:>6,.0f}  {step:<15} "
                    f"{run.seconds:>8.2f} {run.seconds / base:>11.2f} {run.cpu_seconds:>8.2f} "
                    f"{run.cpu_seconds / base_cpu:>6.2f} {run.peak_rss_mb:>11,.0f}"
                )
        one, many = results[1][0], results[args.scale][0]
        size1, sizen = results[1][1], results[args.scale][1]
        cpu1 = one["ingest"].cpu_seconds / one["read_json"].cpu_seconds
        cpun = many["ingest"].cpu_seconds / many["read_json"].cpu_seconds
        print(
            f"ingest / read_json: {one['ingest'].seconds / one['read_json'].seconds:.2f}x at 1x, "
            f"{many['ingest'].seconds / many['read_json'].seconds:.2f}x at {args.scale}x "
            f"(target <= 2x; CPU time {cpu1:.2f}x and {cpun:.2f}x); ingest peak RSS "
            f"{one['ingest'].peak_rss_mb:,.0f} MB at 1x, "
            f"{many['ingest'].peak_rss_mb:,.0f} MB at {args.scale}x "
            f"({many['ingest'].peak_rss_mb / one['ingest'].peak_rss_mb:.2f}x for "
            f"{sizen / size1:.1f}x the input)"
        )
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
