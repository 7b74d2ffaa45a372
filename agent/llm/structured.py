"""Schema-constrained calls with validate-and-reask (the instructor pattern), every attempt recorded.

The caller always gets a :class:`StructuredResult`: a validated output, or `output=None` with the
attempts that say why (backend down, timeout, invalid JSON, out-of-enum label). Nothing raises past here,
so a failing LLM can only ever downgrade a decision to the evidence fallback, never crash an analysis.
"""

from __future__ import annotations

import json
import time
from typing import Generic, TypeVar

from pydantic import BaseModel, Field, ValidationError

from agent.llm.base import LLMBackend, LLMError, Message, Usage
from agent.llm.cache import ResponseCache

T = TypeVar("T", bound=BaseModel)


class Attempt(BaseModel):
    """One call to a backend and what came of it."""

    model: str
    text: str = ""
    valid: bool = False
    error: str | None = None
    error_kind: str | None = None
    usage: Usage = Field(default_factory=Usage)
    latency_s: float = 0.0
    cached: bool = False


class StructuredResult(BaseModel, Generic[T]):
    output: T | None = None
    attempts: list[Attempt] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.output is not None

    @property
    def usage(self) -> Usage:
        total = Usage()
        for attempt in self.attempts:
            total = total + attempt.usage
        return total

    @property
    def calls(self) -> int:
        return sum(not a.cached for a in self.attempts if a.error_kind not in ("unavailable", "model_missing"))


def output_schema(model: type[BaseModel]) -> dict:
    """The JSON schema of `model`, closed (no extra keys) so grammar-constrained decoders stay tight."""
    schema = model.model_json_schema()

    def close(node):
        if isinstance(node, dict):
            if node.get("type") == "object":
                node.setdefault("additionalProperties", False)
                node["required"] = list(node.get("properties", {}))
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(schema)
    return schema


def _validation_feedback(error: ValidationError) -> str:
    problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'root'}: {e['msg']}" for e in error.errors()[:5])
    return f"That answer is invalid ({problems}). Reply again with only JSON that matches the schema."


def ask_structured(
    backend: LLMBackend,
    messages: list[Message],
    output_model: type[T],
    *,
    max_reasks: int = 1,
    max_tokens: int = 256,
    cache: ResponseCache | None = None,
) -> StructuredResult[T]:
    """Ask, validate with pydantic, re-ask with the validation error up to `max_reasks` times."""
    schema = output_schema(output_model)
    conversation = list(messages)
    result: StructuredResult[T] = StructuredResult()
    for _ in range(max_reasks + 1):
        key = ResponseCache.key(backend.model_id, conversation, schema, max_tokens) if cache else None
        started = time.perf_counter()
        try:
            reply = (cache.get(key) if cache else None) or backend.generate(conversation, schema, max_tokens=max_tokens)
        except LLMError as exc:
            result.attempts.append(
                Attempt(model=backend.model_id, error=str(exc), error_kind=exc.kind, latency_s=time.perf_counter() - started)
            )
            if exc.kind in ("unavailable", "timeout", "model_missing"):
                return result  # re-asking the same dead backend cannot help
            continue
        attempt = Attempt(model=reply.model, text=reply.text, usage=reply.usage, latency_s=reply.latency_s, cached=reply.cached)
        result.attempts.append(attempt)
        try:
            result.output = output_model.model_validate_json(reply.text)
        except ValidationError as exc:
            attempt.error, attempt.error_kind = _validation_feedback(exc), "invalid_output"
            conversation += [Message(role="assistant", content=reply.text), Message(role="user", content=attempt.error)]
            continue
        attempt.valid = True
        if cache and not reply.cached:
            cache.put(key, reply)
        return result
    return result


def compact_json(value) -> str:
    """JSON for prompts: deterministic and short."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
