"""The tokenizer plugin interface.

A tokenizer plugin recounts the tokens of logged requests offline, so tokaudit can
check what providers billed and price prompts that were never sent. Plugins are found
through the ``tokaudit.tokenizers`` entry-point group (see ``registry.py``); this
module is all a third-party plugin needs to import.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass, field

__all__ = [
    "REPLY_PRIMING_TOKENS",
    "TOKENS_PER_MESSAGE",
    "TOKENS_PER_NAME",
    "ChatMessage",
    "ChatProfile",
    "Tokenizer",
    "TokenizerError",
    "framed_chat_tokens",
    "message_header",
    "normalize_model",
]

# OpenAI chat framing (openai-cookbook "How to count tokens with tiktoken"), valid for
# gpt-3.5-turbo-0613 and later, gpt-4 and gpt-4o: each message costs 3 framing tokens on
# top of its role and content, and priming the assistant's reply costs 3. A name joins the
# role in the message header as ``role:name``, counted as one text: the cookbook's "a name
# costs 1 more" is the colon, which the tokenizer merges into some names (``user:user`` is
# ``user`` + ``:user``; ``user:primary`` is ``user`` + ``:`` + ``primary``). 12 recorded
# gpt-4o, gpt-4o-mini and gpt-4.1-nano requests agree only that way (docs/recount.md).
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 0  # fixed tokens a name costs besides the ``role:name`` text
REPLY_PRIMING_TOKENS = 3


def message_header(role: str, name: str | None) -> str:
    """The text a message's role (and name) is counted as under the OpenAI framing."""
    return f"{role}:{name}" if name else role


class TokenizerError(Exception):
    """Base error for tokenizer plugins.

    The CLI maps it to an input/config error, so messages must name the file or model
    involved and say what to do about it.
    """


@dataclass(frozen=True)
class ChatMessage:
    """One plain-text chat message as sent to a provider.

    Only text is modelled: images, audio and tool schemas add provider-specific tokens
    that no offline tokenizer can reproduce, so callers must not pass them here.
    """

    role: str
    content: str
    name: str | None = None


@dataclass(frozen=True)
class ChatProfile:
    """How a model's requests are framed around the text a tokenizer counts.

    The recount (``tokaudit.recount``) owns the request shapes of each provider; a plugin
    only says which framing its models use and how sure it is. ``framing`` is
    ``"openai"`` (ChatML-style: ``tokens_per_message`` per message, the header's tokens,
    ``role`` or ``role:name``, plus ``tokens_per_name`` for a name, ``reply_priming`` once
    per request) or ``"plain"``
    (message texts only: Gemini counts no framing). ``exact`` says the framing was
    checked against provider-reported usage for this model family; ``reply_exact`` that the
    reply's count was too (recorded replies can contradict it while the prompt framing
    holds); ``reasoning`` says output includes hidden reasoning, so an output recount can
    only be a lower bound.
    ``tools_overhead`` is what a tools block costs besides its rendered text (5 on GPT-4o,
    whose tool prompt is "# Tools ## functions"; more where the tool prompt says more).
    Image costs follow the provider's documented formulas: a tile model has
    ``image_base`` + ``image_tile`` per 512-px tile (low detail: base only); a patch
    model has ``image_patch_multiplier`` × 32-px patches (at most 1,536 patches).
    """

    framing: str = "openai"
    exact: bool = False
    reply_exact: bool = True
    tokens_per_message: int = 3
    tokens_per_name: int = TOKENS_PER_NAME
    reply_priming: int = 3
    reasoning: bool = False
    image_base: int | None = None
    image_tile: int | None = None
    image_patch_multiplier: float | None = None
    # tokens a tools block costs besides its text ("# Tools ## functions" on GPT-4o; more on
    # GPT-5, whose tool prompt says more)
    tools_overhead: int = 5
    # tokens an assistant message of the history costs besides its framing (2 on GPT-5.4:
    # the harmony format marks its channel); a nonzero value makes such requests estimates
    assistant_overhead: int = 0
    note: str = field(default="", compare=False)
    # Fields below are keyword-only: a plugin that builds a profile positionally, up to
    # ``note``, keeps building the same one as fields are added.
    _: KW_ONLY
    # tokens a tool call and a tool result message of the history each cost besides their
    # framing (3 on GPT-5: harmony marks both with the commentary channel); estimates
    tool_call_overhead: int = 0
    tool_result_overhead: int = 0
    # a json_schema response format costs this many tokens less than on GPT-4o (1 on GPT-5),
    # and each assistant answer of the history this many more in a request with one (4 on
    # GPT-5.4); estimates
    schema_format_less: int = 0
    schema_answer_overhead: int = 0
    # the system message that tools or a response format bring into a request without one
    # (``TOOLS_SYSTEM_MESSAGE``, the format's ``alone`` tokens) costs this many less (3 on
    # GPT-5, where the request's own system text needs an ``# Instructions`` heading beside
    # them instead); an estimate
    added_message_less: int = 0
    # spaces a nested object's lines are indented by in a tool definition (0, as on o200k
    # models; 2 on cl100k ones: docs/recount.md)
    nested_indent: int = 0
    # tool definitions drawn as the June 2023 snapshots (gpt-4-0613, gpt-3.5-turbo-0613)
    # bill them: no property titles, and an object whose properties carry no comment one
    # property a line, not on one line (docs/recount.md)
    legacy_functions: bool = False

    @property
    def key(self) -> str:
        """A short digest of every field that changes counts (stored recounts use it)."""
        fields = (
            self.framing,
            self.exact,
            self.reply_exact,
            self.tokens_per_message,
            self.tokens_per_name,
            self.reply_priming,
            self.reasoning,
            self.image_base,
            self.image_tile,
            self.image_patch_multiplier,
            self.tools_overhead,
            self.assistant_overhead,
            self.tool_call_overhead,
            self.tool_result_overhead,
            self.schema_format_less,
            self.schema_answer_overhead,
            self.added_message_less,
            self.nested_indent,
            self.legacy_functions,
        )
        return hashlib.sha256(repr(fields).encode()).hexdigest()[:12]


