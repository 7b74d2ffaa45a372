"""A fallback chain: try each backend in order until one answers (pydantic-ai's FallbackModel idea)."""

from __future__ import annotations

import logging

from agent.llm.base import LLMBackend, LLMError, Message, RawReply

log = logging.getLogger(__name__)


class FallbackBackend:
    """Backends in preference order; a backend that is down, slow or missing hands over to the next."""

    def __init__(self, backends: list[LLMBackend]) -> None:
        if not backends:
            raise ValueError("a fallback chain needs at least one backend")
        self.backends = list(backends)

    @property
    def model_id(self) -> str:
        return "fallback[" + ",".join(b.model_id for b in self.backends) + "]"

    def generate(self, messages: list[Message], schema: dict, *, max_tokens: int) -> RawReply:
        errors = []
        for backend in self.backends:
            try:
                return backend.generate(messages, schema, max_tokens=max_tokens)
            except LLMError as exc:
                if exc.kind == "bad_request":
                    raise
                log.warning("backend %s failed (%s); trying the next", backend.model_id, exc.kind)
                errors.append(str(exc))
        raise LLMError("every backend failed: " + " | ".join(errors), kind="unavailable", backend=self.model_id)
