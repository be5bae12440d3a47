"""Read a user's YAML file (budgets, field maps, tokaudit.yaml) with one error wording."""

from __future__ import annotations

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
