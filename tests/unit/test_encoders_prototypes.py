"""Prototype text views, hashes and the separability optimisation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from encoders.errors import EncoderError
from encoders.prototypes import (
    attribute_sentences,
    make_set,
    optimise_separability,
    separability,
    text_views,
)
from recordings.vocabulary import load_vocabulary


@pytest.fixture(scope="module")
def vocabulary():
    return load_vocabulary()


def test_text_views_use_the_vocabulary(vocabulary):
    rowing = vocabulary["rowing"]
    assert text_views(rowing, "name") == ["rowing on a rowing machine"]
    assert text_views(rowing, "description") == [rowing.description]
    ensemble = text_views(rowing, "ensemble")
    assert rowing.display in ensemble and rowing.description in ensemble and "rowing machine" in ensemble
    assert len(ensemble) > 5


def test_attribute_sentences_describe_the_signature(vocabulary):
    sentences = " ".join(attribute_sentences(vocabulary["lying_on_back"]))
    assert "horizontal" in sentences and "back" in sentences and "still" in sentences


def test_prototype_hash_detects_changed_text(vocabulary):
    texts = [text_views(vocabulary["sitting"], "description")]
    stored = make_set(("sitting",), texts, np.ones((1, 4)) / 2, "description", "text", "m")
    stored.verify(vocabulary)  # unchanged text passes
    edited = vocabulary.model_copy(deep=True)
    edited.activities[[a.name for a in edited.activities].index("sitting")].description = "Sitting, told differently."
    with pytest.raises(EncoderError, match="different text"):
        stored.verify(edited)


def test_select_orders_rows_and_rejects_unknown_activities():
    protos = make_set(("a", "b"), [["x"], ["y"]], np.array([[1.0, 0.0], [0.0, 1.0]]), "name", "text", "m")
    np.testing.assert_array_equal(protos.select(["b", "a"]), [[0.0, 1.0], [1.0, 0.0]])
    with pytest.raises(EncoderError, match="no name prototype"):
        protos.select(["c"])


def test_separability_of_known_vectors():
    m = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    s = separability(m, ["x", "y", "xy"])
    assert s.max_cosine == pytest.approx(2**-0.5) and s.min_cosine == pytest.approx(0.0)
    assert s.min_angle_deg == pytest.approx(45.0) and set(s.closest_pair) in ({"x", "xy"}, {"y", "xy"})


def _clustered(seed: int, n: int = 8, d: int = 16) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(1, d)) * 2 + rng.normal(size=(n, d))  # a shared direction: close prototypes


@given(st.integers(0, 10_000))
@settings(max_examples=10, deadline=None)
def test_optimisation_widens_the_smallest_margin(seed):
    anchors = _clustered(seed)
    names = [str(i) for i in range(len(anchors))]
    before = separability(anchors, names)
    after = separability(optimise_separability(anchors, tradeoff=1.0, steps=150), names)
    assert after.max_cosine < before.max_cosine - 0.05
    assert after.min_angle_deg > before.min_angle_deg


def test_tradeoff_keeps_prototypes_near_their_text():
    anchors = _clustered(0)
    unit = anchors / np.linalg.norm(anchors, axis=1, keepdims=True)
    closeness = [float(np.mean(np.sum(optimise_separability(anchors, tradeoff=t, steps=150) * unit, axis=1)))
                 for t in (0.3, 3.0, 30.0)]
    assert closeness[0] < closeness[1] < closeness[2] <= 1.0 + 1e-6
    with pytest.raises(EncoderError):
        optimise_separability(anchors, tradeoff=-1)


def test_optimisation_is_deterministic_and_stays_in_the_anchor_span():
    anchors = _clustered(1, n=4, d=12)
    a, b = optimise_separability(anchors, steps=50), optimise_separability(anchors, steps=50)
    np.testing.assert_array_equal(a, b)
    coef, residual, *_ = np.linalg.lstsq(anchors.T, a.T, rcond=None)
    assert np.abs(anchors.T @ coef - a.T).max() < 1e-4


def test_optimised_prototypes_are_checked_against_their_base_text(vocabulary):
    texts = [text_views(vocabulary["rowing"], "description")]
    stored = make_set(("rowing",), texts, np.ones((1, 4)) / 2, "optimised", "text", "m", {"base": "description"})
    stored.verify(vocabulary)
    edited = vocabulary.model_copy(deep=True)
    edited.activities[[a.name for a in edited.activities].index("rowing")].description = "Rowing, told differently."
    with pytest.raises(EncoderError, match="different text"):
        stored.verify(edited)
