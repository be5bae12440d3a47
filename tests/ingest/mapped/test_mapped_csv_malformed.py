"""--map CSV: a malformed row is one reject, the other rows load.

A row of too many or too few fields, or one whose quote is never closed, used to fail the
whole file with DuckDB's sniffer message; so did LF and CRLF mixed in one file. Every
expectation here is worked out from the text the test writes: the line each entry starts
on (counting the line breaks written before it), which entries are well-formed, and their
counts.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pytest
import yaml
from typer.testing import CliRunner

from tokaudit.cli import app
from tokaudit.ingest.fieldmap import parse_field_map

if TYPE_CHECKING:
    from conftest import EnvelopeKit

HEADER = ["id", "created_at", "prompt_tokens", "completion_tokens", "note"]
FMAP: dict[str, Any] = {
    "fields": {
        "request_id": "id",
        "timestamp": "created_at",
        "input_tokens": "prompt_tokens",
        "output_tokens": "completion_tokens",
    },
    "static": {"provider": "openai", "model": "gpt-4o-mini"},
}
UNTERMINATED = "malformed CSV row: Value with unterminated quote found."


def _row(i: int, note: str = "ok") -> list[str]:
    """Row ``i``: request r<i>, 100 + i prompt tokens, 10 + i completion tokens."""
    return [f"r{i}", f"2026-10-01T10:{i // 60:02d}:{i % 60:02d}Z", str(100 + i), str(10 + i), note]


def _line(fields: list[str], delim: str = ",") -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delim, lineterminator="\n").writerow(fields)
    return out.getvalue()


def _build(entries: list[str]) -> tuple[str, list[int]]:
    """The file's text and the line each entry starts on (the header is line 1)."""
    text, starts = _line(HEADER), []
    for entry in entries:
        starts.append(text.count("\n") + 1)
        text += entry
    return text, starts


def _ingest(kit: EnvelopeKit, path: Path, fmap: dict[str, Any] = FMAP) -> Any:
    from tokaudit.ingest import ingest_paths

    [fr] = ingest_paths(kit.con, [str(path)], field_map=parse_field_map(fmap, "fields.yaml")).files
    return fr


def _check(kit: EnvelopeKit, path: Path, good: dict[int, int], bad: dict[int, str]) -> Any:
    """``good``: row i -> the line it starts on; ``bad``: line -> reason."""
    fr = _ingest(kit, path)
    assert fr.error is None
    assert (fr.loaded, fr.duplicates, fr.rejected) == (len(good), 0, len(bad))
    assert fr.records_read == fr.loaded + fr.duplicates + fr.rejected
    assert {n: r["reason"] for n, r in kit.rejects(path).items()} == bad
    got = {
        r["request_id"]: (r["source_line"], r["input_tokens"], r["output_tokens"])
        for r in kit.rows(path)
    }
    assert got == {f"r{i}": (line, 100 + i, 10 + i) for i, line in good.items()}
    return fr


def _ragged(found: int) -> str:
    noun = "field" if found == 1 else "fields"
    return f"malformed CSV row: {found} {noun} where the header has 5"


# (the malformed entry, the number of fields it has)
RAGGED = {
    "one field too many": (_line([*_row(1), "extra"]), 6),
    "two fields too few": (_line(_row(1)[:3]), 3),
    "a lone field": ("r1\n", 1),
    "two empty fields after the last": (_line([*_row(1), "", ""]), 7),
}


@pytest.mark.parametrize("padding", [0, 300], ids=["small", "large"])
@pytest.mark.parametrize("case", sorted(RAGGED))
def test_a_ragged_row_is_one_reject_and_the_others_load(
    kit: EnvelopeKit, case: str, padding: int
) -> None:
    """The file used to fail whole ("Error when sniffing file"), small or large."""
    ragged, found = RAGGED[case]
    others = range(2, 4 + padding)
    text, starts = _build([_line(_row(0)), ragged, *(_line(_row(i)) for i in others)])
    path = kit.tmp_path / f"{case.replace(' ', '_')}-{padding}.csv"
    path.write_text(text, "utf-8")
    # one line per row: row i (from 2 on) is entry i, on line i + 2
    good = {0: 2, **{i: i + 2 for i in others}}
    assert starts == [2, 3, *(i + 2 for i in others)]
    _check(kit, path, good, {3: _ragged(found)})
    assert kit.rejects(path)[3]["raw"] == ragged.rstrip("\n")


