"""The library façade: everything the CLI does, as functions that return dataclasses.

Nothing here prints or exits; errors are ``TokauditError`` subclasses.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypedDict

import duckdb

from tokaudit.config_file import findings_settings
from tokaudit.errors import ConfigError, InputError, PricingTableError, UsageError
from tokaudit.findings import RULES, run_rules, with_overrides
from tokaudit.ingest import IngestResult, ingest_paths
from tokaudit.ingest.attribution import Attribution, load_attribution
from tokaudit.ingest.fieldmap import FieldMap, load_field_map
from tokaudit.ingest.loader import ProgressCallback, check_inputs
from tokaudit.models import Breakdown, BudgetReport, FindingsReport
from tokaudit.pricing.overlay import credit_usage, load_overlay
from tokaudit.pricing.source import describe as describe_table
from tokaudit.pricing.source import load_prices, table_from
from tokaudit.pricing.store_tables import freeze_costs, install_price_table
from tokaudit.pricing.table import PriceTable
from tokaudit.recount import RecountResult, recount
from tokaudit.recount.pending import Uncounted, uncounted
from tokaudit.report.breakdown import (
    BREAKDOWN_COLUMNS,
    breakdown,
    pricing_info,
    unpriced_models,
)
from tokaudit.sql import stream_query as _stream_query
from tokaudit.store import open_store, open_store_read_only
from tokaudit.store.views import install_current_views
from tokaudit.tokenizers import PluginInfo, describe, load_tokenizers

if TYPE_CHECKING:  # imported where used: most commands never need them (start-up time)
    from tokaudit.pricing.compare import PricingComparison
    from tokaudit.report.recount import RecountReport

__all__ = [
    "AuditResult",
    "audit",
    "check",
    "findings",
    "ingest",
    "recount_report",
    "recount_store",
    "report",
    "run_query",
    "stream_query",
    "tokenizers_list",
    "uncounted_texts",
]


@contextmanager
def priced_store(
    db: Path | str,
    pricing: Path | None = None,
    overlay: Path | None = None,
    existing: bool = False,
    read_only: bool = False,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A store with the chosen price table (and overlay) installed, on every run.

    ``existing``: the store must already be a tokaudit store. ``read_only`` (commands that
    only price and report): the file is opened read-only, so it is left byte for byte as it
    was and other readers may hold it open; the prices live in this connection only.
    """
    with _priced(db, load_prices(pricing, overlay), existing, read_only) as con:
        yield con


