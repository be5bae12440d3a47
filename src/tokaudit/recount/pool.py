"""Count rendered units, on every core when there is enough work to pay for it.

tiktoken releases the GIL while it encodes (two threads counting texts alone: 1.7 to 2.3x
one thread), but the Python work around each unit does not, and in the whole recount
threads were no faster than processes (alternating runs, docs/benchmarks.md). So the
workers are processes: on Linux they are forked after the tokenizers have loaded their
vocabularies, so a worker starts in milliseconds and shares the vocabulary pages. Work
goes out in batches, with only a few batches in flight, so texts stream through instead
of being held at once. Where ``fork`` is not available, or the work is small,
everything runs in this process.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import operator
import os
import signal
import threading
import warnings
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tokaudit.config_file import env_count
from tokaudit.recount.render import Rendered, render_unit
from tokaudit.tokenizers import ChatProfile, Tokenizer

__all__ = [
    "FAILED",
    "Counter",
    "Groups",
    "UnitRow",
    "count_texts",
    "default_workers",
    "fallback_label",
]

# (row number, group, kind, ctx, payload): the group's (tokenizer, model, provider,
# profile) go to the workers once, in a ``Groups`` table, not with every unit
UnitRow = tuple[int, int, str, str, str]
Group = tuple[str, str, str, str]  # tokenizer, model, provider, profile
Groups = dict[int, Group]
# (row number, tokens, exact): numbers only, so results go back to DuckDB cheaply
CountRow = tuple[int, int, bool]

FAILED = -1  # the token count of a unit whose tokenizer raised: not stored
POOL_MIN_CHARS = 2_000_000  # below this, starting workers costs more than it saves
_STATE: dict[str, Any] = {}
_WARMING: list[threading.Thread] = []  # vocabulary loads started by Counter.warm_up


WORKERS_ENV = "TOKAUDIT_WORKERS"


def configured_workers() -> int | None:
    """``TOKAUDIT_WORKERS`` as a whole number ≥ 1, None when unset or empty; anything else
    is a configuration error (it was ignored, so a typo silently changed nothing)."""
    return env_count(WORKERS_ENV, "recount workers", 1, None, "use the idle cores")


def default_workers() -> int:
    """``TOKAUDIT_WORKERS`` if set, else the cores this process may use that are idle.

    Busy cores are subtracted (the 1-minute load average, as ``make -l`` does), but never
    below two workers where there are two cores: on a shared 2-core machine at load 4 to 6,
    two workers counted in 4.5 s (median of 6) against 6.3 s for one (docs/benchmarks.md).
    """
    configured = configured_workers()
    if configured is not None:
        return configured
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    try:
        busy = int(os.getloadavg()[0] + 0.5)
    except OSError:  # no load average on this platform
        busy = 0
    return max(min(cores, 2), min(cores, cores - busy + 1))


_FATAL = (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError)  # never swallowed
# The largest count a plugin may return for one text. A log line holds at most 256 MiB and a
# tokenizer makes about one token per byte at most, so no real count comes near it; a count
# beyond BIGINT stopped the recount with a DuckDB conversion error, and sums of counts this
# size stay well within it.
MOST_TOKENS = 2**31 - 1


def _leave_ctrl_c_to_the_parent() -> None:
    """A worker ignores SIGINT: Ctrl-C reaches the whole process group, and the parent
    stops the pool (each worker printed a KeyboardInterrupt traceback). SIGTERM, which the
    parent turns into an interrupt (tokaudit.entry), just ends a worker."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def count_texts(tokenizer: Tokenizer, texts: list[str], model: str) -> tuple[list[int], str | None]:
    """Counts of ``texts`` (``FAILED`` for each text the tokenizer fails on) and the first
    failure's reason: one call for all, then, if that fails, one call per text."""
    try:
        counts = tokenizer.count(texts, model)
        if len(counts) != len(texts):
            raise ValueError(f"returned {len(counts)} counts for {len(texts)} texts")
        return [_whole_count(c) for c in counts], None
    except _FATAL:
        raise
    except BaseException as exc:  # a Rust panic inside a tokenizer is a BaseException
        if len(texts) == 1:
            return [FAILED], f"{type(exc).__name__}: {exc}"
    out: list[int] = []
    reason = None
    for text in texts:
        [count], why = count_texts(tokenizer, [text], model)
        out.append(count)
        reason = reason or why
    return out, reason


