"""A clearly labelled estimate for models no tokenizer plugin covers (Claude, Gemini, ...).

Their tokenizers are not public, so no offline count can be exact. o200k_base is a
reasonable modern-vocabulary proxy; every result says ``exact=False`` and the name
says what was used, so an estimate is never mistaken for a recount. The estimator is
deliberately not a registered plugin: ``Registry.for_model`` returns None for such
models and callers decide whether an estimate is acceptable. The recount also uses it
for the texts a model's own plugin fails to count (``recount/pool.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import tiktoken

from .interface import ChatProfile, Tokenizer, normalize_model
from .tiktoken_plugin import ENCODING_SPECS, SPACE_SPLIT_PATTERNS, count_texts, load_encoding

__all__ = ["EstimateTokenizer"]

_ENCODING = "o200k_base"


class EstimateTokenizer(Tokenizer):
    """Counts any model's text with o200k_base and always reports it as an estimate."""

    name = "estimate-o200k"

    def __init__(self) -> None:
        self.version = f"1+tiktoken-{tiktoken.__version__}"

    def covers(self, model: str) -> bool:
        """Any model can be estimated; this is not a claim to know its tokenizer."""
        return True

    def encoding_for(self, model: str) -> str:
        return _ENCODING

    def exact_for(self, model: str) -> bool:
        return False

    def count(self, texts: Sequence[str], model: str) -> list[int]:
        """o200k_base counts; a run of blanks too long for tiktoken is cut and counted in
        chunks (``count_texts``) rather than refused: this is an estimate anyway, and the
        recount's fallback for texts a plugin fails on."""
        return count_texts(load_encoding(ENCODING_SPECS[_ENCODING]), texts, cut_blank_runs=True)

    def splits_at_spaces(self, model: str) -> bool:
        return ENCODING_SPECS[_ENCODING].pat_str in SPACE_SPLIT_PATTERNS

    def chat_profile(self, model: str) -> ChatProfile:
        """Gemini's promptTokenCount has no per-message framing; others get OpenAI's."""
        if "gemini" in normalize_model(model):
            return ChatProfile(framing="plain", note="Gemini counts message text only")
        return ChatProfile(note="OpenAI-style framing as a stand-in")

    def models_covered(self) -> list[str]:
        return ["any model no plugin covers (estimate)"]
