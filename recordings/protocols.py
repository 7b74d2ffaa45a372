"""Named, versioned, deterministic evaluation protocols: which subjects and activities are reference
(what harlens may learn from) and which are test, how windows are cut, and the zero-shot folds.

Splits are by subject and made before windowing, so overlapping windows never leak across the split.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from recordings.datasets import load_dsads, load_hapt, load_pamap2, verify_pamap2
from recordings.errors import RecordingError
from recordings.recording import UNLABELLED, Recording
from recordings.signal import repair_gaps, resample
from recordings.vocabulary import Vocabulary, load_vocabulary
from recordings.windows import Windows, concat_windows, make_windows

Setting = Literal["training-free cross-subject", "unseen activities", "cross-dataset"]


class ProtocolSpec(BaseModel):
    """Everything that defines a protocol; its hash goes into every pack and benchmark record."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: int
    dataset: Literal["dsads", "hapt", "pamap2"]
    setting: Setting
    description: str
    activities: tuple[str, ...] = Field(description="canonical activity names, the label order")
    reference_subjects: tuple[str, ...]
    test_subjects: tuple[str, ...]
    sampling_rate_hz: float
    window_s: float
    stride_s: float
    min_purity: float = 0.8
    unseen_folds: tuple[tuple[str, ...], ...] = Field(default=(), description="unseen activities per fold")
    fold_notes: str = ""

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]

    @property
    def n_folds(self) -> int:
        return len(self.unseen_folds)

    def seen(self, fold: int | None) -> tuple[str, ...]:
        return tuple(a for a in self.activities if a not in self.unseen(fold))

    def unseen(self, fold: int | None) -> tuple[str, ...]:
        if fold is None:
            if self.unseen_folds:
                raise RecordingError(f"protocol {self.name} needs a fold (0–{self.n_folds - 1})")
            return ()
        if not 0 <= fold < self.n_folds:
            raise RecordingError(f"protocol {self.name} has no fold {fold}", fix=f"use 0–{self.n_folds - 1}")
        return self.unseen_folds[fold]


_DSADS_ALL = (
    "sitting", "standing", "lying_on_back", "lying_on_right_side", "ascending_stairs", "descending_stairs",
    "standing_in_elevator", "moving_in_elevator", "walking", "walking_treadmill_flat",
    "walking_treadmill_inclined", "running_treadmill", "stepper", "cross_trainer", "cycling_recumbent",
    "cycling_upright", "rowing", "jumping", "playing_basketball",
)  # fmt: skip — DSADS a01..a19 in order
_DSADS_COMMON = dict(
    dataset="dsads",
    activities=_DSADS_ALL,
    reference_subjects=tuple(f"dsads-p{i}" for i in range(1, 7)),
    test_subjects=("dsads-p7", "dsads-p8"),
    sampling_rate_hz=25.0,
    window_s=5.0,
    stride_s=5.0,
)
_HAPT_BASIC = ("walking", "ascending_stairs", "descending_stairs", "sitting", "standing", "lying")
_HAPT_TRANSITIONS = ("stand_to_sit", "sit_to_stand", "sit_to_lie", "lie_to_sit", "stand_to_lie", "lie_to_stand")
_HAPT_TEST_USERS = (2, 4, 9, 10, 12, 13, 18, 20, 24)
_HAPT_COMMON = dict(
    dataset="hapt",
    setting="training-free cross-subject",
    reference_subjects=tuple(f"hapt-{u:02d}" for u in range(1, 31) if u not in _HAPT_TEST_USERS),
    test_subjects=tuple(f"hapt-{u:02d}" for u in _HAPT_TEST_USERS),
    sampling_rate_hz=50.0,
    window_s=2.56,
    stride_s=1.28,
)

PROTOCOLS: dict[str, ProtocolSpec] = {
    spec.name: spec
    for spec in (
        ProtocolSpec(
            name="dsads-xsub",
            version=1,
            setting="training-free cross-subject",
            description="All 19 DSADS activities; reference subjects p1–p6, test p7–p8; 5 s windows (the segments).",
            **_DSADS_COMMON,
        ),
        ProtocolSpec(
            name="dsads-zsl",
            version=1,
            setting="unseen activities",
            description="DSADS, test subjects p7–p8; five folds of unseen activities covering all 19 once; "
            "reference data: only the seen activities of p1–p6.",
            unseen_folds=(
                ("lying_on_back", "ascending_stairs", "walking_treadmill_flat", "rowing"),
                ("lying_on_right_side", "descending_stairs", "running_treadmill", "cycling_recumbent"),
                ("sitting", "moving_in_elevator", "walking_treadmill_inclined", "jumping"),
                ("standing", "walking", "stepper", "cycling_upright"),
                ("standing_in_elevator", "cross_trainer", "playing_basketball"),
            ),
            fold_notes="Each fold holds one member of each confusable family (static upright postures, lying, "
            "stairs/stepper, treadmill/overground walking, cycling, elevator, high-intensity sports) so that every "
            "unseen activity has a close seen sibling (hard) next to activities that are distinct from all "
            "seen ones (easy): e.g. fold 0 mixes lying on the back (posture; a lying sibling is seen) with rowing "
            "(unique pattern) and ascending stairs (descending stairs and the stepper are seen).",
            **_DSADS_COMMON,
        ),
        ProtocolSpec(
            name="hapt-xsub",
            version=1,
            description="UCI HAPT activities 1–6 with the UCI-HAR user split (test users 2, 4, 9, 10, 12, 13, 18, "
            "20, 24); 2.56 s windows, 50% overlap, at the native 50 Hz.",
            activities=_HAPT_BASIC,
            **_HAPT_COMMON,
        ),
        ProtocolSpec(
            name="hapt-xsub-transitions",
            version=1,
            description="hapt-xsub plus the six posture transitions (activities 7–12).",
            activities=_HAPT_BASIC + _HAPT_TRANSITIONS,
            **_HAPT_COMMON,
        ),
        ProtocolSpec(
            name="pamap2-zsl",
            version=1,
            dataset="pamap2",
            setting="unseen activities",
            description="PAMAP2 (user-supplied), 14 seen / 4 unseen activities, subjects 108 and 109 held out; "
            "resampled to 25 Hz, 5 s windows, 50% overlap.",
            activities=(
                "lying", "sitting", "standing", "walking", "running", "cycling", "nordic_walking", "watching_tv",
                "computer_work", "car_driving", "ascending_stairs", "descending_stairs", "vacuum_cleaning",
                "ironing", "folding_laundry", "house_cleaning", "playing_soccer", "rope_jumping",
            ),  # fmt: skip
            reference_subjects=tuple(f"pamap2-{s}" for s in range(101, 108)),
            test_subjects=("pamap2-108", "pamap2-109"),
            sampling_rate_hz=25.0,
            window_s=5.0,
            stride_s=2.5,
            unseen_folds=(("rope_jumping", "vacuum_cleaning", "descending_stairs", "computer_work"),),
            fold_notes="Unseen: rope jumping (periodic, very high intensity; running and jumping-like motion seen), "
            "vacuum cleaning (irregular arm-dominant household work), descending stairs (locomotion whose "
            "mirror, ascending stairs, is seen) and computer work (seated and static, beside seen sitting). All "
            "four were performed by the held-out subject 108, so each is actually tested.",
        ),
    )
}


