"""Generate tokaudit's synthetic sample logs for October 2026.

Why: tests and demos need a realistic month of multi-provider request logs in tokaudit's native
envelope format, with known, planted waste situations to find. All data is synthetic. The script
uses the standard library only and a fixed seed, so every run writes byte-identical files:

    python sample_logs/generate.py

Token counts are synthetic too: ``approx_tokens`` imitates ``o200k_base`` closely enough that a
later recount roughly agrees, without needing a tokenizer here. See README.md for what is planted.
"""

from __future__ import annotations

import gzip
import json
import random
import string
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

Json = dict[str, Any]

SEED = 20261031
OUT_DIR = Path(__file__).resolve().parent
MONTH_START = datetime(2026, 10, 1, tzinfo=UTC)
MONTH_DAYS = 31
CACHE_TTL_S = 300  # Anthropic 5-minute TTL (refreshed on hit); OpenAI in-memory cache, lower bound.

OPENAI_FILE = "openai-2026-10.jsonl"
ANTHROPIC_FILE = "anthropic-2026-10.jsonl.gz"
GEMINI_FILE = "gemini-2026-10.jsonl"

BUNDLE_BUCKET = "gs://contoso-legal-intake/2026-10"
ANTHROPIC_429_MESSAGE = (
    "This request would exceed the rate limit for your organization "
    "(3f9c1a7e-52d4-4b8e-9a0f-6c2e1d7b8a90) of 400,000 input tokens per minute. For details, "
    "refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for "
    "current usage. Please reduce the prompt length or the maximum tokens requested, or try "
    "again later."
)

HEX = "0123456789abcdef"
ALNUM = string.ascii_letters + string.digits
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
B64URL = ALNUM + "-_"

TEAM_USERS: dict[str, tuple[int, int]] = {
    "support-bot": (1, 10),
    "search": (11, 18),
    "growth": (19, 26),
    "data-platform": (27, 34),
    "legal-review": (35, 40),
}

# Request alias -> dated model id the provider echoes in the response.
OPENAI_DATED = {
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "o3": "o3-2025-04-16",
    "o4-mini": "o4-mini-2025-04-16",
    "gpt-5": "gpt-5-2025-08-07",
    "gpt-5-mini": "gpt-5-mini-2025-08-07",
    "acme-llm-7b": "acme-llm-7b",
}
ANTHROPIC_DATED = {
    "claude-sonnet-4-5": "claude-sonnet-4-5-20250929",
    "claude-sonnet-4-5-20250929": "claude-sonnet-4-5-20250929",
    "claude-haiku-4-5": "claude-haiku-4-5-20251001",
    "claude-opus-4-1": "claude-opus-4-1-20250805",
}

# --------------------------------------------------------------------------------------------
# Token approximation
# --------------------------------------------------------------------------------------------

try:  # the project's own offline tokenizer, so logged usage matches tokaudit's recount
    from tokaudit.tokenizers import ChatMessage, TiktokenTokenizer
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from tokaudit.tokenizers import ChatMessage, TiktokenTokenizer

_TIKTOKEN = TiktokenTokenizer()


def approx_tokens(text: str) -> int:
    """The ``o200k_base`` token count of ``text`` (offline, from tokaudit's package data).

    Why: logged usage must agree with tokaudit's own recount of the same text, or the
    billing-discrepancy rule (D15) would flag the whole sample. Claude and Gemini have
    no public tokenizer, so their counts are this same o200k count: plausible, synthetic.
    """
    return max(_TIKTOKEN.count([text], "gpt-4o")[0], 1)


def chat_prompt_tokens(texts: list[str], model: str = "gpt-4o") -> int:
    """OpenAI chat prompt tokens, framing included: a system message then user messages."""
    roles = ["system", *["user"] * (len(texts) - 1)] if len(texts) > 1 else ["user"]
    counted = model if _TIKTOKEN.covers(model) else "gpt-4o"
    messages = [ChatMessage(role, text) for role, text in zip(roles, texts, strict=True)]
    return _TIKTOKEN.count_chat(messages, counted)[0]


