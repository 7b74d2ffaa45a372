"""The activity vocabulary: canonical activities, their descriptions and machine-checkable attributes.

The bundled file `recordings/data/activities.yaml` defines every activity of DSADS, UCI HAPT and PAMAP2. A
user extends it without code by pointing `HARLENS_VOCABULARY` (or the `extra` argument) at a YAML file of
the same shape; a name + description is enough for an activity with no labelled data.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from recordings.errors import RecordingError

TorsoOrientation = Literal["upright", "horizontal", "inclined", "varies"]
LyingSide = Literal["back", "right", "left", "front"]
Intensity = Literal["rest", "low", "moderate", "high", "very_high"]
BodyPart = Literal["arms", "legs", "torso"]
DATASETS = ("dsads", "hapt", "pamap2")


class AttributeSignature(BaseModel):
    """What a description implies about the signal, in terms the knowledge base can check."""

    model_config = ConfigDict(extra="forbid")

    torso: TorsoOrientation | None = Field(default=None, description="torso orientation relative to gravity")
    lying_side: LyingSide | None = Field(default=None, description="which side faces down when lying")
    periodic: bool | None = Field(default=None, description="is the movement rhythmic and repeating")
    cadence_hz: tuple[float, float] | None = Field(default=None, description="dominant movement frequency range")
    intensity: Intensity | None = None
    moving_parts: list[BodyPart] | None = Field(default=None, description="body parts that move; [] = still")
    transition: bool = Field(default=False, description="a brief change between two postures")

    @field_validator("cadence_hz")
    @classmethod
    def _cadence_ordered(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not 0 < value[0] < value[1] <= 10:
            raise ValueError(f"cadence_hz {value} must be an increasing pair within (0, 10] Hz")
        return value


class Activity(BaseModel):
    """One canonical activity."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="canonical snake_case identifier")
    display: str = Field(description="how to say it in a sentence")
    synonyms: list[str] = Field(default_factory=list)
    description: str = Field(min_length=20, description="1–3 biomechanical sentences written for harlens")
    parent: str | None = Field(default=None, description="a broader activity this one specialises")
    attributes: AttributeSignature = Field(default_factory=AttributeSignature)
    labels: dict[str, list[str]] = Field(
        default_factory=dict, description="dataset -> that dataset's label codes that mean this activity"
    )

    @property
    def label_name(self) -> str:
        """The plain label text used for label-name prototypes."""
        return self.display


class Vocabulary(BaseModel):
    """All activities, looked up by canonical name, synonym or dataset label."""

    activities: list[Activity]

    @model_validator(mode="after")
    def _consistent(self) -> "Vocabulary":
        names = [a.name for a in self.activities]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"activities defined twice: {duplicates}")
        for activity in self.activities:
            if activity.parent is not None and activity.parent not in names:
                raise ValueError(f"{activity.name}: parent {activity.parent!r} is not an activity")
        seen: dict[tuple[str, str], str] = {}
        for activity in self.activities:
            for dataset, codes in activity.labels.items():
                for code in codes:
                    other = seen.setdefault((dataset, code), activity.name)
                    if other != activity.name:
                        raise ValueError(f"{dataset} label {code} maps to both {other} and {activity.name}")
        return self

    def __contains__(self, name: str) -> bool:
        return any(a.name == name for a in self.activities)

    def __getitem__(self, name: str) -> Activity:
        key = name.strip().lower()
        for activity in self.activities:
            if key in (activity.name, activity.display.lower()) or key in (s.lower() for s in activity.synonyms):
                return activity
        raise RecordingError(
            f"unknown activity {name!r}",
            fix="use a name from `harlens data activities` or add it to a vocabulary file (HARLENS_VOCABULARY)",
        )

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.activities]

    def for_dataset_label(self, dataset: str, code: str | int) -> Activity:
        """The canonical activity of one dataset's label code (e.g. ('dsads', 'a03'))."""
        code = str(code)
        for activity in self.activities:
            if code in activity.labels.get(dataset, []):
                return activity
        raise RecordingError(f"{dataset} label {code!r} has no activity in the vocabulary")

    def dataset_labels(self, dataset: str) -> dict[str, str]:
        """Every label code of a dataset -> canonical activity name."""
        return {code: a.name for a in self.activities for code in a.labels.get(dataset, [])}

    def merged(self, other: "Vocabulary") -> "Vocabulary":
        """This vocabulary with `other`'s activities added (same name: `other` replaces it)."""
        replaced = {a.name for a in other.activities}
        kept = [a for a in self.activities if a.name not in replaced]
        return Vocabulary(activities=kept + list(other.activities))


def _parse(text: str, source: str) -> Vocabulary:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise RecordingError(
            f"not valid YAML: {getattr(exc, 'problem', exc)}",
            path=source,
            line=mark.line + 1 if mark else None,
            fix="check indentation and quoting",
        ) from None
    if not isinstance(raw, dict) or "activities" not in raw:
        raise RecordingError("a vocabulary file must have a top-level 'activities:' list", path=source)
    try:
        return Vocabulary.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RecordingError(f"{where}: {first['msg']}", path=source, fix="see recordings/data/activities.yaml") from None


def load_vocabulary(extra: str | Path | None = None) -> Vocabulary:
    """The bundled vocabulary, extended by `extra` or else by the file named in `HARLENS_VOCABULARY`."""
    bundled = resources.files("recordings").joinpath("data/activities.yaml")
    vocabulary = _parse(bundled.read_text(encoding="utf-8"), str(bundled))
    extra = extra or os.environ.get("HARLENS_VOCABULARY")
    if extra:
        path = Path(extra)
        if not path.is_file():
            raise RecordingError("vocabulary file not found", path=path, fix="check HARLENS_VOCABULARY")
        vocabulary = vocabulary.merged(_parse(path.read_text(encoding="utf-8"), str(path)))
    return vocabulary
