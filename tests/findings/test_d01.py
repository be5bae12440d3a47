"""D01 on logs whose provider is the platform, not the model's vendor."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from helpers import priced_store
from tokaudit.findings import default_settings
from tokaudit.findings.uncached_prefix import UncachedPrefix

LONG = "hello" + " hello" * 1999  # 2,000 tokens in o200k_base


def _litellm(i: int, ts: str) -> dict[str, Any]:
    model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    return {
        "id": f"l{i}",
        "call_type": "acompletion",
        "status": "success",
        "custom_llm_provider": "bedrock",
        "startTime": ts,
        "endTime": ts,
        "model": model,
        "metadata": {"user_api_key_team_id": "bt"},
        "prompt_tokens": 2010,
        "completion_tokens": 10,
        "total_tokens": 2020,
        "messages": [{"role": "system", "content": LONG}, {"role": "user", "content": f"q{i}"}],
        "response": {
            "id": f"l{i}",
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}],
            "usage": {"prompt_tokens": 2010, "completion_tokens": 10, "total_tokens": 2020},
        },
    }


def test_claude_on_bedrock_pays_the_write_premium(tmp_path: Path) -> None:
    """LiteLLM logs Claude on Bedrock as provider ``bedrock``: the chain that never wrote
    still owes the 5-minute write premium, and the advice is cache_control (the premium
    was left out, so the saving was overstated, and the advice was OpenAI's)."""
    times = ["2026-10-01 10:00:00", "2026-10-01 10:02:00", "2026-10-01 10:04:00"]
    con = priced_store(tmp_path, [_litellm(i, ts) for i, ts in enumerate(times)])
    # Bedrock us.* Sonnet 4.5 (regional, +10%): input $3.30, read $0.33, 5-minute write
    # $4.125 per 1M. 2 missed requests of a 2,000-token prefix, one write never paid.
    per_million = Decimal(10) ** 6
    gross = 2 * 2000 * (Decimal("3.30") - Decimal("0.33")) / per_million
    premium = 2000 * (Decimal("4.125") - Decimal("3.30")) / per_million
    found = UncachedPrefix().evaluate(con, default_settings()["D01"])
    assert [(f.team, f.requests, f.savings_usd) for f in found] == [("bt", 2, gross - premium)]
    assert found[0].savings_usd == Decimal("0.01023")
    assert "mark it with cache_control" in found[0].detail
    # the two missed requests are claimed: D09 leaves them out of its savings
    claimed = con.execute("SELECT request_key FROM _claimed_requests ORDER BY 1").fetchall()
    assert claimed == [("litellm:l1",), ("litellm:l2",)]


def _azure(i: int, ts: str) -> dict[str, Any]:
    """A LiteLLM spend log of gpt-4o on Azure OpenAI, no cache read."""
    call = _litellm(i, ts)
    call.update(custom_llm_provider="azure", model="gpt-4o-2024-08-06")
    call["response"]["model"] = "gpt-4o-2024-08-06"
    call["metadata"] = {"user_api_key_team_id": "az"}
    return call


def test_azure_openai_caches_in_openais_128_token_steps(tmp_path: Path) -> None:
    """Azure OpenAI caches as OpenAI does, from 1,024 tokens in steps of 128
    (learn.microsoft.com, prompt caching): a 2,000-token prefix could have been read for
    1,920 tokens, not 2,000, and its size is exact (o200k), not an estimate."""
    times = ["2026-10-01 10:00:00", "2026-10-01 10:02:00", "2026-10-01 10:04:00"]
    con = priced_store(tmp_path, [_azure(i, ts) for i, ts in enumerate(times)])
    assert con.execute("SELECT DISTINCT provider FROM requests").fetchall() == [("azure",)]
    # gpt-4o: input $2.50, cached input $1.25 per 1M; no write premium (GPT-4o writes at
    # the input rate). 2 missed requests, 1,024 + 7 × 128 = 1,920 cacheable tokens each.
    saving = 2 * 1920 * (Decimal("2.50") - Decimal("1.25")) / 10**6
    found = UncachedPrefix().evaluate(con, default_settings()["D01"])
    assert [(f.team, f.requests, f.savings_usd) for f in found] == [("az", 2, saving)]
    assert "estimated" not in found[0].detail
