"""Plugin discovery: the built-in is always there, broken plugins are reported and skipped."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from tokaudit.tokenizers import (
    ENTRY_POINT_GROUP,
    ChatMessage,
    ChatProfile,
    EstimateTokenizer,
    HfTokenizer,
    TiktokenTokenizer,
    Tokenizer,
    load_tokenizers,
    registry,
)


class FakeGemini(Tokenizer):
    name = "fake-gemini"
    version = "1"

    def covers(self, model: str) -> bool:
        return model.startswith("gemini-")

    def encoding_for(self, model: str) -> str:
        return "fake"

    def count(self, texts: Sequence[str], model: str) -> list[int]:
        return [len(text.split()) for text in texts]


class FailsToStart(FakeGemini):
    name = "fails"

    def __init__(self) -> None:
        raise RuntimeError("missing API key file")


class ImpostorTiktoken(FakeGemini):
    name = "tiktoken"


@dataclass
class FakeEntryPoint:
    """Stands in for an installed entry point whose target is defined in this test."""

    name: str
    target: object

    def load(self) -> object:
        return self.target


def _use_entry_points(monkeypatch: pytest.MonkeyPatch, points: Sequence[object]) -> None:
    def fake_entry_points(*, group: str) -> Sequence[object]:
        assert group == ENTRY_POINT_GROUP
        return points

    monkeypatch.setattr(registry, "entry_points", fake_entry_points)


def test_builtin_is_present_without_any_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    _use_entry_points(monkeypatch, [])
    loaded = load_tokenizers()
    assert [type(tok) for tok in loaded.tokenizers] == [TiktokenTokenizer, HfTokenizer]
    assert loaded.broken == []
    assert loaded.for_model("openai/gpt-4o") is loaded.tokenizers[0]
    assert loaded.for_model("claude-sonnet-4-5") is None


def test_builtin_entry_point_is_not_loaded_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    builtin = EntryPoint(
        name="tiktoken",
        value="tokaudit.tokenizers.tiktoken_plugin:TiktokenTokenizer",
        group=ENTRY_POINT_GROUP,
    )
    _use_entry_points(monkeypatch, [builtin])
    loaded = load_tokenizers()
    assert [tok.name for tok in loaded.tokenizers] == ["tiktoken", "hf"]
    assert loaded.broken == []


def test_broken_plugins_are_reported_and_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    missing_module = EntryPoint(
        name="ghost", value="tokaudit_ghost_plugin:Tokenizer", group=ENTRY_POINT_GROUP
    )
    _use_entry_points(
        monkeypatch,
        [
            missing_module,
            FakeEntryPoint("fails", FailsToStart),
            FakeEntryPoint("not-a-class", object()),
            FakeEntryPoint("impostor", ImpostorTiktoken),
            FakeEntryPoint("gemini", FakeGemini),
        ],
    )
    loaded = load_tokenizers()

    assert [tok.name for tok in loaded.tokenizers] == ["tiktoken", "hf", "fake-gemini"]
    broken = dict(loaded.broken)
    assert list(broken) == ["ghost", "fails", "not-a-class", "impostor"]
    assert broken["ghost"].startswith("ModuleNotFoundError")
    assert "tokaudit_ghost_plugin" in broken["ghost"]
    assert broken["fails"] == "RuntimeError: missing API key file"
    assert "not a tokaudit Tokenizer" in broken["not-a-class"]
    assert "'tiktoken' is already taken" in broken["impostor"]

    assert isinstance(loaded.for_model("gpt-4o"), TiktokenTokenizer)
    assert isinstance(loaded.for_model("gemini-2.5-flash"), FakeGemini)


class NoVersion(Tokenizer):
    """A plugin that forgot its ``version`` class attribute (only ``name`` is set)."""

    name = "no-version"

    def covers(self, model: str) -> bool:
        return model.startswith("nover-")

    def encoding_for(self, model: str) -> str:
        return "words"

    def count(self, texts: Sequence[str], model: str) -> list[int]:
        return [len(text.split()) for text in texts]


class NumberName(FakeGemini):
    name = 7  # type: ignore[assignment]


class CannotListModels(FakeGemini):
    def models_covered(self) -> list[str]:
        raise RuntimeError("no model list")


def test_a_plugin_without_a_name_or_version_is_broken_not_fatal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A missing ``version`` made ``tokenizers list`` and every recount stop with an
    AttributeError; it is reported as broken like any plugin that cannot start."""
    _use_entry_points(
        monkeypatch,
        [
            FakeEntryPoint("nover", NoVersion),
            FakeEntryPoint("number", NumberName),
            FakeEntryPoint("gemini", CannotListModels),
        ],
    )
    loaded = load_tokenizers()
    assert [tok.name for tok in loaded.tokenizers] == ["tiktoken", "hf", "fake-gemini"]
    assert loaded.broken == [
        ("nover", "TypeError: NoVersion.version must be a non-empty string, got None"),
        ("number", "TypeError: NumberName.name must be a non-empty string, got 7"),
    ]
    assert loaded.for_model("nover-1") is None

    rows = {row.name: row for row in registry.describe(loaded)}
    assert rows["fake-gemini"].status == "ok"
    assert rows["fake-gemini"].models == []
    assert "models_covered() failed: RuntimeError: no model list" in rows["fake-gemini"].detail
    assert rows["nover"].status == "broken"


