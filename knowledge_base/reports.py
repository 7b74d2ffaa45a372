"""What `harlens kb show` and `harlens kb check` print: typed reports with a rich table and plain text.

The CLI (harlens/cli.py) only loads the base, calls `show_pair` or `check_recording`, and prints
`report.render()`; everything it shows is in the typed report, so other front ends can use the same data.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from knowledge_base.attributes import PredicateResult, results_for_window, value_with_unit
from knowledge_base.base import MANIFEST, FeatureStats, KnowledgeBase
from knowledge_base.errors import KnowledgeBaseError
from recordings.errors import RecordingError
from recordings.recording import UNLABELLED, Recording
from recordings.signal import resample
from recordings.windows import Windows

KB_FOLDER_IN_PACK = "knowledge_base"


class FeatureComparison(BaseModel):
    """One top feature of a pair with both activities' typical values."""

    model_config = ConfigDict(extra="forbid")

    rank: int
    name: str
    definition: str
    aspect: str
    unit: str
    importance: float
    auroc: float = Field(description="mean held-out-subject AUROC")
    worst_fold_auroc: float
    higher: str
    threshold: float
    first: FeatureStats
    second: FeatureStats


class PairReport(BaseModel):
    """The features that separate two activities, best first."""

    model_config = ConfigDict(extra="forbid")

    first: str
    second: str
    first_display: str
    second_display: str
    features: list[FeatureComparison]

    def render(self) -> Group:
        """The comparison table, then what each feature measures."""
        table = Table(title=f"What separates {self.first_display} from {self.second_display}", title_justify="left")
        table.add_column("#", justify="right")
        table.add_column("feature", no_wrap=True)
        for header in (self.first, self.second):
            table.add_column(header, justify="right", overflow="fold")
        table.add_column("higher in", overflow="fold")
        table.add_column("cut", justify="right")
        table.add_column("AUROC (worst person)", justify="right")
        for item in self.features:
            table.add_row(
                str(item.rank), item.name, _typical(item.first), _typical(item.second),
                item.higher, f"{item.threshold:.4g}", f"{item.auroc:.3f} ({item.worst_fold_auroc:.3f})",
            )  # fmt: skip
        table.caption = "typical = median and [25th, 75th percentile] of the reference windows; AUROC on held-out people"
        meanings = Text()
        for item in self.features:
            meanings.append(f"{item.rank}. {item.name}", style="bold")
            meanings.append(f" ({item.aspect}, {item.unit or 'no unit'}): {item.definition}\n")
        return Group(table, meanings)

    def to_text(self, width: int = 140) -> str:
        return _as_text(self.render(), width)


class WindowRef(BaseModel):
    """Which window was checked."""

    model_config = ConfigDict(extra="forbid")

    recording_id: str | None = None
    start_s: float | None = None
    duration_s: float
    placements: list[str]


class CheckReport(BaseModel):
    """An activity's attribute predicates checked on one window."""

    model_config = ConfigDict(extra="forbid")

    activity: str
    display: str
    reference_windows: int = Field(description="0: the activity is known only from its description")
    window: WindowRef
    results: list[PredicateResult]

    @property
    def n_holds(self) -> int:
        return sum(r.holds is True for r in self.results)

    @property
    def n_fails(self) -> int:
        return sum(r.holds is False for r in self.results)

    @property
    def n_not_checkable(self) -> int:
        return sum(not r.checkable for r in self.results)

    def render(self) -> Table:
        where = self.window.recording_id or "window"
        when = f" at {self.window.start_s:.2f}–{self.window.start_s + self.window.duration_s:.2f} s" if self.window.start_s is not None else ""
        seen = "seen in the reference data" if self.reference_windows else "known only from its description"
        table = Table(title=f"Does {where}{when} look like {self.display}? ({seen})", title_justify="left")
        for header in ("attribute", "expected", "feature", "value", "condition", "verdict"):
            table.add_column(header, overflow="fold")
        for r in self.results:
            verdict = "[green]holds[/green]" if r.holds else ("[red]fails[/red]" if r.holds is False else "[yellow]not checkable[/yellow]")
            value = "—" if r.value is None else value_with_unit(r.value, r.unit)
            table.add_row(r.attribute, r.expected, r.feature, value, r.condition or "—", verdict)
        table.caption = f"{self.n_holds} hold, {self.n_fails} fail, {self.n_not_checkable} not checkable"
        return table

    def to_text(self, width: int = 140) -> str:
        return _as_text(self.render(), width)


# --------------------------------------------------------------------------------------------- functions


def load_knowledge_base(path: str | Path) -> KnowledgeBase:
    """A saved base from its folder or from a reference pack holding it in `knowledge_base/`."""
    path = Path(path)
    if (path / MANIFEST).is_file() and not (path / KB_FOLDER_IN_PACK / MANIFEST).is_file():
        return KnowledgeBase.load(path)
    if (path / KB_FOLDER_IN_PACK / MANIFEST).is_file():
        return KnowledgeBase.load(path / KB_FOLDER_IN_PACK)
    raise KnowledgeBaseError(
        "no knowledge base found", where=path, fix="pass a pack folder (with knowledge_base/) or a knowledge base folder"
    )


