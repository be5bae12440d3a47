"""Readable copies of damaged logs: lines that are not UTF-8, archives cut short.

DuckDB refuses a whole file for one byte that is not UTF-8 and for a ``.gz`` that ends
early, and reads a cut ``.zst`` up to the cut without a word
(``files.zst_problem`` finds that cut). Either way every line that can be read would be
lost, or the damage would go unseen. A ``Repair`` is a plain copy of what can be read,
staged like the file itself (under the file's own name, its format detected anew), and
the reasons its damaged lines become rejects:

- a line that is not UTF-8 is decoded with U+FFFD and kept as a reject with the offending
  byte;
- a line longer than ``LINE_LIMIT`` (256 MiB less 64 KiB, a margin below what DuckDB's
  line reader takes: it refused the whole file for a longer one, or skipped it unseen) is
  left out of the copy and kept as a reject with its first 64 KiB (never held whole);
- where an archive ends early (or a ``.gz`` has bytes after its last member that start
  none), the line it ends in is an incomplete reject (unless it is
  a whole JSON object that only lost its newline), or, when it ends between lines, a
  reject just after the last line says so. The file's status carries the damage too.

A ``.gz`` whose deflate data or checksum is bad is not repaired: bytes decoded before the
fault may be wrong too, so it stays a file error (``gzip_verdict`` checks every ``.gz``
before it loads: DuckDB's reader checks no checksum and would load the garbage). Lines
stream through; nothing is held whole.
"""

from __future__ import annotations

import codecs
import json
import mmap
import os
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import duckdb

from tokaudit.ingest.files import GZIP_MAGIC, uncompressed_name
from tokaudit.ingest.staging import MAX_LINE_BYTES, read_lines_sql

__all__ = [
    "DAMAGE_REASONS",
    "GzipVerdict",
    "LineCheck",
    "Repair",
    "check_plain_lines",
    "gzip_verdict",
    "has_bare_cr",
    "has_overlong_line",
    "is_line_too_long",
    "is_not_utf8",
    "marked_records",
    "newline_copy",
    "repair_copy",
    "repair_zst",
    "utf8_marked_copy",
]

CHUNK = 1 << 20
# DuckDB's line reader refuses a whole file for a line longer than MAX_LINE_BYTES, and
# (strict_mode off) skips one longer than its buffer without a word; a line ending within
# a few bytes of the limit near the start of a file lost the line after it (measured). So
# lines longer than LINE_LIMIT, a margin below, are found before DuckDB reads the file
# (``has_overlong_line``, ``gzip_verdict``) and left out of a copy, each a reject with
# its first bytes.
LINE_LIMIT = MAX_LINE_BYTES - 65_536
LONG_LINE_HEAD = 64 * 1024
# SQL: a ``rejects`` row that records an archive's damage (its reason starts with the
# problem, then "; "), the ones ``_cut`` writes
DAMAGE_REASONS = (
    "(reason LIKE 'truncated .% archive%; %' OR reason LIKE 'corrupt .gz archive (unexpected%; %')"
)


# A byte that is not UTF-8, in a copy of a JSON document: the private-use character
# U+10FF00 + the byte's value. DuckDB rewrites the document as one line per record, and
# the record a byte ended up in is found by its mark (no log writes these characters).
_MARK_BASE = 0x10FF00
_MARKED = re.compile("[\U0010ff00-\U0010ffff]")
_MARK_ERRORS = "tokaudit-mark-bytes"


def _mark_bad_bytes(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start : error.end]
    return "".join(chr(_MARK_BASE + b) for b in bad), error.end


codecs.register_error(_MARK_ERRORS, _mark_bad_bytes)


def is_line_too_long(exc: BaseException) -> bool:
    """DuckDB's line reader refuses a file with a line longer than ``MAX_LINE_BYTES``: "CSV
    Error on Line: N ... Maximum line size of ..." just past it, "The Parallel CSV Reader
    currently does not support a full read on this file" at twice the buffer or more. (A
    copy that finds no such line changes nothing: the error stands.)"""
    text = str(exc)
    return "Maximum line size of" in text or "does not support a full read" in text


