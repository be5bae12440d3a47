"""litellm-spendlogs CSV: line endings, blank lines, empty fields after the last column.

A row must read as it would in a file of uniform LF endings, and every request and reject
must carry the physical line its record starts on (1-based, blank lines counted, a quoted
field over several lines counted in full). The expectations are noted while each file is
written (the line a record is written on), or read by Python's csv module: never by the
code under test.

Defects these pin: DuckDB's CSV reader failed a whole file whose rows mixed LF and CRLF;
it skipped blank lines between rows without counting them, so every later line number
was short; and it dropped empty fields after the last column without a word.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from gateway_helpers import GatewayKit

# ``user`` last: a CR left at the end of a row's last field would show in ``user_id``.
COLUMNS = [
    "request_id",
    "call_type",
    "prompt_tokens",
    "completion_tokens",
    "startTime",
    "model",
    "metadata",
    "user",
]
N = len(COLUMNS)


def _fields(i: int, user: str = "alice", indent: int | None = None, file: str = "") -> list[str]:
    """Spend-log row ``i`` (request id ``{file}req-{i}``): 100 + i prompt tokens, i of them
    cached, 10 + i completion. With ``indent`` the metadata is pretty-printed: a quoted
    field over several lines."""
    meta = {
        "user_api_key_team_alias": "search",
        "usage_object": {
            "prompt_tokens": 100 + i,
            "completion_tokens": 10 + i,
            "prompt_tokens_details": {"cached_tokens": i},
        },
    }
    return [
        f"{file}req-{i}",
        "acompletion",
        str(100 + i),
        str(10 + i),
        f"2026-10-14 09:00:{i:02d}",
        "gpt-4o",
        json.dumps(meta, indent=indent),
        user,
    ]


def _record(fields: list[str], end: str = "\n", inner: str | None = None) -> str:
    """One CSV record ending in ``end``; each line break inside a quoted field (LF or
    CRLF in the value) is ``inner``, the record's own ending unless given."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(fields)  # quotes fields holding CR or LF
    text = out.getvalue().removesuffix("\r\n").replace("\r\n", "\n")
    return text.replace("\n", inner or end) + end


class _Export:
    """A CSV file written piece by piece, noting the line each record starts on."""

    def __init__(self) -> None:
        self.text = ""

    def add(self, piece: str) -> int:
        """Append ``piece``; return the 1-based line it starts on."""
        line = self.text.count("\n") + 1
        self.text += piece
        return line


def _loaded(gw: GatewayKit, path: Path) -> dict[str, tuple[object, ...]]:
    """request key -> (line, user, token classes, team) of each loaded row."""
    return {
        key: (
            r["source_line"],
            r["user_id"],
            (r["input_tokens"], r["cache_read_tokens"], r["output_tokens"]),
            r["team"],
        )
        for key, r in gw.by_key(path).items()
    }


def _expected(
    i: int, line: int, user: str | None, file: str = ""
) -> tuple[str, tuple[object, ...]]:
    """A loaded row as ``_loaded`` gives it: row ``i`` of ``_fields`` from ``line``."""
    return f"litellm:{file}req-{i}", (line, user, (100, i, 10 + i), "search")


# (header ending, ending of row i): each mixes LF and CRLF in its own way
MIXES: dict[str, tuple[str, Callable[[int], str]]] = {
    "crlf rows after an lf header": ("\n", lambda i: "\r\n"),
    "lf rows after a crlf header": ("\r\n", lambda i: "\n"),
    "alternating": ("\r\n", lambda i: "\n" if i % 2 else "\r\n"),
}


