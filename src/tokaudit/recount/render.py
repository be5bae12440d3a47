"""What a provider bills around the text of one request part, as texts plus fixed tokens.

A request is split (in SQL, ``units.py``) into units: each message, the system prompt,
the tool definitions, the response format, the reply. This module turns one unit into
the texts a tokenizer must count and the fixed tokens added around them, and says
whether that accounting is exact. Texts are kept apart (never concatenated) because
the provider tokenizes them apart.

OpenAI chat framing (openai-cookbook, "How to count tokens with tiktoken"): every
message costs 3 tokens plus its header (its role, or ``role:name`` counted as one text)
and content, and the reply is primed with 3 (2 on the reasoning families). Tool definitions
are rendered the way OpenAI renders them for the model, a TypeScript-like ``namespace
functions`` block (hmarr/openai-chat-tokens, "Counting OpenAI tokens", 2023; the OpenAI
cookbook's harmony guide), which reproduces reported usage exactly for plain schemas.
Tool calls, tool results, strict schemas, titles, defaults and response formats are
counted with the same rendering but labelled estimates: their rendering is read off
recorded requests (tests/fixtures/realworld/openai/) and is some tokens off on some
(docs/recount.md lists which).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tokaudit.recount import images
from tokaudit.tokenizers import ChatProfile
from tokaudit.tokenizers.interface import message_header

__all__ = ["ACCOUNTING_VERSION", "Rendered", "render_unit"]

# Part of every stored count's key: change it whenever a rule here changes a count, so
# stores recount instead of keeping counts made under the old rules.
ACCOUNTING_VERSION = "39"

# An object whose properties carry no comment (no title, description or default, at any
# depth) is drawn on one line, as TypeScript writes a type literal: ``{ a: string, b?:
# number }``, not one property a line with a trailing comma (hmarr's layout, which the June
# 2023 snapshots keep: ``ChatProfile.legacy_functions``). Against hmarr's layout that is 1
# token less for plain types (the ``,\n`` before the closing brace merges away), which the
# recorded tool lists of that kind had shown as a fixed -1 (strict or not, o200k and cl100k);
# drawn so, 6 req_llm requests whose comment-less function ends in an enum (``"fahrenheit"
# })``: nothing merges) and a cl100k function of four properties (2 less) agree too.
# forcing one function: 6 and ``functions.NAME`` as one text (the name merges with the dot
# as in a call's ``to=functions.NAME``): 2 recorded requests whose name splits after the
# dot (``.V ision Output``, ``.f our _digit``) were 1 under with the name counted alone
NAMED_TOOL_CHOICE = 6
TOOLS_SYSTEM_MESSAGE = 4  # the system message a tools block brings into a request without one
# The June 2023 snapshots (gpt-4-0613, gpt-3.5-turbo-0613; ``ChatProfile.legacy_functions``)
# draw tool definitions as hmarr/openai-chat-tokens, checked on them in 2023, does: no
# property titles, and comment-less objects one property a line, not on one line. 6
# recorded requests of three projects (LangChainGo, LangChain.js, req_llm) agree only so;
# gpt-4-1106, gpt-3.5-0125 and every later model bill titles (docs/recount.md).
# A tool result's author, ``functions.NAME``: the name is billed as its own text, not merged
# with the dot before it (``.cal culator`` is 2 tokens, ``calculator`` 1), plus 1 fixed
# token (where the dot merges, as in ``.weather``, the same as the merged text). 9 recorded
# single results of functions whose name splits after the dot (calculator, joker, research,
# 0) were 1 over with the merged text; 8 agree so, the ninth (a gpt-3.5-turbo-0613
# request) is 1 under, as its first turn is without any tool result.
TOOL_RESULT_AUTHOR = 1
# The assistant turn right after the result of a single tool call (the reply, or a
# logged assistant message) costs 2 more: 4 recorded requests, none against.
LAST_TOOL_RESULT = 2
# ... and a user message right after it 2 more. Fitted with the compact arguments below
# (``_compact_json``): 11 recorded requests from crewAI, LangChain and magentic agree (one
# of them only with ``TOOL_RESULT_AUTHOR``)
USER_AFTER_TOOL_RESULT = 2
# The one message that carries the results of parallel calls costs 1 more; read off 13
# recorded gpt-4o, gpt-4o-mini and gpt-4.1-nano requests that agree (``_parallel_result``)
PARALLEL_RESULTS = 1
TOOL_OUTPUT = 1  # a reply to a request with tools costs 1 more output token
# response_format json_schema: "# Response Formats ## NAME", the format's description as
# a comment, the schema as compact JSON (the layout of the harmony guide, OpenAI cookbook
# "OpenAI harmony response format", "Structured output") without the keywords that only
# constrain the output (``SCHEMA_CONSTRAINTS``), the name once more on its own, and 3 more
# in a request's own system message; 6 in a request with neither a system message nor
# tools (the message the format brings); 1 less after a tools block, system message or not.
# Read off 52 recorded requests: 48 agree with it and the rules in ``_response_format``
# (the system text's end merged with the blank line, a description of several lines);
# one sublayer schema is billed far below it. An estimate.
# On GPT-5 the format costs ``ChatProfile.schema_format_less`` less and each assistant
# answer of the history ``schema_answer_overhead`` more (docs/recount.md).
SCHEMA_FORMAT = {"": 3, "alone": 6, "tools": -1}
# A response format's ctx in a request with its own system message: this marker and the
# end of that message's text (units.py, ``_text_end``), to which the format
# is joined after a blank line
SYSTEM_END, BLANK_LINE = "end:", "\n\n"
# ... and before it the number of assistant answers (messages without tool calls) in the
# request's history and this marker, where there are any (``ChatProfile.schema_answer_overhead``)
ANSWERS = "a#"
# dropped at every level: additionalProperties, required and $schema (openai-cookbook issue
# 2140: the billed schema is the JSON without them), and the range and size bounds
# (2 recorded schemas, with min/max and maxItems, agree only without them)
SCHEMA_CONSTRAINTS = frozenset(
    {"additionalProperties", "required", "$schema", "minimum", "maximum", "minItems", "maxItems"}
)
# Nested objects (an object property, an array's items): on o200k models their lines are
# drawn flush with the margin like the outer ones, not indented by 2 as
# hmarr/openai-chat-tokens draws them (and by 4 in openai/harmony's renderer): 12 recorded
# gpt-4o requests with pydantic-ai's tool list (an array of a $ref'd object) were 2 over
# indented and 2 sublayer gpt-4o-mini requests (an object property with described fields)
# 6 over; both agree unindented (with o200k an indent of 2, 4 or 8 spaces costs the same, so
# only flush or not is told apart). cl100k models keep hmarr's 2 spaces, checked in 2023
# on gpt-3.5 (``ChatProfile.nested_indent``). Either way an estimate.
# Arrays of described objects: an array whose items are an object drawn on several lines
# (its properties carry comments) is written ``Array<``, the object, ``>``, each on lines of
# their own, with the items' own ``description`` as a comment before the object's brace, as
# in ChatGPT's leaked tool definitions (the canvas tool's ``updates: Array<\n{\n// …\n
# pattern: string,\n…\n}\n>,``, flush with the margin) and as openai/harmony draws an
# object's description. Sublayer's two gpt-4o arrays of described objects whose items carry
# a description (``a single review``) were 7 under each drawn as ``{…}[]``: the items'
# comment is 5 of it, ``Array<`` 2; both agree so. A comment-less object stays ``{ … }[]``
# (pydantic-ai's answers, which agree so), and the June 2023 snapshots keep hmarr's ``{…}[]``.
_SUPPORTED_TYPES = {"string", "number", "integer", "boolean", "null", "object", "array"}


@dataclass
class Rendered:
    """Texts to count, fixed tokens around them, and whether the result is exact.

    ``less`` are texts whose tokens are taken off: where a unit's text merges with its
    neighbour's into fewer tokens than the two apart (see ``_response_format``).
    """

    texts: list[str] = field(default_factory=list)
    const: int = 0
    exact: bool = True
    less: list[str] = field(default_factory=list)

    def add(self, other: Rendered) -> None:
        self.texts.extend(other.texts)
        self.less.extend(other.less)
        self.const += other.const
        self.exact = self.exact and other.exact


def render_unit(kind: str, ctx: str, payload: str, profile: ChatProfile, provider: str) -> Rendered:
    """The accounting of one unit; unparseable payloads are an estimate of nothing.

    ``raw`` is plain text with no framing (system prompts sized for the caching finding),
    exact only for OpenAI, whose vocabulary it is (``ctx`` names the provider).
    """
    if kind == "raw":
        return Rendered([payload], exact=ctx == "openai")
    if kind == "plain":  # a message of only a role (ctx) and a text (units.py): the usual
        # unit, so it is built here directly rather than through _framed (the same sums)
        if profile.framing != "openai":
            return Rendered([payload])
        if ctx == "assistant" and profile.assistant_overhead:  # _framed's one extra rule
            return _framed(ctx, Rendered([payload]), None, profile)
        return Rendered([ctx, payload], profile.tokens_per_message)
    try:
        value = json.loads(payload)
    except (TypeError, ValueError):
        return Rendered(exact=False)
    except RecursionError:  # JSON nested deeper than Python parses: its text, estimated
        return Rendered([payload], exact=False)
    try:
        return _render(kind, ctx, value, profile, provider)
    except (TypeError, ValueError, AttributeError, KeyError, RecursionError, OverflowError):
        # a shape no rule foresaw (a logged body can hold anything): its text, estimated
        return Rendered([payload], exact=False)


def _render(kind: str, ctx: str, value: Any, profile: ChatProfile, provider: str) -> Rendered:
    if kind == "tools":
        if provider == "google":  # functionDeclarations: no documented rendering
            return Rendered(
                [json.dumps(value, separators=(",", ":"), ensure_ascii=False)], 0, False
            )
        return _tools(value, ctx, profile)
    if kind == "rfmt":
        return _response_format(value, ctx, profile)
    if kind == "tchoice":
        # OpenAI's rule; another provider's tool_choice is no text we can draw (stored
        # Anthropic bodies leave it out, so a body counted directly must too)
        return _tool_choice(value, profile) if provider == "openai" else Rendered(exact=False)
    if kind == "server":
        # previous_response_id, conversation, stored prompt: context not in the log; a
        # prediction (Predicted Outputs): one recorded gpt-4o call billed 12 input tokens
        # beyond its messages (docs/recount.md)
        return Rendered(exact=False)
    if kind == "output":
        return _output(value, ctx, profile, provider)
    if kind == "sys":
        return _framed("system", _content(value, profile, provider), None, profile)
    if kind == "str":  # a Responses API ``input`` string is one user message
        return _framed("user", Rendered([str(value)]), None, profile)
    return _message(value, ctx, profile, provider)


# --- messages -------------------------------------------------------------------


def _framed(role: str, body: Rendered, name: str | None, profile: ChatProfile) -> Rendered:
    """A message under the OpenAI framing: its header (``role`` or ``role:name``, one text:
    ``tokenizers.interface.message_header``), its body, ``tokens_per_message``."""
    if profile.framing != "openai":
        return body
    out = Rendered([message_header(role, name)], profile.tokens_per_message)
    out.add(body)
    if name:
        out.const += profile.tokens_per_name
    if role == "assistant" and profile.assistant_overhead:
        out.const += profile.assistant_overhead
        out.exact = False
    return out


def _message(msg: Any, ctx: str, profile: ChatProfile, provider: str) -> Rendered:
    if provider == "google":
        return _gemini_content(msg, profile, provider)
    if not isinstance(msg, dict):
        return Rendered(exact=False)
    kind = msg.get("type")
    if kind == "function_call":  # Responses API tool call
        return _tool_call([(str(msg.get("name")), msg.get("arguments"))], profile)
    if kind == "function_call_output":
        return _tool_result(msg.get("output"), ctx, profile, provider)
    if kind not in (None, "message"):
        return Rendered(exact=False)  # reasoning items, hosted tool calls: not modelled
    role = str(msg.get("role") or "user")
    if role == "tool":
        return _tool_result(_message_content(msg), ctx, profile, provider)
    name = msg.get("name") if isinstance(msg.get("name"), str) else None
    content = _message_content(msg)
    body = _content(content, profile, provider, pad=ctx == "pad")
    calls = msg.get("tool_calls")
    legacy = msg.get("function_call")
    if role == "function":  # legacy function result: role + name + content + 2
        out = Rendered([role], profile.tokens_per_message - 1, exact=False)
        out.add(body)
        if name:
            out.texts.append(name)
        return out
    if isinstance(calls, list) and calls:
        pairs = [
            (str((c.get("function") or {}).get("name")), (c.get("function") or {}).get("arguments"))
            for c in calls
            if isinstance(c, dict)
        ]
        out = _tool_call(pairs, profile, name)
        if body.texts and any(body.texts):
            out.add(_framed(role, body, name, profile))
        return out
    if isinstance(legacy, dict):  # legacy function_call: +3 and its name and arguments
        out = _framed(role, body, name, profile)
        out.texts += [str(legacy.get("name", "")), str(legacy.get("arguments", ""))]
        out.const += 3
        out.exact = False
        return out
    out = _framed(role, body, name, profile)
    if msg.get("audio"):  # an earlier spoken answer ({"id": ...}): its tokens are not in the log
        out.exact = False
    if msg.get("refusal"):  # an earlier refusal: whether and how it is billed is not known
        out.texts.append(str(msg["refusal"]))
        out.exact = False
    return out


# The keys of a Gemini Part (camelCase, or the REST API's snake_case)
_GEMINI_PART_KEYS = frozenset(
    {
        "text",
        "inlineData",
        "inline_data",
        "fileData",
        "file_data",
        "functionCall",
        "function_call",
        "functionResponse",
        "function_response",
    }
)


def _gemini_content(msg: Any, profile: ChatProfile, provider: str) -> Rendered:
    """One element of Gemini ``contents``: a Content (``{role, parts}``), or what the
    google-genai SDK also takes there, a text or a bare Part; or a message in OpenAI's
    shape (``{role, content}``), as LiteLLM logs Gemini requests. Gemini adds no framing
    we know of (``ChatProfile.framing``), so the role only says whose turn it is."""
    if isinstance(msg, str):
        return Rendered([msg])
    if not isinstance(msg, dict):
        return Rendered(exact=False)
    role = "model" if msg.get("role") in ("model", "assistant") else "user"
    if "parts" in msg:
        content: Any = msg.get("parts")
    elif "content" in msg:
        content = msg.get("content")
    elif _GEMINI_PART_KEYS & set(msg):
        content = [msg]
    else:
        return Rendered(exact=False)
    return _framed(role, _content(content, profile, provider), None, profile)


def _message_content(msg: dict[str, Any]) -> Any:
    """A message's content: ``content``, or the ``parts`` OpenTelemetry GenAI messages carry
    instead (their tool messages and replies too)."""
    return msg.get("content") if "content" in msg else msg.get("parts")


def _tool_call(
    pairs: list[tuple[str, Any]], profile: ChatProfile, author: str | None = None
) -> Rendered:
    """One call: ``assistant to=functions.NAME`` + its arguments without the whitespace
    between JSON tokens; several: the parallel wrapper (compact JSON too).

    Arguments sent back with spaces (``{"a": 1}``, as clients that re-serialise them write)
    bill as if compact: 6 recorded requests from LangChain, simonw/llm and openllmetry
    agree only that way, and crewAI's rounds agree with it and ``USER_AFTER_TOOL_RESULT``.
    A ``name`` on the calling message joins the role as in any header (``assistant:Leader``;
    one recorded gpt-4o-mini request, 2 under without it).
    """
    header = message_header("assistant", author)
    if len(pairs) == 1:
        name, arguments = pairs[0]
        # arguments logged as a JSON value (a Responses item's object) are drawn compact,
        # as their text would be, and as several calls' wrapper draws them
        args = (
            _compact_json(arguments)
            if isinstance(arguments, str)
            else json.dumps(arguments, separators=(",", ":"), ensure_ascii=False)
        )
        return Rendered(
            [f"{header} to=functions.{name}", args],
            profile.tokens_per_message + profile.tool_call_overhead,
            False,
        )
    uses = []
    for name, arguments in pairs:
        try:
            params = json.loads(arguments) if isinstance(arguments, str) else arguments
        except ValueError:
            params = arguments
        uses.append({"recipient_name": f"functions.{name}", "parameters": params})
    wrapper = json.dumps({"tool_uses": uses}, separators=(",", ":"), ensure_ascii=False)
    return Rendered(
        [f"{header} to=multi_tool_use.parallel", wrapper],
        profile.tokens_per_message + profile.tool_call_overhead,
        False,
    )


def _compact_json(text: str) -> str:
    """``text`` without whitespace outside JSON strings; everything else (number literals,
    escapes, key order) as written. Text that is not JSON comes back unchanged."""
    try:
        json.loads(text)
    except ValueError:
        return text
    out: list[str] = []
    in_string = escaped = False
    for char in text:
        if in_string:
            out.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
            out.append(char)
        elif char not in " \t\n\r":
            out.append(char)
    return "".join(out)


def _tool_result(content: Any, ctx: str, profile: ChatProfile, provider: str) -> Rendered:
    name, _, last = ctx.partition("|")
    if last.startswith("par"):
        return _parallel_result(content, set(last.split(",")[1:]), profile, provider)
    body = _content(content, profile, provider)
    out = Rendered(
        [name or "tool"],
        profile.tokens_per_message + TOOL_RESULT_AUTHOR + profile.tool_result_overhead,
        False,
    )
    out.add(body)
    out.exact = False
    if last == "last":
        out.const += LAST_TOOL_RESULT
    elif last == "user":
        out.const += USER_AFTER_TOOL_RESULT
    return out


def _parallel_result(
    content: Any, flags: set[str], profile: ChatProfile, provider: str
) -> Rendered:
    """One result of parallel calls, as a piece of the one message that carries them all.

    The results of a ``multi_tool_use.parallel`` call are billed as a single message from
    it whose content is the JSON list of their texts, each a JSON string with non-ASCII
    characters as ``\\uXXXX`` (the OpenAI forum's reports that parallel results bill their
    Unicode escaped), ``PARALLEL_RESULTS`` more (and ``tool_result_overhead``, GPT-5's
    commentary channel), ``LAST_TOOL_RESULT`` more when the assistant answers right after
    them, ``USER_AFTER_TOOL_RESULT`` when a user message follows (2 recorded gpt-5-nano
    requests, as after a single result). A result that is JSON goes in as its value,
    written with Python's default separators: an object or array (one recorded gpt-4o-mini
    request, 2 over as a string), a JSON string such as ``"Status OK"`` with its quotes (3
    gpt-4o and gpt-4o-mini requests of the blind batch ``_p``, 1 or 2 over each with the
    quotes escaped). Each result is drawn as its piece of the list: ``["a",``
    `` "b",`` `` "c"]`` (so split, the pieces count as the whole list does on all 29
    recorded lists).
    """
    body = _content(content, profile, provider)
    raw = "".join(body.texts)
    try:
        text = json.dumps(json.loads(raw))  # a JSON result goes in as its value
    except (ValueError, RecursionError):
        text = json.dumps(raw)
    piece = ("[" if "first" in flags else " ") + text + ("]" if "end" in flags else ",")
    out = Rendered([piece], body.const, exact=False)
    if "first" in flags:
        out.texts.insert(0, "multi_tool_use.parallel")
        out.const += profile.tokens_per_message + PARALLEL_RESULTS + profile.tool_result_overhead
    if "reply" in flags:
        out.const += LAST_TOOL_RESULT
    elif "user" in flags:
        out.const += USER_AFTER_TOOL_RESULT
    return out


def _content(content: Any, profile: ChatProfile, provider: str, pad: bool = False) -> Rendered:
    """Texts and image tokens of a content value (string, parts list, blocks)."""
    if content is None:
        return Rendered(["\n"] if pad else [])
    if isinstance(content, str):
        return Rendered([content + "\n" if pad else content])
    if isinstance(content, dict):
        if isinstance(content.get("parts"), list):  # a Gemini Content ({role?, parts})
            return _content(content["parts"], profile, provider, pad)
        return _content([content], profile, provider, pad)
    if not isinstance(content, list):
        return Rendered([json.dumps(content)], exact=False)
    out = Rendered()
    texts = 0
    after_text = False  # whether the last part was a text part, to join the next one to
    for part in content:
        piece = _part(part, profile, provider)
        texts += len(piece.texts)
        text = _is_text(piece)
        if text and after_text:
            out.texts[-1] += piece.texts[0]
        else:
            out.add(piece)
        after_text = text
    if texts > 1:
        # adjacent text parts are billed joined with nothing between them (the tokenizer
        # merges across the seam: "pirate." + "When" costs 1 less than apart): one
        # recorded request with two messages of two parts each, 2 over apart. Parts with an
        # image between them stay apart (one recorded request, 1 under joined). An estimate
        out.exact = False
    if pad and out.texts:
        out.texts[-1] += "\n"
    return out


def _is_text(piece: Rendered) -> bool:
    """Whether a rendered part is one text and nothing else (a text part)."""
    return len(piece.texts) == 1 and not piece.const and not piece.less and piece.exact


def _part(part: Any, profile: ChatProfile, provider: str) -> Rendered:
    if isinstance(part, str):
        return Rendered([part])
    if not isinstance(part, dict):
        return Rendered(exact=False)
    kind = part.get("type")
    if isinstance(part.get("text"), str) and kind in (None, "text", "input_text", "output_text"):
        return Rendered([part["text"]])
    if kind == "text" and isinstance(part.get("content"), str):  # OpenTelemetry GenAI part
        return Rendered([part["content"]])
    # Gemini's REST API takes snake_case part names as well (inline_data, function_call)
    if "inline_data" in part and "inlineData" not in part:
        part = {**part, "inlineData": part["inline_data"]}
    inline = part.get("inlineData")
    if isinstance(inline, dict):
        mime = inline.get("mimeType") or inline.get("mime_type") or "image/"
        if not str(mime).startswith("image/"):
            return Rendered(exact=False)  # audio, video, a PDF inline: no offline accounting
    if kind in ("image_url", "input_image", "image") or "inlineData" in part:
        return _image(part, profile, provider)
    call = part.get("functionCall") or part.get("function_call")
    if kind in ("tool_use", "tool_call") or isinstance(call, dict):
        # Anthropic tool_use, Gemini functionCall, OpenTelemetry GenAI tool_call parts;
        # arguments as their text, not \\uXXXX escapes (3.7 times the tokens in Japanese)
        call = call if isinstance(call, dict) else part
        arguments = call.get("input", call.get("args", call.get("arguments")))
        return Rendered([str(call.get("name", "")), _json_text(arguments)], exact=False)
    if kind == "tool_result":  # its text and its images (an image's tokens were dropped)
        inner = _content(part.get("content"), profile, provider)
        return Rendered(inner.texts, inner.const, exact=False)
    if kind == "tool_call_response":  # OpenTelemetry GenAI
        return Rendered([_json_text(part.get("response", part.get("result")))], exact=False)
    response = part.get("functionResponse") or part.get("function_response")
    if isinstance(response, dict):
        return Rendered(
            [str(response.get("name", "")), _json_text(response.get("response"))], exact=False
        )
    if kind == "thinking" and isinstance(part.get("thinking"), str):
        return Rendered([part["thinking"]], exact=False)
    return Rendered(exact=False)  # audio, files, documents: no offline accounting


def _json_text(value: Any) -> str:
    """A JSON value as its text: a string as it is, anything else as JSON with its
    characters, not ``\\uXXXX`` escapes."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _image(part: dict[str, Any], profile: ChatProfile, provider: str) -> Rendered:
    url, detail = "", "auto"
    if isinstance(part.get("image_url"), dict):
        url = str(part["image_url"].get("url", ""))
        detail = str(part["image_url"].get("detail") or "auto")
    elif isinstance(part.get("image_url"), str):
        url, detail = part["image_url"], str(part.get("detail") or "auto")
    elif isinstance(part.get("source"), dict):  # Anthropic
        source = part["source"]
        if source.get("type") == "base64":
            url = f"data:{source.get('media_type')};base64,{source.get('data', '')}"
    elif isinstance(part.get("inlineData"), dict):  # Gemini
        data = part["inlineData"]
        url = f"data:{data.get('mimeType')};base64,{data.get('data', '')}"
    size = images.data_url_size(url)
    known = size is not None
    dims = size or images.url_size(url) or images.TYPICAL_SIZE
    if provider == "anthropic":
        return Rendered(const=images.anthropic_tokens(dims), exact=False)
    if provider == "google":
        return Rendered(const=images.gemini_tokens(dims), exact=False)
    low = detail == "low"
    if profile.image_base is not None and profile.image_tile is not None:
        tokens = images.openai_tile_tokens(dims, profile.image_base, profile.image_tile, low)
        return Rendered(const=tokens, exact=known or low)
    if profile.image_patch_multiplier is not None:
        tokens = images.openai_patch_tokens(dims, profile.image_patch_multiplier)
        return Rendered(const=tokens, exact=False)
    return Rendered(const=images.openai_tile_tokens(dims, 85, 170, low), exact=False)


