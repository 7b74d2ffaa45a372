"""`harlens analyze` and `harlens explain`: a recording file in, a timeline, durations, explanations,
a trace and a readable report out. Labels in the file (if any) are never shown to the pipeline; they only
score the agreement printed at the end."""

from __future__ import annotations

import colorsys
import csv
import html
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field
from sklearn.metrics import accuracy_score, f1_score

from agent.decide import DecisionSettings, Policy
from agent.llm.base import LLMBackend
from agent.llm.cache import ResponseCache
from agent.pipeline import Analysis, Analyzer, AnalyzerSettings
from harlens.pack import PackError, build_command, open_pack, require_channels
from recordings.channels import placements_of
from recordings.errors import RecordingError
from recordings.io import read_recording
from recordings.readers.table import TableOptions
from recordings.recording import Gap
from recordings.signal import repair_gaps, resample
from recordings.windows import Windows, concat_windows, make_windows

DEFAULT_POLICY: Policy = "evidence"  # chosen by measurement: see README "Results" and the #6 closing note


class Coverage(BaseModel):
    """What of the recording the analysis could use: a reviewer reads this before trusting the timeline."""

    recording_s: float
    analysed_s: float = Field(description="seconds inside at least one analysed window")
    placements_used: list[str]
    placements_missing: list[str] = Field(description="placements the pack was built with that the file lacks")
    channels_missing: list[str] = Field(description="the pack's channels the file lacks, placements missing included")
    placements_ignored: list[str] = Field(default_factory=list, description="the file's placements the pack does not know")
    protocol: str | None = Field(default=None, description="the pack's protocol, for the command that builds a "
                                 "pack for the placements present")  # fmt: skip
    gaps: list[Gap] = Field(description="stretches without valid samples: 'split' ones are not analysed")

    def warnings(self) -> list[str]:
        """Sentences for the report and the terminal; empty when the file gave the pack everything."""
        out = []
        if self.placements_missing:
            out.append(f"The pack was built with {len(self.placements_used) + len(self.placements_missing)} placements; this "
                       f"file has {', '.join(self.placements_used)} and lacks {', '.join(self.placements_missing)}. "
                       "Decisions rest on the placements present; expect lower accuracy than the pack's benchmarks.")  # fmt: skip
            if self.protocol and self.placements_used:
                out.append(f"A pack built for these placements (`{build_command(self.protocol, placements=self.placements_used)}`) "
                           "may do better: the README's one-or-two-placements table measures both on dsads-xsub.")  # fmt: skip
        elif self.channels_missing:
            out.append(f"The file lacks {len(self.channels_missing)} of the pack's channels "
                       f"({', '.join(self.channels_missing[:6])}{'…' if len(self.channels_missing) > 6 else ''}); "
                       "features of those channels are not used.")  # fmt: skip
        if self.placements_ignored:
            out.append(f"The file's {', '.join(self.placements_ignored)} signals are not used: the pack was not built "
                       "with that placement.")  # fmt: skip
        split = [g for g in self.gaps if g.action == "split"]
        if split:
            shown = ", ".join(f"{_clock(g.start_s)} ({g.duration_s:.1f} s)" for g in split[:5])
            out.append(f"{len(split)} gap(s) without valid samples, not analysed: {shown}{' …' if len(split) > 5 else ''}.")
        filled = [g for g in self.gaps if g.action == "interpolated"]
        if filled:
            out.append(f"{len(filled)} short gap(s), {sum(g.duration_s for g in filled):.1f} s in all, were interpolated.")
        if self.recording_s - self.analysed_s > 1.0:
            out.append(f"{self.analysed_s / 60:.1f} of the recording's {self.recording_s / 60:.1f} minutes lie in analysed "
                       "windows (gaps, and pieces shorter than a window, are left out).")  # fmt: skip
        return out


def coverage_of(recording, pieces, windows: Windows, pack_channels: list[str], protocol: str | None = None) -> Coverage:
    present = set(recording.meta.channels)
    placements = placements_of(pack_channels)
    in_file = recording.meta.placements
    used = [p for p in placements if p in in_file]
    return Coverage(
        recording_s=round(float(recording.n_samples / recording.meta.sampling_rate_hz), 2),
        analysed_s=_union_seconds(windows.start_s, windows.window_s),
        placements_used=used,
        placements_missing=[p for p in placements if p not in used],
        channels_missing=[c for c in pack_channels if c not in present],
        placements_ignored=[p for p in in_file if p not in placements],
        gaps=list(pieces[0].meta.gaps),
        protocol=protocol,
    )


