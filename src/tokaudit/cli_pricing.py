"""``tokaudit pricing …``: validate, list, show, diff and sync the price tables.

Thin typer commands over ``tokaudit.pricing``; stdout carries data only, problems go to
stderr, and a table that fails validation exits 2.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from tokaudit.cli_common import err as _err
from tokaudit.cli_common import guard as _guard
from tokaudit.cli_common import out as _out
from tokaudit.cli_common import path_value, sub_app, text_path_value
from tokaudit.errors import ExitCode, TokauditError, UsageError
from tokaudit.report.renderers import csv_format, get_renderer, json_format, table
from tokaudit.report.renderers.common import money

pricing_app = sub_app(
    "pricing", "Validate, inspect, compare and refresh the versioned price tables."
)

TableOption = Annotated[
    str | None,
    typer.Option(
        "--pricing",
        envvar="TOKAUDIT_PRICING",
        parser=text_path_value("--pricing"),
        help="Table directory or git:REV[:PATH] (default: the embedded table).",
    ),
]
OverlayOption = Annotated[
    Path | None,
    typer.Option(
        "--overlay",
        envvar="TOKAUDIT_PRICING_OVERLAY",
        parser=path_value("--overlay"),
        metavar="<path>",
        help="Pricing overlay YAML (discounts, credits, private models).",
    ),
]
FormatOption = Annotated[str, typer.Option("--format", "-f", help="table, json, csv or markdown.")]
AtOption = Annotated[
    str | None, typer.Option("--at", help="UTC date or RFC 3339 instant (default: now).")
]


def _instant(value: str | None, option: str = "--at") -> datetime | None:
    if value is None:
        return None
    if value.strip().lower() == "now":
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise typer.BadParameter(
            f"{value!r} is not an ISO date or datetime", param_hint=option
        ) from exc
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _rows(fmt: str, columns: list[str], rows: list[tuple[Any, ...]], caption: str = "") -> None:
    """Rows with the caption naming the tables: under a table, in italics after Markdown,
    on stderr for CSV (whose lines are data rows only)."""
    renderer = _guard(lambda: get_renderer(fmt))
    if renderer is table:  # a missing price reads as a dash, as in Markdown (NULL is for sql)
        shown = [tuple("—" if v is None else v for v in row) for row in rows]
        _out(table.render_rows(columns, shown, color=False))
        if caption:
            _out(caption)
    elif renderer is csv_format:
        _out(renderer.render_rows(columns, rows))
        if caption:
            _err(caption.strip())
    else:
        _out(renderer.render_rows(columns, rows))
        if caption and fmt == "markdown":
            _out(f"\n_{caption.strip()}_\n")


def _table_caption(loaded: Any) -> str:
    """The table (and overlay, when one is applied) the prices shown come from."""
    o = loaded.overlay
    extra = "" if o is None else f" + overlay {o.name or o.path} (sha256 {o.sha256[:12]})"
    sha = loaded.table_sha256[:12]
    return f"prices: table {loaded.table_version} (sha256 {sha}){extra}, USD per 1M tokens\n"


def _load(pricing: str | None, overlay: Path | None) -> Any:
    from tokaudit.pricing.source import load_prices

    return _guard(lambda: load_prices(pricing, overlay))


@pricing_app.command("validate")
def validate(
    directory: Annotated[
        str | None,
        typer.Argument(
            help="Table directory or git:REV (default: the embedded one).",
            parser=text_path_value("DIRECTORY"),
        ),
    ] = None,
    overlay: OverlayOption = None,
) -> None:
    """Check schema, versions (overlaps, gaps), names, match rules and manifest hashes."""
    import duckdb

    from tokaudit.pricing.overlay import load_overlay
    from tokaudit.pricing.source import describe, inspect_from
    from tokaudit.pricing.store_tables import _check_rules, check_money

    loaded, problems = _guard(lambda: inspect_from(directory))
    where = describe(directory)  # what the problems are in: the table, or the overlay
    if loaded is not None and not problems:
        try:
            _check_rules(duckdb.connect(), loaded)
        except TokauditError as exc:
            problems.append(str(exc))
        if not problems:
            try:
                check_money(loaded)
            except TokauditError as exc:
                problems.append(str(exc))
        if overlay is not None and not problems:
            try:
                loaded = load_overlay(loaded, overlay)
                check_money(loaded)
            except TokauditError as exc:
                problems.append(str(exc))
                where = f"overlay {overlay} (on {where})"
    if problems or loaded is None:
        for problem in problems:
            _err(f"error: {problem}")
        _err(f"{where}: {len(problems)} problem(s)")
        raise typer.Exit(int(ExitCode.ERROR))
    files = len({m.file for m in loaded.models})
    extra = "" if loaded.overlay is None else f", overlay {loaded.overlay.path} ok"
    _out(
        f"ok: table {loaded.table_version} (sha256 {loaded.table_sha256}), "
        f"{len(loaded.models)} models in {files} files{extra}\n"
    )


@pricing_app.command("list")
def list_(
    pricing: TableOption = None,
    overlay: OverlayOption = None,
    at: AtOption = None,
    fmt: FormatOption = "table",
) -> None:
    """Every model with the prices in force (per 1M tokens) and their source."""
    from tokaudit.pricing.catalog import list_models

    loaded = _load(pricing, overlay)
    models = list_models(loaded, _instant(at))
    columns = [
        "provider",
        "model",
        "aliases",
        "version",
        "input",
        "cache_read",
        "output",
        "contexts",
        "source",
    ]
    rows: list[tuple[Any, ...]] = [
        (
            m.provider,
            m.model_id + (" (local)" if m.local else ""),
            ", ".join(m.aliases),
            m.version,
            None if m.input is None else money(m.input),
            None if m.cache_read is None else money(m.cache_read),
            None if m.output is None else money(m.output),
            ", ".join(m.contexts),
            m.source_url,
        )
        for m in models
    ]
    if fmt == "json":
        _out(
            json_format.dumps(
                {
                    "pricing": _pricing_dict(loaded),
                    "unit": "USD per 1,000,000 tokens",
                    # lists as lists (they were comma-joined strings), the local mark a key
                    "models": [
                        {
                            **dict(zip(columns, r, strict=True)),
                            "model": m.model_id,
                            "local": m.local,
                            "aliases": list(m.aliases),
                            "contexts": list(m.contexts),
                        }
                        for m, r in zip(models, rows, strict=True)
                    ],
                }
            )
        )
        return
    if fmt == "table":  # aliases and contexts are in `pricing show`; keep the URL whole
        keep = [i for i, c in enumerate(columns) if c not in ("aliases", "contexts")]
        columns = [columns[i] for i in keep]
        rows = [tuple(r[i] for i in keep) for r in rows]
    _rows(fmt, columns, rows, _table_caption(loaded))


def _pricing_dict(loaded: Any) -> dict[str, Any]:
    from tokaudit.models import OverlayInfo, PricingInfo
    from tokaudit.report.renderers.common import pricing_dict

    o = loaded.overlay
    info = PricingInfo(
        loaded.table_version,
        loaded.table_sha256,
        None if o is None else OverlayInfo(o.path, o.sha256, o.name),
    )
    return pricing_dict(info)


@pricing_app.command("show")
def show(
    model: Annotated[str, typer.Argument(help="A model name as logged (any alias or form).")],
    pricing: TableOption = None,
    overlay: OverlayOption = None,
    at: AtOption = None,
    provider: Annotated[
        str | None, typer.Option(help="The request's provider, for host-qualified names.")
    ] = None,
    vertex_location: Annotated[
        str | None, typer.Option(help="Vertex AI location of the endpoint (e.g. us-east5).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
) -> None:
    """What a request for MODEL at a date is charged, per context, with the source URL."""
    from tokaudit.pricing.catalog import show_model, version_label

    renderer = _guard(lambda: get_renderer(fmt, ("table", "json")))
    loaded = _load(pricing, overlay)
    result = _guard(lambda: show_model(loaded, model, _instant(at), provider, vertex_location))
    v = result.version
    head = {
        "name": result.name,
        "model": result.model.id,
        "provider": result.model.provider,
        "matched": result.matched,
        "route": result.route,
        "region": result.region,
        "implied_context": result.context,
        "at": result.at.isoformat(),
        "version": version_label(v),
        "source_url": v.source_url,
        "source_via": v.source_via,
        "file": result.model.file,
    }
    lines = [
        {
            "context": p.context,
            "key": p.key,
            "applies": "base" if p.above_tokens is None else f"total input > {p.above_tokens:,}",
            "usd_per_1m": money(p.usd_per_million),
            "checked": result.checked.get(p.context) or "",
        }
        for p in result.lines
    ]
    fees = [{"fee": k, "usd": money(f)} for k, f in v.fees.items()]
    if renderer is json_format:
        _out(
            json_format.dumps(
                {**head, "pricing": _pricing_dict(loaded), "prices": lines, "fees": fees}
            )
        )
        return
    _out("".join(f"{k}: {val}\n" for k, val in head.items() if val is not None))
    columns = ["context", "key", "applies", "usd_per_1m", "checked"]
    _out(table.render_rows(columns, [tuple(x[c] for c in columns) for x in lines], color=False))
    if fees:
        _out("fees: " + ", ".join(f"{f['fee']} {f['usd']} USD" for f in fees) + "\n")
    _out(_table_caption(loaded))


@pricing_app.command("diff")
def diff(
    old: Annotated[
        str,
        typer.Argument(
            help="Old table: directory or git:REV[:PATH].", parser=text_path_value("OLD")
        ),
    ],
    new: Annotated[
        str | None,
        typer.Argument(
            help="New table (default: the embedded one).", parser=text_path_value("NEW")
        ),
    ] = None,
    fmt: FormatOption = "table",
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="Exit 1 when the tables differ.")
    ] = False,
) -> None:
    """What changed between two tables: models, names, versions and every price key."""
    from tokaudit.pricing.diff import diff_tables
    from tokaudit.pricing.source import table_from

    a = _guard(lambda: table_from(old))
    b = _guard(lambda: table_from(new))
    result = diff_tables(a, b)
    _emit_diff(result, fmt)
    if exit_code and result.changes:
        raise typer.Exit(int(ExitCode.FINDINGS))


def _emit_diff(result: Any, fmt: str) -> None:
    from tokaudit.pricing.diff import DIFF_COLUMNS, diff_rows

    if fmt == "json":
        _out(
            json_format.dumps(
                {
                    "old": {
                        "source": result.old_source,
                        "table_version": result.old.table_version,
                        "sha256": result.old.sha256,
                    },
                    "new": {
                        "source": result.new_source,
                        "table_version": result.new.table_version,
                        "sha256": result.new.sha256,
                    },
                    "changes": [dict(zip(DIFF_COLUMNS, r, strict=True)) for r in diff_rows(result)],
                }
            )
        )
        return
    caption = (
        f"{len(result.changes)} change(s): {result.old_source} (table {result.old.table_version},"
        f" sha256 {result.old.sha256[:12]}) -> {result.new_source} (table "
        f"{result.new.table_version}, sha256 {result.new.sha256[:12]}); USD per 1M tokens\n"
    )
    _rows(fmt, DIFF_COLUMNS, diff_rows(result), caption)


@pricing_app.command("sync")
def sync(
    source: Annotated[
        str, typer.Option("--from", help="Where to refresh from: genai-prices.")
    ] = "genai-prices",
    pricing: Annotated[
        Path | None,
        typer.Option(
            "--pricing",
            envvar="TOKAUDIT_PRICING",
            help="Table directory to refresh.",
            parser=path_value("--pricing"),
            metavar="<path>",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write the refreshed table here (a new directory).",
            parser=path_value("--out"),
            metavar="<path>",
        ),
    ] = None,
    effective_from: Annotated[
        str | None,
        typer.Option(help="The day the new prices take effect (default: today, UTC)."),
    ] = None,
    fmt: FormatOption = "table",
) -> None:
    """Compare the table with genai-prices' bundled data; with --out, write a refreshed copy."""
    from tokaudit.pricing.sync import sync_from_genai_prices
    from tokaudit.pricing.table import load_price_table

    if source != "genai-prices":
        _guard(lambda: _raise(UsageError(f"--from {source!r}: only genai-prices is supported")))
    loaded = _guard(lambda: load_price_table(pricing))
    result = _guard(
        lambda: sync_from_genai_prices(loaded, out, _instant(effective_from, "--effective-from"))
    )
    columns = ["provider", "model", "status", "context", "tier", "key", "ours", "theirs"]
    rows: list[tuple[Any, ...]] = []
    for item in result.items:
        if not item.changes:
            rows.append((item.provider, item.model, item.status, None, None, None, None, None))
        for c in item.changes:
            ours = None if c.ours is None else money(c.ours)
            rows.append(
                (
                    item.provider,
                    item.model,
                    item.status,
                    c.context,
                    c.tier,
                    c.key,
                    ours,
                    money(c.theirs),
                )
            )
    updated = sum(1 for i in result.items if i.status == "updated")
    # models that differ but whose current version cannot be closed: named, not hidden
    # behind "0 model(s) differ" (QA)
    by_hand = [i for i in result.items if i.status == "skipped" and i.changes]
    for item in by_hand:
        _err(f"note: {item.model}: {len(item.changes)} price(s) differ, but {item.detail}")
    if result.written is not None and result.diff is not None:
        _err(
            f"wrote the refreshed table to {result.written}; review: tokaudit pricing diff "
            f"{loaded.directory} {result.written}"
        )
        _emit_diff(result.diff, fmt)
    else:
        more = f", {len(by_hand)} more to edit by hand" if by_hand else ""
        _rows(fmt, columns, rows, f"{updated} model(s) differ from {result.source}{more}\n")
        if updated:
            _err("run again with --out DIR to write a refreshed table for review")


