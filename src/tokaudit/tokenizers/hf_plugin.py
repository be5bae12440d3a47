"""Hugging Face ``tokenizers`` plugin: exact counts for open-weight models from a local file.

Llama, Mistral, Qwen and similar models publish a ``tokenizer.json``. Point tokaudit at
the files you have (it never downloads one) in the config file ``tokaudit.yaml`` (or the
file named by ``TOKAUDIT_CONFIG``)::

    tokenizers:
      hf:
        - models: ["llama-3*", "meta-llama/llama-3*"]   # glob patterns on the model id
          path: tokenizers/llama3/tokenizer.json           # relative to the config file

Install the optional library with ``pip install 'tokaudit[hf]'``. With no config the
plugin covers nothing and stays quiet; with a config but without the library it is
reported as broken (the config asks for something that cannot work).

Plain-text counts are exact (the model's own tokenizer); chat framing is a chat
template this library does not apply, so whole requests are labelled estimates.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .interface import ChatProfile, Tokenizer, TokenizerError

__all__ = ["CONFIG_ENV", "HfEntry", "HfTokenizer", "config_path", "load_hf_config"]

CONFIG_ENV = "TOKAUDIT_CONFIG"
DEFAULT_CONFIG = "tokaudit.yaml"
_PLUGIN_VERSION = "1"


@dataclass(frozen=True)
class HfEntry:
    """One configured tokenizer file and the model-id patterns it covers."""

    models: tuple[str, ...]
    path: Path

    def covers(self, model: str) -> bool:
        bare = model.strip().lower()
        return any(fnmatch.fnmatchcase(bare, pattern.lower()) for pattern in self.models)


def config_path() -> Path | None:
    """``$TOKAUDIT_CONFIG``, else ``./tokaudit.yaml`` when it exists."""
    named = os.environ.get(CONFIG_ENV)
    if named:
        return Path(named)
    default = Path(DEFAULT_CONFIG)
    return default if default.is_file() else None


def load_hf_config(path: Path | None) -> list[HfEntry]:
    """The ``tokenizers.hf`` entries of a config file; errors name the file and entry."""
    if path is None:
        return []
    try:
        document: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TokenizerError(f"cannot read config {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise TokenizerError(f"config {path} is not valid YAML: {exc}") from exc
    section = ((document or {}).get("tokenizers") or {}) if isinstance(document, dict) else {}
    raw = section.get("hf", []) if isinstance(section, dict) else None
    if not isinstance(raw, list):
        raise TokenizerError(f"{path}: tokenizers.hf must be a list of {{models, path}}")
    entries: list[HfEntry] = []
    for index, item in enumerate(raw):
        where = f"{path}: tokenizers.hf[{index}]"
        if not isinstance(item, dict) or set(item) - {"models", "path"}:
            raise TokenizerError(f"{where}: expected exactly the keys 'models' and 'path'")
        models, file = item.get("models"), item.get("path")
        if isinstance(models, str):
            models = [models]
        if not models or not all(isinstance(m, str) and m for m in models):
            raise TokenizerError(f"{where}: 'models' must be a pattern or a list of patterns")
        if not isinstance(file, str) or not file:
            raise TokenizerError(f"{where}: 'path' must name a tokenizer.json file")
        target = Path(file) if Path(file).is_absolute() else path.parent / file
        entries.append(HfEntry(tuple(models), target))
    return entries


class HfTokenizer(Tokenizer):
    """Counts with the ``tokenizer.json`` files named in the config, loaded lazily."""

    name = "hf"

    def __init__(
        self, entries: Sequence[HfEntry] | None = None, config: Path | None = None
    ) -> None:
        """``entries``, else those of ``config``, else of ``config_path()``'s file."""
        if entries is None:
            entries = load_hf_config(config if config is not None else config_path())
        self._entries = list(entries)
        self._loaded: dict[Path, Any] = {}
        digest = hashlib.sha256()
        if self._entries:
            try:
                import tokenizers

                if not hasattr(tokenizers, "Tokenizer"):  # a same-named folder, not the library
                    raise ImportError("tokenizers.Tokenizer")
            except ImportError as exc:
                raise TokenizerError(
                    "tokenizers.hf is configured but the 'tokenizers' library is missing: "
                    "pip install 'tokaudit[hf]'"
                ) from exc
            digest.update(str(getattr(tokenizers, "__version__", "unknown")).encode())
        for entry in self._entries:
            try:
                digest.update(repr(entry.models).encode() + entry.path.read_bytes())
            except OSError as exc:
                raise TokenizerError(f"cannot read tokenizer file {entry.path}: {exc}") from exc
            # loaded now, not at the first count: a file the library cannot read (cut short,
            # not a tokenizer) makes the plugin broken at start, as a missing file does, so
            # `tokenizers list` says so and its models fall back to the labelled estimate
            self._load(entry.path)
        # Counts change with the library, the files or the patterns: all are in the version.
        self.version = f"{_PLUGIN_VERSION}+{digest.hexdigest()[:12]}"

    def _entry(self, model: str) -> HfEntry | None:
        return next((e for e in self._entries if e.covers(model)), None)

    def covers(self, model: str) -> bool:
        return self._entry(model) is not None

    def encoding_for(self, model: str) -> str:
        entry = self._entry(model)
        if entry is None:
            raise TokenizerError(f"no tokenizers.hf entry covers model {model!r}")
        return f"hf:{entry.path.name}:{hashlib.sha256(str(entry.path).encode()).hexdigest()[:8]}"

    def _tokenizer(self, model: str) -> Any:
        entry = self._entry(model)
        if entry is None:
            raise TokenizerError(f"no tokenizers.hf entry covers model {model!r}")
        return self._load(entry.path)

    def _load(self, path: Path) -> Any:
        loaded = self._loaded.get(path)
        if loaded is None:
            from tokenizers import Tokenizer as HfLibTokenizer

            try:
                loaded = HfLibTokenizer.from_file(str(path))
            except Exception as exc:  # the library raises plain Exceptions for bad files
                raise TokenizerError(f"cannot load tokenizer file {path}: {exc}") from exc
            self._loaded[path] = loaded
        return loaded

    def count(self, texts: Sequence[str], model: str) -> list[int]:
        if not texts:
            return []
        tokenizer = self._tokenizer(model)
        encoded = tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(item.ids) for item in encoded]

    def chat_profile(self, model: str) -> ChatProfile:
        return ChatProfile(note="chat template not applied: OpenAI-style framing as a stand-in")

    def models_covered(self) -> list[str]:
        return [f"{', '.join(e.models)} ({e.path})" for e in self._entries]
