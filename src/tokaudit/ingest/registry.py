"""The log formats tokaudit knows, in detection order."""

from __future__ import annotations

from tokaudit.ingest.anthropic_batch import AnthropicBatchFormat
from tokaudit.ingest.anthropic_pairs import AnthropicPairsFormat
from tokaudit.ingest.anthropic_usage import AnthropicUsageFormat
from tokaudit.ingest.batch_input import BatchInputFormat
from tokaudit.ingest.bedrock_invocation import BedrockInvocationFormat
from tokaudit.ingest.claude_code import ClaudeCodeFormat
from tokaudit.ingest.envelope import EnvelopeFormat
from tokaudit.ingest.gemini_batch import GeminiBatchFormat
from tokaudit.ingest.gemini_pairs import GeminiPairsFormat
from tokaudit.ingest.helicone import HeliconeFormat
from tokaudit.ingest.interface import LogFormat
from tokaudit.ingest.langfuse import LangfuseFormat
from tokaudit.ingest.litellm import LiteLLMFormat
from tokaudit.ingest.openai_batch import OpenAIBatchFormat
from tokaudit.ingest.openai_pairs import OpenAIPairsFormat
from tokaudit.ingest.openai_usage import OpenAIUsageFormat
from tokaudit.ingest.otel import OtelGenAIFormat
from tokaudit.ingest.vertex_claude_batch import VertexClaudeBatchFormat

FORMATS: dict[str, LogFormat] = {
    f.name: f
    for f in [
        # agent transcripts first: a directory of them is thousands of files, and their
        # sniff (type + sessionId + uuid) matches nothing else
        ClaudeCodeFormat(),
        # provider-native formats first: each is more specific than the envelope
        # (a Bedrock invocation log names its schemaType)
        BedrockInvocationFormat(),
        BatchInputFormat(),
        OpenAIBatchFormat(),
        AnthropicBatchFormat(),
        VertexClaudeBatchFormat(),
        GeminiBatchFormat(),
        OpenAIPairsFormat(),
        AnthropicPairsFormat(),
        GeminiPairsFormat(),
        # aggregated usage exports (counts per time bucket, no text)
        OpenAIUsageFormat(),
        AnthropicUsageFormat(),
        # gateway and observability exports (whole documents or JSON Lines)
        OtelGenAIFormat(),
        LangfuseFormat(),
        HeliconeFormat(),
        LiteLLMFormat(),
        EnvelopeFormat(),
    ]
}