def test_an_export_cut_inside_its_last_quoted_field(kit: EnvelopeKit) -> None:
    """A truncated download: the last row stops inside a quoted note."""
    last = _line(_row(3, note="a note, with a comma"))
    cut = last[: last.index("with")]
    assert cut.endswith('"a note, ')
    text, starts = _build([_line(_row(0)), _line(_row(1)), _line(_row(2)), cut])
    path = kit.tmp_path / "cut.csv"
    path.write_text(text, "utf-8")
    _check(kit, path, {0: starts[0], 1: starts[1], 2: starts[2]}, {starts[3]: UNTERMINATED})
    assert kit.rejects(path)[starts[3]]["raw"] == cut


def test_a_quote_left_open_mid_file_runs_to_the_next_quote(kit: EnvelopeKit) -> None:
    """A field opened with a quote that is never closed holds the lines after it, as CSV
    reads them, up to the next quote character: the row ending there is malformed, its
    text (every line of it) is one reject, and the rows after it load."""
    opened = _line(_row(1))[:-1] + ',"no closing quote\n'  # a sixth field, opened
    swallowed = _line(_row(2))  # no quote: inside the open field
    closes = _line(_row(3, note="quoted, note"))  # its first quote closes the open field
    assert closes.count('"') == 2 and swallowed.count('"') == 0
    entries = [_line(_row(0)), opened, swallowed, closes, "\n", _line(_row(4, note='say "hi"'))]
    text, starts = _build(entries)
    assert starts == [2, 3, 4, 5, 6, 7]  # line 6 is blank
    path = kit.tmp_path / "open.csv"
    path.write_text(text, "utf-8")
    # the row starting on line 3 ends on line 5, where text follows the closing quote
    reason = "malformed CSV row: text after the closing quote of a field"
    fr = _check(kit, path, {0: 2, 4: 7}, {3: reason})
    assert fr.records_read == 3
    assert kit.rejects(path)[3]["raw"] == (opened + swallowed + closes).rstrip("\n")


def test_line_numbers_count_blank_lines_and_quoted_line_breaks(kit: EnvelopeKit) -> None:
    """Blank lines (before the header too), notes over several lines and CRLF endings,
    around malformed rows: each row keeps the line it starts on."""
    entries = [
        _line(_row(0, note="two\nlines")),
        "\n",
        _line([*_row(1, note="a\nb"), "x"]),
        _line(_row(2, note="three\n\nlines")),
        "\n\n",
        _line(_row(3)[:2]),
        _line(_row(4, note='a "quoted" word')),
        _line(_row(5)),
    ]
    body, starts = _build(entries)
    text = "\n\n" + body  # the header is line 3
    starts = [s + 2 for s in starts]
    # by hand: header 3; r0 4-5; blank 6; ragged 7-8; r2 9-11; blank 12-13; then 14, 15, 16
    assert starts == [4, 6, 7, 9, 12, 14, 15, 16]
    path = kit.tmp_path / "lines.csv"
    path.write_bytes(text.replace("\n", "\r\n").encode("utf-8"))
    good = {0: starts[0], 2: starts[3], 4: starts[6], 5: starts[7]}
    bad = {starts[2]: _ragged(6), starts[5]: _ragged(2)}
    _check(kit, path, good, bad)
    # a reject's text is its lines (joined with line feeds)
    assert kit.rejects(path)[starts[2]]["raw"] == entries[2].rstrip("\n")


def test_mixed_line_endings_and_white_space_lines(kit: EnvelopeKit) -> None:
    """LF and CRLF in one file (DuckDB's reader failed the whole file); a line of spaces
    is blank, no row, but counted."""
    entries = [
        _line(_row(0)).replace("\n", "\r\n"),
        _line(_row(1, note="over\ntwo")),
        "   \r\n",
        _line(_row(2)[:4]).replace("\n", "\r\n"),
        _line(_row(3)),
    ]
    text, starts = _build(entries)
    assert starts == [2, 3, 5, 6, 7]
    path = kit.tmp_path / "mixed.csv"
    path.write_text(text, "utf-8", newline="")
    _check(kit, path, {0: 2, 1: 3, 3: 7}, {6: _ragged(4)})


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("empty.csv", b""),
        ("bom.csv", b"\xef\xbb\xbf"),
        ("blank.csv", b"\n  \r\n\t\n"),
        ("empty.csv.gz", b"gzip"),  # an empty file, gzip-compressed
        ("export", b""),  # no name to read the reader from: CSV by its (empty) content
    ],
)
def test_an_empty_or_blank_file_has_no_records(kit: EnvelopeKit, name: str, data: bytes) -> None:
    """A day an export had no rows to write: nothing to load, nothing lost, as an empty
    JSON Lines file (it failed as unreadable, exit 2, naming no header line: QA)."""
    import gzip

    path = kit.tmp_path / name
    path.write_bytes(gzip.compress(b"") if data == b"gzip" else data)
    fr = _ingest(kit, path)
    assert (fr.error, fr.format, fr.records_read, fr.loaded, fr.rejected) == (
        None,
        "mapped",
        0,
        0,
        0,
    )
    assert kit.count("requests") == 0 and kit.rejects(path) == {}


