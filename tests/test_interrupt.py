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
