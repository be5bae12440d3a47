"""`tokaudit pricing …`, `report --compare-pricing/--compare-at`, `--overlay` and `--strict`.

CliRunner tests of the command contract: data on stdout, problems on stderr, exit 2 on a bad
table or (with --strict) on unpriced requests. Figures are hand-computed from §10 prices.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest
from pricing_testkit import make_table, openai_envelope, shipped_table, write_jsonl
from typer.testing import CliRunner

from tokaudit.cli import app
from tokaudit.pricing.manifest import write_manifest
from tokaudit.pricing.table import load_price_table

runner = CliRunner()
D = Decimal
URL = "source: {url: 'https://example.com/pricing'}"
ALPHA = f"""\
- id: alpha
  aliases: [alpha-2025-01-01]
  versions:
  - {{effective_from: null, effective_to: null, {URL}, prices: {{input: '1', output: '2'}}}}
"""


def invoke(*args: str, env: dict[str, str] | None = None) -> object:
    return runner.invoke(app, list(args), env=env)


def run(*args: str, code: int = 0, env: dict[str, str] | None = None) -> object:
    result = runner.invoke(app, list(args), env=env)
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    return result


# ---------------------------------------------------------------- validate


def test_validate_the_shipped_table() -> None:
    result = run("pricing", "validate")
    table = shipped_table()
    assert result.stdout.startswith(
        f"ok: table {table.table_version} (sha256 {table.table_sha256})"
    )
    assert f"{len(table.models)} models in 5 files" in result.stdout


def test_validate_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    beta = ALPHA.replace("id: alpha", "id: beta").replace("input: '1'", "input: 0.5")
    gamma = ALPHA.replace("id: alpha", "id: gamma")  # claims alpha-2025-01-01 too
    directory = make_table(tmp_path, ALPHA + beta + gamma)
    path = directory / "providers" / "openai.yaml"
    path.write_text(path.read_text("utf-8") + "\n", "utf-8")  # and stale manifest hashes
    result = run("pricing", "validate", str(directory), code=2)
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert any("does not match the manifest" in e for e in errors)
    assert any("model beta" in e and ".input" in e and "0.5" in e for e in errors)
    assert any(
        "model gamma" in e and "'alpha-2025-01-01' is already claimed by alpha" in e for e in errors
    )
    assert "3 problem(s)" in result.stderr


def test_validate_checks_an_overlay_too(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("schema_version: 1\ndiscounts: [{provider: openai, percent: '5'}]\n")
    assert "overlay" in run("pricing", "validate", "--overlay", str(good)).stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema_version: 1\ndiscounts: [{provider: azure, percent: '5'}]\n")
    result = run("pricing", "validate", "--overlay", str(bad), code=2)
    assert "unknown provider 'azure'" in result.stderr
    assert f"overlay {bad} (on " in result.stderr  # the summary blames the overlay
    folder = run("pricing", "validate", "--overlay", str(tmp_path), code=2)
    assert "an overlay is one YAML file, not a directory" in folder.stderr


# ---------------------------------------------------------------- list / show


def test_list_json_cites_a_source_for_every_model() -> None:
    data = json.loads(run("pricing", "list", "-f", "json").stdout)
    assert data["pricing"]["sha256"] == shipped_table().table_sha256
    models = {m["model"]: m for m in data["models"]}
    assert len(models) == len(shipped_table().models)
    assert all(m["source"].startswith("https://") for m in models.values())
    assert models["groq/llama-3.3-70b-versatile"]["input"] == "0.59"
    assert models["o3"]["version"] == "from 2025-06-10"
    # lists are JSON lists (they were comma-joined strings)
    assert models["o3"]["aliases"] == ["o3-2025-04-16"] and models["o3"]["local"] is False
    assert "batch" in models["o3"]["contexts"]
    old = json.loads(run("pricing", "list", "--at", "2025-06-01", "-f", "json").stdout)
    assert {m["model"]: m["input"] for m in old["models"]}["o3"] == "10"
    # a model without a cache-read price: null in JSON, a dash in the table, never "NULL"
    missing = [m for m in models.values() if m["cache_read"] is None]
    assert missing
    listed = run("pricing", "list").stdout
    assert "NULL" not in listed and "—" in listed


def test_show_resolves_a_bedrock_id_to_its_regional_prices() -> None:
    result = run("pricing", "show", "eu.anthropic.claude-sonnet-4-5-20250929-v1:0", "-f", "json")
    data = json.loads(result.stdout)
    assert data["model"] == "anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert (data["route"], data["region"], data["implied_context"]) == (
        "bedrock",
        "eu",
        "regional",
    )
    assert data["source_url"] == "https://aws.amazon.com/bedrock/pricing/"
    prices = {(p["context"], p["key"]): p["usd_per_1m"] for p in data["prices"]}
    assert prices["standard", "input"] == "3" and prices["regional", "input"] == "3.3"
    assert prices["regional", "output"] == "16.5"


def test_show_at_a_date_picks_the_version() -> None:
    def o3_input(at: str) -> str:
        data = json.loads(run("pricing", "show", "o3", "--at", at, "-f", "json").stdout)
        return {p["key"]: p["usd_per_1m"] for p in data["prices"] if p["context"] == "standard"}[
            "input"
        ]

    assert o3_input("2025-06-09T23:59:59Z") == "10"
    assert o3_input("2025-06-10") == "2"


def test_show_table_names_the_source_and_tiers() -> None:
    out = run("pricing", "show", "models/gemini-2.5-pro").stdout
    assert "source_url: https://ai.google.dev/gemini-api/docs/pricing#gemini-2.5-pro" in out
    assert "total input > 200,000" in out and "web_search_per_1k 35 USD" in out


def test_show_applies_a_vertex_location_only_to_a_vertex_name() -> None:
    shown = run("pricing", "show", "claude-sonnet-4-5@20250929", "--vertex-location", "us-east5")
    assert "region: us-east5" in shown.stdout and "implied_context: regional" in shown.stdout
    # a request logged with this name would be priced without the location: say so, exit 2
    refused = run("pricing", "show", "gpt-4o", "--vertex-location", "us-east5", code=2)
    assert refused.stdout == "" and "applies only to a Vertex AI model name" in refused.stderr


def test_show_an_unknown_model_is_an_error() -> None:
    result = run("pricing", "show", "gpt-4o-2099-01-01", code=2)
    assert result.stdout == "" and "unknown_model" in result.stderr


# ---------------------------------------------------------------- diff


def _two_tables(tmp_path: Path) -> tuple[Path, Path]:
    old = make_table(tmp_path / "old", ALPHA)
    beta = ALPHA.replace("id: alpha", "id: beta").replace("[alpha-2025-01-01]", "[]")
    new_alpha = ALPHA.replace("input: '1'", "input: '1.2'").replace(
        "[alpha-2025-01-01]", "[alpha-2025-01-01, alpha-latest]"
    )
    new = make_table(tmp_path / "new", new_alpha + beta)
    return old, new


def test_diff_lists_what_changed(tmp_path: Path) -> None:
    old, new = _two_tables(tmp_path)
    data = json.loads(run("pricing", "diff", str(old), str(new), "-f", "json").stdout)
    changes = {(c["change"], c["model"], c["key"], c["old"], c["new"]) for c in data["changes"]}
    assert changes == {
        ("price changed", "alpha", "input", "1", "1.2"),
        ("name added", "alpha", None, None, "alpha-latest"),
        ("model added", "beta", None, None, "input 1, output 2; contexts standard"),
    }
    assert data["old"]["sha256"] == load_price_table(old).table_sha256
    run("pricing", "diff", str(old), str(new), "--exit-code", code=1)
    run("pricing", "diff", str(old), str(old), "--exit-code", code=0)


def test_diff_against_a_git_revision(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    old, new = _two_tables(tmp_path)
    shutil.copytree(old, repo / "pricing")
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    for args in (["init", "-q"], ["add", "pricing"], ["commit", "-q", "-m", "old prices"]):
        subprocess.run(["git", *args], cwd=repo, check=True, env=env, capture_output=True)
    shutil.rmtree(repo / "pricing")
    shutil.copytree(new, repo / "pricing")
    cwd = Path.cwd()
    os.chdir(repo)
    try:
        data = json.loads(run("pricing", "diff", "git:HEAD", "pricing", "-f", "json").stdout)
        missing = run("pricing", "diff", "git:HEAD:nope", "pricing", code=2)
    finally:
        os.chdir(cwd)
    assert data["old"]["source"] == "git:HEAD"
    assert ("price changed", "alpha") in {(c["change"], c["model"]) for c in data["changes"]}
    assert "nope/manifest.yaml" in missing.stderr


# ---------------------------------------------------------------- report: compare, overlay, strict


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One store for the report tests; each priced command re-installs its own prices."""
    tmp_path = tmp_path_factory.mktemp("store")
    envelopes = [
        openai_envelope("o3", "2025-05-01T12:00:00Z", 1_000_000, 1_000_000),
        openai_envelope("gpt-4o", "2026-11-01T12:00:00Z", 1_000_000, 1_000_000),
        openai_envelope("acme-llm-7b", "2026-11-01T12:00:00Z", 10, 10),
    ]
    db = tmp_path / "s.duckdb"
    run("ingest", str(write_jsonl(tmp_path / "log.jsonl", envelopes)), "--db", str(db))
    return db


