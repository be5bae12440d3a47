"""A text the model's own plugin fails to count is counted with the estimate instead.

The plugin here counts words and raises on any text holding ``BOOM`` while ``broken``.
Expected counts are built independently: words for what the plugin counts, o200k_base
(tiktoken's own encoding object) for what the estimate counts, and the OpenAI framing
(3 per message, 3 of reply priming) around them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from helpers import REPO, write_jsonl
from tokaudit.ingest import ingest_paths
from tokaudit.pricing.store_tables import install_price_table
from tokaudit.pricing.table import load_price_table
from tokaudit.recount import INPUT_KEY, OUTPUT_KEY, count_request, pool, profile_key, recount
from tokaudit.store import open_store
from tokaudit.tokenizers import ChatProfile, EstimateTokenizer, Registry, Tokenizer
from tokaudit.tokenizers.tiktoken_plugin import TiktokenTokenizer

O200K = TiktokenTokenizer().get_encoding("o200k_base")
PROFILE = ChatProfile(exact=True)  # the plugin claims exact counts, so an estimate shows
LABEL = "marker+estimate-o200k"
ESTIMATED = (
    "count() failed (RuntimeError: BOOM is not a word); the texts it failed on were counted "
    "with the estimate (estimate-o200k) instead, so their requests' recounts are labelled "
    "estimates (tokenizer 'marker+estimate-o200k', not exact)"
)


class Marker(Tokenizer):
    """A third-party plugin: one token per word; fails on texts holding BOOM while broken."""

    name = "marker"
    version = "1"

    def __init__(self, pieces: bool = False) -> None:
        self.broken = True
        self.pieces = pieces
        self.calls = 0

    def covers(self, model: str) -> bool:
        return model in ("marker-1", "gpt-4o-mini")

    def encoding_for(self, model: str) -> str:
        return "words"

    def chat_profile(self, model: str) -> ChatProfile:
        return PROFILE

    def splits_at_spaces(self, model: str) -> bool:
        return self.pieces  # word counts add up over cuts before a space

    def count(self, texts: Sequence[str], model: str) -> list[int]:
        self.calls += 1
        if self.broken and any("BOOM" in text for text in texts):
            raise RuntimeError("BOOM is not a word")
        return [len(text.split()) for text in texts]


def words(text: str) -> int:
    return len(text.split())


def estimate(text: str) -> int:
    return len(O200K.encode_ordinary(text))


def content_count(text: str, pieces: bool) -> int:
    """The plugin's count of a message text, the estimate's where the plugin fails: for the
    whole text, or only for the pieces that fail when the plugin counts by pieces."""
    if "BOOM" not in text:
        return words(text)
    if not pieces:
        return estimate(text)
    assert "  " not in text and text.isascii()  # every space is a cut
    first, *rest = text.split(" ")
    return sum(
        estimate(piece) if "BOOM" in piece else words(piece)
        for piece in [first, *(" " + word for word in rest)]
    )


def expected_input(messages: list[tuple[str, str]], pieces: bool = False) -> int:
    return 3 + sum(3 + words(role) + content_count(text, pieces) for role, text in messages)


def expected_output(reply: str) -> int:  # the reply is one unit, never cut in pieces
    return estimate(reply) if "BOOM" in reply else words(reply)


def record(
    rid: str,
    messages: list[tuple[str, str]],
    reply: str | None = None,
    model: str = "marker-1",
    usage: bool = True,
) -> dict[str, Any]:
    response: dict[str, Any] = {"id": rid, "model": model}
    if reply is not None:
        response["choices"] = [{"message": {"role": "assistant", "content": reply}}]
    if usage:
        response["usage"] = {"prompt_tokens": 20, "completion_tokens": 2}
    return {
        "timestamp": "2026-10-01T10:00:00Z",
        "provider": "openai",
        "request": {
            "model": model,
            "messages": [{"role": role, "content": text} for role, text in messages],
        },
        "response": response,
    }


def store(tmp_path: Path, records: list[dict[str, Any]]) -> duckdb.DuckDBPyConnection:
    tmp_path.mkdir(parents=True, exist_ok=True)
    con = open_store(tmp_path / "store.duckdb")
    ingest_paths(con, [str(write_jsonl(tmp_path / "log.jsonl", records))])
    return con


def audit(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[Any, ...]]:
    """request_id -> (tokenizer, exact, input, output, output_exact) from token_audit."""
    rows = con.execute(
        """SELECT request_id, tokenizer, exact, recounted_input_tokens,
            recounted_output_tokens, output_exact FROM token_audit"""
    ).fetchall()
    return {row[0]: row[1:] for row in rows}


SYSTEM = ("system", "Be brief.")
REQUESTS = {  # request_id: (messages, reply)
    "ok": ([SYSTEM, ("user", "fine words here")], "Sure thing."),
    "in": ([SYSTEM, ("user", "BOOM goes the text")], "Sure thing."),
    "out": ([("user", "fine words here")], "Yes BOOM indeed"),
    "both": ([("user", "BOOM again")], "BOOM BOOM"),
}


def expected_audit(pieces: bool) -> dict[str, tuple[Any, ...]]:
    out = {}
    for rid, (messages, reply) in REQUESTS.items():
        input_estimated = any("BOOM" in text for _, text in messages)
        reply_estimated = "BOOM" in reply
        out[rid] = (
            LABEL if input_estimated or reply_estimated else "marker",
            not input_estimated,
            expected_input(messages, pieces),
            expected_output(reply),
            not reply_estimated,
        )
    return out


def keys_stored_for_the_plugin(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    """(request_id, 'in' | 'out') whose request-level count is stored under the plugin."""
    in_key = INPUT_KEY.format(p="q.provider", h="q.input_hash")
    out_key = OUTPUT_KEY.format(p="q.provider", i="q.input_hash", o="q.output_hash")
    rows = con.execute(
        f"""SELECT q.request_id, k.side FROM requests q, (SELECT ? AS profile) m,
            (VALUES ('in'), ('out')) k(side)
        WHERE EXISTS (SELECT 1 FROM token_counts c WHERE c.tokenizer = 'marker'
                      AND c.text_hash = CASE k.side WHEN 'in' THEN {in_key} ELSE {out_key} END)""",
        [profile_key(PROFILE)],
    ).fetchall()
    return {(str(rid), str(side)) for rid, side in rows}


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("pieces", [False, True], ids=["whole", "pieces"])
def test_texts_a_plugin_fails_on_are_estimated_and_labelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pieces: bool, workers: int
) -> None:
    monkeypatch.setattr(pool, "POOL_MIN_CHARS", 0)  # workers=2: count in forked workers
    records = [record(rid, messages, reply) for rid, (messages, reply) in REQUESTS.items()]
    con = store(tmp_path, records)
    marker = Marker(pieces)
    registry = Registry([marker, TiktokenTokenizer()])

    first = recount(con, registry, workers=workers)
    assert audit(con) == expected_audit(pieces)
    assert first.broken_plugins == [("marker", ESTIMATED)]
    # Only the plugin's own counts are stored under its key; no estimate is stored at all.
    assert keys_stored_for_the_plugin(con) == {
        ("ok", "in"),
        ("ok", "out"),
        ("in", "out"),
        ("out", "in"),
    }
    assert con.execute(
        "SELECT count(*) FROM token_counts WHERE tokenizer LIKE '%estimate%'"
    ).fetchone() == (0,)

    # Unchanged plugin: it is asked again, fails again, and nothing changes.
    again = recount(con, registry, workers=workers)
    assert (again.texts_counted, again.requests_updated) == (0, 0)
    assert again.broken_plugins == [("marker", ESTIMATED)]
    assert audit(con) == expected_audit(pieces)

    # Fixed under the same version: its counts replace the estimates, only the failed
    # units are counted (2 messages, 2 replies), and nothing is left estimated.
    marker.broken = False
    fixed = recount(con, registry, workers=workers)
    assert fixed.broken_plugins == []
    assert (fixed.texts_counted, fixed.requests_updated) == (4, 3)
    assert audit(con) == {
        rid: ("marker", True, 3 + sum(3 + words(r) + words(t) for r, t in m), words(reply), True)
        for rid, (m, reply) in REQUESTS.items()
    }
    assert len(keys_stored_for_the_plugin(con)) == 2 * len(REQUESTS)


def test_when_the_estimate_fails_too_the_request_keeps_no_recount(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = EstimateTokenizer.count

    def fragile(self: EstimateTokenizer, texts: Sequence[str], model: str) -> list[int]:
        if any("KABOOM" in text for text in texts):
            raise RuntimeError("KABOOM is too loud")
        return real(self, texts, model)

    monkeypatch.setattr(EstimateTokenizer, "count", fragile)
    failed = "count() failed (RuntimeError: BOOM is not a word)"
    too = "the estimate failed on some too (RuntimeError: KABOOM is too loud)"

    con = store(
        tmp_path / "mixed",
        [record("kb", [("user", "KABOOM now")]), record("b", [("user", "BOOM now")])],
    )
    # tiktoken sizes the first messages for the caching finding (the estimate would fail)
    registry = Registry([Marker(), TiktokenTokenizer()])
    result = recount(con, registry, workers=1)
    assert audit(con) == {
        "kb": (None, None, None, None, None),
        "b": (LABEL, False, expected_input([("user", "BOOM now")]), None, None),
    }
    [(name, why)] = result.broken_plugins
    assert name == "marker"
    assert why == (
        f"{failed}; the texts it failed on were counted with the estimate (estimate-o200k) "
        "instead, so their requests' recounts are labelled estimates (tokenizer "
        f"'marker+estimate-o200k', not exact), but {too}: those requests keep no recount "
        "this run"
    )

    con = store(tmp_path / "alone", [record("kb", [("user", "KABOOM now")])])
    result = recount(con, registry, workers=1)
    assert audit(con) == {"kb": (None, None, None, None, None)}
    assert result.broken_plugins == [
        ("marker", f"{failed}, and {too}: the requests it failed on keep no recount this run")
    ]


def test_a_request_without_usage_is_priced_from_the_estimate(tmp_path: Path) -> None:
    """The defect: a plugin failing on a text left a request without usage unpriced."""
    messages = [("user", "Please BOOM this")]
    con = store(
        tmp_path, [record("n1", messages, reply="All done.", model="gpt-4o-mini", usage=False)]
    )
    install_price_table(con, load_price_table(REPO / "pricing"))
    recount(con, Registry([Marker(), TiktokenTokenizer()]), workers=1)
    row = con.execute(
        """SELECT usage_source, input_tokens, output_tokens, cost_usd, unpriced_reason
        FROM request_costs"""
    ).fetchone()
    tokens_in, tokens_out = expected_input(messages), words("All done.")
    # gpt-4o-mini: $0.15 input, $0.60 output per 1M (pricing/openai.yaml)
    cost = (
        Decimal(tokens_in) * Decimal("0.15") / 10**6 + Decimal(tokens_out) * Decimal("0.60") / 10**6
    )
    assert row == ("recounted", tokens_in, tokens_out, cost, None)
    assert audit(con)["n1"][:2] == (LABEL, False)


def test_count_request_says_the_estimate_stood_in() -> None:
    body = {"messages": [{"role": "user", "content": "BOOM goes the text"}]}
    response = {"messages": [{"role": "assistant", "content": "Fine words"}]}
    got = count_request(body, "marker-1", response=response, registry=Registry([Marker()]))
    assert (got.input_tokens, got.input_exact, got.tokenizer) == (
        expected_input([("user", "BOOM goes the text")]),
        False,
        LABEL,
    )
    assert (got.output_tokens, got.output_exact) == (2, True)


def test_count_units_falls_back_per_text() -> None:
    """The pool's unit: only the units holding a failed text are estimates, and named."""
    rows: list[pool.UnitRow] = [
        (10, 0, "plain", "user", "fine words"),
        (11, 0, "plain", "user", "BOOM words"),
        (12, 0, "raw", "", "BOOM"),
    ]
    groups: pool.Groups = {0: ("marker", "marker-1", "openai", PROFILE.key)}
    fallback = EstimateTokenizer()
    tokenizers: dict[str, Tokenizer] = {"marker": Marker(), fallback.name: fallback}
    errors: dict[str, str] = {}
    fell: set[int] = set()
    counted = pool.count_units(
        rows, groups, tokenizers, {PROFILE.key: PROFILE}, errors, fallback, fell
    )
    assert counted == [
        (10, 3 + 1 + 2, True),
        (11, 3 + 1 + estimate("BOOM words"), False),
        (12, estimate("BOOM"), False),  # raw: exact only for an "openai" ctx anyway
    ]
    assert fell == {11, 12}
    assert errors == {"marker": "RuntimeError: BOOM is not a word"}
    # without a fallback, as for the estimate itself: the failed units stay FAILED
    without = pool.count_units(rows, groups, tokenizers, {PROFILE.key: PROFILE})
    assert [tokens for _, tokens, _ in without] == [6, pool.FAILED, pool.FAILED]


