"""Output formats. Each module turns a finished result into text; only ``table`` imports rich."""

from __future__ import annotations

from types import ModuleType

from tokaudit.errors import UsageError
from tokaudit.report.renderers import csv_format, json_format, markdown, table

RENDERERS: dict[str, ModuleType] = {
    "table": table,
    "json": json_format,
    "csv": csv_format,
    "markdown": markdown,
}


def get_renderer(
    name: str, allowed: tuple[str, ...] | None = None, option: str = "--format"
) -> ModuleType:
    """``option`` is how the command spells its output option, for the error message."""
    choices = allowed or tuple(RENDERERS)
    if name not in choices:
        raise UsageError(f"{option} {name!r}: choose one of {', '.join(choices)}")
    return RENDERERS[name]
