"""A directory of small envelope files loads in batches, exactly as one file at a time.

Some loggers write one file per request. One file at a time cost about 70 ms each (3,000
files: 3 min 37 s); consecutive envelope files are now staged and loaded together
(``EnvelopeFormat.batch_bytes``), each line keeping its own file and line number. Here a
tree of small files cut from the sample logs, with a rejected line, blank lines, a file
DuckDB refuses (a byte that is not UTF-8: the batch is retried in halves, the file then
loads from a repaired copy), a bare CR (read from a copy, in a batch of its own) and a
``.gz``, must come out identical whichever way it is loaded.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from helpers import ingest_contents
from tokaudit.ingest.anthropic_usage import AnthropicUsageFormat
from tokaudit.ingest.envelope import EnvelopeFormat
from tokaudit.ingest.files import ZST_RATIO, file_size, read_size
from tokaudit.ingest.interface import LogFormat
from tokaudit.ingest.jsondocs import DocumentFormat
from tokaudit.ingest.litellm import LiteLLMFormat
from tokaudit.ingest.openai_usage import OpenAIUsageFormat
from tokaudit.ingest.otel import OtelGenAIFormat
from tokaudit.ingest.pairs import PairsFormat
from tokaudit.ingest.staging import SPLIT_VARIABLE
from tokaudit.store import open_store

if TYPE_CHECKING:
    from conftest import EnvelopeKit

SAMPLE = Path(__file__).resolve().parents[2] / "sample_logs" / "openai-2026-10.jsonl"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
OTLP = FIXTURES / "otel" / "genai_spans.otlp.json"


def _tree(root: Path) -> Path:
    lines = SAMPLE.read_bytes().splitlines()[:90]
    tree = root / "logs"
    tree.mkdir()
    at, n = 0, 0
    while at < len(lines):
        take = 1 + n % 3  # files of one to three lines
        chunk = lines[at : at + take]
        at, n = at + take, n + 1
        data = b"\n".join(chunk) + b"\n"
        if n == 4:
            data = b"\n" + data + b"\n"  # blank lines around the records
        if n == 7:
            data += b'{"provider": "openai", "cut sh\n'  # a rejected line
        if n == 10:
            data = data.replace(b'"role"', b'"r\xf4le"', 1)  # not UTF-8: DuckDB refuses it
        if n == 13:
            data = data.replace(b"\n", b"\r", 1)  # a bare CR: read from an LF copy
        name = tree / f"sub{n % 2}" / f"req-{n:03d}.jsonl"
        name.parent.mkdir(exist_ok=True)
        if n == 16:
            name = name.with_suffix(".jsonl.gz")
            name.write_bytes(gzip.compress(data))
        else:
            name.write_bytes(data)
    return tree


def _load(
    tree: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    batch_bytes: int,
    workers: int = 0,
    split: bool = True,
) -> dict[str, Any]:
    monkeypatch.setenv("TOKAUDIT_STAGE_WORKERS", str(workers))
    for fmt in (
        EnvelopeFormat,
        PairsFormat,
        OtelGenAIFormat,
        LiteLLMFormat,
        OpenAIUsageFormat,
        AnthropicUsageFormat,
    ):
        monkeypatch.setattr(fmt, "batch_bytes", batch_bytes)
    con = open_store(":memory:")
    if not split:
        con.execute(f"SET VARIABLE {SPLIT_VARIABLE} = false")
    try:
        return ingest_contents(con, [str(tree)])
    finally:
        con.close()


def _batch_sizes(monkeypatch: pytest.MonkeyPatch, fmt: type[LogFormat]) -> list[int]:
    """The number of files in each batch ``fmt.stage_files`` stages from now on."""
    batches: list[int] = []
    stage_files = fmt.stage_files

    def spy(self: LogFormat, con: Any, paths: list[Path]) -> None:
        batches.append(len(paths))
        stage_files(self, con, paths)

    monkeypatch.setattr(fmt, "stage_files", spy)
    return batches


@pytest.fixture(scope="module")
def tree_alone(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The tree and what loading its files one at a time gives (the reference)."""
    tree = _tree(tmp_path_factory.mktemp("small"))
    with pytest.MonkeyPatch.context() as monkeypatch:
        return tree, _load(tree, monkeypatch, batch_bytes=0)