class ImpostorEstimate(FakeGemini):
    name = "estimate-o200k"

    def count(self, texts: Sequence[str], model: str) -> list[int]:
        return [7 for _ in texts]


def test_a_plugin_named_as_the_estimator_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The recount finds tokenizers by name, and the estimator's replaced such a plugin: it
    was listed "ok" while its models were counted with o200k_base, never with its own count."""
    _use_entry_points(monkeypatch, [FakeEntryPoint("impostor", ImpostorEstimate)])
    loaded = load_tokenizers()
    assert [tok.name for tok in loaded.tokenizers] == ["tiktoken", "hf"]
    assert loaded.broken == [("impostor", "tokenizer name 'estimate-o200k' is already taken")]
    assert loaded.for_model("gemini-2.5-flash") is None


def test_a_broken_builtin_does_not_stop_other_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    class BrokenBuiltin(TiktokenTokenizer):
        def __init__(self) -> None:
            raise OSError("package data missing")

    monkeypatch.setattr(registry, "TiktokenTokenizer", BrokenBuiltin)
    _use_entry_points(monkeypatch, [FakeEntryPoint("gemini", FakeGemini)])
    loaded = load_tokenizers()
    assert [tok.name for tok in loaded.tokenizers] == ["hf", "fake-gemini"]
    assert loaded.broken == [("tiktoken", "OSError: package data missing")]


def test_default_count_chat_is_an_estimate() -> None:
    tokens, exact = FakeGemini().count_chat([ChatMessage("user", "two words")], "gemini-x")
    assert (tokens, exact) == (3 + 1 + 2 + 3, False)


class PlainFraming(FakeGemini):
    """A plugin whose provider counts message texts only (as Gemini does)."""

    def chat_profile(self, model: str) -> ChatProfile:
        return ChatProfile(framing="plain")


class WideFraming(FakeGemini):
    """A plugin whose provider frames each message with 5 tokens and primes with 2."""

    def chat_profile(self, model: str) -> ChatProfile:
        return ChatProfile(tokens_per_message=5, tokens_per_name=2, reply_priming=2)


def test_default_count_chat_follows_the_plugins_profile() -> None:
    """count_chat frames a count the way chat_profile says, as the recount does."""
    chat = [ChatMessage("system", "be brief"), ChatMessage("user", "two words", name="ann")]
    words = 2 + 2  # the message texts, one token a word in these plugins
    assert PlainFraming().count_chat(chat, "gemini-x") == (words, False)
    # headers "system" and "user:ann" (1 word each), texts, 5 per message, 2 per name,
    # 2 priming
    assert WideFraming().count_chat(chat, "gemini-x") == (2 + words + 10 + 2 + 2, False)


def test_estimate_count_chat_frames_gemini_as_plain() -> None:
    estimate = EstimateTokenizer()
    encoding = TiktokenTokenizer().get_encoding("o200k_base")
    text = "Say this is a test"
    tokens, exact = estimate.count_chat([ChatMessage("user", text)], "gemini-2.5-flash")
    assert (tokens, exact) == (len(encoding.encode_ordinary(text)), False)


def test_a_profile_built_positionally_up_to_its_note_keeps_its_meaning() -> None:
    """Third-party plugins may build a ChatProfile positionally; fields added since the
    ``note`` are keyword-only, so such a profile does not shift into them."""
    profile = ChatProfile("openai", True, True, 3, 1, 3, False, None, None, None, 5, 0, "mine")
    assert profile.note == "mine"
    assert (profile.tool_call_overhead, profile.nested_indent) == (0, 0)
    with pytest.raises(TypeError):
        ChatProfile("openai", True, True, 3, 1, 3, False, None, None, None, 5, 0, "mine", 3)  # type: ignore[misc]
    assert ChatProfile(nested_indent=2).key != ChatProfile().key  # part of the stored key


class BlankVersion(FakeGemini):
    name = "blank-version"
    version = "  "


class SecondGemini(FakeGemini):
    """Claims Gemini models too: FakeGemini (``gemini-*``) is earlier in lookup order."""

    name = "second-gemini"

    def models_covered(self) -> list[str]:
        return ["gemini-2.5-pro* (words)"]


class ClaimsGpt4o(FakeGemini):
    """Covers a model family the built-in tiktoken plugin covers."""

    name = "my-openai"

    def covers(self, model: str) -> bool:
        return model.startswith("gpt-4o")

    def models_covered(self) -> list[str]:
        return ["gpt-4o*"]


def _list_json(args: Sequence[str] = ()) -> tuple[int, list[dict[str, object]], str]:
    import json

    from typer.testing import CliRunner

    from tokaudit.cli import app

    result = CliRunner().invoke(app, ["tokenizers", "list", "-f", "json", *args])
    return result.exit_code, json.loads(result.stdout), result.stderr


def test_a_blank_version_and_overlapping_plugins_are_listed_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A version of spaces keyed stored counts by nothing, and two plugins claiming the same
    models were both listed "ok" while only the first in lookup order ever counted them."""
    _use_entry_points(
        monkeypatch,
        [
            FakeEntryPoint("blank", BlankVersion),
            FakeEntryPoint("gemini", FakeGemini),
            FakeEntryPoint("second", SecondGemini),
            FakeEntryPoint("mine", ClaimsGpt4o),
        ],
    )
    loaded = load_tokenizers()
    assert ("blank", "TypeError: BlankVersion.version must be a non-empty string, got '  '") in (
        loaded.broken
    )
    assert isinstance(loaded.for_model("gemini-2.5-pro"), FakeGemini)  # the first one wins
    assert not isinstance(loaded.for_model("gemini-2.5-pro"), SecondGemini)
    assert isinstance(loaded.for_model("gpt-4o-mini"), TiktokenTokenizer)

    code, rows, stderr = _list_json()
    assert code == 0
    status = {row["name"]: (row["status"], row["detail"]) for row in rows}
    assert status["fake-gemini"][0] == "ok"
    assert status["second-gemini"][0] == "overlap"
    assert "plugin 'fake-gemini' covers too (gemini-2.5-pro)" in str(status["second-gemini"][1])
    assert status["my-openai"][0] == "overlap"
    assert "'tiktoken' comes first in lookup order" in str(status["my-openai"][1])
    assert status["blank"][0] == "broken"
    assert "warning: tokenizer plugin 'second-gemini' overlaps an earlier one" in stderr
    assert "warning: tokenizer plugin 'my-openai' overlaps an earlier one" in stderr


