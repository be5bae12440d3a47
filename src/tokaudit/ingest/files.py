"""Expand user paths (files, directories, globs) and fingerprint files."""

from __future__ import annotations

import glob
import hashlib
from pathlib import Path

from tokaudit.errors import InputError

# Extensions a directory walk picks up; a file named explicitly is always read.
LOG_SUFFIXES = (".jsonl", ".ndjson", ".json", ".log")
COMPRESSED_SUFFIXES = (".gz", ".zst")


def is_log_name(path: Path) -> bool:
    name = path.name.lower()
    for comp in ("", *COMPRESSED_SUFFIXES):
        if any(name.endswith(s + comp) for s in LOG_SUFFIXES):
            return True
    return False


def expand_paths(paths: list[str]) -> list[Path]:
    """Files in the order given; directories walked recursively for log files, sorted."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.is_file() and is_log_name(p)))
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
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