def _union_seconds(starts: np.ndarray, length: float) -> float:
    """Total length of the union of the intervals [start, start + length)."""
    total, covered_to = 0.0, -np.inf
    for start in np.sort(np.asarray(starts, dtype=float)):
        total += length - max(0.0, min(length, covered_to - start))
        covered_to = max(covered_to, start + length)
    return float(total)


@dataclass
class PreparedRecording:
    windows: Windows
    breaks: np.ndarray
    recording_id: str
    signal: np.ndarray  # (T,) acceleration magnitude of the first placement, for the plot
    signal_times: np.ndarray
    coverage: Coverage
    signal_placement: str | None = None  # whose acceleration `signal` is


def prepare(path: Path, components, protocol: str | None = None, options: TableOptions | None = None) -> PreparedRecording:
    """Read, repair, resample to the pack's rate, keep the pack's channels, cut into the pack's windows."""
    recording, _ = read_recording(path, options)
    pieces = repair_gaps(recording)
    if not pieces:
        span = float(recording.times_s[-1] - recording.times_s[0]) if recording.n_samples else 0.0
        raise RecordingError(
            f"no continuous piece long enough to analyse: {recording.n_samples} samples over {span:.2f} s, and "
            f"a window is {components.window_s:g} s",
            path=path, fix="analyse a recording at least one window long; if it is longer, check its timestamps "
            "(a gap of more than 0.5 s splits it)",
        )  # fmt: skip
    parts, breaks = [], []
    for piece in pieces:
        piece = resample(piece, components.sampling_rate_hz)
        channels = require_channels(components, piece.meta.channels)
        windows = make_windows(piece, components.window_s, components.stride_s).select_channels(channels)
        if len(windows):
            parts.append(windows)
            breaks += [True] + [False] * (len(windows) - 1)
    if not parts:
        raise RecordingError(f"shorter than one {components.window_s:g}-s window", path=path,
                             fix="analyse a longer recording")  # fmt: skip
    windows = concat_windows(parts) if len(parts) > 1 else parts[0]
    first = [c for c in recording.meta.channels if c.endswith(".acc.x")][:1]
    signal, times = _magnitude(recording, first[0].rsplit(".", 1)[0] if first else None)
    coverage = coverage_of(recording, pieces, windows, list(components.channels), protocol)
    placement = first[0].split(".", 1)[0] if first else None
    return PreparedRecording(windows, np.array(breaks), path.name, signal, times, coverage, placement)