def _whole_count(count: object) -> int:
    """A plugin's count as an int: a whole number of 0 or more (numpy integers too), else
    the plugin failed on that text (a string or a float would break the sums, a negative
    count the prices)."""
    if isinstance(count, bool):
        raise ValueError(f"returned {count!r} as a count: a count is a whole number")
    try:
        value = operator.index(count)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"returned {count!r} as a count: a count is a whole number") from None
    if value < 0:
        raise ValueError(f"returned {value} as a count: a count cannot be negative")
    if value > MOST_TOKENS:
        raise ValueError(f"returned {value} as a count: no text holds {MOST_TOKENS + 1:,} tokens")
    return value


def fallback_label(tokenizer: str, fallback: str) -> str:
    """The tokenizer shown for a count that ``fallback`` completed where ``tokenizer`` failed
    (``hf+estimate-o200k``); also the key of ``fallback``'s first failure in ``errors``."""
    return f"{tokenizer}+{fallback}"


def _fall_back(
    fallback: Tokenizer,
    texts: list[str],
    counts: list[int],
    model: str,
    errors: dict[str, str] | None,
    label: str,
) -> set[str]:
    """Count with ``fallback`` the ``texts`` whose ``counts`` are ``FAILED``, in place; the
    texts it counted. Its own failures stay ``FAILED``, the first reason under ``label``."""
    failed = [i for i, count in enumerate(counts) if count == FAILED]
    estimates, reason = count_texts(fallback, [texts[i] for i in failed], model)
    if reason is not None and errors is not None:
        errors.setdefault(label, reason)
    counted: set[str] = set()
    for i, estimate in zip(failed, estimates, strict=True):
        if estimate != FAILED:
            counts[i] = estimate
            counted.add(texts[i])
    return counted


def count_units(
    rows: list[UnitRow],
    groups: Groups,
    tokenizers: dict[str, Tokenizer],
    profiles: dict[str, ChatProfile],
    errors: dict[str, str] | None = None,
    fallback: Tokenizer | None = None,
    fell_back: set[int] | None = None,
) -> list[CountRow]:
    """Render each unit and count its texts, one tokenizer call per (tokenizer, model).

    A text the tokenizer fails on is counted with ``fallback`` (the estimate) instead: its
    units are then estimates (exact False) and their row numbers go to ``fell_back``. A
    text neither can count fails only its own units (``FAILED``). The first reason per
    tokenizer goes to ``errors``; the fallback's own, under ``fallback_label``.
    """
    rendered: list[Rendered] = []
    by_model: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, (_, gid, kind, ctx, payload) in enumerate(rows):
        tokenizer, model, provider, profile = groups[gid]
        rendered.append(render_unit(kind, ctx, payload, profiles[profile], provider))
        by_model[(tokenizer, model)].append(index)
    # a unit's fixed tokens may be negative (-1 included), so failures are kept apart from
    # the totals rather than read off them
    totals = [r.const for r in rendered]
    failed: set[int] = set()
    fell: set[int] = set()  # units with a text counted by the fallback
    for (tokenizer, model), indexes in by_model.items():
        texts: list[str] = []
        owners: list[int] = []
        signs: list[int] = []  # -1 for a text taken off (Rendered.less)
        for index in indexes:
            for sign, some in ((1, rendered[index].texts), (-1, rendered[index].less)):
                texts.extend(some)
                owners.extend([index] * len(some))
                signs.extend([sign] * len(some))
        # each text once: every message repeats its role ("user", "assistant", ...)
        distinct = list(dict.fromkeys(texts))
        # a plugin failing on some text must not stop the others
        counts, reason = count_texts(tokenizers[tokenizer], distinct, model)
        estimated: set[str] = set()
        if reason is not None:  # the failure path: everything below it is per group
            if errors is not None:
                errors.setdefault(tokenizer, reason)
            if fallback is not None and fallback.name != tokenizer:
                label = fallback_label(tokenizer, fallback.name)
                estimated = _fall_back(fallback, distinct, counts, model, errors, label)
        count_of = dict(zip(distinct, counts, strict=True))
        for owner, sign, text in zip(owners, signs, texts, strict=True):
            if count_of[text] == FAILED:
                failed.add(owner)
            else:
                totals[owner] += sign * count_of[text]
        if estimated:
            fell.update(o for o, text in zip(owners, texts, strict=True) if text in estimated)
    for i in failed:
        totals[i] = FAILED
    out = [(row[0], totals[i], rendered[i].exact) for i, row in enumerate(rows)]
    for i in fell:  # estimated units: never exact, and named to the caller
        if i not in failed:
            out[i] = (rows[i][0], totals[i], False)
            if fell_back is not None:
                fell_back.add(rows[i][0])
    return out


