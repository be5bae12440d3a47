"""Benchmark: `tokaudit audit` against `ccusage` 20.0.24 on the same Claude Code logs.

Why: on Claude Code transcripts tokaudit must be no slower than ccusage (target: 0.6x of
its time) and must agree with it on every day's totals to the cent. Both run as child
processes in the same run, on the same files, with a warm page cache, so the ratio is
comparable on any machine:

    python bench/bench_claude_code.py                  # 200,000 lines (~330 MB), 3 runs each
    python bench/bench_claude_code.py --lines 20000    # a quick look
    python bench/bench_claude_code.py --profile        # also: where tokaudit spends its time

The logs come from bench/claude_code_gen.py (deterministic) into bench/data/ (ignored by
git), regenerated when missing or made by another generator version. ccusage installs from
the npm registry into bench/.cache/ (ignored by git) when missing; that needs `npm`.
Both tools count days in UTC here (ccusage through TZ=UTC).
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import claude_code_gen  # noqa: E402  (a sibling script, not a package)

CCUSAGE_VERSION = "20.0.24"
CACHE = BENCH / ".cache"
CCUSAGE = CACHE / "node_modules" / ".bin" / "ccusage"
CCUSAGE_ARGS = ["claude", "daily", "--json", "--offline", "--mode", "calculate"]


def ensure_data(lines: int, data: Path) -> None:
    """Generate the logs unless this generator already wrote them with these settings."""
    source = Path(claude_code_gen.__file__).read_bytes()
    stamp = f"{lines} {claude_code_gen.SEED} {hashlib.sha256(source).hexdigest()[:16]}"
    marker = data / "GENERATED"
    if marker.is_file() and marker.read_text() == stamp:
        return
    shutil.rmtree(data, ignore_errors=True)
    began = time.perf_counter()
    stats = claude_code_gen.generate(data, lines)
    marker.write_text(stamp)
    print(
        f"generated {stats.lines:,} lines in {stats.files:,} files ({stats.sessions} sessions, "
        f"{stats.bytes / 1e6:,.0f} MB) in {time.perf_counter() - began:.1f} s",
        file=sys.stderr,
    )


def ensure_ccusage() -> None:
    if CCUSAGE.exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("ccusage is not installed and npm is not on PATH")
    subprocess.run(
        [npm, "install", "--prefix", str(CACHE), f"ccusage@{CCUSAGE_VERSION}"], check=True
    )


@dataclass
class Run:
    seconds: float
    peak_rss_mb: float
    stdout: bytes
    cpu_seconds: float = 0.0  # user + system, all threads: steadier than wall time on a busy box


def _run(cmd: list[str], env: dict[str, str]) -> Run:
    """A child process to completion (untimed helper runs)."""
    proc = subprocess.run(cmd, env=env, capture_output=True, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout.decode() + proc.stderr.decode())
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}")
    return Run(0.0, 0.0, proc.stdout)


def _run_timed(cmd: list[str], env: dict[str, str]) -> Run:
    """Like ``_run``, reaping the child ourselves so its peak RSS is measured."""
    began = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - began
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read()
        if code != 0:
            sys.stderr.write(stdout.decode() + err.read().decode())
            raise SystemExit(f"failed ({code}): {' '.join(cmd)}")
    cpu = usage.ru_utime + usage.ru_stime
    return Run(seconds, usage.ru_maxrss / 1024, stdout, cpu)  # Linux reports KiB


def commands(
    data: Path,
) -> tuple[tuple[list[str], dict[str, str]], tuple[list[str], dict[str, str]]]:
    base = dict(os.environ, TZ="UTC", CI="1")
    tokaudit = (
        [sys.executable, "-m", "tokaudit", "audit", str(data)],
        dict(base, PYTHONPATH=str(ROOT / "src")),
    )
    ccusage = ([str(CCUSAGE), *CCUSAGE_ARGS], dict(base, CLAUDE_CONFIG_DIR=str(data)))
    return tokaudit, ccusage


def per_day_tokaudit(data: Path, work: Path) -> dict[str, dict[str, Any]]:
    """Our per-day totals: an audit kept in a store, then `report --by day` as JSON."""
    db = work / "parity.duckdb"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), CI="1")
    tok = [sys.executable, "-m", "tokaudit"]
    _run([*tok, "ingest", str(data), "--db", str(db), "-o", "json"], env)
    report = json.loads(
        _run([*tok, "report", "--db", str(db), "--by", "day", "-f", "json"], env).stdout
    )
    return {
        row["day"]: {
            "input": row["input_tokens"],
            "output": row["output_tokens"],
            "cache_write": row["cache_write_tokens"],
            "cache_read": row["cache_read_tokens"],
            "cost": Decimal(str(row["cost_usd"])),
            "unpriced": row["unpriced_requests"],
        }
        for row in report["rows"]
    }


def per_day_ccusage(stdout: bytes) -> dict[str, dict[str, Any]]:
    daily = json.loads(stdout)["daily"]
    return {
        d["date"]: {
            "input": d["inputTokens"],
            "output": d["outputTokens"],
            "cache_write": d["cacheCreationTokens"],
            "cache_read": d["cacheReadTokens"],
            "cost": Decimal(repr(d["totalCost"])),
            "unpriced": 0,
        }
        for d in daily
    }


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


def compare(ours: dict[str, dict[str, Any]], theirs: dict[str, dict[str, Any]]) -> list[str]:
    """Days where tokens differ or the cost differs by a cent or more."""
    problems = []
    for day in sorted(set(ours) | set(theirs)):
        a, b = ours.get(day), theirs.get(day)
        if a is None or b is None:
            problems.append(f"{day}: only in {'ccusage' if a is None else 'tokaudit'}")
            continue
        for key in ("input", "output", "cache_write", "cache_read"):
            if a[key] != b[key]:
                problems.append(f"{day}: {key} {a[key]} (tokaudit) vs {b[key]} (ccusage)")
        if abs(a["cost"] - b["cost"]) >= Decimal("0.005") or a["unpriced"]:
            problems.append(f"{day}: cost {a['cost']} (tokaudit) vs {b['cost']} (ccusage)")
    return problems


def profile(data: Path) -> str:
    """Where `tokaudit audit` spends its time, in process (cProfile, top 25 cumulative)."""
    sys.path.insert(0, str(ROOT / "src"))
    from tokaudit import api

    prof = cProfile.Profile()
    prof.enable()
    api.audit([str(data)])
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(25)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--data", type=Path, default=BENCH / "data" / "claude_code")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each (median kept)")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    ensure_data(args.lines, args.data)
    ensure_ccusage()
    (tok_cmd, tok_env), (cc_cmd, cc_env) = commands(args.data)
    _run(cc_cmd, cc_env)  # warm the page cache and both programs
    _run(tok_cmd, tok_env)
    tok_runs, cc_runs = [], []
    for _ in range(args.runs):  # interleaved, so both see the same machine load
        cc_runs.append(_run_timed(cc_cmd, cc_env))
        tok_runs.append(_run_timed(tok_cmd, tok_env))
    tok_s = statistics.median(r.seconds for r in tok_runs)
    cc_s = statistics.median(r.seconds for r in cc_runs)
    tok_cpu = statistics.median(r.cpu_seconds for r in tok_runs)
    cc_cpu = statistics.median(r.cpu_seconds for r in cc_runs)

    with tempfile.TemporaryDirectory(prefix="tokaudit-bench-") as tmp:
        problems = compare(
            per_day_tokaudit(args.data, Path(tmp)), per_day_ccusage(cc_runs[-1].stdout)
        )
    theirs = per_day_ccusage(cc_runs[-1].stdout)
    total = sum((d["cost"] for d in theirs.values()), Decimal(0))
    size = sum(p.stat().st_size for p in args.data.rglob("*.jsonl"))
    files = sum(1 for _ in args.data.rglob("*.jsonl"))

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU, {platform.platform()}")
    print(
        f"python {platform.python_version()}, ccusage {CCUSAGE_VERSION}, "
        f"date {datetime.now(UTC):%Y-%m-%d}"
    )
    print(
        f"input: {args.lines:,} lines, {files:,} files, {size / 1e6:,.0f} MB, "
        f"{len(theirs)} days, ${cents(total)}"
    )
    for name, wall, cpu, runs in (
        ("tokaudit audit", tok_s, tok_cpu, tok_runs),
        ("ccusage daily", cc_s, cc_cpu, cc_runs),
    ):
        print(
            f"{name + ':':16s}{wall:6.2f} s wall, {cpu:6.2f} s CPU (median of {args.runs}; "
            f"wall {', '.join(f'{r.seconds:.2f}' for r in runs)}; peak RSS "
            f"{max(r.peak_rss_mb for r in runs):,.0f} MB)"
        )
    ratio = tok_s / cc_s
    verdict = "meets 0.6x" if ratio <= 0.6 else ("within 1x" if ratio <= 1 else "SLOWER")
    print(
        f"ratio tokaudit / ccusage: {ratio:.2f}x wall, {tok_cpu / cc_cpu:.2f}x CPU "
        f"({verdict}; target <= 0.6x, must be <= 1x)"
    )
    if problems:
        print(f"totals DISAGREE on {len(problems)} point(s):")
        for line in problems[:20]:
            print("  " + line)
    else:
        print(
            f"totals agree with ccusage on all {len(theirs)} days (tokens exactly, cost "
            "to the cent)"
        )
    if args.profile:
        print(profile(args.data))
    if problems or ratio > 1:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