@pytest.mark.parametrize("mix", sorted(MIXES))
def test_mixed_line_endings_read_as_uniform_ones(gw: GatewayKit, mix: str) -> None:
    """Rows ending in LF and rows ending in CRLF in one file, line breaks inside quoted
    fields of the other kind: every row reads as it does in the all-LF file."""
    header_end, end = MIXES[mix]
    users = {0: "alice", 1: "smith, j", 2: 'say "hi"', 3: "line one\nline two", 4: "bob"}

    def export(uniform: bool) -> tuple[Path, dict[int, int]]:
        """The file, and the line each row starts on. The uniform file's ids start with
        "lf-" (in the same store, the same ids would be duplicates)."""
        out, lines, file = _Export(), {}, "lf-" if uniform else ""
        out.add(_record(COLUMNS, "\n" if uniform else header_end))
        for i, user in users.items():
            e = "\n" if uniform else end(i)
            inner = "\n" if uniform else ("\n" if e == "\r\n" else "\r\n")
            fields = _fields(i, user, indent=1 if i == 2 else None, file=file)
            lines[i] = out.add(_record(fields, e, inner))
        name = "uniform.csv" if uniform else f"{mix.replace(' ', '_')}.csv"
        return gw.write(name, out.text), lines

    mixed, lines = export(uniform=False)
    assert b"\r\n" in mixed.read_bytes() and b"\n\n" not in mixed.read_bytes().replace(b"\r", b"")
    got = gw.one(mixed, fmt="litellm-spendlogs")
    assert (got.records_read, got.loaded, got.duplicates, got.rejected) == (5, 5, 0, 0)
    assert gw.rejects(mixed) == {}
    # line 1 the header; row 2's metadata spans 10 lines, "line one | line two" 2
    assert lines == {0: 2, 1: 3, 2: 4, 3: 14, 4: 16}
    want = dict(_expected(i, lines[i], user) for i, user in users.items())
    assert _loaded(gw, mixed) == want
    uniform, uniform_lines = export(uniform=True)
    assert uniform_lines == lines
    assert gw.one(uniform, fmt="litellm-spendlogs").loaded == 5
    assert {k.replace(":lf-", ":"): v for k, v in _loaded(gw, uniform).items()} == want


@pytest.mark.parametrize("ending", ["\n", "\r\n", "mixed"])
def test_blank_lines_anywhere_keep_line_numbers_exact(gw: GatewayKit, ending: str) -> None:
    """Blank lines before the header, between rows, inside a quoted field and at the end;
    ragged rows among them; rows whose quoted fields span lines."""

    def end(k: int) -> str:
        return ("\n" if k % 2 else "\r\n") if ending == "mixed" else ending

    out = _Export()
    out.add(end(0) + "   " + end(1))  # an empty and a whitespace-only line
    assert out.add(_record(COLUMNS, end(2))) == 3
    lines: dict[int, int] = {}
    bad: dict[int, str] = {}
    lines[0] = out.add(_record(_fields(0), end(0)))
    out.add(end(1))
    # a blank line inside the quoted user is part of the value, not a blank line
    lines[1] = out.add(_record(_fields(1, user="first\n\nlast"), end(1), inner=end(0)))
    out.add(end(0) + end(1))
    bad[out.add(_record([*_fields(2), "x"], end(0)))] = f"{N + 1} fields"
    out.add(end(1))
    lines[3] = out.add(_record(_fields(3, indent=2), end(1)))
    out.add(end(0))
    bad[out.add(_record(_fields(4)[:5], end(0)))] = "5 fields"
    lines[5] = out.add(_record(_fields(5), end(1)))
    out.add(end(0) + "  " + end(1) + end(0))
    path = gw.write(f"blank_lines_{len(ending)}.csv", out.text)

    # lines 1-2 blank, the header 3, row 0 4, row 1 6-8 (its user's blank line is 7),
    # ragged 11, row 3 13-22 (pretty-printed metadata), ragged 24, row 5 25, blank after
    assert lines == {0: 4, 1: 6, 3: 13, 5: 25} and sorted(bad) == [11, 24]
    got = gw.one(path, fmt="litellm-spendlogs")
    assert (got.records_read, got.loaded, got.duplicates, got.rejected) == (6, 4, 0, 2)
    rejects = gw.rejects(path)
    assert {n: r["reason"] for n, r in rejects.items()} == {
        n: f"malformed CSV row: {what} where the header has {N}" for n, what in bad.items()
    }
    assert rejects[11]["raw"].startswith("req-2,acompletion,102,12,")
    assert rejects[24]["raw"] == "req-4,acompletion,104,14,2026-10-14 09:00:04"
    users = {0: "alice", 1: "first\n\nlast", 3: "alice", 5: "alice"}
    assert _loaded(gw, path) == dict(_expected(i, lines[i], users[i]) for i in lines)


