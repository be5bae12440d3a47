"""The ``tokaudit`` console script: Ctrl-C before the CLI is even imported is one line too.

Importing the CLI (typer, rich, DuckDB) takes about half a second; an interrupt then
printed a KeyboardInterrupt traceback, where every later one prints a line and exits 130.
This module imports nothing heavy before its ``try``.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

INTERRUPTED = 130  # tokaudit.errors.ExitCode.INTERRUPTED, not imported: that is the point
MESSAGE = (  # for every command: an ingest keeps its loaded files, a recount its batches
    "error: interrupted; finished work is kept and the step in progress is not: run the "
    "command again to finish\n"
)


shown = False  # set once MESSAGE is written (by cli_common.guard or here)


def _terminated(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (what a CI job's cancel sends) ends a command as Ctrl-C does: the step in
    progress rolls back and temporary files go; by default it killed the process on the
    spot and left them behind."""
    raise KeyboardInterrupt


def catch_terminate() -> None:
    signal.signal(signal.SIGTERM, _terminated)


def main() -> None:
    global shown
    catch_terminate()
    try:
        from tokaudit.cli import main as cli_main

        cli_main()
    except KeyboardInterrupt:
        sys.stderr.write(MESSAGE)
        sys.exit(INTERRUPTED)
    except SystemExit as exc:
        # typer turns Ctrl-C outside our guard (while rendering, say) into a silent 130
        if exc.code == INTERRUPTED and not shown:
            shown = True
            sys.stderr.write(MESSAGE)
        raise
