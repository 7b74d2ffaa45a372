"""What the `harlens data …` commands compute and how they render (rich tables)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from recordings.channels import Channel
from recordings.datasets import data_root, dataset_dir, labelled_activities, load_dsads, summarise
from recordings.errors import RecordingError
from recordings.io import read_recording
from recordings.protocols import get_protocol, load_recordings, load_split, window_counts
from recordings.readers.table import TableOptions
from recordings.recording import UNLABELLED, Recording
from recordings.signal import repair_gaps
from recordings.vocabulary import load_vocabulary

DEMO_START = pd.Timestamp("2026-01-05T09:00:00Z")


def list_datasets(root: Path | None) -> Table:
    table = Table(title=f"datasets under {data_root(root)}")
    for column in ("dataset", "found", "files", "recordings", "activities", "subjects", "hours", "note"):
        table.add_column(column)
    for name in ("dsads", "hapt", "pamap2"):
        s = summarise(name, root)
        table.add_row(
            s.name, "yes" if s.found else "no", str(s.files), str(s.recordings), str(s.activities),
            str(s.subjects), f"{s.hours:.2f}", s.note,
        )  # fmt: skip
    return table


def table_options(rate, placement, acc_unit, gyro_unit, delimiter, mapping: list[str]) -> TableOptions:
    columns = {}
    for item in mapping:
        if "=" not in item:
            raise RecordingError(f"--map {item!r} is not COLUMN=placement.sensor.axis")
        column, channel = item.split("=", 1)
        columns[column.strip()] = channel.strip()
    return TableOptions(
        sampling_rate_hz=rate, placement=placement, acc_unit=acc_unit, gyro_unit=gyro_unit,
        delimiter=delimiter, columns=columns or None,
    )  # fmt: skip


def inspect_recording(path: Path, options: TableOptions | None = None) -> Group:
    started = time.perf_counter()
    recording, kind = read_recording(path, options)
    pieces = repair_gaps(recording)
    meta = pieces[0].meta if pieces else recording.meta
    overview = Table(title=f"{path}", show_header=False)
    overview.add_column("field")
    overview.add_column("value")
    rows = [
        ("format", kind),
        ("id", recording.meta.id),
        ("subject", recording.meta.subject or "-"),
        ("sampling rate", f"{recording.meta.sampling_rate_hz:g} Hz"),
        ("start time", str(recording.meta.start_time or "-")),
        ("duration", f"{recording.duration_s:.1f} s ({recording.n_samples} samples)"),
        ("placements", ", ".join(recording.meta.placements)),
        ("channels", ", ".join(recording.meta.channels)),
        ("units", ", ".join(f"{s}: {u}" for s, u in recording.meta.units.items())),
        ("gaps", _gap_summary(meta, len(pieces))),
        ("read in", f"{time.perf_counter() - started:.2f} s"),
    ]
    for field, value in rows:
        overview.add_row(field, value)
    conversions = Text("\n".join(f"• {c}" for c in meta.conversions) or "none", style="dim")
    return Group(overview, Text("conversions:"), conversions, _label_table(recording), _signal_table(recording))


def _gap_summary(meta, n_pieces: int) -> str:
    if not meta.gaps:
        return "none"
    interpolated = sum(g.action == "interpolated" for g in meta.gaps)
    split = len(meta.gaps) - interpolated
    kept = "recording kept whole" if n_pieces == 1 else f"recording split into {n_pieces} pieces"
    return f"{interpolated} interpolated, {split} long ({kept})"


def _label_table(recording: Recording) -> Table:
    table = Table(title="labels")
    table.add_column("activity")
    table.add_column("seconds", justify="right")
    table.add_column("share", justify="right")
    if recording.labels is None:
        table.add_row("(no label column)", "-", "-")
        return table
    counts = np.bincount(recording.labels + 1, minlength=len(recording.meta.activities) + 1)
    names = ["(unlabelled)"] + list(recording.meta.activities)
    for name, count in zip(names, counts):
        if count:
            table.add_row(name, f"{count / recording.meta.sampling_rate_hz:.1f}", f"{count / recording.n_samples:.1%}")
    return table


def _signal_table(recording: Recording) -> Table:
    table = Table(title="signal summary (canonical units)")
    for column in ("channel", "mean", "std", "min", "max"):
        table.add_column(column, justify="right" if column != "channel" else "left")
    with np.errstate(all="ignore"):
        for j, name in enumerate(recording.meta.channels):
            x = recording.samples[:, j]
            table.add_row(name, *(f"{f(x):.3f}" for f in (np.nanmean, np.nanstd, np.nanmin, np.nanmax)))
    return table


def show_protocol(name: str, root: Path | None, counts: bool) -> Group:
    spec = get_protocol(name)
    head = Table(title=f"protocol {spec.name} v{spec.version} ({spec.setting})", show_header=False)
    head.add_column("field")
    head.add_column("value")
    for field, value in (
        ("description", spec.description),
        ("digest", spec.digest),
        ("dataset", spec.dataset),
        ("reference subjects", ", ".join(spec.reference_subjects)),
        ("test subjects", ", ".join(spec.test_subjects)),
        ("windows", f"{spec.window_s:g} s every {spec.stride_s:g} s at {spec.sampling_rate_hz:g} Hz, purity ≥ {spec.min_purity:g}"),
        ("activities", str(len(spec.activities))),
    ):
        head.add_row(field, value)
    parts: list = [head]
    if spec.unseen_folds:
        folds = Table(title="zero-shot folds (unseen activities)")
        folds.add_column("fold")
        folds.add_column("unseen")
        for i, unseen in enumerate(spec.unseen_folds):
            folds.add_row(str(i), ", ".join(unseen))
        covered = [a for fold in spec.unseen_folds for a in fold]
        folds.caption = (
            f"{len(covered)} unseen slots covering {len(set(covered))} of {len(spec.activities)} activities"
            f"{' exactly once' if len(covered) == len(set(covered)) == len(spec.activities) else ''}"
        )
        parts += [folds, Text(spec.fold_notes, style="dim")]
    if counts:
        parts.append(_count_table(name, spec, root))
    return Group(*parts)


def _count_table(name, spec, root) -> Table:
    table = Table(title="labelled windows per activity and split")
    table.add_column("activity")
    folds = range(spec.n_folds) if spec.unseen_folds else [None]
    splits, test = {}, {}
    recordings = load_recordings(spec, root)
    for fold in folds:
        split = load_split(name, fold, root, recordings=recordings)
        splits["reference" if fold is None else f"reference f{fold}"] = window_counts(split.reference)
        test = window_counts(split.test)
    splits["test"] = test
    for column in splits:
        table.add_column(column, justify="right")
    for activity in spec.activities:
        table.add_row(activity, *(str(splits[c][activity]) for c in splits))
    table.add_row("total", *(str(sum(splits[c].values())) for c in splits), style="bold")
    return table


def show_activities(extra: Path | None) -> Table:
    vocabulary = load_vocabulary(extra)
    table = Table(title=f"{len(vocabulary.activities)} activities")
    for column in ("name", "description", "attributes", "labels"):
        table.add_column(column, overflow="fold")
    for a in vocabulary.activities:
        attributes = ", ".join(f"{k}={v}" for k, v in a.attributes.model_dump(exclude_none=True).items() if v not in (False, []))
        labels = "; ".join(f"{d}: {','.join(c)}" for d, c in a.labels.items())
        table.add_row(a.name, a.description, attributes, labels)
    return table


def export_continuous_dsads(subject: str, out: Path, root: Path | None = None, minutes: float | None = None) -> Path:
    """One DSADS subject's 19 activity recordings joined in recorded order as a timestamped CSV (only the
    first `minutes` when given: a recording of a chosen length for timing `harlens analyze`)."""
    recordings = load_dsads(subjects=(subject,), root=root)
    samples = np.concatenate([r.samples for r in recordings])
    labels = np.concatenate([np.full(r.n_samples, labelled_activities(r)[0], dtype=object) for r in recordings])
    rate = recordings[0].meta.sampling_rate_hz
    if minutes is not None:
        if not 0 < minutes * 60 * rate <= len(samples):
            raise ValueError(f"minutes must be in (0, {len(samples) / rate / 60:.1f}] for DSADS subject {subject}, got {minutes}")
        kept = round(minutes * 60 * rate)
        samples, labels = samples[:kept], labels[:kept]
    times = DEMO_START + pd.to_timedelta(np.arange(len(samples)) / rate, unit="s")
    columns = [c.replace(".", "_") for c in recordings[0].meta.channels]
    frame = pd.DataFrame(samples, columns=columns)
    frame.insert(0, "timestamp", times.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z")
    frame["activity"] = labels
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False, float_format="%.5f")
    return out


def run_demo(out: Path, console: Console, pack: Path = Path("packs/dsads-xsub")) -> None:
    """The whole product on real data: build (or reuse) the dsads-xsub pack, export held-out subject p8 as
    one continuous user CSV, analyse it with the bundled model, print the timeline, minutes per activity,
    agreement with the file's labels and two explanations, and say where the HTML report is."""
    from harlens.analyze_commands import print_summary, run_analysis
    from harlens.pack import load_manifest, reuse_or_rebuild

    started = time.perf_counter()
    console.rule("[bold]harlens demo")
    dataset_dir("dsads")
    with console.status(f"checking the dsads-xsub pack in {pack} (building it takes a few minutes)") as status:
        reuse_or_rebuild("dsads-xsub", pack, progress=status.update)
    console.print(f"pack: {pack} ({load_manifest(pack).build_s:.0f} s to build)")
    csv = export_continuous_dsads("p8", out / "dsads_p8_continuous.csv")
    console.print(f"held-out subject p8 written as one continuous user CSV: {csv}")
    console.print(inspect_recording(csv))
    with console.status("analysing with the bundled SmolLM2 model") as status:
        analysis, score, prepared = run_analysis(csv, pack, llm="local", out=out / "analysis",
                                                 progress=status.update)  # fmt: skip
    print_summary(console, analysis, score, out / "analysis", explanations=2, coverage=prepared.coverage)
    console.print(f"demo finished in {(time.perf_counter() - started) / 60:.1f} min")
