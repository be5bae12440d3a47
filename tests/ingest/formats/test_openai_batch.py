"""openai-batch: Batch API output files joined to their input file, batch-priced.

Real samples: the LiteLLM input/output pair (custom_ids request-1/2 on gpt-4o-mini; the
README notes the two are not proven to come from one run) and the OpenAPI spec's one-line
input and output examples (whose custom_ids do not match each other).
"""

from __future__ import annotations

import gzip
import json
import shutil
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from format_helpers import (
    REALWORLD,
    assert_counts_add_up,
    classes_of,
    costs,
    install_prices,
    openai_classes,
    yaml_prices,
)

from tokaudit.ingest import ingest_paths
from tokaudit.ingest.loader import REQUEST_COLUMNS
from tokaudit.store import open_store

if TYPE_CHECKING:
    from conftest import EnvelopeKit

Json = dict[str, Any]
INPUT = REALWORLD / "openai" / "litellm_batch_job_results_furniture.input.jsonl"
OUTPUT = REALWORLD / "openai" / "litellm_test_batch_utils_output.jsonl"
SPEC_INPUT = REALWORLD / "openai" / "openapi_examples" / "batch_request_input_line_example.jsonl"
SPEC_OUTPUT = REALWORLD / "openai" / "openapi_examples" / "batch_request_output_line_example.jsonl"


def lines_of(path: Path) -> list[Json]:
    return [json.loads(x) for x in path.read_text("utf-8").splitlines() if x.strip()]


def failed_lines() -> list[Json]:
    """The two documented failure shapes: an HTTP error body, and response null + error."""
    return [
        {
            "id": "batch_req_fail400",
            "custom_id": "request-1",
            "response": {
                "status_code": 400,
                "request_id": "req_f1",
                "body": {
                    "error": {
                        "message": "Invalid 'max_tokens'",
                        "type": "invalid_request_error",
                        "param": "max_tokens",
                        "code": None,
                    }
                },
            },
            "error": None,
        },
        {
            "id": "batch_req_expired",
            "custom_id": "request-2",
            "response": None,
            "error": {"code": "batch_expired", "message": "This request could not be executed"},
        },
    ]


def batch_dir(kit: EnvelopeKit, name: str, extra_output: list[Json] | None = None) -> Path:
    folder = kit.tmp_path / name
    folder.mkdir()
    shutil.copy(INPUT, folder / "input.jsonl")
    out = OUTPUT.read_text("utf-8").rstrip("\n") + "\n"
    out += "".join(json.dumps(x) + "\n" for x in extra_output or [])
    (folder / "output.jsonl").write_text(out, "utf-8")
    return folder


def test_output_joins_its_input_and_is_batch_priced(kit: EnvelopeKit) -> None:
    folder = batch_dir(kit, "b")
    result = kit.ingest(folder / "output.jsonl", folder / "input.jsonl")  # output named first
    # batch inputs load first within one call, whatever the order given
    assert [f.format for f in result.files] == ["batch-input", "openai-batch"]
    fin, fout = result.files
    assert_counts_add_up(fin, 2, 2, 0, 0)
    assert_counts_add_up(fout, 2, 2, 0, 0)

    outputs = lines_of(OUTPUT)
    inputs = {x["custom_id"]: x for x in lines_of(INPUT)}
    rows = kit.rows(folder / "output.jsonl")
    for out, row in zip(outputs, rows, strict=True):
        body = out["response"]["body"]
        assert classes_of(row) == openai_classes(body["usage"])
        assert row["request_key"] == "openai:" + out["id"]
        assert row["is_batch"] is True and row["status"] == "ok"
        assert int(row["ts"].timestamp()) == body["created"]
        assert (row["model_requested"], row["model"]) == ("gpt-4o-mini", body["model"])
        assert json.loads(row["metadata"]) == {
            "custom_id": out["custom_id"],
            "batch_input": str((folder / "input.jsonl").resolve()),
        }
        system = inputs[out["custom_id"]]["body"]["messages"][0]["content"]
        [text] = kit.query(
            "SELECT body FROM prompt_texts WHERE text_hash = ?", [row["prompt_hash"]]
        )
        assert text["body"] == system  # the prompt came from the input file
    assert [r["input_tokens"] for r in rows] == [20, 22]

    install_prices(kit.con)
    p = yaml_prices("openai", "gpt-4o-mini", "batch")
    got = costs(kit.con)
    assert {c["price_context"] for c in got} == {"batch"}
    assert [c["cost_usd"] for c in got] == [
        20 * p["input"] + 10 * p["output"],
        22 * p["input"] + 10 * p["output"],
    ]