def _magnitude(recording, prefix: str | None, points: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    if prefix is None:
        return np.zeros(0), np.zeros(0)
    columns = [recording.meta.channels.index(f"{prefix}.{axis}") for axis in "xyz"]
    magnitude = np.linalg.norm(recording.samples[:, columns], axis=1)
    step = max(1, len(magnitude) // points)
    return magnitude[::step], recording.times_s[::step]


def make_backend(llm: str, model: Path | None) -> LLMBackend | None:
    if llm == "none":
        return None
    if llm == "local":
        from agent.llm.llamacpp import LlamaCppBackend

        return LlamaCppBackend(model_path=model)
    if llm == "openai":
        from agent.llm.openai_compat import OpenAICompatibleBackend

        name = os.environ.get("HARLENS_OPENAI_MODEL")
        if not name:
            raise PackError("--llm openai needs HARLENS_OPENAI_MODEL (and OPENAI_BASE_URL / OPENAI_API_KEY as needed)")
        timeout = float(os.environ.get("HARLENS_LLM_TIMEOUT_S", "60"))
        return OpenAICompatibleBackend(name, base_url=os.environ.get("OPENAI_BASE_URL"),
                                       api_key=os.environ.get("OPENAI_API_KEY"), timeout_s=timeout)  # fmt: skip
    raise PackError(f"unknown --llm {llm!r}; use local, openai or none")


class Agreement(BaseModel):
    labelled_windows: int
    accuracy: float
    macro_f1: float


def agreement(windows: Windows, analysis: Analysis) -> Agreement | None:
    """How the timeline agrees with labels carried by the file (None when it has none)."""
    labelled = np.flatnonzero(windows.labels >= 0)
    if labelled.size == 0:
        return None
    truth = windows.label_names[labelled].astype(str)
    predicted = np.asarray(analysis.decisions, dtype=object)[labelled].astype(str)
    return Agreement(labelled_windows=int(labelled.size), accuracy=float(accuracy_score(truth, predicted)),
                     macro_f1=float(f1_score(truth, predicted, average="macro")))  # fmt: skip


def run_analysis(recording: Path, pack: Path, llm: str = "none", model: Path | None = None,
                 policy: Policy | None = None, out: Path | None = None, note: str = "",
                 explain_limit: int = 4, progress=None, options: TableOptions | None = None,
                 ) -> tuple[Analysis, Agreement | None, PreparedRecording]:  # fmt: skip
    manifest, components = open_pack(pack)
    backend = make_backend(llm, model)
    policy = policy or (DEFAULT_POLICY if backend else "evidence")
    settings = AnalyzerSettings(decision=DecisionSettings(policy=policy), explain_limit=explain_limit, context=note)
    cache = ResponseCache(out / "llm-cache") if (out and backend) else None
    analyzer = Analyzer(components, settings, backend, cache=cache, progress=progress, protocol=manifest.protocol)
    prepared = prepare(recording, components, manifest.protocol, options)
    analysis = analyzer.analyze(prepared.windows, prepared.recording_id, prepared.breaks)
    score = agreement(prepared.windows, analysis)
    if out:
        write_outputs(out, analysis, score, prepared)
    return analysis, score, prepared


def write_outputs(out: Path, analysis: Analysis, score: Agreement | None, prepared: PreparedRecording) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / name for name in ("timeline.json", "timeline.csv", "durations.json", "trace.json", "report.md", "report.html")}
    timeline = [{"start_s": s.start_s, "end_s": s.end_s, "activity": s.activity, "confidence": round(s.confidence, 4),
                 "flags": s.flags, "explanation_status": _status(analysis, s.index)}
                for s in analysis.segments]  # fmt: skip
    paths["timeline.json"].write_text(json.dumps({"recording": analysis.recording, "segments": timeline,
                                                  "coverage": prepared.coverage.model_dump(mode="json"),
                                                  "agreement": score.model_dump() if score else None}, indent=1))  # fmt: skip
    with paths["timeline.csv"].open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["start_s", "end_s", "activity", "confidence", "flags"])
        for row in timeline:
            writer.writerow([f"{row['start_s']:.2f}", f"{row['end_s']:.2f}", row["activity"], row["confidence"], ";".join(row["flags"])])
    paths["durations.json"].write_text(json.dumps(analysis.durations_s, indent=1))
    paths["trace.json"].write_text(analysis.trace.model_dump_json(indent=1))
    paths["report.md"].write_text(markdown_report(analysis, score, prepared.coverage), encoding="utf-8")
    paths["report.html"].write_text(html_report(analysis, score, prepared), encoding="utf-8")
    return paths


def _status(analysis: Analysis, segment: int) -> str:
    explanation = analysis.explanation_for(segment)
    return explanation.status if explanation else "-"


def markdown_report(analysis: Analysis, score: Agreement | None, coverage: Coverage | None = None) -> str:
    totals = analysis.trace.totals
    lines = [f"# harlens report: {analysis.recording}", "",
             f"{totals.windows} windows of {analysis.window_s:g} s; backend: {analysis.trace.backend or 'none'}; "
             f"policy: {analysis.trace.settings.decision.policy}; LLM calls per window {totals.llm_calls_per_window:.3f}, "
             f"tokens per window {totals.tokens_per_window:.1f}; explanations: {totals.explanations}.", "",
             "Confidences are probabilities calibrated on the pack's held-out reference people; on a new person they "
             "run high (the README's Results measure by how much), so a high confidence says the evidence agrees, "
             "not that the decision is certain.", ""]  # fmt: skip
    if score:
        lines += [f"Agreement with the labels in the file: accuracy {score.accuracy:.3f}, macro-F1 {score.macro_f1:.3f} "
                  f"over {score.labelled_windows} labelled windows.", ""]  # fmt: skip
    warnings = coverage.warnings() if coverage else []
    if warnings:
        lines += ["## Data coverage", ""] + [f"- {warning}" for warning in warnings] + [""]
    lines += ["## Minutes per activity", "", "| activity | minutes |", "|---|---:|"]
    lines += [f"| {a} | {s / 60:.1f} |" for a, s in analysis.durations_s.items()]
    lines += ["", "## Timeline", "", "| # | start | end | activity | confidence | flags | explanation |", "|---:|---:|---:|---|---:|---|---|"]
    for s in analysis.segments:
        lines.append(f"| {s.index} | {_clock(s.start_s)} | {_clock(s.end_s)} | {s.activity} | {s.confidence:.2f} | "
                     f"{', '.join(s.flags)} | {_status(analysis, s.index)} |")  # fmt: skip
    lines += ["", "## Explanations", ""]
    for s in analysis.segments:
        e = analysis.explanation_for(s.index)
        if e is None:
            continue
        lines += [f"### Segment {s.index}: {s.activity} ({_clock(s.start_s)}–{_clock(s.end_s)})", "",
                  f"*{e.status}* — {e.text}", "", "| row | fact |", "|---|---|"]  # fmt: skip
        lines += [f"| {r.id} | {r.statement} |" for r in e.evidence.rows]
        lines.append("")
    glossary = cited_features(analysis)
    if glossary:
        lines += ["## What the cited features mean", ""]
        lines += [f"- `{name}`{f' ({unit})' if unit else ''}: {definition}" for name, definition, unit in glossary]
        lines.append("")
    return "\n".join(lines)