def test_extra_empty_fields_are_a_reject(gw: GatewayKit) -> None:
    """``…,alice,`` and ``…,alice,,`` hold more fields than the header: rejects, never
    silently cut back to the header's columns. An empty last field within the header's
    count is a value like any other (an empty user)."""
    out = _Export()
    out.add(_record(COLUMNS))
    line0 = out.add(_record(_fields(0)))
    one_more = out.add(_record(_fields(1)).replace("\n", ",\n"))
    two_more = out.add(_record(_fields(2)).replace("\n", ",,\n"))
    line3 = out.add(_record(_fields(3, user="")))
    assert out.text.splitlines()[one_more - 1].endswith('}",alice,')
    assert out.text.splitlines()[two_more - 1].endswith('}",alice,,')
    assert out.text.splitlines()[line3 - 1].endswith('}",')
    path = gw.write("trailing_commas.csv", out.text)
    got = gw.one(path, fmt="litellm-spendlogs")
    assert (got.records_read, got.loaded, got.duplicates, got.rejected) == (4, 2, 0, 2)
    assert {n: r["reason"] for n, r in gw.rejects(path).items()} == {
        3: f"malformed CSV row: {N + 1} fields where the header has {N}",
        4: f"malformed CSV row: {N + 2} fields where the header has {N}",
    }
    assert _loaded(gw, path) == dict([_expected(0, line0, "alice"), _expected(3, line3, None)])


def test_a_trailing_comma_on_every_line_is_an_unnamed_column(gw: GatewayKit) -> None:
    """A spreadsheet that ends every line, the header's too, with a comma: the header has
    one more (unnamed) column and every row fits it."""
    text = "".join(_record(f).replace("\n", ",\n") for f in [COLUMNS, _fields(0), _fields(1)])
    path = gw.write("trailing_comma_everywhere.csv", text)
    got = gw.one(path, fmt="litellm-spendlogs")
    assert (got.records_read, got.loaded, got.duplicates, got.rejected) == (2, 2, 0, 0)
    assert _loaded(gw, path) == dict([_expected(0, 2, "alice"), _expected(1, 3, "alice")])


def test_a_quote_inside_an_unquoted_value_is_text(gw: GatewayKit) -> None:
    """Only a quote that opens a field quotes it: ``5'11"`` and ``a"b,c`` (two fields)
    stay as written, and the quote opens nothing for the lines after."""
    out = _Export()
    out.add(_record(COLUMNS))
    line0 = out.add(_record(_fields(0)).replace(",alice\n", ",5'11\"\n"))
    line1 = out.add(_record(_fields(1)))
    line2 = out.add(_record(_fields(2)).replace(",alice\n", ',a"b,c\n'))
    line3 = out.add(_record(_fields(3)))
    assert out.text.splitlines()[line0 - 1].endswith(",5'11\"")
    path = gw.write("stray_quotes.csv", out.text)
    got = gw.one(path, fmt="litellm-spendlogs")
    assert (got.records_read, got.loaded, got.duplicates, got.rejected) == (4, 3, 0, 1)
    assert {n: r["reason"] for n, r in gw.rejects(path).items()} == {
        line2: f"malformed CSV row: {N + 1} fields where the header has {N}"
    }
    assert _loaded(gw, path) == dict(
        [_expected(0, line0, "5'11\""), _expected(1, line1, "alice"), _expected(3, line3, "alice")]
    )


