"""Runs of blanks too long for tiktoken: the plugin refuses them, the estimate cuts them.

tiktoken's pre-tokenizer overflows its stack (a process abort, not an exception) on a run
of about a million spaces, so ``count_texts`` refuses runs of ``LONGEST_BLANK_RUN`` before
encoding. The estimate, which the recount uses where a plugin fails, counts such a run in
chunks of ``BLANK_RUN_CHUNK`` instead. Expected counts are made here with tiktoken's
encoding object directly, part by part.
"""

from __future__ import annotations

import pytest

from tokaudit.tokenizers import EstimateTokenizer, TiktokenTokenizer, TokenizerError
from tokaudit.tokenizers.tiktoken_plugin import BLANK_RUN_CHUNK, LONGEST_BLANK_RUN

ENC = TiktokenTokenizer().get_encoding("o200k_base")


def _n(text: str) -> int:
    return len(ENC.encode_ordinary(text))


def test_the_estimate_counts_long_blank_runs_in_chunks() -> None:
    run = LONGEST_BLANK_RUN + 10_000  # 260,000 = 3 chunks + 63,392
    spaces = "intro words" + " " * run + "tail"
    tabs = "a" + "\t" * run + "b\n" + " " * run + "c"  # two runs, a newline between
    assert run // BLANK_RUN_CHUNK == 3

    def blanks(char: str) -> int:
        rest = run - 3 * BLANK_RUN_CHUNK
        return 3 * _n(char * BLANK_RUN_CHUNK) + _n(char * rest)

    assert EstimateTokenizer().count([spaces, tabs, "plain text"], "claude-3-5-sonnet") == [
        _n("intro words") + blanks(" ") + _n("tail"),
        _n("a") + blanks("\t") + _n("b\n") + blanks(" ") + _n("c"),
        _n("plain text"),
    ]
    # the cut costs at most a token or two per cut: it stays a close estimate
    whole = _n(" " * (LONGEST_BLANK_RUN - 1)) * run / (LONGEST_BLANK_RUN - 1)
    assert abs(blanks(" ") - whole) <= 5


def test_tiktoken_still_refuses_them_and_counts_runs_just_below() -> None:
    tik = TiktokenTokenizer()
    with pytest.raises(TokenizerError, match="a run of 250,000 spaces or tabs"):
        tik.count(["x" + " " * LONGEST_BLANK_RUN], "gpt-4o")
    below = "x" + " " * (LONGEST_BLANK_RUN - 1)
    assert tik.count([below], "gpt-4o") == [_n(below)]
    # below the limit the estimate is o200k_base's count, uncut
    assert EstimateTokenizer().count([below], "gemini-2.5-pro") == [_n(below)]