# --- tools, formats, replies -----------------------------------------------------


def _functions(tools: Any) -> tuple[list[dict[str, Any]], bool]:
    """Function definitions from chat ``tools``, Responses ``tools`` or legacy ``functions``.

    Also says whether every tool is a function (hosted tools are not modelled).
    """
    out: list[dict[str, Any]] = []
    complete = True
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict):
            complete = False
            continue
        if tool.get("type") == "function" and isinstance(tool.get("function"), dict):
            out.append(tool["function"])
        elif tool.get("type") in (None, "function", "custom") and isinstance(tool.get("name"), str):
            # Anthropic writes the schema as input_schema: the same parameters
            schema = tool.get("parameters", tool.get("input_schema"))
            out.append({**tool, "parameters": schema} if schema is not None else tool)
        else:
            complete = False
    return out, complete


def _tools(value: Any, ctx: str, profile: ChatProfile) -> Rendered:
    # besides its text, a tools block costs ``tools_overhead`` inside the request's system
    # message ("# Tools ## functions": 5 on GPT-4o), and a request without one gets a
    # system message (4 more)
    # (GPT-5: ``added_message_less`` fewer, see ``ChatProfile``)
    added = TOOLS_SYSTEM_MESSAGE - profile.added_message_less
    const = profile.tools_overhead + (0 if ctx == "sys" else added)
    if value == []:
        # ``tools: []`` is billed as an empty namespace: one recorded gpt-4o-mini request
        # with a system message, 12 = the block's 7 + 5 (units.py sends it for OpenAI only)
        return Rendered([format_functions([])[0]], const, exact=False)
    functions, complete = _functions(value)
    if not functions:
        return Rendered(exact=complete and not value)
    legacy = profile.legacy_functions  # the 0613 snapshots: no titles, hmarr's layout
    text, simple = format_functions(
        functions, profile.nested_indent, titles=not legacy, inline=not legacy
    )
    strict = any(f.get("strict") is True for f in functions)
    bare = any(_bare(f, items=not legacy) for f in functions)
    # the reasoning families' tool prompt is known from few recorded calls; the one-line
    # drawing of comment-less functions is read off recorded requests (see the note at the
    # top of this module), so they are estimates
    exact = complete and simple and not strict and not profile.reasoning and not bare
    return Rendered([text], const, exact=exact)


