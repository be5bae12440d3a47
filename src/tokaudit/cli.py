"""The command line: parse, call the library, pick a renderer, map errors to exit codes.

stdout carries data only; progress, counts of a side job and errors go to stderr.
Exit codes: 0 ok, 1 budget exceeded (``check``) or findings with ``--fail-on-findings``,
2 usage, configuration or input error.
"""

from __future__ import annotations

import itertools
import os
import shlex
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from tokaudit import __version__, api
from tokaudit.cli_common import (
    TokenizerConfigOption,
    in_ci,
    out_complete,
    path_value,
    render,
    text_path_value,
)
from tokaudit.cli_common import color as _color
from tokaudit.cli_common import err as _err
from tokaudit.cli_common import guard as _guard
from tokaudit.cli_common import out as _out
from tokaudit.cli_pricing import pricing_app
from tokaudit.cli_recount import (
    report_recount,
    tokenizers_app,
    warn_after_counting,
    warn_broken_plugins,
    warn_uncounted,
)
from tokaudit.errors import ExitCode
from tokaudit.ingest import FileResult, IngestResult
from tokaudit.ingest.attribution import config_sets_nothing, default_config_path
from tokaudit.ingest.loader import ProgressCallback
from tokaudit.ingest.registry import FORMATS
from tokaudit.models import BudgetReport
from tokaudit.report.breakdown import parse_group_by
from tokaudit.report.renderers import csv_format, get_renderer, json_format, table
from tokaudit.report.renderers.common import (
    breakdown_dict,
    display_usd,
    exceeded_lines,
    findings_dict,
    grounding_note,
    unpriced_text,
)

app = typer.Typer(
    name="tokaudit",
    help="Audit LLM token spend: where the money went, whether it was priced right, "
    "what was wasted.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _expand_db(db: Path | None) -> Path | None:
    """``--db`` with a leading ``~`` expanded, as DuckDB opens it (store.store_path)."""
    return db.expanduser() if db is not None else None


DbOption = Annotated[
    Path,
    typer.Option(
        "--db",
        envvar="TOKAUDIT_DB",
        help="DuckDB store file.",
        callback=_expand_db,
        parser=path_value("--db"),
        metavar="<path>",
    ),
]
PricingOption = Annotated[
    Path | None,
    typer.Option(
        "--pricing",
        envvar="TOKAUDIT_PRICING",
        parser=path_value("--pricing"),
        metavar="<path>",
        help="Pricing table directory or git:REV[:PATH] (default: the embedded table).",
    ),
]
OverlayOption = Annotated[
    Path | None,
    typer.Option(
        "--overlay",
        envvar="TOKAUDIT_PRICING_OVERLAY",
        parser=path_value("--overlay"),
        metavar="<path>",
        help="Pricing overlay YAML: negotiated discounts, credits, private model prices.",
    ),
]
StrictOption = Annotated[
    bool,
    typer.Option(
        "--strict",
        envvar="TOKAUDIT_STRICT",
        help="Exit 2 when any request is unpriced (unknown model, version, context or key).",
    ),
]
DEFAULT_DB = Path("tokaudit.duckdb")
PATHS_HELP = "Log files, directories, globs (.gz and .zst ok)."
MapOption = Annotated[
    Path | None,
    typer.Option(
        "--map",
        parser=path_value("--map"),
        metavar="<path>",
        help="YAML field map: read CSV, JSON Lines or Parquet exports (docs/formats.md).",
    ),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        envvar="TOKAUDIT_CONFIG",
        parser=path_value("--config"),
        metavar="<path>",
        help="Attribution rules (docs/attribution.md); default ./tokaudit.yaml if present.",
    ),
]
ReadRecountOption = Annotated[
    bool,
    typer.Option(
        "--recount/--no-recount",
        help="Count texts the store has not counted yet first (only then is the store "
        "opened writable; --no-recount: never, use the counts already stored).",
    ),
]


@contextmanager
def _progress(label: str) -> Iterator[ProgressCallback | None]:
    """A progress bar on an interactive terminal; nothing in CI or when piped."""
    if not sys.stderr.isatty() or in_ci():
        yield None
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import Progress

    # on stderr, the terminal tested above: rich's default console is stdout, and drawing
    # there put a stray newline before the data when stdout was redirected
    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int, path: Path) -> None:
            # a file name is data, not rich markup: ``x[1]:x:.jsonl`` shows as it is
            name = escape(path.name)
            bar.update(task, completed=done, total=total, description=f"{label} {name}")

        yield update


