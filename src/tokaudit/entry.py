"""The ``tokaudit`` console script: Ctrl-C before the CLI is even imported is one line too.

Importing the CLI (typer, rich, DuckDB) takes about half a second; an interrupt then
printed a KeyboardInterrupt traceback, where every later one prints a line and exits 130.
This module imports nothing heavy before its ``try``.
"""

from __future__ import annotations

import sys

INTERRUPTED = 130  # tokaudit.errors.ExitCode.INTERRUPTED, not imported: that is the point
MESSAGE = (  # for every command: an ingest keeps its loaded files, a recount its batches
    "error: interrupted; finished work is kept and the step in progress is not: run the "
    "command again to finish\n"
)


shown = False  # set once MESSAGE is written (by cli_common.guard or here)


def main() -> None:
    global shown
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
