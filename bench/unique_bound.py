"""How fast could any recount backed by a DuckDB store count all-unique text?

The all-unique workload of ``bench_recount.py`` leaves nothing to deduplicate, so the
recount can only win by counting on both cores. This script measures the best case for
that design, without tokaudit's bookkeeping: one DuckDB query that reads the stored bodies
and returns each distinct message's text (the least any store-backed recount must do),
then tiktoken over those texts on two forked processes, or on two threads (tiktoken
releases the GIL while it encodes), each against single-process tiktoken over the same
texts, timed alternately in the same run. If this minimum is below 1.6x, so is any
recount built on it.

    PYTHONPATH=src python bench/unique_bound.py [--unique 4000] [--runs 5]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import duckdb
import tiktoken
from bench_recount import store_for, unique_texts

from tokaudit.tokenizers import TiktokenTokenizer

ENCODING: tiktoken.Encoding = TiktokenTokenizer().get_encoding("o200k_base")
DISTINCT_TEXTS = """
    SELECT DISTINCT hash(m), length(m::VARCHAR), m ->> '$.content' FROM (
        SELECT unnest(from_json(body, '{"messages":"JSON[]"}').messages) AS m
        FROM prompt_texts WHERE kind = 'input')"""


def _count(texts: list[str]) -> int:
    return sum(len(ENCODING.encode_ordinary(text)) for text in texts)


def _texts(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [text for _, _, text in con.execute(DISTINCT_TEXTS).fetchall()]


def with_processes(con: duckdb.DuckDBPyConnection) -> int:
    texts = _texts(con)
    chunks = [texts[i : i + 64] for i in range(0, len(texts), 64)]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        return sum(pool.map(_count, chunks))


def with_threads(con: duckdb.DuckDBPyConnection) -> int:
    texts = _texts(con)
    with ThreadPoolExecutor(2) as pool:
        return sum(pool.map(_count, [texts[0::2], texts[1::2]]))


def _time(fn: Callable[[], int]) -> tuple[int, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--unique", type=int, default=4000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    texts = [messages[0]["content"] for messages in unique_texts(args.seed, args.unique)]
    with tempfile.TemporaryDirectory(prefix="tokaudit-bound-") as tmp:
        con, _ = store_for(Path(tmp), "unique", unique_texts(args.seed, args.unique))
        ratios: dict[str, list[float]] = {"processes": [], "threads": []}
        for run in range(1, args.runs + 1):
            want, single = _time(lambda: _count(texts))
            for name, fn in (("processes", with_processes), ("threads", with_threads)):
                got, seconds = _time(lambda fn=fn: fn(con))  # type: ignore[misc]
                assert got == want, f"{name}: {got} tokens, single process {want}"
                ratios[name].append(single / seconds)
                print(f"run {run}: single {single:.2f} s, {name} {seconds:.2f} s", flush=True)
        con.close()
    for name, values in ratios.items():
        print(
            f"{name}: median {statistics.median(values):.2f}x single-process "
            f"(runs: {', '.join(f'{v:.2f}' for v in values)})"
        )


if __name__ == "__main__":
    main()