def test_compare_at_prices_history_at_todays_prices(store: Path) -> None:
    """o3 on 2025-05-01 cost $50 (1M + 1M at $10/$40); at the 2025-06-10 price, $10."""
    args = ["report", "--db", str(store), "--by", "model", "--compare-at", "2025-07-01"]
    data = json.loads(run(*args, "-f", "json").stdout)
    rows = {r["model"]: r for r in data["rows"]}
    assert (rows["o3"]["cost_usd"], rows["o3"]["compare_cost_usd"], rows["o3"]["delta_usd"]) == (
        "50",
        "10",
        "-40",
    )
    assert rows["gpt-4o"]["delta_usd"] == "0"
    assert data["totals"]["delta_usd"] == "-40"
    assert data["compare_pricing"]["price_at"].startswith("2025-07-01")
    assert data["pricing"]["sha256"] == shipped_table().table_sha256
    # The store keeps the current prices afterwards.
    sql = run(
        "sql", "--db", str(store), "-f", "json", "SELECT sum(cost_usd) AS c FROM request_costs"
    )
    assert D(json.loads(sql.stdout)[0]["c"]) == D("62.5")


def test_compare_pricing_with_another_table(store: Path, tmp_path: Path) -> None:
    table = tmp_path / "cheaper"
    shutil.copytree(shipped_table().directory, table)
    path = table / "providers" / "openai.yaml"
    text = path.read_text("utf-8")
    text = text.replace(
        "prices: {input: '2.5', cache_read: '1.25', cache_write_5m: '2.5', output: '10'}",
        "prices: {input: '2', cache_read: '1', cache_write_5m: '2', output: '8'}",
    )
    path.write_text(text, "utf-8")
    write_manifest(table)
    args = ["report", "--db", str(store), "--by", "model", "--compare-pricing", str(table)]
    data = json.loads(run(*args, "-f", "json").stdout)
    rows = {r["model"]: r for r in data["rows"]}
    assert (rows["gpt-4o"]["cost_usd"], rows["gpt-4o"]["compare_cost_usd"]) == ("12.5", "10")
    assert rows["acme-llm-7b"]["unpriced_requests"] == 1
    assert data["compare_pricing"]["sha256"] == load_price_table(table).table_sha256
    text_out = run(*args).stdout
    assert "compared with table" in text_out and "delta = compared - current" in text_out
    # tables and Markdown show money as every report does (they printed 12.5 | 10 | -2.5)
    gpt4o = next(
        line for line in run(*args, "-f", "markdown").stdout.splitlines() if "gpt-4o " in line
    )
    assert "| $12.50 | $10.00 | -$2.50 |" in gpt4o
    # CSV: one line per group, no total row to double count; the tables named on stderr
    csv_out = run(*args, "-f", "csv")
    lines = csv_out.stdout.splitlines()
    assert len(lines) == 1 + len(data["rows"])
    assert {line.split(",")[0] for line in lines[1:]} == set(rows)
    assert "compared with table" in csv_out.stderr


