"""The optional Hugging Face plugin, on a tokenizer.json these tests build offline."""

from __future__ import annotations

import builtins
import json
from pathlib import Path
from typing import Any

import pytest

from tokaudit.recount import count_request
from tokaudit.tokenizers import HfTokenizer, Registry, TokenizerError, load_tokenizers
from tokaudit.tokenizers.hf_plugin import load_hf_config

tokenizers = pytest.importorskip("tokenizers")
if not hasattr(tokenizers, "Tokenizer"):  # tests/tokenizers/ itself, seen as a namespace package
    pytest.skip("the Hugging Face tokenizers library is not installed", allow_module_level=True)

VOCAB = {"[UNK]": 0, "hello": 1, "world": 2, "llama": 3, "says": 4, "hi": 5}


def _tokenizer_json(path: Path) -> Path:
    """A word-level tokenizer: one token per known word, [UNK] otherwise."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel(vocab=VOCAB, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(path))
    return path


def _config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "tokaudit.yaml"
    path.write_text(body, encoding="utf-8")
    return path


@pytest.fixture
def plugin(tmp_path: Path) -> HfTokenizer:
    _tokenizer_json(tmp_path / "tokenizer.json")
    config = _config(
        tmp_path, "tokenizers:\n  hf:\n    - {models: ['llama-3*'], path: tokenizer.json}\n"
    )
    return HfTokenizer(load_hf_config(config))


def test_counts_with_the_configured_file(plugin: HfTokenizer) -> None:
    assert plugin.covers("Llama-3.1-8B-Instruct") and not plugin.covers("gpt-4o")
    # "there" is not in the vocabulary: one [UNK] token
    assert plugin.count(["hello world", "llama says hi there", ""], "llama-3-70b") == [2, 4, 0]
    assert plugin.exact_for("llama-3-70b")
    assert plugin.models_covered()[0].startswith("llama-3* (")


def test_whole_requests_are_estimates(plugin: HfTokenizer) -> None:
    body = {"messages": [{"role": "user", "content": "hello world"}]}
    got = count_request(body, "llama-3-8b", registry=Registry([plugin]))
    # OpenAI-style framing as a stand-in: 3 + "user" ([UNK], 1) + 2 + 3 priming
    assert (got.input_tokens, got.input_exact, got.tokenizer) == (9, False, "hf")


def test_version_follows_the_file(tmp_path: Path, plugin: HfTokenizer) -> None:
    before = plugin.version
    path = tmp_path / "tokenizer.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    document["model"]["vocab"]["there"] = 6
    path.write_text(json.dumps(document), encoding="utf-8")
    config = tmp_path / "tokaudit.yaml"
    assert HfTokenizer(load_hf_config(config)).version != before


def test_no_config_covers_nothing() -> None:
    quiet = HfTokenizer([])
    assert not quiet.covers("llama-3-8b") and quiet.models_covered() == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("tokenizers: {hf: {models: x}}", "must be a list"),
        ("tokenizers:\n  hf:\n    - {path: a.json}\n", "'models'"),
        ("tokenizers:\n  hf:\n    - {models: [x], path: a.json, extra: 1}\n", "exactly the keys"),
        ("tokenizers: [", "not valid YAML"),
    ],
)
def test_bad_config_names_the_file(tmp_path: Path, body: str, error: str) -> None:
    with pytest.raises(TokenizerError, match=error) as info:
        load_hf_config(_config(tmp_path, body))
    assert "tokaudit.yaml" in str(info.value)


def test_missing_file_and_missing_library_are_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path, "tokenizers:\n  hf:\n    - {models: [m], path: nope.json}\n")
    with pytest.raises(TokenizerError, match=r"nope\.json"):
        HfTokenizer(load_hf_config(config))

    real_import = builtins.__import__

    def no_tokenizers(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "tokenizers":
            raise ImportError("no module named tokenizers")
        return real_import(name, *args, **kwargs)

    _tokenizer_json(tmp_path / "tokenizer.json")
    ok = _config(tmp_path, "tokenizers:\n  hf:\n    - {models: [m], path: tokenizer.json}\n")
    monkeypatch.setattr(builtins, "__import__", no_tokenizers)
    with pytest.raises(TokenizerError, match=r"tokaudit\[hf\]"):
        HfTokenizer(load_hf_config(ok))


def test_a_file_the_library_cannot_read_breaks_the_plugin_at_start(tmp_path: Path) -> None:
    """A cut tokenizer.json fails when the plugin starts, like a missing one: listed as
    broken, and its models recounted with the labelled estimate instead of not at all."""
    whole = _tokenizer_json(tmp_path / "tokenizer.json").read_bytes()
    (tmp_path / "cut.json").write_bytes(whole[: len(whole) // 2])
    config = _config(tmp_path, "tokenizers:\n  hf:\n    - {models: ['llama-3*'], path: cut.json}\n")
    with pytest.raises(TokenizerError, match=r"cannot load tokenizer file .*cut\.json"):
        HfTokenizer(load_hf_config(config))
    registry = load_tokenizers(config)
    assert [name for name, _ in registry.broken] == ["hf"]
    counted = count_request(
        {"messages": [{"role": "user", "content": "hello world"}]},
        "llama-3-8b",
        registry=registry,
    )
    assert counted.tokenizer == "estimate-o200k" and not counted.input_exact


def test_config_found_through_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tokenizer_json(tmp_path / "tokenizer.json")
    config = _config(
        tmp_path, "tokenizers:\n  hf:\n    - {models: [qwen*], path: tokenizer.json}\n"
    )
    monkeypatch.setenv("TOKAUDIT_CONFIG", str(config))
    assert HfTokenizer().covers("qwen2.5-7b")