def _bare(function: dict[str, Any], items: bool = True) -> bool:
    """Whether a function has properties and none carries a comment (title, description,
    default, and with ``items`` array items' description), at any depth: the one-line
    drawing's case (``_inline_object``). The June 2023 snapshots draw no items' description,
    so for them (``items`` false) it is no comment either."""
    parameters = function.get("parameters")
    properties = parameters.get("properties") if isinstance(parameters, dict) else None
    return (
        isinstance(properties, dict)
        and bool(properties)
        and not _commented(parameters, True, items)
    )


def format_functions(
    functions: list[dict[str, Any]],
    nested_indent: int = 0,
    titles: bool = True,
    inline: bool = False,
) -> tuple[str, bool]:
    """The ``namespace functions`` block, and whether every schema was fully supported.

    With ``inline``, an object whose properties carry no comment is drawn on one line
    (see ``_inline_object``); without it, as hmarr/openai-chat-tokens draws every object."""
    lines = ["namespace functions {", ""]
    supported = True
    for function in functions:
        description = function.get("description")
        if isinstance(description, str) and description.strip():
            lines += _comment_lines(description)
            # a docstring's lines are trimmed and commented one by one: checked on gpt-4o,
            # 10 over on a gpt-4 request (tab-indented quoted lines): an estimate
            supported = supported and "\n" not in description.strip()
        elif description not in (None, ""):
            supported = False  # not a text: left out, and the count is an estimate
        parameters = function.get("parameters") or {}
        if not isinstance(parameters, dict):
            parameters, supported = {}, False
        elif "$defs" in parameters or "definitions" in parameters:
            supported = False  # how references are rendered is not known: drawn inline
            parameters = _inline_refs(parameters, parameters, 0)
        if parameters.get("properties"):
            # the schema's own title or description, before its brace (two recorded
            # magentic schemas with a title agree only so)
            notes = [f"// {parameters[k]}\n" for k in ("title", "description") if parameters.get(k)]
            supported = supported and not notes
            opening = f"type {function.get('name')} = (_: {''.join(notes)}"
            flat = _inline_object(parameters, titles) if inline else None
            if flat is not None:
                lines.append(f"{opening}{flat[0]}) => any;")
                supported = supported and flat[1]
            else:
                body, ok = _format_object(parameters, 0, nested_indent, titles, inline)
                supported = supported and ok
                lines += [opening + "{", body, "}) => any;"]
        else:
            lines.append(f"type {function.get('name')} = () => any;")
        lines.append("")
    lines.append("} // namespace functions")
    return "\n".join(lines), supported