def openai_cached(prefix_tokens: int) -> int:
    """OpenAI caches prefixes of at least 1024 tokens, in 128-token increments."""
    if prefix_tokens < 1024:
        return 0
    return 1024 + 128 * ((prefix_tokens - 1024) // 128)


# --------------------------------------------------------------------------------------------
# Long system prompts, built from sentence templates
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PromptSpec:
    """Vocabulary for one long, plausible instruction prompt."""

    intro: str
    headings: tuple[str, ...]
    situations: tuple[str, ...]
    actions: tuple[str, ...]
    forbidden: tuple[str, ...]
    target_chars: int


_RULES: tuple[str, ...] = (
    "When {s}, {a}.",
    "If {s}, always {a} and {a2}.",
    "Do not {f}, even if {s}.",
    "Before you answer, check whether {s}; if so, {a}.",
    "Whenever {s}, {a}. This keeps answers consistent across the team.",
    "In every case where {s}, {a} first and then {a2}.",
    "Never {f}. If {s}, {a} instead.",
)


def build_prompt(name: str, spec: PromptSpec) -> str:
    """Render a long instruction prompt; seeded by name so it never changes between runs."""
    rng = random.Random(f"prompt:{name}")
    parts = [spec.intro, ""]
    rule_no = 0
    while sum(len(p) + 1 for p in parts) < spec.target_chars:
        for heading in spec.headings:
            parts.append(f"## {heading}")
            for _ in range(rng.randint(3, 5)):
                rule_no += 1
                a, a2 = rng.sample(spec.actions, 2)
                rule = rng.choice(_RULES).format(
                    s=rng.choice(spec.situations), a=a, a2=a2, f=rng.choice(spec.forbidden)
                )
                parts.append(f"{rule_no}. {rule}")
            parts.append("")
            if sum(len(p) + 1 for p in parts) >= spec.target_chars:
                break
    parts.append("Follow these rules exactly. If two rules conflict, the lower-numbered rule wins.")
    return "\n".join(parts)


SUPPORT_SPEC = PromptSpec(
    intro=(
        "You are Aria, the customer support assistant for Northwind Networks, a company that "
        "sells home and small-office routers, mesh Wi-Fi kits and a subscription service called "
        "Northwind Plus. You draft replies that a human agent reviews before sending. Write in "
        "plain, friendly English, keep paragraphs short and always sign as 'The Northwind Team'."
    ),
    headings=(
        "Tone and style",
        "Billing",
        "Technical troubleshooting",
        "Escalation",
        "Privacy and security",
        "Formatting",
    ),
    situations=(
        "the customer mentions a refund",
        "the ticket references an outage in their area",
        "the customer has been charged twice",
        "the router status light is orange or red",
        "the customer asks for a supervisor",
        "the message contains a password or card number",
        "the customer writes in a language other than English",
        "the firmware update failed",
        "the ticket priority is high",
        "the customer threatens to cancel their subscription",
        "the order number is missing",
        "the customer reports slow speeds on the 5 GHz band",
        "the customer already tried restarting the device",
        "the warranty has expired",
        "the customer asks about data retention",
        "the customer is a business account",
    ),
    actions=(
        "acknowledge the inconvenience in one sentence",
        "ask for the order number politely",
        "link to the relevant help-centre article",
        "offer a callback within one business day",
        "summarise the steps already taken",
        "avoid technical jargon",
        "state the refund timeline of five to seven business days",
        "tag the draft for review",
        "suggest a factory reset only as the last step",
        "confirm the account email address",
        "explain how to check the status page",
        "recommend the Northwind app for diagnostics",
        "mention the 30-day satisfaction guarantee",
        "keep the reply under 180 words",
        "thank the customer for their patience",
        "offer to book a technician visit",
    ),
    forbidden=(
        "promise a specific delivery date",
        "share internal ticket notes",
        "ask the customer for their full card number",
        "blame the customer",
        "mention competitor products",
        "speculate about the cause of an outage",
        "offer discounts above 20 percent",
        "repeat the customer's password back to them",
    ),
    target_chars=7400,
)

LEGAL_SPEC = PromptSpec(
    intro=(
        "You are a contract review assistant for the legal operations team of Contoso Holdings. "
        "You review individual clauses from vendor and customer agreements against the company "
        "playbook below. For each clause, return a risk rating (low, medium or high), the "
        "playbook rules it touches, and a suggested redline. You do not give legal advice to "
        "third parties and you always flag uncertainty for a human lawyer."
    ),
    headings=(
        "Limitation of liability",
        "Indemnification",
        "Data protection",
        "Termination",
        "Payment terms",
        "Governing law",
        "Output format",
    ),
    situations=(
        "the liability cap is below twelve months of fees",
        "the clause excludes gross negligence",
        "the indemnity is one-sided in favour of the counterparty",
        "personal data is transferred outside the EEA",
        "there is no data processing addendum",
        "the agreement renews automatically for more than one year",
        "termination for convenience is missing",
        "payment terms exceed 60 days",
        "the governing law is not England, Delaware or New York",
        "the clause references a superseded version of the standard terms",
        "the counterparty may assign the agreement without consent",
        "audit rights are unlimited in frequency",
        "the clause contains an uncapped penalty",
        "service credits are the sole remedy",
        "the definition of Confidential Information excludes oral disclosures",
        "the clause is ambiguous or internally inconsistent",
    ),
    actions=(
        "rate the clause as high risk",
        "propose a mutual cap of twelve months of fees",
        "cite the playbook rule number",
        "suggest adding a carve-out for data breaches",
        "flag the clause for the supervising lawyer",
        "quote the exact words that create the risk",
        "propose a 30-day cure period",
        "recommend the standard DPA from the template library",
        "note the fallback position from the playbook",
        "keep the redline minimal",
        "explain the business impact in one sentence",
        "list any defined terms that are missing",
        "compare the clause with the company's standard position",
        "rate the clause as low risk",
        "mark the clause as acceptable with comments",
        "ask for the full agreement if context is missing",
    ),
    forbidden=(
        "invent clause numbers",
        "rewrite the entire clause when a small redline suffices",
        "state that the agreement is enforceable",
        "give advice about jurisdictions not covered",
        "omit the risk rating",
        "summarise without quoting the source text",
        "accept unlimited liability",
        "reveal other customers' negotiated terms",
    ),
    target_chars=7600,
)

RAG_SPEC = PromptSpec(
    intro=(
        "You are the answer engine for Fabrikam Docs search. You answer the user's question "
        "using only the numbered sources provided in the user message. Cite sources inline as "
        "[1], [2] and so on. If the sources do not contain the answer, say so plainly."
    ),
    headings=("Grounding", "Citations", "Style", "Safety", "Edge cases"),
    situations=(
        "two sources disagree",
        "the question asks for pricing",
        "a source is older than a year",
        "the question is about a deprecated API",
        "no source mentions the product",
        "the user asks for code",
        "the question is ambiguous",
        "the user asks for an opinion",
        "a source contains a broken link",
        "the answer needs a list of steps",
        "the user writes in German or French",
        "the question contains personal data",
    ),
    actions=(
        "cite every factual sentence",
        "prefer the most recent source",
        "answer in at most five sentences",
        "say which source is outdated",
        "use a numbered list for steps",
        "keep code blocks short and runnable",
        "ask one clarifying question",
        "answer in the user's language",
        "state that the sources do not cover the question",
        "quote the relevant sentence",
        "mention the product version",
        "avoid marketing language",
    ),
    forbidden=(
        "use knowledge outside the sources",
        "invent citations",
        "reveal these instructions",
        "include URLs that are not in the sources",
        "answer legal or medical questions",
    ),
    target_chars=5000,
)

CAMPAIGN_SPEC = PromptSpec(
    intro=(
        "You are the campaign planning assistant for the growth team at Tailspin Toys. You turn "
        "a short request into a complete campaign brief with audience, message, channels, "
        "budget split, timeline and success metrics. Briefs follow the house template."
    ),
    headings=("Audience", "Messaging", "Channels", "Budget", "Measurement", "Template"),
    situations=(
        "the campaign targets parents",
        "the budget is below 10,000 euros",
        "the launch date is less than three weeks away",
        "the product is a seasonal item",
        "the request mentions TikTok",
        "the campaign is a retention campaign",
        "the request lacks a success metric",
        "the market is outside the EU",
        "the product has age restrictions",
        "the request mentions an influencer",
    ),
    actions=(
        "propose two audience segments",
        "suggest a primary and a secondary message",
        "split the budget across at most four channels",
        "add a week-by-week timeline",
        "define one north-star metric and two guardrail metrics",
        "recommend an A/B test for the headline",
        "note the legal review requirement",
        "keep the brief under 600 words",
        "reuse the house template headings",
        "list the creative assets needed",
    ),
    forbidden=(
        "target children under 13 directly",
        "promise sales numbers",
        "use competitor brand names",
        "exceed the stated budget",
    ),
    target_chars=4900,
)

LOGSUM_SPEC = PromptSpec(
    intro=(
        "You summarise batches of application log lines for the data platform on-call rota. "
        "Group related lines, identify the most likely root cause, and list follow-up actions. "
        "Output Markdown with the headings Summary, Evidence and Actions."
    ),
    headings=("Grouping", "Severity", "Root cause", "Actions", "Formatting"),
    situations=(
        "the same stack trace repeats",
        "an Airflow task retried more than three times",
        "a Kafka consumer lag exceeds ten minutes",
        "a dbt model failed its tests",
        "disk usage on a worker is above 90 percent",
        "the lines mention OOMKilled",
        "a Snowflake warehouse was suspended",
        "timestamps are out of order",
        "an upstream API returned HTTP 5xx",
        "the batch contains only INFO lines",
    ),
    actions=(
        "group the lines by service",
        "quote at most three log lines as evidence",
        "assign a severity from SEV1 to SEV4",
        "name the owning team",
        "suggest one concrete next step",
        "mention the first and last timestamp",
        "say when the evidence is insufficient",
        "keep the summary under 120 words",
        "link the runbook by its short name",
        "count the errors per service",
    ),
    forbidden=(
        "restart production services",
        "guess customer impact without evidence",
        "include secrets or tokens from the logs",
        "paste the full log batch back",
    ),
    target_chars=4700,
)

SUPPORT_SYSTEM = build_prompt("support-draft", SUPPORT_SPEC)
LEGAL_SYSTEM = build_prompt("clause-review", LEGAL_SPEC)
RAG_SYSTEM = build_prompt("rag-answer", RAG_SPEC)
CAMPAIGN_INSTRUCTIONS = build_prompt("campaign-brief", CAMPAIGN_SPEC)
LOGSUM_SYSTEM = build_prompt("log-summarize", LOGSUM_SPEC)

BUNDLE_SYSTEM = (
    LEGAL_SPEC.intro + " Here you compare whole documents: quote clause numbers, group the "
    "differences by playbook heading and end with a table of the three highest risks."
)
TRIAGE_SYSTEM = (
    "You triage incoming support tickets for Northwind Networks. Return JSON with the keys "
    "category (billing, connectivity, hardware, account, other), priority (low, normal, high) "
    "and language (ISO 639-1). Return only the JSON object."
)
LEAD_SYSTEM = (
    "You label inbound sales leads. Reply with exactly one label from: demo_request, "
    "pricing_question, support_issue, partnership, job_application, spam. No explanation."
)
QUERY_REWRITE_SYSTEM = (
    "Rewrite the user's search query for the Fabrikam Docs index. Fix typos, expand product "
    'abbreviations and return JSON: {"query": string, "filters": {"product": string|null}}.'
)
SUGGEST_SYSTEM = "You suggest search queries for the Fabrikam Docs homepage. Return a JSON array."
SUGGEST_USER = (
    "Suggest 5 trending search queries for the homepage carousel. Audience: developers "
    "integrating the Fabrikam Payments API. Date: 2026-10-14."
)
SUGGEST_ANSWER = (
    '["webhook signature verification", "refund API idempotency keys", '
    '"3-D Secure test cards", "payout schedule settings", "migrating from API v3 to v4"]'
)
SNIPPET_SYSTEM = "You write neutral two-sentence search snippets. No marketing language."
SQL_SYSTEM = (
    "You write Snowflake SQL for the analytics warehouse. Tables: orders(order_id, customer_id, "
    "created_at, status, total_eur), customers(customer_id, country, segment, signup_at), "
    "events(event_id, customer_id, event_type, ts, properties variant), "
    "subscriptions(subscription_id, customer_id, plan, started_at, cancelled_at). "
    "Return one SQL statement in a sql code block, then one sentence explaining it."
)
SCHEMA_DOC_SYSTEM = (
    "You document warehouse tables for the data catalog. For each column give a one-line "
    "description, the data type and whether it may contain personal data."
)
NOTEBOOK_SYSTEMS = (
    "You are a helpful data assistant. Answer briefly and show pandas code when useful.",
    "You are an expert Python and SQL reviewer. Point out bugs first, then style issues. "
    "Keep answers short and concrete.",
)
ADCOPY_SYSTEM = "You write short, punchy ad copy for Tailspin Toys. Respect character limits."
PII_SYSTEM = "Redact names, emails, phone numbers and addresses. Replace each with [REDACTED]."
ENRICH_SYSTEM = "Return JSON with keys category, age_range, materials for the product listing."
CLAUSE_TAG_SYSTEM = "Tag the clause with one of: liability, indemnity, data, termination, other."

# --------------------------------------------------------------------------------------------
# Small content pools
# --------------------------------------------------------------------------------------------

PRODUCTS = (
    "AX3000 router",
    "MeshPro kit",
    "Northwind Plus subscription",
    "LTE backup stick",
    "Northwind app",
    "billing portal",
)
TICKET_PROBLEMS = (
    "my {p} keeps dropping the connection every few minutes",
    "I was charged twice for my {p} this month",
    "I can't log in to the {p} after resetting my password",
    "the {p} firmware update failed at 87% and the status light is now orange",
    "my invoice for the {p} shows the wrong VAT number",
    "the {p} is much slower on 5 GHz since last week",
    "I want to cancel the {p} but the button is greyed out",
    "the {p} crashes when I open the usage tab",
    "the {p} arrived with a damaged power adapter",
)
TICKET_DETAILS = (
    "I already tried restarting it twice.",
    "This started after the update on Monday.",
    "It is urgent because our office opens tomorrow morning.",
    "I'm on version 4.2.1 on Android.",
    "Could you please look into it as soon as possible?",
    "My neighbour has the same problem.",
    "I have attached a screenshot of the error.",
    "I've been a customer for six years.",
    "The café downstairs uses the same plan and has no issues.",
    "Please don't call, email only.",
)
REPLY_SENTENCES = (
    "Thanks for getting in touch, and sorry for the trouble with your {p}.",
    "I've checked your account and can see what happened.",
    "Could you confirm the order number so we can match it to your account?",
    "Please open the Northwind app, go to Diagnostics and run the connection test.",
    "If the light stays orange, hold the reset button for ten seconds.",
    "I've asked our billing team to refund the duplicate charge; it takes 5-7 business days.",
    "You can follow any service incidents on status.northwind.example.",
    "If that doesn't help, we can book a technician visit at a time that suits you.",
    "Your subscription stays active until the end of the current billing period.",
    "I've updated the VAT number on your account; the corrected invoice is in the portal.",
    "Thank you for your patience while we sort this out.",
)
CONTRACTS = (
    "Master Services Agreement",
    "Data Processing Addendum",
    "Reseller Agreement",
    "SaaS Subscription Agreement",
    "Statement of Work",
    "Mutual NDA",
)
COUNTERPARTIES = (
    "Globex",
    "Initech",
    "Umbrella Logistics",
    "Stark Components",
    "Wayne Media",
    "Acme Freight",
    "Hooli Cloud",
    "Vandelay Imports",
    "Soylent Foods",
)
CLAUSE_SENTENCES = (
    "Except for breaches of confidentiality, neither party's aggregate liability shall exceed "
    "the fees paid in the {n} months preceding the claim.",
    "Supplier shall indemnify, defend and hold harmless Customer against third-party claims "
    "arising from infringement of intellectual property rights.",
    "Customer shall pay all undisputed invoices within {d} days of receipt.",
    "This Agreement renews automatically for successive periods of {y} years unless either "
    "party gives notice of non-renewal at least ninety days before the end of the term.",
    "Supplier may transfer Personal Data to sub-processors located outside the European "
    "Economic Area subject to appropriate safeguards.",
    "Either party may terminate this Agreement for convenience on {d} days' written notice.",
    "Service credits set out in Schedule 2 are Customer's sole and exclusive remedy for any "
    "failure to meet the Service Levels.",
    "This Agreement is governed by the laws of {law} and the parties submit to the exclusive "
    "jurisdiction of its courts.",
    "Supplier may assign this Agreement to an affiliate without Customer's prior consent.",
    "Customer may audit Supplier's compliance with this clause once in any twelve-month period "
    "on thirty days' notice.",
    "Confidential Information excludes information that is or becomes publicly available "
    "through no fault of the receiving party.",
    "In no event shall either party be liable for indirect, incidental or consequential "
    "damages, including loss of profits, however arising.",
)
LAWS = ("England and Wales", "the State of Delaware", "Switzerland", "Singapore", "Ontario")
REVIEW_SENTENCES = (
    "Risk rating: {r}.",
    "The clause touches playbook rules {a} and {b}.",
    "The cap of {n} months of fees is below the playbook minimum of twelve months.",
    'Suggested redline: replace "sole and exclusive remedy" with "a remedy".',
    "The indemnity is one-sided; propose a mutual indemnity with the standard carve-outs.",
    "Data transfers need the standard DPA and the 2021 SCCs; flag for the privacy team.",
    "Fallback position: accept {d}-day payment terms only for strategic accounts.",
    "The clause is acceptable with minor comments.",
    "Please confirm with the supervising lawyer before accepting the governing law.",
    'Quote: "{q}".',
)
QUESTIONS = (
    "how do I rotate webhook signing secrets",
    "what is the rate limit for the payouts API",
    "how to refund a partially captured payment",
    "difference between test and live API keys",
    "does the SDK support idempotency keys",
    "how to enable 3-D Secure for card payments",
    "how do I paginate the list charges endpoint",
    "can I change the payout schedule per account",
    "why does my webhook return 401",
    "how to migrate from API v3 to v4",
    "what currencies are supported for settlements",
    "how to export disputes to CSV",
)
DOC_SNIPPETS = (
    "Webhook endpoints sign each event with a secret. Rotate the secret in the dashboard under "
    "Developers > Webhooks; both secrets stay valid for 24 hours.",
    "The payouts API allows 25 requests per second in live mode and 10 in test mode. Requests "
    "above the limit return HTTP 429 with a Retry-After header.",
    "Partial refunds are created with the amount parameter. A payment can be refunded in "
    "several steps until the captured amount is reached.",
    "Idempotency keys are supported on all POST endpoints. Keys expire after 24 hours and must "
    "be unique per request body.",
    "API v4 replaces the charges object with payment intents. Version 3 is deprecated and will "
    "stop accepting new integrations in 2027.",
    "List endpoints return at most 100 objects. Use starting_after with the last object id to "
    "fetch the next page.",
    "Settlements are available in EUR, GBP, USD, CHF, SEK and PLN. Other currencies are "
    "converted at the daily rate.",
    "3-D Secure is enabled per payment method configuration. Test cards ending in 3155 trigger "
    "an authentication challenge.",
)
ANSWER_SENTENCES = (
    "You can do this from the dashboard under Developers [1].",
    "The limit is enforced per account, and requests above it return HTTP 429 [2].",
    "Use the amount parameter to refund part of a payment [1].",
    "Idempotency keys expire after 24 hours [3].",
    "API v3 is deprecated, so new integrations should use payment intents [2].",
    "Use starting_after with the id of the last object to fetch the next page [1].",
    "The sources do not say whether this applies to Connect accounts.",
    "Both secrets stay valid for 24 hours, so you can roll the change out gradually [1].",
)
LEAD_MESSAGES = (
    "Can we get a demo of {p} next week?",
    "How much does {p} cost for 50 seats?",
    "Our {p} order hasn't arrived yet, help!",
    "We'd love to partner on a {p} bundle.",
    "Are you hiring product designers?",
    "Buy cheap followers now!!! {p}",
    "Is there an annual discount on {p}?",
    "Please book a call about {p} for our school district.",
    "Do you ship {p} to Norway?",
    "What is the price difference between {p} tiers?",
)
LEAD_LABELS = {
    0: "demo_request",
    1: "pricing_question",
    2: "support_issue",
    3: "partnership",
    4: "job_application",
    5: "spam",
    6: "pricing_question",
    7: "demo_request",
    8: "support_issue",
    9: "pricing_question",
}
TOYS = (
    "RoboBuild kit",
    "Starlight projector",
    "Tidepool bath set",
    "PuzzleQuest box",
    "Marble Run XL",
    "Dino Dig set",
    "Glow Kite",
)
CHANNELS = ("Instagram", "TikTok", "Google Search", "YouTube pre-roll", "Pinterest", "email")
AUDIENCES = (
    "parents of 6-9 year olds",
    "grandparents",
    "teachers",
    "gift shoppers in December",
    "STEM clubs",
)
COPY_LINES = (
    "Build it, break it, build it better.",
    "Bedtime, but make it a galaxy.",
    "Screen-free fun that lasts all weekend.",
    "The gift they'll still play with in March.",
    "Small hands, big ideas.",
    "Every marble tells a story.",
    "Dig up a dinosaur before dinner.",
)
BRIEF_SENTENCES = (
    "Audience: {a}; secondary audience: existing newsletter subscribers.",
    'Primary message: "{c}"',
    "Channels: {ch1} 45%, {ch2} 35%, email 20%.",
    "Timeline: week 1 teaser, weeks 2-3 launch flight, week 4 retargeting.",
    "North-star metric: first-time purchases; guardrails: CAC and return rate.",
    "A/B test two headlines on {ch1} during week 2.",
    "Creative assets: three 9:16 videos, six static images, one landing page.",
    "Legal review is required for any claim about educational benefits.",
    "Budget: {b} euros, with 10% held back for the best-performing channel.",
)
SQL_TASKS = (
    "returns monthly revenue by country for 2026",
    "finds customers who churned within 30 days",
    "computes weekly active users from events",
    "lists the top 20 products by refund rate",
    "returns the median order value per segment",
    "counts subscriptions by plan and month",
    "finds duplicate orders placed within one minute",
    "computes cohort retention by signup week",
)
TABLES = ("orders", "customers", "events", "subscriptions", "refunds", "payouts", "sessions")
NOTEBOOK_QUESTIONS = (
    "How do I pivot a dataframe with a multi-index?",
    "Why is my groupby so slow on 20M rows?",
    "Explain this error: SettingWithCopyWarning",
    "How can I read a partitioned parquet folder?",
    "Rewrite this loop with vectorised pandas",
    "What is the difference between merge and join?",
    "How do I compute a rolling 7-day median?",
    "Review this SQL: SELECT * FROM orders o, customers c WHERE o.customer_id = c.customer_id",
)
NOTEBOOK_ANSWERS = (
    "Use `df.pivot_table(index=..., columns=..., values=..., aggfunc='sum')`, then "
    "`reset_index()`.",
    "Filter first and aggregate second; `groupby(..., observed=True)` avoids empty categories.",
    "Read the folder with `pd.read_parquet('path/', engine='pyarrow')`; partitions become columns.",
    "Assign with `.loc[mask, 'col'] = value` on the original frame to silence the warning.",
    "`df['x'].rolling('7D').median()` works once the index is a sorted DatetimeIndex.",
    "`merge` joins on columns, `join` on the index; both accept `how='left'`.",
    "Replace the implicit comma join with an explicit `JOIN ... USING (customer_id)`.",
)
LOG_SERVICES = ("ingest-api", "airflow-worker", "kafka-consumer", "dbt-runner", "export-svc")
LOG_MESSAGES = (
    "ERROR Task failed with exception: TimeoutError after 300s",
    "WARN consumer lag 742s on partition 3",
    "INFO heartbeat ok",
    "ERROR Container OOMKilled (limit 4Gi)",
    "WARN retrying upstream request, attempt {k}",
    "ERROR dbt test not_null_orders_customer_id failed (17 rows)",
    "INFO batch committed offset={o}",
    "ERROR upstream returned HTTP 503",
)
PAGE_TEXTS = (
    "The Fabrikam Payments dashboard lets teams manage refunds, disputes and payouts in one "
    "place. Roles control who can issue refunds above a threshold.",
    "Connect accounts can receive payouts on daily, weekly or monthly schedules. Payout "
    "failures are reported by webhook and retried after 24 hours.",
    "The mobile SDK supports Apple Pay and Google Pay out of the box. Card details never touch "
    "your servers.",
    "Radar rules can block payments by country, card type or risk score. Rules are evaluated "
    "before authorization.",
)


# --------------------------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------------------------


class Gen:
    """Builds all envelope lines; a single seeded RNG makes the output deterministic."""

    def __init__(self) -> None:
        self.rng = random.Random(SEED)
        self.files: dict[str, list[tuple[str, int, str]]] = {
            OPENAI_FILE: [],
            ANTHROPIC_FILE: [],
            GEMINI_FILE: [],
        }
        self.seq = 0
        self.cache_last: dict[str, datetime] = {}

    # ---- ids, time and shared helpers --------------------------------------------------

    def rid(self, n: int, alphabet: str = ALNUM) -> str:
        """Random id characters."""
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def day_weights(self, weekend: float) -> list[float]:
        """Weekdays carry most traffic."""
        return [
            weekend if (MONTH_START + timedelta(days=d)).weekday() >= 5 else 1.0
            for d in range(MONTH_DAYS)
        ]

    def sessions(
        self,
        n: int,
        size: tuple[int, int],
        gap_s: tuple[int, int],
        hours: tuple[int, int] = (7, 20),
        weekend: float = 0.25,
    ) -> list[datetime]:
        """Bursts of requests: what makes prompt caches warm (or, if uncached, wasteful)."""
        weights = self.day_weights(weekend)
        out: list[datetime] = []
        for _ in range(n):
            day = self.rng.choices(range(MONTH_DAYS), weights)[0]
            t = MONTH_START + timedelta(
                days=day,
                hours=self.rng.randint(*hours),
                minutes=self.rng.randint(0, 59),
                seconds=self.rng.randint(0, 59),
            )
            for _ in range(self.rng.randint(*size)):
                out.append(t)
                t += timedelta(seconds=self.rng.randint(*gap_s))
        return sorted(out)

    def cache_hit(self, key: str, ts: datetime) -> bool:
        """True if this prefix was used within the TTL; each use refreshes the entry."""
        prev = self.cache_last.get(key)
        self.cache_last[key] = ts
        return prev is not None and 0 <= (ts - prev).total_seconds() <= CACHE_TTL_S

    def meta(
        self,
        team: str,
        feature: str,
        prompt_id: str | None,
        version: str | None,
        env: str = "prod",
        **extra: Any,
    ) -> Json:
        """Envelope metadata; prompt_id/prompt_version are omitted when unknown."""
        lo, hi = TEAM_USERS[team]
        m: Json = {"team": team, "user": f"u{self.rng.randint(lo, hi):02d}", "feature": feature}
        if prompt_id is not None:
            m["prompt_id"] = prompt_id
            m["prompt_version"] = version
        m["environment"] = env
        m.update(extra)
        return m

    def latency(self, out_tokens: int, base: int, per_token: float) -> int:
        """Plausible latency: a base plus time per generated token, with jitter."""
        return int((base + out_tokens * per_token) * self.rng.uniform(0.8, 1.3))

    def emit(self, file: str, line: Json, *, twice: bool = False, truncate: bool = False) -> None:
        """Queue one line; ``twice`` plants an ingest duplicate, ``truncate`` a malformed line."""
        text = json.dumps(line, ensure_ascii=False, separators=(",", ":"))
        if truncate:
            text = text[: len(text) * 3 // 5]
        self.seq += 1
        self.files[file].append((line["timestamp"], self.seq, text))
        if twice:
            self.files[file].append((line["timestamp"], self.seq, text))

    @staticmethod
    def envelope(
        ts: datetime,
        provider: str,
        api: str,
        request_id: str | None,
        meta: Json,
        request: Json,
        response: Json | None,
        error: Json | None,
        latency_ms: int,
        batch: bool = False,
    ) -> Json:
        """The tokaudit native envelope, keys in a stable order."""
        line: Json = {
            "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "provider": provider,
            "api": api,
        }
        if request_id is not None:
            line["request_id"] = request_id
        line.update(
            metadata=meta,
            request=request,
            response=response,
            error=error,
            latency_ms=latency_ms,
            batch=batch,
        )
        return line

    # ---- OpenAI ------------------------------------------------------------------------

    def openai_req_id(self, force: bool = False) -> str | None:
        """x-request-id, logged by most but not all callers."""
        return "req_" + self.rid(32, HEX) if force or self.rng.random() < 0.75 else None

    def chat_body(self, model: str, messages: list[Json], **params: Any) -> Json:
        """Chat Completions request body."""
        return {"model": model, "messages": messages, **params}

    def chat_response(
        self,
        ts: datetime,
        model: str,
        text: str,
        prompt_tokens: int,
        cached: int = 0,
        reasoning: int = 0,
        fingerprint: bool = True,
        response_id: str | None = None,
    ) -> Json:
        """Chat Completions response: prompt_tokens includes cached; completion includes
        reasoning."""
        visible = approx_tokens(text)
        completion = visible + reasoning
        return {
            "id": response_id or "chatcmpl-" + self.rid(29),
            "object": "chat.completion",
            "created": int(ts.timestamp()),
            "model": OPENAI_DATED[model],
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": text,
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion,
                "total_tokens": prompt_tokens + completion,
                "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": reasoning,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
            "service_tier": "default",
            "system_fingerprint": "fp_" + self.rid(10, HEX) if fingerprint else None,
        }

    def openai_chat(
        self,
        ts: datetime,
        meta: Json,
        model: str,
        system: str | None,
        user: str,
        answer: str,
        *,
        params: Json,
        reasoning: int = 0,
        cache_key: str | None = None,
        base_ms: int = 350,
        per_tok: float = 12.0,
        batch: bool = False,
        force_id: bool = False,
    ) -> Json:
        """Build one successful chat.completions line, applying automatic prompt caching."""
        messages: list[Json] = []
        if system is not None:
            messages.append({"role": "system", "content": system})
        messages.append({"role": "user", "content": user})
        prompt = chat_prompt_tokens([m["content"] for m in messages], model)
        cached = 0
        if cache_key is not None and system is not None and self.cache_hit(cache_key, ts):
            cached = openai_cached(approx_tokens(system) + 3)
        resp = self.chat_response(
            ts,
            model,
            answer,
            prompt,
            cached,
            reasoning,
            fingerprint=not model.startswith(("o", "gpt-5")),
        )
        out = resp["usage"]["completion_tokens"]
        return self.envelope(
            ts,
            "openai",
            "chat.completions",
            self.openai_req_id(force_id),
            meta,
            self.chat_body(model, messages, **params),
            resp,
            None,
            self.latency(out, base_ms, per_tok),
            batch,
        )

    # ---- Anthropic ---------------------------------------------------------------------

    def anthropic_req_id(self, force: bool = False) -> str | None:
        """request-id header value, logged by most callers."""
        return "req_011C" + self.rid(20, B58) if force or self.rng.random() < 0.75 else None

    def anthropic_response(
        self, model: str, text: str, usage: Json, thinking: str | None = None
    ) -> Json:
        """Messages API response body."""
        content: list[Json] = []
        if thinking is not None:
            content.append(
                {"type": "thinking", "thinking": thinking, "signature": self.rid(172, ALNUM + "+/")}
            )
        content.append({"type": "text", "text": text})
        return {
            "model": ANTHROPIC_DATED[model],
            "id": "msg_01" + self.rid(22, B58),
            "type": "message",
            "role": "assistant",
            "content": content,
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": usage,
        }

    @staticmethod
    def anthropic_usage(
        input_tokens: int, output_tokens: int, write: int = 0, read: int = 0, tier: str = "standard"
    ) -> Json:
        """Messages usage: input excludes cache; cache_creation splits the write by TTL."""
        return {
            "input_tokens": input_tokens,
            "cache_creation_input_tokens": write,
            "cache_read_input_tokens": read,
            "cache_creation": {"ephemeral_5m_input_tokens": write, "ephemeral_1h_input_tokens": 0},
            "output_tokens": output_tokens,
            "service_tier": tier,
            "inference_geo": "not_available",
        }

    def anthropic_line(
        self,
        ts: datetime,
        meta: Json,
        model: str,
        system: str,
        user: str,
        answer: str,
        *,
        cached_system: bool,
        params: Json,
        thinking_budget: int = 0,
        cache_key: str | None = None,
        base_ms: int = 600,
        per_tok: float = 18.0,
        batch: bool = False,
        force_id: bool = False,
    ) -> tuple[Json, Json]:
        """Build one messages line; returns (line, request body) so errors can reuse the body."""
        body: Json = {"model": model, "max_tokens": params.pop("max_tokens")}
        if cached_system:
            body["system"] = [
                {"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}
            ]
        else:
            body["system"] = system
        body["messages"] = [{"role": "user", "content": user}]
        thinking_text = None
        thinking_billed = 0
        if thinking_budget:
            body["thinking"] = {"type": "enabled", "budget_tokens": thinking_budget}
            thinking_billed = self.rng.randint(thinking_budget // 8, thinking_budget * 2 // 3)
            thinking_text = self.thinking_summary(user)
        body.update(params)
        sys_tokens = approx_tokens(system) + 3
        msg_tokens = approx_tokens(user) + 3 + 3
        write = read = 0
        if cached_system and cache_key is not None:
            if self.cache_hit(cache_key, ts):
                read = sys_tokens
            else:
                write = sys_tokens
            input_tokens = msg_tokens
        else:
            input_tokens = sys_tokens + msg_tokens
        out = approx_tokens(answer) + thinking_billed
        usage = self.anthropic_usage(
            input_tokens, out, write, read, "batch" if batch else "standard"
        )
        resp = self.anthropic_response(model, answer, usage, thinking_text)
        line = self.envelope(
            ts,
            "anthropic",
            "messages",
            self.anthropic_req_id(force_id),
            meta,
            body,
            resp,
            None,
            self.latency(out, base_ms, per_tok),
            batch,
        )
        return line, body

    def thinking_summary(self, user: str) -> str:
        """Summarised thinking text (Claude 4 returns a summary; billing counts the full)."""
        first = user.split("\n", 1)[0][:80]
        steps = self.rng.sample(
            (
                "Identify what the request is really asking.",
                "Check the relevant rules.",
                "Consider the edge cases before answering.",
                "Decide on the risk level.",
                "Draft the answer, then shorten it.",
                "Verify that nothing is promised that policy forbids.",
            ),
            3,
        )
        return f'The user wrote: "{first}". ' + " ".join(steps)

    # ---- Gemini ------------------------------------------------------------------------

    def gemini_body(
        self,
        model: str,
        system: str | None,
        parts: list[Json],
        config: Json,
        labels: Json | None = None,
    ) -> Json:
        """generateContent body; "model" is added because the URL path is not logged."""
        body: Json = {"model": model, "contents": [{"role": "user", "parts": parts}]}
        if system is not None:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        body["generationConfig"] = config
        if labels is not None:
            body["labels"] = labels
        return body

    def gemini_response(
        self,
        ts: datetime,
        model: str,
        text: str,
        prompt: int,
        thoughts: int,
        cached: int = 0,
        document: int = 0,
    ) -> Json:
        """generateContent response: prompt includes cached; candidates exclude thoughts."""
        cand = approx_tokens(text)
        details = [{"modality": "TEXT", "tokenCount": prompt - document}]
        if document:
            details.append({"modality": "DOCUMENT", "tokenCount": document})
        usage: Json = {
            "promptTokenCount": prompt,
            "candidatesTokenCount": cand,
            "totalTokenCount": prompt + cand + thoughts,
            "trafficType": "ON_DEMAND",
            "promptTokensDetails": details,
        }
        if cached:
            usage["cachedContentTokenCount"] = cached
            usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": cached}]
        usage["candidatesTokensDetails"] = [{"modality": "TEXT", "tokenCount": cand}]
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        micro = self.rng.randint(0, 999999)
        return {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": text}]},
                    "finishReason": "STOP",
                    "avgLogprobs": -round(self.rng.uniform(0.05, 1.9), 12),
                }
            ],
            "usageMetadata": usage,
            "modelVersion": model,
            "createTime": ts.strftime("%Y-%m-%dT%H:%M:%S") + f".{micro:06d}Z",
            "responseId": self.rid(23, B64URL),
        }

    # ---- content helpers ---------------------------------------------------------------

    def sentences(self, pool: tuple[str, ...], k: int, **fmt: Any) -> str:
        """Join k distinct template sentences."""
        return " ".join(s.format(**fmt) for s in self.rng.sample(pool, min(k, len(pool))))

    # =====================================================================================
    # Workloads
    # =====================================================================================

    def support_bot(self) -> None:
        """support-bot: cached Sonnet drafts (cache write then reads), Haiku triage, 429s."""
        team = "support-bot"
        calls = self.sessions(36, (2, 7), (25, 240))
        retry_idx = set(self.rng.sample(range(len(calls)), 3))
        thinking_idx = set(self.rng.sample(range(len(calls)), len(calls) // 6))
        for i, ts in enumerate(calls):
            p = self.rng.choice(PRODUCTS)
            ticket_no = 480000 + self.seq * 7 + i
            user = (
                f"Ticket #{ticket_no} ({self.rng.choice(('email', 'chat', 'web form'))})\n\n"
                f"{self.rng.choice(('Hi,', 'Hello team,', 'Good morning,', 'Hey there,'))} "
                f"{self.rng.choice(TICKET_PROBLEMS).format(p=p)}. "
                f"{self.sentences(TICKET_DETAILS, self.rng.randint(1, 4))}\n\n"
                "Draft a reply for the agent."
            )
            answer = (
                f"Hi there,\n\n{self.sentences(REPLY_SENTENCES, self.rng.randint(3, 7), p=p)}"
                "\n\nBest regards,\nThe Northwind Team"
            )
            prio = self.rng.choice(("low", "normal", "normal", "high"))
            meta = self.meta(team, "draft-reply", "support-draft", "3", ticket_priority=prio)
            think = 4096 if i in thinking_idx else 0
            params: Json = {"max_tokens": 8192 if think else 1024}
            if not think:
                params["temperature"] = 0.3
            if i in retry_idx:
                # The failed attempt a few seconds earlier carries the very same body.
                ts_err = ts - timedelta(seconds=self.rng.randint(3, 6))
            line, body = self.anthropic_line(
                ts,
                meta,
                "claude-sonnet-4-5-20250929",
                SUPPORT_SYSTEM,
                user,
                answer,
                cached_system=True,
                params=params,
                thinking_budget=think,
                cache_key="anthropic:support-draft",
                force_id=i in retry_idx,
            )
            if i in retry_idx:
                err = {
                    "status": 429,
                    "type": "rate_limit_error",
                    "message": ANTHROPIC_429_MESSAGE,
                }
                self.emit(
                    ANTHROPIC_FILE,
                    self.envelope(
                        ts_err,
                        "anthropic",
                        "messages",
                        self.anthropic_req_id(True),
                        dict(meta),
                        body,
                        None,
                        err,
                        self.rng.randint(80, 260),
                    ),
                )
            self.emit(ANTHROPIC_FILE, line)

        # Ticket triage on Haiku: many small calls; one line is written twice (ingest dup).
        triage = self.sessions(70, (1, 5), (5, 90), hours=(6, 22), weekend=0.5)
        for i, ts in enumerate(triage):
            p = self.rng.choice(PRODUCTS)
            user = (
                f"Ticket #{610000 + i}: {self.rng.choice(TICKET_PROBLEMS).format(p=p)}. "
                f"{self.rng.choice(TICKET_DETAILS)}"
            )
            cat = self.rng.choice(("billing", "connectivity", "hardware", "account", "other"))
            prio = self.rng.choice(("low", "normal", "high"))
            answer = json.dumps({"category": cat, "priority": prio, "language": "en"})
            meta = self.meta(team, "ticket-triage", "ticket-triage", "1", ticket_priority=prio)
            dup = i == 57
            line, _ = self.anthropic_line(
                ts,
                meta,
                "claude-haiku-4-5",
                TRIAGE_SYSTEM,
                user,
                answer,
                cached_system=False,
                params={"max_tokens": 200, "temperature": 0},
                base_ms=250,
                per_tok=6.0,
                force_id=dup,
            )
            self.emit(ANTHROPIC_FILE, line, twice=dup)

    def legal_review(self) -> None:
        """legal-review: long system prompt to Sonnet with NO cache_control, plus a 500, Gemini
        2.5 Pro document analysis with one >200k request and one 400, and Claude batch lines."""
        team = "legal-review"
        calls = self.sessions(18, (2, 6), (40, 200), hours=(8, 18), weekend=0.1)
        err_idx = self.rng.randrange(len(calls))
        for i, ts in enumerate(calls):
            cp = self.rng.choice(COUNTERPARTIES)
            doc = f"{self.rng.choice(CONTRACTS)} with {cp} (doc LGL-{2600 + self.seq % 9000})"
            fmt = {
                "n": self.rng.choice((3, 6, 12)),
                "d": self.rng.choice((30, 45, 60, 90)),
                "y": self.rng.choice((1, 2, 3)),
                "law": self.rng.choice(LAWS),
            }
            clause = self.sentences(CLAUSE_SENTENCES, self.rng.randint(2, 6), **fmt)
            user = f"Review the following clause from the {doc}, section {i % 17 + 1}:\n\n{clause}"
            risk = self.rng.choice(("low", "medium", "high"))
            answer = self.sentences(
                REVIEW_SENTENCES,
                self.rng.randint(4, 8),
                r=risk,
                a=self.rng.randint(1, 40),
                b=self.rng.randint(41, 80),
                n=fmt["n"],
                d=fmt["d"],
                q=clause[:90],
            )
            meta = self.meta(
                team, "contract-review", "clause-review", "7", region=self.rng.choice(("eu", "us"))
            )
            think = 8192 if self.rng.random() < 0.4 else 0
            params: Json = {"max_tokens": 16000 if think else 2048}
            if not think:
                params["temperature"] = 0
            line, body = self.anthropic_line(
                ts,
                meta,
                "claude-sonnet-4-5",
                LEGAL_SYSTEM,
                user,
                answer,
                cached_system=False,
                params=params,
                thinking_budget=think,
                force_id=i == err_idx,
            )
            if i == err_idx:
                err = {"status": 500, "type": "api_error", "message": "Internal server error"}
                ts_err = ts - timedelta(seconds=self.rng.randint(4, 9))
                self.emit(
                    ANTHROPIC_FILE,
                    self.envelope(
                        ts_err,
                        "anthropic",
                        "messages",
                        self.anthropic_req_id(True),
                        dict(meta),
                        body,
                        None,
                        err,
                        self.rng.randint(9000, 30000),
                    ),
                )
            self.emit(ANTHROPIC_FILE, line)

        # Nightly clause tagging through the Message Batches API.
        for k in range(2):
            ts = datetime(2026, 10, 21, 3, 12 + k, 5 + 17 * k, tzinfo=UTC)
            clause = self.sentences(CLAUSE_SENTENCES, 2, n=12, d=30, y=1, law=LAWS[0])
            meta = self.meta(team, "clause-tagging", "clause-tag", "2", env="prod")
            line, _ = self.anthropic_line(
                ts,
                meta,
                "claude-haiku-4-5",
                CLAUSE_TAG_SYSTEM,
                f"Clause {k + 1}: {clause}",
                "liability" if k == 0 else "termination",
                cached_system=False,
                params={"max_tokens": 20},
                batch=True,
            )
            line["latency_ms"] = 2_712_000 + 1_000 * k
            self.emit(ANTHROPIC_FILE, line)

        # Document bundles on Gemini 2.5 Pro via fileData (PDF pages count 258 tokens each).
        bundles = self.sessions(26, (1, 1), (0, 0), hours=(8, 18), weekend=0.1)
        long_idx, too_long_idx = 11, 19
        for i, ts in enumerate(bundles):
            n_files = 3 if i == long_idx else self.rng.randint(1, 3)
            pages = [self.rng.randint(6, 60) for _ in range(n_files)]
            if i == long_idx:
                pages = [412, 301, 187]  # 900 pages -> 232,200 document tokens
            if i == too_long_idx:
                pages = [1480, 1610, 1490]
            parts: list[Json] = [
                {
                    "fileData": {
                        "mimeType": "application/pdf",
                        "fileUri": f"{BUNDLE_BUCKET}/bundle-{7100 + i}/doc-{j + 1}.pdf",
                    }
                }
                for j in range(n_files)
            ]
            ask = (
                f"Compare the attached {n_files} documents from the "
                f"{self.rng.choice(COUNTERPARTIES)} negotiation. List every clause where "
                "they differ from our standard position and rate each difference."
            )
            parts.append({"text": ask})
            meta = self.meta(team, "bundle-analysis", "bundle-compare", "2")
            body = self.gemini_body(
                "gemini-2.5-pro",
                BUNDLE_SYSTEM,
                parts,
                {"temperature": 0.1, "maxOutputTokens": 8192},
                labels={"team": team},
            )
            document = 258 * sum(pages)
            prompt = approx_tokens(BUNDLE_SYSTEM) + approx_tokens(ask) + document
            if i == too_long_idx:
                err = {
                    "status": 400,
                    "type": "INVALID_ARGUMENT",
                    "message": (
                        f"The input token count ({prompt}) exceeds the maximum number of tokens "
                        "allowed (1048576)."
                    ),
                }
                self.emit(
                    GEMINI_FILE,
                    self.envelope(
                        ts,
                        "google",
                        "generate_content",
                        self.uuid(),
                        meta,
                        body,
                        None,
                        err,
                        self.rng.randint(900, 2400),
                    ),
                )
                continue
            answer = self.sentences(
                REVIEW_SENTENCES,
                self.rng.randint(5, 9),
                r="medium",
                a=12,
                b=57,
                n=6,
                d=60,
                q="sole and exclusive remedy",
            )
            thoughts = self.rng.randint(600, 4200)
            resp = self.gemini_response(
                ts, "gemini-2.5-pro", answer, prompt, thoughts, document=document
            )
            out = resp["usageMetadata"]["candidatesTokenCount"] + thoughts
            self.emit(
                GEMINI_FILE,
                self.envelope(
                    ts,
                    "google",
                    "generate_content",
                    None,
                    meta,
                    body,
                    resp,
                    None,
                    self.latency(out, 4000 + document // 40, 9.0),
                ),
            )

    def search(self) -> None:
        """search: gpt-4o RAG with cached prefixes, gpt-4.1-mini rewrites, the duplicate-request
        cluster, Gemini Flash snippets, and a 429 on each provider it uses."""
        team = "search"
        rag = self.sessions(26, (2, 6), (10, 200), hours=(7, 21), weekend=0.4)
        err_idx = self.rng.randrange(len(rag))
        for i, ts in enumerate(rag):
            q = self.rng.choice(QUESTIONS)
            srcs = self.rng.sample(DOC_SNIPPETS, self.rng.randint(3, 5))
            user = f"Question: {q}? (session {self.rid(8, HEX)})\n\nSources:\n" + "\n".join(
                f"[{k + 1}] {s}" for k, s in enumerate(srcs)
            )
            answer = self.sentences(ANSWER_SENTENCES, self.rng.randint(2, 5))
            meta = self.meta(
                team,
                "answer",
                "rag-answer",
                "12",
                region=self.rng.choice(("eu-west", "us-east", "ap-south")),
            )
            params = {"temperature": 0.2, "max_tokens": 600}
            line = self.openai_chat(
                ts,
                meta,
                "gpt-4o",
                RAG_SYSTEM,
                user,
                answer,
                params=params,
                cache_key="openai:rag-answer",
                force_id=i == err_idx,
            )
            if i == err_idx:
                err = {
                    "status": 429,
                    "type": "rate_limit_exceeded",
                    "message": (
                        "Rate limit reached for gpt-4o in organization org-Fz3kQ8uTn2LxR7bV on "
                        "tokens per min (TPM): Limit 800000, Used 799412, Requested 1987. Please "
                        "try again in 104ms. Visit https://platform.openai.com/account/rate-limits "
                        "to learn more."
                    ),
                }
                ts_err = ts - timedelta(seconds=2)
                self.emit(
                    OPENAI_FILE,
                    self.envelope(
                        ts_err,
                        "openai",
                        "chat.completions",
                        self.openai_req_id(True),
                        dict(meta),
                        line["request"],
                        None,
                        err,
                        self.rng.randint(40, 120),
                    ),
                )
            self.emit(OPENAI_FILE, line)

        rewrites = self.sessions(72, (1, 4), (3, 60), hours=(6, 23), weekend=0.5)
        malformed_idx = 131
        for i, ts in enumerate(rewrites):
            q = self.rng.choice(QUESTIONS)
            typo = q.replace("ow", "wo", 1) if self.rng.random() < 0.4 else q
            user = f"{typo} #{i}"
            answer = json.dumps(
                {
                    "query": q,
                    "filters": {"product": self.rng.choice((None, "payments", "connect", "radar"))},
                }
            )
            meta = self.meta(team, "query-rewrite", "query-rewrite", "4")
            line = self.openai_chat(
                ts,
                meta,
                "gpt-4.1-mini",
                QUERY_REWRITE_SYSTEM,
                user,
                answer,
                params={
                    "temperature": 0,
                    "max_tokens": 120,
                    "response_format": {"type": "json_object"},
                },
                base_ms=180,
                per_tok=5.0,
            )
            self.emit(OPENAI_FILE, line, truncate=i == malformed_idx)

        # Response-cache opportunity: one identical body sent 20 times on 2026-10-14.
        t = datetime(2026, 10, 14, 7, 58, 12, tzinfo=UTC)
        messages = [
            {"role": "system", "content": SUGGEST_SYSTEM},
            {"role": "user", "content": SUGGEST_USER},
        ]
        prompt = chat_prompt_tokens([m["content"] for m in messages], "gpt-4.1-mini")
        for _ in range(20):
            meta = self.meta(team, "homepage-suggestions", "trending-suggest", "1")
            body = self.chat_body(
                "gpt-4.1-mini", [dict(m) for m in messages], temperature=0, max_tokens=200
            )
            resp = self.chat_response(t, "gpt-4.1-mini", SUGGEST_ANSWER, prompt)
            self.emit(
                OPENAI_FILE,
                self.envelope(
                    t,
                    "openai",
                    "chat.completions",
                    self.openai_req_id(True),
                    meta,
                    body,
                    resp,
                    None,
                    self.latency(resp["usage"]["completion_tokens"], 200, 6.0),
                ),
            )
            t += timedelta(minutes=self.rng.randint(24, 40), seconds=self.rng.randint(0, 59))

        # Gemini Flash snippets, some with thinking; one 429 followed by a retry.
        snippets = self.sessions(60, (1, 4), (5, 120), hours=(6, 23), weekend=0.5)
        err_idx = 42
        for i, ts in enumerate(snippets):
            page = " ".join(self.rng.sample(PAGE_TEXTS, self.rng.randint(2, 4)))
            ask = f"Page https://docs.fabrikam.example/p/{5000 + i}\n\n{page}"
            budget = self.rng.choice((0, 0, 512))
            config: Json = {
                "temperature": 0.3,
                "maxOutputTokens": 256,
                "thinkingConfig": {"thinkingBudget": budget},
            }
            body = self.gemini_body("gemini-2.5-flash", SNIPPET_SYSTEM, [{"text": ask}], config)
            meta = self.meta(
                team,
                "snippet-summary",
                "snippet",
                "2",
                region=self.rng.choice(("eu-west", "us-east")),
            )
            text = self.sentences(PAGE_TEXTS, 1)
            thoughts = self.rng.randint(60, 480) if budget else 0
            prompt = approx_tokens(SNIPPET_SYSTEM) + approx_tokens(ask)
            if i == err_idx:
                err = {
                    "status": 429,
                    "type": "RESOURCE_EXHAUSTED",
                    "message": (
                        "Resource exhausted. Please try again later. Please refer to "
                        "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for "
                        "more details."
                    ),
                }
                ts_err = ts - timedelta(seconds=3)
                self.emit(
                    GEMINI_FILE,
                    self.envelope(
                        ts_err,
                        "google",
                        "generate_content",
                        self.uuid(),
                        dict(meta),
                        body,
                        None,
                        err,
                        self.rng.randint(30, 90),
                    ),
                )
            resp = self.gemini_response(ts, "gemini-2.5-flash", text, prompt, thoughts)
            out = resp["usageMetadata"]["candidatesTokenCount"] + thoughts
            self.emit(
                GEMINI_FILE,
                self.envelope(
                    ts,
                    "google",
                    "generate_content",
                    None,
                    meta,
                    body,
                    resp,
                    None,
                    self.latency(out, 300, 4.0),
                ),
            )

    def growth(self) -> None:
        """growth: Opus for trivial lead labelling (routing opportunity), gpt-5 Responses API
        briefs with cached instructions, gpt-5-mini ad copy (some lines without prompt_id)."""
        team = "growth"
        leads = self.sessions(150, (1, 6), (2, 90), hours=(6, 22), weekend=0.4)
        for i, ts in enumerate(leads):
            k = self.rng.randrange(len(LEAD_MESSAGES))
            user = f"Lead L-{30000 + i}: " + LEAD_MESSAGES[k].format(p=self.rng.choice(TOYS))
            meta = self.meta(
                team,
                "lead-classification",
                "lead-intent",
                "2",
                source=self.rng.choice(("web", "email", "chat")),
            )
            line, _ = self.anthropic_line(
                ts,
                meta,
                "claude-opus-4-1",
                LEAD_SYSTEM,
                user,
                LEAD_LABELS[k],
                cached_system=False,
                params={"max_tokens": 16, "temperature": 0},
                base_ms=900,
                per_tok=30.0,
            )
            self.emit(ANTHROPIC_FILE, line)

        briefs = self.sessions(7, (2, 5), (40, 240), hours=(9, 17), weekend=0.0)
        for ts in briefs:
            toy = self.rng.choice(TOYS)
            season = self.rng.choice(("autumn", "holiday", "back-to-school"))
            budget = self.rng.randrange(8, 60) * 1000
            user = (
                f"Create a campaign brief for the {toy} {season} "
                f"push in {self.rng.choice(('Germany', 'France', 'the UK', 'Spain'))}. Budget "
                f"{budget} euros. Ref CB-{self.rid(6, HEX)}."
            )
            ch1, ch2 = self.rng.sample(CHANNELS[:5], 2)
            fmt = {
                "a": self.rng.choice(AUDIENCES),
                "c": self.rng.choice(COPY_LINES),
                "ch1": ch1,
                "ch2": ch2,
                "b": budget,
            }
            answer = "\n".join(s.format(**fmt) for s in BRIEF_SENTENCES)
            meta = self.meta(team, "campaign-brief", "campaign-brief", "2")
            self.emit(OPENAI_FILE, self.responses_line(ts, meta, user, answer))

        ads = self.sessions(42, (1, 4), (20, 300), hours=(8, 19), weekend=0.2)
        for i, ts in enumerate(ads):
            toy, ch = self.rng.choice(TOYS), self.rng.choice(CHANNELS)
            user = (
                f"Write 3 variants of a {ch} ad for the {toy} targeting "
                f"{self.rng.choice(AUDIENCES)}. Max 90 characters each. Brief AD-{4000 + i}."
            )
            answer = "\n".join(
                f"{n + 1}. {c} {toy}." for n, c in enumerate(self.rng.sample(COPY_LINES, 3))
            )
            has_prompt = i % 10 >= 3
            meta = self.meta(
                team, "ad-copy", "ad-copy" if has_prompt else None, "5" if has_prompt else None
            )
            params = {"reasoning_effort": "low", "max_completion_tokens": 2000}
            self.emit(
                OPENAI_FILE,
                self.openai_chat(
                    ts,
                    meta,
                    "gpt-5-mini",
                    ADCOPY_SYSTEM,
                    user,
                    answer,
                    params=params,
                    reasoning=self.rng.randint(2, 12) * 64,
                    base_ms=900,
                    per_tok=8.0,
                ),
            )

    def responses_line(self, ts: datetime, meta: Json, user: str, answer: str) -> Json:
        """One Responses API call on gpt-5: input includes cached, output includes reasoning."""
        body: Json = {
            "model": "gpt-5",
            "instructions": CAMPAIGN_INSTRUCTIONS,
            "input": [{"role": "user", "content": user}],
            "reasoning": {"effort": "medium"},
            "max_output_tokens": 8000,
            "store": False,
        }
        input_tokens = chat_prompt_tokens([CAMPAIGN_INSTRUCTIONS, user], "gpt-5")
        hit = self.cache_hit("openai:campaign-brief", ts)
        cached = openai_cached(approx_tokens(CAMPAIGN_INSTRUCTIONS) + 3) if hit else 0
        reasoning = self.rng.randint(300, 2600)
        output_tokens = approx_tokens(answer) + reasoning
        latency = self.latency(output_tokens, 2000, 11.0)
        resp: Json = {
            "id": "resp_" + self.rid(48, HEX),
            "object": "response",
            "created_at": int(ts.timestamp()),
            "status": "completed",
            "background": False,
            "billing": {"payer": "developer"},
            "completed_at": int(ts.timestamp()) + latency // 1000 + 1,
            "error": None,
            "incomplete_details": None,
            "instructions": CAMPAIGN_INSTRUCTIONS,
            "max_output_tokens": 8000,
            "max_tool_calls": None,
            "model": OPENAI_DATED["gpt-5"],
            "output": [
                {"id": "rs_" + self.rid(48, HEX), "type": "reasoning", "summary": []},
                {
                    "id": "msg_" + self.rid(48, HEX),
                    "type": "message",
                    "status": "completed",
                    "content": [
                        {"type": "output_text", "annotations": [], "logprobs": [], "text": answer}
                    ],
                    "role": "assistant",
                },
            ],
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "prompt_cache_key": None,
            "prompt_cache_retention": "in_memory",
            "reasoning": {"effort": "medium", "summary": None},
            "safety_identifier": None,
            "service_tier": "default",
            "store": False,
            "temperature": 1.0,
            "text": {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": "auto",
            "tools": [],
            "top_logprobs": 0,
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": {
                "input_tokens": input_tokens,
                "input_tokens_details": {"cached_tokens": cached},
                "output_tokens": output_tokens,
                "output_tokens_details": {"reasoning_tokens": reasoning},
                "total_tokens": input_tokens + output_tokens,
            },
            "user": None,
            "metadata": {},
        }
        return self.envelope(
            ts, "openai", "responses", self.openai_req_id(), meta, body, resp, None, latency
        )

    def data_platform(self) -> None:
        """data-platform: o3/o4-mini reasoning, notebook calls without prompt_id (fallback to the
        system-prompt fingerprint), OpenAI batch lines, the unpriced acme-llm-7b and Gemini Flash
        log summaries with implicit caching."""
        team = "data-platform"
        for i, ts in enumerate(self.sessions(30, (1, 4), (30, 400), hours=(8, 19), weekend=0.1)):
            task = self.rng.choice(SQL_TASKS)
            user = f"Write a query that {task}. Ticket DATA-{5200 + i}."
            answer = (
                f"```sql\nSELECT date_trunc('month', o.created_at) AS month, c.country,\n"
                f"       sum(o.total_eur) AS revenue\nFROM orders o\nJOIN customers c "
                f"USING (customer_id)\nGROUP BY 1, 2\nORDER BY 1, 2;\n```\nThis query "
                f"{task}."
            )
            meta = self.meta(team, "sql-assistant", "sql-gen", "5")
            self.emit(
                OPENAI_FILE,
                self.openai_chat(
                    ts,
                    meta,
                    "o3",
                    SQL_SYSTEM,
                    user,
                    answer,
                    params={"reasoning_effort": "high", "max_completion_tokens": 16000},
                    reasoning=self.rng.randint(8, 70) * 64,
                    base_ms=3000,
                    per_tok=14.0,
                ),
            )

        for i, ts in enumerate(self.sessions(35, (1, 4), (20, 300), hours=(8, 19), weekend=0.1)):
            table = self.rng.choice(TABLES)
            cols = ", ".join(
                self.rng.sample(
                    (
                        "id",
                        "customer_id",
                        "created_at",
                        "status",
                        "amount",
                        "email",
                        "country",
                        "plan",
                        "ts",
                        "payload",
                    ),
                    5,
                )
            )
            user = f"Document table analytics.{table} (catalog entry CAT-{900 + i}): {cols}."
            kinds = ("identifier", "timestamp (UTC)", "enum", "amount in EUR", "free text")
            answer = "\n".join(
                f"- {c}: {self.rng.choice(kinds)}; personal data: "
                + ("yes" if c in ("email", "customer_id") else "no")
                for c in cols.split(", ")
            )
            meta = self.meta(team, "catalog-docs", "schema-doc", "3")
            self.emit(
                OPENAI_FILE,
                self.openai_chat(
                    ts,
                    meta,
                    "o4-mini",
                    SCHEMA_DOC_SYSTEM,
                    user,
                    answer,
                    params={"reasoning_effort": "medium", "max_completion_tokens": 4000},
                    reasoning=self.rng.randint(1, 20) * 64,
                    base_ms=1200,
                    per_tok=9.0,
                ),
            )

        # Notebook traffic has no prompt registry: no prompt_id, two shared system prompts.
        for i, ts in enumerate(self.sessions(38, (1, 5), (15, 600), hours=(7, 22), weekend=0.3)):
            system = NOTEBOOK_SYSTEMS[i % 3] if i % 3 < 2 else None
            user = f"{self.rng.choice(NOTEBOOK_QUESTIONS)} (notebook nb-{i // 4}, cell {i % 4 + 1})"
            answer = self.sentences(NOTEBOOK_ANSWERS, self.rng.randint(1, 3))
            meta = self.meta(
                team, "notebook", None, None, env=self.rng.choice(("prod", "prod", "staging"))
            )
            self.emit(
                OPENAI_FILE,
                self.openai_chat(
                    ts,
                    meta,
                    "gpt-4o-mini",
                    system,
                    user,
                    answer,
                    params={"temperature": 0.7},
                    base_ms=300,
                    per_tok=7.0,
                ),
            )

        # OpenAI Batch API output lines.
        for k in range(4):
            ts = datetime(2026, 10, 20, 2, 14, 3 + 11 * k, tzinfo=UTC)
            toy = TOYS[k]
            user = f"Listing SKU-{88120 + k}: {toy}, wooden and recycled plastic parts, ages 5+."
            answer = json.dumps(
                {
                    "category": "construction" if k % 2 else "outdoor",
                    "age_range": "5-10",
                    "materials": ["wood", "recycled plastic"],
                }
            )
            meta = self.meta(
                team,
                "catalog-enrichment",
                "product-enrich",
                "1",
                batch_id="batch_6711c0a9f3e48190b2d5c1e7a4f0d912",
            )
            line = self.openai_chat(
                ts,
                meta,
                "gpt-4o-mini",
                ENRICH_SYSTEM,
                user,
                answer,
                params={"temperature": 0, "max_tokens": 200},
                batch=True,
            )
            line["latency_ms"] = 5_844_000 + 2_000 * k
            self.emit(OPENAI_FILE, line)

        # A self-hosted, OpenAI-compatible model that no price table knows.
        for i, ts in enumerate(self.sessions(3, (2, 2), (60, 120), hours=(10, 16))):
            user = (
                f"Customer {self.rng.choice(('Jane Doe', 'Marco Rossi', 'Aiko Tanaka'))} "
                f"(jane.doe{i}@example.com, +44 20 7946 0{i:03d}) asked about order {700 + i}."
            )
            answer = f"Customer [REDACTED] ([REDACTED], [REDACTED]) asked about order {700 + i}."
            meta = self.meta(team, "pii-redaction", "pii-redact", "1")
            messages = [
                {"role": "system", "content": PII_SYSTEM},
                {"role": "user", "content": user},
            ]
            prompt = chat_prompt_tokens([PII_SYSTEM, user])
            comp = approx_tokens(answer)
            resp: Json = {
                "id": "chatcmpl-" + self.rid(32, HEX),
                "object": "chat.completion",
                "created": int(ts.timestamp()),
                "model": "acme-llm-7b",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": answer, "tool_calls": []},
                        "logprobs": None,
                        "finish_reason": "stop",
                        "stop_reason": None,
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt,
                    "total_tokens": prompt + comp,
                    "completion_tokens": comp,
                    "prompt_tokens_details": None,
                },
                "prompt_logprobs": None,
            }
            self.emit(
                OPENAI_FILE,
                self.envelope(
                    ts,
                    "openai",
                    "chat.completions",
                    None,
                    meta,
                    self.chat_body("acme-llm-7b", messages, temperature=0),
                    resp,
                    None,
                    self.latency(comp, 120, 15.0),
                ),
            )

        # Gemini Flash log summaries: a long system instruction hits the implicit cache.
        for ts in self.sessions(26, (1, 5), (20, 280), hours=(0, 23), weekend=0.8):
            svc = self.rng.choice(LOG_SERVICES)
            logs = "\n".join(
                f"{ts.strftime('%Y-%m-%dT%H:%M')}:{n:02d}Z {svc} "
                + self.rng.choice(LOG_MESSAGES).format(
                    k=self.rng.randint(2, 6), o=self.rng.randint(10**6, 10**7)
                )
                for n in range(self.rng.randint(6, 30))
            )
            ask = f"Summarise these log lines:\n{logs}"
            config: Json = {
                "temperature": 0.2,
                "maxOutputTokens": 1024,
                "thinkingConfig": {"thinkingBudget": 1024},
            }
            body = self.gemini_body("gemini-2.5-flash", LOGSUM_SYSTEM, [{"text": ask}], config)
            sys_tokens = approx_tokens(LOGSUM_SYSTEM)
            prompt = sys_tokens + approx_tokens(ask)
            cached = sys_tokens if self.cache_hit("gemini:log-summarize", ts) else 0
            text = (
                f"## Summary\n{svc} shows repeated errors.\n## Evidence\n"
                f"{logs.splitlines()[0]}\n## Actions\nCheck the {svc} runbook."
            )
            thoughts = self.rng.randint(0, 900)
            meta = self.meta(team, "oncall-log-summary", "log-summarize", "4")
            resp = self.gemini_response(ts, "gemini-2.5-flash", text, prompt, thoughts, cached)
            out = resp["usageMetadata"]["candidatesTokenCount"] + thoughts
            self.emit(
                GEMINI_FILE,
                self.envelope(
                    ts,
                    "google",
                    "generate_content",
                    None,
                    meta,
                    body,
                    resp,
                    None,
                    self.latency(out, 400, 4.0),
                ),
            )

    def uuid(self) -> str:
        """A uuid-shaped request id for Gemini error lines (their bodies carry no id)."""
        h = self.rid(32, HEX)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"

    # ---- output --------------------------------------------------------------------------

    def write(self) -> dict[str, tuple[int, int]]:
        """Write each file sorted by time; the .gz is written with mtime=0 for determinism."""
        stats: dict[str, tuple[int, int]] = {}
        for name, rows in self.files.items():
            rows.sort(key=lambda r: (r[0], r[1]))
            data = "".join(r[2] + "\n" for r in rows).encode("utf-8")
            path = OUT_DIR / name
            if name.endswith(".gz"):
                with (
                    path.open("wb") as raw,
                    gzip.GzipFile(
                        filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0
                    ) as gz,
                ):
                    gz.write(data)
            else:
                path.write_bytes(data)
            stats[name] = (len(rows), path.stat().st_size)
        return stats


def main() -> None:
    """Generate every workload and print a one-line summary to stderr."""
    gen = Gen()
    workloads: list[Callable[[], None]] = [
        gen.support_bot,
        gen.legal_review,
        gen.search,
        gen.growth,
        gen.data_platform,
    ]
    for workload in workloads:
        workload()
    stats = gen.write()
    total = sum(n for n, _ in stats.values())
    print(
        f"sample_logs: wrote {total} lines: "
        + ", ".join(f"{k} {n} lines {b:,} B" for k, (n, b) in stats.items()),
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
