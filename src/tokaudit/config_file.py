"""Read a user's YAML file (budgets, field maps, tokaudit.yaml) with one error wording."""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

import yaml

from tokaudit.errors import ConfigError, InputError
from tokaudit.pricing.table import read_yaml as unique_key_yaml


def read_yaml(path: Path, what: str) -> Any:
    """The parsed document; a ConfigError names the file when it cannot be read or parsed.

    Text that is not UTF-8 is a ConfigError (exit 2) like bad YAML, never a traceback; a key
    given twice in one mapping is refused, as in the price tables (PyYAML keeps the last).
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not valid UTF-8 (byte 0x{data[exc.start]:02x} at byte {exc.start + 1}); "
            f"save the {what} as UTF-8"
        ) from exc
    try:
        return unique_key_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc


def reject_unknown(
    keys: Iterable[object], allowed: Collection[str], where: str, noun: str = "key"
) -> None:
    """A ConfigError naming every key of a user's mapping that is not ``allowed``."""
    unknown = sorted(str(k) for k in keys if k not in allowed)
    if unknown:
        raise ConfigError(
            f"{where}: unknown {noun}(s) {', '.join(unknown)} (allowed: {', '.join(allowed)})"
        )


def env_count(name: str, what: str, lowest: int, highest: int | None, unset: str) -> int | None:
    """Environment variable ``name`` as a whole number from ``lowest`` (to ``highest``),
    None when unset or empty; anything else is an InputError naming it (a typo that was
    ignored silently changed nothing). ``what`` says what it counts, ``unset`` what its
    absence means."""
    configured = os.environ.get(name, "").strip()
    if not configured:
        return None
    number = int(configured) if configured.isascii() and configured.isdigit() else None
    if number is None or number < lowest or (highest is not None and number > highest):
        rule = f", {lowest} or more" if highest is None else f" from {lowest} to {highest}"
        raise InputError(
            f"{name}={configured!r} is not a number of {what} (a whole number{rule}; "
            f"unset it to {unset})"
        )
    return number


def read_config(path: Path) -> dict[str, Any] | None:
    """A tokaudit.yaml's sections (None for an empty file). Anything but a mapping of the
    known sections is a ConfigError naming the file, whichever command reads it: a
    misspelt ``tokenizer:`` left the recount's plugins unconfigured without a word (QA)."""
    from tokaudit.ingest.attribution import TOP_KEYS

    data = read_yaml(path, "config")
    if data is None:
        return None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections ({', '.join(TOP_KEYS)})")
    reject_unknown(data, TOP_KEYS, str(path))
    return data


def findings_settings(path: Path | None) -> dict[str, Any] | None:
    """The ``findings:`` section of a tokaudit.yaml: rule id -> {threshold: value}.

    Checked like an API override (``tokaudit.findings.with_overrides``): an unknown rule or
    threshold, or a value of another type than the default's, is a ConfigError naming the
    file. So is a section the file cannot have. None without a file or a section.
    """
    from tokaudit.findings import with_overrides

    if path is None:
        return None
    data = read_config(path)
    if data is None:
        return None
    section = data.get("findings")
    if section is None:
        return None
    if not isinstance(section, dict):
        raise ConfigError(
            f"{path}: findings must be a mapping of rule id to thresholds, "
            "such as {D15: {tolerance_pct: 5}}"
        )
    try:
        with_overrides(section)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return section