def test_failed_lines_are_error_rows_not_rejects(kit: EnvelopeKit) -> None:
    folder = batch_dir(kit, "f", failed_lines())
    kit.ingest(folder)
    rows = kit.rows(folder / "output.jsonl")
    assert kit.rejects(folder / "output.jsonl") == {}
    assert [r["status"] for r in rows] == ["ok", "ok", "error", "error"]
    bad400, expired = rows[2], rows[3]
    assert (bad400["http_status"], bad400["error_type"]) == (400, "invalid_request_error")
    assert bad400["error_message"] == "Invalid 'max_tokens'"
    assert (expired["http_status"], expired["error_type"]) == (None, "batch_expired")
    first_response = min(x["response"]["body"]["created"] for x in lines_of(OUTPUT))
    for row in (bad400, expired):
        assert row["has_usage"] is False and row["is_batch"] is True
        assert row["model"] == "gpt-4o-mini"  # from the input body
        assert int(row["ts"].timestamp()) == first_response  # failed lines carry no time
    install_prices(kit.con)
    failed = costs(kit.con, "status = 'error'")
    assert [c["cost_usd"] for c in failed] == [0, 0]  # an error without usage costs nothing


def test_input_loaded_later_fills_the_same_columns(kit: EnvelopeKit) -> None:
    folder = batch_dir(kit, "b", failed_lines())
    kit.ingest(folder)  # one call: the input loads first
    in_order = kit.rows(folder / "output.jsonl")
    in_order_texts = kit.query("SELECT * FROM prompt_texts ORDER BY text_hash")

    late = open_store(":memory:")  # the same files, output first, input in a later run
    try:
        [fout] = ingest_paths(late, [str(folder / "output.jsonl")]).files
        assert_counts_add_up(fout, 4, 4, 0, 0)
        before = late.execute("SELECT prompt_hash, model, metadata FROM requests").fetchall()
        assert {r[0] for r in before} == {None}  # no input yet: no prompt
        assert sorted(r[1] for r in before) == [  # failed lines name no model yet
            "gpt-4o-mini-2024-07-18",
            "gpt-4o-mini-2024-07-18",
            "unknown",
            "unknown",
        ]
        assert {json.loads(r[2])["batch_input"] for r in before} == {None}

        [fin] = ingest_paths(late, [str(folder / "input.jsonl")]).files
        assert_counts_add_up(fin, 2, 2, 0, 0)
        cur = late.execute("SELECT * FROM requests ORDER BY source_line")
        names = [d[0] for d in cur.description or []]
        filled = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        texts = late.execute("SELECT * FROM prompt_texts ORDER BY text_hash").fetchall()
    finally:
        late.close()
    # every column as if the input had come first, the prompt texts too
    assert [{c: r[c] for c in REQUEST_COLUMNS} for r in filled] == [
        {c: r[c] for c in REQUEST_COLUMNS} for r in in_order
    ]
    assert texts == [tuple(t.values()) for t in in_order_texts]
    assert {r["prompt_hash"] for r in filled} != {None}


def test_an_output_is_matched_to_one_covering_input_file(kit: EnvelopeKit) -> None:
    here = batch_dir(kit, "here")
    elsewhere = kit.tmp_path / "elsewhere"
    elsewhere.mkdir()
    other = [
        x | {"body": x["body"] | {"messages": [{"role": "user", "content": "other"}]}}
        for x in lines_of(INPUT)
    ]  # same custom_ids, another batch
    kit.write("elsewhere/input.jsonl", other)
    kit.ingest(elsewhere / "input.jsonl", here / "input.jsonl")
    kit.ingest(here / "output.jsonl")
    rows = kit.rows(here / "output.jsonl")
    # both files cover request-1/2: the one in the output's directory wins
    assert {json.loads(r["metadata"])["batch_input"] for r in rows} == {
        str((here / "input.jsonl").resolve())
    }
    # elsewhere: two covering files, none beside the output; a wrong prompt is worse than none
    third = kit.write("third/output.jsonl", [x | {"id": x["id"] + "-3"} for x in lines_of(OUTPUT)])
    kit.ingest(third)
    assert {json.loads(r["metadata"])["batch_input"] for r in kit.rows(third)} == {None}

    # the spec examples: input has request-1, output request-2, so its own folder has no
    # cover, and elsewhere two files hold request-2: ambiguous, so no prompt
    spec = kit.tmp_path / "spec"
    spec.mkdir()
    shutil.copy(SPEC_INPUT, spec / "in.jsonl")
    shutil.copy(SPEC_OUTPUT, spec / "out.jsonl")
    result = kit.ingest(spec)
    assert [f.format for f in result.files] == ["batch-input", "openai-batch"]
    [row] = kit.rows(spec / "out.jsonl")
    assert row["request_key"] == "openai:batch_req_wnaDys"
    assert row["prompt_hash"] is None and row["model"] == "gpt-4o-mini"
    assert classes_of(row) == openai_classes(lines_of(SPEC_OUTPUT)[0]["response"]["body"]["usage"])


