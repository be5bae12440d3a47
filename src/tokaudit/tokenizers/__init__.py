"""Offline token counting: the plugin interface, the built-in tiktoken plugin, discovery.

Typical use::

    registry = load_tokenizers()
    tokenizer = registry.for_model("gpt-4o-mini") or EstimateTokenizer()
    tokens, exact = tokenizer.count_chat([ChatMessage("user", "Hi")], "gpt-4o-mini")
"""

from .estimate import EstimateTokenizer
from .hf_plugin import HfTokenizer
from .interface import ChatMessage, ChatProfile, Tokenizer, TokenizerError, normalize_model
from .registry import ENTRY_POINT_GROUP, PluginInfo, Registry, describe, load_tokenizers
from .tiktoken_plugin import TiktokenTokenizer

__all__ = [
    "ENTRY_POINT_GROUP",
    "ChatMessage",
    "ChatProfile",
    "EstimateTokenizer",
    "HfTokenizer",
    "PluginInfo",
    "Registry",
    "TiktokenTokenizer",
    "Tokenizer",
    "TokenizerError",
    "describe",
    "load_tokenizers",
    "normalize_model",
]
