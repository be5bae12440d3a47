"""The loader refuses ambiguous or tampered tables, and the shipped table is sound.

Each refusal builds a small table in tmp_path (YAML written by hand, manifest by
``write_manifest``) and checks that the message names the file, the model and the key, so the
person editing the table knows what to fix.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from pricing_testkit import HEADER, make_table, shipped_table

from tokaudit.errors import PricingTableError
from tokaudit.pricing.manifest import MANIFEST, build_manifest, write_manifest
from tokaudit.pricing.table import load_price_table

D = Decimal
URL = "source: {url: 'https://example.com/pricing'}"
ALPHA = f"""\
- id: alpha
  aliases: [alpha-2025-01-01]
  versions:
  - effective_from: null
    effective_to: null
    {URL}
    prices: {{input: '1', output: '2'}}
"""


def refusal(directory: Path) -> str:
    with pytest.raises(PricingTableError) as info:
        load_price_table(directory)
    return str(info.value)


def test_a_valid_minimal_table_loads(tmp_path: Path) -> None:
    table = load_price_table(make_table(tmp_path, ALPHA))
    assert table.names() == {"alpha": "alpha", "alpha-2025-01-01": "alpha"}
    assert table.models[0].versions[0].prices == {"input": Decimal("1"), "output": Decimal("2")}


def test_float_price_is_refused(tmp_path: Path) -> None:
    models = ALPHA.replace("input: '1'", "input: 0.1")
    message = refusal(make_table(tmp_path, models))
    assert "providers/openai.yaml" in message
    assert "model alpha" in message
    assert ".input" in message and "0.1" in message
    assert "decimal string" in message


@pytest.mark.parametrize(("written", "read"), [("10", 10), ("010", 8)])
def test_bare_integer_price_is_refused(tmp_path: Path, written: str, read: int) -> None:
    """YAML reads 010 as 8 (an octal): a bare number must be quoted, like a float."""
    models = ALPHA.replace("output: '2'", f"output: {written}")
    message = refusal(make_table(tmp_path, models))
    assert "providers/openai.yaml" in message and "model alpha" in message
    assert ".output" in message and f"got {read}" in message and "quoted" in message


def test_a_key_given_twice_is_refused(tmp_path: Path) -> None:
    """PyYAML keeps the last of two equal keys: the price would change without a word."""
    models = ALPHA.replace("output: '2'", "output: '2', output: '3'")
    message = refusal(make_table(tmp_path, models))
    assert "providers/openai.yaml" in message and "duplicate key 'output'" in message


def test_overlapping_versions_are_refused(tmp_path: Path) -> None:
    models = f"""\
    - id: alpha
      versions:
      - {{effective_from: null, effective_to: '2025-06-10', {URL},
         prices: {{input: '2', output: '4'}}}}
      - {{effective_from: '2025-06-01', effective_to: null, {URL},
         prices: {{input: '1', output: '4'}}}}
    """
    message = refusal(make_table(tmp_path, models))
    assert "providers/openai.yaml" in message and "model alpha" in message
    assert "versions[1]" in message and "overlaps version 0" in message


def test_two_open_versions_are_refused(tmp_path: Path) -> None:
    models = f"""\
    - id: alpha
      versions:
      - {{effective_from: null, effective_to: null, {URL},
         prices: {{input: '2', output: '4'}}}}
      - {{effective_from: '2025-06-01', effective_to: null, {URL},
         prices: {{input: '1', output: '4'}}}}
    """
    message = refusal(make_table(tmp_path, models))
    assert "model alpha" in message and "versions[1]" in message and "overlaps" in message


def test_gap_between_versions_is_refused(tmp_path: Path) -> None:
    models = f"""\
    - id: alpha
      versions:
      - {{effective_from: null, effective_to: '2025-06-10', {URL},
         prices: {{input: '2', output: '4'}}}}
      - {{effective_from: '2025-06-11', effective_to: null, {URL},
         prices: {{input: '1', output: '4'}}}}
    """
    message = refusal(make_table(tmp_path, models))
    assert "providers/openai.yaml" in message and "model alpha" in message
    assert "versions[1]" in message and "gap" in message


def test_alias_claimed_by_two_models_is_refused(tmp_path: Path) -> None:
    beta = ALPHA.replace("id: alpha", "id: beta")  # same alias list: alpha-2025-01-01
    message = refusal(make_table(tmp_path, ALPHA + beta))
    assert "providers/openai.yaml" in message
    assert "model beta" in message and "'alpha-2025-01-01'" in message
    assert "claimed by alpha" in message


def test_alias_claimed_across_provider_files_is_refused(tmp_path: Path) -> None:
    other = ALPHA.replace("id: alpha", "id: gamma").replace("[alpha-2025-01-01]", "[alpha]")
    message = refusal(make_table(tmp_path, ALPHA, extra={"google": other}))
    # Files load in path order: anthropic, google, openai.
    assert "providers/openai.yaml" in message
    assert "'alpha'" in message and "claimed by gamma" in message


def test_unknown_price_key_is_refused(tmp_path: Path) -> None:
    models = ALPHA.replace("output: '2'", "output: '2', cached_input: '0.5'")
    message = refusal(make_table(tmp_path, models))
    assert "providers/openai.yaml" in message and "model alpha" in message
    assert "unknown price key 'cached_input'" in message


def test_unknown_price_key_in_a_variant_is_refused(tmp_path: Path) -> None:
    models = (
        ALPHA + "    variants:\n    - when: {processing: batch}\n      prices: {inptu: '0.5'}\n"
    )
    message = refusal(make_table(tmp_path, models))
    assert "model alpha" in message and "variants[0]" in message and "'inptu'" in message


def test_missing_source_url_is_refused(tmp_path: Path) -> None:
    models = ALPHA.replace(URL, "source: {via: 'genai-prices 0.2.3'}")
    message = refusal(make_table(tmp_path, models))
    assert "providers/openai.yaml" in message and "model alpha" in message
    assert "versions[0]" in message and "source.url" in message


def test_edited_provider_file_no_longer_matches_the_manifest(tmp_path: Path) -> None:
    directory = make_table(tmp_path, ALPHA)
    load_price_table(directory)
    path = directory / "providers" / "openai.yaml"
    path.write_text(path.read_text("utf-8").replace("input: '1'", "input: '0.5'"), "utf-8")
    message = refusal(directory)
    assert str(path) in message
    assert "does not match the manifest" in message


def test_missing_manifest_is_refused(tmp_path: Path) -> None:
    directory = make_table(tmp_path, ALPHA)
    (directory / MANIFEST).unlink()
    message = refusal(directory)
    assert MANIFEST in message and "manifest missing" in message


def test_provider_file_not_listed_in_the_manifest_is_refused(tmp_path: Path) -> None:
    directory = make_table(tmp_path, ALPHA)
    extra = HEADER.format(provider="google", convention="gemini")
    (directory / "providers" / "google.yaml").write_text(extra, "utf-8")
    message = refusal(directory)
    assert "providers/google.yaml" in message and MANIFEST in message


# A misspelt structural key drops data silently: `tier:` for `tiers:` loses the long-context
# cliff and under-prices every request above it. The loader checks price, fee and variant keys,
# but not version or model keys (pricing-semantics §9 lists a schema.json for CI; there is none).
def test_unknown_version_key_is_refused(tmp_path: Path) -> None:
    models = ALPHA + (
        "    tier:\n    - when: {metric: total_input_tokens, op: gt, value: 200000}\n"
        "      prices: {input: '2'}\n"
    )
    message = refusal(make_table(tmp_path, models))
    assert "model alpha" in message and "tier" in message


def test_unknown_model_key_is_refused(tmp_path: Path) -> None:
    models = ALPHA.replace("aliases:", "alias:")
    message = refusal(make_table(tmp_path, models))
    assert "model alpha" in message and "alias" in message


# ---------------------------------------------------------------- the shipped table


# pricing/README.md, "Provider file": `provider` "Must match the file name".
def test_provider_must_match_the_file_name(tmp_path: Path) -> None:
    directory = make_table(tmp_path, ALPHA)
    path = directory / "providers" / "openai.yaml"
    path.write_text(path.read_text("utf-8").replace("provider: openai", "provider: google"))
    write_manifest(directory)
    message = refusal(directory)
    assert "providers/openai.yaml" in message and "provider" in message


# pricing/README.md, "Price keys": "`input` and `output` are always present."
def test_version_without_input_and_output_is_refused(tmp_path: Path) -> None:
    models = ALPHA.replace("prices: {input: '1', output: '2'}", "prices: {cache_read: '1'}")
    message = refusal(make_table(tmp_path, models))
    assert "model alpha" in message and "input" in message


def test_shipped_table_loads_and_its_manifest_verifies() -> None:
    table = shipped_table()
    directory = table.directory
    manifest = yaml.safe_load((directory / MANIFEST).read_text("utf-8"))
    rebuilt = build_manifest(directory, str(manifest["table_version"]))
    assert {k: manifest[k] for k in rebuilt} == rebuilt  # every file hash and the table hash
    assert table.table_sha256 == manifest["table_sha256"]
    assert table.table_version == str(manifest["table_version"])
    assert {m.provider for m in table.models} == {
        "openai",
        "anthropic",
        "google",
        "bedrock",
        "groq",
    }
    assert table.conventions == {
        "openai": "openai",
        "anthropic": "anthropic",
        "google": "gemini",
        "bedrock": "anthropic",
        "groq": "openai",
    }


# Every id pricing-semantics §10 lists (the concrete ids; `*` patterns by their known ids),
# mapped to the entry that must price it.
SECTION_10_NAMES = {
    "gpt-4o": ["gpt-4o", "gpt-4o-2024-08-06", "gpt-4o-2024-11-20"],
    "gpt-4o-2024-05-13": ["gpt-4o-2024-05-13"],
    "gpt-4o-mini": ["gpt-4o-mini", "gpt-4o-mini-2024-07-18"],
    "gpt-4.1": ["gpt-4.1", "gpt-4.1-2025-04-14"],
    "gpt-4.1-mini": ["gpt-4.1-mini", "gpt-4.1-mini-2025-04-14"],
    "gpt-4.1-nano": ["gpt-4.1-nano", "gpt-4.1-nano-2025-04-14"],
    "o3": ["o3", "o3-2025-04-16"],
    "o4-mini": ["o4-mini", "o4-mini-2025-04-16", "o4-mini-high"],
    "gpt-5": ["gpt-5", "gpt-5-2025-08-07", "gpt-5-chat", "gpt-5-chat-latest", "gpt-5-codex"],
    "gpt-5-mini": ["gpt-5-mini", "gpt-5-mini-2025-08-07"],
    "claude-3-5-sonnet": ["claude-3-5-sonnet-20240620", "claude-3-5-sonnet-20241022"],
    "claude-3-5-haiku": ["claude-3-5-haiku-20241022"],
    "claude-sonnet-4": [
        "claude-sonnet-4-0",
        "claude-sonnet-4-20250514",
        "claude-4-sonnet-20250514",
    ],
    "claude-opus-4": ["claude-opus-4-0", "claude-opus-4", "claude-opus-4-20250514"],
    "claude-opus-4-1": ["claude-opus-4-1", "claude-opus-4-1-20250805"],
    "claude-sonnet-4-5": ["claude-sonnet-4-5", "claude-sonnet-4-5-20250929"],
    "claude-haiku-4-5": ["claude-haiku-4-5", "claude-haiku-4-5-20251001"],
    "claude-opus-4-5": ["claude-opus-4-5", "claude-opus-4-5-20251101"],
    "gemini-2.5-pro": ["gemini-2.5-pro"],
    "gemini-2.5-flash": [
        "gemini-2.5-flash",
        "gemini-2.5-flash-latest",
        "gemini-2.5-flash-preview-09-2025",
    ],
}


@pytest.mark.parametrize("model_id", list(SECTION_10_NAMES))
def test_every_section_10_model_resolves(model_id: str) -> None:
    names = shipped_table().names()
    for name in SECTION_10_NAMES[model_id]:
        assert names.get(name) == model_id, name


# §10 current prices, typed from the reference: (input, cache read, output[, w5m, w1h]),
# checked against the open-ended version of each entry. None: §10 lists no price ("—").
SECTION_10_PRICES: dict[str, tuple[str | None, ...]] = {
    "gpt-4o": ("2.50", "1.25", "10.00"),
    "gpt-4o-2024-05-13": ("5.00", None, "15.00"),
    "gpt-4o-mini": ("0.15", "0.075", "0.60"),
    "gpt-4.1": ("2.00", "0.50", "8.00"),
    "gpt-4.1-mini": ("0.40", "0.10", "1.60"),
    "gpt-4.1-nano": ("0.10", "0.025", "0.40"),
    "o3": ("2.00", "0.50", "8.00"),
    "o4-mini": ("1.10", "0.275", "4.40"),
    "gpt-5": ("1.25", "0.125", "10.00"),
    "gpt-5-mini": ("0.25", "0.025", "2.00"),
    "claude-3-5-sonnet": ("3.00", "0.30", "15.00", "3.75", "6.00"),
    "claude-3-5-haiku": ("0.80", "0.08", "4.00", "1.00", "1.60"),
    "claude-sonnet-4": ("3.00", "0.30", "15.00", "3.75", "6.00"),
    "claude-opus-4": ("15.00", "1.50", "75.00", "18.75", "30.00"),
    "claude-opus-4-1": ("15.00", "1.50", "75.00", "18.75", "30.00"),
    "claude-sonnet-4-5": ("3.00", "0.30", "15.00", "3.75", "6.00"),
    "claude-haiku-4-5": ("1.00", "0.10", "5.00", "1.25", "2.00"),
    "claude-opus-4-5": ("5.00", "0.50", "25.00", "6.25", "10.00"),
    "gemini-2.5-pro": ("1.25", "0.125", "10.00"),
    "gemini-2.5-flash": ("0.30", "0.03", "2.50"),
}
PRICE_ORDER = ("input", "cache_read", "output", "cache_write_5m", "cache_write_1h")


@pytest.mark.parametrize("model_id", list(SECTION_10_PRICES))
def test_current_prices_match_section_10(model_id: str) -> None:
    (model,) = [m for m in shipped_table().models if m.id == model_id]
    current = model.versions[-1]
    assert current.effective_to is None
    for key, value in zip(PRICE_ORDER, SECTION_10_PRICES[model_id], strict=False):
        if value is None:
            assert key not in current.prices, (model_id, key)
        else:
            assert current.prices[key] == Decimal(value), (model_id, key)


# ---------------------------------------------------------------- schema additions


def _one(text: str, tmp_path: Path, provider: str = "openai") -> Any:
    return load_price_table(make_table(tmp_path, text, provider=provider)).models[0]


def test_exact_instants_are_allowed_and_must_meet(tmp_path: Path) -> None:
    """pricing-semantics §4: an RFC 3339 datetime when a change took effect inside a day."""
    models = f"""\
    - id: alpha
      versions:
      - {{effective_from: null, effective_to: '2025-06-10T12:00:00Z', {URL},
         prices: {{input: '2', output: '4'}}}}
      - {{effective_from: '2025-06-10T14:00:00+02:00', effective_to: null, {URL},
         prices: {{input: '1', output: '4'}}}}
    """
    first, second = _one(models, tmp_path).versions
    assert first.effective_to == second.effective_from == datetime(2025, 6, 10, 12, tzinfo=UTC)


def test_exact_instants_that_leave_a_gap_are_refused(tmp_path: Path) -> None:
    models = f"""\
    - id: alpha
      versions:
      - {{effective_from: null, effective_to: '2025-06-10T12:00:00Z', {URL},
         prices: {{input: '2', output: '4'}}}}
      - {{effective_from: '2025-06-10T12:00:01Z', effective_to: null, {URL},
         prices: {{input: '1', output: '4'}}}}
    """
    message = refusal(make_table(tmp_path, models))
    assert "model alpha" in message and "versions[1]" in message and "gap" in message


TIERED = f"""\
- id: alpha
  versions:
  - effective_from: null
    effective_to: null
    {URL}
    prices: {{input: '3', cache_read: '0.3', output: '15'}}
    tiers:
    - when: {{metric: total_input_tokens, op: gt, value: 200000}}
      prices: {{input: '6', output: '22.5'}}
    fees: {{web_search_per_1k: '10', per_request: '0.002'}}
    variants:
