"""Where a price table comes from: a directory, or a git revision (``git:REV[:PATH]``).

A revision is read with ``git show REV:PATH/...`` into a temporary directory and then loaded
and hash-verified like any other table, so ``pricing diff git:v0.3 pricing/`` and
``report --compare-pricing git:HEAD~5`` compare exactly what was committed.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from tokaudit.errors import PricingTableError
from tokaudit.pricing.manifest import MANIFEST
from tokaudit.pricing.overlay import load_overlay
from tokaudit.pricing.table import PriceTable, default_pricing_dir, inspect_table, load_price_table

GIT_PREFIX = "git:"


def _git(args: list[str], cwd: Path) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except OSError as exc:
        raise PricingTableError(f"cannot run git: {exc}") from exc
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip()
        raise PricingTableError(f"git {' '.join(args)}: {message}")
    return done.stdout


def materialise_git(spec: str, into: Path, cwd: Path | None = None) -> Path:
    """Write ``PATH/manifest.yaml`` and ``PATH/providers/*.yaml`` at ``REV`` into ``into``.

    ``spec`` is ``git:REV`` (the table directory ``pricing``) or ``git:REV:PATH``; PATH is
    relative to the repository root.
    """
    rev, _, rel = spec[len(GIT_PREFIX) :].partition(":")
    if not rev:
        raise PricingTableError(f"{spec!r}: write git:REV or git:REV:PATH, e.g. git:HEAD~1")
    rel = (rel or "pricing").strip("/")
    where = cwd or Path.cwd()
    top = Path(_git(["rev-parse", "--show-toplevel"], where).decode().strip())
    listing = _git(["ls-tree", "-r", "--name-only", rev, "--", f"{rel}/"], top).decode()
    wanted = [
        name
        for name in listing.splitlines()
        if name == f"{rel}/{MANIFEST}"
        or (name.startswith(f"{rel}/providers/") and name.endswith(".yaml"))
    ]
    if f"{rel}/{MANIFEST}" not in wanted:
        raise PricingTableError(f"{spec}: no {rel}/{MANIFEST} at revision {rev}")
    for name in wanted:
        target = into / name[len(rel) + 1 :]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_git(["show", f"{rev}:{name}"], top))
    return into


def table_from(spec: str | Path | None) -> PriceTable:
    """Load (and verify) a table from a directory, a ``git:`` revision, or the default."""
    if spec is not None and str(spec).startswith(GIT_PREFIX):
        with tempfile.TemporaryDirectory(prefix="tokaudit-pricing-") as tmp:
            table = load_price_table(materialise_git(str(spec), Path(tmp)))
            # The files are gone after this block; keep the spec as the table's origin.
            return _renamed(table, str(spec))
    return load_price_table(None if spec is None else Path(spec))


def inspect_from(spec: str | Path | None) -> tuple[PriceTable | None, list[str]]:
    """Like ``table_from`` but returns every problem instead of raising (validation)."""
    if spec is not None and str(spec).startswith(GIT_PREFIX):
        with tempfile.TemporaryDirectory(prefix="tokaudit-pricing-") as tmp:
            table, problems = inspect_table(materialise_git(str(spec), Path(tmp)))
            return (None if table is None else _renamed(table, str(spec))), problems
    return inspect_table(None if spec is None else Path(spec))


def _renamed(table: PriceTable, origin: str) -> PriceTable:
    import dataclasses

    return dataclasses.replace(table, directory=Path(origin))


def load_prices(pricing: str | Path | None = None, overlay: Path | None = None) -> PriceTable:
    """The table every priced command uses: the chosen table, then the overlay on top."""
    table = table_from(pricing)
    return load_overlay(table, overlay) if overlay is not None else table


def describe(spec: str | Path | None) -> str:
    return str(spec) if spec is not None else str(default_pricing_dir())