def _parse_time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise typer.BadParameter(
            f"{value!r} is not an ISO date or datetime", param_hint=option
        ) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


_RULES_STATUS = {"changed": "loaded under other rules", "unrecorded": "rules not recorded"}


def _file_status(f: FileResult) -> str:
    if f.skipped:
        notes = [f"DAMAGED: {f.damaged}"] if f.damaged else []
        notes += [_RULES_STATUS[f.rules]] if f.rules else []
        notes += ["cannot be reloaded"] if f.not_reloadable and f.rules else []
        return "unchanged, skipped" + (f" ({'; '.join(notes)})" if notes else "")
    if f.error:
        return f"ERROR: {f.error}"
    done = "reloaded" if f.reloaded else "ok"
    return f"DAMAGED: {f.damaged}" if f.damaged else done


def _input_errors(result: IngestResult) -> list[str]:
    """One stderr line per file that could not be read whole (exit 2)."""
    return [f"error: {f.path}: {f.error}" for f in result.errors] + [
        f"error: {f.path}: {f.damaged}; the lines before the damage were loaded, and the "
        "damage is kept in rejects"
        for f in result.damaged
    ]


def _ingest_summary(result: IngestResult) -> list[list[Any]]:
    return [
        [
            f.path,
            f.format or "?",
            f.records_read,
            f.loaded,
            f.duplicates,
            f.rejected,
            f.non_requests,
            _file_status(f),
        ]
        for f in result.files
    ]


def _formats_chosen(result: IngestResult, limit: int = 20) -> list[str]:
    """Which format each file was read as (auto-detection decides per file)."""
    shown = [f for f in result.files if f.format]
    lines = [f"read as {f.format}: {f.path}" for f in shown[:limit]]
    if len(shown) > limit:
        counts = Counter(str(f.format) for f in shown[limit:])
        lines.append(
            f"… and {len(shown) - limit} more: "
            + ", ".join(f"{n} as {name}" for name, n in counts.most_common())
        )
    return lines


# read = loaded + duplicates + rejected + non_requests (valid lines that are not model
# calls, such as Claude Code user lines)
INGEST_COLUMNS = [
    "file",
    "format",
    "read",
    "loaded",
    "duplicates",
    "rejected",
    "non_requests",
    "status",
]
INGEST_COUNTS = ("records_read", "loaded", "duplicates", "rejected", "non_requests")


def _ingest_counts_line(result: IngestResult) -> str:
    return (
        f"{len(result.files)} file(s): {result.total('records_read')} records read, "
        f"{result.total('loaded')} loaded, {result.total('duplicates')} duplicates, "
        f"{result.total('rejected')} rejected"
        + (
            f", {result.total('non_requests')} not model calls"
            if result.total("non_requests")
            else ""
        )
        + (f", {len(result.errors)} file(s) unreadable" if result.errors else "")
        + (
            f", {len(result.damaged)} damaged archive(s) read up to the damage"
            if result.damaged
            else ""
        )
    )


def _conflict_warnings(result: IngestResult) -> list[str]:
    """Duplicates that disagree with the record kept: worth a look, never silent."""
    return [
        f"warning: {f.path}: {f.conflicting} duplicate record(s) differ from the copy already "
        "loaded (model, token counts, batch or service tier); the first loaded is kept"
        for f in result.files
        if f.conflicting
    ]


def _attribution_warnings(result: IngestResult, config: Path | None) -> list[str]:
    """A config that sets nothing (empty, or comments only: a file saved before it was
    written), and loaded rows where a rule's metadata source held a list or object it could
    not use (the next source decided): both were silent."""
    lines = []
    if config is not None and config_sets_nothing(config):
        lines.append(
            f"warning: {config}: the config is empty (or only comments) and sets nothing: "
            "no attribution rule applies (docs/attribution.md)"
        )
    lines.extend(
        f"warning: {f.path}: {f.unusable_attribution} request(s) had a list or object where "
        f"an attribution rule ({config}) reads a metadata key: not used as a value, the "
        "next source decided (docs/attribution.md)"
        for f in result.files
        if f.unusable_attribution
    )
    return lines


