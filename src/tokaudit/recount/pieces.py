"""Count texts as the sum of their pieces, each distinct piece tokenized once.

tiktoken's GPT encodings cut a text into pre-tokens with a regular expression before
byte-pair encoding it, and no token spans two pre-tokens. In o200k_base and cl100k_base a
space (U+0020) is inside a pre-token only at its start or within a run of whitespace, so a
space that follows a printable ASCII character always starts one. Cutting a text before
each such space therefore cuts no token: its count is the sum of its pieces' counts
(``Tokenizer.splits_at_spaces`` says which tokenizers promise this). Prose repeats its
words, so a store's texts hold far fewer distinct pieces than pieces (the benchmark's
4,000 unique texts: 2.8 million pieces, 11,500 distinct), and tokenizing those few is
cheap. The cutting, the deduplication and the sums run in DuckDB, on every thread.

Only safe cuts are made. Each space that must not cut is first marked with U+0001: the
second of two spaces (so no two spaces are left side by side), then every space after a
character outside ``!``..``~``, a mark included. ``string_split`` then cuts at the spaces
left, and each piece gets its marks back as spaces. A text that holds U+0001 itself is
counted whole, as are units that are not one plain text (``SPLIT_KINDS``).
"""

from __future__ import annotations

from collections.abc import Iterator

import duckdb

from tokaudit.recount.pool import (
    FAILED,
    POOL_MIN_CHARS,
    Counter,
    Groups,
    UnitRow,
    count_texts,
    count_units,
)
from tokaudit.recount.sizes import SIZE_ENCODING, SIZE_TOKENIZER, any_unsized, size_from_pieces
from tokaudit.store.connection import temp_table
from tokaudit.store.parallel import any_order, over_row_ranges

__all__ = ["PIECE_RESULTS", "SPLIT_UNIT", "count_by_pieces", "piece_groups", "split_sql"]

# Units whose payload is one text counted on its own, with fixed tokens and other texts
# around it (render.py: ``raw`` is [payload]; ``plain`` is [role, payload] or [payload]).
SPLIT_KINDS = ("plain", "raw")
# Whether a row of ``_units`` (rn, gid, sid, kind, ctx, payload) is counted by its pieces.
SPLIT_UNIT = (
    f"(sid IS NOT NULL AND kind IN {SPLIT_KINDS} AND payload IS NOT NULL "
    "AND NOT contains(payload, chr(1)))"
)
BATCH = 20_000  # distinct pieces fetched at a time
PIECE_RESULTS = "_piece_res"  # what count_by_pieces leaves: (rn, tokens, exact, fell)
# each unit shape's count without its payload, and whether the fallback made it
_SHAPE_COLUMNS = {
    "gid": "INTEGER",
    "kind": "VARCHAR",
    "ctx": "VARCHAR",
    "tokens": "BIGINT",
    "exact": "BOOLEAN",
    "fell": "BOOLEAN",
}
# a unit of ``_units u`` and its shape in ``_shapes r`` (a missing context matches too)
_SAME_SHAPE = (
    "r.gid = u.gid AND r.kind IS NOT DISTINCT FROM u.kind AND r.ctx IS NOT DISTINCT FROM u.ctx"
)
# A piece's number: DuckDB's 64-bit hash of its group, place and text. Two different
# pieces share one about once in 10^19 pairs (a store of a million distinct pieces: once
# in 30 million recounts); unit keys take the same risk (units.py).
PIECE_KEY = "hash(sid, first, piece)"


def split_sql(text: str) -> str:
    """SQL: the list of pieces of ``text``, cut only where a cut changes no count.

    Pieces after the first stand for a space followed by the piece; marked spaces are
    still U+0001 in them (see the module docstring).
    """
    marked = (
        f"regexp_replace(replace({text}, '  ', ' ' || chr(1)), '([^!-~]) ', '\\1' || chr(1), 'g')"
    )
    return f"string_split({marked}, ' ')"


def piece_text(first: bool, piece: str) -> str:
    """The text a piece stands for: its marks back as spaces, after its cut space."""
    return ("" if first else " ") + piece.replace("\x01", " ")


def piece_groups(counter: Counter, groups: Groups) -> dict[int, int]:
    """For each group (``gid``) whose tokenizer splits at spaces, a number (``sid``) shared
    by the groups of one tokenizer and encoding: their pieces count the same."""
    sids: dict[tuple[str, str], int] = {}
    out: dict[int, int] = {}
    for gid, (name, model, _provider, _profile) in groups.items():
        tokenizer = counter.tokenizers.get(name)
        try:
            if tokenizer is None or not tokenizer.splits_at_spaces(model):
                continue
            encoding = tokenizer.encoding_for(model)
        except Exception:  # a plugin failing here counts its texts whole
            continue
        out[gid] = sids.setdefault((name, encoding), len(sids))
    return out