@pytest.mark.parametrize(("workers", "split"), [(0, True), (0, False), (2, True)])
def test_batched_small_files_load_as_one_at_a_time(
    tree_alone: tuple[Path, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    workers: int,
    split: bool,
) -> None:
    tree, alone = tree_alone
    batches = _batch_sizes(monkeypatch, EnvelopeFormat)
    together = _load(tree, monkeypatch, batch_bytes=20_000, workers=workers, split=split)
    assert together == alone
    assert max(batches) > 3  # several files were staged together

    # what "identical" holds: every sample line read, the broken pieces rejected
    files = alone["files"]
    assert len(files) == 45
    assert sum(f[2] for f in files) == 91 and sum(f[3] for f in files) == 89
    assert all(f[6] is None for f in files)
    rejected = {(Path(source).name, line) for source, line, _, _ in alone["rejects"]}
    assert rejected == {("req-007.jsonl", 2), ("req-010.jsonl", 1)}
    assert {r[0] for r in alone["rejects"]} <= {str(p.resolve()) for p in tree.rglob("*")}


PAIR_CASSETTES = [
    "openai/otelcontrib_chat_completion_with_content.yaml",
    "openai/openllmetry_openai_prompt_caching.yaml",
    "openai/otelcontrib_responses_create_aggregates_cache_tokens.yaml",
    "openai/otelcontrib_responses_create_reports_reasoning_tokens.yaml",
]


def test_request_response_pairs_a_file_each_load_in_batches(
    kit: EnvelopeKit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Saved request/response pairs (openai-pairs), a file per call, one of them with a
    line that is no record: batched, the store is the one-at-a-time store."""
    exchanges = [ex for name in PAIR_CASSETTES for ex in kit.cassette(name)]
    tree = kit.tmp_path / "pairs"
    tree.mkdir()
    for n, ex in enumerate(exchanges):
        data = json.dumps({"request": ex.request, "response": ex.response}) + "\n"
        if n == 2:
            data += "[1, 2]\n"
        (tree / f"call-{n:02d}.jsonl").write_text(data)
    alone = _load(tree, monkeypatch, batch_bytes=0)
    batches = _batch_sizes(monkeypatch, PairsFormat)
    together = _load(tree, monkeypatch, batch_bytes=1 << 20)
    assert together == alone
    assert batches == [len(exchanges)]
    assert {f[1] for f in alone["files"]} == {"openai-pairs"}
    assert sum(f[3] for f in alone["files"]) == len(exchanges)
    [(source, line, raw, _)] = alone["rejects"]
    assert (Path(source).name, line, raw) == ("call-02.jsonl", 2, "[1, 2]")


def _otlp_tree(root: Path) -> Path:
    """OTLP files as exporters write them: pretty-printed documents, one-line documents, a
    JSON Lines file of several, a document cut short, an empty file; span ids varied so
    most spans are new."""
    text = OTLP.read_text()
    document = json.loads(text)

    def renamed(n: int) -> dict[str, Any]:
        return json.loads(text.replace('"spanId": "', f'"spanId": "{n:02d}'))

    tree = root / "otlp"
    tree.mkdir()
    (tree / "a-pretty.json").write_text(text)
    (tree / "b-line.json").write_text(json.dumps(renamed(1)) + "\n")
    (tree / "c-lines.jsonl").write_text(
        "".join(json.dumps(renamed(n)) + "\n" for n in (2, 3)) + json.dumps(document) + "\n"
    )
    (tree / "d-cut.json").write_text(json.dumps(renamed(4), indent=2)[:-300])
    (tree / "e-empty.json").write_text("")
    (tree / "f-pretty.json").write_text(json.dumps(renamed(5), indent=1))
    return tree


def test_otlp_files_load_in_batches_as_one_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each file is read as JSON Lines or as one document on its own, its records' line
    numbers found in its own lines, and the spans staged together."""
    tree = _otlp_tree(tmp_path)
    alone = _load(tree, monkeypatch, batch_bytes=0)
    batches = _batch_sizes(monkeypatch, DocumentFormat)
    together = _load(tree, monkeypatch, batch_bytes=1 << 20)
    assert together == alone
    assert max(batches) >= 4
    read = {Path(f[0]).name: f[2:6] for f in alone["files"]}
    # every record of every readable document, a reject per bad span or cut document
    assert read["a-pretty.json"] == read["f-pretty.json"] == (5, 4, 0, 1)
    assert read["c-lines.jsonl"] == (15, 8, 4, 3)
    assert read["d-cut.json"] == (1, 0, 0, 1)
    lines = {(Path(r[0]).name, r[1]) for r in alone["rejects"]}
    assert ("a-pretty.json", 327) in lines and ("c-lines.jsonl", 2) in lines


CLAUDE_SESSION = next((FIXTURES / "claude_code" / "claude-config" / "projects").glob("*/*.jsonl"))


@pytest.mark.parametrize("spelling", ["relative", "double slash"])
@pytest.mark.parametrize("batch_bytes", [0, 1 << 20])
def test_file_names_with_glob_characters_read_only_themselves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_bytes: int, spelling: str
) -> None:
    """DuckDB's readers take every path for a pattern: ``a*.jsonl`` also read ``ab.jsonl``
    (its records loaded under the wrong name), and ``g-[1].jsonl`` read ``g-1.jsonl``
    instead of itself (QA). Each file now reads its own lines, batched or not, from a
    relative path or one spelt with a double slash too, and a Claude Code session in a
    folder with such a name as well."""
    lines = SAMPLE.read_bytes().splitlines()
    tree = tmp_path / "logs"
    tree.mkdir()
    own = {
        "a*.jsonl": lines[0:3],
        "ab.jsonl": [*lines[3:5], b'{"bad"'],
        "g-[1].jsonl": lines[5:6],
        "g-1.jsonl": lines[6:8],
        "q?.jsonl": lines[8:9],
        "qx.jsonl": lines[9:13],
    }
    for name, content in own.items():
        (tree / name).write_bytes(b"\n".join(content) + b"\n")
    session = tree / "proj[1]*" / CLAUDE_SESSION.name
    session.parent.mkdir()
    session.write_bytes(CLAUDE_SESSION.read_bytes())
    monkeypatch.chdir(tmp_path)
    # DuckDB spells a path it found by a pattern its own way (//tmp/x as /tmp/x): lines
    # are told apart by DuckDB's file index, never by that name (review: they were lost)
    given = "logs" if spelling == "relative" else "/" + str(tree)
    got = _load(Path(given), monkeypatch, batch_bytes=batch_bytes)

    read = {Path(f[0]).name: (f[2], f[3], f[5], f[6]) for f in got["files"]}
    for name, content in own.items():
        bad = sum(1 for line in content if line == b'{"bad"')
        assert read[name] == (len(content), len(content) - bad, bad, None), name
    assert [(Path(r[0]).name, r[1]) for r in got["rejects"]] == [("ab.jsonl", 3)]
    # through a linked folder's parent (DuckDB's glob took link/.. as text: not found, QA)
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "link").symlink_to(tree)
    via = tmp_path / "deep" / "link" / ".." / "logs" / "a*.jsonl"
    assert via.is_file()  # the operating system follows the link, then goes up
    [linked] = _load(via, monkeypatch, batch_bytes=batch_bytes)["files"]
    assert (linked[2], linked[3], linked[6]) == (3, 3, None)
    # the session loads as it does from a plain folder name
    plain = tmp_path / "plain" / "proj"
    plain.mkdir(parents=True)
    (plain / CLAUDE_SESSION.name).write_bytes(CLAUDE_SESSION.read_bytes())
    reference = _load(tmp_path / "plain", monkeypatch, batch_bytes=batch_bytes)
    assert read[CLAUDE_SESSION.name] == reference["files"][0][2:4] + reference["files"][0][5:7]