def test_strict_fails_on_unpriced_requests(store: Path) -> None:
    run("report", "--db", str(store))
    result = run("report", "--db", str(store), "--strict", "-f", "json", code=2)
    assert json.loads(result.stdout)["unpriced"]  # the report is still printed
    assert "acme-llm-7b" in result.stderr and "unknown_model" in result.stderr
    findings = run("findings", "--db", str(store), "--strict", code=2)
    assert "acme-llm-7b" in findings.stderr
    audit = run("audit", str(store.parent / "log.jsonl"), "--strict", "-f", "json", code=2)
    assert json.loads(audit.stdout)["breakdowns"] and "acme-llm-7b" in audit.stderr
    run("report", "--db", str(store), env={"TOKAUDIT_STRICT": "1"}, code=2)


def test_overlay_from_the_environment_is_named_in_the_report(store: Path, tmp_path: Path) -> None:
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(
        textwrap.dedent(
            """\
            schema_version: 1
            name: private models
            models:
            - id: acme-llm-7b
              provider: self-hosted
              versions:
              - {effective_from: null, effective_to: null,
                 source: {url: 'https://wiki.example/llm'}, prices: {input: '0', output: '0'}}
            """
        )
    )
    env = {"TOKAUDIT_PRICING_OVERLAY": str(overlay)}
    data = json.loads(run("report", "--db", str(store), "-f", "json", env=env).stdout)
    assert data["pricing"]["overlay"]["name"] == "private models"
    assert data["unpriced"] == []
    run("report", "--db", str(store), "--strict", env=env)  # nothing unpriced now
    table = run("report", "--db", str(store), env=env).stdout
    assert "overlay private models" in table
    # the price listings name the overlay too, in every format
    listed = run("pricing", "list", env=env)
    assert "+ overlay private models (sha256 " in listed.stdout
    shown = run("pricing", "show", "acme-llm-7b", env=env)
    assert "+ overlay private models (sha256 " in shown.stdout
    as_md = run("pricing", "list", "-f", "markdown", env=env)
    assert as_md.stdout.rstrip().endswith("USD per 1M tokens_")
    assert "overlay private models" in as_md.stdout
    as_csv = run("pricing", "list", "-f", "csv", env=env)
    assert "overlay private models" in as_csv.stderr
    assert "overlay" not in as_csv.stdout.splitlines()[0]  # stdout: the rows only


