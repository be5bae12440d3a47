"""The recount in a store: per-message units, incremental runs, pricing without usage, reports."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from helpers import REPO, copy_store, write_jsonl
from tokaudit import api
from tokaudit.cli import app
from tokaudit.errors import InputError
from tokaudit.findings import run_rules
from tokaudit.ingest import ingest_paths
from tokaudit.pricing.store_tables import install_price_table
from tokaudit.pricing.table import load_price_table
from tokaudit.recount import pool, recount
from tokaudit.report.renderers.common import display_usd
from tokaudit.store import open_store
from tokaudit.tokenizers import ChatMessage, ChatProfile, Registry, TiktokenTokenizer

runner = CliRunner()
SYSTEM = "You are a terse assistant. Answer in one sentence."
TURNS = [("What is a token?", "A piece of text."), ("And a cache?", "Stored prefix tokens.")]


def _record(rid: str, messages: list[dict[str, str]], **extra: Any) -> dict[str, Any]:
    response: dict[str, Any] = {"id": rid, "model": "gpt-4o-mini"}
    response.update(extra)
    return {
        "timestamp": "2026-10-01T10:00:00Z",
        "provider": "openai",
        "metadata": {"team": "chat"},
        "request": {"model": "gpt-4o-mini", "messages": messages},
        "response": response,
    }


def _conversation() -> list[dict[str, Any]]:
    """Two turns; the second re-sends the first, as chat apps do."""
    history = [{"role": "system", "content": SYSTEM}]
    out = []
    for n, (question, answer) in enumerate(TURNS):
        history.append({"role": "user", "content": question})
        out.append(
            _record(f"c{n}", list(history), usage={"prompt_tokens": 1, "completion_tokens": 1})
        )
        history.append({"role": "assistant", "content": answer})
    return out


def _store(tmp_path: Path, records: list[dict[str, Any]], name: str = "log") -> Any:
    con = open_store(tmp_path / "store.duckdb")
    ingest_paths(con, [str(write_jsonl(tmp_path / f"{name}.jsonl", records))])
    return con


@pytest.fixture(scope="module")
def _conversation_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``_conversation()`` ingested (not recounted) once per module: an ingest costs about
    0.5 s of CPU; ``conversation_store`` hands each test a copy it may recount."""
    tmp = tmp_path_factory.mktemp("conversation")
    _store(tmp, _conversation()).close()
    return tmp / "store.duckdb"


@pytest.fixture
def conversation_store(tmp_path: Path, _conversation_template: Path) -> duckdb.DuckDBPyConnection:
    """A store of ``_conversation()`` ingested and not yet recounted, the test's own copy."""
    return open_store(copy_store(_conversation_template, tmp_path))


def _expected(messages: list[dict[str, str]]) -> int:
    """Independent count: the cookbook framing over tiktoken's plain counts."""
    tokenizer = TiktokenTokenizer()
    chat = [ChatMessage(m["role"], m["content"]) for m in messages]
    return tokenizer.count_chat(chat, "gpt-4o-mini")[0]


def test_history_is_counted_once_per_message(conversation_store: duckdb.DuckDBPyConnection) -> None:
    records = _conversation()
    con = conversation_store
    first = recount(con, workers=1)
    got = dict(con.execute("SELECT request_id, recounted_input_tokens FROM requests").fetchall())
    assert got == {r["response"]["id"]: _expected(r["request"]["messages"]) for r in records}
    # units: system, q1, a1, q2 (4 distinct messages for 2 + 4 = 6 sent), 2 request sums,
    # and the system prompt's size for the caching finding, derived from its unit
    assert first.texts_counted == 4
    assert con.execute("SELECT count(*) FROM token_counts").fetchone() == (4 + 2 + 1,)
    size = con.execute(
        "SELECT tokens, exact FROM token_counts WHERE text_hash = md5(?)", [SYSTEM]
    ).fetchone()
    assert size == (TiktokenTokenizer().count([SYSTEM], "gpt-4o")[0], True)


