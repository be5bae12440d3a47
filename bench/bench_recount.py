"""Benchmark: tokaudit's recount against the naive count, timed in the same run.

Two workloads, both generated here (deterministic, seeded):

1. Conversations. Thousands of chat conversations of 10-30 turns; every turn re-sends
   the whole history, as chat apps do, under one of a few shared system prompts.
   Naive = tiktoken over each request's full text (every message of every request,
   with the chat framing), one process. tokaudit = ``recount`` on a store holding the
   same requests (per-message units, each counted once, both cores). The totals must
   be identical; the ratio is the speed-up.
2. All-unique text. Every request carries one different long message, so nothing can
   be deduplicated: this measures raw counting throughput, tokaudit (all cores) against
   single-process tiktoken on the same texts.

Run from the repository root::

    PYTHONPATH=src python bench/bench_recount.py [--conversations 2000] [--unique 4000]

Prints one line per measurement and the ratios; exits 1 if a total differs.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tokaudit.ingest import ingest_paths
from tokaudit.recount import recount
from tokaudit.recount.pool import default_workers
from tokaudit.store import open_store
from tokaudit.tokenizers import TiktokenTokenizer

MODEL = "gpt-4o-mini"
SYSTEM_PROMPTS = 5


def _words(rng: random.Random, vocabulary: list[str], low: int, high: int) -> str:
    return " ".join(rng.choice(vocabulary) for _ in range(rng.randint(low, high)))


def _vocabulary(rng: random.Random) -> list[str]:
    """Whole-word pieces of the o200k vocabulary: text that tokenizes like prose."""
    encoding = TiktokenTokenizer().get_encoding("o200k_base")
    words = []
    for rank in range(2000, 60000):
        piece = encoding.decode_single_token_bytes(rank)
        if piece.startswith(b" ") and piece[1:].isalpha() and len(piece) > 3:
            words.append(piece[1:].decode("ascii", "ignore"))
    rng.shuffle(words)
    return [*words[:8000], "1,234", "€", "tokens,", "cost."]


def conversations(seed: int, count: int) -> Iterator[list[dict[str, Any]]]:
    """Each yielded item is one request's messages; a conversation's requests re-send history."""
    rng = random.Random(seed)
    vocabulary = _vocabulary(rng)
    systems = [_words(rng, vocabulary, 100, 400) for _ in range(SYSTEM_PROMPTS)]
    for _ in range(count):
        history: list[dict[str, Any]] = [{"role": "system", "content": rng.choice(systems)}]
        for _turn in range(rng.randint(10, 30)):
            history.append({"role": "user", "content": _words(rng, vocabulary, 10, 80)})
            yield list(history)
            history.append({"role": "assistant", "content": _words(rng, vocabulary, 20, 150)})


def unique_texts(seed: int, count: int) -> Iterator[list[dict[str, Any]]]:
    rng = random.Random(seed + 1)
    vocabulary = _vocabulary(rng)
    for _ in range(count):
        yield [{"role": "user", "content": _words(rng, vocabulary, 200, 1200)}]


def write_log(path: Path, requests: Iterator[list[dict[str, Any]]]) -> int:
    """Envelope lines for the requests (usage logged, so they are priced as usual)."""
    n = 0
    with path.open("w", encoding="utf-8") as out:
        for n, messages in enumerate(requests, start=1):
            record = {
                "timestamp": "2026-10-01T00:00:00Z",
                "provider": "openai",
                "metadata": {"team": "bench"},
                "request": {"model": MODEL, "messages": messages},
                "response": {
                    "id": f"chatcmpl-{n}",
                    "model": MODEL,
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1},
                },
            }
            out.write(json.dumps(record) + "\n")
    return n


def naive(requests: Iterator[list[dict[str, Any]]]) -> int:
    """tiktoken over every message of every request, with the OpenAI chat framing."""
    tokenizer = TiktokenTokenizer()
    encode = tokenizer.get_encoding(tokenizer.encoding_for(MODEL)).encode_ordinary
    total = 0
    for messages in requests:
        total += 3  # reply priming
        for message in messages:
            total += 3 + len(encode(message["role"])) + len(encode(message["content"]))
    return total


def store_for(directory: Path, name: str, requests: Iterator[list[dict[str, Any]]]) -> Any:
    """Ingest the requests, then reopen the store as `tokaudit recount --db` would."""
    log = directory / f"{name}.jsonl"
    n = write_log(log, requests)
    con = open_store(directory / f"{name}.duckdb")
    ingest_paths(con, [str(log)])
    con.close()
    log.unlink()
    return open_store(directory / f"{name}.duckdb"), n


def timed(label: str, fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    seconds = time.perf_counter() - start
    print(f"{label:<46} {seconds:8.2f} s", flush=True)
    return value, seconds


def run(args: argparse.Namespace) -> int:
    workers = args.workers or default_workers()
    TiktokenTokenizer().get_encoding("o200k_base")  # load the vocabulary outside the timings
    ok = True
    with tempfile.TemporaryDirectory(prefix="tokaudit-bench-") as tmp:
        directory = Path(tmp)
        print(f"workers: {workers}; generating and ingesting (not timed) ...", flush=True)
        # Generated once, before any timing: generating the text inside the naive timing
        # added about 4 s (conversations) and 1.7 s (unique texts) to it.
        chats = list(conversations(args.seed, args.conversations))
        con, n = store_for(directory, "conv", iter(chats))
        print(f"conversations: {args.conversations}, requests: {n}")
        want, t_naive = timed(
            "naive tiktoken, every request's full text", lambda: naive(iter(chats))
        )
        chats.clear()
        _, t_ours = timed(
            "tokaudit recount (per-message, all cores)", lambda: recount(con, workers=workers)
        )
        got = int(
            con.execute("SELECT coalesce(sum(recounted_input_tokens), 0) FROM requests").fetchone()[
                0
            ]
        )
        _, _t_again = timed(
            "tokaudit recount again (nothing new)", lambda: recount(con, workers=workers)
        )
        con.close()
        print(
            f"totals: naive {want:,}  tokaudit {got:,}  {'identical' if got == want else 'DIFFER'}"
        )
        print(f"conversation speed-up: {t_naive / max(t_ours, 1e-9):.1f}x (target >= 5x)")
        ok = ok and got == want

        texts = list(unique_texts(args.seed, args.unique))
        con, n = store_for(directory, "unique", iter(texts))
        chars = int(
            con.execute("SELECT sum(chars) FROM prompt_texts WHERE kind = 'input'").fetchone()[0]
        )
        print(f"unique texts: {n}, {chars / 1e6:.1f} MB of JSON")
        want, t_single = timed("single-process tiktoken", lambda: naive(iter(texts)))
        _, t_pool = timed(
            f"tokaudit recount ({workers} workers)", lambda: recount(con, workers=workers)
        )
        got = int(con.execute("SELECT sum(recounted_input_tokens) FROM requests").fetchone()[0])
        con.close()
        print(
            f"totals: tiktoken {want:,}  tokaudit {got:,}  "
            f"{'identical' if got == want else 'DIFFER'}"
        )
        print(f"unique-text throughput: {t_single / t_pool:.2f}x single-process (target >= 1.6x)")
        ok = ok and got == want
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--unique", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=0, help="0 = every core")
    sys.exit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
