"""Commands that only price and report leave the store file as it was.

A CI job's cached store and an analyst's open notebook must not be disturbed by
`report`, `check`, a price comparison, or by `findings` and `report --show recount` on a
store whose texts are all counted (what `ingest` leaves): the file is opened read-only (a
shared lock), so it stays byte for byte the same and other readers may hold it open
meanwhile. Only texts still to count make those two open it writable; with a reader holding
it they exit 2 saying so, and `--no-recount` reads what is counted.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import duckdb
from typer.testing import CliRunner

from tokaudit.cli import app

runner = CliRunner()
READS = [
    ["report", "--by", "team,model", "-f", "json"],
    ["report", "--by", "team", "--compare-at", "now", "-f", "json"],
    ["check", "--budget", "{budget}", "-f", "json"],
    ["findings", "-f", "json"],
    ["report", "--by", "team", "--show", "recount", "-f", "json"],
    ["findings", "--no-recount", "-f", "json"],
]
SAME_OUTPUT = [0, 3, 4, 5]  # every read but the comparison (it names the instant priced at)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _args(read: list[str], db: Path, budget: Path) -> list[str]:
    return [*(a.replace("{budget}", str(budget)) for a in read), "--db", str(db)]


@contextmanager
def _held(db: Path) -> Iterator[None]:
    """Another process holds the store open read-only (an analyst's notebook) meanwhile."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only=True); "
            "print('open', flush=True); time.sleep(60)",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        yield
    finally:
        holder.kill()
        holder.wait()


def test_reads_leave_the_store_untouched_and_share_it(store: Path, tmp_path: Path) -> None:
    budget = tmp_path / "budgets.yaml"
    budget.write_text("budgets:\n  - name: all\n    max_cost_usd: 1000000\n", "utf-8")
    before = _digest(store)
    first = [runner.invoke(app, _args(read, store, budget)) for read in READS]
    assert [r.exit_code for r in first] == [0] * len(READS), [r.stderr for r in first]
    assert _digest(store) == before
    with _held(store):
        again = [runner.invoke(app, _args(read, store, budget)) for read in READS]
    assert [r.exit_code for r in again] == [0] * len(READS), [r.stderr for r in again]
    assert [again[i].stdout for i in SAME_OUTPUT] == [first[i].stdout for i in SAME_OUTPUT]
    assert json.loads(first[3].stdout)["findings"]  # the findings ran, on a counted store
    assert first[5].stdout == first[3].stdout  # nothing was left to count
    assert "not counted yet" not in first[5].stderr
    assert _digest(store) == before


def _recounted(db: Path) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        row = con.execute(
            "SELECT count(recounted_input_tokens) FROM requests WHERE input_hash IS NOT NULL"
        ).fetchone()
    finally:
        con.close()
    assert row is not None
    return int(row[0])


def _uncounted_store(tmp_path: Path, log: Path, name: str) -> Path:
    db = tmp_path / f"{name}.duckdb"
    result = runner.invoke(app, ["ingest", str(log), "--db", str(db), "--no-recount"])
    assert result.exit_code == 0, result.stderr
    assert _recounted(db) == 0
    return db


COUNTING = [
    ["findings", "-f", "json"],
    ["report", "--by", "team", "--show", "recount", "-f", "json"],
]


def test_texts_still_to_count_are_counted_first(
    store: Path, tmp_path: Path, mixed_log: Path
) -> None:
    """`ingest --no-recount` left every text uncounted: the two commands count them (the
    store is written), and report what they would on a store `ingest` counted."""
    counted = [runner.invoke(app, [*read, "--db", str(store)]) for read in COUNTING]
    for read, expected in zip(COUNTING, counted, strict=True):
        db = _uncounted_store(tmp_path, mixed_log, read[0])
        before = _digest(db)
        result = runner.invoke(app, [*read, "--db", str(db)])
        assert result.exit_code == 0, result.stderr
        assert _digest(db) != before
        assert _recounted(db) == _recounted(store) == 5
        assert result.stdout == expected.stdout
    totals = json.loads(counted[1].stdout)["totals"]
    assert totals["compared"] > 0  # the recount report compares the counted requests


def test_texts_to_count_in_a_store_held_open_fail_clearly(tmp_path: Path, mixed_log: Path) -> None:
    """Counting needs the store writable; another reader holding it is an error naming what
    waits and what to do (exit 2, the file untouched), not findings from partial counts.
    --no-recount reads the counts already stored and says what they lack."""
    db = _uncounted_store(tmp_path, mixed_log, "held")
    before = _digest(db)
    with _held(db):
        refused = [runner.invoke(app, [*read, "--db", str(db)]) for read in COUNTING]
        as_is = [runner.invoke(app, [*read, "--no-recount", "--db", str(db)]) for read in COUNTING]
    for result in refused:
        assert result.exit_code == 2
        assert result.stdout == ""
        error = result.stderr.splitlines()[-1]
        assert error.startswith(
            f"error: {db}: 5 request input(s) and 5 system prompt(s) wait to be counted, "
            "which needs the store writable, and it cannot be opened for writing ("
        )
        assert "lock" in error
        assert error.endswith(
            f"run `tokaudit recount --db {db}` once it is free; --no-recount uses the "
            "counts already stored"
        )
    warning = (
        "warning: --no-recount: 5 request input(s) and 5 system prompt(s) not counted yet; "
        f"the results use the counts already stored (count the rest: tokaudit recount --db {db})"
    )
    for result in as_is:
        assert result.exit_code == 0, result.stderr
        assert warning in result.stderr.splitlines()
    assert json.loads(as_is[1].stdout)["totals"]["compared"] == 0  # nothing counted to compare
    assert _digest(db) == before
    assert _recounted(db) == 0
    freed = runner.invoke(app, [*COUNTING[0], "--db", str(db)])  # the reader has gone
    assert freed.exit_code == 0, freed.stderr
    assert _recounted(db) == 5


def test_a_price_comparison_counts_texts_first(tmp_path: Path) -> None:
    """`report --compare-at` is "as report": a request logged without usage is priced from
    its recount. On a store ingested with --no-recount the comparison left it unpriced
    (`not_recounted`) under both tables, out of both costs, and exited 0 (QA)."""
    log = tmp_path / "no-usage.jsonl"
    line = {
        "timestamp": "2026-10-16T08:46:28Z",
        "provider": "openai",
        "request": {
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": "Hello there, how are you today?"}],
        },
        "response": {
            "id": "chatcmpl-nousage",
            "object": "chat.completion",
            "model": "gpt-4o-2024-08-06",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Fine thanks"},
                    "finish_reason": "stop",
                }
            ],
        },
    }
    log.write_text(json.dumps(line) + "\n", "utf-8")
    db = _uncounted_store(tmp_path, log, "compare")
    as_is = runner.invoke(
        app, ["report", "--compare-at", "now", "-f", "json", "--no-recount", "--db", str(db)]
    )
    assert as_is.exit_code == 0, as_is.stderr
    assert json.loads(as_is.stdout)["totals"]["excluded_requests"] == 1
    assert "--no-recount" in as_is.stderr  # says what waits to be counted, counts nothing
    # o200k_base: the text is 8 tokens, + 3 per message, 1 for the role, 3 reply priming =
    # 15 input; the reply "Fine thanks" is 2. gpt-4o-2024-08-06: $2.50 and $10 per 1M.
    cost = Decimal(15) * Decimal("2.5") / 10**6 + Decimal(2) * Decimal(10) / 10**6
    result = runner.invoke(
        app, ["report", "--by", "model", "--compare-at", "now", "-f", "json", "--db", str(db)]
    )
    assert result.exit_code == 0, result.stderr
    totals = json.loads(result.stdout)["totals"]
    assert totals["excluded_requests"] == 0
    assert totals["estimated_requests"] == 1
    assert Decimal(totals["cost_usd"]) == Decimal(totals["compare_cost_usd"]) == cost
