"""``tokaudit tokenizers list`` and ``tokaudit report --show recount``.

Thin typer glue over ``tokaudit.api``: stdout carries data only, warnings go to stderr.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from tokaudit import api
from tokaudit.cli_common import TokenizerConfigOption, err, out, render, sub_app
from tokaudit.errors import ExitCode, TokauditError
from tokaudit.ingest.attribution import default_config_path
from tokaudit.recount import COUNT_FAILED
from tokaudit.report.renderers import get_renderer, json_format

tokenizers_app = sub_app("tokenizers", "Tokenizer plugins used by the recount.")

PLUGIN_COLUMNS = ["name", "version", "status", "models", "detail"]


def _fail(exc: TokauditError) -> typer.Exit:
    err(f"error: {exc}\n")
    return typer.Exit(int(exc.exit_code))


@tokenizers_app.command("list")
def list_tokenizers(
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, json or csv.")] = "table",
    config: TokenizerConfigOption = None,
) -> None:
    """Installed tokenizer plugins, their version, the models each covers, broken ones."""
    try:
        renderer = get_renderer(fmt, ("table", "json", "csv"))
    except TokauditError as exc:
        raise _fail(exc) from exc
    if config is not None and not config.is_file():  # as recount and ingest refuse it
        err(f"error: {config}: cannot read the config: no such file\n")
        raise typer.Exit(2)
    try:
        plugins = api.tokenizers_list(default_config_path(config))
    except TokauditError as exc:
        raise _fail(exc) from exc
    if renderer is json_format:
        out(
            json_format.dumps(
                [
                    {
                        "name": p.name,
                        "version": p.version,
                        "status": p.status,
                        "models": p.models,
                        "detail": p.detail,
                    }
                    for p in plugins
                ]
            )
        )
    else:
        rows = [
            (p.name, p.version, p.status, "\n".join(p.models) if p.models else "", p.detail)
            for p in plugins
        ]
        render(renderer, "rows", PLUGIN_COLUMNS, rows)
    warn_broken_plugins((p.name, p.detail) for p in plugins if p.status == "broken")
    for p in plugins:
        if p.status == "overlap":
            err(f"warning: tokenizer plugin {p.name!r} overlaps an earlier one: {p.detail}\n")
        if p.status == "damaged":  # every count it makes would fail: exit 2
            err(f"error: tokenizer plugin {p.name!r}: {p.detail}\n")
    if any(p.status == "damaged" for p in plugins):
        raise typer.Exit(int(ExitCode.ERROR))


def warn_broken_plugins(broken: Iterable[tuple[str, str]]) -> None:
    """One stderr warning per tokenizer plugin that failed (name, why): one that could not
    load is skipped; one whose count() failed on some texts (``recount._count_failure``
    words it) only lost those, which the message says."""
    for name, message in broken:
        verb = "" if message.startswith(COUNT_FAILED) else " skipped"
        err(f"warning: tokenizer plugin {name!r}{verb}: {message}\n")


def report_recount(
    db: Path,
    group_by: list[str],
    since: datetime | None,
    until: datetime | None,
    fmt: str,
    pricing: Path | None,
    overlay: Path | None,
    recount: bool = True,
    config: Path | None = None,
) -> None:
    """``report --show recount``: reported vs recounted tokens, and dollars, per group.

    ``recount=False`` (``--no-recount``) compares the counts already stored and never
    writes the store; what is left uncounted is named on stderr. ``config`` configures
    tokenizer plugins."""
    try:
        renderer = get_renderer(fmt)
        result = api.recount_report(
            db, group_by, since, until, pricing, overlay, recount_texts=recount, config=config
        )
    except TokauditError as exc:
        raise _fail(exc) from exc
    # JSON: rows + totals + pricing; CSV: data rows only (prices on stderr); tables for
    # people end with a total row and name the prices under it
    render(renderer, "recount", result)
    warn_broken_plugins(result.broken_plugins)
    totals: Any = result.totals
    if totals.compared < totals.requests:
        err(
            f"note: {totals.requests - totals.compared} of {totals.requests} request(s) have "
            "no reported usage or no recount and are not compared\n"
        )
    if totals.estimated_requests:
        err(
            f"note: {totals.estimated_requests} request(s) logged without usage are priced "
            "from recounted tokens (estimated spend)\n"
        )
    if totals.exact < totals.compared:
        err(
            f"note: {totals.compared - totals.exact} of {totals.compared} compared request(s) "
            "are recounted as estimates; their differences include what no offline count can "
            "see (hidden reasoning, files, audio, images by address: docs/recount.md), so only "
            "exact recounts are a billing question\n"
        )
    if not recount:
        try:
            warn_uncounted(db, config)
        except TokauditError as exc:
            raise _fail(exc) from exc


def warn_after_counting(
    db: Path, config: Path | None, recount: bool, broken: Iterable[tuple[str, str]]
) -> None:
    """After a command that counts what waits first (``api.counted_store``): the plugins
    that failed, and with ``--no-recount`` what was left uncounted."""
    warn_broken_plugins(broken)
    if not recount:
        warn_uncounted(db, config)


def warn_uncounted(db: Path, config: Path | None) -> None:
    """``--no-recount``: one stderr warning when texts wait to be counted (the results
    then leave them out), naming what and how to count them."""
    todo = api.uncounted_texts(db, config)
    if todo:
        err(
            f"warning: --no-recount: {todo.describe()} not counted yet; the results use "
            f"the counts already stored (count the rest: tokaudit recount --db {db})\n"
        )
