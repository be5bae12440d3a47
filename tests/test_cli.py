"""The command-line contract: exit codes, stdout carries data only, errors on stderr."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import subprocess
import sys
import threading
from contextlib import suppress
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tokaudit.cli import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def sql_json(db: Path, query: str) -> list[dict[str, Any]]:
    """Rows of ``tokaudit sql -f json``."""
    result = runner.invoke(app, ["sql", "--db", str(db), "-f", "json", query])
    assert result.exit_code == 0, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def test_ingest_prints_counts_and_keeps_rejects(tmp_path: Path, mixed_log: Path) -> None:
    db = tmp_path / "s.duckdb"
    result = runner.invoke(app, ["ingest", str(mixed_log), "--db", str(db), "-o", "json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["totals"] == {
        "records_read": 6,
        "loaded": 5,
        "duplicates": 0,
        "rejected": 1,
        "non_requests": 0,
    }
    assert "rejects" in result.stderr  # the hint where to find them goes to stderr
    rejects = runner.invoke(
        app, ["sql", "--db", str(db), "-f", "json", "SELECT source_line, reason FROM rejects"]
    )
    assert json.loads(rejects.stdout) == [{"source_line": 6, "reason": "invalid JSON"}]
    again = runner.invoke(app, ["ingest", str(mixed_log), "--db", str(db), "-o", "json"])
    assert json.loads(again.stdout)["totals"]["loaded"] == 0  # nothing added twice


def _ingest_json(cwd: Path, log: Path, stderr: int) -> bytes:
    """stdout of `tokaudit ingest -o json` run in a subprocess, stderr to ``stderr``."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}  # CI hides the progress bar
    cwd.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "tokaudit", "ingest", str(log), "--db", "s.duckdb", "-o", "json"],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        check=True,
        timeout=120,
    )
    return done.stdout


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_the_progress_bar_never_touches_stdout(tmp_path: Path, mixed_log: Path) -> None:
    """With stderr a terminal and stdout redirected, rich drew on stdout: a stray newline
    came before the JSON."""
    master, slave = os.openpty()
    drained: list[bytes] = []

    def drain() -> None:  # a full terminal buffer would block the bar, and the command
        with suppress(OSError):
            while chunk := os.read(master, 4096):
                drained.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        on_terminal = _ingest_json(tmp_path / "tty", mixed_log, slave)
    finally:
        os.close(slave)
        reader.join(timeout=5)
        os.close(master)
    piped = _ingest_json(tmp_path / "pipe", mixed_log, subprocess.DEVNULL)
    assert on_terminal.startswith(b"{")
    assert on_terminal == piped


