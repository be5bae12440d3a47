"""Read a user's YAML file (budgets, field maps, tokaudit.yaml) with one error wording."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

import yaml

from tokaudit.errors import ConfigError
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