def count_by_pieces(
    con: duckdb.DuckDBPyConnection,
    counter: Counter,
    groups: Groups,
    sids: dict[int, int],
    fell_back: set[int] | None = None,
) -> None:
    """Count every ``SPLIT_UNIT`` row of the table ``_units`` into the temp table
    ``PIECE_RESULTS`` (rn, tokens, exact, fell). ``sids`` is ``piece_groups``' answer, the one
    ``_units`` was built with.

    ``tokens`` is the unit's count as ``count_units`` would give it: the fixed tokens and
    other texts of the unit rendered with an empty payload, plus the sum of the payload's
    pieces, or ``FAILED`` when neither the tokenizer nor the counter's fallback could count
    one of them. A unit with a piece or text the fallback counted is an estimate (exact
    False, ``fell`` true) and its ``rn`` goes to ``fell_back``. The results stay in
    DuckDB: a store's new units may be many millions, and a round trip through Python
    costs more than the sums.
    """
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {PIECE_RESULTS} "
        "(rn BIGINT, tokens BIGINT, exact BOOLEAN, fell BOOLEAN)"
    )
    with any_order(con):
        # Each piece also carries a number for what it is (``PIECE_KEY``), so the sums
        # below join on integers, not on the piece text (a third of that step's time).
        pieces = f"""SELECT rn, {PIECE_KEY} AS pk, sid, first, piece FROM (
                SELECT rn, sid, generate_subscripts(p, 1) = 1 AS first, unnest(p) AS piece
                FROM (SELECT rn, sid, {split_sql("payload")} AS p
                      FROM _units WHERE {SPLIT_UNIT}))"""
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _pieces AS "
            + over_row_ranges(con, pieces, "_units", "FROM _units WHERE")
        )
        con.execute(
            """CREATE OR REPLACE TEMP TABLE _distinct_pieces AS
            SELECT row_number() OVER () AS id, * FROM (
                SELECT pk, any_value(sid) AS sid, any_value(first) AS first,
                    any_value(piece) AS piece
                FROM _pieces GROUP BY pk)"""
        )
    row = con.execute("SELECT count(*), sum(length(piece)) FROM _distinct_pieces").fetchone()
    distinct, chars = (int(row[0]), int(row[1] or 0)) if row else (0, 0)
    if not distinct:  # no unit to split
        con.execute("DROP TABLE _pieces")
        con.execute("DROP TABLE _distinct_pieces")
        return
    # one group per sid stands for its tokenizer and model when the pieces are counted
    rep: dict[int, int] = {}
    for gid, sid in sids.items():
        rep.setdefault(sid, gid)
    counts = [FAILED] * distinct
    estimated: set[int] = set()  # ids of the pieces the fallback counted
    if chars < POOL_MIN_CHARS:  # the usual case: a few thousand words, counted right here
        rows = con.execute("SELECT id, sid, first, piece FROM _distinct_pieces").fetchall()
        _count_few(counter, groups, rep, rows, counts, estimated)
    else:
        cursor = con.execute("SELECT id, sid, first, piece FROM _distinct_pieces")

        def batches() -> Iterator[list[UnitRow]]:
            while rows := cursor.fetchmany(BATCH):
                yield [(i, rep[s], "raw", "", piece_text(f, p)) for i, s, f, p in rows]

        for i, tokens, _ in counter.run(batches(), groups, chars, estimated):
            counts[i - 1] = tokens
    # each distinct piece with its count (and, on the failure path only, whether the
    # fallback counted it), so the sums below take one join
    fell, fell_join = "", ""
    if estimated:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _fell_pieces AS SELECT unnest(?::BIGINT[]) AS id",
            [sorted(estimated)],
        )
        fell, fell_join = ", x.id IS NOT NULL AS fell", "LEFT JOIN _fell_pieces x ON x.id = d.id"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _piece_counts AS
        SELECT d.pk, c.tokens{fell} FROM _distinct_pieces d JOIN (
            SELECT unnest(range(1, len(t) + 1)) AS id, unnest(t) AS tokens FROM (
                SELECT list_transform(string_split(?, ','), lambda x: CAST(x AS BIGINT)) AS t)
        ) c USING (id) {fell_join}""",
        [",".join(map(str, counts))],
    )
    con.execute("DROP TABLE IF EXISTS _fell_pieces")
    # the rest of each unit (role, framing) is the unit rendered with an empty payload
    shapes = con.execute(
        f"SELECT DISTINCT gid, kind, ctx FROM _units WHERE {SPLIT_UNIT}"
    ).fetchall()
    rest_estimated: set[int] = set()  # shapes (by index) with a text the fallback counted
    rest_counts = count_units(
        [(i, gid, kind, ctx, "") for i, (gid, kind, ctx) in enumerate(shapes)],
        groups,
        counter.tokenizers,
        counter.profiles,
        counter.errors,
        counter.fallback,
        rest_estimated,
    )
    with any_order(con):
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _piece_sums AS
            SELECT p.rn, CASE WHEN bool_or(c.tokens = {FAILED}) THEN {FAILED}
                              ELSE sum(c.tokens) END AS tokens
                {", bool_or(c.fell) AS fell" if estimated else ""}
            FROM _pieces p JOIN _piece_counts c USING (pk)
            GROUP BY p.rn"""
        )
    _size_prompts(con, counter, groups, sids, bool(estimated))
    # each unit: the rest of its shape plus its pieces; an estimate if either fell back
    temp_table(
        con,
        "_shapes",
        _SHAPE_COLUMNS,
        [
            (gid, kind, ctx, tokens, exact, i in rest_estimated)
            for i, ((gid, kind, ctx), (_, tokens, exact)) in enumerate(
                zip(shapes, rest_counts, strict=True)
            )
        ],
    )
    fell_sql = "s.fell OR r.fell" if estimated else "r.fell"
    with any_order(con):
        con.execute(
            f"""INSERT INTO {PIECE_RESULTS}
            SELECT rn, CASE WHEN failed THEN {FAILED} ELSE tokens END,
                CASE WHEN failed THEN exact WHEN fell THEN false ELSE exact END,
                fell AND NOT failed
            FROM (SELECT u.rn, r.tokens + s.tokens AS tokens, r.exact, {fell_sql} AS fell,
                      {FAILED} IN (r.tokens, s.tokens) AS failed
                  FROM _units u JOIN _piece_sums s USING (rn) JOIN _shapes r ON {_SAME_SHAPE})"""
        )
    if fell_back is not None and (estimated or rest_estimated):  # the failure path
        fell_back.update(
            rn for (rn,) in con.execute(f"SELECT rn FROM {PIECE_RESULTS} WHERE fell").fetchall()
        )
    for table in ("_pieces", "_distinct_pieces", "_piece_counts", "_piece_sums", "_shapes"):
        con.execute(f"DROP TABLE {table}")


