"""The knowledge base on real UCI HAPT: one waist sensor at 50 Hz, 2.56 s windows (hapt-xsub)."""

from __future__ import annotations

import numpy as np
import pytest

from knowledge_base import KnowledgeBase
from recordings.errors import DataNotFoundError
from recordings.protocols import load_split

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def split():
    try:
        return load_split("hapt-xsub")
    except DataNotFoundError as exc:
        pytest.skip(f"UCI HAPT is not available: {exc}")


@pytest.fixture(scope="module")
def kb(split) -> KnowledgeBase:
    return KnowledgeBase(show_progress=False).fit(split.reference)


@pytest.fixture(scope="module")
def test_features(kb, split) -> np.ndarray:
    return kb.transform(split.test)


def test_a_waist_only_base_reads_posture_at_the_waist(kb):
    assert len(kb.pairs_) == 15
    assert all(name.startswith("waist.") for name in kb.feature_names_)
    assert kb.calibration_.posture.placement == "waist"
    assert kb.calibration_.cadence_tolerance_hz == pytest.approx(0.5 / 2.56, abs=1e-3)
    top = kb.top_features("lying", "sitting", 1)[0]
    assert top.aspect == "posture", top.name


def test_lying_and_walking_predicates_hold_on_held_out_users(kb, test_features, split):
    labels = split.test.labels
    lying = labels == split.test.activities.index("lying")
    walking = labels == split.test.activities.index("walking")
    horizontal = next(c for c in kb.evaluate(test_features, "lying") if c.attribute == "torso")
    assert horizontal.holds[lying].mean() > 0.9
    assert horizontal.holds[walking].mean() < 0.05
    walking_columns = {c.attribute: c for c in kb.evaluate(test_features, "walking")}
    assert walking_columns["periodic"].holds[walking].mean() > 0.8
    assert walking_columns["cadence_hz"].holds[walking].mean() > 0.7
    assert walking_columns["cadence_hz"].holds[lying].mean() < 0.05
