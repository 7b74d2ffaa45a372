"""The encoders on real DSADS (dsads-zsl) with the real MiniLM text encoder; skipped when DSADS is absent.

Training runs are tiny (a third of the reference windows, a few epochs), so the assertions are about
what any working encoder must reach, far above chance, not about the benchmark's figures.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from encoders.config import EncoderConfig, TrainConfig
from encoders.evaluation import EvalSettings, evaluate_protocol, evaluate_split
from encoders.model import IMUEncoder
from encoders.progress import Progress
from encoders.report import EvalReport, findings, render_markdown, summarise
from encoders.configurations import configuration
from encoders.text import TextEncoder
from recordings.errors import DataNotFoundError
from recordings.protocols import get_protocol, load_recordings, load_split
from recordings.vocabulary import load_vocabulary

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def split():
    try:
        recordings = load_recordings(get_protocol("dsads-zsl"))
    except DataNotFoundError as exc:
        pytest.skip(f"DSADS not available: {exc}")
    return load_split("dsads-zsl", 0, recordings=recordings)


@pytest.fixture(scope="module")
def text_encoder(tmp_path_factory):
    return TextEncoder(cache_dir=tmp_path_factory.mktemp("text"))


@pytest.fixture(scope="module")
def encoder(split, text_encoder):
    config = EncoderConfig(train=TrainConfig(pipeline="ce", epochs=4, seed=0, threads=1))
    return IMUEncoder(config, text_encoder=text_encoder).fit(split.reference.subset(np.arange(0, len(split.reference), 3)))


def _seen_accuracy(encoder, windows, seen):
    acts = windows.activities
    test = windows.subset(np.isin(windows.labels, [acts.index(a) for a in seen]))
    pred = np.asarray([acts.index(a) for a in seen])[encoder.score(test, seen).argmax(1)]
    return float(np.mean(pred == test.labels))


def test_split_contract(split):
    assert split.reference.data.shape[1:] == (30, 125) and len(split.unseen) == 4
    assert not set(split.reference.label_names) & set(split.unseen)


def test_seen_activities_of_held_out_subjects(encoder, split):
    assert encoder.classes_ == split.seen
    assert _seen_accuracy(encoder, split.test, split.seen) > 0.6  # chance: 1/15 (measured ~0.75-0.8)


def test_unseen_activities_above_chance(encoder, split):
    acts = split.test.activities
    unseen = [acts.index(a) for a in split.unseen]
    test = split.test.subset(np.isin(split.test.labels, unseen))
    pred = np.asarray(unseen)[encoder.score(test, split.unseen, "name").argmax(1)]
    assert np.mean(pred == test.labels) > 0.5  # chance: 1/4 (measured ~0.7-0.77)


def test_one_placement_still_embeds_usefully(encoder, split):
    thigh = split.test.select_channels([c for c in split.test.channels if c.startswith("thigh_right.")])
    assert encoder.embed(thigh).shape == (len(thigh), 384)
    assert _seen_accuracy(encoder, thigh, split.seen) > 0.4  # measured ~0.6 with one of five placements


def test_pack_round_trip_on_real_data(encoder, split, text_encoder, tmp_path):
    folder = encoder.save(tmp_path / "encoder", extra_activities=split.unseen)
    loaded = IMUEncoder.load(folder, vocabulary=load_vocabulary(), text_encoder=text_encoder)
    sample = split.test.subset(np.arange(0, len(split.test), 50))
    np.testing.assert_array_equal(loaded.embed(sample), encoder.embed(sample))
    assert loaded.prototypes(split.spec.activities, "description").activities == split.spec.activities


def test_evaluation_end_to_end_on_a_small_split(split, text_encoder, tmp_path):
    small = type(split)(spec=split.spec, fold=split.fold,
                        reference=split.reference.subset(np.arange(0, len(split.reference), 4)),
                        test=split.test.subset(np.arange(0, len(split.test), 3)))
    settings = EvalSettings(epochs=2, inner_epochs=1, configurations=("CE-name-cos", "CE-desc-isoft", "HL-CE-ens-isoft"))
    runs = evaluate_split(small, 0, settings, load_vocabulary(), text_encoder, Progress(enabled=False))
    assert [r.configuration for r in runs] == list(settings.configurations)
    for run in runs:
        for batching in ("balanced", "natural"):
            assert 0 <= run.unseen_only[batching].macro_f1 <= 1 and 0 <= run.generalised[batching].H <= 1
        assert -1 <= run.gap <= 1 and run.separability.max_cosine < 1
    cosine = runs[0]
    assert cosine.unseen_only["balanced"] == cosine.unseen_only["natural"]  # batch-independent method
    rows = summarise(runs, [configuration(n) for n in settings.configurations])
    report = EvalReport(protocol="dsads-zsl", seeds=[0], folds=[0], runs=runs, summary=rows, findings=findings(rows, []))
    again = EvalReport.model_validate(json.loads(report.model_dump_json()))
    assert again.summary[1].metrics["unseen.balanced.f1"].mean == rows[1].metrics["unseen.balanced.f1"].mean
    assert "CE-desc-isoft" in render_markdown(again)


def test_pamap2_is_skipped_cleanly_when_absent(tmp_path):
    try:
        load_recordings(get_protocol("pamap2-zsl"))
    except DataNotFoundError:
        report = evaluate_protocol("pamap2-zsl", seeds=[0], out_json=tmp_path / "p.json", progress=False)
        assert report.skipped and "not available" in report.skipped and not report.runs
        assert json.loads((tmp_path / "p.json").read_text())["skipped"] == report.skipped
        return
    pytest.skip("PAMAP2 is present: the full pamap2-zsl evaluation is a benchmark, not a test")