def test_a_batch_counts_what_its_gz_files_hold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch budget counted bytes on disk, so 44 MB of ``.gz`` made one batch of 2 GB
    of logs (7.1 GB peak memory against 5.0 GB, QA); a ``.gz`` now counts what its trailer
    says it holds."""
    lines = SAMPLE.read_bytes().splitlines()
    tree = tmp_path / "packed"
    tree.mkdir()
    for n in range(4):  # each holds its own requests, padded with blank lines to ~200 KB
        data = b"\n".join(lines[n * 5 : n * 5 + 5]) + b"\n" * 200_000
        (tree / f"day-{n}.jsonl.gz").write_bytes(gzip.compress(data))
        assert read_size(tree / f"day-{n}.jsonl.gz") == len(data)
        assert file_size(tree / f"day-{n}.jsonl.gz") < len(data) // 20
    batches = _batch_sizes(monkeypatch, EnvelopeFormat)
    got = _load(tree, monkeypatch, batch_bytes=500_000)  # room for two files' contents
    assert batches == [2, 2]
    assert sum(f[3] for f in got["files"]) == 20


def test_read_size_of_plain_gz_and_zst(tmp_path: Path) -> None:
    plain = tmp_path / "a.jsonl"
    plain.write_bytes(b"x" * 1000)
    assert read_size(plain) == 1000
    packed = tmp_path / "a.jsonl.zst"
    packed.write_bytes(b"x" * 1000)  # not read: a ratio of its size
    assert read_size(packed) == 1000 * ZST_RATIO
    tiny = tmp_path / "b.jsonl.gz"
    tiny.write_bytes(gzip.compress(b""))
    assert read_size(tiny) == file_size(tiny)  # never below the size on disk


LITELLM = FIXTURES / "realworld" / "litellm"


def test_litellm_files_load_in_batches_as_one_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LiteLLM files of every shape a logger or an export writes, a file each: a
    pretty-printed SpendLogs row, a StandardLoggingPayload, JSON Lines of rows (one of
    them not a record), a CSV export with a ragged row; ids varied so most are new."""
    spend = json.loads((LITELLM / "spend_logs_payload.json").read_text())
    payload = (LITELLM / "standard_logging_payload.json").read_text()

    def row(n: int) -> dict[str, Any]:
        return {**spend, "request_id": f"req-{n}"}

    tree = tmp_path / "litellm"
    tree.mkdir()
    for n in range(3):
        (tree / f"a-row-{n}.json").write_text(json.dumps(row(n), indent=2))
    (tree / "b-payload.json").write_text(payload)
    (tree / "c-rows.jsonl").write_text(
        "".join(json.dumps(row(n)) + "\n" for n in (10, 11)) + "[1]\n" + json.dumps(row(12))
    )
    columns = list(spend)  # a database export writes every SpendLogs column
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for n in (20, 21):
        values = {**row(n), "metadata": spend["metadata"]}
        writer.writerow([_csv_cell(values.get(c)) for c in columns])
    writer.writerow(["x"] * (len(columns) + 2))  # too many columns
    (tree / "d-export.log").write_text(out.getvalue())
    alone = _load(tree, monkeypatch, batch_bytes=0)
    batches = _batch_sizes(monkeypatch, LiteLLMFormat)
    together = _load(tree, monkeypatch, batch_bytes=1 << 20)
    assert together == alone
    assert max(batches) >= 5
    read = {Path(f[0]).name: (f[1], *f[2:6]) for f in alone["files"]}
    assert read["c-rows.jsonl"][0] == "litellm-spendlogs" and read["c-rows.jsonl"][4] == 1
    assert read["d-export.log"][0] == "litellm-spendlogs" and read["d-export.log"][4] == 1
    assert sum(f[3] for f in alone["files"]) >= 8


