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
    if os.path.islink(text):
        return path.resolve()
    directory, name = os.path.split(os.path.abspath(text))
    return Path(os.path.join(_real_dir(directory), name))


def _log_files(root: Path, suffixes: tuple[str, ...]) -> Iterator[Path]:
    """Log files under ``root``: ``os.walk`` reads each directory once, where
    ``Path.rglob`` plus ``is_file`` cost a stat per entry (2,100 session files: 25 ms
    against 55 ms). Symlinked directories are not entered, as with ``rglob``."""
    for directory, _, names in os.walk(root):
        for name in names:
            path = Path(directory, name)
            if is_log_name(path, suffixes) and path.is_file():
                yield path


def expand_paths(paths: list[str], suffixes: tuple[str, ...] = LOG_SUFFIXES) -> list[Path]:
    """Files in the order given; directories walked recursively for log files, sorted.

    A Claude Code config directory is walked from its ``projects/`` folder only.
    """
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out.extend(sorted(_log_files(walk_root(path), suffixes)))
        elif path.is_file():
            out.append(path)
        elif glob.has_magic(raw):
            matches = sorted(Path(m) for m in glob.glob(raw, recursive=True) if Path(m).is_file())
            if not matches:
                raise InputError(f"{raw}: the pattern matches no file")
            out.extend(matches)
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


def fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


STDIN = "-"
STDIN_NAME = "<stdin>"
_MAGIC = {b"\x1f\x8b": ".gz", b"\x28\xb5\x2f\xfd": ".zst"}


def spool_stdin(stream: BinaryIO, directory: Path) -> Path:
    """Copy standard input to a file in ``directory``, 1 MiB at a time (never all in memory).

    DuckDB reads files, not pipes. Compressed input keeps working: the spool file is
    named ``.gz`` or ``.zst`` when the first bytes say so.
    """
    first = stream.read(1 << 20)
    suffix = next((s for magic, s in _MAGIC.items() if first.startswith(magic)), "")
    target = directory / f"stdin{suffix}"
    with target.open("wb") as out:
        out.write(first)
        shutil.copyfileobj(stream, out, 1 << 20)
    return target