def is_not_utf8(exc: BaseException) -> bool:
    """DuckDB's line reader and read_text refuse a file with bytes that are not UTF-8 (its
    JSON reader says "invalid UTF-8 encoding")."""
    text = str(exc)
    return "Invalid unicode" in text or "as valid UTF-8" in text or "invalid UTF-8" in text


@dataclass(frozen=True)
class Repair:
    """A readable copy of a damaged log and the rejects its damaged lines become."""

    path: Path
    # line number: (reason, the line as decoded; None for a line past the end of the copy)
    reasons: dict[int, tuple[str, str | None]] = field(default_factory=dict)
    damage: str | None = None  # why the archive is incomplete: the file's status

    def mark_rejects(self, con: duckdb.DuckDBPyConnection) -> None:
        """Every staged row of a damaged line becomes a reject with its reason; a line the
        format staged no row for (or one past the copy's end) gets one."""
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _damaged AS SELECT unnest(?::BIGINT[]) AS line_no, "
            "unnest(?::VARCHAR[]) AS reason, unnest(?::VARCHAR[]) AS line",
            [
                list(self.reasons),
                [r for r, _ in self.reasons.values()],
                [t for _, t in self.reasons.values()],
            ],
        )
        con.execute(
            """UPDATE _staged SET reject_reason = b.reason, line = b.line, non_request = false
            FROM _damaged b WHERE _staged.line_no = b.line_no"""
        )
        con.execute(
            """INSERT INTO _staged (line_no, line, reject_reason, non_request, file_no)
            SELECT b.line_no, b.line, b.reason, false, 0 FROM _damaged b
            WHERE b.line_no NOT IN (SELECT line_no FROM _staged WHERE line_no IS NOT NULL)"""
        )
        con.execute("DROP TABLE _damaged")


class _Lines:
    """Writes decompressed bytes to the copy line by line, keeping the reasons of its damaged
    lines (not UTF-8, or too long to read); the bytes after the final newline are the
    ``tail``. A line longer than ``LINE_LIMIT`` is not held whole: its first
    ``LONG_LINE_HEAD`` bytes are kept for its reject, and the copy gets an empty line."""

    def __init__(self, out: Path) -> None:
        self.fh = out.open("wb")
        self.count = 0  # whole lines written
        self.reasons: dict[int, tuple[str, str | None]] = {}
        self.pending: list[bytes] = []
        self.pending_bytes = 0  # the current line's length so far, kept or not
        self.overlong = False  # the current line is past LINE_LIMIT: only its head is kept
        self.carry = b""  # a CR at the end of a chunk: maybe half a CRLF

    def feed(self, data: bytes) -> None:
        """Line ends as ``newline_copy`` writes them: CRLF and a bare CR each end a line
        (a bare CR left in the copy failed the whole file in DuckDB's line reader, QA)."""
        data, self.carry = _lf_line_ends(self.carry + data)
        self._feed(data)

    def _feed(self, data: bytes) -> None:
        parts = data.split(b"\n")
        self._hold(parts[0])
        if len(parts) == 1:
            return
        self._end_line()
        for part in parts[1:-1]:
            self._line(part)
        self._hold(parts[-1])

    def _hold(self, data: bytes) -> None:
        """Add bytes to the current line, keeping only its head once it is too long."""
        self.pending_bytes += len(data)
        if self.overlong:
            return
        self.pending.append(data)
        if self.pending_bytes > LINE_LIMIT:  # the head only, without joining the line
            head: list[bytes] = []
            room = LONG_LINE_HEAD
            for piece in self.pending:
                head.append(piece[:room])
                room -= len(head[-1])
                if not room:
                    break
            self.pending = [b"".join(head)]
            self.overlong = True

    def _end_line(self) -> None:
        raw, size = b"".join(self.pending), self.pending_bytes
        overlong = self.overlong
        self.pending, self.pending_bytes, self.overlong = [], 0, False
        self._line(raw, size if overlong else None)

    def _line(self, raw: bytes, overlong_size: int | None = None) -> None:
        self.count += 1
        if overlong_size is None and len(raw) > LINE_LIMIT:
            overlong_size, raw = len(raw), raw[:LONG_LINE_HEAD]
        if overlong_size is not None:
            self.reasons[self.count] = (
                f"a line of {overlong_size:,} bytes: longer than the {LINE_LIMIT:,} bytes a "
                f"line may have, so it is not read (its first {LONG_LINE_HEAD:,} bytes are "
                "kept here)",
                raw.decode("utf-8", errors="replace"),
            )
            self.fh.write(b"\n")  # an empty line keeps the line numbers
            return
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as err:
            text = raw.decode("utf-8", errors="replace")
            reason = (
                f"not valid UTF-8 (byte 0x{raw[err.start]:02x} at byte {err.start + 1} of the line)"
            )
            self.reasons[self.count] = (reason, text.rstrip("\r"))
            raw = text.encode("utf-8")
        self.fh.write(raw + b"\n")

    @property
    def tail(self) -> bytes:
        return b"".join(self.pending)

    def close(self, write_tail: bool) -> None:
        """The bytes after the last newline go to the copy as a last line, if asked."""
        if self.carry:  # a CR that ended the data ends a line
            self.carry = b""
            self._feed(b"\n")
        if write_tail and self.pending_bytes:
            self._end_line()
        self.fh.close()


