"""Pure logic of the LLM seam: validate-and-reask, caching, fallback (scripted backends stand in for models)."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel

from agent.llm import FallbackBackend, LLMError, Message, RawReply, ResponseCache, ask_structured, output_schema


class Decision(BaseModel):
    activity: Literal["sitting", "walking"]


class Scripted:
    """Replies from a script; raises LLMError for entries that are exceptions."""

    def __init__(self, replies, name="scripted"):
        self.replies = list(replies)
        self.calls = []
        self.name = name

    @property
    def model_id(self) -> str:
        return self.name

    def generate(self, messages, schema, *, max_tokens):
        self.calls.append(messages)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return RawReply(text=reply, model=self.name)


MESSAGES = [Message(role="user", content="which?")]


def test_valid_first_answer_is_one_attempt():
    result = ask_structured(Scripted(['{"activity": "walking"}']), MESSAGES, Decision)
    assert result.ok and result.output.activity == "walking" and len(result.attempts) == 1


def test_out_of_enum_answer_is_reasked_with_the_validation_error():
    backend = Scripted(['{"activity": "running"}', '{"activity": "sitting"}'])
    result = ask_structured(backend, MESSAGES, Decision, max_reasks=1)
    assert result.output.activity == "sitting"
    assert [a.valid for a in result.attempts] == [False, True]
    reask = backend.calls[1][-1].content
    assert "invalid" in reask and "activity" in reask


def test_invalid_json_twice_gives_no_output_and_records_both():
    result = ask_structured(Scripted(["not json", "{}"]), MESSAGES, Decision, max_reasks=1)
    assert not result.ok and [a.error_kind for a in result.attempts] == ["invalid_output", "invalid_output"]


def test_dead_backend_is_not_reasked():
    backend = Scripted([LLMError("down", kind="unavailable", backend="x"), '{"activity": "sitting"}'])
    result = ask_structured(backend, MESSAGES, Decision, max_reasks=2)
    assert not result.ok and len(backend.calls) == 1 and result.attempts[0].error_kind == "unavailable"


def test_cache_serves_the_second_call(tmp_path):
    cache = ResponseCache(tmp_path)
    first = ask_structured(Scripted(['{"activity": "sitting"}']), MESSAGES, Decision, cache=cache)
    empty = Scripted([])
    second = ask_structured(empty, MESSAGES, Decision, cache=cache)
    assert first.output == second.output and second.attempts[0].cached and not empty.calls
    assert second.calls == 0


def test_fallback_chain_uses_the_next_backend():
    chain = FallbackBackend([Scripted([LLMError("t/o", kind="timeout", backend="a")], "a"), Scripted(['{"activity": "walking"}'], "b")])
    result = ask_structured(chain, MESSAGES, Decision)
    assert result.output.activity == "walking" and result.attempts[0].model == "b"
    with pytest.raises(LLMError, match="every backend failed"):
        FallbackBackend([Scripted([LLMError("x", kind="unavailable", backend="a")])]).generate(MESSAGES, {}, max_tokens=5)


def test_output_schema_is_closed_and_enumerated():
    schema = output_schema(Decision)
    assert schema["additionalProperties"] is False and schema["required"] == ["activity"]
    assert schema["properties"]["activity"]["enum"] == ["sitting", "walking"]