"""


def test_a_multiplier_variant_scales_its_keys_and_their_tiers(tmp_path: Path) -> None:
    """§5: "An optional multiplier + applies_to form scales the listed keys and their tiers"."""
    models = TIERED + "    - when: {region: regional}\n      multiplier: '1.1'\n"
    (version,) = _one(models, tmp_path).versions
    (variant,) = version.variants
    assert variant.name == "regional"
    assert variant.prices == {"input": D("3.3"), "cache_read": D("0.33"), "output": D("16.5")}
    assert [(t.threshold, t.prices) for t in variant.tiers] == [
        (200000, {"input": D("6.6"), "output": D("24.75")})
    ]
    assert version.fees == {"web_search_per_1k": D("10"), "per_request": D("0.002")}


def test_applies_to_limits_a_multiplier(tmp_path: Path) -> None:
    models = TIERED + (
        "    - when: {processing: batch}\n      multiplier: '0.5'\n      applies_to: [output]\n"
    )
    (variant,) = _one(models, tmp_path).versions[0].variants
    assert variant.prices == {"output": D("7.5")}
    assert [(t.threshold, t.prices) for t in variant.tiers] == [(200000, {"output": D("11.25")})]


@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        ("- when: {region: regional}\n  multiplier: '1.1'\n  prices: {input: '1'}", "either"),
        (
            "- when: {region: regional}\n  multiplier: '1.1'\n  applies_to: [reasoning]",
            "applies_to",
        ),
        ("- when: {region: regional}\n  checked: '2026-10-14'", "prices: {}"),
        ("- when: {region: eu}\n  prices: {}", "unsupported variant condition region: eu"),
        ("- when: {service_tier: fast}\n  prices: {}", "service_tier: fast"),
        ("- when: {}\n  prices: {}", "'when' must name"),
    ],
)
def test_malformed_variants_are_refused(tmp_path: Path, variant: str, expected: str) -> None:
    models = TIERED + "".join(f"    {line}\n" for line in variant.splitlines())
    message = refusal(make_table(tmp_path, models))
    assert "model alpha" in message and "variants[0]" in message and expected in message


def test_a_context_of_several_keys_and_an_explicit_same_price(tmp_path: Path) -> None:
    models = TIERED + (
        "    - when: {region: regional, processing: batch}\n      prices: {input: '1.65'}\n"
        "    - when: {region: regional}\n      prices: {}\n"
    )
    version = _one(models, tmp_path).versions[0]
    assert version.contexts() == ["standard", "batch+regional", "regional"]
    assert version.variants[1].prices == {}


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("{prefix: alpha}", "only {regex"),
        ("{regex: 'alpha-('}", "invalid regex"),
        ("{regex: 'be.*'}", "also matches beta of model beta (ambiguous match)"),
        ("{regex: 'alpha.*'}", "dated snapshot 'alpha-20991231'"),
    ],
)
def test_ambiguous_or_loose_match_rules_are_refused(
    tmp_path: Path, rule: str, expected: str
) -> None:
    """§7: "CI fails if any rule matches another model's id or alias"; no alias fallback."""
    beta = ALPHA.replace("id: alpha", "id: beta").replace("[alpha-2025-01-01]", "[]")
    models = ALPHA.replace("  versions:", f"  match: [{rule}]\n  versions:") + beta
    message = refusal(make_table(tmp_path, models))
    assert "providers/openai.yaml" in message and "model alpha" in message
    assert expected in message


def test_a_narrow_match_rule_loads(tmp_path: Path) -> None:
    models = ALPHA.replace("  versions:", "  match: [{regex: 'alpha-v[0-9]+:0'}]\n  versions:")
    assert _one(models, tmp_path).rules == ["alpha-v[0-9]+:0"]


@pytest.mark.parametrize(
    ("name", "looked_up"),
    [("openai/alpha-x", "alpha-x"), ("us.anthropic.alpha-x", "anthropic.alpha-x")],
)
def test_names_the_normaliser_never_produces_are_refused(
    tmp_path: Path, name: str, looked_up: str
) -> None:
    models = ALPHA.replace("[alpha-2025-01-01]", f"['{name}']")
    message = refusal(make_table(tmp_path, models))
    assert "model alpha" in message and f"{name!r} can never match" in message
    assert f"looked up as {looked_up!r}" in message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    bad_price = ALPHA.replace("input: '1'", "input: 0.1")
    bad_key = ALPHA.replace("id: alpha", "id: beta").replace("[alpha-2025-01-01]", "[]")
    bad_key = bad_key.replace("output: '2'", "output: '2', output_audio: '4'")
    message = refusal(make_table(tmp_path, bad_price + bad_key))
    assert "model alpha" in message and "0.1" in message
    assert "model beta" in message and "'output_audio'" in message


def test_unknown_source_key_is_refused(tmp_path: Path) -> None:
    models = ALPHA.replace(URL, "source: {url: 'https://example.com/pricing', link: 'x'}")
    message = refusal(make_table(tmp_path, models))
    assert "model alpha" in message and "source" in message and "link" in message


def test_local_entries_are_marked(tmp_path: Path) -> None:
    assert _one(ALPHA.replace("  versions:", "  local: true\n  versions:"), tmp_path).local


# pricing/README.md, "Model entry": `kind: embedding` bills input only.
def test_an_embedding_model_needs_no_output_price(tmp_path: Path) -> None:
    models = ALPHA.replace("  aliases:", "  kind: embedding\n  aliases:").replace(
        "prices: {input: '1', output: '2'}", "prices: {input: '1'}"
    )
    table = load_price_table(make_table(tmp_path, models))
    assert table.models[0].versions[0].prices == {"input": Decimal("1")}


def test_a_chat_model_without_output_and_an_unknown_kind_are_refused(tmp_path: Path) -> None:
    no_output = ALPHA.replace("prices: {input: '1', output: '2'}", "prices: {input: '1'}")
    assert "prices must include output" in refusal(make_table(tmp_path / "a", no_output))
    odd = ALPHA.replace("  aliases:", "  kind: rerank\n  aliases:")
    message = refusal(make_table(tmp_path / "b", odd))
    assert "model alpha" in message and "kind must be one of" in message


def test_the_manifest_script_explains_a_bad_argument(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tokaudit.pricing.manifest import main

    assert main(["--help"]) == 0 and "usage:" in capsys.readouterr().out
    assert main([str(tmp_path / "nope")]) == 2
    assert "not a price table" in capsys.readouterr().err
    assert main(["a", "b"]) == 2
    table = make_table(tmp_path / "t", ALPHA)
    (table / MANIFEST).unlink()
    assert main([str(table)]) == 0
    assert load_price_table(table).models[0].id == "alpha"  # the rewritten manifest verifies


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        (lambda text: text.replace("  sha256:", "  sha_256:", 1), "files entry 1 needs a path"),
        (lambda text: "- a\n", "must be a mapping with a list of files"),
        (lambda text: "files: 5\n", "must be a mapping with a list of files"),
        (lambda text: "files: [: :\n", "not a readable manifest"),
        (lambda text: text + "signed_by: finance\n", "unknown key(s) signed_by"),
        (lambda text: text.replace("  sha256:", "  note: x\n  sha256:", 1), "files entry 1"),
    ],
)
def test_a_damaged_manifest_is_refused_by_name(tmp_path: Path, damage: Any, needle: str) -> None:
    """A manifest without a hash, of another shape or not YAML crashed every command that
    loaded the table with a traceback (KeyError, AttributeError, TypeError: QA). A key the
    manifest script never writes was accepted and ignored (QA): a hand edit or another
    tool's file."""
    directory = make_table(tmp_path, ALPHA)
    manifest = directory / MANIFEST
    manifest.write_text(damage(manifest.read_text("utf-8")), "utf-8")
    message = refusal(directory)
    assert str(manifest) in message and needle in message


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda text: text.split("models:")[0] + "models: null\n", "'models' must be"),
        (lambda text: text.split("models:")[0] + "models: []\n", "'models' must be"),
        (lambda text: text.split("models:")[0], "'models' must be a list of models"),
        (
            lambda text: text.replace(
                "source_urls: [https://example.com/pricing]", "source_urls: x"
            ),
            "'source_urls' must be a list",
        ),
        (lambda text: text.replace("[alpha-2025-01-01]", "alpha-2025-01-01"), "'aliases' must"),
    ],
)
def test_a_provider_file_whose_lists_are_not_lists_is_refused(
    tmp_path: Path, edit: Any, needle: str
) -> None:
    """``models: null`` (or no models key) loaded a provider with no models and no word, so
    every request to it was unpriced as unknown; a string of aliases claimed its letters."""
    directory = make_table(tmp_path, ALPHA)
    provider = directory / "providers" / "openai.yaml"
    provider.write_text(edit(provider.read_text("utf-8")), "utf-8")
    write_manifest(directory)
    message = refusal(directory)
    assert "providers/openai.yaml" in message and needle in message