def cited_features(analysis: Analysis) -> list[tuple[str, str, str]]:
    """(name, plain-English definition, unit) of every feature the explanations' rows cite, in first-cited
    order: the rows name features as code does (`torso.acc.mag.iqr`), and a reviewer needs to know what each is."""
    seen: dict[str, tuple[str, str, str]] = {}
    for segment in analysis.segments:
        explanation = analysis.explanation_for(segment.index)
        for row in explanation.evidence.rows if explanation else []:
            if row.kind == "feature" and row.feature and row.feature not in seen:
                seen[row.feature] = (row.feature, row.feature_label or row.feature, row.unit or "")
    return list(seen.values())


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _colour(activity: str) -> str:
    """A stable pastel per activity, as hex (SVG renderers outside browsers do not all read hsl())."""
    red, green, blue = colorsys.hls_to_rgb(((sum(map(ord, activity)) * 47) % 360) / 360, 0.7, 0.6)
    return f"#{round(red * 255):02x}{round(green * 255):02x}{round(blue * 255):02x}"


TICK_STEPS_S = (10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def time_ticks(t0: float, t1: float, most: int = 10) -> list[float]:
    """Clock times for the plot's axis: the smallest round step giving at most `most` ticks over [t0, t1]."""
    step = next((s for s in TICK_STEPS_S if (t1 - t0) / s <= most), TICK_STEPS_S[-1] * np.ceil((t1 - t0) / (most * TICK_STEPS_S[-1])))
    return [float(t) for t in np.arange(np.ceil(t0 / step) * step, t1 + 1e-9, step)]


def timeline_svg(analysis: Analysis, prepared: PreparedRecording, width: int = 1100, height: int = 220) -> str:
    """The acceleration magnitude over the whole recording, with the segments as coloured bands, a clock axis
    and a caption that says what the line is and what its height spans (a reviewer compares it with the
    explanations' numbers)."""
    if not analysis.segments:
        return ""
    t0 = min(s.start_s for s in analysis.segments)
    t1 = max(s.end_s for s in analysis.segments)
    span = max(t1 - t0, 1e-9)
    x = lambda t: (t - t0) / span * width  # noqa: E731
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 20}" role="img">']
    for s in analysis.segments:
        parts.append(f'<rect x="{x(s.start_s):.1f}" y="0" width="{max(x(s.end_s) - x(s.start_s), 0.5):.1f}" height="{height}" '
                     f'fill="{_colour(s.activity)}"><title>{html.escape(s.activity)} {_clock(s.start_s)}–{_clock(s.end_s)} '
                     f'({s.confidence:.2f})</title></rect>')  # fmt: skip
    if prepared.signal.size:
        values = prepared.signal
        low, high = plot_range(values)
        scale = high - low
        points = " ".join(f"{x(t):.1f},{height - (min(max(v, low), high) - low) / scale * (height - 10) - 5:.1f}"
                          for t, v in zip(prepared.signal_times, values) if np.isfinite(v))  # fmt: skip
        parts.append(f'<polyline points="{points}" fill="none" stroke="#222" stroke-width="0.6"/>')
    for tick in time_ticks(t0, t1):
        anchor = "start" if x(tick) < 30 else "end" if x(tick) > width - 30 else "middle"
        parts.append(f'<line x1="{x(tick):.1f}" y1="{height}" x2="{x(tick):.1f}" y2="{height + 4}" stroke="#222"/>'
                     f'<text x="{x(tick):.1f}" y="{height + 15}" font-size="11" text-anchor="{anchor}">{_clock(tick)}</text>')  # fmt: skip
    parts.append("</svg>")
    return "".join(parts) + f"<p>{html.escape(plot_caption(prepared))}</p>"