def test_second_run_does_nothing_and_new_turns_count_only_new_messages(
    tmp_path: Path, conversation_store: duckdb.DuckDBPyConnection
) -> None:
    con = conversation_store
    recount(con, workers=1)
    again = recount(con, workers=1)
    assert (again.texts_counted, again.requests_updated) == (0, 0)

    history = _conversation()[-1]["request"]["messages"] + [
        {"role": "assistant", "content": TURNS[1][1]},
        {"role": "user", "content": "Thanks."},
    ]
    ingest_paths(con, [str(write_jsonl(tmp_path / "more.jsonl", [_record("c2", history)]))])
    third = recount(con, workers=1)
    assert (third.texts_counted, third.requests_updated) == (2, 1)  # a2 and "Thanks."
    row = con.execute("SELECT recounted_input_tokens FROM requests WHERE request_id = 'c2'")
    assert row.fetchone() == (_expected(history),)


@dataclass
class _Bumped(TiktokenTokenizer):
    """The same counts under a new version, as after a tiktoken or rules upgrade."""

    def __post_init__(self) -> None:
        TiktokenTokenizer.__init__(self)
        self.version += "+bumped"


def test_a_new_tokenizer_version_recounts_everything(
    tmp_path: Path, conversation_store: duckdb.DuckDBPyConnection
) -> None:
    con = conversation_store
    recount(con, workers=1)
    bumped = recount(con, Registry([_Bumped()]), workers=1)
    assert bumped.texts_counted == 4  # every message again (system prompts keep o200k rows)
    versions = con.execute(
        "SELECT DISTINCT tokenizer_version FROM token_counts WHERE tokenizer = 'tiktoken' "
        "AND text_hash IN (SELECT input_hash FROM requests) IS NOT TRUE"
    ).fetchall()
    assert any(v[0].endswith("+bumped") for v in versions)


