"""Commands that only price and report leave the store file as it was.

A CI job's cached store and an analyst's open notebook must not be disturbed by
`report`, `check` or a price comparison: the file is opened read-only (a shared lock), so it
stays byte for byte the same and other readers may hold it open meanwhile.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from tokaudit.cli import app

runner = CliRunner()
READS = [
    ["report", "--by", "team,model", "-f", "json"],
    ["report", "--by", "team", "--compare-at", "now", "-f", "json"],
    ["check", "--budget", "{budget}", "-f", "json"],
]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _args(read: list[str], db: Path, budget: Path) -> list[str]:
    return [*(a.replace("{budget}", str(budget)) for a in read), "--db", str(db)]


def test_reads_leave_the_store_untouched_and_share_it(store: Path, tmp_path: Path) -> None:
    budget = tmp_path / "budgets.yaml"
    budget.write_text("budgets:\n  - name: all\n    max_cost_usd: 1000000\n", "utf-8")
    before = _digest(store)
    first = [runner.invoke(app, _args(read, store, budget)) for read in READS]
    assert [r.exit_code for r in first] == [0, 0, 0], [r.stderr for r in first]
    assert _digest(store) == before
    # another process holds the store open read-only (an analyst's notebook) meanwhile
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only=True); "
            "print('open', flush=True); time.sleep(60)",
            str(store),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        again = [runner.invoke(app, _args(read, store, budget)) for read in READS]
    finally:
        holder.kill()
        holder.wait()
    assert [r.exit_code for r in again] == [0, 0, 0], [r.stderr for r in again]
    assert [r.stdout for r in again[:1]] == [r.stdout for r in first[:1]]  # same report
    assert _digest(store) == before