def get_protocol(name: str) -> ProtocolSpec:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise RecordingError(f"unknown protocol {name!r}", fix=f"use one of {sorted(PROTOCOLS)}") from None


@dataclass(frozen=True)
class ProtocolSplit:
    """Reference and test windows of one protocol (and fold), labels indexing `spec.activities`."""

    spec: ProtocolSpec
    fold: int | None
    reference: Windows
    test: Windows

    @property
    def seen(self) -> tuple[str, ...]:
        return self.spec.seen(self.fold)

    @property
    def unseen(self) -> tuple[str, ...]:
        return self.spec.unseen(self.fold)


def prepare_recording(recording: Recording, spec: ProtocolSpec) -> list[Windows]:
    """Repair gaps, resample to the protocol rate and window each continuous piece."""
    windows = []
    for piece in repair_gaps(recording, min_piece_s=spec.window_s):
        piece = resample(piece, spec.sampling_rate_hz)
        windows.append(make_windows(piece, spec.window_s, spec.stride_s, spec.min_purity, activities=spec.activities))
    return windows


def load_recordings(spec: ProtocolSpec, root: str | Path | None = None, vocabulary: Vocabulary | None = None) -> list[Recording]:
    vocabulary = vocabulary or load_vocabulary()
    if spec.dataset == "dsads":
        return load_dsads(root=root, vocabulary=vocabulary)
    if spec.dataset == "hapt":
        return load_hapt(root=root, vocabulary=vocabulary)
    problems = verify_pamap2(root)
    if problems:
        raise RecordingError(
            f"{len(problems)} PAMAP2 files differ from the official release, e.g. {problems[0]}",
            fix="use an untouched copy of PAMAP2_Dataset.zip (see pamap2_sha256.tsv)",
        )
    return load_pamap2(root=root, vocabulary=vocabulary)


def load_split(
    name: str, fold: int | None = None, root: str | Path | None = None, vocabulary: Vocabulary | None = None,
    recordings: list[Recording] | None = None,
) -> ProtocolSplit:
    """Reference and test windows (pure, labelled) of a protocol; zero-shot folds drop unseen references."""
    spec = get_protocol(name)
    unseen = spec.unseen(fold)
    recordings = recordings if recordings is not None else load_recordings(spec, root, vocabulary)
    parts: dict[str, list[Windows]] = {"reference": [], "test": []}
    for recording in recordings:
        role = _role(recording.meta.subject, spec)
        if role is not None:
            parts[role].extend(prepare_recording(recording, spec))
    for role, found in parts.items():
        if not found:
            raise RecordingError(f"protocol {name}: no {role} recordings found", fix="check the dataset copy")
    reference = concat_windows(parts["reference"], spec.activities).labelled()
    test = concat_windows(parts["test"], spec.activities).labelled()
    unseen_index = [spec.activities.index(a) for a in unseen]
    reference = reference.subset(~np.isin(reference.labels, unseen_index))
    for windows, role in ((reference, "reference"), (test, "test")):
        windows.meta.update({"protocol": name, "protocol_digest": spec.digest, "fold": fold, "role": role})
    return ProtocolSplit(spec=spec, fold=fold, reference=reference, test=test)


def _role(subject: str | None, spec: ProtocolSpec) -> str | None:
    if subject in spec.reference_subjects:
        return "reference"
    if subject in spec.test_subjects:
        return "test"
    return None


def window_counts(windows: Windows) -> dict[str, int]:
    """Labelled windows per activity."""
    counts = np.bincount(windows.labels[windows.labels != UNLABELLED], minlength=len(windows.activities))
    return {a: int(c) for a, c in zip(windows.activities, counts)}


def describe(spec: ProtocolSpec) -> str:
    return json.dumps(spec.model_dump(), indent=2)
