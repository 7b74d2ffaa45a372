"""Any OpenAI-compatible chat API: OpenAI itself (strict `json_schema`) or a llama.cpp server
(`json_object` + schema). Timeouts and retries are bounded; failures become typed LLMErrors."""

from __future__ import annotations

import time
from typing import Literal

from agent.llm.base import LLMError, Message, RawReply, Usage

SchemaMode = Literal["auto", "json_schema", "json_object"]


class OpenAICompatibleBackend:
    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        max_retries: int = 1,
        schema_mode: SchemaMode = "auto",
        seed: int = 0,
        temperature: float = 0.0,
    ) -> None:
        self.model = model
        self.base_url = base_url
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.schema_mode = schema_mode
        self.seed = seed
        self.temperature = temperature
        self._client = None

    @property
    def mode(self) -> str:
        """OpenAI's own API takes strict json_schema; other servers (llama.cpp) take json_object + schema."""
        if self.schema_mode != "auto":
            return self.schema_mode
        return "json_schema" if self.base_url is None else "json_object"

    @property
    def model_id(self) -> str:
        return f"openai:{self.base_url or 'default'}:{self.model}:{self.mode}:t{self.temperature}:s{self.seed}"

    def _client_or_fail(self):
        if self._client is None:
            from openai import OpenAI

            self._client = OpenAI(
                base_url=self.base_url, api_key=self.api_key or "not-needed", timeout=self.timeout_s, max_retries=self.max_retries
            )
        return self._client

    def _response_format(self, schema: dict) -> dict:
        if self.mode == "json_schema":
            return {"type": "json_schema", "json_schema": {"name": "harlens_output", "schema": schema, "strict": True}}
        return {"type": "json_object", "schema": schema}

    def generate(self, messages: list[Message], schema: dict, *, max_tokens: int) -> RawReply:
        import openai

        started = time.perf_counter()
        try:
            reply = self._client_or_fail().chat.completions.create(
                model=self.model,
                messages=[m.model_dump() for m in messages],
                response_format=self._response_format(schema),
                max_tokens=max_tokens,
                temperature=self.temperature,
                seed=self.seed,
            )
        except openai.APITimeoutError as exc:
            raise LLMError(f"timed out after {self.timeout_s:g} s ({exc})", kind="timeout", backend=self.model_id) from None
        except openai.APIConnectionError as exc:
            raise LLMError(
                f"cannot connect ({exc})", kind="unavailable", backend=self.model_id, fix="check --base-url and that the server runs"
            ) from None
        except openai.APIStatusError as exc:
            kind = "unavailable" if exc.status_code >= 500 or exc.status_code in (401, 403, 429) else "bad_request"
            raise LLMError(f"HTTP {exc.status_code}: {exc.message}", kind=kind, backend=self.model_id) from None
        if not reply.choices:
            raise LLMError("the reply has no choices", kind="invalid_output", backend=self.model_id)
        usage = reply.usage
        return RawReply(
            text=reply.choices[0].message.content or "",
            usage=Usage(prompt_tokens=usage.prompt_tokens if usage else 0, completion_tokens=usage.completion_tokens if usage else 0),
            model=self.model_id,
            latency_s=time.perf_counter() - started,
        )