def test_worker_processes_give_the_same_counts(
    conversation_store: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    con = conversation_store
    monkeypatch.setattr(pool, "POOL_MIN_CHARS", 0)  # use the pool even for a tiny job
    recount(con, workers=2)
    got = con.execute("SELECT sum(recounted_input_tokens) FROM requests").fetchone()
    assert got == (sum(_expected(r["request"]["messages"]) for r in _conversation()),)


def _priced(tmp_path: Path, records: list[dict[str, Any]]) -> duckdb.DuckDBPyConnection:
    con = _store(tmp_path, records)
    install_price_table(con, load_price_table(REPO / "pricing"))
    recount(con, workers=1)
    return con


NO_USAGE = [
    # text and reply, no usage: priced from the recount
    _record(
        "n1",
        [{"role": "user", "content": "Say this is a test"}],
        choices=[{"message": {"role": "assistant", "content": "This is a test."}}],
    ),
    # billed normally, for comparison: 12 reported (cached 0)
    _record(
        "n2",
        [{"role": "user", "content": "Say this is a test"}],
        usage={
            "prompt_tokens": 14,
            "completion_tokens": 5,
            "prompt_tokens_details": {"cached_tokens": 2},
        },
    ),
]


def test_requests_without_usage_are_priced_from_the_recount(tmp_path: Path) -> None:
    con = _priced(
        tmp_path,
        [
            *NO_USAGE,
            {
                "timestamp": "2026-10-01T10:00:00Z",
                "provider": "openai",
                "request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]},
                "error": {"status": 429, "type": "rate_limit_error"},
            },
        ],
    )
    rows = {
        r[0]: r[1:]
        for r in con.execute(
            """SELECT request_id, usage_source, input_tokens, output_tokens, cost_usd,
                unpriced_reason FROM request_costs"""
        ).fetchall()
    }
    # gpt-4o-mini: $0.15 input, $0.60 output per 1M (pricing/openai.yaml); 12 in, 5 out
    expected = Decimal(12) * Decimal("0.15") / 10**6 + Decimal(5) * Decimal("0.60") / 10**6
    assert rows["n1"][:3] == ("recounted", 12, 5)
    assert rows["n1"][3] == expected
    assert rows["n2"][:3] == ("reported", 12, 5)
    errored = [v for k, v in rows.items() if k not in ("n1", "n2")]
    assert errored == [(None, None, None, Decimal(0), None)]  # never billed: no estimate


@pytest.fixture(scope="module")
def no_usage_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("no_usage")
    _priced(tmp, NO_USAGE).close()
    return tmp / "store.duckdb"


def test_reports_flag_estimated_spend(no_usage_db: Path) -> None:
    db = no_usage_db
    report = api.report(db, ["team"])
    assert report.totals.estimated_requests == 1
    assert report.totals.estimated_cost_usd == Decimal("0.0000048")
    out = runner.invoke(app, ["report", "--db", str(db), "-f", "json"])
    assert out.exit_code == 0, out.stderr
    totals = json.loads(out.stdout)["totals"]
    assert (totals["estimated_requests"], totals["estimated_cost_usd"]) == (1, "0.0000048")
    table = runner.invoke(app, ["report", "--db", str(db)])
    assert "estimates" in table.stdout and "≈" in table.stdout


def test_the_budget_gate_marks_estimated_spend(no_usage_db: Path, tmp_path: Path) -> None:
    """A budget broken partly by spend priced from the recount says so in every format."""
    budget = tmp_path / "budgets.yaml"
    budget.write_text(
        "budgets:\n  - name: all\n    period: all\n    max_cost_usd: '0.000009'\n", "utf-8"
    )
    # n1: 12 in, 5 out recounted (0.0000048, test above); n2 reported: 12 uncached at
    # $0.15, 2 cached at $0.075, 5 out at $0.60 per 1M
    reported = (12 * Decimal("0.15") + 2 * Decimal("0.075") + 5 * Decimal("0.60")) / 10**6
    args = ["check", "--db", str(no_usage_db), "--budget", str(budget)]
    out = runner.invoke(app, [*args, "-f", "json"])
    assert out.exit_code == 1, out.stderr
    (outcome,) = json.loads(out.stdout)["budgets"]
    assert Decimal(outcome["worst_cost_usd"]) == Decimal("0.0000048") + reported
    assert (outcome["estimated_requests"], outcome["worst_estimated_cost_usd"]) == (1, "0.0000048")
    assert "0.0000048 USD of it priced from recounted tokens" in out.stderr
    csv_lines = runner.invoke(app, [*args, "-f", "csv"]).stdout.splitlines()
    [row] = list(csv.DictReader(csv_lines))
    assert (row["estimated_requests"], row["worst_estimated_cost_usd"]) == ("1", "0.0000048")
    for fmt in ("table", "markdown"):
        shown = runner.invoke(app, [*args, "-f", fmt]).stdout
        # the limit and the spend would both show as <$0.0001: both are shown exactly
        exact = "≈$" + outcome["worst_cost_usd"]
        assert exact in shown and "$0.000009" in shown, shown
        assert "priced from recounted tokens" in " ".join(shown.split())  # a caption wraps


def test_an_unpriced_request_is_no_estimated_spend(tmp_path: Path) -> None:
    """A request logged without usage on a model no price covers is unpriced, not spend
    priced from its recount: it was counted in estimated_requests (and the notes' "N
    requests ... priced from recounted tokens") with an estimated cost of 0."""
    mystery = _record("m1", [{"role": "user", "content": "Say this is a test"}])
    mystery["request"]["model"] = mystery["response"]["model"] = "mystery-model-9"
    _priced(tmp_path, [*NO_USAGE, mystery]).close()
    db = tmp_path / "store.duckdb"
    report = api.report(db, ["model"])
    assert (report.totals.estimated_requests, report.totals.unpriced_requests) == (1, 1)
    rows = {r.keys["model"]: r.totals for r in report.rows}
    assert rows["mystery-model-9"].estimated_requests == 0
    assert rows["gpt-4o-mini"].estimated_requests == 1
    budget = tmp_path / "budgets.yaml"
    budget.write_text("budgets:\n  - name: all\n    max_cost_usd: 1\n", "utf-8")
    (outcome,) = api.check(db, budget).outcomes
    assert (outcome.estimated_requests, outcome.unpriced_requests) == (1, 1)


@pytest.fixture(scope="module")
def _deferred_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """NO_USAGE ingested with --no-recount through the CLI, once per module (``deferred``
    copies it for each test, whose check or report then recounts it)."""
    tmp = tmp_path_factory.mktemp("deferred")
    log = tmp / "calls.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in NO_USAGE), "utf-8")
    db = tmp / "store.duckdb"
    assert runner.invoke(app, ["ingest", str(log), "--db", str(db), "--no-recount"]).exit_code == 0
    return db


@pytest.fixture
def deferred(tmp_path: Path, _deferred_template: Path) -> tuple[Path, Path]:
    """A store of NO_USAGE ingested with --no-recount (the test's own copy), and a budget
    above the reported request alone (0.0000048 + 0.00000465 in all, test above)."""
    db = copy_store(_deferred_template, tmp_path)
    budget = tmp_path / "budgets.yaml"
    budget.write_text("budgets:\n  - name: all\n    max_cost_usd: '0.000005'\n", "utf-8")
    return db, budget


def test_a_deferred_recount_is_done_before_the_gate_and_the_report(
    deferred: tuple[Path, Path],
) -> None:
    """A store ingested with --no-recount: ``check`` and ``report`` count the waiting texts
    first, so the gate sees the spend logged without usage (it passed on it, reading it as
    unpriced ``no_usage``); with --no-recount they say what waits, and such a request is
    unpriced ``not_recounted``."""
    db, budget = deferred
    gate = ["check", "--db", str(db), "--budget", str(budget), "-f", "json"]

    deferred = runner.invoke(app, [*gate, "--no-recount"])
    assert deferred.exit_code == 0, deferred.stderr
    assert "warning: --no-recount:" in deferred.stderr and "tokaudit recount" in deferred.stderr
    (outcome,) = json.loads(deferred.stdout)["budgets"]
    assert outcome["unpriced_requests"] == 1
    spend = runner.invoke(app, ["report", "--db", str(db), "--no-recount", "-f", "json"])
    (unpriced,) = json.loads(spend.stdout)["unpriced"]
    assert (unpriced["requests"], unpriced["reason"]) == (1, "not_recounted")

    counted = runner.invoke(app, gate)  # the default: count first, then judge
    assert counted.exit_code == 1, counted.stderr
    (outcome,) = json.loads(counted.stdout)["budgets"]
    assert (outcome["unpriced_requests"], outcome["estimated_requests"]) == (0, 1)
    spend = runner.invoke(app, ["report", "--db", str(db), "-f", "json"])
    assert json.loads(spend.stdout)["unpriced"] == []
    assert json.loads(spend.stdout)["totals"]["estimated_cost_usd"] == "0.0000048"


def test_the_library_counts_waiting_texts_first_by_default(
    deferred: tuple[Path, Path],
) -> None:
    """api.report and api.check, like api.findings and the CLI, count what waits before
    judging (they defaulted to the stored counts: a library caller's gate passed on spend
    a deferred recount had not priced); ``recount_texts=False`` keeps the stored counts."""
    db, budget = deferred
    (waiting,) = api.check(db, budget, recount_texts=False).outcomes
    assert (waiting.unpriced_requests, waiting.exceeded) == (1, False)
    assert api.report(db, ["model"], recount_texts=False).totals.unpriced_requests == 1
    (counted,) = api.check(db, budget).outcomes
    assert (counted.unpriced_requests, counted.estimated_requests, counted.exceeded) == (0, 1, True)
    assert api.report(db, ["model"]).totals.estimated_cost_usd == Decimal("0.0000048")


def test_recount_tables_show_dollar_differences_as_money(no_usage_db: Path) -> None:
    """People's formats round the dollar differences as every report does, with a sign;
    they printed raw decimals with no $ (QA). JSON keeps the exact value."""
    args = ["report", "--db", str(no_usage_db), "--by", "model", "--show", "recount"]
    data = json.loads(runner.invoke(app, [*args, "-f", "json"]).stdout)
    exact = Decimal(data["totals"]["input_difference_usd"])
    assert exact > 0  # 14 billed (2 of them cached) against 12 recounted
    shown = "+" + display_usd(exact)
    for fmt in ("markdown", "table"):
        out = runner.invoke(app, [*args, "-f", fmt])
        assert out.exit_code == 0, out.stderr
        assert shown in out.stdout and str(exact) not in out.stdout
    # the table's headers are words, wrapped between them (snake_case broke mid-word)
    table = runner.invoke(app, args).stdout
    assert "reported" in table and "input diff" in table and "_" not in table.split("┡")[0]
    assert "│ gpt-4o-mini │" in table  # a group's name whole


def test_token_audit_view(no_usage_db: Path) -> None:
    con = duckdb.connect(str(no_usage_db), read_only=True)
    rows = {
        r[0]: r[1:]
        for r in con.execute(
            """SELECT request_id, tokenizer, exact, reported_input_tokens,
                recounted_input_tokens, reported_output_tokens, recounted_output_tokens,
                input_difference FROM token_audit"""
        ).fetchall()
    }
    assert rows["n1"] == ("tiktoken", True, None, 12, None, 5, None)
    # reported input includes the 2 cached tokens: 14 billed vs 12 recounted
    assert rows["n2"] == ("tiktoken", True, 14, 12, 5, None, 2)


def test_recount_report_cli(no_usage_db: Path) -> None:
    db = no_usage_db
    out = runner.invoke(
        app, ["report", "--db", str(db), "--by", "model", "--show", "recount", "-f", "json"]
    )
    assert out.exit_code == 0, out.stderr
    data = json.loads(out.stdout)
    (model,) = data["rows"]
    total = data["totals"]
    assert set(data["pricing"]) >= {"table_version", "sha256"}
    assert model["model"] == "gpt-4o-mini"
    assert (model["requests"], model["compared"], model["exact"]) == (2, 1, 1)
    assert (model["reported_input"], model["recounted_input"], model["input_difference"]) == (
        14,
        12,
        2,
    )
    assert model["input_difference_pct"] == "16.67"
    # 2 tokens at $0.15 per 1M
    assert Decimal(model["input_difference_usd"]) == Decimal("0.0000003")
    assert model["estimated_requests"] == 1
    assert "model" not in total and total["requests"] == 2
    assert "not compared" in out.stderr
    bad = runner.invoke(app, ["report", "--db", str(db), "--show", "nope"])
    assert bad.exit_code == 2


def test_tokenizers_list_cli() -> None:
    out = runner.invoke(app, ["tokenizers", "list", "-f", "json"])
    assert out.exit_code == 0, out.stderr
    plugins = {p["name"]: p for p in json.loads(out.stdout)}
    assert plugins["tiktoken"]["status"] == "ok"
    assert "gpt-oss* (o200k_harmony)" in plugins["tiktoken"]["models"]
    assert plugins["estimate-o200k"]["status"] == "estimate"
    assert plugins["hf"]["models"] == []  # nothing configured here


def test_d15_tolerance_is_configurable(no_usage_db: Path) -> None:
    con = duckdb.connect(str(no_usage_db), read_only=True)
    found = [f for f in run_rules(con) if f.rule_id == "D15"]
    assert [(f.team, f.requests, f.savings_usd, f.kind) for f in found] == [
        ("chat", 1, Decimal(0), "discrepancy")
    ]
    assert "input reported 14 vs recounted 12 tokens (+2, +16.7%, +0.0000003" in found[0].detail
    relaxed = [f for f in run_rules(con, {"D15": {"tolerance_pct": 20}}) if f.rule_id == "D15"]
    assert relaxed == []


class _Flaky(TiktokenTokenizer):
    """Covers one model and fails when counting: a broken third-party plugin."""

    name = "flaky"

    def covers(self, model: str) -> bool:
        return model == "flaky-1"

    def encoding_for(self, model: str) -> str:
        return "o200k_base"

    def chat_profile(self, model: str) -> ChatProfile:
        return ChatProfile()

    def count(self, texts: Any, model: str) -> list[int]:
        if model == "flaky-1":
            raise RuntimeError("vocabulary server unreachable")
        return super().count(texts, model)


FELL_BACK = (
    "the texts it failed on were counted with the estimate (estimate-o200k) instead, so "
    "their requests' recounts are labelled estimates (tokenizer 'flaky+estimate-o200k', "
    "not exact)"
)


def _estimated(messages: list[dict[str, str]]) -> int:
    """Independent count of a request the estimate counted: o200k_base, OpenAI framing."""
    enc = TiktokenTokenizer().get_encoding("o200k_base")
    return 3 + sum(
        3 + len(enc.encode_ordinary(m["role"])) + len(enc.encode_ordinary(m["content"]))
        for m in messages
    )


def test_a_plugin_failing_to_count_is_reported_and_estimated(tmp_path: Path) -> None:
    flaky = _record("f1", [{"role": "user", "content": "hi"}], usage={"prompt_tokens": 8})
    flaky["request"]["model"] = flaky["response"]["model"] = "flaky-1"
    con = _store(tmp_path, [*_conversation(), flaky])
    result = recount(con, Registry([_Flaky(), TiktokenTokenizer()]), workers=1)
    assert (
        "flaky",
        f"count() failed (RuntimeError: vocabulary server unreachable); {FELL_BACK}",
    ) in result.broken_plugins
    rows = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT request_id, recounted_input_tokens, recount_exact, recount_tokenizer "
            "FROM requests"
        ).fetchall()
    }
    assert rows["f1"] == (_estimated(flaky["request"]["messages"]), False, "flaky+estimate-o200k")
    c1 = _conversation()[1]["request"]["messages"]
    assert rows["c1"] == (_expected(c1), True, "tiktoken")