def test_an_input_and_its_gz_copy_are_one_candidate(kit: EnvelopeKit) -> None:
    """Two copies of one input file (``input.jsonl`` and ``input.jsonl.gz``) give the same
    prompts: the output takes them (they left it without a prompt, as two different
    batches would); two inputs that differ still give none."""
    here = batch_dir(kit, "here")
    with (here / "input.jsonl.gz").open("wb") as fh:
        fh.write(gzip.compress((here / "input.jsonl").read_bytes()))
    kit.ingest(here)
    rows = kit.rows(here / "output.jsonl")
    bodies = {x["custom_id"]: x["body"] for x in lines_of(INPUT)}
    assert len(rows) == 2
    for row in rows:
        meta = json.loads(row["metadata"])
        assert meta["batch_input"] == str((here / "input.jsonl").resolve())  # first by name
        assert row["model_requested"] == bodies[meta["custom_id"]]["model"]
        assert row["prompt_hash"] is not None

    other = batch_dir(kit, "other")
    kit.write("other/output.jsonl", [x | {"id": x["id"] + "-2"} for x in lines_of(OUTPUT)])
    changed = lines_of(INPUT)
    changed[0]["body"]["messages"] = [{"role": "user", "content": "another batch"}]
    kit.write("other/input2.jsonl", changed)
    kit.ingest(other)
    assert {json.loads(r["metadata"])["batch_input"] for r in kit.rows(other / "output.jsonl")} == {
        None
    }


def test_rejects_dedup_and_counts(kit: EnvelopeKit) -> None:
    outputs = lines_of(OUTPUT)
    spec: list[tuple[Any, str | None]] = [
        (outputs[0], None),
        ("{broken", "invalid JSON"),
        (
            {k: v for k, v in outputs[1].items() if k != "custom_id"},
            "custom_id is missing or not a string",
        ),
        (
            outputs[1] | {"response": outputs[1]["response"] | {"status_code": "200"}},
            "response.status_code is missing or not a whole number",
        ),
        (
            {"id": "batch_req_x", "custom_id": "request-9", "response": None, "error": None},
            "neither a response nor an error",
        ),
        (
            outputs[1] | {"response": outputs[1]["response"] | {"body": "ok"}},
            "response.body is not an object",
        ),
        (outputs[0], None),  # duplicate line
        (outputs[1], None),
    ]
    path = kit.write("out.jsonl", [line for line, _ in spec])
    [fr] = kit.ingest(path).files
    assert fr.format == "openai-batch"
    assert_counts_add_up(fr, 8, 2, 1, 5)
    rejects = kit.rejects(path)
    assert set(rejects) == {2, 3, 4, 5, 6}
    for n in rejects:
        why = spec[n - 1][1]
        assert why is not None and why in rejects[n]["reason"], rejects[n]["reason"]
    copy_path = kit.write("copy/out.jsonl", [outputs[0], outputs[1]])
    [again] = kit.ingest(copy_path).files  # the same lines under another path
    assert_counts_add_up(again, 2, 0, 2, 0)


def test_an_embeddings_batch_is_priced_at_the_batch_embedding_rates(kit: EnvelopeKit) -> None:
    """Batch embeddings were unpriced (no batch rate in the table): OpenAI lists 3-small at
    $0.01 and 3-large at $0.065 per million in the Batch API, ada-002 at none. An Embeddings
    body has no ``created``: the line takes the earliest time in its file, as does one whose
    ``created`` is null."""
    folder = kit.tmp_path / "emb"
    folder.mkdir()
    cases = [  # (custom_id, model, prompt_tokens, $ per million in batch, or None)
        ("e1", "text-embedding-3-small", 11, "0.01"),
        ("e2", "text-embedding-3-large", 4, "0.065"),
        ("e3", "text-embedding-ada-002", 1, None),
    ]
    inputs = [
        {"custom_id": c, "method": "POST", "url": "/v1/embeddings", "body": {"model": m}}
        for c, m, _, _ in cases
    ]
    outputs = [
        {
            "id": f"batch_req_{c}",
            "custom_id": c,
            "response": {
                "status_code": 200,
                "request_id": f"req_{c}",
                "body": {
                    "object": "list",
                    "data": [{"object": "embedding", "index": 0, "embedding": [0.1]}],
                    "model": m,
                    "usage": {"prompt_tokens": n, "total_tokens": n},
                },
            },
            "error": None,
        }
        for c, m, n, _ in cases
    ]
    outputs[1]["response"]["body"]["created"] = 1760000000  # Embeddings bodies have none
    outputs[0]["response"]["body"]["created"] = None  # was a reject: "timestamp ... null"
    for name, lines in (("input.jsonl", inputs), ("output.jsonl", outputs)):
        (folder / name).write_text("".join(json.dumps(x) + "\n" for x in lines), "utf-8")
    kit.ingest(folder)
    stamps = {r["request_id"]: r["ts"].timestamp() for r in kit.rows(folder / "output.jsonl")}
    assert stamps == dict.fromkeys(["batch_req_e1", "batch_req_e2", "batch_req_e3"], 1760000000)
    install_prices(kit.con)
    got = {c["request_id"]: (c["cost_usd"], c["unpriced_reason"]) for c in costs(kit.con)}
    assert got == {
        f"batch_req_{c}": (
            (Decimal(n) * Decimal(rate) / 10**6, None) if rate else (None, "unknown_context")
        )
        for c, _, n, rate in cases
    }
