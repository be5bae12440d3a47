"""litellm-spendlogs CSV: a ragged row is one reject, in a small file as in a large one.

DuckDB's CSV sniffer used to guess the dialect of each export. On a small file one ragged
row is a large share of what it samples, and it guessed wrong: another delimiter and no
header (every row a reject), or the single quote as the quote character (values lose
their quotes). A row cut inside its quotes made every row a reject at any size. The
expectations here are written from the rows themselves: which rows are well-formed, the
line each starts on, its counts.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from gateway_helpers import GatewayKit

COLUMNS = [
    "request_id",
    "call_type",
    "spend",
    "prompt_tokens",
    "completion_tokens",
    "startTime",
    "model",
    "user",
    "metadata",
]


def _row(i: int, user: str = "alice") -> list[str]:
    """Spend-log row ``i``: prompt 100 + i tokens (i of them cached), completion 10 + i."""
    meta = {
        "user_api_key_team_alias": "search",
        "usage_object": {
            "prompt_tokens": 100 + i,
            "completion_tokens": 10 + i,
            "prompt_tokens_details": {"cached_tokens": i},
        },
    }
    return [
        f"req-{i}",
        "acompletion",
        "0.001",
        str(100 + i),
        str(10 + i),
        f"2026-10-14 09:{i // 60:02d}:{i % 60:02d}",
        "gpt-4o",
        user,
        json.dumps(meta),
    ]


def _line(fields: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(fields)
    return out.getvalue()


def _export(lines: list[str]) -> str:
    return _line(COLUMNS) + "".join(lines)


# (the ragged line's text, its reason): each replaces one row of a well-formed export
RAGGED = {
    "one field too many": (
        _line([*_row(1), "x"]),
        "malformed CSV row: 10 fields where the header has 9",
    ),
    "three fields too few": (
        _line(_row(1)[:6]),
        "malformed CSV row: 6 fields where the header has 9",
    ),
    "a lone empty field": ('""\n', "malformed CSV row: 1 field where the header has 9"),
}


def _check(gw: GatewayKit, path: Path, good: dict[int, int], bad: dict[int, str]) -> None:
    """``good``: row number -> the line it starts on; ``bad``: line -> reason."""
    got = gw.one(path, fmt="litellm-spendlogs")
    assert (got.records_read, got.loaded, got.rejected) == (len(good) + len(bad), len(good), 1)
    assert {n: r["reason"] for n, r in gw.rejects(path).items()} == bad
    rows = gw.by_key(path)
    assert sorted(rows) == sorted(f"litellm:req-{i}" for i in good)
    for i, line in good.items():
        row = rows[f"litellm:req-{i}"]
        assert row["source_line"] == line
        assert (row["input_tokens"], row["cache_read_tokens"], row["output_tokens"]) == (
            100,  # 100 + i prompt tokens, i of them cached
            i,
            10 + i,
        )


@pytest.mark.parametrize("padding", [0, 300], ids=["small", "large"])
@pytest.mark.parametrize("case", sorted(RAGGED))
def test_a_ragged_row_is_one_reject_whatever_the_file_size(
    gw: GatewayKit, case: str, padding: int
) -> None:
    ragged, reason = RAGGED[case]
    rows = [0, 2, *range(3, 3 + padding)]
    text = _export([_line(_row(0)), ragged, *(_line(_row(i)) for i in rows[1:])])
    path = gw.write(f"{case.replace(' ', '_')}-{padding}.csv", text)
    # the header is line 1, row 0 line 2, the ragged row line 3, then one line each
    good = {0: 2, **{i: 4 + n for n, i in enumerate(rows[1:])}}
    _check(gw, path, good, {3: reason})
    assert text.splitlines()[2] == ragged.rstrip("\n")


@pytest.mark.parametrize("padding", [0, 300], ids=["small", "large"])
def test_an_export_cut_inside_a_quoted_field_keeps_its_other_rows(
    gw: GatewayKit, padding: int
) -> None:
    """The last row cut short inside its quoted metadata, as a truncated download."""
    last = _line(_row(2))
    cut = last[: last.index('""usage_object""')]  # inside the quotes of the metadata field
    assert cut.endswith(',"{""user_api_key_team_alias"": ""search"", ')
    text = _export([_line(_row(i)) for i in [0, 1, *range(3, 3 + padding)]] + [cut])
    path = gw.write(f"cut-{padding}.csv", text)
    good = {0: 2, 1: 3, **{i: 4 + n for n, i in enumerate(range(3, 3 + padding))}}
    _check(gw, path, good, {4 + padding: "malformed CSV row: Value with unterminated quote found."})


def test_single_quotes_in_values_stay_as_written(gw: GatewayKit) -> None:
    """Only the double quote quotes a field. With no double quote in a small file, the
    sniffer took the single quote for the quote character and stripped it from values."""
    columns = COLUMNS[:8]  # no metadata column: nothing in the file is double-quoted
    rows = [_row(0, user="a;b")[:8], [*_row(1)[:8], "x"], _row(2, user="'svc'")[:8]]
    path = gw.write("quotes.csv", _line(columns) + "".join(_line(r) for r in rows))
    assert '"' not in path.read_text()
    got = gw.one(path, fmt="litellm-spendlogs")
    assert (got.loaded, got.rejected) == (2, 1)
    users = {k: (r["user_id"], r["input_tokens"]) for k, r in gw.by_key(path).items()}
    assert users == {"litellm:req-0": ("a;b", 100), "litellm:req-2": ("'svc'", 102)}
    assert {n: r["reason"] for n, r in gw.rejects(path).items()} == {
        3: "malformed CSV row: 9 fields where the header has 8"
    }


def test_blank_lines_before_the_header_count_in_line_numbers(gw: GatewayKit) -> None:
    lines = [_line(_row(0)), _line([*_row(1), "x"]), _line(_row(2))]
    path = gw.write("blank_first.csv", "\n\n" + _export(lines))
    # the header is line 3: rows 0 and 2 on lines 4 and 6, the ragged row 1 on line 5
    _check(gw, path, {0: 4, 2: 6}, {5: "malformed CSV row: 10 fields where the header has 9"})