def _inline_refs(value: Any, root: dict[str, Any], depth: int) -> Any:
    """``value`` with each local ``$ref`` (``#/$defs/X``, ``#/definitions/X``) replaced
    by the schema it names; a reference nested deeper than a few levels (a recursive
    type) is left as it is."""
    if isinstance(value, list):
        return [_inline_refs(v, root, depth) for v in value]
    if not isinstance(value, dict):
        return value
    ref = value.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/") and depth < 4:
        target: Any = root
        for key in ref[2:].split("/"):
            target = target.get(key) if isinstance(target, dict) else None
        if isinstance(target, dict):
            return _inline_refs(target, root, depth + 1)
    return {
        k: _inline_refs(v, root, depth)
        for k, v in value.items()
        if k not in ("$defs", "definitions")
    }


def _comment_lines(description: str) -> list[str]:
    """A function's description as ``//`` comment lines, each line's own spaces trimmed.

    Docstring descriptions are indented; 17 recorded calls with 5 of them agree only
    when every line is trimmed and commented on its own (an empty line is ``//``).
    """
    return [f"// {line.strip()}".rstrip() for line in description.strip().split("\n")]


def _commented(schema: Any, titles: bool, items: bool = True) -> bool:
    """Whether any property of ``schema``, at any depth (nested objects, array items,
    unions), carries a comment: a description, a default, a title where titles are drawn,
    or, with ``items``, an array's items' own description at any depth (drawn as a comment
    inside ``Array<…>``)."""
    if isinstance(schema, list):
        return any(_commented(s, titles, items) for s in schema)
    if not isinstance(schema, dict):
        return False
    properties = schema.get("properties")
    if isinstance(properties, dict):
        for prop in properties.values():
            if isinstance(prop, dict) and (
                prop.get("description") or "default" in prop or (titles and prop.get("title"))
            ):
                return True
            if _commented(prop, titles, items):
                return True
    inner = schema.get("items")
    if items and isinstance(inner, dict) and _described(inner):
        return True
    return any(_commented(schema.get(k), titles, items) for k in ("items", "anyOf", "oneOf"))


