"""Expand user paths (files, directories, globs) and fingerprint files."""

from __future__ import annotations

import functools
import glob
import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from tokaudit.errors import InputError

# Extensions a directory walk picks up; a file named explicitly is always read.
LOG_SUFFIXES = (".jsonl", ".ndjson", ".json", ".log")
COMPRESSED_SUFFIXES = (".gz", ".zst")
BOM = "\ufeff"  # a UTF-8 byte order mark some editors write first: not part of line 1


def uncompressed_name(path: Path) -> str:
    """The file's name without a ``.gz`` / ``.zst`` suffix (a copy of its decompressed
    lines keeps the name the formats read it by: ``.csv``, ``.jsonl``)."""
    name = path.name
    for suffix in COMPRESSED_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def is_log_name(path: Path, suffixes: tuple[str, ...] = LOG_SUFFIXES) -> bool:
    name = path.name.lower()
    for comp in ("", *COMPRESSED_SUFFIXES):
        if any(name.endswith(s + comp) for s in suffixes):
            return True
    return False


# Entries of a Claude Code config directory (~/.claude, $CLAUDE_CONFIG_DIR) beside its
# transcripts in projects/: settings, prompt history, credentials, todos are not logs.
CLAUDE_CONFIG_MARKERS = (
    "history.jsonl",
    "settings.json",
    ".credentials.json",
    "todos",
    "statsig",
    "shell-snapshots",
    "session-env",
    "file-history",
)


def walk_root(path: Path) -> Path:
    """Where a directory walk starts: ``projects/`` inside a Claude Code config directory."""
    projects = path / "projects"
    if projects.is_dir() and any((path / m).exists() for m in CLAUDE_CONFIG_MARKERS):
        return projects
    return path


@functools.lru_cache(maxsize=4096)
def _real_dir(directory: str) -> str:
    return os.path.realpath(directory)


def real_path(path: Path) -> Path:
    """``path.resolve()``, resolving each directory once: thousands of session files share
    a few directories, and resolving every component of every path costs a syscall each."""
    text = os.fspath(path)
    if os.path.islink(text):  # os.path.realpath: a loop of links is no error (resolve raises)
        return Path(os.path.realpath(text))
    directory, name = os.path.split(text)
    # made absolute but not normalised: ``..`` after a linked directory is resolved by
    # realpath, after the link (abspath dropped it as text, naming another file)
    return Path(os.path.join(_real_dir(os.path.join(os.getcwd(), directory)), name))


def _log_files(root: Path, suffixes: tuple[str, ...]) -> Iterator[Path]:
    """Log files under ``root``: ``os.walk`` reads each directory once, where
    ``Path.rglob`` plus ``is_file`` cost a stat per entry (2,100 session files: 25 ms
    against 55 ms). Symlinked directories are not entered, as with ``rglob``. A symbolic
    link with a log's name that leads nowhere (a deleted target, a loop) is listed too, to
    fail as unreadable with its reason: it was skipped without a word."""
    for directory, _, names in os.walk(root):
        for name in names:
            path = Path(directory, name)
            if is_log_name(path, suffixes) and _listed(path):
                yield path


def _listed(path: Path) -> bool:
    """A file to read, or a link that leads nowhere (to fail with its reason, not vanish)."""
    return path.is_file() or (os.path.islink(path) and not os.path.exists(path))