def test_a_plugin_failing_on_one_text_estimates_only_its_request(tmp_path: Path) -> None:
    class Picky(_Flaky):
        def count(self, texts: Any, model: str) -> list[int]:
            if any("boom" in t for t in texts):
                raise RuntimeError("cannot count boom")
            return TiktokenTokenizer.count(self, texts, "gpt-4o")

    records = []
    for rid, text in (("p1", "fine words"), ("p2", "boom goes the text"), ("p3", "more words")):
        record = _record(rid, [{"role": "user", "content": text}], usage={"prompt_tokens": 8})
        record["request"]["model"] = record["response"]["model"] = "flaky-1"
        records.append(record)
    con = _store(tmp_path, records)
    result = recount(con, Registry([Picky()]), workers=1)
    rows = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT request_id, recounted_input_tokens, recount_tokenizer FROM requests"
        ).fetchall()
    }
    # Picky counts like o200k_base, so only the label tells the estimate apart
    assert rows["p2"] == (_estimated(records[1]["request"]["messages"]), "flaky+estimate-o200k")
    for rid, text in (("p1", "fine words"), ("p3", "more words")):
        assert rows[rid] == (_expected([{"role": "user", "content": text}]), "flaky")
    assert result.broken_plugins == [
        ("flaky", f"count() failed (RuntimeError: cannot count boom); {FELL_BACK}")
    ]


