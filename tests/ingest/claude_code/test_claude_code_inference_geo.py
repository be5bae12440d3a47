"""claude-code: ``usage.inference_geo`` (data residency) is kept and priced.

Claude Code writes ``"not_available"`` (and sometimes ``""``) when no geo was set, and
``"us"`` under US-only inference, which costs 1.1x on Claude 4.6 and later models
(https://platform.claude.com/docs/en/about-claude/pricing#data-residency-pricing). Expected
costs are hand arithmetic on the published Opus 4.6 rates ($5 in, $0.50 read, $6.25 5m
write, $25 out).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from claude_code_kit import Store, assistant, session_file, usage

OPUS_46 = "claude-opus-4-6"


def _line(msg_id: str, geo: str | None, model: str = OPUS_46) -> dict:
    u = usage(input_tokens=1000, cache_read=10_000, write_5m=2000, output=1000)
    if geo is not None:
        u["inference_geo"] = geo
    return assistant(msg_id, f"req_{msg_id}", u, model=model, uuid=msg_id)


def test_inference_geo_is_recorded_and_us_costs_1_1x(store: Store, tmp_path: Path) -> None:
    lines = [
        _line("msg_us", "us"),
        _line("msg_na", "not_available"),
        _line("msg_empty", ""),
        _line("msg_none", None),
        # Haiku 4.5 predates US-only pricing: standard ($1 / $0.10 / $1.25 / $5)
        _line("msg_haiku_us", "us", model="claude-haiku-4-5-20251001"),
    ]
    store.ingest(session_file(tmp_path, lines))
    meta = {
        k.split(":")[-1]: json.loads(r["metadata"]).get("inference_geo", "-")
        for k, r in store.requests().items()
    }
    assert meta == {
        "msg_us": "us",
        "msg_na": "-",  # no geo set: nothing recorded
        "msg_empty": "-",
        "msg_none": "-",
        "msg_haiku_us": "us",
    }
    got = {k.split(":")[-1]: (r["price_context"], r["cost_usd"]) for k, r in store.costs().items()}
    # 1000 x 5 + 10000 x 0.5 + 2000 x 6.25 + 1000 x 25 = 47,500 per 1M; US-only x 1.1
    assert got == {
        "msg_us": ("us", Decimal("0.05225")),
        "msg_na": ("standard", Decimal("0.0475")),
        "msg_empty": ("standard", Decimal("0.0475")),
        "msg_none": ("standard", Decimal("0.0475")),
        # 1000 x 1 + 10000 x 0.1 + 2000 x 1.25 + 1000 x 5 = 9,500 per 1M
        "msg_haiku_us": ("us", Decimal("0.0095")),
    }
