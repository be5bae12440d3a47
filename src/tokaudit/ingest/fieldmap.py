"""The YAML field map of ``tokaudit ingest FILE --map fields.yaml`` (the ``mapped`` format).

A field map says which column of a CSV, JSON Lines or Parquet export holds each field of
a request, and how its token counts are meant. Validated up front: every error names the
file and the key, so a typo never loses a column silently.

    format: csv                  # optional: csv | jsonl | parquet (else from the file name)
    input_includes_cache: true   # required when a cache column is mapped
    output_includes_reasoning: true
    timestamp_format: "%d/%m/%Y %H:%M:%S"   # optional strptime format; default ISO or epoch
    fields:                      # target: source column (dotted paths reach into JSON)
      timestamp: created_at
      model: model
      input_tokens: prompt_tokens
      cache_read_tokens: cached_tokens
      output_tokens: completion_tokens
      team: metadata.team
      inference_geo: usage.inference_geo   # priced (US-only inference), kept in metadata
    static:                      # a fixed value for every row
      provider: openai
    metadata: [squad, region]    # optional: the unmapped columns kept in metadata;
                                 # false for none; default (or true): all of them
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokaudit.config_file import read_yaml, reject_unknown
from tokaudit.errors import ConfigError

# Each target a map may fill, with its SQL type in ``requests``.
TEXT_TARGETS = (
    "model",
    "provider",
    "request_id",
    "team",
    "user",
    "feature",
    "project",
    "prompt",
    "prompt_version",
    "environment",
    "service_tier",
    "status",
)
COUNT_TARGETS = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
    "web_search_requests",
    "file_search_calls",
)
OTHER_TARGETS = {"timestamp": "TIMESTAMPTZ", "batch": "BOOLEAN", "latency_ms": "DOUBLE"}
# Metadata keys the pricing reads in every format (pricing/store_tables.py: Anthropic's
# US-only inference, a Vertex-routed model's region): a record's column of that name is
# kept in metadata whatever ``metadata:`` lists, since leaving it out would change prices.
# Each is a target too, stored in metadata under its name: a log of Anthropic responses
# holds the geo in ``usage.inference_geo``, which no top-level column name could reach.
PRICED_METADATA = ("inference_geo", "vertex_location")
TARGETS = (*OTHER_TARGETS, *TEXT_TARGETS, *COUNT_TARGETS, *PRICED_METADATA)
# Targets a file must hold when they are mapped (``fields``, not ``static``): a file without
# one has no request to read. Any other mapped column may be absent from a file (an export
# that leaves out an empty column, a writer that drops null keys): its rows read it as empty.
REQUIRED_TARGETS = ("timestamp", "model", "provider")
CACHE_TARGETS = ("cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens")
READERS = ("csv", "jsonl", "parquet")
_KEYS = (
    "metadata",
    "format",
    "fields",
    "static",
    "input_includes_cache",
    "output_includes_reasoning",
    "timestamp_format",
)


@dataclass(frozen=True)
class FieldMap:
    """A validated field map; ``fields`` maps targets to source columns."""

    origin: str
    fields: dict[str, str]
    static: dict[str, str | int | float | bool] = field(default_factory=dict)
    reader: str | None = None
    input_includes_cache: bool = False
    output_includes_reasoning: bool = True
    timestamp_format: str | None = None
    # the columns (top-level keys) the map does not read that rows keep in ``metadata``:
    # None, the default, keeps every one; a tuple only those (and PRICED_METADATA)
    metadata: tuple[str, ...] | None = None


def _bool(data: dict[str, Any], key: str, origin: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{origin}: {key} must be true or false, got {value!r}")
    return value


def _mapping(data: dict[str, Any], key: str, origin: str) -> dict[str, Any]:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise ConfigError(f"{origin}: {key} must be a mapping of target: value")
    reject_unknown(value, TARGETS, f"{origin}: {key}", "target")
    return {str(k): v for k, v in value.items()}


def parse_field_map(data: Any, origin: str) -> FieldMap:
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected a mapping with 'fields:' (and optional 'static:')")
    reject_unknown(data, _KEYS, origin)
    fields = _mapping(data, "fields", origin)
    for target, column in fields.items():
        if not isinstance(column, str) or not column.strip():
            raise ConfigError(f"{origin}: fields.{target} must be a column name")
    static = _mapping(data, "static", origin)
    for target, value in static.items():
        if value is None or not isinstance(value, str | int | float | bool):
            raise ConfigError(f"{origin}: static.{target} must be a single value")
        if target in fields:
            raise ConfigError(f"{origin}: {target} is both in fields and in static; keep one")
    if "timestamp" not in fields:
        raise ConfigError(f"{origin}: fields.timestamp is required (the column with the time)")
    for target in ("model", "provider"):
        if target not in fields and target not in static:
            raise ConfigError(
                f"{origin}: {target} is required: map a column (fields.{target}) "
                f"or give a value (static.{target})"
            )
    reader = data.get("format")
    if reader is not None and reader not in READERS:
        raise ConfigError(f"{origin}: format {reader!r} must be one of {', '.join(READERS)}")
    if any(t in fields for t in CACHE_TARGETS) and "input_includes_cache" not in data:
        raise ConfigError(
            f"{origin}: input_includes_cache is required when a cache column is mapped: true "
            "if the input count already contains cached tokens (OpenAI prompt_tokens), "
            "false if it does not (Anthropic input_tokens)"
        )
    ts_format = data.get("timestamp_format")
    if ts_format is not None and (not isinstance(ts_format, str) or "%" not in ts_format):
        raise ConfigError(
            f"{origin}: timestamp_format must be a strptime format such as '%Y-%m-%d'"
        )
    if ts_format is not None:
        _check_strptime(ts_format, origin)
    return FieldMap(
        origin=origin,
        fields={k: str(v).strip() for k, v in fields.items()},
        static=static,
        reader=reader,
        input_includes_cache=_bool(data, "input_includes_cache", origin, False),
        output_includes_reasoning=_bool(data, "output_includes_reasoning", origin, True),
        timestamp_format=ts_format,
        metadata=_metadata(data, origin),
    )


def _metadata(data: dict[str, Any], origin: str) -> tuple[str, ...] | None:
    """``metadata:``: a list of column names (each a CSV or Parquet column, or a top-level
    key of a JSON record, by its whole name), false (or an empty list) for none, true or
    left out for all. A bare ``metadata:`` (null) is an error: a list left unwritten. A
    dotted name is no error here (in CSV it is a column's whole name); one that no file
    has as a top-level column, a mapped path into an object too, is warned of at load
    (``mapped.MappedFormat._listed``)."""
    if "metadata" not in data or data["metadata"] is True:
        return None
    value = data["metadata"]
    if value is False:
        return ()
    if not isinstance(value, list):
        raise ConfigError(
            f"{origin}: metadata must be a list of the column names to keep in metadata, "
            "or false for none (true, the default: all), "
            + ("got nothing" if value is None else f"got {value!r}")
        )
    names: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ConfigError(
                f"{origin}: metadata: each entry must be a column name, got {item!r}"
                + (
                    " (quote a column named by a number)"
                    if isinstance(item, int | float) and not isinstance(item, bool)
                    else ""
                )
            )
        if item.strip() not in names:
            names.append(item.strip())
    return tuple(names)


def _check_strptime(fmt: str, origin: str) -> None:
    """A bad specifier (``%Q``) fails here, once, not as a DuckDB error in every file."""
    import duckdb

    try:
        duckdb.connect().execute("SELECT try_strptime('2026-01-01', ?)", [fmt]).fetchall()
    except duckdb.Error as exc:
        reason = str(exc).split("Error: ", 1)[-1].splitlines()[0]
        raise ConfigError(f"{origin}: timestamp_format {fmt!r}: {reason}") from exc


def load_field_map(path: Path) -> FieldMap:
    """Read and validate a field-map YAML file (ConfigError names the file and the key)."""
    return parse_field_map(read_yaml(path, "field map"), str(path))