def expand_paths(paths: list[str], suffixes: tuple[str, ...] = LOG_SUFFIXES) -> list[Path]:
    """Files in the order given; directories walked recursively for log files, sorted.

    A Claude Code config directory is walked from its ``projects/`` folder only.
    """
    out: list[Path] = []
    for raw in paths:
        if not raw:  # Path("") is ".": `ingest "$LOGS"` with LOGS unset read the cwd
            raise InputError(
                f"{raw!r}: an empty path (an unset variable?); give a file, directory, glob or -"
            )
        path = Path(raw)
        if path.is_dir():
            found = sorted(_log_files(walk_root(path), suffixes))
            if not found:  # as a glob that matches nothing: a mistyped folder must not pass
                names = ", ".join(f"*{s}" for s in suffixes)
                raise InputError(
                    f"{raw}: no log files in this directory (looked for {names}, also .gz or .zst)"
                )
            out.extend(found)
        elif path.is_file():
            out.append(path)
        elif glob.has_magic(raw):
            matches: list[Path] = []
            for match in sorted(Path(m) for m in glob.glob(raw, recursive=True)):
                if _listed(match):
                    matches.append(match)
                elif match.is_dir():  # walked like a directory argument
                    matches.extend(sorted(_log_files(walk_root(match), suffixes)))
            if not matches:
                raise InputError(f"{raw}: the pattern matches no file")
            out.extend(matches)
        elif path.exists():  # a FIFO, a device, a socket: `<(zcat …)` gives one
            raise InputError(
                f"{raw}: not a regular file (a pipe or a device); pipe it to standard input "
                "and give - instead"
            )
        else:
            raise InputError(f"{raw}: no such file or directory")
    seen: set[Path] = set()
    unique = []
    for p in out:
        key = real_path(p)
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def file_size(path: Path) -> int:
    """Bytes on disk, 0 for a file that cannot be read (it fails later, with its reason)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


ZST_RATIO = 8  # what a .zst of JSON logs is taken to hold, per byte, when it does not say


def read_size(path: Path) -> int:
    """About how many bytes reading ``path`` yields: its size, or for a ``.gz`` the
    uncompressed size its trailer records (its last member's, modulo 4 GiB: so never taken
    below the size on disk), for a ``.zst`` ``ZST_RATIO`` times its size. What a batch of
    files holds is counted so (``loader._batches``): 44 MB of ``.gz`` on disk held 2 GB of
    logs."""
    size = file_size(path)
    name = path.name.lower()
    if name.endswith(".zst"):
        return size * ZST_RATIO
    if not name.endswith(".gz") or size < 18:
        return size
    try:
        with path.open("rb") as fh:
            fh.seek(-4, os.SEEK_END)
            recorded = int.from_bytes(fh.read(4), "little")
    except OSError:
        return size
    return max(size, recorded)


def fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


STDIN = "-"
STDIN_NAME = "<stdin>"
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"  # 0xFD2FB528, little-endian
# the first bytes of a compressed stream, and the suffix DuckDB reads it by
COMPRESSION_MAGIC = {GZIP_MAGIC: ".gz", ZSTD_MAGIC: ".zst"}


def spool_stdin(stream: BinaryIO, directory: Path) -> Path:
    """Copy standard input to a file in ``directory``, 1 MiB at a time (never all in memory).

    DuckDB reads files, not pipes. Compressed input keeps working: the spool file is
    named ``.gz`` or ``.zst`` when the first bytes say so.
    """
    first = stream.read(1 << 20)
    suffix = next((s for magic, s in COMPRESSION_MAGIC.items() if first.startswith(magic)), "")
    target = directory / f"stdin{suffix}"
    with target.open("wb") as out:
        out.write(first)
        shutil.copyfileobj(stream, out, 1 << 20)
    return target


# Zstandard frame format, RFC 8878 section 3.1: the numbers the structure walk needs.
_SKIPPABLE_MAGICS = tuple((0x184D2A50 + n).to_bytes(4, "little") for n in range(16))
_ZSTD_BLOCK_MAX = 128 * 1024  # Block_Maximum_Size is at most 128 KiB
_DICT_ID_BYTES = (0, 1, 2, 4)  # by Dictionary_ID_flag
_FCS_BYTES = (0, 2, 4, 8)  # by Frame_Content_Size_flag (0 with Single_Segment_flag: 1)


class _ZstdCut(Exception):
    """The file ends before the frame being walked does."""


class _ZstdCorrupt(Exception):
    """Bytes that no valid frame has where they are."""


class _ZstdNoFrame(_ZstdCorrupt):
    """No frame starts where one should: not zstd at all, or garbage after the last frame."""


class _ZstdReader:
    """Reads only the few header bytes of a file, by offset: blocks are skipped, not read."""

    def __init__(self, fh: BinaryIO, size: int) -> None:
        self.fh, self.size = fh, size

    def bytes_at(self, pos: int, n: int) -> bytes:
        self.skip(pos, n)
        self.fh.seek(pos)
        data = self.fh.read(n)
        if len(data) != n:  # the file shrank while being read
            raise _ZstdCut
        return data

    def skip(self, pos: int, n: int) -> int:
        if pos + n > self.size:
            raise _ZstdCut
        return pos + n


def _zstd_frame_end(reader: _ZstdReader, pos: int) -> int:
    """The offset just after the frame at ``pos`` (RFC 8878 sections 3.1.1 and 3.1.2)."""
    magic = reader.bytes_at(pos, 4)
    if magic in _SKIPPABLE_MAGICS:  # Frame_Size (4 bytes LE), then that much user data
        return reader.skip(pos + 8, int.from_bytes(reader.bytes_at(pos + 4, 4), "little"))
    if magic != ZSTD_MAGIC:
        raise _ZstdNoFrame
    descriptor = reader.bytes_at(pos + 4, 1)[0]  # Frame_Header_Descriptor
    if descriptor & 0x08:
        raise _ZstdCorrupt(f"the reserved bit is set in the frame header at byte {pos}")
    single_segment = bool(descriptor & 0x20)
    fcs_bytes = _FCS_BYTES[descriptor >> 6] or (1 if single_segment else 0)
    # the descriptor, Window_Descriptor unless single-segment, Dictionary_ID, content size
    header = 1 + (not single_segment) + _DICT_ID_BYTES[descriptor & 0x03] + fcs_bytes
    at = reader.skip(pos + 4, header)
    while True:  # blocks (3.1.1.2): a 3-byte LE header, then the block's content
        block = int.from_bytes(reader.bytes_at(at, 3), "little")
        last, kind, block_size = block & 1, (block >> 1) & 3, block >> 3
        if kind == 3:
            raise _ZstdCorrupt(f"a block of the reserved type at byte {at}")
        if block_size > _ZSTD_BLOCK_MAX:
            raise _ZstdCorrupt(f"a block of {block_size} bytes (over 128 KiB) at byte {at}")
        at = reader.skip(at + 3, 1 if kind == 1 else block_size)  # RLE: one byte
        if last:
            return reader.skip(at, 4 if descriptor & 0x04 else 0)  # Content_Checksum


def zst_problem(path: Path) -> str | None:
    """Why a ``.zst`` file is not a whole Zstandard archive; None when it is (or not ``.zst``).

    DuckDB decompresses a ``.zst`` cut short without an error: it yields the lines before
    the cut (or none), so the loss would go unnoticed, where a cut ``.gz`` fails to read.
    The file is walked by its structure, per RFC 8878 (Zstandard Compression and the
    application/zstd Media Type), section 3.1: frames one after another, each skippable
    (magic, size, data) or a Zstandard frame (magic, header, blocks whose 3-byte headers
    give their sizes, an optional 4-byte checksum). Only headers are read and blocks are
    skipped by seeking: a read per block, never the whole file. The file is whole when its
    last frame ends exactly at its end. 0 bytes counts as whole (an empty log, as an empty
    ``.gz`` is). Nothing is decompressed: a damaged block inside a frame of the right
    size is left to the decompressor.
    """
    if not path.name.lower().endswith(".zst"):
        return None
    try:
        with path.open("rb", buffering=0) as fh:
            reader = _ZstdReader(fh, os.fstat(fh.fileno()).st_size)
            pos = 0
            while pos < reader.size:
                left = reader.size - pos
                if left < 4:  # the start of a magic number, or trailing garbage
                    tail = reader.bytes_at(pos, left)
                    if any(m.startswith(tail) for m in (ZSTD_MAGIC, *_SKIPPABLE_MAGICS)):
                        raise _ZstdCut
                    raise _ZstdNoFrame
                pos = _zstd_frame_end(reader, pos)
    except _ZstdCut:
        return (
            f"truncated .zst archive: the file ends inside the frame that starts at byte {pos} "
            f"({reader.size} bytes)"
        )
    except _ZstdNoFrame:
        if pos == 0:
            return "not a .zst archive: it does not start with a Zstandard frame"
        return f"corrupt .zst archive: unexpected data after the last frame, at byte {pos}"
    except _ZstdCorrupt as exc:
        return f"corrupt .zst archive: {exc}"
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    return None