MIN_PLOT_SPAN = 2.0  # m/s²: a still recording is drawn flat, not its sensor noise stretched to the full height


def plot_range(signal: np.ndarray) -> tuple[float, float]:
    """The acceleration range the plot's height spans: the 1st to 99th percentile, widened about its middle to
    at least :data:`MIN_PLOT_SPAN`."""
    low, high = (float(v) for v in np.nanpercentile(signal, [1, 99]))
    widen = max(0.0, MIN_PLOT_SPAN - (high - low)) / 2
    return low - widen, high + widen


def plot_caption(prepared: PreparedRecording) -> str:
    """What the plot's line is, and the acceleration range its height spans."""
    bands = ("Coloured bands: the timeline's segments, coloured as in the Timeline table below (hover over a band for "
             "its activity, times and confidence).")  # fmt: skip
    if not prepared.signal.size or prepared.signal_placement is None:
        return f"No accelerometer to draw. {bands}"
    low, high = plot_range(prepared.signal)
    return (f"Black line: acceleration magnitude at the {prepared.signal_placement.replace('_', ' ')} (gravity "
            f"included); the plot's height spans {low:.1f} to {high:.1f} m/s² (the 1st to 99th percentile, at least "
            f"{MIN_PLOT_SPAN:g} m/s² wide). {bands}")


def html_report(analysis: Analysis, score: Agreement | None, prepared: PreparedRecording) -> str:
    body = markdown_report(analysis, score, prepared.coverage)
    coverage = "".join(f"<li>{html.escape(w)}</li>" for w in prepared.coverage.warnings())
    rows = "".join(f"<tr><td>{s.index}</td><td>{_clock(s.start_s)}</td><td>{_clock(s.end_s)}</td>"
                   f"<td style='background:{_colour(s.activity)}'>{html.escape(s.activity)}</td><td>{s.confidence:.2f}</td>"
                   f"<td>{html.escape(', '.join(s.flags))}</td></tr>" for s in analysis.segments)  # fmt: skip
    explanations = "".join(
        f"<h3>Segment {s.index}: {html.escape(s.activity)}</h3><p><em>{e.status}</em> — {html.escape(e.text)}</p>"
        "<table><tr><th>row</th><th>fact</th></tr>"
        + "".join(f"<tr><td>{r.id}</td><td>{html.escape(r.statement)}</td></tr>" for r in e.evidence.rows) + "</table>"
        for s in analysis.segments if (e := analysis.explanation_for(s.index))
    )  # fmt: skip
    summary = html.escape(body.split("\n## ")[0].split("\n", 2)[-1])  # the lines above the first section
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>harlens: {html.escape(analysis.recording)}</title>"
            "<style>body{font-family:sans-serif;max-width:1150px;margin:auto}td,th{padding:2px 8px;border-bottom:1px solid #ddd}"
            "table{border-collapse:collapse}</style></head><body>"
            f"<h1>harlens report: {html.escape(analysis.recording)}</h1><p>{summary}</p>"
            + (f"<h2>Data coverage</h2><ul>{coverage}</ul>" if coverage else "")
            + f"<h2>Signal and timeline</h2>{timeline_svg(analysis, prepared)}"
            "<h2>Minutes per activity</h2><table>" + "".join(f"<tr><td>{html.escape(a)}</td><td>{s / 60:.1f}</td></tr>"
                                                             for a, s in analysis.durations_s.items()) + "</table>"
            f"<h2>Timeline</h2><table><tr><th>#</th><th>start</th><th>end</th><th>activity</th><th>confidence</th><th>flags</th></tr>{rows}</table>"
            f"<h2>Explanations</h2>{explanations}{_glossary_html(analysis)}</body></html>")  # fmt: skip


def _glossary_html(analysis: Analysis) -> str:
    items = "".join(f"<dt><code>{html.escape(name)}</code>{f' ({html.escape(unit)})' if unit else ''}</dt>"
                    f"<dd>{html.escape(definition)}</dd>" for name, definition, unit in cited_features(analysis))  # fmt: skip
    return f"<h2>What the cited features mean</h2><dl>{items}</dl>" if items else ""