def test_a_resent_record_with_other_counts_is_a_warning(tmp_path: Path, mixed_log: Path) -> None:
    db = tmp_path / "s.duckdb"
    assert runner.invoke(app, ["ingest", str(mixed_log), "--db", str(db)]).exit_code == 0
    first = mixed_log.read_text("utf-8").splitlines()[0]
    record = json.loads(first)
    record["response"]["usage"]["completion_tokens"] += 1
    resent = tmp_path / "resent.jsonl"
    resent.write_text(json.dumps(record) + "\n", "utf-8")
    result = runner.invoke(app, ["ingest", str(resent), "--db", str(db), "-o", "json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["totals"]["duplicates"] == 1
    [warning] = [x for x in result.stderr.splitlines() if x.startswith("warning:")]
    assert str(resent) in warning and "1 duplicate record(s) differ" in warning


def test_ingest_missing_path_is_an_input_error(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["ingest", str(tmp_path / "nope.jsonl"), "--db", str(tmp_path / "s.duckdb")]
    )
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "nope.jsonl" in result.stderr and "no such file" in result.stderr


@pytest.mark.parametrize("command", ["ingest", "audit"])
def test_a_bad_input_path_leaves_no_store_behind(tmp_path: Path, command: str) -> None:
    db = tmp_path / "x1.duckdb"
    (tmp_path / "empty").mkdir()
    for path in ("/nonexistent", str(tmp_path / "empty"), str(tmp_path / "*.jsonl")):
        result = runner.invoke(app, [command, path, "--db", str(db)])
        assert result.exit_code == 2, result.stdout
        assert result.stderr.startswith(f"error: {path}: "), result.stderr
        assert not db.exists(), path


def test_a_file_that_cannot_be_read_is_named_on_stderr(tmp_path: Path, mixed_log: Path) -> None:
    broken = tmp_path / "cut.jsonl.gz"
    broken.write_bytes(gzip.compress(mixed_log.read_bytes())[:-30])
    for output in ("table", "json"):
        result = runner.invoke(
            app, ["ingest", str(broken), "--db", str(tmp_path / f"{output}.duckdb"), "-o", output]
        )
        assert result.exit_code == 2
        [line] = [x for x in result.stderr.splitlines() if x.startswith("error:")]
        assert str(broken) in line


def test_report_json_totals_match_hand_computed(store: Path) -> None:
    result = runner.invoke(app, ["report", "--db", str(store), "--by", "team", "-f", "json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["group_by"] == ["team"] and data["currency"] == "USD"
    assert data["pricing"]["table_version"] and len(data["pricing"]["sha256"]) == 64
    costs = {r["team"]: r["cost_usd"] and Decimal(r["cost_usd"]) for r in data["rows"]}
    # gamma's only request is unpriced: its cost is unknown (null), never $0
    assert costs == {"alpha": Decimal("3.0079552"), "beta": Decimal("0.91815"), "gamma": None}
    assert Decimal(data["totals"]["cost_usd"]) == Decimal("3.9261052")
    assert data["totals"]["requests"] == 5
    assert data["unpriced"] == [
        {"model": "acme-llm-7b", "provider": "openai", "requests": 1, "reason": "unknown_model"}
    ]
    assert "unpriced" in result.stderr  # a warning, never silently priced at 0


@pytest.mark.parametrize("by", ["team,model", "prompt"])
def test_report_csv_header_does_not_depend_on_the_rows(store: Path, by: str) -> None:
    """With no rows the header was `team,model,requests,cost_usd`, not the full one."""
    full = runner.invoke(app, ["report", "--db", str(store), "--by", by, "-f", "csv"])
    empty = runner.invoke(
        app, ["report", "--db", str(store), "--by", by, "-f", "csv", "--since", "2030-01-01"]
    )
    assert empty.exit_code == 0, empty.stderr
    assert empty.stdout.splitlines() == [full.stdout.splitlines()[0]]
    preview = ["prompt_preview"] if by == "prompt" else []
    assert empty.stdout.rstrip("\n").split(",") == [
        *by.split(","),
        *preview,
        "requests",
        "input_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "output_tokens",
        "reasoning_tokens",
        "cost_usd",
        "unpriced_requests",
        "estimated_requests",
        "estimated_cost_usd",
    ]


def test_report_by_several_dimensions_csv(store: Path) -> None:
    result = runner.invoke(app, ["report", "--db", str(store), "--by", "team,model", "-f", "csv"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("team,model,requests,")
    assert "alpha,gpt-4o-2024-08-06,1," in result.stdout
    # the rows carry no price table: it is named on stderr, as JSON and tables name it inline
    info = json.loads(runner.invoke(app, ["report", "--db", str(store), "-f", "json"]).stdout)[
        "pricing"
    ]
    assert f"prices: table {info['table_version']} (sha256 {info['sha256']})" in result.stderr


def test_report_csv_names_what_its_rows_leave_out_on_stderr(store: Path) -> None:
    """CSV has data rows only: the rows --top cut and the unpriced models go to stderr."""
    result = runner.invoke(
        app, ["report", "--db", str(store), "--by", "team", "-f", "csv", "--top", "1"]
    )
    assert result.exit_code == 0, result.stderr
    assert [line.split(",")[0] for line in result.stdout.splitlines()] == ["team", "alpha"]
    # beta ($0.91815) and gamma (unpriced) are cut; the total is $3.9261052 (see above)
    assert "note: --top: 2 more row(s) not in the CSV ($0.9182 of $3.93)" in result.stderr
    assert "warning: unpriced, in no cost: acme-llm-7b (openai) x1: unknown_model" in result.stderr
    full = runner.invoke(app, ["report", "--db", str(store), "--by", "team", "-f", "csv"])
    assert "--top" not in full.stderr


def test_report_by_priced_model_groups_names_of_one_model(store: Path) -> None:
    by = {}
    for dim in ("model", "priced_model"):
        out = runner.invoke(app, ["report", "--db", str(store), "--by", dim, "-f", "json"])
        assert out.exit_code == 0, out.stderr
        by[dim] = json.loads(out.stdout)
    assert by["model"]["totals"] == by["priced_model"]["totals"]
    sql = sql_json(
        store,
        "SELECT priced_model, sum(cost_usd)::VARCHAR AS c, count(*) AS n "
        "FROM request_costs GROUP BY ALL",
    )
    expected = {r["priced_model"]: (r["n"], r["c"]) for r in sql}
    got = {r["priced_model"]: r for r in by["priced_model"]["rows"]}
    assert set(got) == set(expected)
    for name, (n, cost) in expected.items():
        assert got[name]["requests"] == n
        assert (got[name]["cost_usd"] and Decimal(got[name]["cost_usd"])) == (
            cost and Decimal(cost)
        )


def test_report_since_until(store: Path) -> None:
    result = runner.invoke(
        app,
        [
            "report",
            "--db",
            str(store),
            "--by",
            "day",
            "-f",
            "json",
            "--since",
            "2026-10-02",
            "--until",
            "2026-10-04",
        ],
    )
    days = [r["day"] for r in json.loads(result.stdout)["rows"]]
    assert sorted(days) == ["2026-10-02", "2026-10-03"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["report", "--by", "colour"], "--by"),
        (["report", "-f", "xml"], "--format"),
        (["report", "--since", "yesterday"], "yesterday"),
        # ingest's --format is the log format: its output option is named as it is spelt
        (["ingest", "sample_logs", "-o", "csv"], "--output 'csv'"),
    ],
)
def test_usage_errors_exit_2(store: Path, args: list[str], needle: str) -> None:
    result = runner.invoke(app, [*args, "--db", str(store)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert needle in result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TOKAUDIT_WORKERS", "two"),
        # ignored without a word (abc, -1) or fifty workers each holding a batch (QA)
        ("TOKAUDIT_STAGE_WORKERS", "abc"),
        ("TOKAUDIT_STAGE_WORKERS", "-1"),
        ("TOKAUDIT_STAGE_WORKERS", "50"),
    ],
)
def test_a_bad_workers_setting_is_exit_2_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    db = tmp_path / "new.duckdb"
    result = runner.invoke(app, ["ingest", "sample_logs", "--db", str(db)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"{variable}={value!r}" in result.stderr
    assert not db.exists()


def test_the_rejects_hint_quotes_a_store_path_with_spaces(tmp_path: Path) -> None:
    """The hint printed `--db a b.duckdb`, which cannot be pasted (QA)."""
    db = tmp_path / "a b.duckdb"
    result = runner.invoke(app, ["ingest", "sample_logs", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert f"tokaudit sql --db '{db}' \"SELECT * FROM rejects\"" in result.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_output_that_cannot_be_written_is_exit_2_and_a_closed_pipe_141(store: Path) -> None:
    """A full disk was a traceback and exit 1, the code `check` gives a broken budget; a
    reader that closed the pipe was a silent exit 1. Now: exit 2 with one line, and the
    quiet 141 shells report for SIGPIPE."""
    report = [sys.executable, "-m", "tokaudit", "report", "--db", str(store), "-f", "json"]
    with open("/dev/full", "w") as full:
        done = subprocess.run(report, stdout=full, stderr=subprocess.PIPE, text=True)
    assert done.returncode == 2
    assert done.stderr.startswith("error: could not write the output")
    assert "Traceback" not in done.stderr
    plugins = [sys.executable, "-m", "tokaudit", "tokenizers", "list", "-f", "json"]
    with open("/dev/full", "w") as full:
        listed = subprocess.run(plugins, stdout=full, stderr=subprocess.PIPE, text=True)
    assert (listed.returncode, "Traceback" in listed.stderr) == (2, False)


def test_a_reader_that_closed_the_pipe_ends_the_command_with_141(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """(In-process: some sandboxes' pipes never report EPIPE to the writer.)"""
    import typer

    from tokaudit import cli_common

    class Closed(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", Closed())
    with pytest.raises(typer.Exit) as info:
        cli_common.out("rows\n")
    assert info.value.exit_code == 141
    assert capsys.readouterr().err == ""


def test_a_closed_stderr_leaves_the_exit_code_to_the_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A reader of stderr that closed the pipe (`2>&1 >/dev/null | head`) raised
    BrokenPipeError, which click turns into exit 1: a `check` within budget read as over
    it (QA). The diagnostics are dropped; the command keeps its own exit code."""
    from tokaudit import cli_common
    from tokaudit.cli_recount import warn_broken_plugins

    written: list[str] = []

    class Closed(io.StringIO):
        def write(self, text: str) -> int:
            written.append(text)
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stderr", Closed())
    cli_common.err("warning: a diagnostic")  # no exception: the caller goes on
    warn_broken_plugins([("hf", "no tokenizer file")])
    assert written == [
        "warning: a diagnostic\n",
        "warning: tokenizer plugin 'hf' skipped: no tokenizer file\n",
    ]


def test_sql_prices_as_report_does_not_as_the_store_was_written(tmp_path: Path) -> None:
    """The store keeps the prices of the command that wrote it (here an overlay's 50 % off);
    `report` prices with today's table, and `sql` gave the stale figure (QA)."""
    overlay = tmp_path / "half.yaml"
    overlay.write_text(
        "schema_version: 1\ndiscounts:\n- {provider: anthropic, percent: '50'}\n", "utf-8"
    )
    db = tmp_path / "s.duckdb"
    ingested = ["ingest", "sample_logs", "--db", str(db), "--overlay", str(overlay)]
    assert runner.invoke(app, ingested).exit_code == 0
    report = json.loads(runner.invoke(app, ["report", "--db", str(db), "-f", "json"]).stdout)
    query = "SELECT sum(cost_usd) FROM request_costs"
    now = runner.invoke(app, ["sql", "--db", str(db), "-f", "csv", query])
    assert Decimal(now.stdout.splitlines()[1]) == Decimal(report["totals"]["cost_usd"])
    half = runner.invoke(
        app, ["sql", "--db", str(db), "-f", "csv", "--overlay", str(overlay), query]
    )
    assert Decimal(half.stdout.splitlines()[1]) < Decimal(report["totals"]["cost_usd"])


def test_csv_names_the_overlay_in_full_as_it_names_the_table(tmp_path: Path) -> None:
    """CSV's stderr line gave the table's SHA-256 whole and the overlay's cut to 12
    characters (QA): both whole, as the JSON output names them."""
    overlay = tmp_path / "half.yaml"
    overlay.write_text(
        "schema_version: 1\ndiscounts:\n- {provider: anthropic, percent: '50'}\n", "utf-8"
    )
    db = tmp_path / "s.duckdb"
    assert runner.invoke(app, ["ingest", "sample_logs", "--db", str(db)]).exit_code == 0
    priced = ["report", "--db", str(db), "--overlay", str(overlay)]
    info = json.loads(runner.invoke(app, [*priced, "-f", "json"]).stdout)["pricing"]
    csv = runner.invoke(app, [*priced, "-f", "csv"])
    assert f"(sha256 {info['sha256']})" in csv.stderr
    assert f"(sha256 {info['overlay']['sha256']})" in csv.stderr


def test_a_blank_team_is_no_team(tmp_path: Path) -> None:
    """A team logged as "" (or spaces) and one not logged were two groups that no output
    could tell apart (CSV: two empty keys); both are requests without a team."""
    lines = []
    for n, team in enumerate([None, "", "  ", "x", "\t"]):
        lines.append(
            {
                "timestamp": "2026-10-05T10:00:00Z",
                "provider": "openai",
                "request_id": f"req_{n}",
                "metadata": {} if team is None else {"team": team},
                "request": {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
                "response": {
                    "id": f"chatcmpl-{n}",
                    "object": "chat.completion",
                    "model": "gpt-4o-2024-08-06",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}],
                    "usage": {"prompt_tokens": 8, "completion_tokens": 1, "total_tokens": 9},
                },
            }
        )
    log = tmp_path / "teams.jsonl"
    log.write_text("".join(json.dumps(line) + "\n" for line in lines), "utf-8")
    db = tmp_path / "s.duckdb"
    assert runner.invoke(app, ["ingest", str(log), "--db", str(db)]).exit_code == 0
    rows = list(
        csv.DictReader(
            io.StringIO(runner.invoke(app, ["report", "--db", str(db), "-f", "csv"]).stdout)
        )
    )
    assert sorted((r["team"], r["requests"]) for r in rows) == [("", "4"), ("x", "1")]


def test_a_store_from_before_has_its_blank_teams_made_none_once(tmp_path: Path) -> None:
    """A store written before blanks became NULL holds "" beside NULL: two "(none)" groups
    after an upgrade (review). The first writable open turns them into NULL, once."""
    import duckdb

    from tokaudit.store import open_store

    db = tmp_path / "old.duckdb"
    assert runner.invoke(app, ["ingest", "sample_logs", "--db", str(db)]).exit_code == 0
    raw = duckdb.connect(str(db))
    raw.execute("UPDATE requests SET team = '' WHERE team = 'search'")
    raw.execute("UPDATE requests SET feature = ' \t' WHERE team = 'growth'")
    raw.execute("DELETE FROM schema_info WHERE key = 'blank_attribution_is_null'")
    raw.close()
    con = open_store(db)
    blanks = con.execute(
        "SELECT count(*) FROM requests WHERE trim(team) = '' OR trim(feature, ' \t') = ''"
    ).fetchone()
    assert blanks == (0,)
    con.close()


def test_an_empty_file_is_a_new_store(tmp_path: Path) -> None:
    """`mktemp` makes an empty file; DuckDB refused it ("not a valid database"), though the
    README says ingest creates a store in a new or empty file."""
    db = tmp_path / "empty.duckdb"
    db.touch()
    result = runner.invoke(app, ["ingest", "sample_logs", "--db", str(db)])
    assert result.exit_code == 0, result.stderr
    read = runner.invoke(
        app, ["sql", "--db", str(db), "-f", "csv", "SELECT count(*) FROM requests"]
    )
    assert read.stdout.splitlines()[1] == "1956"


def test_a_store_whose_schema_failed_can_be_ingested_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Running out of memory while the schema was written left tables without schema_info:
    every later command refused the file as not a tokaudit store (QA)."""
    db = tmp_path / "oom.duckdb"
    monkeypatch.setenv("TOKAUDIT_MEMORY_LIMIT", "1MB")
    first = runner.invoke(app, ["ingest", "sample_logs", "--db", str(db)])
    assert first.exit_code == 2 and "out of memory" in first.stderr
    monkeypatch.delenv("TOKAUDIT_MEMORY_LIMIT")
    again = runner.invoke(app, ["ingest", "sample_logs", "--db", str(db)])
    assert again.exit_code == 0, again.stderr


def test_missing_store_is_exit_2(tmp_path: Path) -> None:
    for command in (["report"], ["findings"], ["sql", "SELECT 1"]):
        result = runner.invoke(app, [*command, "--db", str(tmp_path / "none.duckdb")])
        assert result.exit_code == 2, command
        assert "no store" in result.stderr
        assert not (tmp_path / "none.duckdb").exists()


@pytest.mark.parametrize("name", ["store.json", "store.jsonl", "store.parquet", "store.csv"])
def test_a_store_file_that_is_not_duckdb_is_exit_2(
    tmp_path: Path, mixed_log: Path, name: str
) -> None:
    """Whatever its extension, --db is a DuckDB file: a log or export is refused, never
    read as an empty store (a budget gate pointed at the wrong file must not pass)."""
    wrong = tmp_path / name
    wrong.write_bytes(mixed_log.read_bytes())
    budget = _budget(tmp_path, "0")  # any spend exceeds it
    for command in (["report"], ["check", "--budget", str(budget)], ["ingest", str(mixed_log)]):
        result = runner.invoke(app, [*command, "--db", str(wrong)])
        assert result.exit_code == 2, (command, result.stdout)
        assert "not a valid DuckDB database" in result.stderr, command
    assert wrong.read_bytes() == mixed_log.read_bytes()


def test_a_duckdb_file_that_is_not_a_store_is_refused_untouched(
    tmp_path: Path, mixed_log: Path
) -> None:
    """Another DuckDB database (a table t, no schema_info) was reported as $0 spend and
    had tokaudit's schema written into it."""
    import duckdb

    other = tmp_path / "other.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE t AS SELECT 1 AS a")
    con.close()
    before = other.read_bytes()
    budget = _budget(tmp_path, "0")
    commands = (
        ["report"],
        ["findings"],
        ["check", "--budget", str(budget)],
        ["recount"],
        ["ingest", str(mixed_log)],
    )
    for command in commands:
        result = runner.invoke(app, [*command, "--db", str(other)])
        assert result.exit_code == 2, (command, result.stdout)
        assert result.stdout == ""
        assert f"{other} is not a tokaudit store" in result.stderr, command
    assert other.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["budgets.yaml", "other.duckdb"]
    con = duckdb.connect(str(other), read_only=True)
    assert con.execute("SELECT table_name FROM duckdb_tables()").fetchall() == [("t",)]
    con.close()


def test_a_store_path_starting_with_a_tilde_is_in_the_home_directory(
    tmp_path: Path, mixed_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB expands `~` when it opens a file, tokaudit's checks of the path did not:
    ingest wrote ~/t.duckdb in the home directory, then its recount and every later
    command said "no store at ~/t.duckdb" (QA)."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    ingested = runner.invoke(app, ["ingest", str(mixed_log), "--db", "~/t.duckdb"])
    assert ingested.exit_code == 0, ingested.stderr
    assert (home / "t.duckdb").is_file() and not (tmp_path / "~").exists()
    report = runner.invoke(app, ["report", "-f", "json"], env={"TOKAUDIT_DB": "~/t.duckdb"})
    assert report.exit_code == 0, report.stderr
    assert json.loads(report.stdout)["totals"]["requests"] == 5
    count = ["sql", "--db", "~/t.duckdb", "-f", "csv", "SELECT count(*) AS n FROM requests"]
    assert runner.invoke(app, count).stdout.splitlines() == ["n", "5"]


def test_a_store_of_a_newer_schema_is_refused_untouched(
    store: Path, tmp_path: Path, mixed_log: Path
) -> None:
    """schema_info's version was only checked to exist: a store a later release wrote
    (version 2) was ingested into and reported on as if it were version 1 (QA)."""
    import duckdb

    con = duckdb.connect(str(store))
    con.execute("UPDATE schema_info SET value = '2' WHERE key = 'schema_version'")
    con.close()
    before = store.read_bytes()
    budget = _budget(tmp_path, "1000000")
    commands = (
        ["ingest", str(mixed_log)],
        ["report"],
        ["check", "--budget", str(budget)],
        ["recount"],
        ["sql", "SELECT 1"],
    )
    for command in commands:
        result = runner.invoke(app, [*command[:1], "--db", str(store), *command[1:]])
        assert result.exit_code == 2, (command, result.stdout)
        assert result.stderr.startswith(
            f"error: {store} is a tokaudit store of schema version 2, written by a newer"
        ), command
    assert store.read_bytes() == before


def _zero_blocks(db: Path, table: str) -> None:
    """Overwrite the data blocks of ``table`` with zeros (a store damaged on disk); the
    catalog and the blocks other tables share are left as they were."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    block_size = int(con.execute("SELECT block_size FROM pragma_database_size()").fetchone()[0])

    def blocks(name: str) -> set[int]:
        query = f"SELECT DISTINCT block_id FROM pragma_storage_info('{name}') WHERE block_id >= 0"
        return {int(b) for (b,) in con.execute(query).fetchall()}

    shared = set().union(*(blocks(t) for t in ("schema_info", "requests") if t != table))
    metadata = con.execute("SELECT block_id FROM pragma_metadata_info()").fetchall()
    shared |= {int(b) for (b,) in metadata}
    damaged = blocks(table) - shared
    con.close()
    assert damaged
    with db.open("r+b") as fh:
        for block in damaged:
            fh.seek(3 * 4096 + block * block_size)  # after the file's three header blocks
            fh.write(bytes(block_size))


def test_a_damaged_store_is_an_input_error(store: Path, tmp_path: Path) -> None:
    """A store whose data blocks are corrupt opens (its catalog is whole), then a query
    failed with a traceback and exit 1, which CI reads as a budget exceeded (QA)."""
    _zero_blocks(store, "requests")
    budget = _budget(tmp_path, "1000000")
    commands = (["check", "--budget", str(budget)], ["report", "--no-recount"], ["findings"])
    for command in commands:
        result = runner.invoke(app, [*command, "--db", str(store)])
        assert result.exit_code == 2, (command, result.exception)
        assert result.stdout == ""
        assert result.stderr.startswith("error: the store is damaged or cut short (Corrupt")


def test_a_store_with_damaged_schema_info_is_not_called_foreign(store: Path) -> None:
    """It was "not a tokaudit store (no tokaudit schema_info; tables: ..., schema_info)"."""
    _zero_blocks(store, "schema_info")
    result = runner.invoke(app, ["report", "--db", str(store)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: cannot read the store {store}, which is damaged")
    assert "not a tokaudit store" not in result.stderr


def test_an_empty_duckdb_file_takes_a_new_store(tmp_path: Path, mixed_log: Path) -> None:
    import duckdb

    db = tmp_path / "empty.duckdb"
    duckdb.connect(str(db)).close()
    refused = runner.invoke(app, ["report", "--db", str(db)])
    assert refused.exit_code == 2 and "not a tokaudit store" in refused.stderr
    assert runner.invoke(app, ["ingest", str(mixed_log), "--db", str(db)]).exit_code == 0
    result = runner.invoke(app, ["report", "--db", str(db), "-f", "json"])
    assert json.loads(result.stdout)["totals"]["requests"] == 5


def test_a_new_store_is_a_duckdb_file_whatever_its_extension(
    tmp_path: Path, mixed_log: Path
) -> None:
    db = tmp_path / "spend.json"
    assert runner.invoke(app, ["ingest", str(mixed_log), "--db", str(db)]).exit_code == 0
    assert db.read_bytes()[8:12] == b"DUCK"  # a DuckDB file, not an in-memory store
    result = runner.invoke(app, ["report", "--db", str(db), "--by", "team", "-f", "json"])
    assert json.loads(result.stdout)["totals"]["requests"] == 5


def _budget(tmp_path: Path, limit: str, scope: str = "") -> Path:
    path = tmp_path / "budgets.yaml"
    path.write_text(
        f"budgets:\n  - name: alpha monthly\n    period: month\n    max_cost_usd: {limit}\n{scope}",
        "utf-8",
    )
    return path


def test_check_exit_codes(store: Path, tmp_path: Path) -> None:
    team = "    scope: {team: alpha}\n"
    over = runner.invoke(
        app, ["check", "--db", str(store), "--budget", str(_budget(tmp_path, "3.00", team))]
    )
    assert over.exit_code == 1
    assert "alpha monthly" in over.stderr and "3.0079552" in over.stderr
    under = runner.invoke(
        app,
        [
            "check",
            "--db",
            str(store),
            "--budget",
            str(_budget(tmp_path, "3.01", team)),
            "-f",
            "json",
        ],
    )
    assert under.exit_code == 0
    data = json.loads(under.stdout)
    assert data["violated"] is False
    assert Decimal(data["budgets"][0]["worst_cost_usd"]) == Decimal("3.0079552")
    rollout = runner.invoke(
        app,
        ["check", "--db", str(store), "--no-fail", "--budget", str(_budget(tmp_path, "1", team))],
    )
    assert rollout.exit_code == 0


def test_check_markdown_for_pr_comment(store: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["check", "--db", str(store), "-f", "markdown", "--budget", str(_budget(tmp_path, "1"))],
    )
    assert result.exit_code == 1
    assert result.stdout.startswith("### Token budget check")
    assert "❌ alpha monthly" in result.stdout


def test_check_strict_fails_on_unpriced(store: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["check", "--db", str(store), "--strict", "--budget", str(_budget(tmp_path, "100"))]
    )
    assert result.exit_code == 2
    # the warning names the budget and the model, then the same line as report --strict
    assert result.stderr.splitlines()[-2:] == [
        "warning: budget 'alpha monthly': 1 request(s) in scope are unpriced; their cost is "
        "unknown and not counted: acme-llm-7b (openai) x1: unknown_model",
        "error: --strict: unpriced requests (see above)",
    ]


def test_a_budget_with_nothing_priced_has_no_spend(store: Path, tmp_path: Path) -> None:
    """gamma's only request is unpriced: its spend is unknown, not $0."""
    budget = _budget(tmp_path, "1", "    scope: {team: gamma}\n")
    as_json = runner.invoke(
        app, ["check", "--db", str(store), "-f", "json", "--budget", str(budget)]
    )
    assert as_json.exit_code == 0, as_json.stderr
    [row] = json.loads(as_json.stdout)["budgets"]
    assert (row["worst_period"], row["worst_cost_usd"], row["unpriced_requests"]) == (None, None, 1)
    as_csv = runner.invoke(app, ["check", "--db", str(store), "-f", "csv", "--budget", str(budget)])
    # the columns of per-request and relative budgets (check --baseline) follow, empty
    assert as_csv.stdout.splitlines()[1] == (
        "alpha monthly,month,team=gamma,1,,,false,1,1,0,0,cost" + "," * 9
    )
    for fmt in ("table", "markdown"):
        shown = runner.invoke(
            app, ["check", "--db", str(store), "-f", fmt, "--budget", str(budget)]
        )
        assert "unpriced (1)" in shown.stdout and "$0.00" not in shown.stdout, fmt


def test_check_bad_budget_file_is_exit_2(store: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("budgets:\n  - name: x\n    period: fortnight\n    max_cost_usd: 5\n")
    result = runner.invoke(app, ["check", "--db", str(store), "--budget", str(bad)])
    assert result.exit_code == 2
    assert "bad.yaml" in result.stderr and "fortnight" in result.stderr


def test_check_with_no_budgets_warns(store: Path, tmp_path: Path) -> None:
    empty = tmp_path / "none.yaml"
    empty.write_text("budgets: []\n", "utf-8")
    result = runner.invoke(app, ["check", "--db", str(store), "--budget", str(empty)])
    assert result.exit_code == 0
    assert f"warning: {empty}: no budgets; the gate checks nothing" in result.stderr


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (
            "budgets:\n  - name: x\n    max_cost_usd: 5\n    max_cost_usd: 500\n",
            "duplicate key 'max_cost_usd'",
        ),
        (
            "budgets:\n  - name: x\n    max_cost_usd: 5\nnotes: x\n",
            "unknown key(s) notes (allowed: budgets)",
        ),
    ],
)
def test_check_refuses_a_silently_wrong_budget_file(
    store: Path, tmp_path: Path, text: str, needle: str
) -> None:
    path = tmp_path / "b.yaml"
    path.write_text(text, "utf-8")
    result = runner.invoke(app, ["check", "--db", str(store), "--budget", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}") and needle in result.stderr


@pytest.mark.parametrize("option", ["--budget", "--config", "--map"])
def test_a_yaml_file_that_is_not_utf8_is_exit_2(
    store: Path, tmp_path: Path, mixed_log: Path, option: str
) -> None:
    """It was a UnicodeDecodeError traceback and exit 1, which CI reads as over budget."""
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("budgets:\n  - name: caf\u00e9\n".encode("latin-1"))
    if option == "--budget":
        command = ["check", "--db", str(store), "--budget", str(bad)]
    else:
        command = ["ingest", str(mixed_log), "--db", str(tmp_path / "n.duckdb"), option, str(bad)]
    result = runner.invoke(app, command)
    assert result.exit_code == 2, result.exception
    assert result.stderr.startswith(f"error: {bad}: not valid UTF-8 (byte 0xe9 at byte 23)")
    assert not (tmp_path / "n.duckdb").exists()


def test_sql_formats(store: Path) -> None:
    query = "SELECT team, count(*) AS n FROM requests GROUP BY team ORDER BY team"
    as_json = runner.invoke(app, ["sql", "--db", str(store), "-f", "json", query])
    assert json.loads(as_json.stdout) == [
        {"team": "alpha", "n": 2},
        {"team": "beta", "n": 2},
        {"team": "gamma", "n": 1},
    ]
    as_csv = runner.invoke(app, ["sql", "--db", str(store), "-f", "csv", query])
    assert as_csv.stdout.splitlines() == ["team,n", "alpha,2", "beta,2", "gamma,1"]
    # a JSON column is JSON in JSON output (it was a string holding JSON), text elsewhere
    json_query = """SELECT '{"a": [1, 2]}'::JSON AS j, 'x' AS s"""
    as_json = runner.invoke(app, ["sql", "--db", str(store), "-f", "json", json_query])
    assert json.loads(as_json.stdout) == [{"j": {"a": [1, 2]}, "s": "x"}]
    # a number a float would change keeps the value as its text, never altered (review)
    exact = """SELECT '{"p": 0.123456789012345678901}'::JSON AS j, '1.5'::JSON AS k"""
    as_json = runner.invoke(app, ["sql", "--db", str(store), "-f", "json", exact])
    assert json.loads(as_json.stdout) == [{"j": '{"p": 0.123456789012345678901}', "k": 1.5}]
    as_csv = runner.invoke(app, ["sql", "--db", str(store), "-f", "csv", json_query])
    assert as_csv.stdout.splitlines()[1] == '"{""a"": [1, 2]}",x'


def test_sql_streams_large_results_in_batches(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A `SELECT *` of a million requests was fetched whole before a byte was written (24
    GB, QA). CSV and JSON are written a batch at a time, the same text as in one piece;
    a table shows the first batch and says so."""
    from tokaudit import api
    from tokaudit import sql as sql_module
    from tokaudit.report.renderers import csv_format, json_format

    query = "SELECT range AS n, 'x' || range AS s, '{\"a\": 1}'::JSON AS j FROM range(7)"
    columns = ["n", "s", "j"]
    whole = {
        f: runner.invoke(app, ["sql", "--db", str(store), "-f", f, query]) for f in ("csv", "json")
    }
    monkeypatch.setattr(sql_module, "BATCH_ROWS", 3)  # 3 + 3 + 1 rows
    for fmt, renderer in (("csv", csv_format), ("json", json_format)):
        streamed = runner.invoke(app, ["sql", "--db", str(store), "-f", fmt, query])
        assert streamed.stdout == whole[fmt].stdout
        _, rows = api.run_query(store, query)
        assert streamed.stdout == renderer.render_rows(columns, rows)
    empty = runner.invoke(app, ["sql", "--db", str(store), "-f", "json", "SELECT 1 AS a LIMIT 0"])
    assert empty.stdout == "[]\n"
    table = runner.invoke(app, ["sql", "--db", str(store), query])
    assert "│ 2 " in table.stdout and "│ 3 " not in table.stdout
    assert "shows the first 3 of 7 rows" in table.stderr


# rows 0 .. n-1; the cast fails on row 250,000 only, long after the first batches were
# fetched (DuckDB raises while fetching, not when the query starts)
LATE_CAST = (
    "SELECT range AS n, CASE WHEN range < 250000 THEN range::VARCHAR ELSE 'x' END::INT AS v "
    "FROM range(260000)"
)
LATE_ERROR = (
    "SELECT range AS n, CASE WHEN range = 250000 THEN error('row 250000 is bad') "
    "ELSE 'ok' END AS v FROM range(260000)"
)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (LATE_CAST, "error: SQL error: Conversion Error: Could not convert string 'x' to INT32"),
        (LATE_ERROR, "error: SQL error: Invalid Input Error: row 250000 is bad"),
    ],
)
@pytest.mark.parametrize("fmt", ["json", "csv", "table"])
def test_sql_failing_on_a_late_row_writes_nothing(
    store: Path, query: str, message: str, fmt: str
) -> None:
    """`-f json` wrote the first batches, then exit 2: half a JSON array for `jq` (QA).
    Every format writes all of the result or nothing; the error is one line on stderr."""
    result = runner.invoke(app, ["sql", "--db", str(store), "-f", fmt, query])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [message]


def test_sql_json_of_a_result_larger_than_memory_spool(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A result past the in-memory spool goes through a temporary file, whole and in order."""
    from tokaudit import cli_common

    monkeypatch.setattr(cli_common, "SPOOL_MEMORY", 100)
    monkeypatch.setattr(cli_common, "SPOOL_READ", 7)
    query = "SELECT range AS n FROM range(2000)"
    result = runner.invoke(app, ["sql", "--db", str(store), "-f", "json", query])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == [{"n": i} for i in range(2000)]


@pytest.mark.parametrize("value", ["a [/] b", "[red]red[/red]", "ok :x: team", "[bold"])
def test_tables_print_data_as_it_is_never_as_markup(
    store: Path, tmp_path: Path, value: str
) -> None:
    """Rich reads [..] and :name: as markup: a team named `a [/] b` crashed the table."""
    result = runner.invoke(app, ["sql", "--db", str(store), f"SELECT '{value}' AS w"])
    assert result.exit_code == 0, result.stderr
    assert f"│ {value} │" in result.stdout
    log = tmp_path / "teams.jsonl"
    mixed = ROOT / "tests" / "fixtures" / "envelope" / "mixed.jsonl"
    record = json.loads(mixed.read_text("utf-8").splitlines()[0])
    record["metadata"] = {**record.get("metadata", {}), "team": value}
    log.write_text(json.dumps(record) + "\n", "utf-8")
    audit = runner.invoke(app, ["audit", str(log)])
    assert audit.exit_code == 0, audit.stderr
    assert value in audit.stdout


def test_sql_tables_write_decimals_as_their_digits(store: Path) -> None:
    """A zero DECIMAL(38,18) (an error's cost) printed as 0E-18 in the table (QA)."""
    query = (
        "SELECT 0::DECIMAL(38,18) AS z, 0.00000125::DECIMAL(38,18) AS p, -2.5::DECIMAL(9,3) AS n"
    )
    table = runner.invoke(app, ["sql", "--db", str(store), query])
    assert table.exit_code == 0, table.stderr
    assert "│ 0 │ 0.00000125 │ -2.5 │" in table.stdout and "E-" not in table.stdout
    as_csv = runner.invoke(app, ["sql", "--db", str(store), "-f", "csv", query])
    assert as_csv.stdout.splitlines() == ["z,p,n", "0,0.00000125,-2.5"]


def test_sql_writes_nested_values_blobs_and_intervals_as_data(store: Path) -> None:
    """CSV printed a STRUCT as Python's repr ({'k': 1}); JSON printed a BLOB as "b'ab'" and
    an INTERVAL as "1 day, 0:00:00" (QA). Now JSON in a CSV cell, DuckDB's \\xNN text
    for a BLOB, an ISO 8601 duration for an INTERVAL."""
    query = (
        "SELECT {'k': 1, 's': 'a,b'} AS st, [1, 2] AS l, '\\x41\\xFF'::BLOB AS b, "
        "INTERVAL 1 DAY + INTERVAL 90 SECOND AS i"
    )
    as_csv = runner.invoke(app, ["sql", "--db", str(store), "-f", "csv", query])
    assert as_csv.exit_code == 0, as_csv.stderr
    header, row = list(csv.reader(io.StringIO(as_csv.stdout)))
    assert header == ["st", "l", "b", "i"]
    assert (json.loads(row[0]), json.loads(row[1]), row[2], row[3]) == (
        {"k": 1, "s": "a,b"},
        [1, 2],
        "A\\xFF",
        "P1DT90S",
    )
    as_json = runner.invoke(app, ["sql", "--db", str(store), "-f", "json", query])
    assert json.loads(as_json.stdout) == [
        {"st": {"k": 1, "s": "a,b"}, "l": [1, 2], "b": "A\\xFF", "i": "P1DT90S"}
    ]
    refused = runner.invoke(app, ["sql", "--db", str(store), "ATTACH ':memory:' AS x"])
    assert "this is an ATTACH statement" in refused.stderr


def test_sql_json_writes_non_finite_floats_as_null(store: Path) -> None:
    """NaN and Infinity are not JSON: strict parsers refused the output."""
    query = "SELECT 0.0/0.0 AS n, 1.0/0 AS i, ['-inf'::DOUBLE, 1.5] AS l, 0.25::DOUBLE AS f"
    result = runner.invoke(app, ["sql", "--db", str(store), "-f", "json", query])
    assert result.exit_code == 0, result.stderr

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in the output")

    assert json.loads(result.stdout, parse_constant=refuse) == [
        {"n": None, "i": None, "l": [None, 1.5], "f": 0.25}
    ]


@pytest.mark.parametrize(
    "query",
    [
        "DELETE FROM requests",
        "CREATE TABLE x (a INT)",
        "DROP VIEW request_costs",
        "COPY requests TO '/tmp/tokaudit-leak.csv'",
        "ATTACH ':memory:' AS other",
    ],
)
def test_sql_refuses_writes(store: Path, query: str) -> None:
    result = runner.invoke(app, ["sql", "--db", str(store), query])
    assert result.exit_code == 2
    assert "read-only" in result.stderr
    count = runner.invoke(
        app, ["sql", "--db", str(store), "-f", "csv", "SELECT count(*) AS n FROM requests"]
    )
    assert count.stdout.splitlines() == ["n", "5"]


@pytest.mark.parametrize(
    "pragma",
    [
        "PRAGMA import_database('{dir}')",
        "/* import */ PRAGMA \"IMPORT_DATABASE\"('{dir}')",
        "PRAGMA force_checkpoint",
        "PRAGMA copy_database('store', 'memory')",
    ],
)
def test_sql_refuses_pragmas_that_act(store: Path, tmp_path: Path, pragma: str) -> None:
    """A PRAGMA is read-only by its statement type, but import_database runs the
    statements of the directory's schema.sql: a COPY TO there wrote its file (QA)."""
    export = tmp_path / "export"
    export.mkdir()
    out = tmp_path / "written.csv"
    (export / "schema.sql").write_text(f"COPY (SELECT 42 AS n) TO '{out}';\n", "utf-8")
    (export / "load.sql").write_text("\n", "utf-8")
    result = runner.invoke(app, ["sql", "--db", str(store), pragma.format(dir=export)])
    assert result.exit_code == 2, result.stdout
    assert result.stderr.startswith("error: refused: `tokaudit sql` is read-only and PRAGMA")
    assert not out.exists()
    info = ["sql", "--db", str(store), "-f", "csv", "PRAGMA table_info('rejects')"]
    described = runner.invoke(app, info)
    assert described.exit_code == 0, described.stderr
    assert [line.split(",")[1] for line in described.stdout.splitlines()[1:]] == [
        "source_file",
        "source_line",
        "raw",
        "reason",
        "rejected_at",
    ]


def test_sql_never_installs_an_extension(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An https:// path made DuckDB download httpfs into ~/.duckdb (network, and the
    INSTALL that `tokaudit sql` refuses when it is asked for by name; QA)."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    query = "SELECT * FROM read_csv('https://example.invalid/a.csv')"
    result = runner.invoke(app, ["sql", "--db", str(store), query])
    assert result.exit_code == 2, result.stdout
    assert result.stderr.startswith("error: SQL error: this needs DuckDB's httpfs extension")
    assert "never downloads one (no network)" in result.stderr
    assert list(home.iterdir()) == []


def test_sql_refuses_a_write_inside_a_select_by_name(store: Path) -> None:
    """A DELETE … RETURNING inside a WITH is a SELECT statement: the read-only connection
    stopped it, but the message blamed "statement of type SELECT" (QA)."""
    query = "WITH d AS (DELETE FROM requests RETURNING *) SELECT count(*) FROM d"
    result = runner.invoke(app, ["sql", "--db", str(store), query])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: refused: `tokaudit sql` is read-only"), result.stderr
    assert 'type "SELECT"' not in result.stderr
    count = runner.invoke(
        app, ["sql", "--db", str(store), "-f", "csv", "SELECT count(*) AS n FROM requests"]
    )
    assert count.stdout.splitlines() == ["n", "5"]


@pytest.mark.parametrize(
    "explain",
    [
        "EXPLAIN ANALYZE COPY (SELECT 'x' AS a) TO '{out}' (FORMAT csv)",
        "EXPLAIN /* plan */ ANALYSE COPY (SELECT 'x' AS a) TO '{out}'",
        "EXPLAIN (ANALYZE, FORMAT json) COPY (SELECT 'x' AS a) TO '{out}'",
        "EXPLAIN COPY (SELECT 'x' AS a) TO '{out}'",
        "EXPLAIN ANALYZE SELECT count(*) FROM requests",
    ],
)
def test_sql_refuses_explain_that_runs_or_writes(store: Path, tmp_path: Path, explain: str) -> None:
    """EXPLAIN ANALYZE runs its statement: a COPY under it wrote its file (exit 0)."""
    out = tmp_path / "x.csv"
    result = runner.invoke(app, ["sql", "--db", str(store), explain.format(out=out)])
    assert result.exit_code == 2, result.stdout
    assert result.stdout == ""
    assert "read-only" in result.stderr and "EXPLAIN" in result.stderr
    assert not out.exists()


def test_sql_explains_a_query(store: Path) -> None:
    for query in ("EXPLAIN SELECT * FROM requests", "EXPLAIN (FORMAT json) (SELECT 1)"):
        result = runner.invoke(app, ["sql", "--db", str(store), "-f", "json", query])
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)[0]["explain_key"] == "physical_plan"


def test_findings_json_and_fail_flag(store: Path) -> None:
    result = runner.invoke(app, ["findings", "--db", str(store), "-f", "json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    # No waste; only D15 (no savings): the fixture's usage (1,000,000 prompt tokens for two
    # short messages on gpt-4o, 2,000 on o4-mini) disagrees with the exact recount.
    assert {(f["rule_id"], f["model"], f["savings_usd"]) for f in data["findings"]} == {
        ("D15", "gpt-4o-2024-08-06", "0"),
        ("D15", "o4-mini-2025-04-16", "0"),
    }
    assert data["total_savings_usd"] == "0"
    gated = runner.invoke(app, ["findings", "--db", str(store), "--fail-on-findings"])
    assert gated.exit_code == 1  # a finding, even without savings, fails the gate
    assert gated.stderr.splitlines()[-1] == "error: --fail-on-findings: 2 finding(s)"


def test_audit_on_sample_logs() -> None:
    result = runner.invoke(app, ["audit", str(ROOT / "sample_logs"), "-f", "json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert [b["group_by"] for b in data["breakdowns"]] == [["team"], ["model"], ["prompt"]]
    ingest = data["ingest"]
    assert ingest["records_read"] == (ingest["loaded"] + ingest["duplicates"] + ingest["rejected"])
    assert ingest["duplicates"] == 1 and ingest["rejected"] == 1
    assert {u["model"] for u in data["breakdowns"][0]["unpriced"]} == {"acme-llm-7b"}
    rules = {f["rule_id"] for f in data["findings"]["findings"]}
    # The sample's OpenAI usage is counted with the same offline tokenizer: no D15.
    assert rules == {"D01", "D04", "D09"}
    assert "invalid JSON" in result.stderr  # the malformed sample line is shown, not fatal


def test_audit_table_is_the_default(mixed_log: Path) -> None:
    result = runner.invoke(app, ["audit", str(mixed_log)])
    assert result.exit_code == 0
    for title in ("Spend by team", "Spend by model", "Spend by prompt", "Unpriced requests"):
        assert title in result.stdout
    assert "1 rejected" in result.stderr


def test_version_and_help() -> None:
    assert runner.invoke(app, ["--version"]).stdout.startswith("tokaudit ")
    helped = runner.invoke(app, ["--help"])
    assert helped.exit_code == 0
    for command in ("ingest", "report", "findings", "check", "sql", "audit"):
        assert command in helped.stdout


def test_zstd_input_matches_plain(tmp_path: Path, mixed_log: Path) -> None:
    zst = mixed_log.with_name("mixed.jsonl.zst")
    result = runner.invoke(
        app, ["ingest", str(zst), "--db", str(tmp_path / "z.duckdb"), "-o", "json"]
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["totals"] == {
        "records_read": 6,
        "loaded": 5,
        "duplicates": 0,
        "rejected": 1,
        "non_requests": 0,
    }


def test_recount_fills_only_what_is_missing(store: Path) -> None:
    # `ingest` already recounted everything; a second recount has nothing to do.
    result = runner.invoke(app, ["recount", "--db", str(store)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "0 text(s) counted, 0 request(s) updated\n"
    rows = sql_json(
        store,
        "SELECT request_id, recounted_input_tokens, recount_exact "
        "FROM requests WHERE provider = 'openai' ORDER BY request_id",
    )
    by_id = {r["request_id"]: r for r in rows}
    # gpt-4o: system "You answer questions." + user "What is a token?" is plain text, exact.
    assert by_id["chatcmpl-case1"]["recount_exact"] is True
    assert by_id["chatcmpl-case1"]["recounted_input_tokens"] > 0


def test_memory_limit_from_the_environment(
    tmp_path: Path, mixed_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TOKAUDIT_MEMORY_LIMIT caps DuckDB on every store tokaudit opens, as DuckDB reads it."""
    import duckdb

    from tokaudit.store import open_store

    bare = duckdb.connect()
    default = bare.execute("SELECT current_setting('memory_limit')").fetchone()
    bare.execute("SET memory_limit = '1500MB'")
    capped = bare.execute("SELECT current_setting('memory_limit')").fetchone()
    assert capped != default
    monkeypatch.setenv("TOKAUDIT_MEMORY_LIMIT", "1500MB")
    con = open_store(tmp_path / "s.duckdb")
    assert con.execute("SELECT current_setting('memory_limit')").fetchone() == capped
    con.close()
    result = runner.invoke(app, ["audit", str(mixed_log), "-f", "json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["ingest"]["loaded"] == 5


def test_stores_keep_small_row_groups_across_opens(tmp_path: Path) -> None:
    """Every open attaches the store with ROW_GROUP_ROWS (DuckDB does not keep the size)."""
    from tokaudit.store import open_store, open_store_read_only
    from tokaudit.store.connection import ROW_GROUP_ROWS

    def row_groups(con: Any) -> int:
        found = con.execute(
            "SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('rejects')"
        ).fetchone()
        return int(found[0])

    path = tmp_path / "s.duckdb"
    rows = 3 * ROW_GROUP_ROWS + 5
    con = open_store(path)
    con.execute(
        f"INSERT INTO rejects SELECT 'f', i, 'line', 'reason', now() FROM range({rows}) t(i)"
    )
    con.execute("CHECKPOINT")
    assert row_groups(con) == 4
    con.close()
    con = open_store(path)  # a writable reopen and checkpoint must not merge them
    con.execute("INSERT INTO rejects VALUES ('g', 1, 'line', 'reason', now())")
    con.execute("CHECKPOINT")
    assert row_groups(con) == 4
    con.close()
    con = open_store_read_only(path)
    assert con.execute("SELECT count(*) FROM rejects").fetchone() == (rows + 1,)
    con.close()
    result = runner.invoke(app, ["sql", "--db", str(path), "SELECT count(*) AS n FROM rejects"])
    assert result.exit_code == 0 and str(rows + 1) in result.stdout


def test_prompt_bodies_are_stored_with_zstd(tmp_path: Path) -> None:
    """Bodies skip DuckDB's compression analysis (its costliest write step) and read back whole."""
    from tokaudit.store import open_store, open_store_read_only

    path = tmp_path / "s.duckdb"
    con = open_store(path)
    bodies = [json.dumps({"messages": [{"role": "user", "content": "x" * i}]}) for i in range(300)]
    con.executemany(
        "INSERT INTO prompt_texts VALUES (md5(?), 'input', 'openai', ?, '', 0)",
        [[b, b] for b in bodies],
    )
    con.close()
    con = open_store_read_only(path)
    kinds = con.execute(
        "SELECT DISTINCT compression FROM pragma_storage_info('prompt_texts') "
        "WHERE column_name = 'body' AND segment_type = 'VARCHAR'"
    ).fetchall()
    stored = con.execute("SELECT body FROM prompt_texts ORDER BY chars, body").fetchall()
    con.close()
    assert kinds == [("ZSTD",)]
    assert sorted(b for (b,) in stored) == sorted(bodies)


def test_a_store_from_before_file_search_fees_gains_the_column(
    tmp_path: Path, mixed_log: Path
) -> None:
    """A store written before ``file_search_calls`` existed gets it on a writable open;
    its requests report and price as before, and read-only SQL still works."""
    from tokaudit.store import open_store

    path = tmp_path / "old.duckdb"
    assert runner.invoke(app, ["ingest", str(mixed_log), "--db", str(path)]).exit_code == 0
    before = runner.invoke(app, ["report", "--db", str(path), "-f", "json"])
    con = open_store(path)
    con.execute("DROP VIEW IF EXISTS request_costs")  # as the older release left it
    con.execute("ALTER TABLE requests DROP COLUMN file_search_calls")
    con.close()
    sql = ["sql", "--db", str(path), "SELECT count(*) AS n FROM requests"]
    assert runner.invoke(app, sql).exit_code == 0  # read-only: the store as it is
    after = runner.invoke(app, ["report", "--db", str(path), "-f", "json"])
    assert after.exit_code == 0, after.stderr
    totals = json.loads(before.stdout)["totals"]
    assert json.loads(after.stdout)["totals"] == totals and Decimal(totals["cost_usd"]) > 0
    con = open_store(path)
    columns = {row[0] for row in con.execute("DESCRIBE requests").fetchall()}
    con.close()
    assert "file_search_calls" in columns


def test_sql_on_an_older_store_sees_this_releases_views_and_leaves_the_file(
    store: Path,
) -> None:
    """`sql` opens the store read-only and read the views the release that wrote it stored:
    an older `token_audit` (reported input = uncached only) gave its figures, and a store
    lacking a column the current `request_costs` reads fell back to the stored view (here
    none: "does not exist"). Both are now this release's, and the file stays as it was."""
    import hashlib

    from tokaudit.store import open_store

    con = open_store(store)
    con.execute(  # an older definition: the reported input left out the cache classes
        "CREATE OR REPLACE VIEW token_audit AS "
        "SELECT request_key, input_tokens AS reported_input_tokens FROM requests"
    )
    con.execute("DROP VIEW request_costs")  # as the older release left it
    con.execute("ALTER TABLE requests DROP COLUMN file_search_calls")
    con.execute("UPDATE requests SET team = '  ' WHERE team = 'beta'")  # blank, pre-NULL
    con.execute("DELETE FROM schema_info WHERE key = 'blank_attribution_is_null'")
    con.close()
    digest = hashlib.sha256(store.read_bytes()).hexdigest()

    audit = sql_json(
        store,
        "SELECT request_key, reported_input_tokens, output_difference FROM token_audit "
        "WHERE request_key IN ('anthropic:msg_case4', 'openai:chatcmpl-case1') ORDER BY 1",
    )
    # uncached + cache read + cache writes: 50 + 10,000 + 2,000; OpenAI's prompt_tokens
    # already hold the 400,000 cached ones
    assert [(r["request_key"], r["reported_input_tokens"]) for r in audit] == [
        ("anthropic:msg_case4", 12_050),
        ("openai:chatcmpl-case1", 1_000_000),
    ]
    assert all("output_difference" in r for r in audit)  # a column the old view lacked
    costs = sql_json(
        store,
        "SELECT team, file_search_calls, cost_usd FROM request_costs "
        "WHERE request_key = 'anthropic:msg_case4'",
    )
    # claude-sonnet-4-5: $3/M input, $3.75/M 5-minute cache write, $0.30/M cache read,
    # $15/M output: 50 * 3 + 2,000 * 3.75 + 10,000 * 0.30 + 500 * 15 = 18,150 micro-dollars
    assert costs == [{"team": None, "file_search_calls": None, "cost_usd": "0.01815"}]
    assert hashlib.sha256(store.read_bytes()).hexdigest() == digest


@pytest.mark.parametrize(
    ("limit", "needle"),
    [
        ("lots", "TOKAUDIT_MEMORY_LIMIT='lots' is not a memory size"),
        ("-5MB", "TOKAUDIT_MEMORY_LIMIT='-5MB' is not a memory size"),  # DuckDB: no limit
        # wherever DuckDB runs out: opening the store, staging, recording a failed file
        ("4MB", "ran out of memory under TOKAUDIT_MEMORY_LIMIT=4MB"),
    ],
)
def test_a_bad_or_too_small_memory_limit_is_exit_2(
    tmp_path: Path, mixed_log: Path, monkeypatch: pytest.MonkeyPatch, limit: str, needle: str
) -> None:
    monkeypatch.setenv("TOKAUDIT_MEMORY_LIMIT", limit)
    result = runner.invoke(app, ["ingest", str(mixed_log), "--db", str(tmp_path / "s.duckdb")])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert needle in result.stderr


def test_audit_and_findings_run_on_counts_of_int64_max(tmp_path: Path) -> None:
    """2^63 - 1 is a valid count: ingest loads it, and audit and findings used to crash on
    it (D15's percentage overflowed BIGINT) instead of exiting 0."""
    log = ROOT / "tests" / "fixtures" / "envelope" / "int64_max_counts.jsonl"
    db = tmp_path / "s.duckdb"
    audited = runner.invoke(app, ["audit", str(log), "--db", str(db), "-f", "json"])
    assert audited.exit_code == 0, audited.stderr
    assert json.loads(audited.stdout)["ingest"]["loaded"] == 2
    found = runner.invoke(app, ["findings", "--db", str(db), "-f", "json"])
    assert found.exit_code == 0, found.stderr
    assert "D15" in found.stdout


def test_audit_hint_for_an_undetectable_file_points_to_ingest(tmp_path: Path) -> None:
    """audit's --format is the output format: its hint names the command that forces a
    log format. ingest keeps its own hint."""
    log = tmp_path / "notes.log"
    log.write_text("hello world\nnot a log\n", "utf-8")
    hint = "; load it with `tokaudit ingest --format FORMAT`"
    audited = runner.invoke(app, ["audit", str(log), "-f", "json"])
    assert audited.exit_code == 2
    assert "; pass --format" not in audited.stderr
    assert f"error: {log}: cannot detect the log format (tried: " in audited.stderr
    assert audited.stderr.count(hint) == 2  # the file error and the reject listed
    [reject] = json.loads(audited.stdout)["rejects"]
    assert reject["reason"].startswith("cannot detect the log format")
    assert reject["reason"].endswith(hint)
    ingested = runner.invoke(app, ["ingest", str(log), "--db", str(tmp_path / "s.duckdb")])
    assert ingested.exit_code == 2
    assert ingested.stderr.rstrip().endswith("; pass --format")
    assert "tokaudit ingest --format" not in ingested.stderr


def test_audit_counts_files_not_read_apart_from_rejected_lines(
    tmp_path: Path, mixed_log: Path
) -> None:
    """An unreadable file is kept as a reject at line 0; the list's header used to call it a
    rejected line, against the counts line just above ('0 rejected, 1 file(s) unreadable')."""
    notes = tmp_path / "notes.log"
    notes.write_text("hello world\nnot a log\n", "utf-8")
    cut = tmp_path / "cut.jsonl"
    cut.write_text(mixed_log.read_text("utf-8").splitlines()[0] + '\n{"timestamp": \n', "utf-8")
    result = runner.invoke(app, ["audit", str(notes), str(cut)])
    assert result.exit_code == 2
    assert ", 1 rejected, 1 file(s) unreadable" in result.stderr
    assert "1 line(s) rejected and 1 file(s) not read, kept with their reason:" in result.stderr


def test_a_skipped_file_says_a_new_format_does_not_apply_to_it(tmp_path: Path) -> None:
    """An unchanged file is skipped by its fingerprint: re-run with the right --format
    after a wrong one, it still read "unchanged, skipped" and nothing said why (QA)."""
    log = tmp_path / "calls.jsonl"
    log.write_bytes((ROOT / "sample_logs" / "gemini-2026-10.jsonl").read_bytes())
    db = str(tmp_path / "s.duckdb")
    runner.invoke(app, ["ingest", str(log), "--db", db, "--format", "litellm-spendlogs"])
    for fmt, warned in (("envelope", True), ("litellm-spendlogs", False), ("auto", False)):
        result = runner.invoke(app, ["ingest", str(log), "--db", db, "--format", fmt])
        warning = f"unchanged since it was read as litellm-spendlogs, so --format {fmt}"
        assert (warning in result.stderr) is warned, (fmt, result.stderr)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, False), ("", False), ("false", False), ("0", False), ("true", True), ("1", True)],
)
def test_ci_false_or_empty_is_not_ci(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: bool
) -> None:
    """Any non-empty CI hid the progress bar, CI=false in a local shell too (QA)."""
    from tokaudit.cli_common import in_ci

    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert in_ci() is expected


@pytest.mark.parametrize(("value", "expected"), [(None, True), ("", True), ("1", False)])
def test_an_empty_no_color_is_as_if_unset(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: bool
) -> None:
    """no-color.org: only a non-empty NO_COLOR turns colour off (an empty one did, QA)."""
    from tokaudit import cli_common

    monkeypatch.setattr(cli_common.sys.stdout, "isatty", lambda: True, raising=False)
    if value is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", value)
    assert cli_common.color() is expected


def test_report_by_week_and_month_is_a_time_series(tmp_path: Path) -> None:
    """Weeks are ISO weeks (2026-12-31 and 2027-01-01 are both in 2026-W53) and months UTC
    calendar months, listed in time order; --top keeps the costliest instead."""
    from datetime import date

    from helpers import write_jsonl

    days = ["2026-12-20", "2026-12-28", "2026-12-31", "2027-01-01", "2027-01-04", "2027-02-01"]
    records = [
        {
            "timestamp": f"{day}T23:30:00Z",
            "provider": "openai",
            "request_id": f"r{i}",
            "metadata": {"team": "t", "environment": "prod" if i % 2 else "dev"},
            "request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
            "response": {
                "model": "gpt-4o-mini",
                # a later day costs more, so cost order is not time order
                "usage": {"prompt_tokens": 1000 * (i + 1), "completion_tokens": 10},
            },
        }
        for i, day in enumerate(days)
    ]
    db = tmp_path / "w.duckdb"
    log = write_jsonl(tmp_path / "w.jsonl", records)
    assert runner.invoke(app, ["ingest", str(log), "--db", str(db)]).exit_code == 0

    def rows(by: str, *extra: str) -> list[dict[str, Any]]:
        out = runner.invoke(app, ["report", "--db", str(db), "--by", by, "-f", "json", *extra])
        assert out.exit_code == 0, out.stderr
        return list(json.loads(out.stdout)["rows"])

    per_day = {r["day"]: Decimal(r["cost_usd"]) for r in rows("day")}
    assert sorted(per_day) == days
    weeks: dict[str, Decimal] = {}
    months: dict[str, Decimal] = {}
    for day, cost in per_day.items():
        year, week, _ = date.fromisoformat(day).isocalendar()
        weeks[f"{year}-W{week:02d}"] = weeks.get(f"{year}-W{week:02d}", Decimal(0)) + cost
        months[day[:7]] = months.get(day[:7], Decimal(0)) + cost
    assert list(weeks) == ["2026-W51", "2026-W53", "2027-W01", "2027-W05"]
    got_weeks = rows("week")
    assert [(r["week"], Decimal(r["cost_usd"])) for r in got_weeks] == list(weeks.items())
    assert [r["requests"] for r in got_weeks] == [1, 3, 1, 1]
    got_months = rows("month")
    assert [(r["month"], Decimal(r["cost_usd"])) for r in got_months] == list(months.items())
    # --top: the costliest week first
    assert [r["week"] for r in rows("week", "--top", "2")] == ["2026-W53", "2027-W05"]
    # environment is a dimension too (costliest first)
    by_env = {r["environment"]: r["requests"] for r in rows("environment")}
    assert by_env == {"prod": 3, "dev": 3}


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["pricing", "validate", ""], "DIRECTORY"),
        (["pricing", "diff", "", ""], "OLD"),
        (["pricing", "list", "--pricing", ""], "--pricing"),
        (["report", "--db", ""], "--db"),
        (["sql", "--db", "", "SELECT 1"], "--db"),
        (["ingest", "{log}", "--db", ""], "--db"),
        (["ingest", "{log}", "--db", "{db}", "--config", ""], "--config"),
        (["ingest", "{log}", "--db", "{db}", "--map", ""], "--map"),
        (["report", "--db", "{db}", "--pricing", ""], "--pricing"),
        (["report", "--db", "{db}", "--overlay", ""], "--overlay"),
        (["check", "--db", "{db}", "--budget", ""], "--budget"),
        (["tokenizers", "list", "--config", ""], "--config"),
    ],
)
def test_an_empty_path_is_a_usage_error(
    tmp_path: Path, mixed_log: Path, args: list[str], option: str
) -> None:
    """pathlib reads "" as ".": `pricing validate ""` reported a missing manifest and
    ": 1 problem(s)", `--db ""` opened the current directory as a store, `--config ""`
    read it as a file (QA). An empty path is one line, exit 2, and nothing is written."""
    db = tmp_path / "s.duckdb"
    filled = [a.format(log=mixed_log, db=db) for a in args]
    result = runner.invoke(app, filled)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: {option}: an empty path (an unset variable?); give a file or directory"
    ]
    assert not db.exists()