def test_a_plugin_failing_on_a_model_falls_back_to_the_estimate(tmp_path: Path) -> None:
    class NoProfile(_Flaky):
        def chat_profile(self, model: str) -> ChatProfile:
            raise RuntimeError("no template for this model")

    flaky = _record("f1", [{"role": "user", "content": "hi"}], usage={"prompt_tokens": 8})
    flaky["request"]["model"] = flaky["response"]["model"] = "flaky-1"
    con = _store(tmp_path, [flaky])
    result = recount(con, Registry([NoProfile()]), workers=1)
    assert result.broken_plugins == [
        ("flaky", "RuntimeError on 'flaky-1': no template for this model")
    ]
    row = con.execute("SELECT recounted_input_tokens, recount_tokenizer FROM requests")
    assert row.fetchone() == (3 + 1 + 1 + 3, "estimate-o200k")


def test_default_workers_use_idle_cores_but_at_least_two(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOKAUDIT_WORKERS", raising=False)
    monkeypatch.setattr(pool.os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3})
    for load, workers in ((0.1, 4), (1.2, 4), (2.0, 3), (3.6, 2), (9.0, 2)):
        monkeypatch.setattr(pool.os, "getloadavg", lambda load=load: (load, 0.0, 0.0))
        assert pool.default_workers() == workers
    monkeypatch.setattr(pool.os, "sched_getaffinity", lambda _pid: {0})
    assert pool.default_workers() == 1
    monkeypatch.setenv("TOKAUDIT_WORKERS", "3")
    assert pool.default_workers() == 3


