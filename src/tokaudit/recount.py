"""Recount: independent token counts for logged prompt text, stored beside the reported ones.

Each unique text is counted once (keyed by content hash) and kept in ``token_counts``
across runs, so re-running only counts what is new or was counted by an older
tokenizer version.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import duckdb

from tokaudit.store.connection import bulk_insert
from tokaudit.tokenizers import ChatMessage, EstimateTokenizer, Tokenizer, load_tokenizers

MODEL_TOK_COLUMNS = {
    "model": "VARCHAR",
    "tokenizer": "VARCHAR",
    "tokenizer_version": "VARCHAR",
    "encoding": "VARCHAR",
    "exact": "BOOLEAN",
}
TOKEN_COUNT_COLUMNS = {
    "text_hash": "VARCHAR",
    "tokenizer": "VARCHAR",
    "tokenizer_version": "VARCHAR",
    "encoding": "VARCHAR",
    "tokens": "BIGINT",
    "exact": "BOOLEAN",
}
SYSTEM_ENCODING_MODEL = "gpt-4o"  # system prompts are sized with o200k_base for findings
BATCH = 2000


@dataclass(frozen=True)
class RecountResult:
    texts_counted: int
    requests_updated: int
    broken_plugins: list[tuple[str, str]]


def _content_text(content: Any) -> tuple[str, bool]:
    """Text of a content value, and whether it was plain text only (else only approximate)."""
    if content is None:
        return "", True
    if isinstance(content, str):
        return content, True
    if isinstance(content, list):
        parts, plain = [], True
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
                plain = plain and part.get("type", "text") in ("text", "input_text")
            else:
                plain = False
        return "".join(parts), plain
    if isinstance(content, dict) and isinstance(content.get("parts"), list):
        return _content_text(content["parts"])
    return json.dumps(content), False


def chat_messages(body: dict[str, Any]) -> tuple[list[ChatMessage], bool]:
    """The messages of a stored input body, across provider shapes, and whether all plain text."""
    messages: list[ChatMessage] = []
    plain = not body.get("tools") and not body.get("functions")
    for key in ("instructions", "system"):
        if body.get(key):
            text, ok = _content_text(body[key])
            messages.append(ChatMessage("system", text))
            plain = plain and ok
    if body.get("systemInstruction"):
        text, ok = _content_text(body["systemInstruction"])
        messages.append(ChatMessage("system", text))
        plain = plain and ok
    items = body.get("messages") or body.get("contents") or []
    if isinstance(body.get("input"), str):
        items = [{"role": "user", "content": body["input"]}]
    elif isinstance(body.get("input"), list):
        items = body["input"]
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            plain = False
            continue
        content = item.get("content", item.get("parts"))
        text, ok = _content_text(content)
        if item.get("tool_calls") or item.get("function_call"):
            ok = False
        name = item.get("name") if isinstance(item.get("name"), str) else None
        messages.append(ChatMessage(str(item.get("role", "user")), text, name))
        plain = plain and ok
    return messages, plain


def _batches(cursor: duckdb.DuckDBPyConnection) -> Iterator[list[tuple[Any, ...]]]:
    while rows := cursor.fetchmany(BATCH):
        yield rows


def _pick(model: str, tokenizers: list[Tokenizer], fallback: Tokenizer) -> Tokenizer:
    return next((t for t in tokenizers if t.covers(model)), fallback)


def recount(con: duckdb.DuckDBPyConnection) -> RecountResult:
    """Fill ``token_counts`` for new texts and ``requests.recounted_input_tokens``."""
    registry = load_tokenizers()
    estimate = EstimateTokenizer()
    tokenizers = registry.tokenizers
    counted = 0

    # Which tokenizer and encoding each distinct model gets.
    models = [
        m
        for (m,) in con.execute(
            "SELECT DISTINCT model FROM requests WHERE input_hash IS NOT NULL"
        ).fetchall()
    ]
    plan = []
    for model in models:
        tok = _pick(model, tokenizers, estimate)
        plan.append((model, tok.name, tok.version, tok.encoding_for(model), tok.exact_for(model)))
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _model_tok (model VARCHAR, tokenizer VARCHAR,
        tokenizer_version VARCHAR, encoding VARCHAR, exact BOOLEAN)"""
    )
    bulk_insert(con, "_model_tok", MODEL_TOK_COLUMNS, plan)
    by_name = {t.name: t for t in [*tokenizers, estimate]}

    # Whole inputs, once per (text, tokenizer, encoding) not yet counted at this version.
    todo = con.execute(
        """SELECT DISTINCT p.text_hash, p.body, m.tokenizer, m.tokenizer_version, m.encoding,
               m.exact, any_value(q.model) OVER (PARTITION BY p.text_hash, m.encoding)
        FROM requests q JOIN _model_tok m USING (model)
        JOIN prompt_texts p ON p.text_hash = q.input_hash
        LEFT JOIN token_counts c ON c.text_hash = p.text_hash AND c.tokenizer = m.tokenizer
             AND c.encoding = m.encoding AND c.tokenizer_version = m.tokenizer_version
        WHERE c.text_hash IS NULL"""
    )
    out: list[tuple[Any, ...]] = []
    for rows in _batches(todo):
        for text_hash, body, tok_name, version, encoding, exact, model in rows:
            messages, plain = chat_messages(json.loads(body))
            if not messages:
                continue  # nothing to count: the log kept no prompt text
            tokens, chat_exact = by_name[tok_name].count_chat(messages, model)
            out.append(
                (
                    text_hash,
                    tok_name,
                    version,
                    encoding,
                    tokens,
                    bool(exact and plain and chat_exact),
                )
            )
    # System prompts: sized once with o200k_base, for the caching finding.
    todo = con.execute(
        """SELECT p.text_hash, p.body, p.provider FROM prompt_texts p
        LEFT JOIN token_counts c ON c.text_hash = p.text_hash AND c.encoding = 'o200k_base'
        WHERE p.kind = 'system' AND c.text_hash IS NULL"""
    )
    tik = _pick(SYSTEM_ENCODING_MODEL, tokenizers, estimate)
    for rows in _batches(todo):
        counts = tik.count([r[1] for r in rows], SYSTEM_ENCODING_MODEL)
        out.extend(
            (h, tik.name, tik.version, "o200k_base", n, provider == "openai")
            for (h, _, provider), n in zip(rows, counts, strict=True)
        )
    bulk_insert(
        con,
        "token_counts",
        TOKEN_COUNT_COLUMNS,
        out,
        """ON CONFLICT DO UPDATE SET tokens = excluded.tokens, exact = excluded.exact,
            tokenizer_version = excluded.tokenizer_version""",
    )
    counted = len(out)
    updated = con.execute(
        """UPDATE requests SET recounted_input_tokens = c.tokens, recount_tokenizer = c.tokenizer,
            recount_exact = c.exact
        FROM _model_tok m, token_counts c
        WHERE m.model = requests.model AND c.text_hash = requests.input_hash
          AND c.tokenizer = m.tokenizer AND c.encoding = m.encoding
          AND requests.recounted_input_tokens IS DISTINCT FROM c.tokens"""
    ).fetchone()
    return RecountResult(counted, int(updated[0]) if updated else 0, registry.broken)