def test_tokenizers_list_verifies_the_shipped_vocabularies(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`tokenizers list` said tiktoken was ok without looking at its vocabularies; a
    replaced or missing one failed only when a recount loaded it."""
    import gzip

    from tokaudit.tokenizers.tiktoken_plugin import DATA_DIR

    _use_entry_points(monkeypatch, [])
    code, rows, stderr = _list_json()
    assert code == 0, stderr
    tiktoken_row = next(row for row in rows if row["name"] == "tiktoken")
    assert tiktoken_row["status"] == "ok"
    assert str(tiktoken_row["detail"]).endswith(
        "vocabularies verified (SHA-256): cl100k_base.tiktoken.gz, o200k_base.tiktoken.gz"
    )

    raw = gzip.decompress((DATA_DIR / "o200k_base.tiktoken.gz").read_bytes())
    tampered = raw.replace(b" 0\n", b" 1\n", 1)  # the first token's rank changed
    (tmp_path / "o200k_base.tiktoken.gz").write_bytes(gzip.compress(tampered))
    # cl100k_base.tiktoken.gz is missing

    class Tampered(TiktokenTokenizer):
        def __init__(self) -> None:
            super().__init__(data_dir=tmp_path)

    monkeypatch.setattr(registry, "TiktokenTokenizer", Tampered)
    code, rows, stderr = _list_json()
    assert code == 2
    tiktoken_row = next(row for row in rows if row["name"] == "tiktoken")
    assert tiktoken_row["status"] == "damaged"
    detail = str(tiktoken_row["detail"])
    assert "o200k_base.tiktoken.gz has SHA-256" in detail and "corrupted or was replaced" in detail
    assert "cannot read tokenizer vocabulary" in detail and "cl100k_base.tiktoken.gz" in detail
    assert stderr.startswith("error: tokenizer plugin 'tiktoken': ")