@pytest.mark.parametrize("command", ["findings", "recount-report"])
def test_findings_and_the_recount_report_warn_about_the_failing_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """They recount first (texts ingested without a recount): a plugin that failed there is
    named on stderr, as ingest and recount name it; stdout keeps only the data."""
    from typer.testing import CliRunner

    import tokaudit.api
    from tokaudit.cli import app

    db = tmp_path / "store.duckdb"
    log = write_jsonl(tmp_path / "log.jsonl", [record("kb", [("user", "KABOOM now")], "ok")])
    runner = CliRunner()
    loaded = runner.invoke(app, ["ingest", str(log), "--db", str(db), "--no-recount"])
    assert loaded.exit_code == 0, loaded.stderr
    monkeypatch.setattr(
        tokaudit.api,
        "load_tokenizers",
        lambda config=None: Registry([TiktokenTokenizer(), Marker()]),
    )
    args = ["findings"] if command == "findings" else ["report", "--show", "recount"]
    result = runner.invoke(app, [*args, "--db", str(db), "-f", "json"])
    assert result.exit_code == 0, result.stderr
    assert f"warning: tokenizer plugin 'marker': {ESTIMATED}" in result.stderr.splitlines()
    # stdout is data: the warning is not in it (the model marker-1 may be, as unpriced)
    assert "tokenizer plugin" not in result.stdout and ESTIMATED not in result.stdout