def _absent_column_warnings(result: IngestResult) -> list[str]:
    """--map: an optional mapped column (or a ``metadata:`` one) that no record of a file
    has, one line per column: a typo (``team: tema``) read as empty without a word. The
    files are counted and the first few named: a line per file buried every other
    diagnostic under thousands when a directory's exports all lack a column."""
    lacking: dict[tuple[str, str], list[FileResult]] = {}
    for f in result.files:
        if not f.error:
            for absent in f.absent_columns:
                lacking.setdefault(absent, []).append(f)
    return [
        f"warning: {target}: column {column!r} is in no record of "
        + (files[0].path if len(files) == 1 else f"{len(files)} files ({_named(files)})")
        + ("; nothing of it kept in metadata" if target == "metadata" else "; read as empty")
        + (_top_level_hint(column) if target == "metadata" else "")
        for (target, column), files in lacking.items()
    ]


def _top_level_hint(column: str) -> str:
    """A dotted ``metadata:`` entry names a whole top-level column, not a path into one (a
    mapped ``usage.in`` listed there kept nothing, without a word)."""
    if "." not in column:
        return ""
    head = column.split(".", 1)[0]
    return f" (metadata: names whole top-level columns: list {head!r} to keep that object)"


def _format_skip_warnings(result: IngestResult, fmt: str, reload: bool) -> list[str]:
    """Unchanged files skipped although --format names another format than they were read
    as: the re-run looked like it re-read them and changed nothing (QA)."""
    if fmt == "auto":
        return []
    return [
        f"warning: {f.path}: unchanged since it was read as {f.format}, so --format {fmt} "
        "does not apply to it; "
        + (
            "ingest it into a new store to read it as that"
            if f.not_reloadable
            else "add --reload to read it again as that"
        )
        for f in result.files
        if f.skipped and f.format and f.format != fmt and not (reload and f.not_reloadable)
    ]


def _named(files: list[FileResult], limit: int = 3) -> str:
    shown = ", ".join(f.path for f in files[:limit])
    return shown + (f" and {len(files) - limit} more" if len(files) > limit else "")


def _rules_and_map_warnings(result: IngestResult, reload: bool, config: Path | None) -> list[str]:
    """What ``ingest`` and ``audit`` say of the rules and map the files were read with:
    files read under other rules, mapped columns no record has, unusable attribution."""
    return [
        *_rules_warnings(result, reload),
        *_absent_column_warnings(result),
        *_attribution_warnings(result, config),
    ]


def _rules_warnings(result: IngestResult, reload: bool) -> list[str]:
    """Unchanged files skipped although the attribution rules or the field map changed
    since they were loaded: their stored rows keep the old teams (docs/attribution.md)."""
    lines = []
    changed = [f for f in result.files if f.rules == "changed" and not f.not_reloadable]
    if changed:
        lines.append(
            f"warning: {len(changed)} unchanged file(s) skipped were loaded under other "
            "attribution rules (tokaudit.yaml) or field map (--map) than this run's, and "
            "their rows keep the teams, users and projects those gave: `tokaudit ingest "
            f"--reload` reads them again under the current ones ({_named(changed)})"
        )
    unknown = [f for f in result.files if f.rules == "unrecorded" and not f.not_reloadable]
    if unknown:
        lines.append(
            f"warning: {len(unknown)} unchanged file(s) skipped were loaded before the store "
            "recorded the attribution rules and field map they were read with: if "
            "tokaudit.yaml or the --map file changed since, `tokaudit ingest --reload` reads "
            f"them again under the current ones ({_named(unknown)})"
        )
    refused = [f for f in result.files if f.not_reloadable and (reload or f.rules)]
    if refused:
        lines.append(
            f"warning: {len(refused)} unchanged {refused[0].format} file(s) skipped cannot be "
            "read again in place (their records merge with what earlier files loaded): to "
            "apply the current rules, ingest them into a new store "
            f"({_named(refused)})"
        )
    return lines