def _count_few(
    counter: Counter,
    groups: Groups,
    rep: dict[int, int],
    rows: list[tuple[int, int, bool, str]],
    counts: list[int],
    estimated: set[int],
) -> None:
    """Count the distinct pieces ``rows`` (id, sid, first, piece) into ``counts`` with one
    tokenizer call per piece group, skipping the per-unit rendering ``Counter.run`` does
    (a piece is plain text). A group whose call fails is counted by ``Counter.run`` after
    all, which falls back, reports and marks estimates as for any unit."""
    texts: dict[int, list[tuple[int, str]]] = {}
    for i, sid, first, piece in rows:
        texts.setdefault(sid, []).append((i, piece_text(first, piece)))
    for sid, items in texts.items():
        name, model = groups[rep[sid]][:2]
        got, reason = count_texts(counter.tokenizers[name], [t for _, t in items], model)
        if reason is None:
            for (i, _), tokens in zip(items, got, strict=True):
                counts[i - 1] = tokens
            continue
        batch = [(i, rep[sid], "raw", "", text) for i, text in items]
        size = sum(len(text) for _, text in items)
        for i, tokens, _ in counter.run(iter([batch]), groups, size, estimated):
            counts[i - 1] = tokens


def _size_prompts(
    con: duckdb.DuckDBPyConnection,
    counter: Counter,
    groups: Groups,
    sids: dict[int, int],
    with_fell: bool,
) -> None:
    """System prompts that are a plain message's text take their size from its pieces,
    when the message was cut with the encoding sizes are counted with (``sizes.py``)."""
    tokenizer = counter.tokenizers.get(SIZE_TOKENIZER)
    if tokenizer is None:
        return
    sid = next(
        (
            sid
            for gid, sid in sids.items()
            if groups[gid][0] == SIZE_TOKENIZER
            and tokenizer.encoding_for(groups[gid][1]) == SIZE_ENCODING
        ),
        None,
    )
    if sid is not None and any_unsized(con):
        size_from_pieces(con, sid, tokenizer.version, SPLIT_UNIT, FAILED, with_fell)
