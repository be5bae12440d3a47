"""The shipped vocabularies: integrity checks, fidelity to tiktoken, laziness and caching."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import replace
from pathlib import Path

import pytest
import tiktoken_ext.openai_public as openai_public  # type: ignore[import-untyped]

from tokaudit.tokenizers import EstimateTokenizer, TiktokenTokenizer, TokenizerError
from tokaudit.tokenizers.tiktoken_plugin import (
    DATA_DIR,
    ENCODING_SPECS,
    load_encoding,
    load_mergeable_ranks,
)


def _write_gz(path: Path, content: bytes) -> Path:
    path.write_bytes(gzip.compress(content))
    return path


def test_corrupted_vocabulary_is_rejected_with_both_hashes(tmp_path: Path) -> None:
    spec = ENCODING_SPECS["cl100k_base"]
    original = gzip.decompress((DATA_DIR / spec.filename).read_bytes())
    corrupted = original.replace(b"IQ== 0", b"IQ== 1", 1)
    _write_gz(tmp_path / spec.filename, corrupted)

    with pytest.raises(TokenizerError) as info:
        load_encoding(spec, tmp_path)

    message = str(info.value)
    assert spec.filename in message
    assert hashlib.sha256(corrupted).hexdigest() in message
    assert spec.sha256 in message


def test_wrong_expected_hash_is_rejected() -> None:
    wrong = "0" * 64
    specs = {**ENCODING_SPECS, "o200k_base": replace(ENCODING_SPECS["o200k_base"], sha256=wrong)}
    tokenizer = TiktokenTokenizer(specs=specs)
    with pytest.raises(TokenizerError, match=rf"o200k_base\.tiktoken\.gz.*{wrong}"):
        tokenizer.count(["hello"], "gpt-4o")
    assert tokenizer.count(["hello"], "gpt-4") == [1]  # the other vocabulary is unaffected


def test_not_gzip_is_a_tokenizer_error(tmp_path: Path) -> None:
    path = tmp_path / "x.tiktoken.gz"
    path.write_bytes(b"IQ== 0\n")
    with pytest.raises(TokenizerError, match=r"x\.tiktoken\.gz"):
        load_mergeable_ranks(path, "0" * 64)


def test_damaged_compressed_data_is_a_tokenizer_error(tmp_path: Path) -> None:
    """Bytes damaged inside the deflate stream raise zlib.error, which is no OSError: it
    escaped as "error: Error -3 while decompressing data", naming neither file nor remedy."""
    spec = ENCODING_SPECS["cl100k_base"]
    damaged = bytearray((DATA_DIR / spec.filename).read_bytes())
    damaged[12:40] = b"\xff" * 28  # just past the 10-byte gzip header
    (tmp_path / spec.filename).write_bytes(bytes(damaged))

    with pytest.raises(TokenizerError, match="reinstall tokaudit") as info:
        load_encoding(spec, tmp_path)
    assert spec.filename in str(info.value)


def test_malformed_line_names_the_line(tmp_path: Path) -> None:
    content = b"IQ== 0\nnot-a-rank-line\n"
    path = _write_gz(tmp_path / "bad.tiktoken.gz", content)
    with pytest.raises(TokenizerError, match="line 2"):
        load_mergeable_ranks(path, hashlib.sha256(content).hexdigest())


@pytest.mark.parametrize("name", sorted(ENCODING_SPECS))
def test_specs_match_what_tiktoken_itself_would_build(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pattern, special tokens, file and pinned hash equal tiktoken_ext's, without a download."""
    requested: dict[str, str] = {}

    def fake_load(blobpath: str, expected_hash: str) -> dict[bytes, int]:
        requested["blobpath"] = blobpath
        requested["expected_hash"] = expected_hash
        return {}

    monkeypatch.setattr(openai_public, "load_tiktoken_bpe", fake_load)
    reference = openai_public.ENCODING_CONSTRUCTORS[name]()
    spec = ENCODING_SPECS[name]

    assert spec.pat_str == reference["pat_str"]
    assert dict(spec.special_tokens) == reference["special_tokens"]
    assert requested["expected_hash"] == spec.sha256
    assert requested["blobpath"].rsplit("/", 1)[-1] + ".gz" == spec.filename


def test_known_cl100k_token_ids() -> None:
    """Token ids from tiktoken's own test suite (tests/test_encoding.py)."""
    encoding = TiktokenTokenizer().get_encoding("cl100k_base")
    assert encoding.encode("hello world") == [15339, 1917]
    assert encoding.encode("hello <|endoftext|>", allowed_special="all") == [15339, 220, 100257]
    assert encoding.encode("rer") == [38149]
    assert encoding.encode("'rer") == [2351, 81]
    assert encoding.encode("today\n \n") == [31213, 27907]
    assert encoding.encode("today\n  \n") == [31213, 14211]


def test_special_token_text_is_counted_as_plain_text() -> None:
    tokenizer = TiktokenTokenizer()
    counts = tokenizer.count(["<|endoftext|>", "a <|endofprompt|> b"], "gpt-4o")
    assert all(count > 1 for count in counts)
    assert tokenizer.count(["<|fim_prefix|>"], "gpt-4")[0] > 1


def test_vocabularies_load_lazily(tmp_path: Path) -> None:
    """Only counting reads a vocabulary, so a broken one cannot block unrelated models."""
    tokenizer = TiktokenTokenizer(data_dir=tmp_path)  # no vocabulary files there at all
    assert tokenizer.covers("gpt-4o")
    assert tokenizer.encoding_for("gpt-4o") == "o200k_base"
    with pytest.raises(TokenizerError, match=r"o200k_base\.tiktoken\.gz"):
        tokenizer.count(["hi"], "gpt-4o")


def test_encodings_are_built_once_per_process() -> None:
    first = TiktokenTokenizer().get_encoding("o200k_base")
    assert TiktokenTokenizer().get_encoding("o200k_base") is first
    assert load_encoding(ENCODING_SPECS["o200k_base"]) is first
    assert EstimateTokenizer().count(["hello world"], "claude-sonnet-4-5") == [
        len(first.encode_ordinary("hello world"))
    ]


def test_unknown_encoding_name() -> None:
    with pytest.raises(TokenizerError, match="p50k_base"):
        TiktokenTokenizer().get_encoding("p50k_base")
