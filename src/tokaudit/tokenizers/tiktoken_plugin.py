"""Built-in tokenizer for OpenAI models: tiktoken with vocabularies shipped in the package.

``tiktoken.get_encoding`` downloads its rank files on first use; audit machines and CI
runners are often offline, so the two vocabularies tokaudit needs ship gzipped in
``data/`` and are checked against the SHA-256 tiktoken itself pins before use.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import re
import threading
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

import tiktoken
import yaml

# tiktoken_ext ships no type information; only its string constants are used.
from tiktoken_ext.openai_public import (  # type: ignore[import-untyped]
    ENDOFPROMPT,
    ENDOFTEXT,
    FIM_MIDDLE,
    FIM_PREFIX,
    FIM_SUFFIX,
)

from .interface import (
    ChatMessage,
    ChatProfile,
    Tokenizer,
    TokenizerError,
    normalize_model,
)

__all__ = [
    "DATA_DIR",
    "ENCODING_SPECS",
    "SPACE_SPLIT_PATTERNS",
    "EncodingSpec",
    "ModelRule",
    "TiktokenTokenizer",
    "count_texts",
    "load_encoding",
    "load_mergeable_ranks",
    "load_model_rules",
]

# Bump when this module changes how counts are made; tiktoken's version and a digest of
# the model rules are appended automatically (see TiktokenTokenizer.version).
_PLUGIN_VERSION = "2"

DATA_DIR: Traversable = files("tokaudit.tokenizers") / "data"
_RULES_FILE = "model_encodings.yaml"

# tiktoken_ext.openai_public builds these patterns inside functions that also download
# the vocabulary, so the text is copied here (tiktoken 0.14); a test checks it still
# matches what those functions return.
_CL100K_PAT_STR = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_O200K_PAT_STR = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)


# Patterns whose pre-tokens hold a space only at their start or inside a run of whitespace
# (every alternative but the whitespace ones takes at most one leading space or other
# non-letter), so a space after a non-whitespace character always starts a pre-token.
# tiktoken never encodes across pre-tokens: cutting a text there changes no count.
SPACE_SPLIT_PATTERNS = frozenset({_O200K_PAT_STR, _CL100K_PAT_STR})


@dataclass(frozen=True)
class EncodingSpec:
    """Everything needed to build one encoding offline.

    ``sha256`` is of the *uncompressed* rank file, the same value tiktoken pins as
    ``expected_hash``, so the check proves the vocabulary is upstream's.
    """

    name: str
    filename: str
    sha256: str
    pat_str: str
    special_tokens: Mapping[str, int] = field(default_factory=dict)


_O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
# o200k_harmony (gpt-oss) is o200k_base's vocabulary and pattern plus the harmony chat
# special tokens, exactly as tiktoken_ext.openai_public.o200k_harmony builds it, so it
# needs no file of its own. Ordinary text counts the same under both.
_HARMONY_SPECIALS: dict[str, int] = {
    ENDOFTEXT: 199999,
    ENDOFPROMPT: 200018,
    "<|startoftext|>": 199998,
    "<|reserved_200000|>": 200000,
    "<|reserved_200001|>": 200001,
    "<|return|>": 200002,
    "<|constrain|>": 200003,
    "<|reserved_200004|>": 200004,
    "<|channel|>": 200005,
    "<|start|>": 200006,
    "<|end|>": 200007,
    "<|message|>": 200008,
    "<|reserved_200009|>": 200009,
    "<|reserved_200010|>": 200010,
    "<|reserved_200011|>": 200011,
    "<|call|>": 200012,
} | {f"<|reserved_{i}|>": i for i in range(200013, 201088)}

ENCODING_SPECS: Mapping[str, EncodingSpec] = {
    "o200k_base": EncodingSpec(
        name="o200k_base",
        filename="o200k_base.tiktoken.gz",
        sha256=_O200K_SHA256,
        pat_str=_O200K_PAT_STR,
        special_tokens={ENDOFTEXT: 199999, ENDOFPROMPT: 200018},
    ),
    "o200k_harmony": EncodingSpec(
        name="o200k_harmony",
        filename="o200k_base.tiktoken.gz",
        sha256=_O200K_SHA256,
        pat_str=_O200K_PAT_STR,
        special_tokens=_HARMONY_SPECIALS,
    ),
    "cl100k_base": EncodingSpec(
        name="cl100k_base",
        filename="cl100k_base.tiktoken.gz",
        sha256="223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        pat_str=_CL100K_PAT_STR,
        special_tokens={
            ENDOFTEXT: 100257,
            FIM_PREFIX: 100258,
            FIM_MIDDLE: 100259,
            FIM_SUFFIX: 100260,
            ENDOFPROMPT: 100276,
        },
    ),
}


def load_mergeable_ranks(source: Traversable, expected_sha256: str) -> dict[bytes, int]:
    """Read a gzipped ``.tiktoken`` rank file and verify it before trusting it.

    The hash is checked on the uncompressed bytes so it can be compared with tiktoken's
    own pinned value; a mismatch means a corrupted or substituted vocabulary, which
    would silently skew every count.
    """
    raw = _verified_bytes(source, expected_sha256)
    ranks: dict[bytes, int] = {}
    for lineno, line in enumerate(raw.splitlines(), start=1):
        if not line:
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token, validate=True)] = int(rank)
        except (ValueError, binascii.Error) as exc:
            raise TokenizerError(
                f"tokenizer vocabulary {source} line {lineno} is not '<base64> <rank>': {exc}"
            ) from exc
    return ranks


def _verified_bytes(source: Traversable, expected_sha256: str) -> bytes:
    """The uncompressed bytes of a ``.tiktoken.gz`` file whose SHA-256 is the expected one."""
    try:
        raw = gzip.decompress(source.read_bytes())
    except (OSError, EOFError, zlib.error) as exc:  # zlib.error: damaged compressed data
        raise TokenizerError(
            f"cannot read tokenizer vocabulary {source}: {exc}; reinstall tokaudit"
        ) from exc
    actual = hashlib.sha256(raw).hexdigest()
    if actual != expected_sha256:
        raise TokenizerError(
            f"tokenizer vocabulary {source} has SHA-256 {actual}, expected {expected_sha256}; "
            "the file is corrupted or was replaced, reinstall tokaudit"
        )
    return raw


_encodings: dict[tuple[str, str, str], tiktoken.Encoding] = {}
_encodings_lock = threading.Lock()


def load_encoding(spec: EncodingSpec, data_dir: Traversable = DATA_DIR) -> tiktoken.Encoding:
    """Build (once per process) the encoding described by ``spec`` from ``data_dir``.

    Building o200k_base takes about a second, and several tokenizer instances (the
    plugin, the estimator) use the same vocabulary, so results are cached at module
    level, keyed by file and expected hash.
    """
    source = data_dir / spec.filename
    key = (str(source), spec.name, spec.sha256)
    with _encodings_lock:
        encoding = _encodings.get(key)
        if encoding is None:
            encoding = tiktoken.Encoding(
                name=spec.name,
                pat_str=spec.pat_str,
                mergeable_ranks=load_mergeable_ranks(source, spec.sha256),
                special_tokens=dict(spec.special_tokens),
            )
            _encodings[key] = encoding
        return encoding


# tiktoken's pre-tokenizer (fancy-regex) overflows its stack on a run of about a million
# spaces or tabs and aborts with a Rust panic; such a text is refused well before that.
LONGEST_BLANK_RUN = 250_000
_BLANK_RUN = re.compile(rf"[^\S\r\n]{{{LONGEST_BLANK_RUN},}}")
# An estimate cuts such a run into chunks this long and counts them apart: a multiple of
# the longest run of spaces (128) and of tabs (16) that o200k_base and cl100k_base have
# one token for, so a chunk ends where a token would.
BLANK_RUN_CHUNK = 65_536


def count_texts(
    encoding: tiktoken.Encoding, texts: Sequence[str], *, cut_blank_runs: bool = False
) -> list[int]:
    """Token count of each text, treating special-token text as ordinary text.

    One text at a time, in this thread: the recount runs its parallelism in worker
    processes (``recount/pool.py``), so ``encode_ordinary_batch``'s threads would only
    compete with them. A text holding a run of ``LONGEST_BLANK_RUN`` or more spaces or tabs
    raises TokenizerError (the recount then counts it with the estimate), unless
    ``cut_blank_runs``: then each such run is cut into chunks of ``BLANK_RUN_CHUNK`` and the
    text's parts are counted apart, which may be a token or two off per cut (an estimate).
    """
    encode = encoding.encode_ordinary
    counts = []
    for text in texts:
        if len(text) >= LONGEST_BLANK_RUN and (run := _BLANK_RUN.search(text)):
            if not cut_blank_runs:
                raise TokenizerError(
                    f"a run of {len(run.group()):,} spaces or tabs: tiktoken cannot split runs "
                    f"that long (its pre-tokenizer overflows), so it does not count the text"
                )
            counts.append(sum(len(encode(part)) for part in _cut_blank_runs(text)))
            continue
        counts.append(len(encode(text)))
    return counts


def _cut_blank_runs(text: str) -> Iterator[str]:
    """``text`` in parts, each run of ``LONGEST_BLANK_RUN`` blanks or more cut into chunks."""
    start = 0
    for run in _BLANK_RUN.finditer(text):
        if run.start() > start:
            yield text[start : run.start()]
        for chunk in range(run.start(), run.end(), BLANK_RUN_CHUNK):
            yield text[chunk : min(chunk + BLANK_RUN_CHUNK, run.end())]
        start = run.end()
    if start < len(text):
        yield text[start:]


# libyaml's safe loader when present (the rules file is read by every tokenizer instance)
_YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class ModelRule:
    """One line of ``model_encodings.yaml``: which ids it matches and what they use."""

    pattern: str
    is_prefix: bool
    encoding: str
    chat_exact: bool = False
    reply_exact: bool = True
    reply_priming: int = 3
    reasoning: bool = False
    image: Mapping[str, float] = field(default_factory=dict)
    framing: str = "openai"  # or "plain": message texts only, no per-message tokens
    tools_overhead: int = 5  # see ChatProfile
    assistant_overhead: int = 0  # see ChatProfile
    tool_call_overhead: int = 0  # see ChatProfile
    tool_result_overhead: int = 0  # see ChatProfile
    schema_format_less: int = 0  # see ChatProfile
    schema_answer_overhead: int = 0  # see ChatProfile
    added_message_less: int = 0  # see ChatProfile
    tokens_per_message: int = 3  # see ChatProfile (gpt-3.5-turbo-0301: 4)
    legacy_functions: bool = False  # see ChatProfile (the 0613 snapshots)

    @property
    def label(self) -> str:
        return f"{self.pattern}*" if self.is_prefix else self.pattern

    def profile(self) -> ChatProfile:
        """The chat framing of this family, with its verified-or-not flag."""
        return ChatProfile(
            framing=self.framing,
            **{name: getattr(self, name) for name in _COUNT_FIELDS},
            # hmarr's indented nested objects were checked on gpt-3.5 (cl100k); o200k
            # requests agree only with them flush (docs/recount.md)
            nested_indent=2 if self.encoding == "cl100k_base" else 0,
            legacy_functions=self.legacy_functions,
            exact=self.chat_exact,
            reply_exact=self.reply_exact,
            reasoning=self.reasoning,
            image_base=int(self.image["base"]) if "base" in self.image else None,
            image_tile=int(self.image["tile"]) if "tile" in self.image else None,
            image_patch_multiplier=self.image.get("patch"),
        )

    def matches(self, model: str) -> bool:
        """Match against an already normalised id."""
        return model.startswith(self.pattern) if self.is_prefix else model == self.pattern


# ModelRule's whole-number fields (each >= 0), read from the rules file under the same
# names and handed on to ChatProfile unchanged
_COUNT_FIELDS = (
    "reply_priming",
    "tools_overhead",
    "assistant_overhead",
    "tool_call_overhead",
    "tool_result_overhead",
    "schema_format_less",
    "schema_answer_overhead",
    "added_message_less",
    "tokens_per_message",
)
_COUNT_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in fields(ModelRule) if f.name in _COUNT_FIELDS
}


def load_model_rules(text: str, origin: str, encodings: Sequence[str]) -> list[ModelRule]:
    """Parse and validate the model rules, naming ``origin`` and the rule in every error.

    The rules are data so that supporting a new model id is a reviewed one-line change,
    not code; validating eagerly turns a typo into a clear start-up error instead of a
    model silently falling back to an estimate.
    """
    try:
        document = yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        raise TokenizerError(f"{origin} is not valid YAML: {exc}") from exc
    raw_rules = document.get("rules") if isinstance(document, dict) else None
    if not isinstance(raw_rules, list):
        raise TokenizerError(f"{origin}: expected a top-level 'rules:' list")
    rules: list[ModelRule] = []
    for index, raw in enumerate(raw_rules):
        where = f"{origin}: rules[{index}]"
        if not isinstance(raw, dict):
            raise TokenizerError(f"{where}: expected a mapping, got {raw!r}")
        unknown = set(raw) - {
            "exact",
            "prefix",
            "encoding",
            "chat_exact",
            "reply_exact",
            "reasoning",
            "image",
            "framing",
            "legacy_functions",
            *_COUNT_FIELDS,
        }
        if unknown:
            raise TokenizerError(f"{where}: unknown keys {sorted(unknown)}")
        kinds = [key for key in ("exact", "prefix") if key in raw]
        if len(kinds) != 1 or not isinstance(raw[kinds[0]], str) or not raw[kinds[0]]:
            raise TokenizerError(f"{where}: needs exactly one of 'exact' or 'prefix' (a string)")
        encoding = raw.get("encoding")
        if not isinstance(encoding, str) or encoding not in encodings:
            raise TokenizerError(
                f"{where}: encoding {encoding!r} is not one of {sorted(encodings)}"
            )
        chat_exact = raw.get("chat_exact", False)
        reply_exact = raw.get("reply_exact", True)
        reasoning = raw.get("reasoning", False)
        legacy = raw.get("legacy_functions", False)
        if not all(isinstance(v, bool) for v in (chat_exact, reply_exact, reasoning, legacy)):
            raise TokenizerError(
                f"{where}: chat_exact, reply_exact, reasoning and legacy_functions must be "
                "true or false"
            )
        numbers = {key: raw.get(key, default) for key, default in _COUNT_DEFAULTS.items()}
        for key, number in numbers.items():
            if not isinstance(number, int) or isinstance(number, bool) or number < 0:
                raise TokenizerError(f"{where}: {key} must be a whole number >= 0")
        framing = raw.get("framing", "openai")
        if framing not in ("openai", "plain"):
            raise TokenizerError(f"{where}: framing must be 'openai' or 'plain'")
        image = raw.get("image", {})
        if (
            not isinstance(image, dict)
            or set(image) - {"base", "tile", "patch"}
            or not all(
                isinstance(v, int | float) and not isinstance(v, bool) and v > 0
                for v in image.values()
            )
            or (image and ("patch" in image) == ("base" in image or "tile" in image))
            or (("base" in image) != ("tile" in image))
        ):
            raise TokenizerError(
                f"{where}: image must be {{base: N, tile: N}} or {{patch: multiplier}}"
            )
        rules.append(
            ModelRule(
                pattern=raw[kinds[0]].lower(),
                is_prefix=kinds[0] == "prefix",
                encoding=encoding,
                chat_exact=chat_exact,
                reply_exact=reply_exact,
                reasoning=reasoning,
                image={k: float(v) for k, v in image.items()},
                framing=framing,
                legacy_functions=legacy,
                **numbers,
            )
        )
    return rules


class TiktokenTokenizer(Tokenizer):
    """Exact token counts for OpenAI models, fully offline.

    The constructor arguments exist so tests (and air-gapped users with their own
    verified copies) can point at other files; the registry uses the defaults.
    Encodings are built lazily, on the first count that needs them.
    """

    name = "tiktoken"

    def __init__(
        self,
        *,
        data_dir: Traversable = DATA_DIR,
        specs: Mapping[str, EncodingSpec] = ENCODING_SPECS,
        rules_file: Traversable | None = None,
    ) -> None:
        self._data_dir = data_dir
        self._specs = specs
        rules_source = rules_file if rules_file is not None else DATA_DIR / _RULES_FILE
        try:
            rules_text = rules_source.read_text(encoding="utf-8")
        except OSError as exc:
            raise TokenizerError(f"cannot read model rules {rules_source}: {exc}") from exc
        self._rules = load_model_rules(rules_text, str(rules_source), list(specs))
        rules_digest = hashlib.sha256(rules_text.encode("utf-8")).hexdigest()[:12]
        self.version = f"{_PLUGIN_VERSION}+tiktoken-{tiktoken.__version__}+rules-{rules_digest}"

    def _rule_for(self, model: str) -> ModelRule | None:
        bare = normalize_model(model)
        return next((rule for rule in self._rules if rule.matches(bare)), None)

    def _require_rule(self, model: str) -> ModelRule:
        rule = self._rule_for(model)
        if rule is None:
            raise TokenizerError(
                f"tokenizer {self.name!r} does not know model {model!r}; "
                "check covers() first or add a rule to data/model_encodings.yaml"
            )
        return rule

    def covers(self, model: str) -> bool:
        return self._rule_for(model) is not None

    def encoding_for(self, model: str) -> str:
        return self._require_rule(model).encoding

    def get_encoding(self, encoding_name: str) -> tiktoken.Encoding:
        """The tiktoken encoding by name, built from this tokenizer's verified files."""
        spec = self._specs.get(encoding_name)
        if spec is None:
            raise TokenizerError(
                f"unknown encoding {encoding_name!r}; available: {sorted(self._specs)}"
            )
        return load_encoding(spec, self._data_dir)

    def count(self, texts: Sequence[str], model: str) -> list[int]:
        return count_texts(self.get_encoding(self.encoding_for(model)), texts)

    def vocabulary_problems(self) -> list[str]:
        """Each vocabulary file this tokenizer reads checked as loading checks it (present,
        readable, the SHA-256 tiktoken pins), without building an encoding: what is wrong
        with them, empty when all are sound (``tokenizers list``; about 0.1 s)."""
        problems = []
        files = {spec.filename: spec.sha256 for spec in self._specs.values()}
        for filename, sha256 in files.items():
            try:
                _verified_bytes(self._data_dir / filename, sha256)
            except TokenizerError as exc:
                problems.append(str(exc))
        return problems

    def vocabularies(self) -> list[str]:
        """The vocabulary files this tokenizer reads, by name."""
        return sorted({spec.filename for spec in self._specs.values()})

    def splits_at_spaces(self, model: str) -> bool:
        spec = self._specs.get(self.encoding_for(model))
        return spec is not None and spec.pat_str in SPACE_SPLIT_PATTERNS

    def count_chat(self, messages: Sequence[ChatMessage], model: str) -> tuple[int, bool]:
        """Chat prompt tokens with the OpenAI framing; exact where the rule says it is.

        Only plain-text messages are counted here; whole requests (tools, images,
        response formats) go through ``tokaudit.recount.count_request``.
        """
        rule = self._require_rule(model)
        tokens, _ = super().count_chat(messages, model)  # framed as the rule's profile says
        # an assistant turn's extra tokens on GPT-5 are read off two recorded chats only
        history = (
            rule.framing == "openai"
            and rule.assistant_overhead > 0
            and any(m.role == "assistant" for m in messages)
        )
        return tokens, rule.chat_exact and not history

    def chat_profile(self, model: str) -> ChatProfile:
        return self._require_rule(model).profile()

    def models_covered(self) -> list[str]:
        return [f"{rule.label} ({rule.encoding})" for rule in self._rules]