@pytest.mark.parametrize("value", ["abc", "0", "-2", "1.5", "٣"])
def test_a_workers_setting_that_is_not_a_count_is_an_error(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """A typo in TOKAUDIT_WORKERS was ignored silently (the idle cores were used)."""
    monkeypatch.setenv("TOKAUDIT_WORKERS", value)
    with pytest.raises(InputError, match="TOKAUDIT_WORKERS"):
        pool.default_workers()


def test_messages_not_at_the_end_of_any_request_are_read_from_its_body(tmp_path: Path) -> None:
    # One request: only its last messages keep their text while splitting; the earlier
    # ones are read back from the stored body.
    messages = [{"role": "system", "content": SYSTEM}]
    for question, answer in [*TURNS, ("Last one?", "Yes.")]:
        messages.append({"role": "user", "content": question})
        messages.append({"role": "assistant", "content": answer})
    messages.append({"role": "user", "content": "Bye."})
    con = _store(tmp_path, [_record("long", messages)])
    result = recount(con, workers=1)
    assert result.texts_counted == len(messages)
    row = con.execute("SELECT recounted_input_tokens FROM requests").fetchone()
    assert row == (_expected(messages),)


def test_nothing_to_count_loads_no_vocabulary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Claude Code logs carry usage but no prompt text: recount must not pay for loading
    # the tiktoken vocabularies (about 0.6 s) when there is nothing to count.
    from tokaudit.tokenizers import estimate, tiktoken_plugin

    def refuse(*_args: Any) -> Any:
        raise AssertionError("a vocabulary was loaded")

    monkeypatch.setattr(tiktoken_plugin, "load_encoding", refuse)
    monkeypatch.setattr(estimate, "load_encoding", refuse)
    con = open_store(tmp_path / "store.duckdb")
    ingest_paths(con, [str(REPO / "tests/fixtures/claude_code/claude-config")])
    assert con.execute("SELECT count(*) FROM requests").fetchone()[0] > 0
    result = recount(con, workers=2)
    assert (result.texts_counted, result.requests_updated, result.broken_plugins) == (0, 0, [])


def test_a_changed_accounting_rule_recounts_the_store(
    conversation_store: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stored counts carry the version of the request-shape rules: a new version counts
    the store's texts again, the same version finds nothing to do."""
    import tokaudit.recount as recount_module

    con = conversation_store
    first = recount(con, workers=1)
    assert first.texts_counted > 0
    assert recount(con, workers=1).texts_counted == 0
    monkeypatch.setattr(recount_module, "ACCOUNTING_VERSION", "next")
    again = recount(con, workers=1)
    assert again.texts_counted == first.texts_counted
    assert recount(con, workers=1).texts_counted == 0
