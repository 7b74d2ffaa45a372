"""The real bundled GGUF in process and through llama-cpp-python's OpenAI-compatible server on 127.0.0.1,
plus failure injection: every failure ends as a typed, recorded result, never a crash or a hang."""

from __future__ import annotations

import time
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, Field

from agent.llm import (
    FallbackBackend, LlamaCppBackend, LLMError, Message, OpenAICompatibleBackend, ResponseCache, ask_structured,
    bundled_model_path,
)  # fmt: skip
from tests.integration.llm_servers import free_port, llama_server, scripted_server

pytestmark = pytest.mark.llm


class Pick(BaseModel):
    activity: Literal["sitting", "running_treadmill", "lying_on_back"]
    evidence_ids: Annotated[list[Literal["E1", "E2"]], Field(max_length=2)]


MESSAGES = [
    Message(role="system", content="You pick the activity that fits the evidence. Answer with JSON only."),
    Message(role="user", content="E1: torso step frequency 2.7 Hz (running 2.7, sitting 0.1). E2: torso upright. Which activity?"),
]


@pytest.fixture(scope="module")
def local_backend():
    try:
        path = bundled_model_path()
    except LLMError as exc:
        pytest.skip(str(exc))
    return LlamaCppBackend(path, n_ctx=2048)


def test_bundled_gguf_answers_within_the_schema(local_backend):
    result = ask_structured(local_backend, MESSAGES, Pick, max_tokens=48)
    assert result.ok, result.attempts
    assert result.output.activity in ("sitting", "running_treadmill", "lying_on_back")
    assert result.usage.prompt_tokens > 20 and result.usage.completion_tokens > 3
    assert result.attempts[0].model.startswith("llama.cpp:SmolLM2-135M-Instruct")


def test_local_backend_is_deterministic_and_cached(local_backend, tmp_path):
    cache = ResponseCache(tmp_path)
    first = ask_structured(local_backend, MESSAGES, Pick, max_tokens=48, cache=cache)
    second = ask_structured(local_backend, MESSAGES, Pick, max_tokens=48, cache=cache)
    uncached = ask_structured(local_backend, MESSAGES, Pick, max_tokens=48)
    assert first.output == second.output == uncached.output
    assert second.attempts[0].cached and second.calls == 0


def test_missing_gguf_is_a_typed_error(tmp_path):
    result = ask_structured(LlamaCppBackend(tmp_path / "none.gguf"), MESSAGES, Pick)
    assert not result.ok and result.attempts[0].error_kind == "model_missing"


def test_http_path_against_a_real_llama_cpp_server(local_backend):
    with llama_server(str(bundled_model_path())) as base_url:
        # generous timeout: a shared 2-core CI machine can be slow; a hang still ends in a bounded time
        backend = OpenAICompatibleBackend(model="smollm2", base_url=base_url, timeout_s=240, max_retries=0)
        assert backend.mode == "json_object"
        result = ask_structured(backend, MESSAGES, Pick, max_tokens=48)
    assert result.ok, result.attempts
    assert result.output.activity in ("sitting", "running_treadmill", "lying_on_back")
    assert result.usage.completion_tokens > 0


def test_server_down_is_unavailable_and_falls_back_to_the_local_model(local_backend):
    dead = OpenAICompatibleBackend(model="x", base_url=f"http://127.0.0.1:{free_port()}/v1", timeout_s=2, max_retries=0)
    alone = ask_structured(dead, MESSAGES, Pick)
    assert not alone.ok and alone.attempts[0].error_kind == "unavailable"
    chained = ask_structured(FallbackBackend([dead, local_backend]), MESSAGES, Pick, max_tokens=48)
    assert chained.ok and chained.attempts[0].model.startswith("llama.cpp")


def test_timeout_is_bounded():
    with scripted_server([None]) as base_url:
        backend = OpenAICompatibleBackend(model="x", base_url=base_url, timeout_s=1.0, max_retries=0)
        started = time.monotonic()
        result = ask_structured(backend, MESSAGES, Pick)
    assert not result.ok and result.attempts[0].error_kind == "timeout"
    assert time.monotonic() - started < 8


def test_invalid_json_and_out_of_enum_labels_are_reasked_then_given_up():
    with scripted_server(["this is not json", '{"activity": "swimming", "evidence_ids": []}']) as base_url:
        backend = OpenAICompatibleBackend(model="x", base_url=base_url, timeout_s=5, max_retries=0)
        result = ask_structured(backend, MESSAGES, Pick, max_reasks=1)
    assert not result.ok
    assert [a.error_kind for a in result.attempts] == ["invalid_output", "invalid_output"]
    assert "activity" in result.attempts[1].error


def test_reask_recovers_when_the_second_answer_is_valid():
    with scripted_server(['{"activity": "swimming", "evidence_ids": []}', '{"activity": "sitting", "evidence_ids": ["E2"]}']) as url:
        result = ask_structured(OpenAICompatibleBackend(model="x", base_url=url, max_retries=0), MESSAGES, Pick, max_reasks=1)
    assert result.ok and result.output.activity == "sitting" and len(result.attempts) == 2