def _described(schema: dict[str, Any]) -> bool:
    """Whether a schema has a description worth a comment line (not blank)."""
    note = schema.get("description")
    return isinstance(note, str) and bool(note.strip())


def _inline_object(schema: dict[str, Any], titles: bool) -> tuple[str, bool] | None:
    """An object whose properties carry no comment, on one line as TypeScript writes a type
    literal, ``{ a: string, b?: "x" | "y" }`` (see the note at the top of this module), and
    whether it was fully supported; ``None`` for any other object."""
    properties = schema.get("properties")
    if not isinstance(properties, dict) or not properties or _commented(schema, titles):
        return None
    entries, supported = _properties(schema, 0, 0, titles, True)
    return "{ " + ", ".join(entry for _, entry, _ in entries) + " }", supported


def _format_object(
    schema: dict[str, Any], indent: int, step: int, titles: bool = True, inline: bool = False
) -> tuple[str, bool]:
    """An object's properties, one comment or property a line, ``indent`` spaces in; a
    nested object's lines ``step`` more (see "Nested objects" above); property titles as
    comments only with ``titles``; with ``inline``, a nested object without comments on
    one line (``_inline_object``)."""
    entries, supported = _properties(schema, indent, step, titles, inline)
    lines: list[str] = []
    for notes, entry, default in entries:
        lines += [f"// {note}".rstrip() for note in notes]
        lines.append(f"{entry},{default}")
    return "\n".join(" " * indent + line for line in lines), supported


