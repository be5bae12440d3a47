"""Ingest: log files in, ``requests`` and ``rejects`` rows out, nothing dropped."""

from tokaudit.ingest.loader import FileResult, IngestResult, ingest_paths

__all__ = ["FileResult", "IngestResult", "ingest_paths"]
