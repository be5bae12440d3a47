"""Read a user's YAML file (budgets, field maps, tokaudit.yaml) with one error wording."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

import yaml

from tokaudit.errors import ConfigError


def read_yaml(path: Path, what: str) -> Any:
    """The parsed document; a ConfigError names the file when it cannot be read or parsed."""
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from exc
    try:
        return yaml.safe_load(text)
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
