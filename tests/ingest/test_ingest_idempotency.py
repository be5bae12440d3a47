"""Re-ingesting never double counts: unchanged files are skipped, repeated records dedup."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conftest import EnvelopeKit

Json = dict[str, Any]


def real_lines(kit: EnvelopeKit) -> list[Json]:
    """Six real calls across the three providers, each with its own response id."""
    openai = kit.cassette("openai/openllmetry_openai_prompt_caching.yaml")
    anthropic = kit.cassette("anthropic/openllmetry_anthropic_prompt_caching_legacy.yaml")
    return [
        *(kit.from_exchange(ex, "openai") for ex in openai),
        *(kit.from_exchange(ex, "anthropic") for ex in anthropic),
    ]


def test_same_file_twice_is_skipped(kit: EnvelopeKit) -> None:
    lines = real_lines(kit)
    path = kit.write("day1.jsonl", [*lines, "{not json"])
    [first] = kit.ingest(path).files
    assert (first.loaded, first.rejected, first.skipped) == (len(lines), 1, False)
    before = (kit.count("requests"), kit.count("rejects"), kit.count("ingested_files"))

    [second] = kit.ingest(path).files
    assert second.skipped is True
    assert second.format == "envelope"
    assert (second.records_read, second.loaded, second.duplicates, second.rejected) == (0, 0, 0, 0)
    assert second.error is None
    after = (kit.count("requests"), kit.count("rejects"), kit.count("ingested_files"))
    assert after == before == (len(lines), 1, 1)


def test_ingested_files_records_the_counts(kit: EnvelopeKit) -> None:
    lines = real_lines(kit)
    path = kit.write("day1.jsonl", [*lines, lines[0], "[]"])
    kit.ingest(path)
    [row] = kit.query("SELECT * FROM ingested_files")
    assert row["path"] == str(path.resolve())
    assert row["format"] == "envelope"
    assert (row["records_read"], row["loaded"], row["duplicates"], row["rejected"]) == (
        len(lines) + 2,
        len(lines),
        1,
        1,
    )
    assert len(row["fingerprint"]) == 64


def test_a_throwaway_store_fingerprints_by_size_and_time(kit: EnvelopeKit) -> None:
    """``remember=False`` (audit's in-memory store) loads the same, without hashing content."""
    from tokaudit.ingest import ingest_paths

    lines = real_lines(kit)
    path = kit.write("day1.jsonl", [*lines, lines[0], "{not json"])
    [result] = ingest_paths(kit.con, [str(path)], remember=False).files
    assert (result.loaded, result.duplicates, result.rejected) == (len(lines), 1, 1)
    [(fingerprint,)] = kit.con.execute("SELECT fingerprint FROM ingested_files").fetchall()
    stat = path.stat()
    assert fingerprint == f"stat:{stat.st_size}:{stat.st_mtime_ns}"


def test_same_record_in_two_files_is_a_duplicate(kit: EnvelopeKit) -> None:
    lines = real_lines(kit)
    a = kit.write("a.jsonl", lines[:4])
    b = kit.write("sub/b.jsonl", lines[3:])  # lines[3] is in both files
    fa, fb = kit.ingest(a, b).files
    assert (fa.loaded, fa.duplicates) == (4, 0)
    assert (fb.records_read, fb.loaded, fb.duplicates, fb.rejected) == (len(lines) - 3, 2, 1, 0)
    assert kit.count("requests") == len(lines)
    # the first occurrence wins
    dup_id = lines[3]["response"]["id"]
    [owner] = kit.query("SELECT source_file FROM requests WHERE request_id = ?", [dup_id])
    assert owner["source_file"] == str(a.resolve())


def test_duplicate_across_separate_runs(kit: EnvelopeKit) -> None:
    lines = real_lines(kit)
    [fa] = kit.ingest(kit.write("a.jsonl", lines)).files
    [fb] = kit.ingest(kit.write("copy-of-a.jsonl", lines)).files  # same bytes, other path
    assert (fa.loaded, fb.loaded, fb.duplicates, fb.skipped) == (len(lines), 0, len(lines), False)
    assert kit.count("requests") == len(lines)


def test_duplicated_line_inside_one_file(kit: EnvelopeKit) -> None:
    [line] = real_lines(kit)[:1]
    fr, rows = kit.ingest_lines([line, line])
    assert (fr.records_read, fr.loaded, fr.duplicates, fr.rejected) == (2, 1, 1, 0)
    assert [r["source_line"] for r in rows] == [1]


def test_envelope_request_id_is_the_dedup_key(kit: EnvelopeKit) -> None:
    """Two different bodies with the same envelope request_id are one request."""
    a, b = real_lines(kit)[:2]
    fr, rows = kit.ingest_lines([a | {"request_id": "req_1"}, b | {"request_id": "req_1"}])
    assert (fr.loaded, fr.duplicates) == (1, 1)
    assert rows[0]["request_id"] == "req_1"


def test_records_without_any_id_dedup_on_the_exact_line(kit: EnvelopeKit) -> None:
    """Error records carry no id: identical lines collapse, different ones do not."""
    [ex] = kit.cassette("openai/otelcontrib_chat_completion_404.yaml")
    err = kit.from_exchange(ex, "openai")
    later = kit.from_exchange(ex, "openai", timestamp="2026-11-01T12:00:05Z")
    fr, rows = kit.ingest_lines([err, err, later])
    assert (fr.loaded, fr.duplicates) == (2, 1)
    assert all(r["request_id"] is None for r in rows)


def test_appended_file_loads_only_the_new_records(kit: EnvelopeKit) -> None:
    lines = real_lines(kit)
    path = kit.write("grow.jsonl", lines[:3])
    [first] = kit.ingest(path).files
    kit.write("grow.jsonl", lines)  # the same file, appended to
    [second] = kit.ingest(path).files
    assert (first.loaded, second.skipped) == (3, False)
    assert (second.loaded, second.duplicates) == (len(lines) - 3, 3)
    assert kit.count("requests") == len(lines)


def test_a_line_completed_later_leaves_the_rejects(kit: EnvelopeKit) -> None:
    """A log read while its last line was half written: once the line is whole and the
    file is read again, the line loads and its old reject goes; other rejects stay."""
    lines = real_lines(kit)
    whole = json.dumps(lines[3])
    path = kit.write("grow.jsonl", [*lines[:2], "[]", lines[2], whole[:40]])
    kit.ingest(path)
    assert {n: r["reason"] for n, r in kit.rejects(path).items()} == {
        3: "not a JSON object (got array)",
        5: "invalid JSON",
    }
    kit.write("grow.jsonl", [*lines[:2], "[]", lines[2], whole, *lines[4:]])
    [again] = kit.ingest(path).files
    assert (again.loaded, again.duplicates, again.rejected) == (len(lines) - 3, 3, 1)
    assert {n: r["reason"] for n, r in kit.rejects(path).items()} == {
        3: "not a JSON object (got array)"
    }
    lines_loaded = [r["source_line"] for r in kit.rows(path)]
    assert 5 in lines_loaded


def test_a_duplicate_with_other_figures_is_counted_not_loaded(kit: EnvelopeKit) -> None:
    """The first record of a key is kept; a later copy whose counts differ (a corrected
    log, a billing record that changed) is a duplicate that is counted, not silent."""
    lines = real_lines(kit)
    first = kit.write("day1.jsonl", lines)
    kit.ingest(first)
    edited = copy.deepcopy(lines)
    edited[1]["response"]["usage"]["prompt_tokens"] += 100  # same request id, new counts
    edited[2]["response"]["usage"]["prompt_tokens"] += 0  # same counts: a plain duplicate
    again = kit.write("day1-resent.jsonl", [*edited, edited[4]])  # and one repeat inside
    [fr] = kit.ingest(again).files
    assert (fr.loaded, fr.duplicates, fr.conflicting) == (0, len(lines) + 1, 1)
    kept = {r["request_id"]: r for r in kit.rows(first)}
    assert kept[lines[1]["response"]["id"]]["source_line"] == 2  # the first copy stays
    # the same file's own repeats differ from nothing: no conflict
    [plain] = kit.ingest(kit.write("twice.jsonl", [lines[0], lines[0]])).files
    assert plain.conflicting == 0


def test_a_duplicate_with_another_batch_flag_or_tier_is_a_conflict(kit: EnvelopeKit) -> None:
    """The batch flag and the service tier change a call's price as its counts do: a copy
    that differs in them only is a conflicting duplicate too, never dropped without a word."""
    lines = real_lines(kit)[:3]
    kit.ingest(kit.write("day1.jsonl", lines))
    batch, tier = copy.deepcopy(lines[0]), copy.deepcopy(lines[1])
    batch["batch"] = True
    tier["response"]["service_tier"] = "flex"
    assert lines[1]["response"].get("service_tier") in (None, "default")
    [fr] = kit.ingest(kit.write("day1-resent.jsonl", [batch, tier, lines[2]])).files
    assert (fr.loaded, fr.duplicates, fr.conflicting) == (0, 3, 2)


def test_an_input_sent_again_is_stored_once(kit: EnvelopeKit) -> None:
    """Requests that repeat an input, in one file and across files, share one stored text."""
    lines = real_lines(kit)
    again = [dict(line, request_id=f"again-{n}") for n, line in enumerate(lines)]
    kit.ingest(kit.write("day1.jsonl", [*lines, *again[:3]]))
    kit.ingest(kit.write("day2.jsonl", again[3:]))
    requests = kit.query("SELECT input_hash FROM requests WHERE input_hash IS NOT NULL")
    inputs = kit.query("SELECT text_hash, body FROM prompt_texts WHERE kind = 'input'")
    assert len(requests) == 2 * len(lines)
    assert sorted(r["text_hash"] for r in inputs) == sorted({r["input_hash"] for r in requests})
    assert len(inputs) < len(requests)
    assert all(hashlib.md5(r["body"].encode()).hexdigest() == r["text_hash"] for r in inputs)


def test_a_blank_id_is_no_id(kit: EnvelopeKit) -> None:
    """A logged ``""`` (or blank) request or response id names nothing: the next id stands,
    else the line's hash. Keyed on the blank, every such call of a provider was one request
    and the others its duplicates (QA: 12 calls loaded as 5)."""
    lines = real_lines(kit)
    chunk = {"id": "chatcmpl-blank-stream", "object": "chat.completion.chunk", "model": "gpt-4o"}
    streamed: Json = {  # a chunk list: read by the envelope's exact path, not the fast one
        "timestamp": "2026-11-01T12:00:00Z",
        "provider": "openai",
        "request": {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
        "response": [
            chunk | {"choices": [{"index": 0, "delta": {"content": "ok"}}]},
            chunk | {"choices": [], "usage": {"prompt_tokens": 8, "completion_tokens": 1}},
        ],
    }
    blank_request = [line | {"request_id": ""} for line in lines]
    blank_request.append(streamed | {"request_id": " \t"})
    no_response_id = []
    for n, line in enumerate(lines[:2]):
        bare = copy.deepcopy(line)
        bare["response"]["id"] = ""
        bare["metadata"] = {"team": f"t{n}"}  # two calls, two different lines
        no_response_id.append(bare)
    fr, rows = kit.ingest_lines([*blank_request, *no_response_id])
    expected = len(lines) + 1 + 2
    assert (fr.loaded, fr.duplicates, fr.rejected) == (expected, 0, 0)
    ids = [line["response"]["id"] for line in lines]
    keys = {r["request_key"] for r in rows}
    assert {f"{line['provider']}:{i}" for line, i in zip(lines, ids, strict=True)} <= keys
    assert "openai:chatcmpl-blank-stream" in keys
    assert sum(":line-md5:" in k for k in keys) == 2
    assert all(r["request_id"] != "" for r in rows)
