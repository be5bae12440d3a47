"""Ctrl-C ends a command with exit 130 and one line, never a traceback.

DuckDB stops a running query on SIGINT with ``RuntimeError("Query interrupted")``, Python
raises KeyboardInterrupt between queries; both printed a traceback and exited 1 (QA sent
SIGINT to ``tokaudit recount`` and ``ingest`` at several moments). Every recount worker
printed its own KeyboardInterrupt traceback too.
"""

from __future__ import annotations

import signal

import duckdb
import pytest
import typer

from tokaudit.cli_common import guard
from tokaudit.errors import ExitCode
from tokaudit.recount import pool


@pytest.mark.parametrize(
    "raised",
    [KeyboardInterrupt(), RuntimeError("Query interrupted"), duckdb.InterruptException("x")],
)
def test_an_interrupt_exits_130_with_one_line(
    raised: BaseException, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted() -> None:
        raise raised

    with pytest.raises(typer.Exit) as ended:
        guard(interrupted)
    assert ended.value.exit_code == ExitCode.INTERRUPTED == 130
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: interrupted;")


def test_other_runtime_errors_are_not_taken_for_an_interrupt() -> None:
    def broken() -> None:
        raise RuntimeError("something else")

    with pytest.raises(RuntimeError, match="something else"):
        guard(broken)


def test_recount_workers_leave_ctrl_c_to_the_parent() -> None:
    before = signal.getsignal(signal.SIGINT)
    try:
        pool._leave_ctrl_c_to_the_parent()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)


def test_an_interrupt_while_the_cli_is_imported_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C in the first half second (typer, rich and DuckDB still importing) printed a
    KeyboardInterrupt traceback (QA); the console script now catches it around the import."""
    import builtins
    import sys

    from tokaudit import entry

    real_import = builtins.__import__

    def interrupted_import(name: str, *args: object, **kwargs: object) -> object:
        if name == "tokaudit.cli":
            raise KeyboardInterrupt
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.delitem(sys.modules, "tokaudit.cli", raising=False)
    monkeypatch.setattr(builtins, "__import__", interrupted_import)
    with pytest.raises(SystemExit) as ended:
        entry.main()
    assert ended.value.code == ExitCode.INTERRUPTED
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: interrupted;")


def test_an_interrupt_typer_turns_into_exit_130_still_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C outside the guard (while rendering) became typer's silent exit 130; one line
    is written then too, and only once when the guard already wrote it."""
    from tokaudit import cli, entry

    def interrupted_render() -> None:
        raise SystemExit(130)

    monkeypatch.setattr(entry, "shown", False)
    monkeypatch.setattr(cli, "main", interrupted_render)
    with pytest.raises(SystemExit):
        entry.main()
    assert capsys.readouterr().err.startswith("error: interrupted;")
    with pytest.raises(SystemExit):
        entry.main()  # written once already
    assert capsys.readouterr().err == ""


def test_sigterm_ends_a_command_as_ctrl_c_does() -> None:
    """A CI cancel sends SIGTERM: it killed tokaudit on the spot, leaving its temporary
    directories behind; the console script now raises KeyboardInterrupt for it (QA)."""
    from tokaudit import entry

    before = signal.getsignal(signal.SIGTERM)
    try:
        entry.catch_terminate()
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, before)
