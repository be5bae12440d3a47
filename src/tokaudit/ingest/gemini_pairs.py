"""Gemini / Vertex AI ``generateContent`` responses, bare or with their request (docs/formats.md).

- **Time.** ``createTime`` (Vertex responses) when a line has no ``timestamp``; Gemini API
  responses carry none, so their lines need one.
- **Model.** The request body has none (it is in the URL): the line's ``model``, else the
  model in its ``url`` (``.../models/<model>:generateContent``), and the response's
  ``modelVersion`` as the model that answered.
- **Integer enums.** With ``$alt=json;enum-encoding=int`` Vertex writes enums as numbers:
  ``finishReason`` is mapped to its name (``Candidate.FinishReason`` in
  google/cloud/aiplatform/v1beta1/content.proto); ``trafficType`` 0 and 1
  (unspecified, ``ON_DEMAND``) are standard pricing, as in the envelope; a usage detail's
  ``modality`` 4 is AUDIO (read by the envelope SQL, ``usage.MODALITY_NUMBERS``).
- **Streams.** A ``streamGenerateContent`` JSON array or SSE text is folded into one
  response with the last ``usageMetadata`` (none when cut before its ``finishReason``).
- **google-genai SDK dumps.** A response (or list of chunks) logged as the Python SDK dumps
  it (``model_dump(mode="json")``, snake_case names) is renamed to the API's names before
  it is read or folded (``genai_sdk.py``), so its ``create_time`` is its time too.
"""

from __future__ import annotations

from typing import ClassVar

from tokaudit.ingest.pairs import PairsFormat

# google.cloud.aiplatform.v1beta1.Candidate.FinishReason, in enum-number order from 0.
FINISH_REASONS = (
    "FINISH_REASON_UNSPECIFIED",
    "STOP",
    "MAX_TOKENS",
    "SAFETY",
    "RECITATION",
    "OTHER",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "MALFORMED_FUNCTION_CALL",
    "MODEL_ARMOR",
)
_NAMES = ", ".join(f"'{n}'" for n in FINISH_REASONS)


class GeminiPairsFormat(PairsFormat):
    name = "gemini-pairs"
    description = "Gemini / Vertex generateContent responses, bare or paired (JSONL)"
    provider = "google"
    body_time_sql = "resp -> 'createTime'"
    time_hint = "no timestamp, and the response has no createTime"
    body_sql = "ta_genai_camel(raw_resp)"
    replace: ClassVar[dict[str, str]] = {
        "finish_reason": f"""CASE WHEN regexp_full_match(e.finish_reason, '[0-9]+')
            THEN coalesce([{_NAMES}][try_cast(e.finish_reason AS INTEGER) + 1],
                          e.finish_reason)
            ELSE e.finish_reason END"""
    }