def _whole_record(text: str) -> bool:
    """A line that parses as a JSON object is whole, even without its newline."""
    try:
        return isinstance(json.loads(text), dict)
    except (ValueError, RecursionError):
        return False


def _cut(lines: _Lines, problem: str) -> None:
    """Close the copy of an archive that ends early, its last line judged by ``_whole_record``;
    the cut becomes a reject (the incomplete line, or one just after the last line).

    An incomplete line stays out of the copy (a CSV row cut short would make DuckDB's CSV
    sniffer fail the whole copy): its reject is added with its text."""
    tail = lines.tail.decode("utf-8", errors="replace").rstrip("\r")
    whole = bool(tail) and _whole_record(tail)
    incomplete = bool(tail) and not whole
    lines.close(write_tail=whole)
    if incomplete:
        lines.reasons[lines.count + 1] = (
            f"{problem}; what could be read ends inside this line, which is incomplete, "
            "and nothing after it could be read",
            tail,
        )
    elif lines.count == 0:
        lines.reasons[1] = (f"{problem}; not one line could be read", None)
    else:
        lines.reasons[lines.count + 1] = (
            f"{problem}; what could be read ends after line {lines.count}, and nothing "
            "after it could be read",
            None,
        )


@dataclass(frozen=True)
class GzipVerdict:
    """Why a ``.gz`` does not end as a gzip file should (``problem``), or, for a whole one
    (``problem`` None), that it holds a bare CR (``has_bare_cr``'s rule on its lines)."""

    problem: str | None
    # the lines before the damage are the file's own (a cut, junk after the last member);
    # False for bad deflate data or a bad checksum, where bytes decoded before the fault
    # may be wrong too (DuckDB's reader checks no checksum: it loads them silently)
    repairable: bool
    bare_cr: bool = False
    overlong: bool = False  # a line longer than LINE_LIMIT (``has_overlong_line``'s rule)


