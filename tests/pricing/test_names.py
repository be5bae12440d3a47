"""Model-name normalisation (pricing-semantics §7): the Python rules and the SQL macros agree.

``pricing show`` resolves names in Python, ``request_costs`` in SQL; a name that the two read
differently would show one price and bill another. Expected keys are written out by hand from
§7 (lowercase, routing prefix off, Vertex @date -> -date, Bedrock geo prefix -> region).
"""

from __future__ import annotations

import duckdb
import pytest
from pricing_testkit import shipped_table

from tokaudit.pricing.names import (
    NAME_MACROS,
    compact_date_key,
    lookup,
    model_key,
    model_region,
    model_route,
)

# logged name -> (key, route, region)
CASES: dict[str, tuple[str, str | None, str | None]] = {
    "gpt-4o": ("gpt-4o", None, None),
    " GPT-4o ": ("gpt-4o", None, None),
    "openai/gpt-4o-2024-08-06": ("gpt-4o-2024-08-06", None, None),
    "models/gemini-2.5-flash": ("gemini-2.5-flash", None, None),
    "gemini/gemini-2.5-pro": ("gemini-2.5-pro", None, None),
    "google/gemini-2.5-pro": ("gemini-2.5-pro", None, None),
    "claude-sonnet-4-5@20250929": ("claude-sonnet-4-5-20250929", "vertex", None),
    "vertex_ai/claude-sonnet-4-6": ("claude-sonnet-4-6", "vertex", None),
    # Vertex batch output's modelVersion: the default version, no suffix (route unchanged)
    "gemini-2.0-flash-001@default": ("gemini-2.0-flash-001", None, None),
    "publishers/google/models/gemini-2.5-flash@default": ("gemini-2.5-flash", "vertex", None),
    "gemini-2.5-flash@defaults": ("gemini-2.5-flash@defaults", None, None),
    "projects/p1/locations/us-east5/publishers/anthropic/models/claude-opus-4-5@20251101": (
        "claude-opus-4-5-20251101",
        "vertex",
        None,
    ),
    "us.anthropic.claude-sonnet-4-5-20250929-v1:0": (
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
        "bedrock",
        "us",
    ),
    "GLOBAL.anthropic.claude-haiku-4-5-20251001-v1:0": (
        "anthropic.claude-haiku-4-5-20251001-v1:0",
        "bedrock",
        "global",
    ),
    "us-gov.anthropic.claude-sonnet-4-5-20250929-v1:0": (
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
        "bedrock",
        "us-gov",
    ),
    "anthropic.claude-3-5-haiku-20241022-v1:0": (
        "anthropic.claude-3-5-haiku-20241022-v1:0",
        "bedrock",
        "in-region",
    ),
    "bedrock/converse/apac.anthropic.claude-sonnet-4-20250514-v1:0": (
        "anthropic.claude-sonnet-4-20250514-v1:0",
        "bedrock",
        "apac",
    ),
    "arn:aws:bedrock:us-east-1:123456789012:inference-profile/jp.anthropic.claude-sonnet-4-6": (
        "anthropic.claude-sonnet-4-6",
        "bedrock",
        "jp",
    ),
    "groq/openai/gpt-oss-120b": ("groq/openai/gpt-oss-120b", None, None),
    "meta-llama/llama-4-scout-17b-16e-instruct": (
        "meta-llama/llama-4-scout-17b-16e-instruct",
        None,
        None,
    ),
    # Not geo prefixes: no Bedrock vendor follows, or it is part of a first-party id.
    "us.gpt-4o": ("us.gpt-4o", None, None),
    "gpt-4.1-mini": ("gpt-4.1-mini", None, None),
    "ft:gpt-4o-mini-2024-07-18:org::abc": ("ft:gpt-4o-mini-2024-07-18:org::abc", None, None),
    "azure/gpt-4o": ("azure/gpt-4o", None, None),
}


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute(NAME_MACROS)
    return connection


@pytest.mark.parametrize("name", list(CASES))
def test_python_rules(name: str) -> None:
    key, route, region = CASES[name]
    assert model_key(name) == key
    assert model_route(name) == route
    assert (model_region(name) if route == "bedrock" else None) == region


@pytest.mark.parametrize("name", list(CASES))
def test_sql_macros_agree(con: duckdb.DuckDBPyConnection, name: str) -> None:
    key, route, region = CASES[name]
    row = con.execute(
        "SELECT tokaudit_model_key(?), tokaudit_model_route(?), tokaudit_model_region(?)",
        [name, name, name],
    ).fetchone()
    assert row is not None
    assert (row[0], row[1]) == (key, route)
    assert (row[2] if route == "bedrock" else None) == region


def test_compact_dates(con: duckdb.DuckDBPyConnection) -> None:
    for key, expected in [
        ("gpt-4o-20240806", "gpt-4o-2024-08-06"),
        ("gpt-4o-2024-08-06", "gpt-4o-2024-08-06"),
        ("claude-sonnet-4-5", "claude-sonnet-4-5"),
    ]:
        assert compact_date_key(key) == expected
        assert con.execute("SELECT tokaudit_compact_date(?)", [key]).fetchone() == (expected,)


def test_lookup_order_and_vertex_location() -> None:
    look = lookup("openai/gpt-oss-120b", provider="groq")
    assert look.candidates == ("groq/openai/gpt-oss-120b", "gpt-oss-120b")
    vertex = lookup("claude-sonnet-4-5@20250929", vertex_location=" US-East5 ")
    assert (vertex.route, vertex.region) == ("vertex", "us-east5")
    # A location says nothing about a first-party call.
    assert lookup("claude-sonnet-4-5-20250929", vertex_location="us-east5").region is None


def test_every_shipped_name_is_in_normal_form(con: duckdb.DuckDBPyConnection) -> None:
    """The loader refuses names the normaliser cannot produce; SQL must agree on each."""
    names = list(shipped_table().names())
    assert len(names) > 60
    keys = con.execute("SELECT list_transform(?, lambda n: tokaudit_model_key(n))", [names])
    assert keys.fetchone() == (names,)