def _raise(exc: Exception) -> None:
    raise exc


def report_comparison(
    db: Path,
    group_by: list[str],
    since: datetime | None,
    until: datetime | None,
    fmt: str,
    pricing: Path | None,
    overlay: Path | None,
    compare_pricing: str | None,
    compare_at: str | None,
    strict: bool,
    recount: bool = True,
    config: Path | None = None,
) -> None:
    """``tokaudit report --compare-pricing OLD [--compare-at WHEN]``; texts not counted yet
    are counted first, as ``report`` does (``--no-recount``: never)."""
    from tokaudit import api
    from tokaudit.cli_recount import warn_after_counting
    from tokaudit.pricing.compare import (
        comparison_caption,
        comparison_dict,
        comparison_rows,
        comparison_rows_for_people,
    )

    renderer = _guard(lambda: get_renderer(fmt))
    when = _instant(compare_at, "--compare-at")
    broken: list[tuple[str, str]] = []
    result = _guard(
        lambda: api.compare_report(
            db,
            group_by,
            since,
            until,
            pricing,
            overlay,
            compare_pricing,
            when,
            config,
            recount,
            broken,
        )
    )
    if renderer is json_format:
        _out(json_format.dumps(comparison_dict(result)))
    elif renderer is csv_format:  # data rows only, as the spend report's CSV; tables on stderr
        columns, rows = comparison_rows(result)
        _rows(fmt, columns, rows[:-1], comparison_caption(result))
    else:
        columns, rows = comparison_rows_for_people(result)
        _rows(fmt, columns, rows, comparison_caption(result))  # under a table, after Markdown
    if result.totals.excluded_requests:
        _err(
            f"note: {result.totals.excluded_requests} request(s) unpriced under either table "
            f"({result.status_changes} of them priced under the other) are left out of both "
            "costs and the delta (see excluded_requests)"
        )
    _guard(lambda: warn_after_counting(db, config, recount, broken))
    unpriced = result.totals.unpriced_requests + result.totals.compare_unpriced_requests
    if strict and unpriced:
        _err("error: --strict: unpriced requests (see the unpriced columns)")
        raise typer.Exit(int(ExitCode.ERROR))