def _gzip_chunks(path: Path) -> Iterator[bytes | GzipVerdict]:
    """The decompressed bytes of a ``.gz`` (every member), then, if it is damaged, why.

    Deflate decodes a prefix exactly, so the lines before a cut are the file's; after
    whole members, bytes that start no member are damage after the last good one.
    """
    decompressor = zlib.decompressobj(wbits=31)
    started = False
    offset = 0  # compressed bytes consumed
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            while chunk:
                if not started and not chunk.strip(b"\x00"):
                    break  # zero padding after the last member
                started = True
                try:
                    yield decompressor.decompress(chunk)
                except zlib.error as exc:
                    reason = str(exc).rsplit(": ", 1)[-1]  # "incorrect data check", ...
                    yield GzipVerdict(f"corrupt .gz archive ({reason})", repairable=False)
                    return
                if decompressor.eof:  # a member ended: another may follow
                    rest = decompressor.unused_data
                    offset += len(chunk) - len(rest)
                    if rest and not rest.startswith(GZIP_MAGIC[: len(rest)]):
                        if rest.strip(b"\x00"):
                            yield GzipVerdict(
                                "corrupt .gz archive (unexpected data after the last member, "
                                f"at compressed byte {offset})",
                                repairable=True,
                            )
                            return
                        rest = b""
                    decompressor = zlib.decompressobj(wbits=31)
                    started = False
                    chunk = rest
                else:
                    offset += len(chunk)
                    chunk = b""
    if started:
        yield GzipVerdict("truncated .gz archive", repairable=True)


def gzip_verdict(path: Path) -> GzipVerdict | None:
    """Whether a ``.gz`` is whole: decompressed to nothing, its checksums checked (zlib
    releases the GIL, so files are checked on several threads). None when it is whole
    and holds no bare CR and no overlong line; the same pass looks for them, as
    ``has_bare_cr`` and ``has_overlong_line`` do in a plain file."""
    scan, lengths, head = _BareCr(), _LineLengths(), b""
    for chunk in _gzip_chunks(path):
        if isinstance(chunk, GzipVerdict):
            return chunk
        head = head if len(head) >= 4 else head + chunk[:4]
        scan.feed(chunk)
        lengths.feed(chunk)
    if head.startswith(b"PAR1"):  # a Parquet file (``--map``) is binary: never
        return None
    if scan.found or lengths.found:
        return GzipVerdict(None, repairable=False, bare_cr=scan.found, overlong=lengths.found)
    return None


