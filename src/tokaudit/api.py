"""The library façade: everything the CLI does, as functions that return dataclasses.

Nothing here prints or exits; errors are ``TokauditError`` subclasses.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from tokaudit.budget import evaluate_budgets, load_budgets
from tokaudit.findings import RULES, run_rules
from tokaudit.ingest import IngestResult, ingest_paths
from tokaudit.ingest.loader import ProgressCallback
from tokaudit.models import Breakdown, BudgetReport, FindingsReport
from tokaudit.pricing.store_tables import install_price_table
from tokaudit.pricing.table import load_price_table
from tokaudit.recount import RecountResult, recount
from tokaudit.report.breakdown import breakdown, pricing_info
from tokaudit.sql import run_query
from tokaudit.store import open_store

__all__ = [
    "AuditResult",
    "audit",
    "check",
    "findings",
    "ingest",
    "recount_store",
    "report",
    "run_query",
]


@contextmanager
def priced_store(
    db: Path | str, pricing: Path | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A writable store with the chosen price table installed (refreshed on every run)."""
    table = load_price_table(pricing)
    con = open_store(db)
    try:
        install_price_table(con, table)
        yield con
    finally:
        con.close()


def ingest(
    paths: list[str],
    db: Path | str,
    fmt: str = "auto",
    pricing: Path | None = None,
    on_progress: ProgressCallback | None = None,
) -> IngestResult:
    """Load logs into the store, then recount new prompt texts."""
    with priced_store(db, pricing) as con:
        result = ingest_paths(con, paths, fmt, on_progress)
        recount(con)
        return result


def recount_store(db: Path | str) -> RecountResult:
    con = open_store(db)
    try:
        return recount(con)
    finally:
        con.close()


def report(
    db: Path | str,
    group_by: list[str],
    since: datetime | None = None,
    until: datetime | None = None,
    top: int | None = None,
    pricing: Path | None = None,
) -> Breakdown:
    with priced_store(db, pricing) as con:
        return breakdown(con, group_by, since, until, top)


def _findings(con: duckdb.DuckDBPyConnection, settings: dict[str, Any] | None) -> FindingsReport:
    return FindingsReport(run_rules(con, settings), pricing_info(con))


def findings(
    db: Path | str, pricing: Path | None = None, settings: dict[str, Any] | None = None
) -> FindingsReport:
    with priced_store(db, pricing) as con:
        recount(con)  # the caching rule needs prefix sizes
        return _findings(con, settings)


def check(db: Path | str, budget_file: Path, pricing: Path | None = None) -> BudgetReport:
    budgets = load_budgets(budget_file)
    with priced_store(db, pricing) as con:
        return evaluate_budgets(con, budgets)


@dataclass(frozen=True)
class RejectSample:
    source_file: str
    source_line: int
    reason: str


@dataclass(frozen=True)
class AuditResult:
    ingest: IngestResult
    breakdowns: list[Breakdown]
    findings: FindingsReport
    rejects: list[RejectSample]
    db: str | None  # None when a temporary store was used


AUDIT_GROUPS = (["team"], ["model"], ["prompt"])


def audit(
    paths: list[str],
    db: Path | str | None = None,
    pricing: Path | None = None,
    top: int | None = 15,
    on_progress: ProgressCallback | None = None,
) -> AuditResult:
    """The one-shot main job: ingest, recount, price, break down and look for waste."""
    with tempfile.TemporaryDirectory(prefix="tokaudit-") as tmp:
        target = db if db is not None else Path(tmp) / "audit.duckdb"
        with priced_store(target, pricing) as con:
            loaded = ingest_paths(con, paths, "auto", on_progress)
            recount(con)
            sources = [str(Path(f.path).resolve()) for f in loaded.files]
            rejects = con.execute(
                """SELECT source_file, source_line, reason FROM rejects
                WHERE source_file IN (SELECT unnest(?)) ORDER BY source_file, source_line""",
                [sources],
            ).fetchall()
            return AuditResult(
                ingest=loaded,
                breakdowns=[breakdown(con, g, top=top) for g in AUDIT_GROUPS],
                findings=_findings(con, None),
                rejects=[RejectSample(f, int(n), r) for f, n, r in rejects],
                db=None if db is None else str(db),
            )


def rule_catalogue() -> list[tuple[str, str, str]]:
    return [(r.rule_id, r.name, r.summary) for r in RULES]