def _properties(
    schema: dict[str, Any], indent: int, step: int, titles: bool, inline: bool
) -> tuple[list[tuple[list[str], str, str]], bool]:
    """An object's properties as (comments, ``name?: type``, `` // default: …``), and
    whether all were fully supported."""
    entries: list[tuple[list[str], str, str]] = []
    supported = not (set(schema) & {"$defs", "definitions", "anyOf", "oneOf", "allOf"})
    listed = schema.get("required") or []
    required = [r for r in listed if isinstance(r, str)] if isinstance(listed, list) else []
    properties = schema.get("properties") or {}
    # a name that is no identifier, or a required name with no property, is drawn as it
    # is but never checked (one recorded call with both, 2 under)
    if (
        not isinstance(properties, dict)
        or not isinstance(listed, list)
        or len(required) != len(listed)
        or not set(required) <= set(properties)
    ):
        supported = False
    for name, prop in properties.items() if isinstance(properties, dict) else []:
        if not str(name).isidentifier():
            supported = False
        if not isinstance(prop, dict):
            supported = False
            continue
        # a property's title, then its description, as comments (nested ones too: one
        # recorded nested schema is 72 tokens over without them, 22 with)
        notes = [prop[key] for key in ("title", "description")[not titles :] if prop.get(key)]
        # a blank comment (``// ``) was never seen in a recorded call: an estimate
        supported = supported and all(isinstance(note, str) and note.strip() for note in notes)
        # a title drawn as a comment is read off pydantic schemas (docs/recount.md): an estimate
        supported = supported and not prop.get("title")
        kind, ok = _format_type(prop, indent, step, titles, inline)
        supported = supported and ok
        marker = "" if name in required else "?"
        default = f" // default: {_default(prop)}" if "default" in prop else ""
        supported = supported and not default
        entries.append(([str(note) for note in notes], f"{name}{marker}: {kind}", default))
    return entries, supported