def show_pair(kb: KnowledgeBase, first: str, second: str, k: int = 10) -> PairReport:
    """The top-k features separating two seen activities, with both activities' typical values."""
    ranking = kb.pair(first, second)
    a, b = kb.resolve_activity(first), kb.resolve_activity(second)
    rows = []
    for item in ranking.features[:k]:
        entry = kb.glossary_[item.name]
        rows.append(FeatureComparison(
            rank=item.rank, name=item.name, definition=entry.definition, aspect=item.aspect or entry.aspect, unit=entry.unit,
            importance=item.importance, auroc=item.auroc, worst_fold_auroc=item.worst_fold_auroc, higher=item.higher,
            threshold=item.threshold, first=kb.feature_stats(a, item.name), second=kb.feature_stats(b, item.name),
        ))  # fmt: skip
    info = kb.activity_info_
    return PairReport(first=a, second=b, first_display=info[a].display, second_display=info[b].display, features=rows)


def check_window(
    kb: KnowledgeBase, windows_or_features: Windows | np.ndarray, activity: str, index: int = 0,
    names: list[str] | None = None,
) -> CheckReport:  # fmt: skip
    """An activity's predicates on one window (window `index` of Windows, or one feature row with `names`)."""
    name = kb.resolve_activity(activity)
    if isinstance(windows_or_features, Windows):
        if not 0 <= index < len(windows_or_features):
            raise KnowledgeBaseError(f"window {index} does not exist ({len(windows_or_features)} windows)")
        window = windows_or_features.subset(np.array([index]))
        features, names = kb.query_features(window)
        ref = WindowRef(recording_id=str(window.recording_ids[0]), start_s=float(window.start_s[0]),
                        duration_s=window.window_s, placements=window.placements)  # fmt: skip
    else:
        features = np.asarray(windows_or_features, dtype=np.float64).reshape(1, -1)
        names = names if names is not None else kb.feature_names_
        placements = list(dict.fromkeys(n.split(".")[0] for n in names if "~" not in n.split(".")[0]))
        ref = WindowRef(duration_s=kb.calibration_.window_s, placements=placements)
    results = results_for_window(kb.evaluate(features, name, names), 0)
    info = kb.activity_info_[name]
    return CheckReport(activity=name, display=info.display, reference_windows=info.reference_windows,
                       window=ref, results=results)  # fmt: skip


def window_at(kb: KnowledgeBase, recording: Recording, at_s: float) -> Windows:
    """The base-length window centred on `at_s` (seconds on the recording's time axis), at the base's rate."""
    rate = kb.extractor_.sampling_rate_hz_
    duration = kb.calibration_.window_s
    times = recording.times_s
    if not times[0] <= at_s <= times[-1]:
        raise KnowledgeBaseError(
            f"time {at_s:g} s is outside the recording ({times[0]:g}–{times[-1]:g} s)", where=recording.meta.id,
            fix="pass --at within the recording",
        )  # fmt: skip
    margin = duration + 2.0 / min(rate, recording.meta.sampling_rate_hz)
    start, stop = np.searchsorted(times, [at_s - margin, at_s + margin])
    piece = recording.slice(int(start), int(max(stop, start + 1)))
    if not np.isfinite(piece.samples).all():
        raise KnowledgeBaseError(f"the recording has a gap near {at_s:g} s", where=recording.meta.id,
                                 fix="choose a time without missing samples")  # fmt: skip
    try:
        piece = resample(piece, rate)
    except RecordingError as exc:
        raise KnowledgeBaseError(f"cannot resample to {rate:g} Hz: {exc}", where=recording.meta.id) from None
    length = int(round(duration * rate))
    if piece.n_samples < length:
        raise KnowledgeBaseError(
            f"the recording has fewer than {duration:g} s of samples around {at_s:g} s", where=recording.meta.id,
            fix="the base needs a full window; use a longer recording",
        )  # fmt: skip
    first = int(np.clip(np.searchsorted(piece.times_s, at_s - duration / 2), 0, piece.n_samples - length))
    data = piece.samples[first : first + length].T[None].astype(np.float32)
    return Windows(
        data=np.ascontiguousarray(data), channels=tuple(recording.meta.channels), sampling_rate_hz=rate,
        activities=(), labels=np.full(1, UNLABELLED, np.int16), purity=np.zeros(1, np.float32),
        subjects=np.array([recording.meta.subject or ""], dtype=object),
        recording_ids=np.array([recording.meta.id], dtype=object), start_s=np.array([piece.times_s[first]]),
    )  # fmt: skip


def check_recording(kb: KnowledgeBase, recording: Recording, at_s: float, activity: str) -> CheckReport:
    """`harlens kb check PACK RECORDING --at TIME --activity NAME`: predicates of the window at TIME."""
    return check_window(kb, window_at(kb, recording, at_s), activity)


def _typical(stats: FeatureStats) -> str:
    return f"{stats.median:.4g}\n[{stats.q25:.4g}, {stats.q75:.4g}]"


def _as_text(renderable, width: int) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    console.print(renderable)
    return console.file.getvalue()