# ---------------------------------------------------------------- sync


def test_sync_proposes_new_versions_and_keeps_local_entries(tmp_path: Path) -> None:
    table = tmp_path / "table"
    shutil.copytree(shipped_table().directory, table)
    path = table / "providers" / "openai.yaml"
    text = path.read_text("utf-8")
    text = text.replace(  # a stale gpt-4o price
        "prices: {input: '2.5', cache_read: '1.25', cache_write_5m: '2.5', output: '10'}",
        "prices: {input: '2.4', cache_read: '1.25', cache_write_5m: '2.5', output: '10'}",
    )
    text = text.replace(  # a negotiated price kept on purpose
        "- id: gpt-4o-mini\n  aliases:", "- id: gpt-4o-mini\n  local: true\n  aliases:"
    ).replace(
        "prices: {input: '0.15', cache_read: '0.075'", "prices: {input: '0.1', cache_read: '0.075'"
    )
    path.write_text(text, "utf-8")
    write_manifest(table)

    dry = json.loads(run("pricing", "sync", "--pricing", str(table), "-f", "json").stdout)
    status = {r["model"]: r for r in dry}
    assert (status["gpt-4o"]["status"], status["gpt-4o"]["key"]) == ("updated", "input")
    assert (status["gpt-4o"]["ours"], status["gpt-4o"]["theirs"]) == ("2.4", "2.5")
    assert status["gpt-4o-mini"]["status"] == "local (kept)"
    assert status["o3"]["status"] == "unchanged"
    # Only the edited models and the shipped `local: true` entries (Claude Mythos 5 / 5.1, which
    # genai-prices lacks, and Gemini 1.5 Flash-8B, which it prices as 1.5 Flash) differ: a variant
    # genai-prices dates later (Gemini 3.6 Flash's 2027 batch rate) is not compared with the one in
    # force now.
    shipped_local = {m.id for m in shipped_table().models if m.local}
    assert shipped_local == {"claude-mythos-5", "claude-mythos-5-1", "gemini-1.5-flash-8b"}
    assert {r["status"] for r in dry if r["model"] in shipped_local} == {"local (kept)"}
    changed = {r["model"] for r in dry if r["status"] != "unchanged"}
    assert changed == {"gpt-4o", "gpt-4o-mini", *shipped_local}
    assert status["gemini-3.6-flash"]["status"] == "unchanged"

    out = tmp_path / "refreshed"
    args = ["pricing", "sync", "--pricing", str(table), "--out", str(out)]
    result = run(*args, "--effective-from", "2026-11-20", "-f", "json")
    changes = json.loads(result.stdout)["changes"]
    assert {(c["change"], c["model"], c["version"]) for c in changes} == {
        ("version added", "gpt-4o", "from 2026-11-20"),
        ("version added", "gpt-4o", "until 2026-11-20"),
        ("version removed", "gpt-4o", "always"),
    }
    refreshed = load_price_table(out)  # loads, hashes verify, versions contiguous
    (gpt_4o,) = [m for m in refreshed.models if m.id == "gpt-4o"]
    old, new = gpt_4o.versions
    assert (old.prices["input"], new.prices["input"]) == (D("2.4"), D("2.5"))
    # Everything genai-prices does not price is carried over: the OpenAI cache-write convention,
    # the variants and their verification dates.
    assert new.prices["cache_write_5m"] == D("2.5")
    assert {v.name: (v.prices.get("input"), v.checked) for v in new.variants} == {
        "batch": (D("1.25"), "2026-10-14"),
        "priority": (D("4.25"), "2026-10-12"),
    }
    (mini,) = [m for m in refreshed.models if m.id == "gpt-4o-mini"]
    assert mini.local and mini.versions[0].prices["input"] == D("0.1")
    assert "genai-prices 0.2.3" in (out / "providers" / "openai.yaml").read_text("utf-8")