@app.command()
def ingest(
    paths: Annotated[list[str], typer.Argument(help=PATHS_HELP)],
    db: DbOption = DEFAULT_DB,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help=f"auto (detected per file) or one of: {', '.join(FORMATS)} (docs/formats.md).",
        ),
    ] = "auto",
    output: Annotated[str, typer.Option("--output", "-o", help="table or json.")] = "table",
    pricing: PricingOption = None,
    overlay: OverlayOption = None,
    field_map: MapOption = None,
    config: ConfigOption = None,
    recount: Annotated[
        bool,
        typer.Option(
            "--recount/--no-recount",
            help="Recount new prompt texts after loading (--no-recount: later, with "
            "`tokaudit recount`; findings and audit recount what they need).",
        ),
    ] = True,
    reload: Annotated[
        bool,
        typer.Option(
            "--reload",
            help="Read files already loaded again under the current attribution rules and "
            "--map, replacing their rows (after editing tokaudit.yaml; docs/attribution.md).",
        ),
    ] = False,
) -> None:
    """Load request logs into the store; print what was read, loaded and rejected.

    `-` reads standard input.
    """
    renderer = _guard(lambda: get_renderer(output, ("table", "json"), "--output"))
    settings = default_config_path(config)
    with _progress("ingesting") as progress:
        result = _guard(
            lambda: api.ingest(
                paths,
                db,
                fmt,
                pricing,
                progress,
                overlay,
                field_map=field_map,
                config=settings,
                recount_texts=False,
                reload=reload,
            )
        )
        # recounted here rather than inside api.ingest: its result names broken plugins
        recounted = _guard(lambda: api.recount_store(db, settings)) if recount else None
    rows = _ingest_summary(result)
    if renderer is json_format:
        _out(
            json_format.dumps(
                {
                    "db": str(db),
                    "files": [
                        {**dict(zip(INGEST_COLUMNS, r, strict=True)), "rules": f.rules}
                        for r, f in zip(rows, result.files, strict=True)
                    ],
                    "totals": {k: result.total(k) for k in INGEST_COUNTS},
                    # unchanged files skipped whose rows were attributed under other (or
                    # unrecorded) rules; --reload reads them again
                    "skipped_under_other_rules": sum(1 for f in result.files if f.rules),
                    "reloaded": sum(1 for f in result.files if f.reloaded and not f.error),
                }
            )
        )
    else:
        _out(table.render_rows(INGEST_COLUMNS, [tuple(r) for r in rows], color=_color()))
        _out(_ingest_counts_line(result) + "\n")
    for line in _conflict_warnings(result):
        _err(line)
    for line in _format_skip_warnings(result, fmt, reload):
        _err(line)
    for line in _rules_and_map_warnings(result, reload, settings):
        _err(line)
    if recounted is not None:
        warn_broken_plugins(recounted.broken_plugins)
    if result.total("rejected"):
        _err(
            "rejected lines are kept in the rejects table: tokaudit sql --db "
            f'{shlex.quote(str(db))} "SELECT * FROM rejects"'
        )
    for line in _input_errors(result):  # diagnostics on stderr too: stdout may be piped away
        _err(line)
    if result.errors or result.damaged:
        raise typer.Exit(int(ExitCode.ERROR))


