"""Window decisions -> a timeline of segments (consecutive windows with the same activity merged)."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

DEFAULT_EXPECTED_BOUT_S = 60.0  # people do things for minutes; sets the switch cost of the smoothing


class Segment(BaseModel):
    """A stretch of one activity: what a person reads first."""

    index: int
    start_s: float
    end_s: float
    activity: str
    confidence: float = Field(description="mean probability of the activity over the segment's windows")
    n_windows: int
    window_indices: list[int]
    flags: list[str] = Field(default_factory=list, description="'unseen-activity', 'posture-contradicts-description', "
                             "'llm-decided', 'llm-failed-evidence-used', 'low-confidence'")

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def segment_windows(
    activities: list[str],
    confidences: np.ndarray,
    start_s: np.ndarray,
    window_s: float,
    recording_ids: np.ndarray | None = None,
) -> list[Segment]:
    """Merge consecutive windows with the same activity (within one recording piece) into segments."""
    segments: list[Segment] = []
    if not activities:
        return segments
    order = np.argsort(start_s, kind="stable") if recording_ids is None else np.lexsort((start_s, recording_ids))
    current: list[int] = [int(order[0])]
    for previous, index in zip(order[:-1], order[1:]):
        same_piece = recording_ids is None or recording_ids[index] == recording_ids[previous]
        contiguous = start_s[index] - start_s[previous] <= window_s + 1e-6
        if activities[index] == activities[previous] and same_piece and contiguous:
            current.append(int(index))
        else:
            segments.append(_segment(len(segments), current, activities, confidences, start_s, window_s))
            current = [int(index)]
    segments.append(_segment(len(segments), current, activities, confidences, start_s, window_s))
    for before, after in zip(segments[:-1], segments[1:]):
        before.end_s = min(before.end_s, after.start_s)  # overlapping windows: a boundary, not a double count
    return segments


def _segment(number, indices, activities, confidences, start_s, window_s) -> Segment:
    return Segment(
        index=number,
        start_s=float(start_s[indices[0]]),
        end_s=float(start_s[indices[-1]] + window_s),
        activity=activities[indices[0]],
        confidence=float(np.mean(confidences[indices])),
        n_windows=len(indices),
        window_indices=list(indices),
    )


def durations(segments: list[Segment]) -> dict[str, float]:
    """Seconds per activity, longest first (overlapping windows counted once per segment span)."""
    totals: dict[str, float] = {}
    for segment in segments:
        totals[segment.activity] = totals.get(segment.activity, 0.0) + segment.duration_s
    return dict(sorted(totals.items(), key=lambda item: -item[1]))


def switch_cost(expected_bout_s: float, stride_s: float, n_activities: int) -> float:
    """Nats to pay for changing activity between windows, from a two-state-per-activity HMM prior: stay with
    probability 1 - p, p = stride / expected bout, else move to any one of the other activities alike."""
    if expected_bout_s <= 0 or n_activities < 2:
        return 0.0
    p = min(stride_s / expected_bout_s, 0.5)
    return float(np.log((1 - p) / p * (n_activities - 1)))


def smooth_along_recordings(probabilities: np.ndarray, recording_ids: np.ndarray, start_s: np.ndarray, stride_s: float,
                            breaks: np.ndarray | None = None, expected_bout_s: float = DEFAULT_EXPECTED_BOUT_S) -> np.ndarray:  # fmt: skip
    """(N,) smoothed activity index per window, for windows in any order: read in time order per recording
    id, each recording (and each True of `breaks`, in the windows' order) starting a new piece."""
    ids = np.asarray(recording_ids).astype(str)
    order = np.lexsort((np.asarray(start_s, dtype=np.float64), ids))
    pieces = np.r_[True, ids[order][1:] != ids[order][:-1]] if len(ids) else np.zeros(0, dtype=bool)
    if breaks is not None:
        pieces |= np.asarray(breaks, dtype=bool)[order]
    cost = switch_cost(expected_bout_s, stride_s, probabilities.shape[1])
    path = np.empty(len(ids), dtype=np.int64)
    path[order] = smooth_decisions(np.log(probabilities[order] + 1e-12), cost, pieces)
    return path


def smooth_decisions(log_probabilities: np.ndarray, switch_cost: float, breaks: np.ndarray | None = None) -> np.ndarray:
    """Most likely activity sequence (Viterbi) when changing activity between consecutive windows costs
    `switch_cost` nats; `breaks[i]` True starts a new piece at window i (a gap, another recording), where
    switching is free. People do things for minutes, so a lone window that disagrees with both neighbours is
    more likely a misreading than a 5-second activity. switch_cost=0 returns the per-window argmax."""
    n, a = log_probabilities.shape
    if n == 0 or switch_cost <= 0:
        return log_probabilities.argmax(axis=1)
    breaks = np.zeros(n, dtype=bool) if breaks is None else breaks
    score = log_probabilities[0].copy()
    back = np.zeros((n, a), dtype=np.int64)
    for i in range(1, n):
        best_previous = int(score.argmax())
        cost = 0.0 if breaks[i] else switch_cost
        stay, switch = score, score[best_previous] - cost
        back[i] = np.where(stay >= switch, np.arange(a), best_previous)
        score = np.maximum(stay, switch) + log_probabilities[i]
    path = np.empty(n, dtype=np.int64)
    path[-1] = int(score.argmax())
    for i in range(n - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return path