def _plain_chunks(path: Path) -> Iterable[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


def _file_chunks(path: Path) -> Iterable[bytes | GzipVerdict]:
    """A plain or ``.gz`` file's bytes, decompressed (``_gzip_chunks`` ends with a damaged
    archive's verdict)."""
    return _gzip_chunks(path) if path.name.lower().endswith(".gz") else _plain_chunks(path)


def repair_copy(path: Path, directory: Path, always: bool = False) -> Repair | None:
    """A copy of a plain or ``.gz`` log with its damage marked; None when nothing is damaged
    (or the file cannot be read at all), unless ``always`` (a ``.gz`` DuckDB refuses that
    has no damage, such as one padded with zero bytes). ``.zst`` is ``repair_zst``'s."""
    if path.name.lower().endswith(".zst"):
        return None
    target = directory / uncompressed_name(path)
    lines = _Lines(target)
    problem: str | None = None
    try:
        chunks = _file_chunks(path)
        for chunk in chunks:
            if isinstance(chunk, GzipVerdict):
                if not chunk.repairable:
                    lines.close(write_tail=False)
                    return None  # nothing of it can be trusted: a file error
                problem = chunk.problem
                break
            lines.feed(chunk)
    except OSError:
        lines.close(write_tail=False)
        return None
    if problem is not None:
        _cut(lines, problem)
        return Repair(target, lines.reasons, problem)
    lines.close(write_tail=True)
    return Repair(target, lines.reasons) if lines.reasons or always else None


def utf8_marked_copy(path: Path, directory: Path) -> Path | None:
    """A UTF-8 copy of a plain or ``.gz`` file whose bytes that are not UTF-8 are marked
    (``marked_records`` finds them); None for a ``.zst`` (DuckDB alone decompresses it, and
    it refuses such bytes) or a file that cannot be read whole."""
    if path.name.lower().endswith(".zst"):
        return None
    target = directory / uncompressed_name(path)
    decoder = codecs.getincrementaldecoder("utf-8")(errors=_MARK_ERRORS)
    chunks = _file_chunks(path)
    try:
        with target.open("wb") as out:
            for chunk in chunks:
                if isinstance(chunk, GzipVerdict):
                    return None
                out.write(decoder.decode(chunk).encode("utf-8"))
            out.write(decoder.decode(b"", final=True).encode("utf-8"))
    except OSError:
        return None
    return target


def marked_records(path: Path) -> dict[int, tuple[str, str | None]]:
    """The lines of a JSON Lines copy made from a ``utf8_marked_copy`` that hold a marked
    byte, as ``Repair.reasons``: the line's reject reason, and its text with U+FFFD for
    each such byte."""
    reasons: dict[int, tuple[str, str | None]] = {}
    with path.open(encoding="utf-8", newline="\n") as fh:
        for number, line in enumerate(fh, 1):
            found = _MARKED.search(line)
            if found:
                byte = ord(found.group()) - _MARK_BASE
                reason = f"not valid UTF-8 (byte 0x{byte:02x} in this record of the document)"
                reasons[number] = (reason, _MARKED.sub("\ufffd", line.rstrip("\n")))
    return reasons


def repair_zst(
    con: duckdb.DuckDBPyConnection, path: Path, directory: Path, problem: str
) -> Repair | None:
    """The lines DuckDB decompresses from a ``.zst`` cut short (``problem``), as a copy.

    Whether the last of them was cut cannot be told from the lines (the reader drops line
    ends), so it is whole only if it is a whole JSON object (``_whole_record``). None when
    DuckDB cannot read the lines either (the file error then stands).
    """
    target = directory / uncompressed_name(path)
    lines = _Lines(target)
    try:
        cursor = con.cursor()
        try:
            cursor.execute(f"SELECT line FROM {read_lines_sql(path)}")
            separator = b""  # each line ends when the next begins: the last stays the tail
            while rows := cursor.fetchmany(10_000):
                for (line,) in rows:
                    lines.feed(separator + ("" if line is None else str(line)).encode("utf-8"))
                    separator = b"\n"
        finally:
            cursor.close()
    except duckdb.Error:
        lines.close(write_tail=False)
        return None
    _cut(lines, problem)
    return Repair(target, lines.reasons, problem)


@dataclass(frozen=True)
class LineCheck:
    """What DuckDB's line reader would stumble on in a plain file (``check_plain_lines``)."""

    bare_cr: bool  # a CR not part of a CRLF: the reader drops the byte after it
    overlong: bool  # a line longer than LINE_LIMIT: refused, or skipped unseen


def check_plain_lines(path: Path) -> LineCheck:
    """Whether a plain file holds a bare CR or a line longer than ``LINE_LIMIT`` (an unended
    last line included), in one mapping of the file (a ``.gz`` is looked through in the
    pass that checks it whole, ``gzip_verdict``).

    DuckDB's line reader takes a bare CR for a line end and drops the byte after it
    (``"c\\rd"`` reads as ``c`` and an empty line), so such a file is read from a copy with
    LF line ends; a CR as the very last byte ends the last line, as a newline would. The
    file is mapped, not read: ``find`` skips from CR to CR in place (600 MB without one:
    0.1 s), and each look for a long line jumps to the last newline within ``LINE_LIMIT``
    bytes. A Parquet file (``--map``) is binary: never.
    """
    with path.open("rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            return LineCheck(False, False)
        try:
            view = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # a file that cannot be mapped is scanned in blocks
            return _check_blocks(fh)
        with view:
            if view[:4] == b"PAR1":
                return LineCheck(False, False)
            return LineCheck(_bare_cr_in(view, size), size > LINE_LIMIT and _long_gap(view))


def has_bare_cr(path: Path) -> bool:
    """Whether a plain file holds a carriage return that is not part of a CRLF."""
    return check_plain_lines(path).bare_cr


def has_overlong_line(path: Path) -> bool:
    """Whether a plain file holds a line longer than ``LINE_LIMIT`` bytes."""
    return check_plain_lines(path).overlong


def _bare_cr_in(view: mmap.mmap, size: int) -> bool:
    at = view.find(b"\r")
    while at != -1 and at + 1 < size:
        if view[at + 1] != 0x0A:
            return True
        at = view.find(b"\r", at + 2)
    return False


def _long_gap(data: bytes | mmap.mmap, start: int = 0) -> bool:
    """Whether ``data[start:]`` holds more than ``LINE_LIMIT`` bytes without a newline."""
    position, end = start, len(data)
    while end - position > LINE_LIMIT:
        newline = data.rfind(b"\n", position, position + LINE_LIMIT + 1)
        if newline == -1:
            return True
        position = newline + 1
    return False


class _LineLengths:
    """Whether bytes fed block by block hold a line longer than ``LINE_LIMIT`` (the bytes
    after the last newline count as a line)."""

    def __init__(self) -> None:
        self.run = 0  # bytes since the last newline
        self.found = False

    def feed(self, block: bytes) -> None:
        if self.found:
            return
        first = block.find(b"\n")
        if first == -1:
            self.run += len(block)
            self.found = self.run > LINE_LIMIT
            return
        self.found = self.run + first > LINE_LIMIT or _long_gap(block, first + 1)
        self.run = len(block) - block.rfind(b"\n") - 1


class _BareCr:
    """Looks for a CR that is not part of a CRLF in bytes fed block by block (a CR as the
    very last byte ends the last line, as a newline would)."""

    def __init__(self) -> None:
        self.previous = b""
        self.found = False

    def feed(self, block: bytes) -> None:
        if self.found or not (b"\r" in block or self.previous):
            return
        data = self.previous + block
        # a CR at the block's end may start a CRLF: it is judged with the next block
        self.previous = b"\r" if data.endswith(b"\r") else b""
        self.found = data.replace(b"\r\n", b"").count(b"\r") > len(self.previous)


def _check_blocks(fh: BinaryIO) -> LineCheck:
    """``check_plain_lines`` for a file that cannot be mapped: read in blocks."""
    if fh.read(4) == b"PAR1":
        return LineCheck(False, False)
    fh.seek(0)
    scan, lengths = _BareCr(), _LineLengths()
    while not (scan.found and lengths.found) and (block := fh.read(CHUNK)):
        scan.feed(block)
        lengths.feed(block)
    return LineCheck(scan.found, lengths.found)


def _bare_cr_in_blocks(fh: BinaryIO) -> bool:
    return _check_blocks(fh).bare_cr


def _lf_line_ends(data: bytes) -> tuple[bytes, bytes]:
    """``data`` with CRLF and every bare CR as LF, and a CR it ends with held back (maybe
    half a CRLF, whose LF is in the next block): prepend it to that block, or write it as
    an LF after the last one."""
    carry = b"\r" if data.endswith(b"\r") else b""
    data = data[:-1] if carry else data
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n"), carry


def newline_copy(path: Path, directory: Path) -> Repair:
    """A plain copy of a plain or whole ``.gz`` file with every line end an LF: CRLF and a
    bare CR both become one, as Python's universal newlines read them (a bare CR ends a
    line, and is counted as a line in the line numbers). Streamed; nothing is dropped."""
    target = directory / uncompressed_name(path)
    carry = b""
    with target.open("wb") as out:
        for block in _file_chunks(path):
            if isinstance(block, GzipVerdict):  # checked whole before: cannot happen
                raise OSError(f"{path}: {block.problem}")
            data, carry = _lf_line_ends(carry + block)
            out.write(data)
        out.write(carry.replace(b"\r", b"\n"))
    return Repair(target)
