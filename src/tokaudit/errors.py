"""Error bases and the exit-code contract shared by every command.

The library raises these; only ``cli.py`` turns them into exit codes, so library
callers never see ``SystemExit``.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes are a public contract (CI steps branch on them)."""

    OK = 0
    FINDINGS = 1  # a budget was exceeded / a gate failed
    ERROR = 2  # usage, configuration or input error
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it)
    PIPE_CLOSED = 141  # stdout's reader went away (128 + SIGPIPE: `| head`), quietly


class TokauditError(Exception):
    """Base of every error tokaudit reports to a user; the message says what to do."""

    exit_code: ExitCode = ExitCode.ERROR


class UsageError(TokauditError):
    """The command line asked for something that cannot be done."""


class ConfigError(TokauditError):
    """A configuration file (budgets, pricing tables, field maps) is invalid."""


class InputError(TokauditError):
    """An input path is missing, unreadable or of an unknown format."""


class PricingTableError(ConfigError):
    """The pricing tables failed validation or their manifest hashes do not match."""