def _default(prop: dict[str, Any]) -> str:
    """A default as the harmony guide writes it: JSON, but an enum's text unquoted
    (``format?: "celsius" | "fahrenheit", // default: celsius``)."""
    value = prop["default"]
    return value if isinstance(value, str) and "enum" in prop else json.dumps(value)


def _format_type(
    prop: dict[str, Any], indent: int, step: int, titles: bool = True, inline: bool = False
) -> tuple[str, bool]:
    kind = prop.get("type")
    ok = isinstance(kind, str) and kind in _SUPPORTED_TYPES and "$ref" not in prop
    if kind == "string":
        if "enum" in prop:
            values = prop["enum"]
            # only a non-empty list of texts is drawn as checked (a text enum would be
            # drawn letter by letter, a number or null in Python's spelling): an estimate
            ok = ok and isinstance(values, list) and bool(values)
            ok = ok and all(isinstance(v, str) for v in values)
            return " | ".join(f'"{v}"' for v in values), ok
        return "string", ok
    if kind in ("number", "integer"):
        if "enum" in prop:
            values = prop["enum"]
            ok = ok and isinstance(values, list) and bool(values)
            ok = ok and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
            return " | ".join(str(v) for v in values), ok
        return "number", ok
    if kind == "boolean":
        return "boolean", ok
    if kind == "null":
        return "null", ok
    if kind == "object" and prop.get("properties"):
        flat = _inline_object(prop, titles) if inline else None
        if flat is not None:
            return flat[0], False
        # indented by the family's step (see "Nested objects" above): an estimate
        body, _ = _format_object(prop, indent + step, step, titles, inline)
        return "\n".join(["{", body, "}"]), False
    if kind == "array":
        items = prop.get("items")
        if isinstance(items, dict):
            inner_kind, inner = _format_type(items, indent, step, titles, inline)
            head = f"// {items['description']}\n" if _described(items) else ""
            if inline and ("\n" in inner_kind or head):
                # an object drawn on several lines (its properties carry comments), or
                # items with a description of their own, is the array's type argument,
                # ``Array<`` and ``>`` on lines of their own, the items' description as a
                # comment before it (see "Arrays of described objects" above; the June
                # 2023 snapshots keep hmarr's ``{…}[]``): an estimate
                return f"Array<\n{head}{inner_kind}\n>", False
            return f"{inner_kind}[]", ok and inner
        return "any[]", ok
    # not seen in agreeing recorded calls: drawn as TypeScript would write them
    variants = prop.get("anyOf") or prop.get("oneOf")
    if isinstance(kind, list):  # "type": ["string", "null"]
        variants = [{"type": k} for k in kind]
    if isinstance(variants, list) and variants:
        kinds = [
            _format_type(v, indent, step, titles, inline)[0] if isinstance(v, dict) else "any"
            for v in variants
        ]
        return " | ".join(k or "any" for k in kinds), False
    if kind == "object":  # no properties
        return "object", False
    # no type at all (magentic's untyped parameters, ``{"title": "Location"}``): TypeScript's
    # ``any``, as for an untyped array's items; 3 recorded gpt-4o requests, 1 under each
    # with nothing drawn after the colon. An estimate
    return "any", False


def _response_format(value: Any, ctx: str, profile: ChatProfile) -> Rendered:
    """``ctx`` is ``alone`` in a request with no system message and no tools, ``tools`` in
    one with tools, else (a system message of its own) ``SYSTEM_END`` and the end of that
    message's text, if it is text; led by the number of assistant answers in the history
    and ``ANSWERS`` where there are any.

    The format joins the system message after a blank line, and the tokenizer may merge the
    message's last characters with that line break: a text ending in a full stop bills
    ``.\n\n`` as one token, not two. So such a format costs ``end + "\n\n"`` less ``end``
    less the line break the constant holds (1 less after a full stop, colon or bracket;
    nothing after a letter or a code fence). Read off 3 recorded requests whose system
    prompts end in a full stop (1 over each without it) against 12 ending otherwise that
    agree, and 10 crewAI planning requests (9 over, 8 with it).
    """
    if not isinstance(value, dict) or value.get("type") in (None, "text"):
        return Rendered()
    found = value.get("json_schema")
    if found is None and "schema" in value:  # the Responses API's text.format: one level
        found = value
    spec: dict[str, Any] = found if isinstance(found, dict) else {}
    schema = spec.get("schema")
    if value.get("type") == "json_schema" and isinstance(schema, dict):
        description = spec.get("description")
        note = f"// {description}\n" if isinstance(description, str) and description else ""
        inner = schema.get("description")
        if isinstance(inner, str) and "\n" in inner:
            # a schema's description of several lines (a pydantic docstring) is billed as
            # comment lines before the JSON, each as written, not inside it: one crewAI
            # schema in 10 recorded gpt-4o-mini requests agrees only so (8 over in the JSON;
            # 14 to 20 under as one comment or trimmed lines); 8 one-line descriptions agree
            # inside the JSON (1 to 4 under moved out). An estimate
            schema = {k: v for k, v in schema.items() if k != "description"}
            note += "".join(f"// {line}\n" for line in inner.split("\n"))
        compact = json.dumps(_schema_keywords(schema), separators=(",", ":"), ensure_ascii=False)
        name = str(spec.get("name", ""))
        texts = [f"# Response Formats\n\n## {name}\n\n{note}{compact}"]
        if name:
            texts.append(name)
        answers, _, ctx = ctx.partition(ANSWERS) if ctx[:1].isdigit() else ("", "", ctx)
        base, _, end = ctx.partition(SYSTEM_END)
        const = SCHEMA_FORMAT.get(base, SCHEMA_FORMAT[""]) - profile.schema_format_less
        if base == "alone":  # the system message it brings (GPT-5: fewer, see ChatProfile)
            const -= profile.added_message_less
        const += int(answers or 0) * profile.schema_answer_overhead
        rendered = Rendered(texts, const, exact=False)
        if end:  # the system text's end merged with the blank line (see above)
            rendered.texts.append(end + BLANK_LINE)
            rendered.less += [end, BLANK_LINE]
        return rendered
    return Rendered(exact=False)