def test_a_row_cut_inside_its_quotes_takes_the_lines_up_to_the_next_quote(
    gw: GatewayKit,
) -> None:
    """Cut inside its quoted metadata, mid-file: its quote closes at the next ``"`` (the
    next row's metadata), which text follows, so the two lines are one reject and the
    rows after load on their own lines."""
    out = _Export()
    out.add(_record(COLUMNS))
    line0 = out.add(_record(_fields(0)))
    full = _record(_fields(1))
    cut = out.add(full[: full.index('""usage_object""')] + "\n")
    out.add(_record(_fields(2)))
    line3 = out.add(_record(_fields(3)))
    path = gw.write("cut_mid_file.csv", out.text)
    got = gw.one(path, fmt="litellm-spendlogs")
    assert (got.records_read, got.loaded, got.duplicates, got.rejected) == (3, 2, 0, 1)
    [(line, reject)] = gw.rejects(path).items()
    assert (line, reject["reason"]) == (
        cut,
        "malformed CSV row: text after the closing quote of a field",
    )
    assert reject["raw"] == "\n".join(out.text.splitlines()[cut - 1 : cut + 1])
    assert _loaded(gw, path) == dict([_expected(0, line0, "alice"), _expected(3, line3, "alice")])


_PIECES = ["a", "b", "Z", " ", ",", '"', "'", "\n", "é", "{", ";"]


def _random_export(rng: random.Random, n: int, file: str) -> str:
    """Rows of random users (commas, quotes, line breaks), some ragged (one
    or two fields short or over, extra ones possibly empty), LF and CRLF endings mixed,
    blank and whitespace-only lines scattered; rows 0..n-1 by request id."""
    parts = [rng.choice(["", "\n", "\r\n  \n"]), _record(COLUMNS, rng.choice(["\n", "\r\n"]))]
    for i in range(n):
        user = "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 8)))
        fields = _fields(i, user, indent=rng.choice([None, None, 1]), file=file)
        shape = rng.random()
        if shape < 0.15:
            fields = fields[: -rng.randint(1, 2)]
        elif shape < 0.3:
            fields = fields + rng.choice([[""], ["", ""], ["x"], ["", "y"]])
        end = rng.choice(["\n", "\r\n"])
        parts.append(_record(fields, end, inner=rng.choice(["\n", "\r\n"])))
        parts.append(rng.choice(["", "", "", "\n", "\r\n", " \n", "\n\r\n"]))
    return "".join(parts)


def _read_with_python_csv(text: str) -> list[tuple[int, list[str]]]:
    """(line the record starts on, fields) of each record after the header, by Python's
    csv module; a blank or whitespace-only line is no record."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records, before = [], 0
    for row in reader:
        start, before = before + 1, reader.line_num
        if row and not (len(row) == 1 and not row[0].strip()):
            records.append((start, row))
    return records[1:]


def test_random_exports_read_as_pythons_csv_reads_them(gw: GatewayKit) -> None:
    rng = random.Random(20261014)
    for k in range(12):
        text = _random_export(rng, 10, f"f{k}-")
        path = gw.write(f"random_{k}.csv", text)
        want_rows: dict[str, tuple[object, ...]] = {}
        want_rejects: dict[int, str] = {}
        for line, row in _read_with_python_csv(text):
            if len(row) == N:
                user = row[-1].replace("\r\n", "\n").strip(" ") or None  # as ta_str trims
                i = int(row[0].removeprefix(f"f{k}-req-"))
                key, value = _expected(i, line, user, f"f{k}-")
                want_rows[key] = value
            else:
                fields = f"{len(row)} field" + ("" if len(row) == 1 else "s")
                want_rejects[line] = f"malformed CSV row: {fields} where the header has {N}"
        assert want_rows and want_rejects, "each file should hold rows and rejects"
        got = gw.one(path, fmt="litellm-spendlogs")
        assert (got.records_read, got.loaded, got.duplicates, got.rejected) == (
            len(want_rows) + len(want_rejects),
            len(want_rows),
            0,
            len(want_rejects),
        ), text
        assert {n: r["reason"] for n, r in gw.rejects(path).items()} == want_rejects, text
        assert _loaded(gw, path) == want_rows, text