@app.command()
def report(
    db: DbOption = DEFAULT_DB,
    by: Annotated[
        str,
        typer.Option(
            "--by",
            help="team, model, prompt, user, feature, project, environment, day, week, "
            "month, provider, priced_model; comma-separated (day, week and month alone: in "
            "time order).",
        ),
    ] = "team",
    since: Annotated[str | None, typer.Option(help="From this UTC date/time (inclusive).")] = None,
    until: Annotated[str | None, typer.Option(help="Until this UTC date/time (exclusive).")] = None,
    top: Annotated[int | None, typer.Option(min=1, help="Show the N costliest rows.")] = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="table, json, csv or markdown.")
    ] = "table",
    pricing: PricingOption = None,
    overlay: OverlayOption = None,
    strict: StrictOption = False,
    compare_pricing: Annotated[
        str | None,
        typer.Option(
            "--compare-pricing",
            parser=text_path_value("--compare-pricing"),
            help="Also price every request with this table (directory or git:REV) and show "
            "the dollar difference per group.",
        ),
    ] = None,
    compare_at: Annotated[
        str | None,
        typer.Option(
            "--compare-at",
            help="Price the comparison with the versions in force at this UTC date or 'now' "
            "(what these requests would cost at today's prices).",
        ),
    ] = None,
    show: Annotated[
        str,
        typer.Option(
            "--show",
            help="spend (default) or recount: reported vs recounted tokens and dollars.",
        ),
    ] = "spend",
    recount: ReadRecountOption = True,
    config: TokenizerConfigOption = None,
) -> None:
    """Cost breakdown by team, model, prompt, user, feature, project, environment, day, week,
    month, provider or priced_model (--by)."""
    group_by = _guard(lambda: parse_group_by(by))
    renderer = _guard(lambda: get_renderer(fmt))
    start, end = _parse_time(since, "--since"), _parse_time(until, "--until")
    _guard(lambda: _require_store(db))
    if show not in ("spend", "recount"):
        _err(f"error: --show {show!r}: choose spend or recount")
        raise typer.Exit(int(ExitCode.ERROR))
    comparing = compare_pricing is not None or compare_at is not None
    # options that would otherwise be ignored without a word
    if show == "recount" and comparing:
        _err(
            "error: --show recount compares token counts; --compare-pricing/--compare-at "
            "compare prices: run them as two reports"
        )
        raise typer.Exit(int(ExitCode.ERROR))
    if top is not None and (show == "recount" or comparing):
        _err(
            "error: --top applies to the spend breakdown, not to --show recount or "
            "--compare-pricing/--compare-at (their rows are every group)"
        )
        raise typer.Exit(int(ExitCode.ERROR))
    if show == "recount":
        report_recount(
            db, group_by, start, end, fmt, pricing, overlay, recount, default_config_path(config)
        )
        if strict:  # as the spend report: unpriced requests make the dollar columns partial
            unpriced = _guard(
                lambda: api.report(
                    db, group_by, start, end, None, pricing, overlay, recount_texts=False
                )
            )
            if unpriced.unpriced:
                _strict_exit(unpriced.unpriced)
        return
    if comparing:
        from tokaudit.cli_pricing import report_comparison

        report_comparison(
            db,
            group_by,
            start,
            end,
            fmt,
            pricing,
            overlay,
            compare_pricing,
            compare_at,
            strict,
            recount,
            default_config_path(config),
        )
        return
    broken: list[tuple[str, str]] = []
    settings = default_config_path(config)
    result = _guard(
        lambda: api.report(
            db, group_by, start, end, top, pricing, overlay, settings, recount, broken
        )
    )
    render(renderer, "breakdown", result)
    _guard(lambda: warn_after_counting(db, settings, recount, broken))
    if renderer is csv_format:
        _csv_report_notes(result)
    elif result.unpriced and renderer is not table:
        _err(
            f"warning: {sum(u.requests for u in result.unpriced)} unpriced request(s) are "
            'not in the totals (see "unpriced")'
        )
    if strict and result.unpriced:
        _strict_exit(result.unpriced)


def _csv_report_notes(result: Any) -> None:
    """CSV lines are data rows only, so what other formats show beside them goes to stderr:
    the rows --top left out (they are in no line of the file), each unpriced model, and
    Gemini grounding, whose fee is in no cost."""
    if result.omitted_rows:
        shown = [row.totals.cost_usd for row in result.rows if row.totals.cost_usd is not None]
        total = result.totals.cost_usd
        rest = f" ({display_usd(total - sum(shown))} of {display_usd(total)})" if total else ""
        _err(f"note: --top: {result.omitted_rows} more row(s) not in the CSV{rest}")
    for u in result.unpriced:
        _err(f"warning: unpriced, in no cost: {unpriced_text(u)}")
    if note := grounding_note(result):
        _err(f"note: {note}")


def _strict_exit(unpriced: list[Any]) -> None:
    """--strict: name every unpriced model and its reason on stderr, then exit 2."""
    for u in unpriced:
        _err(f"unpriced: {unpriced_text(u)}")
    _err("error: --strict: unpriced requests (see above)")
    raise typer.Exit(int(ExitCode.ERROR))


def _require_store(db: Path) -> None:
    from tokaudit.errors import InputError

    if not db.is_file():
        raise InputError(f"no store at {db}: run `tokaudit ingest LOGS --db {db}` first")


