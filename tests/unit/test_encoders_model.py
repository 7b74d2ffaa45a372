"""The TCN, augmentations and the IMUEncoder estimator on small synthetic IMU windows (real MiniLM text)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from encoders.augment import placement_mask, random_rotations, rotate, time_warp
from encoders.config import AugmentConfig, EncoderConfig, TCNConfig, TrainConfig
from encoders.errors import EncoderError
from encoders.model import STATE_FILE, IMUEncoder
from encoders.tcn import MultiPlacementEncoder
from encoders.text import TextEncoder
from recordings.windows import Windows

ACTIVITIES = ("sitting", "lying_on_back", "walking", "running_treadmill", "cycling_upright")
PLACEMENTS = ("torso", "wrist_right", "thigh_left")
CHANNELS = tuple(f"{p}.{s}.{a}" for p in PLACEMENTS for s in ("acc", "gyro") for a in "xyz")


def synthetic_windows(n_per_class: int = 24, seed: int = 0, classes=range(4)) -> Windows:
    """Each activity: its own gravity direction and movement frequency, plus noise (25 Hz, 5 s)."""
    rng = np.random.default_rng(seed)
    t = np.arange(125) / 25.0
    data, labels = [], []
    for c in classes:
        gravity = np.roll([9.8, 0.0, 0.0], c % 3)
        for _ in range(n_per_class):
            window = rng.normal(0, 0.3, (len(CHANNELS), 125))
            for p in range(len(PLACEMENTS)):
                window[p * 6 : p * 6 + 3] += gravity[:, None]
                window[p * 6 + 3] += (c + 1) * 0.5 * np.sin(2 * np.pi * (0.5 + c) * t + rng.uniform(0, 6))
            data.append(window)
            labels.append(c)
    n = len(labels)
    return Windows(
        data=np.asarray(data, dtype=np.float32), channels=CHANNELS, sampling_rate_hz=25.0, activities=ACTIVITIES,
        labels=np.asarray(labels, dtype=np.int16), purity=np.ones(n, np.float32),
        subjects=np.array(["s1"] * n, dtype=object), recording_ids=np.array([f"r{c}" for c in labels], dtype=object),
        start_s=np.arange(n, dtype=float) * 5,
    )


def tiny_config(pipeline: str = "ce", seed: int = 0, epochs: int = 3) -> EncoderConfig:
    return EncoderConfig(
        tcn=TCNConfig(width=8, dilations=(1, 2)),
        train=TrainConfig(pipeline=pipeline, epochs=epochs, batch_size=32, seed=seed, threads=1),
    )


@pytest.fixture(scope="module")
def text_encoder(tmp_path_factory):
    return TextEncoder(cache_dir=tmp_path_factory.mktemp("text"))


@pytest.fixture(scope="module")
def fitted(text_encoder):
    return IMUEncoder(tiny_config(epochs=6), text_encoder=text_encoder).fit(synthetic_windows())


# ------------------------------------------------------------------------------------------ network
def test_fused_embedding_is_the_normalised_mean_of_present_placements():
    torch.manual_seed(0)
    net = MultiPlacementEncoder(PLACEMENTS, 6, 16, TCNConfig(width=8, dilations=(1,)), torch.zeros(18), torch.ones(18)).eval()
    x = torch.randn(4, 18, 125)
    present = torch.tensor([[True, False, True]] * 4)
    fused, parts = net(x, present)
    assert parts.shape == (4, 3, 16) and torch.all(parts[:, 1] == 0)
    expected = torch.nn.functional.normalize(parts[:, 0] + parts[:, 2], dim=1)
    torch.testing.assert_close(fused, expected)
    torch.testing.assert_close(fused.norm(dim=1), torch.ones(4))


def test_branches_are_independent_per_placement():
    torch.manual_seed(0)
    net = MultiPlacementEncoder(PLACEMENTS, 6, 16, TCNConfig(width=8, dilations=(1,)), torch.zeros(18), torch.ones(18)).eval()
    x = torch.randn(2, 18, 125)
    changed = x.clone()
    changed[:, 6:12] = torch.randn(2, 6, 125)  # only the wrist
    a, b = net.placement_embeddings(x), net.placement_embeddings(changed)
    torch.testing.assert_close(a[:, 0], b[:, 0])
    torch.testing.assert_close(a[:, 2], b[:, 2])
    assert not torch.allclose(a[:, 1], b[:, 1])


# ------------------------------------------------------------------------------------------ augmentation
def test_rotations_are_proper_and_preserve_vector_norms():
    gen = torch.Generator().manual_seed(0)
    rot = random_rotations(50, 30.0, gen)
    torch.testing.assert_close(rot @ rot.transpose(1, 2), torch.eye(3).expand(50, 3, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.linalg.det(rot), torch.ones(50), atol=1e-5, rtol=0)
    x = torch.randn(4, 2, 6, 20)
    y = rotate(x, 30.0, gen)
    torch.testing.assert_close(y.view(4, 2, 2, 3, 20).norm(dim=3), x.view(4, 2, 2, 3, 20).norm(dim=3))
    assert not torch.allclose(x, y)


def test_time_warp_keeps_shape_and_endpoints():
    x = torch.linspace(0, 1, 50).expand(3, 1, 3, 50).contiguous()
    y = time_warp(x, 0.3, torch.Generator().manual_seed(1))
    assert y.shape == x.shape
    torch.testing.assert_close(y[..., 0], x[..., 0])
    torch.testing.assert_close(y[..., -1], x[..., -1])
    assert torch.all(y[..., 1:] >= y[..., :-1] - 1e-6)  # a monotone time map of a ramp stays monotone


def test_placement_dropout_always_keeps_one_placement():
    keep = placement_mask(500, 3, 0.9, torch.Generator().manual_seed(0))
    assert keep.any(dim=1).all() and not keep.all()


# ------------------------------------------------------------------------------------------ estimator
def test_init_only_stores_parameters():
    encoder = IMUEncoder(tiny_config())
    assert not hasattr(encoder, "network_") and encoder.config.train.epochs == 3
    with pytest.raises(EncoderError, match="not fitted"):
        encoder.embed(synthetic_windows(2))


def test_fit_learns_the_seen_activities(fitted):
    windows = synthetic_windows(seed=1)
    assert fitted.classes_ == ACTIVITIES[:4]
    scores = fitted.score(windows, fitted.classes_)
    assert scores.shape == (len(windows), 4)
    assert (scores.argmax(1) == windows.labels).mean() > 0.7
    assert fitted.train_log_.losses[-1] < fitted.train_log_.losses[0]


def test_embeddings_are_unit_vectors_per_placement_and_fused(fitted):
    windows = synthetic_windows(4, seed=2)
    fused = fitted.embed(windows)
    parts = fitted.embed_placements(windows)
    assert fused.shape == (16, 384) and set(parts) == set(PLACEMENTS)
    np.testing.assert_allclose(np.linalg.norm(fused, axis=1), 1.0, atol=1e-5)
    mean = sum(parts.values())
    np.testing.assert_allclose(fused, mean / np.linalg.norm(mean, axis=1, keepdims=True), atol=1e-5)


def test_fewer_placements_still_embed(fitted):
    windows = synthetic_windows(4, seed=3)
    torso = windows.select_channels([c for c in CHANNELS if c.startswith("torso.")])
    fused = fitted.embed(torso)
    np.testing.assert_allclose(fused, fitted.embed_placements(windows)["torso"], atol=1e-5)


def test_a_same_family_placement_feeds_the_branch(fitted):
    windows = synthetic_windows(2, seed=4)
    renamed = [c.replace("wrist_right.", "wrist.") for c in CHANNELS]
    other = Windows(**{**windows.__dict__, "channels": tuple(renamed)})
    np.testing.assert_allclose(fitted.embed(other), fitted.embed(windows), atol=1e-6)
    assert "wrist" in fitted.embed_placements(other)


def test_unusable_windows_are_rejected_clearly(fitted):
    windows = synthetic_windows(2)
    slow = Windows(**{**windows.__dict__, "sampling_rate_hz": 50.0})
    with pytest.raises(EncoderError, match="resample"):
        fitted.embed(slow)
    feet = Windows(**{**windows.__dict__, "channels": tuple(c.replace("torso.", "foot.").replace("wrist_right.", "head.")
                                                         .replace("thigh_left.", "pocket.") for c in CHANNELS)})
    with pytest.raises(EncoderError, match="match none"):
        fitted.embed(feet)


def test_prototypes_exist_for_unseen_activities(fitted):
    protos = fitted.prototypes(ACTIVITIES, "description")
    assert protos.activities == ACTIVITIES and protos.matrix.shape == (5, 384)
    optimised = fitted.prototypes(ACTIVITIES, "optimised", tradeoff=1.0)
    from encoders.prototypes import separability

    assert separability(optimised.matrix, ACTIVITIES).max_cosine < separability(protos.matrix, ACTIVITIES).max_cosine


def test_training_is_deterministic(text_encoder):
    windows = synthetic_windows(8)
    a = IMUEncoder(tiny_config(epochs=1), text_encoder=text_encoder).fit(windows)
    b = IMUEncoder(tiny_config(epochs=1), text_encoder=text_encoder).fit(windows)
    c = IMUEncoder(tiny_config(epochs=1, seed=1), text_encoder=text_encoder).fit(windows)
    np.testing.assert_array_equal(a.embed(windows), b.embed(windows))
    assert not np.array_equal(a.embed(windows), c.embed(windows))


def test_every_epoch_runs_unless_a_time_budget_is_set(text_encoder):
    """A pack's encoder must not depend on how fast the machine is: no budget by default; the encoder study
    sets its own, and a run it cuts short says so."""
    windows = synthetic_windows(8)
    assert TrainConfig().max_train_seconds is None
    full = IMUEncoder(tiny_config(epochs=3), text_encoder=text_encoder).fit(windows).train_log_
    assert full.epochs_run == 3 and not full.stopped_early
    budget = tiny_config(epochs=3)
    budget = budget.model_copy(update={"train": budget.train.model_copy(update={"max_train_seconds": 1e-6})})
    cut = IMUEncoder(budget, text_encoder=text_encoder).fit(windows).train_log_
    assert cut.epochs_run == 1 and cut.stopped_early


def test_contrastive_pipeline_learns_temperature_and_projection(text_encoder):
    encoder = IMUEncoder(tiny_config("contrastive", epochs=2), text_encoder=text_encoder).fit(synthetic_windows(8))
    assert encoder.train_log_.final_temperature != pytest.approx(0.1)
    assert encoder.network_.text.residual.weight.abs().sum() > 0
    assert encoder.prototypes(ACTIVITIES).space == "projected"


def test_save_and_load_round_trip(fitted, text_encoder, tmp_path):
    windows = synthetic_windows(3, seed=5)
    folder = fitted.save(tmp_path / "pack", extra_activities=("cycling_upright",))
    config = json.loads((folder / "encoder_config.json").read_text())
    assert config["placements"] == list(PLACEMENTS) and config["train"]["pipeline"] == "ce"
    state = torch.load(folder / STATE_FILE, weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    stored = json.loads((folder / "prototypes_description.json").read_text())
    assert {p["activity"] for p in stored["prototypes"]} == set(ACTIVITIES)
    assert all(len(p["text_sha256"]) == 64 for p in stored["prototypes"])
    assert {p.name for p in folder.glob("prototypes_*.json")} == {f"prototypes_{k}.json" for k in ("name", "description", "ensemble")}
    loaded = IMUEncoder.load(folder, text_encoder=text_encoder)
    np.testing.assert_array_equal(loaded.embed(windows), fitted.embed(windows))
    np.testing.assert_allclose(loaded.score(windows, ACTIVITIES), fitted.score(windows, ACTIVITIES), atol=1e-6)


def test_load_refuses_stale_prototypes_and_missing_files(fitted, text_encoder, tmp_path):
    folder = fitted.save(tmp_path / "pack")
    path = folder / "prototypes_name.json"
    stored = json.loads(path.read_text())
    stored["prototypes"][0]["text_sha256"] = "0" * 64
    path.write_text(json.dumps(stored))
    with pytest.raises(EncoderError, match="different text"):
        IMUEncoder.load(folder, text_encoder=text_encoder)
    with pytest.raises(EncoderError, match="no encoder_config.json"):
        IMUEncoder.load(tmp_path / "empty", text_encoder=text_encoder)


def test_fit_needs_labelled_windows(text_encoder):
    windows = synthetic_windows(2)
    unlabelled = Windows(**{**windows.__dict__, "labels": np.full(len(windows), -1, dtype=np.int16)})
    with pytest.raises(EncoderError, match="labelled"):
        IMUEncoder(tiny_config(), text_encoder=text_encoder).fit(unlabelled)


def test_configs_reject_bad_values():
    with pytest.raises(ValueError):
        TrainConfig(threads=4)
    with pytest.raises(ValueError):
        AugmentConfig(placement_dropout=1.0)
    with pytest.raises(ValueError):
        EncoderConfig(channel_std={"torso.acc.x": 0.0})


# ------------------------------------------------------------------------------------------ classifier
def test_classifier_follows_the_sklearn_contract(fitted):
    from encoders.classifier import ZeroShotClassifier

    windows = synthetic_windows(6, seed=7)
    clf = ZeroShotClassifier(fitted, ACTIVITIES[:4], prototypes="description", method="cosine").fit()
    proba = clf.predict_proba(windows)
    assert list(clf.classes_) == list(ACTIVITIES[:4]) and proba.shape == (len(windows), 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    pred = clf.predict(windows)
    assert list(pred) == list(clf.classes_[proba.argmax(1)])
    assert np.mean(pred == np.asarray(ACTIVITIES)[windows.labels]) > 0.7


def test_classifier_offset_and_querybank(fitted):
    from encoders.classifier import ZeroShotClassifier

    windows = synthetic_windows(6, seed=8)
    # cycling_upright was never seen: a large seen offset makes it the answer everywhere
    biased = ZeroShotClassifier(fitted, ACTIVITIES, method="cosine", seen_offset=5.0).fit()
    assert set(biased.predict(windows)) == {"cycling_upright"}
    with pytest.raises(EncoderError, match="reference windows"):
        ZeroShotClassifier(fitted, ACTIVITIES, method="querybank").fit()
    qb = ZeroShotClassifier(fitted, ACTIVITIES, method="querybank").fit(synthetic_windows(4, seed=9))
    one_recording = windows.subset(windows.labels == 2)
    np.testing.assert_allclose(qb.decision_function(one_recording), qb.decision_function(windows)[windows.labels == 2],
                               atol=1e-5)
    with pytest.raises(EncoderError, match="not fitted"):
        ZeroShotClassifier(fitted, ACTIVITIES).predict(windows)
