"""Plumbing shared by the command modules: output streams, error mapping, sub-apps.

stdout carries data only; diagnostics go to stderr; a ``TokauditError`` becomes its
message on stderr and its exit code.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any, NoReturn, TextIO, TypeVar

import duckdb
import typer

from tokaudit import entry
from tokaudit.errors import ExitCode, TokauditError
from tokaudit.models import PricingInfo
from tokaudit.report.renderers import csv_format, table
from tokaudit.report.renderers.common import overlay_text
from tokaudit.store.connection import damaged_store, memory_cap

T = TypeVar("T")


def _empty_path(option: str) -> NoReturn:
    err(f"error: {option}: an empty path (an unset variable?); give a file or directory")
    raise typer.Exit(int(ExitCode.ERROR))


def path_value(option: str) -> Callable[[str | Path], Path]:
    """The parser of a path option or argument: an empty value is a usage error (exit 2,
    one line). ``Path("")`` is ``.``, the current directory: ``pricing validate ""`` looked
    for a manifest there, ``--db ""`` opened the directory as a store, ``--config ""`` read
    the directory (QA)."""

    def parse(value: str | Path) -> Path:
        if isinstance(value, Path):  # a default
            return value
        if not value:
            _empty_path(option)
        return Path(value)

    return parse


def text_path_value(option: str) -> Callable[[str], str]:
    """``path_value`` for a path kept as text (a table directory or ``git:REV[:PATH]``)."""

    def parse(value: str) -> str:
        if not value:
            _empty_path(option)
        return value

    return parse


TokenizerConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        parser=path_value("--config"),
        metavar="<path>",
        envvar="TOKAUDIT_CONFIG",
        help="tokaudit.yaml whose tokenizers: section configures tokenizer plugins "
        "(docs/recount.md); default ./tokaudit.yaml if present.",
    ),
]


def err(message: str) -> None:
    """A diagnostic line to stderr. A reader of stderr that closed the pipe (``2>&1
    >/dev/null | head``) made click exit 1, which CI reads as a broken budget: the lines
    left are dropped and the command ends with the exit code it decides."""
    try:
        sys.stderr.write(message.rstrip("\n") + "\n")
        sys.stderr.flush()
    except BrokenPipeError:
        _discard(sys.stderr)


def out(text: str) -> None:
    """Data to stdout. A write that fails was a traceback, or click's exit 1, the code
    ``check`` gives a broken budget: a full disk is an error (exit 2, one line), a reader
    that closed the pipe (``| head``) ends the command quietly with 141, as shells report
    a process that SIGPIPE ended."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        _discard(sys.stdout)
        raise typer.Exit(int(ExitCode.PIPE_CLOSED)) from None
    except OSError as exc:
        _discard(sys.stdout)
        err(f"error: could not write the output ({exc.strerror}); nothing more was written")
        raise typer.Exit(int(ExitCode.ERROR)) from None


# Characters of a spooled result held in memory before the spool moves to a temporary file
SPOOL_MEMORY = 8 * 1024 * 1024
SPOOL_READ = 1024 * 1024  # characters copied to stdout at a time


def out_complete(chunks: Iterator[str]) -> None:
    """All of ``chunks`` to stdout, or nothing: they are spooled (in memory, past
    ``SPOOL_MEMORY`` in a temporary file) until the last one is made, then copied out.

    ``tokaudit sql -f json`` wrote each batch as DuckDB produced it, so a query failing on
    a late row (a cast, ``error()``) left half a JSON array on stdout beside its exit 2
    (QA). Memory stays bounded; the first byte now waits for the last row. A chunk that
    fails is a ``TokauditError`` (``guard``), a spool that cannot be written exit 2.
    """
    with tempfile.SpooledTemporaryFile(
        max_size=SPOOL_MEMORY, mode="w+", encoding="utf-8", newline=""
    ) as spool:
        while (chunk := guard(lambda: next(chunks, None))) is not None:
            try:
                spool.write(chunk)
            except OSError as exc:  # the temporary directory is full
                err(
                    f"error: could not hold the result in a temporary file in "
                    f"{tempfile.gettempdir()} ({exc.strerror}; set TMPDIR); nothing was written"
                )
                raise typer.Exit(int(ExitCode.ERROR)) from None
        spool.seek(0)
        while piece := spool.read(SPOOL_READ):
            out(piece)


def _discard(stream: TextIO) -> None:
    """Point ``stream`` at /dev/null, so the interpreter's last flush of what is still
    buffered does not fail again (Python then prints "Exception ignored" and exits 120)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a real file (a test's buffer)
        pass


def color() -> bool:
    """Colour on a terminal unless NO_COLOR is set to a non-empty value (no-color.org: an
    empty NO_COLOR is as if unset)."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def in_ci() -> bool:
    """Whether CI is set to anything but an empty, false or 0 value (``CI=false`` in a
    local shell is not CI)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "false", "0", "no")


def render(renderer: ModuleType, kind: str, *args: Any) -> None:
    """Write ``renderer.render_<kind>(*args)`` to stdout; only tables take colour.

    CSV has nowhere but its rows for the price table a result was priced with, so the
    version and SHA-256 go to stderr (every other format carries them itself).
    """
    fn = getattr(renderer, f"render_{kind}")
    out(fn(*args, color=color()) if renderer is table else fn(*args))
    pricing = getattr(args[0], "pricing", None) if args else None
    if renderer is csv_format and isinstance(pricing, PricingInfo):
        named = f"table {pricing.table_version} (sha256 {pricing.sha256})"
        err(f"prices: {named}{overlay_text(pricing, full=True)}")


def guard(fn: Callable[[], T]) -> T:
    """Run a library call; a TokauditError becomes a clear message and its exit code.

    DuckDB running out of memory is an input/config error too (exit 2): the input does not
    fit the memory given.
    """
    try:
        return fn()
    except TokauditError as exc:
        err(f"error: {exc}")
        raise typer.Exit(int(exc.exit_code)) from exc
    except (KeyboardInterrupt, duckdb.InterruptException, RuntimeError) as exc:
        # Ctrl-C: DuckDB stops the running query with RuntimeError("Query interrupted")
        if isinstance(exc, RuntimeError) and str(exc) != "Query interrupted":
            raise
        err(entry.MESSAGE)
        entry.shown = True
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
    except duckdb.OutOfMemoryException as exc:  # the machine, or TOKAUDIT_MEMORY_LIMIT
        cap = memory_cap()
        where = f" {cap} (raise it)" if cap else ""
        err(f"error: DuckDB ran out of memory{where}: {str(exc).splitlines()[0]}")
        raise typer.Exit(int(ExitCode.ERROR)) from exc
    except duckdb.Error as exc:
        # A store cut short or corrupt opens (its catalog is whole) and fails when a query
        # reads a damaged block: a traceback and exit 1, which CI reads as over budget (QA)
        message = store_damage(exc)
        if message is None:
            raise
        err(f"error: {message}")
        raise typer.Exit(int(ExitCode.ERROR)) from exc


def store_damage(exc: BaseException) -> str | None:
    """What a DuckDB error means when the store is cut short or corrupt, or a file cannot
    be read or written (a full disk); None for any other error."""
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if first.startswith("Corrupt database file") or "Could not read enough bytes" in first:
        return damaged_store(first)
    if isinstance(exc, duckdb.IOException):
        return f"DuckDB could not read or write a file: {first}"
    return None


def sub_app(name: str, help_text: str) -> typer.Typer:
    """A typer group with the same conventions as the main app."""
    return typer.Typer(
        name=name,
        help=help_text,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