def _csv_cell(value: Any) -> str:
    """A SpendLogs value as a CSV export writes it: JSON for objects and lists."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


OPENAI_USAGE = (
    FIXTURES / "realworld" / "openai" / "openapi_examples" / "usage_completions_response.json"
)
ANTHROPIC_USAGE = (
    Path(__file__).resolve().parent
    / "exports"
    / "data"
    / ("anthropic_usage_report_docs_example.json")
)


def test_usage_exports_a_file_a_day_load_in_batches_as_one_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Usage API pages saved a file a day, in every shape an export takes: a
    pretty-printed page, a compact one, JSON Lines of pages, a list of pages, a bare
    bucket, a page with a bad count, a cut document; OpenAI's and Anthropic's. Each
    result keeps the line it starts on in its own file."""
    page = json.loads(OPENAI_USAGE.read_text())
    report = json.loads(ANTHROPIC_USAGE.read_text())

    def day(doc: dict[str, Any], n: int) -> dict[str, Any]:
        text = json.dumps(doc)
        for key in ("start_time", "end_time"):  # each file its own buckets
            text = text.replace(f'"{key}": 17', f'"{key}": {17 + n}')
        return json.loads(text.replace('"starting_at": "2025-', f'"starting_at": "{2000 + n}-'))

    tree = tmp_path / "usage"
    tree.mkdir()
    (tree / "a-pretty.json").write_text(json.dumps(day(page, 1), indent=2))
    (tree / "b-compact.json").write_text(json.dumps(day(page, 2)))
    (tree / "c-pages.jsonl").write_text("".join(json.dumps(day(page, n)) + "\n" for n in (3, 4)))
    (tree / "d-list.json").write_text(json.dumps([day(page, 5), day(page, 6)], indent=2))
    (tree / "e-bucket.json").write_text(json.dumps(day(page, 7)["data"][0], indent=2))
    bad = day(page, 8)
    bad["data"][0]["results"][0]["input_tokens"] = "lots"
    (tree / "f-bad-count.json").write_text(json.dumps(bad, indent=2))
    (tree / "g-cut.json").write_text(json.dumps(day(page, 9), indent=2)[:-40])
    (tree / "h-anthropic.json").write_text(json.dumps(day(report, 10), indent=2))
    (tree / "i-anthropic.jsonl").write_text(json.dumps(day(report, 11)) + "\n")
    alone = _load(tree, monkeypatch, batch_bytes=0)
    openai_batches = _batch_sizes(monkeypatch, OpenAIUsageFormat)
    anthropic_batches = _batch_sizes(monkeypatch, AnthropicUsageFormat)
    together = _load(tree, monkeypatch, batch_bytes=1 << 20)
    assert together == alone
    assert max(openai_batches) >= 5 and max(anthropic_batches) == 2
    read = {Path(f[0]).name: f[1:6] for f in alone["files"]}
    # each page holds one bucket of one result (the OpenAPI example)
    assert read == {
        "a-pretty.json": ("openai-usage", 1, 1, 0, 0),
        "b-compact.json": ("openai-usage", 1, 1, 0, 0),
        "c-pages.jsonl": ("openai-usage", 2, 2, 0, 0),
        "d-list.json": ("openai-usage", 2, 2, 0, 0),
        "e-bucket.json": ("openai-usage", 1, 1, 0, 0),
        "f-bad-count.json": ("openai-usage", 1, 0, 0, 1),
        "g-cut.json": ("openai-usage", 1, 0, 0, 1),
        "h-anthropic.json": ("anthropic-usage", 1, 1, 0, 0),
        "i-anthropic.jsonl": ("anthropic-usage", 1, 1, 0, 0),
    }
    # the bad result's own line in its pretty-printed page: {, object, data, {, object,
    # start_time, end_time, results, then the result's {
    lines = {Path(r[0]).name: r[1] for r in alone["rejects"]}
    assert lines == {"f-bad-count.json": 9, "g-cut.json": 1}