def test_a_grown_file_counts_its_old_rows_as_duplicates(kit: EnvelopeKit) -> None:
    first = [_line(_row(0)), _line([*_row(1), "x"]), _line(_row(2))]
    path = kit.tmp_path / "grows.csv"
    text, starts = _build(first)
    path.write_text(text, "utf-8")
    _check(kit, path, {0: starts[0], 2: starts[2]}, {starts[1]: _ragged(6)})
    text, starts = _build([*first, _line(_row(3)), _line(_row(4)[:4])])
    path.write_text(text, "utf-8")
    fr = _ingest(kit, path)
    # rows 0 and 2 were loaded before: duplicates now; row 3 is new; two rows are malformed
    assert (fr.loaded, fr.duplicates, fr.rejected) == (1, 2, 2)
    assert fr.records_read == fr.loaded + fr.duplicates + fr.rejected == 5
    assert {n: r["reason"] for n, r in kit.rejects(path).items()} == {
        starts[1]: _ragged(6),
        starts[4]: _ragged(4),
    }


@pytest.mark.parametrize(
    ("name", "delim"),
    [("semi.csv", ";"), ("tabs.txt", "\t"), ("pipes.csv", "|"), ("tabs.tsv", "\t")],
)
def test_the_delimiter_is_read_from_the_header_line(
    kit: EnvelopeKit, name: str, delim: str
) -> None:
    """A semicolon export (a spreadsheet's in many locales), a tab-separated file whatever
    its name: the header line's delimiter; ragged rows are rejects in them too."""
    entries = [
        _line(_row(0, note="a,b"), delim),
        _line([*_row(1), "x"], delim),
        _line(_row(2, note=f"x{delim}y"), delim),
    ]
    text, starts = _build(entries)
    text = _line(HEADER, delim) + text[len(_line(HEADER)) :]
    path = kit.tmp_path / name
    path.write_text(text, "utf-8")
    _check(kit, path, {0: starts[0], 2: starts[2]}, {starts[1]: _ragged(6)})


def test_a_comma_header_with_a_semicolon_in_a_name_stays_comma(kit: EnvelopeKit) -> None:
    header = ["id", "created_at", "prompt_tokens", "completion_tokens", "note;comment"]
    text = _line(header) + _line(_row(0, note="x;y;z"))
    path = kit.tmp_path / "names.csv"
    path.write_text(text, "utf-8")
    _check(kit, path, {0: 2}, {})


def test_a_column_named_like_a_table_alias_keeps_the_whole_row(kit: EnvelopeKit) -> None:
    """A reject's text is the whole row: a column named ``r`` (the row's alias in the
    reader's SQL) used to stand for it."""
    header = ["id", "created_at", "prompt_tokens", "completion_tokens", "r", "c"]
    text = _line(header) + _line(["r0", "not a time", "1", "1", "x", "y"])
    path = kit.tmp_path / "alias.csv"
    path.write_text(text, "utf-8")
    fr = _ingest(kit, path)
    assert (fr.loaded, fr.rejected) == (0, 1)
    assert json.loads(kit.rejects(path)[2]["raw"]) == dict(
        zip(header, ["r0", "not a time", "1", "1", "x", "y"], strict=True)
    )


def test_a_dotted_name_in_a_csv_map_names_the_columns(kit: EnvelopeKit) -> None:
    """CSV cells are text: ``usage.prompt`` is a column's whole name, never a path (every
    count column absent fails the file; the hint says why)."""
    path = kit.tmp_path / "dotted.csv"
    path.write_text(_line(HEADER) + _line(_row(0)), "utf-8")
    counts = {"input_tokens": "prompt_tokens.total", "output_tokens": "completion_tokens.total"}
    fmap = {**FMAP, "fields": {**FMAP["fields"], **counts}}
    fr = _ingest(kit, path, fmap)
    assert fr.error is not None and fr.loaded == 0
    assert "'prompt_tokens.total'" in fr.error and "a dotted name is a column's whole name" in (
        fr.error
    )


# --- a compressed file named without its inner extension: the content decides -------

