"""An optional mapped column that no record of a file has (a mistyped ``team: tema``) reads
as empty: the library says so in ``FileResult.absent_columns`` and ``ingest``/``audit`` warn
on stderr, once per column, naming the target, the column and the files (the first three,
and how many); exit code and stdout unchanged.
The same for a column ``metadata:`` lists. CSV, JSON Lines and Parquet alike."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from mapped_helpers import READERS, ingest_mapped, write_as
from typer.testing import CliRunner

from tokaudit.cli import app

if TYPE_CHECKING:
    from conftest import EnvelopeKit

runner = CliRunner()
RECORDS = [
    {"ts": "2026-10-01T10:00:00Z", "model": "gpt-4o", "pt": 1000, "ct": 100, "team": "search"},
    {"ts": "2026-10-01T11:00:00Z", "model": "gpt-4o", "pt": 400, "ct": 20, "team": "growth"},
]
GOOD: dict[str, Any] = {
    "fields": {
        "timestamp": "ts",
        "model": "model",
        "team": "team",
        "input_tokens": "pt",
        "output_tokens": "ct",
    },
    "static": {"provider": "openai"},
}
TYPO: dict[str, Any] = {**GOOD, "fields": {**GOOD["fields"], "team": "tema"}}


@pytest.mark.parametrize("reader", READERS)
def test_library_names_the_target_and_column_no_record_has(kit: EnvelopeKit, reader: str) -> None:
    path = write_as(kit.tmp_path, reader, RECORDS)
    fr = ingest_mapped(kit, path, TYPO)
    assert (fr.error, fr.loaded) == (None, 2)
    assert fr.absent_columns == [("team", "tema")]
    assert [r["team"] for r in kit.rows(path)] == [None, None]


@pytest.mark.parametrize("reader", READERS)
def test_library_a_file_with_every_column_has_none(kit: EnvelopeKit, reader: str) -> None:
    path = write_as(kit.tmp_path, reader, RECORDS)
    fr = ingest_mapped(kit, path, GOOD)
    assert fr.absent_columns == []
    assert [r["team"] for r in kit.rows(path)] == ["search", "growth"]


def test_library_a_key_some_records_have_is_not_absent(kit: EnvelopeKit) -> None:
    """A JSON record may leave a key out: only a key no record has is reported."""
    records = [RECORDS[0], {k: v for k, v in RECORDS[1].items() if k != "team"}]
    path = write_as(kit.tmp_path, "jsonl", records)
    fr = ingest_mapped(kit, path, GOOD)
    assert fr.absent_columns == []


@pytest.mark.parametrize("reader", READERS)
def test_library_a_listed_metadata_column_no_record_has(kit: EnvelopeKit, reader: str) -> None:
    path = write_as(kit.tmp_path, reader, RECORDS)
    fr = ingest_mapped(kit, path, {**TYPO, "metadata": ["team", "sqaud"]})
    assert fr.absent_columns == [("team", "tema"), ("metadata", "sqaud")]
    # the column that is there is kept, the one that is not is no key
    assert [json.loads(r["metadata"]) for r in kit.rows(path)] == [
        {"team": "search"},
        {"team": "growth"},
    ]


@pytest.mark.parametrize("reader", READERS)
def test_library_a_failed_file_reports_no_absent_column(kit: EnvelopeKit, reader: str) -> None:
    records = [{k: v for k, v in r.items() if k != "ts"} for r in RECORDS]
    path = write_as(kit.tmp_path, reader, records)
    fr = ingest_mapped(kit, path, TYPO)
    assert fr.error is not None and fr.absent_columns == []


def _cli(tmp: Path, command: str, paths: list[Path], fmap: dict[str, Any], db: str) -> Any:
    map_file = tmp / "fields.yaml"
    map_file.write_text(yaml.safe_dump(fmap), "utf-8")
    extra = ["-o", "json"] if command == "ingest" else ["-f", "json"]
    return runner.invoke(
        app,
        [command, *map(str, paths), "--map", str(map_file), "--db", str(tmp / db), *extra],
    )


@pytest.mark.parametrize("reader", READERS)
def test_cli_ingest_warns_on_stderr_naming_the_files(kit: EnvelopeKit, reader: str) -> None:
    tmp = kit.tmp_path
    first = write_as(tmp, reader, RECORDS, "day1")
    second = write_as(tmp, reader, RECORDS[:1], "day2")
    typo = _cli(tmp, "ingest", [first, second], TYPO, "typo.duckdb")
    assert typo.exit_code == 0, typo.stderr
    lines = [line for line in typo.stderr.splitlines() if line.startswith("warning:")]
    assert lines == [
        f"warning: team: column 'tema' is in no record of 2 files ({first}, {second}); "
        "read as empty",
    ]
    # stdout is the data alone, as with a map every file satisfies
    good = _cli(tmp, "ingest", [first, second], GOOD, "good.duckdb")
    assert good.exit_code == 0 and "warning" not in good.stderr
    assert {**json.loads(typo.stdout), "db": ""} == {**json.loads(good.stdout), "db": ""}


def test_cli_a_directory_lacking_a_column_warns_once_per_column(kit: EnvelopeKit) -> None:
    """A directory of daily exports that all lack the column: one line per column, the
    files counted and the first three named, not a line per file and column (1,000 files
    of a map with a mistyped team and metadata column printed 2,000 lines)."""
    tmp = kit.tmp_path
    logs = tmp / "logs"
    logs.mkdir()
    paths = [write_as(logs, "csv", RECORDS[n % 2 : n % 2 + 1], f"day{n}") for n in range(5)]
    result = _cli(tmp, "ingest", [logs], {**TYPO, "metadata": ["sqaud"]}, "d.duckdb")
    assert result.exit_code == 0, result.stderr
    named = ", ".join(str(p) for p in sorted(paths)[:3])
    assert [line for line in result.stderr.splitlines() if line.startswith("warning:")] == [
        f"warning: team: column 'tema' is in no record of 5 files ({named} and 2 more); "
        "read as empty",
        f"warning: metadata: column 'sqaud' is in no record of 5 files ({named} and 2 more); "
        "nothing of it kept in metadata",
    ]


def test_cli_audit_warns_on_stderr(kit: EnvelopeKit) -> None:
    tmp = kit.tmp_path
    path = write_as(tmp, "csv", RECORDS)
    result = _cli(tmp, "audit", [path], {**TYPO, "metadata": ["sqaud"]}, "audit.duckdb")
    assert result.exit_code == 0, result.stderr
    assert f"warning: team: column 'tema' is in no record of {path}; read as empty" in (
        result.stderr.splitlines()
    )
    assert (
        f"warning: metadata: column 'sqaud' is in no record of {path}; "
        "nothing of it kept in metadata"
    ) in result.stderr.splitlines()
    assert "warning" not in result.stdout
    report = json.loads(result.stdout)  # the data, whole
    assert report is not None


def test_cli_no_warning_for_an_unchanged_file_skipped(kit: EnvelopeKit) -> None:
    """The warning is of a read: a file skipped as unchanged was not read again."""
    tmp = kit.tmp_path
    path = write_as(tmp, "csv", RECORDS)
    assert "tema" in _cli(tmp, "ingest", [path], TYPO, "s.duckdb").stderr
    again = _cli(tmp, "ingest", [path], TYPO, "s.duckdb")
    assert again.exit_code == 0 and "tema" not in again.stderr