@app.command()
def findings(
    db: DbOption = DEFAULT_DB,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="table, json, csv or markdown.")
    ] = "table",
    fail_on_findings: Annotated[
        bool,
        typer.Option(
            "--fail-on-findings",
            envvar="TOKAUDIT_FAIL_ON_FINDINGS",
            help="Exit 1 when there is any finding.",
        ),
    ] = False,
    pricing: PricingOption = None,
    overlay: OverlayOption = None,
    strict: StrictOption = False,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar="TOKAUDIT_CONFIG",
            parser=path_value("--config"),
            metavar="<path>",
            help="tokaudit.yaml whose findings: section sets the rules' thresholds "
            "(docs/findings.md); default ./tokaudit.yaml if present.",
        ),
    ] = None,
    recount: ReadRecountOption = True,
) -> None:
    """Waste findings with the dollars that could be saved."""
    renderer = _guard(lambda: get_renderer(fmt))
    settings = default_config_path(config)
    _guard(lambda: _require_store(db))
    result = _guard(
        lambda: api.findings(db, pricing, overlay=overlay, config=settings, recount_texts=recount)
    )
    render(renderer, "findings", result)
    _guard(lambda: warn_after_counting(db, settings, recount, result.broken_plugins))
    if result.unpriced:
        _err(
            f"warning: {sum(u.requests for u in result.unpriced)} unpriced request(s) are left "
            "out of the dollar findings (D15 still checks their tokens): "
            + "; ".join(f"{u.model} x{u.requests} ({u.reason})" for u in result.unpriced)
        )
        if strict:
            _strict_exit(result.unpriced)
    if fail_on_findings and result.findings:
        _err(f"error: --fail-on-findings: {len(result.findings)} finding(s)")
        raise typer.Exit(int(ExitCode.FINDINGS))


@app.command()
def check(
    budget: Annotated[
        Path,
        typer.Option(
            "--budget",
            envvar="TOKAUDIT_BUDGET",
            help="Budget YAML file.",
            parser=path_value("--budget"),
            metavar="<path>",
        ),
    ],
    db: DbOption = DEFAULT_DB,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="table, json, csv or markdown.")
    ] = "table",
    no_fail: Annotated[
        bool,
        typer.Option(
            "--no-fail",
            envvar="TOKAUDIT_NO_FAIL",
            help="Report a broken budget but exit 0 (rollout); errors and --strict still exit 2.",
        ),
    ] = False,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            envvar="TOKAUDIT_STRICT",
            help="Exit 2 when spend in a budget's scope is unpriced (in --db or --baseline).",
        ),
    ] = False,
    pricing: PricingOption = None,
    overlay: OverlayOption = None,
    recount: ReadRecountOption = True,
    config: TokenizerConfigOption = None,
    baseline: Annotated[
        Path | None,
        typer.Option(
            "--baseline",
            parser=path_value("--baseline"),
            metavar="<path>",
            help="The store of a baseline run (main's) that budgets with max_increase_pct "
            "compare with: whole stores, priced with the same --pricing and --overlay.",
            callback=_expand_db,
        ),
    ] = None,
) -> None:
    """The CI gate: exit 1 when any budget is exceeded, 0 otherwise.

    A budget limits spend per period (max_cost_usd), the average cost of a request per
    period (max_cost_per_request_usd), or, with --baseline STORE (e.g. main's run), the
    increase over that store in % (max_increase_pct with metric: cost, cost_per_request,
    input_tokens_per_request or output_tokens_per_request), whole stores compared.
    """
    renderer = _guard(lambda: get_renderer(fmt))
    _guard(lambda: _require_store(db))
    broken: list[tuple[str, str]] = []
    settings = default_config_path(config)
    result = _guard(
        lambda: api.check(db, budget, pricing, overlay, settings, recount, broken, baseline)
    )
    render(renderer, "budget", result)
    _guard(lambda: warn_after_counting(db, settings, recount, broken))
    if result.baseline is not None and not recount:
        _guard(lambda: warn_uncounted(Path(result.baseline or ""), settings))
    _budget_warnings(budget, baseline, result)
    for line in exceeded_lines(result):
        _err(f"budget exceeded: {line}")
    unpriced = sum(
        o.unpriced_requests + (o.baseline.unpriced_requests if o.baseline else 0)
        for o in result.outcomes
    )
    if strict and unpriced:
        _err("error: --strict: unpriced requests (see above)")
        raise typer.Exit(int(ExitCode.ERROR))
    if result.violated and not no_fail:
        raise typer.Exit(int(ExitCode.FINDINGS))


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="One read-only SQL statement.")],
    db: DbOption = DEFAULT_DB,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, json or csv.")] = "table",
    pricing: PricingOption = None,
    overlay: OverlayOption = None,
) -> None:
    """Run read-only SQL on the store (tables: requests, rejects, request_costs, ...)."""
    renderer = _guard(lambda: get_renderer(fmt, ("table", "json", "csv")))
    with ExitStack() as stack:
        columns, batches = _guard(
            lambda: stack.enter_context(api.stream_query(db, query, pricing, overlay))
        )
        if renderer is not table:  # CSV and JSON are rendered a batch at a time, and
            # written once the query has completed: all of the result or nothing
            out_complete(renderer.stream_rows(columns, batches))
            return
        rows: list[tuple[Any, ...]] = []
        for batch in _guard(lambda: list(itertools.islice(batches, TABLE_BATCHES))):
            rows.extend(batch)
        # the rows past the table are read to the end (and dropped): a query failing on a
        # late row is an error, never a table of its first rows and exit 0
        more = 0
        while (rest := _guard(lambda: next(batches, None))) is not None:
            more += len(rest)
    render(renderer, "rows", columns, rows)
    if more:  # a table of a million rows took minutes and held them all
        _err(
            f"note: the table shows the first {len(rows):,} of {len(rows) + more:,} rows; "
            "use -f csv or -f json for all of them"
        )