def test_a_manifest_or_provider_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    directory = make_table(tmp_path, ALPHA)
    manifest = directory / MANIFEST
    original = manifest.read_bytes()
    manifest.write_bytes(b"# \xff\n" + original)
    assert "not a readable manifest" in refusal(directory)
    manifest.write_bytes(original)
    provider = directory / "providers" / "openai.yaml"
    provider.write_bytes(b"# Open\xffAI\n" + provider.read_bytes())
    write_manifest(directory)
    message = refusal(directory)
    assert "providers/openai.yaml" in message and "not valid UTF-8" in message


@pytest.mark.parametrize(
    "tier",
    [
        "{when: {metric: total_input_tokens, op: gt, value: 100}, prices: {input: '2'}, "
        "fees: {per_request: '1'}}",
        "{when: {metric: total_input_tokens, op: gt, value: 100, colour: x}, prices: {input: '2'}}",
    ],
)
def test_unknown_keys_in_a_tier_are_refused(tmp_path: Path, tier: str) -> None:
    """A tier's `fees` (or any other key) was ignored without a word (QA)."""
    models = ALPHA + f"    tiers: [{tier}]\n"
    message = refusal(make_table(tmp_path, models))
    assert "model alpha" in message and "tiers[0]" in message and "unknown key(s)" in message


def test_the_same_bytes_load_once_and_an_edit_is_read_again(tmp_path: Path) -> None:
    """load_price_table keeps a table it loaded by the hashes of its files: the same bytes
    give the same object (no second YAML parse), while an edit is seen at once, refused
    when the manifest was not regenerated and read afresh when it was."""
    directory = make_table(tmp_path, ALPHA)
    first = load_price_table(directory)
    assert load_price_table(directory) is first
    provider = directory / "providers" / "openai.yaml"
    provider.write_text(provider.read_text("utf-8").replace("output: '2'", "output: '3'"))
    assert "does not match the manifest" in refusal(directory)
    write_manifest(directory)
    again = load_price_table(directory)
    assert again is not first
    assert again.models[0].versions[0].prices == {"input": D("1"), "output": D("3")}
    assert first.models[0].versions[0].prices == {"input": D("1"), "output": D("2")}