JSON_ROWS = [
    {
        "id": f"r{i}",
        "created_at": f"2026-10-01T10:00:0{i}Z",
        "prompt_tokens": 100 + i,
        "completion_tokens": 10 + i,
    }
    for i in range(3)
]


def _zstd(con: duckdb.DuckDBPyConnection, text: str, target: Path) -> None:
    """``text`` zstd-compressed, line by line as written (DuckDB writes it; the standard
    library has no zstd)."""
    plain = target.with_name(target.name + ".txt")
    plain.write_text(text, "utf-8")
    con.execute(
        f"""COPY (SELECT line FROM read_csv('{plain}', columns = {{'line': 'VARCHAR'}},
                  delim = '\x1f', quote = '', escape = '', header = false, auto_detect = false))
            TO '{target}' (FORMAT csv, HEADER false, QUOTE '', ESCAPE '',
                           DELIMITER '\x1f', COMPRESSION zstd)"""
    )
    plain.unlink()


CONTENTS = {
    "json lines": "\n\n" + "".join(json.dumps(r) + "\n" for r in JSON_ROWS),  # blank first
    "json array": json.dumps(JSON_ROWS, indent=2) + "\n",
    "csv": _line(HEADER) + "".join(_line(_row(i)) for i in range(3)),
}


@pytest.mark.parametrize("kind", sorted(CONTENTS))
@pytest.mark.parametrize("comp", ["zst", "gz"])
def test_a_compressed_file_without_an_inner_extension(
    kit: EnvelopeKit, kind: str, comp: str
) -> None:
    import gzip

    path = kit.tmp_path / f"log.{comp}"
    text = CONTENTS[kind]
    if comp == "gz":
        path.write_bytes(gzip.compress(text.encode("utf-8")))
    else:
        _zstd(duckdb.connect(), text, path)
    fr = _ingest(kit, path)
    assert fr.error is None
    assert (fr.records_read, fr.loaded, fr.rejected) == (3, 3, 0)
    got = {r["request_id"]: (r["input_tokens"], r["output_tokens"]) for r in kit.rows(path)}
    assert got == {f"r{i}": (100 + i, 10 + i) for i in range(3)}


def test_standard_input_zstd_json_lines_and_tab_separated(tmp_path: Path) -> None:
    """Standard input has no name to go by: a zstd stream of JSON Lines, and a
    tab-separated text with a ragged row, each read by what it holds."""
    fields = tmp_path / "fields.yaml"
    fields.write_text(yaml.safe_dump(FMAP), "utf-8")
    packed = tmp_path / "in.zst"
    _zstd(duckdb.connect(), CONTENTS["json lines"], packed)
    tsv = _line(HEADER, "\t") + _line(_row(0), "\t") + _line(_row(1)[:2], "\t")
    runner = CliRunner()
    got = []
    for data in (packed.read_bytes(), tsv.encode("utf-8")):
        db = tmp_path / f"s{len(got)}.duckdb"
        result = runner.invoke(
            app, ["ingest", "-", "--map", str(fields), "--db", str(db), "-o", "json"], input=data
        )
        [f] = json.loads(result.stdout)["files"]
        got.append((f["format"], f["read"], f["loaded"], f["duplicates"], f["rejected"]))
    assert got == [("mapped", 3, 3, 0, 0), ("mapped", 2, 1, 0, 1)]


def test_a_zstd_stream_with_mixed_line_ends_is_probed_without_harm(kit: EnvelopeKit) -> None:
    """The first line of a zstd stream without an inner extension is read to tell CSV from
    JSON. A stream DuckDB's strict CSV reader refused (a CRLF after LF lines) failed that
    probe and left the file's transaction aborted: the file failed with "Current
    transaction is aborted". The probe now reads as the staging does, on its own cursor."""
    lines = [_line(HEADER), _line(_row(0, "a,b\nc")), _line(_row(1)), _line(_row(2))]
    text = "".join(lines)[:-1] + "\r"  # the last line ends in CRLF once COPY adds its LF
    path = kit.tmp_path / "mixed.zst"
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT unnest(?::VARCHAR[]) AS line", [text.split("\n")])
    con.execute(
        f"""COPY t TO '{path}' (FORMAT csv, HEADER false, QUOTE '', ESCAPE '',
                               DELIMITER '\x1f', COMPRESSION zstd)"""
    )
    fr = _ingest(kit, path)
    assert fr.error is None
    assert (fr.records_read, fr.loaded, fr.rejected) == (3, 3, 0)
    got = {r["request_id"]: r["input_tokens"] for r in kit.rows(path)}
    assert got == {f"r{i}": 100 + i for i in range(3)}
