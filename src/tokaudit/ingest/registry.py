"""The log formats tokaudit knows, in detection order."""

from __future__ import annotations

from tokaudit.ingest.envelope import EnvelopeFormat
from tokaudit.ingest.interface import LogFormat

FORMATS: dict[str, LogFormat] = {f.name: f for f in [EnvelopeFormat()]}
