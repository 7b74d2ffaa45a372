"""Render prompt files from `prompts/` and keep user-controlled text as quoted data."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from string import Template

from agent.llm.base import Message


@lru_cache(maxsize=None)
def _template(name: str) -> Template:
    return Template(resources.files("prompts").joinpath(f"{name}.md").read_text(encoding="utf-8"))


def render(name: str, **values: str) -> str:
    """Fill a prompt file; a missing value is a programming error (KeyError), never a silent blank."""
    return _template(name).substitute(**values).strip()


def quoted(value) -> str:
    """User-controlled content as JSON data: quotes and newlines escaped, so it cannot pose as instructions."""
    return json.dumps(value, ensure_ascii=False, indent=None, sort_keys=True)


def conversation(system: str, user: str, **values: str) -> list[Message]:
    return [Message(role="system", content=render(system)), Message(role="user", content=render(user, **values))]