def normalize_model(model: str) -> str:
    """Reduce a logged model id to the bare, lowercase id that tokenizer rules match.

    Logs carry routing decoration around the real id: provider prefixes
    (``openai/gpt-4o``, ``openrouter/openai/gpt-4o``) and fine-tune wrappers
    (``ft:gpt-4o-mini-2024-07-18:org::id``). Counting depends only on the base model.
    """
    bare = model.strip().lower().rsplit("/", 1)[-1]
    if bare.startswith("ft:"):
        bare = bare[3:].split(":", 1)[0]
    return bare


def framed_chat_tokens(
    messages: Sequence[ChatMessage],
    count: Callable[[Sequence[str]], list[int]],
    reply_priming: int = REPLY_PRIMING_TOKENS,
    tokens_per_name: int = TOKENS_PER_NAME,
    tokens_per_message: int = TOKENS_PER_MESSAGE,
    assistant_overhead: int = 0,
) -> int:
    """Prompt tokens of a chat request under the OpenAI chat framing.

    ``count`` turns texts into token counts with the model's encoding; it is passed in
    so every plugin (and the estimator) shares this one definition of the framing.
    """
    texts: list[str] = []
    names = 0
    for message in messages:
        texts.append(message_header(message.role, message.name))
        texts.append(message.content)
        if message.name:
            names += 1
    return (
        sum(count(texts))
        + tokens_per_message * len(messages)
        + tokens_per_name * names
        + assistant_overhead * sum(1 for m in messages if m.role == "assistant")
        + reply_priming
    )


class Tokenizer(ABC):
    """A token counter for one family of models.

    Attributes:
        name: stable plugin id, stored next to every recount (e.g. ``"tiktoken"``).
        version: changes whenever counts could change (library, vocabulary or model
            rules), so stored recounts can be invalidated instead of silently mixed.
    """

    name: str
    version: str

    @abstractmethod
    def covers(self, model: str) -> bool:
        """Whether this plugin knows ``model``'s tokenizer (any id ``normalize_model`` accepts)."""

    @abstractmethod
    def encoding_for(self, model: str) -> str:
        """Name of the encoding used for ``model``; raises TokenizerError if not covered."""

    @abstractmethod
    def count(self, texts: Sequence[str], model: str) -> list[int]:
        """Token count of each plain text, in order.

        Special-token text in logs (``<|endoftext|>``) is counted as ordinary text:
        a log is data, and one odd string must never abort an audit. A text this cannot
        count may raise: the recount then counts that text (only) with the estimate,
        labelled ``NAME+estimate-o200k`` and never stored as this plugin's count.
        """

    def exact_for(self, model: str) -> bool:
        """Whether ``count`` reproduces the provider's own tokenizer for ``model``.

        Reports label non-exact counts as estimates; estimators override this to False.
        """
        return self.covers(model)

    def splits_at_spaces(self, model: str) -> bool:
        """Whether, for ``model``, a text's count is the sum of its pieces' counts when it is
        cut before a space (U+0020) that follows a printable ASCII character (``!`` to ``~``).

        True lets the recount cut long texts there in SQL and count each distinct piece once
        (``tokaudit.recount.pieces``): prose repeats its words, so that is far less work. It
        holds for tokenizers that split text into pre-tokens before encoding, never encode
        across two pre-tokens, and start a new pre-token at such a space (tiktoken's GPT
        encodings). The default, False, makes no such claim: texts are counted whole.
        """
        return False

    def count_chat(self, messages: Sequence[ChatMessage], model: str) -> tuple[int, bool]:
        """Prompt tokens of a chat request, including framing, and whether that is exact.

        The default frames this plugin's counts the way its ``chat_profile`` says (the
        recount does the same), so the two never disagree: ``plain`` counts the message
        texts only, ``openai`` adds its per-message, name and priming tokens. It says it is
        an estimate; plugins that checked their provider's framing override it.
        """
        profile = self.chat_profile(model)
        if profile.framing == "plain":
            return sum(self.count([m.content for m in messages], model)), False
        tokens = framed_chat_tokens(
            messages,
            lambda texts: self.count(texts, model),
            profile.reply_priming,
            profile.tokens_per_name,
            profile.tokens_per_message,
            profile.assistant_overhead,
        )
        return tokens, False

    def chat_profile(self, model: str) -> ChatProfile:
        """The framing the recount applies around this plugin's counts for ``model``.

        The default is the OpenAI chat framing, labelled an estimate: right for models
        served through OpenAI-compatible APIs, never claimed to be exact.
        """
        return ChatProfile()

    def models_covered(self) -> list[str]:
        """Human-readable patterns of the model ids this plugin covers (for listings)."""
        return []
