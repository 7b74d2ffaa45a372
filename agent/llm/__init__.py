"""The LLM seam: backends (llama.cpp in process, OpenAI-compatible HTTP), validation with re-ask,
an on-disk cache and fallback chains."""

from agent.llm.base import LLMBackend, LLMError, Message, RawReply, Usage
from agent.llm.cache import ResponseCache
from agent.llm.fallback import FallbackBackend
from agent.llm.llamacpp import LlamaCppBackend, bundled_model_path
from agent.llm.openai_compat import OpenAICompatibleBackend
from agent.llm.structured import Attempt, StructuredResult, ask_structured, output_schema

__all__ = [
    "Attempt", "FallbackBackend", "LLMBackend", "LLMError", "LlamaCppBackend", "Message", "OpenAICompatibleBackend",
    "RawReply", "ResponseCache", "StructuredResult", "Usage", "ask_structured", "bundled_model_path", "output_schema",
]  # fmt: skip
