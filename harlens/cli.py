"""The `harlens` command. Thin: it parses arguments and renders; the work lives in the packages."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from harlens import data_commands
from recordings.errors import RecordingError

app = typer.Typer(help="Explainable zero-shot activity recognition from wearable IMU recordings.", no_args_is_help=True)
data_app = typer.Typer(help="Datasets, recordings and evaluation protocols.", no_args_is_help=True)
app.add_typer(data_app, name="data")
console = Console(width=None if Console().is_terminal else 150)


def _fail(exc: Exception) -> None:
    console.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(code=2)


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="log progress details")) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@data_app.command("list")
def data_list(root: Optional[Path] = typer.Option(None, help="data root (default: HARLENS_DATA or ../shared/data)")) -> None:
    """Datasets found under the data root: segments/experiments, activities, subjects, hours."""
    try:
        console.print(data_commands.list_datasets(root))
    except RecordingError as exc:
        _fail(exc)


@data_app.command("inspect")
def data_inspect(
    path: Path,
    rate: Optional[float] = typer.Option(None, help="sampling rate when the file has no time column"),
    placement: str = typer.Option("wrist", help="placement for columns that name none"),
    acc_unit: str = typer.Option("auto", help="g, m/s^2 or auto"),
    gyro_unit: str = typer.Option("auto", help="rad/s, deg/s or auto"),
    delimiter: Optional[str] = typer.Option(None, help="column delimiter (default: detected)"),
    map_: list[str] = typer.Option([], "--map", help="explicit column mapping COLUMN=placement.sensor.axis"),
) -> None:
    """Detected format, channels, units, rate, duration, gaps and label summary of one recording."""
    try:
        options = data_commands.table_options(rate, placement, acc_unit, gyro_unit, delimiter, map_)
        console.print(data_commands.inspect_recording(path, options))
    except RecordingError as exc:
        _fail(exc)


@data_app.command("protocol")
def data_protocol(
    name: str,
    root: Optional[Path] = typer.Option(None, help="data root"),
    counts: bool = typer.Option(True, help="load the data and count windows per activity and split"),
) -> None:
    """A protocol's split, zero-shot folds and window counts per activity and split."""
    try:
        console.print(data_commands.show_protocol(name, root, counts))
    except RecordingError as exc:
        _fail(exc)


@data_app.command("activities")
def data_activities(vocabulary: Optional[Path] = typer.Option(None, help="extra vocabulary YAML")) -> None:
    """The activity vocabulary: names, descriptions, attributes and dataset labels."""
    try:
        console.print(data_commands.show_activities(vocabulary))
    except RecordingError as exc:
        _fail(exc)


@data_app.command("export-demo")
def data_export_demo(
    out: Path = typer.Option(Path("demo-output/dsads_p8_continuous.csv"), help="CSV to write"),
    subject: str = typer.Option("p8", help="DSADS subject"),
) -> None:
    """Join one DSADS subject's segments in recorded order into a timestamped CSV (a 'user file')."""
    try:
        path = data_commands.export_continuous_dsads(subject, out)
        console.print(f"wrote {path}")
    except RecordingError as exc:
        _fail(exc)


@app.command("demo")
def demo(out: Path = typer.Option(Path("demo-output"), help="folder for the demo's files")) -> None:
    """The most complete real job available: see the README."""
    try:
        data_commands.run_demo(out, console)
    except RecordingError as exc:
        _fail(exc)


if __name__ == "__main__":  # pragma: no cover
    app()
