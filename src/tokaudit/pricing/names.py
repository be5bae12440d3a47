"""Model-name normalisation, once in Python and once as DuckDB macros that must agree.

A logged model name is turned into a lookup key (pricing-semantics §7): lowercase and trim;
strip routing prefixes (``openai/``, ``anthropic/``, ``google/``, ``gemini/``, ``vertex_ai/``,
``bedrock/``, ``models/``, Vertex resource paths, Bedrock ARNs); map Vertex ``@20250929`` to
``-20250929`` and drop Vertex's ``@default`` (the default version: batch prediction output
names ``gemini-2.0-flash-001@default``, cloud.google.com/vertex-ai/generative-ai/docs/
multimodal/batch-prediction-from-cloud-storage). A Bedrock geo prefix (``us.``, ``eu.``,
``apac.``, ``au.``, ``jp.``, ``us-gov.``, ``global.``) is removed from the key but kept as
the request's *region*, because regional endpoints cost more than global ones. A dated
snapshot is never cut back to its alias.

The lookup then tries, in order: ``provider/name`` as logged (hosted open models such as
``groq/...``), the key, and the key with a compact date rewritten (``-20240806`` ->
``-2024-08-06``, as genai-prices does). ``pricing show`` uses the Python functions; every
priced SQL query uses the macros; ``tests/pricing`` checks that both give the same answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ROUTING_PREFIX = r"(openai|anthropic|google|gemini|vertex_ai|vertex_ai_beta|bedrock)/"
BEDROCK_ROUTING = r"bedrock/((converse|invoke)/)?"
BEDROCK_ARN = r"arn:aws[a-z-]*:bedrock:[^:/]*:[^:/]*:(inference-profile|foundation-model)/"
VERTEX_PATH = r"(projects/[^/]+/locations/[^/]+/)?publishers/[^/]+/models/"
GEO = r"global|us|eu|apac|au|jp|us-gov|ca|in"
# Vendors of Bedrock model ids (``anthropic.claude-...``); a geo prefix counts only before one.
BEDROCK_VENDORS = (
    r"anthropic|meta|amazon|mistral|cohere|ai21|deepseek|openai|qwen|writer|google|nvidia"
    r"|moonshotai|zai"
)
_STRIP = (
    f"^({BEDROCK_ARN}|{BEDROCK_ROUTING}|{ROUTING_PREFIX})?(models/|{VERTEX_PATH})?",
    f"^({GEO})\\.(({BEDROCK_VENDORS})\\.)",
)
_VERTEX_DATE = r"@(\d{8})$"
_VERTEX_DEFAULT = r"@default$"
_COMPACT_DATE = r"-(\d{4})(\d{2})(\d{2})$"
_BEDROCK_ID = f"^(({GEO})\\.)?({BEDROCK_VENDORS})\\.[a-z0-9]"
_VERTEX_NAME = f"(^vertex_ai(_beta)?/)|(^{VERTEX_PATH})|{_VERTEX_DATE}"
_BEDROCK_NAME = f"(^{BEDROCK_ROUTING})|(^{BEDROCK_ARN})"


def _lower(name: str) -> str:
    return name.strip().lower()


def _unrouted(name: str) -> str:
    """The name without routing prefixes, geo prefix kept."""
    return re.sub(_STRIP[0], "", _lower(name))


def model_key(name: str) -> str:
    """The lookup key of a logged model name."""
    key = re.sub(_STRIP[1], r"\2", _unrouted(name))
    return re.sub(_VERTEX_DEFAULT, "", re.sub(_VERTEX_DATE, r"-\1", key))


def compact_date_key(key: str) -> str:
    """``gpt-4o-20240806`` -> ``gpt-4o-2024-08-06``; any other key unchanged."""
    return re.sub(_COMPACT_DATE, r"-\1-\2-\3", key)


def model_route(name: str | None) -> str | None:
    """``bedrock`` or ``vertex`` when the name says which cloud served it, else None."""
    if not name:
        return None
    lowered = _lower(name)
    if re.search(_BEDROCK_NAME, lowered) or re.search(_BEDROCK_ID, _unrouted(name)):
        return "bedrock"
    if re.search(_VERTEX_NAME, lowered):
        return "vertex"
    return None


def model_region(name: str) -> str | None:
    """A Bedrock id's geo prefix (``us``, ``global``, ...); ``in-region`` for a bare vendor id."""
    unrouted = _unrouted(name)
    match = re.match(_BEDROCK_ID, unrouted)
    if not match:
        return None
    return match.group(2) or "in-region"


def region_class(region: str | None) -> str | None:
    """``regional`` for any endpoint but the global one; None for global or unknown."""
    if region is None or region == "global":
        return None
    return "regional"


@dataclass(frozen=True)
class NameLookup:
    """How a logged name is looked up: the candidate keys in order, route and region."""

    candidates: tuple[str, ...]
    route: str | None
    region: str | None


def lookup(
    name: str, provider: str | None = None, vertex_location: str | None = None
) -> NameLookup:
    key = model_key(name)
    candidates = []
    if provider:
        candidates.append(f"{provider.lower()}/{_lower(name)}")
    candidates += [key, compact_date_key(key)]
    route = model_route(name)
    region = model_region(name) if route == "bedrock" else None
    if route == "vertex" and vertex_location:
        region = vertex_location.strip().lower()
    return NameLookup(tuple(dict.fromkeys(candidates)), route, region)


def _sql(pattern: str) -> str:
    return pattern.replace("'", "''")


# The same rules as DuckDB macros (RE2 accepts these patterns unchanged).
NAME_MACROS = f"""
CREATE OR REPLACE MACRO tokaudit_unrouted(m) AS
    regexp_replace(lower(trim(m)), '{_sql(_STRIP[0])}', '');
CREATE OR REPLACE MACRO tokaudit_model_key(m) AS regexp_replace(regexp_replace(
    regexp_replace(tokaudit_unrouted(m), '{_sql(_STRIP[1])}', '\\2'),
    '{_sql(_VERTEX_DATE)}', '-\\1'), '{_sql(_VERTEX_DEFAULT)}', '');
CREATE OR REPLACE MACRO tokaudit_compact_date(k) AS
    regexp_replace(k, '{_sql(_COMPACT_DATE)}', '-\\1-\\2-\\3');
CREATE OR REPLACE MACRO tokaudit_model_route(m) AS CASE
    WHEN m IS NULL THEN NULL
    WHEN regexp_matches(lower(trim(m)), '{_sql(_BEDROCK_NAME)}')
      OR regexp_matches(tokaudit_unrouted(m), '{_sql(_BEDROCK_ID)}') THEN 'bedrock'
    WHEN regexp_matches(lower(trim(m)), '{_sql(_VERTEX_NAME)}') THEN 'vertex' END;
CREATE OR REPLACE MACRO tokaudit_model_region(m) AS CASE
    WHEN regexp_matches(tokaudit_unrouted(m), '{_sql(_BEDROCK_ID)}')
    THEN coalesce(nullif(regexp_extract(tokaudit_unrouted(m), '{_sql(_BEDROCK_ID)}', 2), ''),
                  'in-region') END;
"""