def _budget_warnings(budget: Path, baseline: Path | None, result: BudgetReport) -> None:
    """stderr: what passes without being checked (no budgets, a scope matching nothing, a
    relative budget not compared), and unpriced requests in scope, in either store."""
    from tokaudit.budget import unmatched_scope_warnings
    from tokaudit.budget.evaluate import NO_MATCH

    if not result.outcomes:  # `budgets: []`: a gate that checks nothing must say so
        _err(f"warning: {budget}: no budgets; the gate checks nothing")
    if baseline is not None and not any(o.relative for o in result.outcomes):
        _err(f"warning: --baseline {baseline}: no budget compares with it (max_increase_pct)")
    for line in unmatched_scope_warnings(result):  # a typo such as team: serach
        _err(f"warning: {line}")
    for o in result.outcomes:
        if o.not_compared and o.not_compared != NO_MATCH:  # NO_MATCH: warned just above
            _err(f"warning: budget {o.name!r}: not compared, it passes: {o.not_compared}")
    for o in result.outcomes:
        sides = [("", o.unpriced_requests, o.unpriced_models)]
        if o.baseline is not None:
            b = o.baseline
            sides.append((" of the baseline", b.unpriced_requests, b.unpriced_models))
        # a token metric counts their tokens: only their cost is unknown
        left_out = "not counted" if "tokens" not in o.metric else "not counted (their tokens are)"
        for where, count, models in sides:
            if count:
                _err(
                    f"warning: budget {o.name!r}: {count} request(s) in scope{where} are "
                    f"unpriced; their cost is unknown and {left_out}: "
                    + "; ".join(unpriced_text(u) for u in models)
                )


# `sql -f table` shows at most this many batches of rows (sql.BATCH_ROWS each)
TABLE_BATCHES = 1


@app.command()
def recount(db: DbOption = DEFAULT_DB, config: TokenizerConfigOption = None) -> None:
    """Recount prompt and reply tokens for requests that have text and no current recount."""
    _guard(lambda: _require_store(db))
    result = _guard(lambda: api.recount_store(db, default_config_path(config)))
    _out(f"{result.texts_counted} text(s) counted, {result.requests_updated} request(s) updated\n")
    warn_broken_plugins(result.broken_plugins)


_INGEST_FORMAT_HINT = "; pass --format"


def _audit_hint(text: str) -> str:
    """An ingest message as audit words it: audit's --format is the output format, so an
    undetectable file's hint points to ingest, the one command that forces a log format."""
    if text.endswith(_INGEST_FORMAT_HINT):
        return text.removesuffix(_INGEST_FORMAT_HINT) + (
            "; load it with `tokaudit ingest --format FORMAT`"
        )
    return text


