"""The model seam: every LLM harlens talks to is an :class:`LLMBackend`.

A backend turns chat messages plus a JSON schema into raw text and token usage; validation, re-asking,
caching and fallback live above it (:mod:`agent.llm.structured`), so each backend stays small.
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

ErrorKind = Literal["unavailable", "timeout", "invalid_output", "bad_request", "model_missing"]


class LLMError(RuntimeError):
    """A backend could not produce a reply. `kind` lets callers decide whether another backend may help."""

    def __init__(self, message: str, *, kind: ErrorKind, backend: str, fix: str | None = None) -> None:
        self.kind = kind
        self.backend = backend
        self.fix = fix
        super().__init__(f"{backend}: {message}" + (f" — fix: {fix}" if fix else ""))


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
        )


class RawReply(BaseModel):
    """What a backend returned, before any validation."""

    text: str
    usage: Usage = Field(default_factory=Usage)
    model: str
    latency_s: float = 0.0
    cached: bool = False


@runtime_checkable
class LLMBackend(Protocol):
    """Messages + JSON schema -> raw JSON text. Implementations must bound their own time."""

    @property
    def model_id(self) -> str:
        """Identifies model and decoding settings; part of every cache key and trace."""
        ...

    def generate(self, messages: list[Message], schema: dict, *, max_tokens: int) -> RawReply: ...