class _Index:
    """An integer type that is not int (as numpy's are): read through ``__index__``."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __index__(self) -> int:
        return self.value


class _Returns(Tokenizer):
    """A plugin whose counts are whatever ``answer`` makes of each text."""

    name, version = "returns", "1"

    def __init__(self, answer: Callable[[str], Any]) -> None:
        self.answer = answer

    def covers(self, model: str) -> bool:
        return True

    def encoding_for(self, model: str) -> str:
        return "words"

    def count(self, texts: Sequence[str], model: str) -> list[Any]:
        return [self.answer(text) for text in texts]


@pytest.mark.parametrize(
    ("returned", "reason"),
    [
        ("7", "ValueError: returned '7' as a count: a count is a whole number"),
        (1.5, "ValueError: returned 1.5 as a count: a count is a whole number"),
        (True, "ValueError: returned True as a count: a count is a whole number"),
        (-5, "ValueError: returned -5 as a count: a count cannot be negative"),
        (2**63, f"ValueError: returned {2**63} as a count: no text holds 2,147,483,648 tokens"),
        (2**31, f"ValueError: returned {2**31} as a count: no text holds 2,147,483,648 tokens"),
    ],
)
def test_a_count_that_is_no_whole_number_is_the_plugins_failure(
    returned: object, reason: str
) -> None:
    """A plugin that returns a string, a float, a bool, a negative number or an impossibly
    large one instead of raising failed all the same: the text is left to the estimate (a
    string crashed ingest, findings and reports with a TypeError; -5 was stored and priced;
    2**63 stopped the recount with a DuckDB conversion error)."""
    odd = _Returns(lambda text: returned if "odd" in text else len(text.split()))
    counts, why = pool.count_texts(odd, ["an odd text", "two words"], "m")
    assert (counts, why) == ([pool.FAILED, 2], reason)


def test_an_integer_type_that_is_not_int_is_a_count() -> None:
    numpyish = _Returns(lambda text: _Index(len(text.split())))
    counts, why = pool.count_texts(numpyish, ["one two three", ""], "m")
    assert (counts, why) == ([3, 0], None)
    assert all(type(c) is int for c in counts)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("pool_min", [0, 10**9])
def test_a_role_or_a_piece_failing_on_the_pieces_path_is_labelled_as_the_library_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int, pool_min: int
) -> None:
    monkeypatch.setattr(pool, "POOL_MIN_CHARS", pool_min)
    long = " ".join(f"word{i}" for i in range(800))
    reqs: dict[str, list[tuple[str, str]]] = {
        "role": [("BOOMer", long), ("user", "fine words")],
        "piece": [("user", long + " BOOM tail")],
        "both": [("BOOMer", long + " BOOM")],
        "ok": [("user", long), ("assistant", "fine")],
        "okrole": [("BOOMer", "x")],
    }
    con = store(tmp_path, [record(rid, m) for rid, m in reqs.items()])
    marker = Marker(pieces=True)
    registry = Registry([marker, TiktokenTokenizer()])
    recount(con, registry, workers=workers)
    got = audit(con)
    for rid, messages in reqs.items():
        body = {"model": "marker-1", "messages": [{"role": r, "content": t} for r, t in messages]}
        lib = count_request(body, "marker-1", registry=registry)
        estimated = any("BOOM" in r or "BOOM" in t for r, t in messages)
        assert got[rid][:3] == (lib.tokenizer, lib.input_exact, lib.input_tokens), rid
        assert got[rid][1] is (not estimated), rid
    assert con.execute(
        "SELECT count(*) FROM token_counts WHERE tokenizer LIKE '%estimate%'"
    ).fetchone() == (0,)


class CoversRaises(Marker):
    """A plugin whose ``covers`` itself raises, for one model only."""

    name = "covers-raises"

    def covers(self, model: str) -> bool:
        if model == "gpt-4o-mini":
            raise RuntimeError("covers exploded")
        return model == "marker-1"


def test_a_plugin_whose_covers_raises_is_passed_over(tmp_path: Path) -> None:
    """``covers`` raising stopped the recount (and ``ingest``) with a traceback. The plugin is
    passed over for that model, which falls to the next plugin (tiktoken), and reported;
    the models it does cover keep its counts."""
    con = store(
        tmp_path,
        [
            record("mini", [("user", "fine words here")], "Sure thing.", model="gpt-4o-mini"),
            record("mine", [("user", "fine words here")], "Sure thing."),
        ],
    )
    plugin = CoversRaises()
    plugin.broken = False
    result = recount(con, Registry([plugin, TiktokenTokenizer()]))
    assert ("covers-raises", "RuntimeError on 'gpt-4o-mini': covers exploded") in (
        result.broken_plugins
    )
    got = audit(con)
    # tiktoken's exact framing: 3 per message, the role, the text, 3 of reply priming
    mini_input = 3 + 3 + estimate("user") + estimate("fine words here")
    assert got["mini"][:3] == ("tiktoken", True, mini_input)
    assert got["mini"][3] == estimate("Sure thing.")
    assert got["mine"] == (
        "covers-raises",
        True,
        expected_input([("user", "fine words here")]),
        words("Sure thing."),
        True,
    )