@app.command()
def audit(
    paths: Annotated[list[str], typer.Argument(help=PATHS_HELP)],
    db: Annotated[
        Path | None,
        typer.Option(
            "--db",
            envvar="TOKAUDIT_DB",
            parser=path_value("--db"),
            metavar="<path>",
            help="Keep the store here (default: temporary).",
            callback=_expand_db,
        ),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, json or markdown.")] = "table",
    top: Annotated[int, typer.Option(min=1, help="Rows per breakdown.")] = 15,
    pricing: PricingOption = None,
    overlay: OverlayOption = None,
    strict: StrictOption = False,
    field_map: MapOption = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar="TOKAUDIT_CONFIG",
            parser=path_value("--config"),
            metavar="<path>",
            help="Attribution rules (docs/attribution.md) and finding thresholds (its "
            "findings: section, docs/findings.md); default ./tokaudit.yaml if present.",
        ),
    ] = None,
) -> None:
    """Ingest logs and print per-team, per-model and per-prompt spend and waste findings.

    Informational: exits 0 whatever it finds (2 with --strict and unpriced requests); use
    `check` as the CI gate.
    """
    renderer = _guard(lambda: get_renderer(fmt, ("table", "json", "markdown")))
    settings = default_config_path(config)
    with _progress("ingesting") as progress:
        result = _guard(
            lambda: api.audit(
                paths, db, pricing, top, progress, overlay, field_map=field_map, config=settings
            )
        )
    for line in _formats_chosen(result.ingest):
        _err(line)
    _err(_ingest_counts_line(result.ingest))
    for line in _conflict_warnings(result.ingest):
        _err(line)
    # (audit --db into a store: the rules the store's files were read with)
    for line in _rules_and_map_warnings(result.ingest, False, settings):
        _err(line)
    warn_broken_plugins(result.broken_plugins)
    for line in _input_errors(result.ingest):
        _err(_audit_hint(line))
    if renderer is json_format:
        _out(
            json_format.dumps(
                {
                    "ingest": {k: result.ingest.total(k) for k in INGEST_COUNTS},
                    # files not read whole (the reason the exit code is 2), as ingest shows
                    "file_errors": [
                        {"file": f.path, "status": _file_status(f)}
                        for f in result.ingest.files
                        if f.error or f.damaged
                    ],
                    "breakdowns": [breakdown_dict(b) for b in result.breakdowns],
                    "findings": findings_dict(result.findings),
                    "rejects": [
                        {
                            "file": r.source_file,
                            "line": r.source_line,
                            "reason": _audit_hint(r.reason),
                        }
                        for r in result.rejects
                    ],
                }
            )
        )
    elif renderer is table:
        parts: list[Any] = []
        for b in result.breakdowns:
            parts.append(table.breakdown_table(b))
        unpriced = table.unpriced_table(result.breakdowns[0])
        if unpriced is not None:
            parts.append(unpriced)
        parts.append(
            table.findings_table(result.findings)
            if result.findings.findings
            else table.no_findings_line(result.findings)
        )
        _out(table.render_audit(parts, color=_color()))
    else:
        text = "".join(renderer.render_breakdown(b) + "\n" for b in result.breakdowns)
        _out(text + renderer.render_findings(result.findings))
    if result.rejects:
        # a file that could not be read (or its format told) is kept as a reject at line 0:
        # counted apart, as the counts line counts it (unreadable, not a rejected line)
        whole_files = sum(1 for r in result.rejects if not r.source_line)
        lines = len(result.rejects) - whole_files
        _err(
            f"{lines} line(s) rejected"
            + (f" and {whole_files} file(s) not read" if whole_files else "")
            + ", kept with their reason:"
        )
        for r in result.rejects[:10]:
            _err(f"  {r.source_file}:{r.source_line}: {_audit_hint(r.reason)}")
        if len(result.rejects) > 10:
            _err(f"  … {len(result.rejects) - 10} more (keep them with --db and query rejects)")
    if result.ingest.errors or result.ingest.damaged:
        raise typer.Exit(int(ExitCode.ERROR))
    if strict and result.breakdowns and result.breakdowns[0].unpriced:
        _strict_exit(result.breakdowns[0].unpriced)


# `tokaudit pricing validate|list|show|diff|sync` (cli_pricing.py).
app.add_typer(pricing_app, name="pricing")
app.add_typer(tokenizers_app, name="tokenizers")


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    if version:
        _out(f"tokaudit {__version__}\n")
        raise typer.Exit(0)
    if os.environ.get("TOKAUDIT_WORKERS"):  # a bad value fails before any work (exit 2)
        from tokaudit.recount.pool import configured_workers

        _guard(configured_workers)
    if os.environ.get("TOKAUDIT_STAGE_WORKERS"):
        from tokaudit.ingest.loader import configured_staging_workers

        _guard(configured_staging_workers)


def main() -> None:
    app()