@pytest.mark.parametrize(
    ("price", "needle"),
    [
        ("100000000000000000000000000", "is too large for the store"),
        ("0.0000000000000000001", "needs more than 18 decimal places per token"),
    ],
)
def test_validate_refuses_a_price_the_store_cannot_hold(
    tmp_path: Path, price: str, needle: str
) -> None:
    """It passed `validate`; then ingest crashed with a DuckDB conversion traceback, or
    every priced command refused it naming no file, model or key (QA)."""
    models = f"""\
    - id: alpha
      aliases: []
      versions:
      - effective_from: null
        effective_to: null
        source: {{url: 'https://example.com/pricing'}}
        prices: {{input: '{price}', output: '2'}}
    """
    directory = make_table(tmp_path / "t", models)
    result = runner.invoke(app, ["pricing", "validate", str(directory)])
    assert result.exit_code == 2
    assert "providers/openai.yaml: model alpha, input:" in result.stderr and needle in result.stderr
    log = write_jsonl(
        tmp_path / "log.jsonl", [openai_envelope("alpha", "2026-10-01T00:00:00Z", 10, 1)]
    )
    ingest = runner.invoke(
        app, ["ingest", str(log), "--db", str(tmp_path / "s.duckdb"), "--pricing", str(directory)]
    )
    assert ingest.exit_code == 2 and "model alpha, input:" in ingest.stderr


def test_sync_out_that_cannot_be_a_directory_is_exit_2(tmp_path: Path) -> None:
    """--out naming a file, or a place no directory can be made, was a traceback (QA)."""
    afile = tmp_path / "afile"
    afile.write_text("x", "utf-8")
    for out, needle in ((afile, "not a directory"), (afile / "sub", "cannot write")):
        result = runner.invoke(app, ["pricing", "sync", "--out", str(out)])
        assert result.exit_code == 2, result.stderr
        assert result.stderr.startswith(f"error: {out}: {needle}"), result.stderr


def test_sync_names_a_model_that_differs_but_cannot_be_closed(tmp_path: Path) -> None:
    """o3's current version starts 2025-06-10: refreshed as of 2025-01-01 it cannot be
    closed, and sync said "0 model(s) differ" and never why (QA)."""
    table = tmp_path / "table"
    shutil.copytree(shipped_table().directory, table)
    path = table / "providers" / "openai.yaml"
    text = path.read_text("utf-8")
    cut = "o3-is-80-cheaper-and-introducing-o3-pro/1284925', via: 'genai-prices 0.2.3'}\n"
    price = "    prices: {input: '2', cache_read: '0.5'"
    assert text.count(cut + price) == 1  # o3's version from 2025-06-10, nothing else
    text = text.replace(cut + price, cut + price.replace("'2'", "'2.2'"))
    path.write_text(text, "utf-8")
    write_manifest(table)
    args = ["pricing", "sync", "--pricing", str(table), "--effective-from", "2025-01-01"]
    result = runner.invoke(app, [*args, "-f", "csv"])
    assert result.exit_code == 0, result.stderr
    assert "note: o3: 1 price(s) differ, but current version" in result.stderr
    assert "cannot be closed on 2025-01-01; edit by hand" in result.stderr
    assert "1 more to edit by hand" in result.stderr
    written = runner.invoke(app, [*args, "--out", str(tmp_path / "out")])
    assert "note: o3: 1 price(s) differ" in written.stderr