@contextmanager
def _priced(
    db: Path | str, table: PriceTable, existing: bool = False, read_only: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """``priced_store`` with the price table already loaded."""
    con = open_store_read_only(db) if read_only else open_store(db, existing=existing)
    try:
        try:
            install_price_table(con, table)
            if read_only:  # a store from an older release lacks a column the view prices
                con.execute("SELECT * FROM request_costs LIMIT 0")
        except duckdb.BinderException:
            if not read_only:
                raise
            con.close()  # ... so it is opened writable once, which brings its schema up
            con = open_store(db, existing=True)
            install_price_table(con, table)
        yield con
    finally:
        con.close()


def run_query(
    db: Path | str, query: str, pricing: Path | None = None, overlay: Path | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """One read-only SQL statement on the store, with the price table ``report`` would use
    installed in its connection: ``request_costs`` is what the reports price with now."""
    with stream_query(db, query, pricing, overlay) as (columns, batches):
        return columns, [row for batch in batches for row in batch]


def stream_query(
    db: Path | str, query: str, pricing: Path | None = None, overlay: Path | None = None
) -> AbstractContextManager[tuple[list[str], Iterator[list[tuple[Any, ...]]]]]:
    """``run_query`` with its rows in batches, read as they are consumed (the store stays
    open until the ``with`` ends): a large result is never held whole."""
    table = load_prices(pricing, overlay)

    def install(con: duckdb.DuckDBPyConnection) -> None:
        # an older store's columns and views as this release has them, in this connection
        # only: `sql` read the views stored by the release that wrote the file (QA)
        install_current_views(con)
        try:
            install_price_table(con, table)
            con.execute("SELECT * FROM request_costs LIMIT 0")
        except duckdb.BinderException:  # a column no upgrade adds: the store's own view
            con.execute("DROP VIEW IF EXISTS temp.main.request_costs")

    return _stream_query(Path(db), query, install)


@contextmanager
def counted_store(
    db: Path | str,
    pricing: Path | None = None,
    overlay: Path | None = None,
    config: Path | None = None,
    recount_texts: bool = True,
    broken_plugins: list[tuple[str, str]] | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A priced store whose texts are all counted, opened writable only to count them.

    The store is opened read-only, like ``report``'s, and asked whether the recount has
    anything to do (usually not: ``ingest`` recounts). Only then is it reopened writable
    and recounted, which needs DuckDB's exclusive lock: when another process holds the
    file (a notebook, even read-only) that is an InputError naming what waits to be
    counted, never a silent run on partial counts. ``recount_texts=False`` always stays
    read-only and uses the counts already stored. ``config`` configures the tokenizers;
    the plugins that failed while counting go to ``broken_plugins`` (name, why). A config
    named that cannot be read is a ConfigError even when nothing waits to be counted:
    ``report`` and ``check`` ignored a mistyped ``TOKAUDIT_CONFIG`` then (QA).
    """
    _readable_config(config)
    with _counted(db, load_prices(pricing, overlay), config, recount_texts, broken_plugins) as con:
        yield con


@contextmanager
def _counted(
    db: Path | str,
    table: PriceTable,
    config: Path | None,
    recount_texts: bool,
    broken_plugins: list[tuple[str, str]] | None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """``counted_store`` with the price table already loaded (``check --baseline`` prices
    two stores with one)."""
    if not recount_texts:
        with _priced(db, table, existing=True, read_only=True) as con:
            yield con
        return
    registry = load_tokenizers(config)
    with _priced(db, table, existing=True, read_only=True) as con:
        todo = uncounted(con, registry)
        if not todo:
            yield con
            return
    with ExitStack() as stack:
        try:
            con = stack.enter_context(_priced(db, table, existing=True))
        except InputError as exc:
            raise InputError(
                f"{db}: {todo.describe()} wait to be counted, which needs the store "
                f"writable, and it cannot be opened for writing ({exc}). Close what holds "
                f"it open (a notebook, another tokaudit) and run again, or run "
                f"`tokaudit recount --db {db}` once it is free; --no-recount uses the "
                "counts already stored"
            ) from exc
        counted = recount(con, registry)
        if broken_plugins is not None:
            broken_plugins.extend(counted.broken_plugins)
        yield con


def uncounted_texts(db: Path | str, config: Path | None = None) -> Uncounted:
    """What the recount would count in the store (opened read-only); false if nothing."""
    con = open_store_read_only(db)
    try:
        return uncounted(con, load_tokenizers(config))
    finally:
        con.close()


class _IngestOptions(TypedDict):
    field_map: FieldMap | None
    attribution: Attribution | None
    stdin: BinaryIO | None
    expanded: list[Path]


def _ingest_options(
    paths: list[str],
    fmt: str,
    field_map: Path | None,
    config: Path | None,
    stdin: BinaryIO | None,
) -> _IngestOptions:
    """Load and validate the field map, the attribution config and the input paths before
    any store opens: a missing input must not leave an empty store file behind."""
    fields = load_field_map(field_map) if field_map is not None else None
    return {
        "field_map": fields,
        "attribution": load_attribution(config) if config is not None else None,
        "stdin": stdin,
        "expanded": check_inputs(paths, fmt, fields),
    }


def ingest(
    paths: list[str],
    db: Path | str,
    fmt: str = "auto",
    pricing: Path | None = None,
    on_progress: ProgressCallback | None = None,
    overlay: Path | None = None,
    field_map: Path | None = None,
    config: Path | None = None,
    stdin: BinaryIO | None = None,
    recount_texts: bool = True,
    reload: bool = False,
) -> IngestResult:
    """Load logs into the store, then recount new prompt texts.

    ``field_map`` reads every file through a YAML field map (CSV, JSON Lines, Parquet);
    ``config`` is a ``tokaudit.yaml`` with attribution rules; ``-`` in ``paths`` reads
    ``stdin`` (default: the process's standard input). ``recount_texts=False`` leaves the
    recount to ``recount_store`` (``findings`` and ``audit`` recount what they need).
    ``reload`` reads files already in the store again under the current rules and field
    map, replacing their rows (docs/attribution.md#after-editing-the-rules).
    """
    options = _ingest_options(paths, fmt, field_map, config, stdin)
    with priced_store(db, pricing, overlay) as con:
        result = ingest_paths(con, paths, fmt, on_progress, reload=reload, **options)
        if recount_texts:
            recount(con, load_tokenizers(config))
        return result


def _readable_config(config: Path | None) -> None:
    """A config named (``--config``, ``TOKAUDIT_CONFIG``) that cannot be read or parsed,
    or is not a mapping of known sections, is a ConfigError (exit 2), as for ``ingest``
    and ``findings``, not a plugin warning."""
    if config is not None:
        from tokaudit.config_file import read_config

        read_config(config)


def recount_store(db: Path | str, config: Path | None = None) -> RecountResult:
    """Recount what is new in the store; ``config`` configures tokenizer plugins."""
    _readable_config(config)
    con = open_store(db, existing=True)
    try:
        return recount(con, load_tokenizers(config))
    finally:
        con.close()


def recount_report(
    db: Path | str,
    group_by: list[str],
    since: datetime | None = None,
    until: datetime | None = None,
    pricing: Path | None = None,
    overlay: Path | None = None,
    recount_texts: bool = True,
    config: Path | None = None,
) -> RecountReport:
    """Reported vs recounted tokens (and dollars) per group; recounts what is missing first
    (``counted_store``: the store is written only then; ``recount_texts=False``: never).
    ``config`` configures tokenizer plugins."""
    _readable_config(config)
    broken: list[tuple[str, str]] = []
    with counted_store(db, pricing, overlay, config, recount_texts, broken) as con:
        from tokaudit.report.recount import recount_report

        return replace(recount_report(con, group_by, since, until), broken_plugins=broken)


def tokenizers_list(config: Path | None = None) -> list[PluginInfo]:
    """Installed tokenizer plugins, what they cover, and the ones that failed to load
    (``config``: the tokaudit.yaml whose ``tokenizers:`` section configures them)."""
    _readable_config(config)
    return describe(load_tokenizers(config))


def report(
    db: Path | str,
    group_by: list[str],
    since: datetime | None = None,
    until: datetime | None = None,
    top: int | None = None,
    pricing: Path | None = None,
    overlay: Path | None = None,
    config: Path | None = None,
    recount_texts: bool = True,
    broken_plugins: list[tuple[str, str]] | None = None,
) -> Breakdown:
    """Spend by ``group_by``. With ``recount_texts`` (the default, as for ``findings`` and the
    CLI), texts not counted yet (a store ingested with --no-recount) are counted first
    (``counted_store``), so requests logged without usage are priced from their recount
    instead of showing as unpriced; ``False`` uses the stored counts and never writes."""
    with counted_store(db, pricing, overlay, config, recount_texts, broken_plugins) as con:
        freeze_costs(con, BREAKDOWN_COLUMNS)
        return with_credits(con, breakdown(con, group_by, since, until, top), since, until)


def with_credits(
    con: duckdb.DuckDBPyConnection,
    result: Breakdown,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Breakdown:
    """The breakdown with the overlay's committed-use credits used in its window."""
    overlay = result.pricing.overlay
    if overlay is None:
        return result
    used = tuple(credit_usage(con, since, until))
    pricing = replace(result.pricing, overlay=replace(overlay, credits=used))
    return replace(result, pricing=pricing)


def _findings(con: duckdb.DuckDBPyConnection, settings: dict[str, Any] | None) -> FindingsReport:
    return FindingsReport(
        run_rules(con, settings), pricing_info(con), unpriced=unpriced_models(con)
    )


def _thresholds(config: Path | None, settings: dict[str, Any] | None) -> dict[str, Any] | None:
    """The findings thresholds to use: the ``findings:`` section of ``config`` (a
    tokaudit.yaml), with ``settings`` applied over it threshold by threshold. A bad one is
    a ConfigError, raised before any store is touched."""
    merged: dict[str, Any] = {
        rule: dict(values) for rule, values in (findings_settings(config) or {}).items()
    }
    for rule, values in (settings or {}).items():
        if isinstance(values, dict) and rule in merged:
            merged[rule].update(values)
        else:
            merged[rule] = values
    with_overrides(merged)
    return merged or None


def _routing_source(config: Path | None, settings: dict[str, Any] | None) -> Path | None:
    """The config file a D09 routing came from: none when ``settings`` gave it."""
    given = (settings or {}).get("D09")
    return None if isinstance(given, dict) and "routing" in given else config


def _check_routing(
    thresholds: dict[str, Any] | None,
    pricing: Path | None,
    overlay: Path | None,
    source: Path | None = None,
) -> None:
    """A D09 routing pair the user gave must name model ids of the price table in use: a
    pair naming an alias (``gpt-4o-2024-08-06`` for ``gpt-4o``) or an unknown model never
    matched a priced request, so the rule passed over it without a word (QA). The
    defaults are not checked: a trimmed price table may lack some of them. ``source`` is
    the config file the routing came from, named in the error."""
    routing = ((thresholds or {}).get("D09") or {}).get("routing")
    if not routing:
        return
    names = load_prices(pricing, overlay).names()
    ids = set(names.values())
    for name in (n for pair in routing.items() for n in pair):
        if name in ids:
            continue
        canonical = names.get(str(name).lower())
        why = (
            f"an alias of {canonical!r}: name the model id"
            if canonical
            else "no model of the price table"
        )
        where = f"{source}: " if source is not None else ""
        raise ConfigError(f"{where}findings settings: D09.routing names {name!r}, {why}")


def findings(
    db: Path | str,
    pricing: Path | None = None,
    settings: dict[str, Any] | None = None,
    overlay: Path | None = None,
    config: Path | None = None,
    recount_texts: bool = True,
) -> FindingsReport:
    """Every waste rule's findings. Thresholds: ``config``'s ``findings:`` section (a
    tokaudit.yaml), then ``settings`` ({"D15": {"tolerance_pct": 5}}) over it.

    Texts not counted yet are counted first (the caching rule needs prefix sizes, D15 the
    recount), which alone opens the store writable (``counted_store``);
    ``recount_texts=False`` uses the counts already stored and never writes."""
    thresholds = _thresholds(config, settings)  # a bad one fails before the store opens
    _check_routing(thresholds, pricing, overlay, _routing_source(config, settings))
    broken: list[tuple[str, str]] = []
    with counted_store(db, pricing, overlay, config, recount_texts, broken) as con:
        freeze_costs(con)
        return replace(_findings(con, thresholds), broken_plugins=broken)


def check(
    db: Path | str,
    budget_file: Path,
    pricing: Path | None = None,
    overlay: Path | None = None,
    config: Path | None = None,
    recount_texts: bool = True,
    broken_plugins: list[tuple[str, str]] | None = None,
    baseline: Path | str | None = None,
) -> BudgetReport:
    """The budget gate. With ``recount_texts`` (the default), texts not counted yet are
    counted first (``counted_store``): spend logged without usage is priced from its
    recount, never left out of the gate because a recount was deferred (ingest
    --no-recount).

    ``baseline``: the store of an earlier run (main's) that relative budgets
    (``max_increase_pct``) compare with. It is opened like ``db`` (read-only, writable only
    when texts wait to be counted and ``recount_texts``) and priced with the same table
    and overlay, so a change of prices between the runs is no regression of usage.
    """
    from tokaudit.budget import evaluate_budgets, load_budgets

    budgets = load_budgets(budget_file)
    relative = [b.name for b in budgets if b.relative]
    if relative and baseline is None:
        raise UsageError(
            f"{budget_file}: budget(s) {', '.join(map(repr, relative))} compare with a "
            "baseline (max_increase_pct): give the baseline's store with --baseline"
        )
    _readable_config(config)
    table = load_prices(pricing, overlay)
    if baseline is not None:
        _distinct_stores(db, baseline)
    with _counted(db, table, config, recount_texts, broken_plugins) as con:
        freeze_costs(con)
        if baseline is None or not relative:  # nothing compares with it: left unread
            return evaluate_budgets(con, budgets)
        broken: list[tuple[str, str]] = []
        with ExitStack() as stack:
            try:
                base = stack.enter_context(_counted(baseline, table, config, recount_texts, broken))
            except InputError as exc:  # newer, damaged, not a store: say which store
                raise InputError(f"the baseline: {exc}") from exc
            if broken_plugins is not None:  # a plugin broken for both stores is named once
                broken_plugins.extend(b for b in broken if b not in broken_plugins)
            freeze_costs(base)
            return evaluate_budgets(con, budgets, base, str(baseline))


def _distinct_stores(db: Path | str, baseline: Path | str) -> None:
    """A missing baseline is an InputError as a missing store is; the store itself given
    as its own baseline (a CI variable set twice) is a UsageError: it never regresses."""
    from tokaudit.store.connection import store_path

    path = Path(store_path(baseline))
    if not path.is_file():
        raise InputError(
            f"no baseline store at {path}: ingest the baseline run's logs into it first "
            f"(`tokaudit ingest LOGS --db {path}`)"
        )
    try:
        same = Path(store_path(db)).samefile(path)
    except OSError:
        same = False
    if same:
        raise UsageError(
            f"--baseline {baseline} is the store --db names: a store compared with itself "
            "never regresses; give the baseline run's store"
        )


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
    broken_plugins: list[tuple[str, str]]  # tokenizer plugins the recount skipped, and why


AUDIT_GROUPS = (["team"], ["model"], ["prompt"])


def audit(
    paths: list[str],
    db: Path | str | None = None,
    pricing: Path | None = None,
    top: int | None = 15,
    on_progress: ProgressCallback | None = None,
    overlay: Path | None = None,
    field_map: Path | None = None,
    config: Path | None = None,
    stdin: BinaryIO | None = None,
    settings: dict[str, Any] | None = None,
) -> AuditResult:
    """The one-shot main job: ingest, recount, price, break down and look for waste.

    The findings' thresholds are ``config``'s ``findings:`` section with ``settings`` over
    it, as in ``findings``."""
    options = _ingest_options(paths, "auto", field_map, config, stdin)
    thresholds = _thresholds(config, settings)
    _check_routing(thresholds, pricing, overlay, _routing_source(config, settings))
    with tempfile.TemporaryDirectory(prefix="tokaudit-") as tmp:
        target = db if db is not None else ":memory:"
        with priced_store(target, pricing, overlay) as con:
            if db is None:  # a throwaway store: keep it in memory, spill to the temp folder
                con.execute("SET temp_directory = ?", [tmp])
            loaded = ingest_paths(
                con, paths, "auto", on_progress, **options, remember=db is not None
            )
            recounted = recount(con, load_tokenizers(config))
            freeze_costs(con)
            sources = [f.source or str(Path(f.path).resolve()) for f in loaded.files]
            rejects = con.execute(
                """SELECT source_file, source_line, reason FROM rejects
                WHERE source_file IN (SELECT unnest(?)) ORDER BY source_file, source_line""",
                [sources],
            ).fetchall()
            return AuditResult(
                ingest=loaded,
                breakdowns=[with_credits(con, breakdown(con, g, top=top)) for g in AUDIT_GROUPS],
                findings=_findings(con, thresholds),
                rejects=[RejectSample(f, int(n), r) for f, n, r in rejects],
                db=None if db is None else str(db),
                broken_plugins=recounted.broken_plugins,
            )


def rule_catalogue() -> list[tuple[str, str, str]]:
    return [(r.rule_id, r.name, r.summary) for r in RULES]


def compare_report(
    db: Path | str,
    group_by: list[str],
    since: datetime | None = None,
    until: datetime | None = None,
    pricing: Path | None = None,
    overlay: Path | None = None,
    compare_pricing: str | Path | None = None,
    compare_at: datetime | None = None,
    config: Path | None = None,
    recount_texts: bool = True,
    broken_plugins: list[tuple[str, str]] | None = None,
) -> PricingComparison:
    """Spend per group with the current prices and with another table or instant.

    As ``report``: with ``recount_texts``, texts not counted yet are counted first
    (``counted_store``); requests logged without usage were otherwise unpriced
    (``not_recounted``) under both tables and left out of the comparison (QA). The
    comparison itself then runs on a read-only connection."""
    current = load_prices(pricing, overlay)
    other = table_from(compare_pricing if compare_pricing is not None else pricing)
    if overlay is not None:
        try:
            other = load_overlay(other, overlay)
        except PricingTableError as exc:  # it said "not in the price table": the current has it
            compared = compare_pricing if compare_pricing is not None else describe_table(pricing)
            raise PricingTableError(
                f"the overlay does not apply to the compared table {compared}: {exc}"
            ) from exc
    if recount_texts:
        with counted_store(db, pricing, overlay, config, True, broken_plugins):
            pass
    con = open_store_read_only(db)
    try:
        from tokaudit.pricing.compare import compare_pricing as compare_sql

        return compare_sql(con, current, other, group_by, since, until, compare_at)
    finally:
        con.close()
