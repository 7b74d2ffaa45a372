"""On-disk response cache keyed by model and prompt, so re-running an analysis costs no LLM time."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from agent.llm.base import Message, RawReply


class ResponseCache:
    """One JSON file per (model, messages, schema, max_tokens); writes are atomic (write, then rename)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    @staticmethod
    def key(model_id: str, messages: list[Message], schema: dict, max_tokens: int) -> str:
        payload = json.dumps(
            {"model": model_id, "messages": [m.model_dump() for m in messages], "schema": schema, "max_tokens": max_tokens},
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> RawReply | None:
        path = self._path(key)
        if not path.is_file():
            return None
        reply = RawReply.model_validate_json(path.read_text(encoding="utf-8"))
        return reply.model_copy(update={"cached": True, "latency_s": 0.0})

    def put(self, key: str, reply: RawReply) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(reply.model_dump_json(), encoding="utf-8")
        temporary.replace(path)