def explain_at(recording: Path, pack: Path, at_s: float, llm: str = "none", model: Path | None = None, note: str = "",
               options: TableOptions | None = None):  # fmt: skip
    """One window (the one containing `at_s`, else the nearest start) with its candidates and explanation."""
    manifest, components = open_pack(pack)
    backend = make_backend(llm, model)
    analyzer = Analyzer(components, AnalyzerSettings(context=note), backend, protocol=manifest.protocol)
    prepared = prepare(recording, components, manifest.protocol, options)
    starts = prepared.windows.start_s
    inside = np.flatnonzero((starts <= at_s) & (at_s < starts + prepared.windows.window_s))
    if inside.size == 0 and not (starts.min() - prepared.windows.window_s <= at_s <= starts.max() + prepared.windows.window_s):
        raise RecordingError(f"time {at_s:g} s is outside the recording's windows ({starts.min():g}–{starts.max():g} s)",
                             path=recording, fix="pass --at within the recording")  # fmt: skip
    index = int(inside[0]) if inside.size else int(np.argmin(np.abs(starts - at_s)))
    candidates, explanation = analyzer.explain_window(prepared.windows, index, prepared.breaks)
    return float(starts[index]), candidates, explanation, None if inside.size else _outside_note(at_s, prepared, starts[index])


def _outside_note(at_s: float, prepared: PreparedRecording, shown_s: float) -> str:
    """Why no window contains `at_s` (a gap, or the tail shorter than a window), and which one is shown."""
    gap = next((g for g in prepared.coverage.gaps if g.action == "split" and g.start_s <= at_s < g.start_s + g.duration_s), None)
    where = (f"falls in a gap without valid samples ({_clock(gap.start_s)}, {gap.duration_s:.1f} s)" if gap
             else "is in no analysed window")  # fmt: skip
    return f"{at_s:g} s {where}; showing the nearest window, which starts at {shown_s:g} s"


def print_summary(console, analysis: Analysis, score: Agreement | None, out: Path | None, explanations: int = 0,
                  coverage: Coverage | None = None) -> None:  # fmt: skip
    from rich.table import Table

    for warning in coverage.warnings() if coverage else []:
        console.print(f"[yellow]coverage:[/] {warning}", highlight=False)

    table = Table(title=f"timeline of {analysis.recording}")
    for column in ("#", "start", "end", "activity", "confidence", "flags"):
        table.add_column(column)
    for s in analysis.segments:
        table.add_row(str(s.index), _clock(s.start_s), _clock(s.end_s), s.activity, f"{s.confidence:.2f}", ", ".join(s.flags))
    console.print(table)
    minutes = Table(title="minutes per activity")
    minutes.add_column("activity")
    minutes.add_column("minutes", justify="right")
    for activity, seconds in analysis.durations_s.items():
        minutes.add_row(activity, f"{seconds / 60:.1f}")
    console.print(minutes)
    totals = analysis.trace.totals
    console.print(f"{totals.windows} windows, {totals.windows_per_s:.1f} windows/s; LLM calls/window "
                  f"{totals.llm_calls_per_window:.3f}, tokens/window {totals.tokens_per_window:.1f}; explanations {totals.explanations}")  # fmt: skip
    if score:
        console.print(f"agreement with the file's labels: accuracy {score.accuracy:.3f}, macro-F1 {score.macro_f1:.3f} "
                      f"({score.labelled_windows} labelled windows)")  # fmt: skip
    shown = sorted(analysis.trace.explanations, key=lambda e: (e.explanation.status.startswith("template"),
                                                               -analysis.segments[e.segment].duration_s))[:explanations]  # fmt: skip
    for item in shown:
        segment = analysis.segments[item.segment]
        console.rule(f"segment {segment.index}: {segment.activity} {_clock(segment.start_s)}–{_clock(segment.end_s)}")
        print_evidence(console, item.explanation)
    if out:
        console.print(f"report: {out / 'report.html'} (also report.md, timeline.json/.csv, durations.json, trace.json)")


def print_evidence(console, explanation) -> None:
    console.print(f"[bold]{explanation.status}[/]: {explanation.text}")
    for row in explanation.evidence.rows:
        console.print(f"  {row.id} {row.statement}", highlight=False)
    if explanation.rejected:
        console.print(f"  (rejected by the verifier: {len(explanation.rejected)} LLM text(s))")


def print_explanation(console, start_s: float, candidates, explanation, note: str | None = None) -> None:
    if note:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    listed = ", ".join(f"{a} {p:.2f}" for a, p in zip(candidates.activities, candidates.probabilities))
    console.print(f"window starting at {start_s:g} s — candidates: {listed}")
    print_evidence(console, explanation)
