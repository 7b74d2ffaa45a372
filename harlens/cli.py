"""The `harlens` command. Thin: it parses arguments and renders; the work lives in the packages."""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from agent.llm.base import LLMError
from harlens import data_commands
from harlens.pack import COMPONENTS, PackError, build_pack
from knowledge_base.errors import KnowledgeBaseError
from recordings.errors import RecordingError

app = typer.Typer(help="Explainable zero-shot activity recognition from wearable IMU recordings.", no_args_is_help=True)
data_app = typer.Typer(help="Datasets, recordings and evaluation protocols.", no_args_is_help=True)
kb_app = typer.Typer(help="Inspect the knowledge base of a reference pack.", no_args_is_help=True)
eval_app = typer.Typer(help="Evaluate components on a protocol.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(kb_app, name="kb")
app.add_typer(eval_app, name="eval")
console = Console(width=None if Console().is_terminal else 150)
USER_ERRORS = (RecordingError, KnowledgeBaseError, PackError, LLMError, ValueError)
# how a table file's columns are read: shared by `data inspect`, `analyze` and `explain`
RateOption = Annotated[Optional[float], typer.Option(help="sampling rate when the file has no time column")]
PlacementOption = Annotated[str, typer.Option(help="placement for columns that name none (e.g. wrist_left for a DSADS pack)")]
MapOption = Annotated[list[str], typer.Option("--map", help="explicit column mapping COLUMN=placement.sensor.axis")]


def reports_errors(command):
    """Turn the packages' typed errors into one red line and exit code 2 (no traceback for bad input)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except USER_ERRORS as exc:
            console.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(code=2) from None

    return wrapper


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="log progress details")) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@data_app.command("list")
@reports_errors
def data_list(root: Optional[Path] = typer.Option(None, help="data root (default: HARLENS_DATA or ../shared/data)")) -> None:
    """Datasets found under the data root: segments/experiments, activities, subjects, hours."""
    console.print(data_commands.list_datasets(root))


@data_app.command("inspect")
@reports_errors
def data_inspect(
    path: Path,
    rate: RateOption = None,
    placement: PlacementOption = "wrist",
    acc_unit: str = typer.Option("auto", help="g, m/s^2 or auto"),
    gyro_unit: str = typer.Option("auto", help="rad/s, deg/s or auto"),
    delimiter: Optional[str] = typer.Option(None, help="column delimiter (default: detected)"),
    map_: MapOption = [],  # noqa: B006 (typer reads the default; it is never mutated)
) -> None:
    """Detected format, channels, units, rate, duration, gaps and label summary of one recording."""
    options = data_commands.table_options(rate, placement, acc_unit, gyro_unit, delimiter, map_)
    console.print(data_commands.inspect_recording(path, options))


@data_app.command("protocol")
@reports_errors
def data_protocol(
    name: str,
    root: Optional[Path] = typer.Option(None, help="data root"),
    counts: bool = typer.Option(True, help="load the data and count windows per activity and split"),
) -> None:
    """A protocol's split, zero-shot folds and window counts per activity and split."""
    console.print(data_commands.show_protocol(name, root, counts))


@data_app.command("activities")
@reports_errors
def data_activities(vocabulary: Optional[Path] = typer.Option(None, help="extra vocabulary YAML")) -> None:
    """The activity vocabulary: names, descriptions, attributes and dataset labels."""
    console.print(data_commands.show_activities(vocabulary))


@data_app.command("export-demo")
@reports_errors
def data_export_demo(
    out: Path = typer.Option(Path("demo-output/dsads_p8_continuous.csv"), help="CSV to write"),
    subject: str = typer.Option("p8", help="DSADS subject"),
    minutes: Optional[float] = typer.Option(None, help="keep only the first MINUTES (default: all 95)"),
) -> None:
    """Join one DSADS subject's segments in recorded order into a timestamped CSV (a 'user file')."""
    console.print(f"wrote {data_commands.export_continuous_dsads(subject, out, minutes=minutes)}")


@app.command("build")
@reports_errors
def build(
    protocol: str = typer.Option(..., help="protocol whose reference split the pack learns from"),
    out: Path = typer.Option(..., help="new folder for the pack"),
    fold: Optional[int] = typer.Option(None, help="zero-shot fold (dsads-zsl, pamap2-zsl)"),
    only: list[str] = typer.Option(list(COMPONENTS), help="components to build"),
    encoder_epochs: Optional[int] = typer.Option(None, help="override the encoder's training epochs (quick packs)"),
    placements: list[str] = typer.Option([], help="only these placements' sensors (repeat the option), for "
                                         "recordings that have only them; default: all"),
) -> None:
    """Build a reference pack: knowledge base, encoder and prototypes, retrieval indexes, fusion, manifest."""
    with console.status("building pack") as status:
        manifest = build_pack(protocol, out, fold, tuple(only), progress=status.update, encoder_epochs=encoder_epochs,
                              placements=tuple(placements) or None)  # fmt: skip
    for name, record in manifest.components.items():
        console.print(f"{name}: {record.build_s:.1f} s")
    console.print(f"pack {out} ({manifest.reference_windows} reference windows) built in {manifest.build_s:.1f} s")


@kb_app.command("show")
@reports_errors
def kb_show(pack: Path, activity_a: str, activity_b: str, k: int = typer.Option(10, help="features to show")) -> None:
    """The top features that separate two activities, with both activities' typical values."""
    from knowledge_base.reports import load_knowledge_base, show_pair

    console.print(show_pair(load_knowledge_base(pack), activity_a, activity_b, k).render())


@kb_app.command("check")
@reports_errors
def kb_check(
    pack: Path,
    recording: Path,
    at: float = typer.Option(..., help="seconds from the recording's start"),
    activity: str = typer.Option(..., help="activity whose attribute predicates to check"),
) -> None:
    """The attribute predicates of one activity, evaluated on the window of a recording at TIME."""
    from knowledge_base.reports import check_recording, load_knowledge_base
    from recordings.io import read_recording

    kb = load_knowledge_base(pack)
    loaded, _ = read_recording(recording)
    console.print(check_recording(kb, loaded, at, activity).render())


@eval_app.command("encoders")
@reports_errors
def eval_encoders(
    protocol: str = typer.Option("dsads-zsl", help="zero-shot protocol"),
    seeds: list[int] = typer.Option([0, 1, 2], help="training seeds"),
    fold: list[int] = typer.Option([], help="folds to run (default: all)"),
    out: Optional[Path] = typer.Option(None, help="JSON report (default benchmarks/results/encoders-PROTOCOL.json, "
                                       "which `harlens bench` reads)"),
) -> None:
    """Train and score the encoder configurations on every fold and seed; print one table, write JSON."""
    from encoders.evaluation import evaluate_protocol
    from encoders.report import render_markdown, render_rich

    out = out or Path(f"benchmarks/results/encoders-{protocol}.json")

    report = evaluate_protocol(protocol, seeds=seeds, folds=fold or None, out_json=out)
    console.print(render_rich(report))
    out.with_suffix(".md").write_text(render_markdown(report), encoding="utf-8")
    console.print(f"written to {out} and {out.with_suffix('.md')}")


@app.command("analyze")
@reports_errors
def analyze(
    recording: Path = typer.Argument(..., help="CSV/Parquet/DSADS/HAPT/PAMAP2 recording"),
    pack: Path = typer.Option(..., help="reference pack from `harlens build`"),
    out: Path = typer.Option(..., help="folder for timeline, durations, trace and report"),
    llm: str = typer.Option("local", help="local (llama.cpp, bundled or --model GGUF), openai, or none"),
    model: Optional[Path] = typer.Option(None, help="a GGUF file for --llm local (default: bundled SmolLM2)"),
    policy: Optional[str] = typer.Option(None, help="evidence, llm or auto (default: the measured best)"),
    note: str = typer.Option("", help="a note about the recording (treated as data, never as instructions)"),
    explain_limit: int = typer.Option(4, help="segments explained by the LLM, longest first; the rest get the template"),
    placement: PlacementOption = "wrist",
    map_: MapOption = [],  # noqa: B006 (typer reads the default; it is never mutated)
    rate: RateOption = None,
) -> None:
    """Recognise what the person did, when, and why: timeline, minutes per activity, explained report."""
    from harlens import analyze_commands as commands

    options = data_commands.table_options(rate, placement, "auto", "auto", None, map_)
    with console.status("analysing") as status:
        analysis, score, prepared = commands.run_analysis(recording, pack, llm, model, policy, out, note, explain_limit,
                                                          progress=status.update, options=options)  # fmt: skip
    commands.print_summary(console, analysis, score, out, coverage=prepared.coverage)


@app.command("explain")
@reports_errors
def explain(
    recording: Path = typer.Argument(..., help="the recording"),
    pack: Path = typer.Option(..., help="reference pack"),
    at: float = typer.Option(..., help="seconds on the recording's time axis"),
    llm: str = typer.Option("local", help="local, openai or none"),
    model: Optional[Path] = typer.Option(None, help="a GGUF file for --llm local"),
    note: str = typer.Option("", help="a note about the recording (data, never instructions)"),
    placement: PlacementOption = "wrist",
    map_: MapOption = [],  # noqa: B006 (typer reads the default; it is never mutated)
    rate: RateOption = None,
) -> None:
    """One window's decision with its candidates, full evidence and checked explanation."""
    from harlens import analyze_commands as commands

    options = data_commands.table_options(rate, placement, "auto", "auto", None, map_)
    with console.status("explaining"):
        start, candidates, explanation, outside = commands.explain_at(recording, pack, at, llm, model, note, options)
    commands.print_explanation(console, start, candidates, explanation, outside)


@app.command("bench")
@reports_errors
def bench(
    out: Path = typer.Option(Path("benchmarks/results"), help="folder for results.json and results.md"),
    quick: bool = typer.Option(False, help="≤ 10 minutes: quick packs, fold 0 only, LLM on a sample"),
    protocol: list[str] = typer.Option([], help="protocols (default: all whose data is present)"),
    packs: Path = typer.Option(Path("packs/bench"), help="where benchmark packs are built and reused"),
    no_llm: bool = typer.Option(False, help="skip the bundled-LLM system"),
    readme: Optional[Path] = typer.Option(None, help="README whose generated results block to replace"),
) -> None:
    """Every protocol and system side by side: results.json + a Markdown table (and the README's block)."""
    from benchmarks.suite import BenchSettings, run_bench, update_readme

    with console.status("benchmark") as status:
        settings = BenchSettings(quick=quick, packs=packs, llm=not no_llm, progress=lambda m: (status.update(m), console.log(m, markup=False)))
        if protocol:
            settings.protocols = tuple(protocol)
        result = run_bench(out, settings)
    console.print((out / "results.md").read_text(encoding="utf-8"))
    if readme and not update_readme(readme, (out / "results.md").read_text(encoding="utf-8")):
        raise PackError(f"{readme} has no generated-results markers; add them where the table belongs")
    console.print(f"{len(result['records'])} records in {out / 'results.json'} ({result['seconds'] / 60:.1f} min)")


@app.command("demo")
@reports_errors
def demo(out: Path = typer.Option(Path("demo-output"), help="folder for the demo's files")) -> None:
    """The most complete real job available: see the README."""
    data_commands.run_demo(out, console)


if __name__ == "__main__":  # pragma: no cover
    app()