CHUNK_CHARS = 256_000  # work sent to a worker at a time: small enough to keep both busy


def _chunks(rows: list[UnitRow]) -> Iterator[list[UnitRow]]:
    """Split a fetched batch into pieces of about ``CHUNK_CHARS`` of payload."""
    chunk: list[UnitRow] = []
    size = 0
    for row in rows:
        chunk.append(row)
        size += len(row[4])
        if size >= CHUNK_CHARS:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _load(tokenizers: dict[str, Tokenizer], pairs: list[tuple[str, str]]) -> None:
    for name, model in pairs:
        with contextlib.suppress(Exception):  # the real count reports a failing tokenizer
            tokenizers[name].count([""], model)


Counted = tuple[list[CountRow], dict[str, str], set[int]]  # a worker's answer


def _worker(rows: list[UnitRow]) -> Counted:
    errors: dict[str, str] = {}
    fell_back: set[int] = set()
    counted = count_units(
        rows,
        _STATE["groups"],
        _STATE["tokenizers"],
        _STATE["profiles"],
        errors,
        _STATE["fallback"],
        fell_back,
    )
    return counted, errors, fell_back


@dataclass
class Counter:
    """Counts batches of units in this process or in a pool of forked workers.

    ``fallback`` (the estimate) counts the texts a tokenizer fails on (``count_units``).
    """

    tokenizers: dict[str, Tokenizer]
    profiles: dict[str, ChatProfile]
    workers: int = 1
    fallback: Tokenizer | None = None
    failed: set[str] = field(default_factory=set)  # tokenizers with units left uncounted
    estimated: set[str] = field(default_factory=set)  # ... with units the fallback counted
    errors: dict[str, str] = field(default_factory=dict)  # the first reason of each
    _warmed: set[tuple[str, str]] = field(default_factory=set)

    def warm_up(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Load the vocabularies of these (tokenizer, model) pairs in a background thread.

        Called before long SQL (DuckDB releases the GIL while it reads bodies), so the
        load overlaps it; forked workers then inherit the loaded vocabularies. Called only
        when there are texts to split or count, so a store without text (Claude Code logs)
        loads no vocabulary.
        """
        todo = [pair for pair in pairs if pair not in self._warmed]
        self._warmed.update(todo)
        if todo:
            thread = threading.Thread(target=_load, args=(self.tokenizers, todo), daemon=True)
            thread.start()
            _WARMING.append(thread)

    def _collect(self, future: Future[Counted], fell_back: set[int] | None) -> list[CountRow]:
        counted, errors, fell = future.result()
        for name, reason in errors.items():
            self.errors.setdefault(name, reason)
        if fell and fell_back is not None:
            fell_back.update(fell)
        return counted

    def run(
        self,
        batches: Iterable[list[UnitRow]],
        groups: Groups,
        total_chars: int,
        fell_back: set[int] | None = None,
    ) -> Iterator[CountRow]:
        """Counted rows, batch by batch; order across batches is not kept. The row numbers
        of units counted (in part) by ``fallback`` are added to ``fell_back``."""
        # Every load finished (this run's or an earlier one's): never fork while a thread
        # may hold the vocabulary lock.
        while _WARMING:
            _WARMING.pop().join()
        use_pool = (
            self.workers > 1
            and total_chars >= POOL_MIN_CHARS
            and "fork" in multiprocessing.get_all_start_methods()
        )
        if not use_pool:
            for batch in batches:
                yield from count_units(
                    batch,
                    groups,
                    self.tokenizers,
                    self.profiles,
                    self.errors,
                    self.fallback,
                    fell_back,
                )
            return
        _STATE.update(
            groups=groups,
            tokenizers=self.tokenizers,
            profiles=self.profiles,
            fallback=self.fallback,
        )
        # Hugging Face tokenizers warn on stderr when forked after using their own threads.
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        with warnings.catch_warnings():
            # Python 3.12+ warns that forking a threaded process may deadlock; the
            # workers only tokenize and never touch the parent's DuckDB threads.
            warnings.simplefilter("ignore", DeprecationWarning)
            pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("fork"),
                initializer=_leave_ctrl_c_to_the_parent,
            )
        try:
            pending: list[Future[Counted]] = []
            for batch in batches:
                for chunk in _chunks(batch):
                    pending.append(pool.submit(_worker, chunk))
                    while len(pending) >= 3 * self.workers:
                        yield from self._collect(pending.pop(0), fell_back)
            for future in pending:
                yield from self._collect(future, fell_back)
        finally:
            pool.shutdown(cancel_futures=True)
            _STATE.clear()