def _schema_keywords(schema: Any) -> Any:
    """A JSON schema without its ``SCHEMA_CONSTRAINTS`` keywords (a property so named
    stays)."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in SCHEMA_CONSTRAINTS:
            continue
        if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            out[key] = {name: _schema_keywords(sub) for name, sub in value.items()}
        elif key in ("anyOf", "oneOf", "allOf") and isinstance(value, list):
            out[key] = [_schema_keywords(sub) for sub in value]
        elif key in ("items", "not"):
            out[key] = _schema_keywords(value)
        else:
            out[key] = value
    return out


def _tool_choice(value: Any, profile: ChatProfile) -> Rendered:
    """``none`` costs 1 (hmarr); forcing a named function ``NAMED_TOOL_CHOICE`` plus
    ``functions.NAME`` (hmarr said 4 and the name: recorded gpt-4o, gpt-4-turbo and gpt-3.5
    requests, legacy ``function_call`` included, bill 7 and the name where the name merges
    with the dot, and 1 less where it splits after it)."""
    if value in (None, "auto", "required"):
        return Rendered()
    if value == "none":
        return Rendered(const=1, exact=False)
    if isinstance(value, dict):
        function = value.get("function")  # Chat {"function": {"name"}}, Responses {"name"};
        # a bare function name is the same choice (a client's shorthand; its JSON is no text)
        name = function if isinstance(function, str) else (function or value).get("name")
        if isinstance(name, str) and name:  # an empty name names no function
            return Rendered([f"functions.{name}"], NAMED_TOOL_CHOICE, exact=False)
    return Rendered(exact=False)


def _whole_response(message: dict[str, Any]) -> dict[str, Any] | None:
    """A whole response object where a reply message was expected (Langfuse keeps the
    output as the integration gave it): as ``_output`` reads replies, or None."""
    choices = message.get("choices")
    if isinstance(choices, list):  # Chat Completions
        return {"messages": [c.get("message") for c in choices if isinstance(c, dict)]}
    if isinstance(message.get("output"), list) or isinstance(message.get("candidates"), list):
        return message  # Responses, Gemini
    return None


def _output(value: Any, ctx: str, profile: ChatProfile, provider: str) -> Rendered:
    """The reply's billed tokens: its text, plus tool calls and structure as estimates."""
    out = Rendered(exact=not profile.reasoning)
    if not isinstance(value, dict):
        return Rendered(exact=False)
    if "messages" not in value and isinstance(value.get("choices"), list):
        value = _whole_response(value) or value  # a Chat Completions response body as it is
    # a reply nothing below recognises (a logged object of another shape) counts nothing,
    # so it must not be labelled exact
    known = False
    for message in value.get("messages") or []:  # OpenAI chat choices (OTel: parts)
        if isinstance(message, dict) and isinstance(message.get("message"), dict):
            message = message["message"]  # an OpenTelemetry choice event, {index, message}
        if not isinstance(message, dict):
            out.exact = False
            continue
        whole = _whole_response(message)
        if whole is not None:  # a whole response object logged as the reply (Langfuse)
            out.add(_output(whole, "", profile, provider))
            known = True
            continue
        content = _message_content(message)
        out.add(_content(content, profile, provider))
        known = known or isinstance(content, str | list)
        for call in message.get("tool_calls") or []:
            function = (call.get("function") or {}) if isinstance(call, dict) else {}
            out.texts += [str(function.get("name", "")), str(function.get("arguments", ""))]
            out.exact, known = False, True
        legacy = message.get("function_call")
        if isinstance(legacy, dict):  # a legacy function call: its name and arguments
            out.texts += [str(legacy.get("name", "")), str(legacy.get("arguments", ""))]
            out.exact, known = False, True
        if message.get("refusal"):
            out.texts.append(str(message["refusal"]))
            known = True
        if message.get("audio"):  # a spoken reply: billed as audio tokens, not in the log
            out.exact = False
    for item in value.get("output") or []:  # OpenAI Responses
        known = True
        if not isinstance(item, dict):
            continue
        if item.get("type") == "message":
            out.add(_content(item.get("content"), profile, provider))
        elif item.get("type") == "function_call":
            out.texts += [str(item.get("name", "")), str(item.get("arguments", ""))]
            out.exact = False
        else:
            out.exact = False
    blocks = value.get("content")  # Anthropic: content blocks, text ones billed joined
    if isinstance(blocks, list) and blocks:
        out.add(_content(blocks, profile, provider))
        out.exact, known = False, True
    for candidate in value.get("candidates") or []:  # Gemini
        if isinstance(candidate, dict):
            content = candidate.get("content")
            parts = content.get("parts") if isinstance(content, dict) else candidate.get("parts")
            out.add(_content(parts, profile, provider))
        out.exact, known = False, True
    if not known:
        out.exact = False
    flags = ctx.split("|")
    if "tools" in flags:
        out.const += TOOL_OUTPUT
        out.exact = False
    if "stop" in flags:
        # a reply cut by a stop sequence is billed with the sequence's tokens, which the
        # logged text no longer holds (a recorded gpt-4 ReAct reply: 4 more)
        out.exact = False
    if "prediction" in flags:
        # rejected prediction tokens are billed as output (a recorded gpt-4o reply: 101
        # counted, 139 billed with 37 rejected)
        out.exact = False
    if not (profile.exact and profile.reply_exact):
        out.exact = False
    return out
