"""Zero-shot encoder benchmark: every configuration on every fold and seed, one table + JSON + markdown.

    python -m benchmarks.encoders_zsl                      # dsads-zsl (and pamap2-zsl if present), seeds 0,1,2
    python -m benchmarks.encoders_zsl --protocol dsads-zsl --seeds 0 --folds 0,1

Tens of minutes on a shared 2-core CPU (per fold and seed: three pipelines, each trained on the reference
subjects and once more on an inner split for calibration). Interrupted runs resume from
`<out>.partial.jsonl` when restarted with the same settings. Not a test.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from rich.console import Console

from encoders.evaluation import EvalSettings, evaluate_protocol
from encoders.report import render_markdown, render_rich


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocol", action="append", help="dsads-zsl and/or pamap2-zsl (default: both)")
    parser.add_argument("--seeds", type=_ints, default=[0, 1, 2])
    parser.add_argument("--folds", type=_ints, default=None, help="default: all folds of the protocol")
    parser.add_argument("--out", type=Path, default=Path("runs/encoders_zsl"), help="folder for JSON + markdown")
    parser.add_argument("--epochs", type=int, default=None, help="override the training epochs")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = EvalSettings() if args.epochs is None else EvalSettings(epochs=args.epochs, inner_epochs=args.epochs)
    console = Console()
    for protocol in args.protocol or ["dsads-zsl", "pamap2-zsl"]:
        report = evaluate_protocol(protocol, seeds=args.seeds, folds=args.folds, out_json=args.out / f"{protocol}.json",
                                   progress=not args.no_progress, settings=settings)
        markdown = render_markdown(report)
        (args.out / f"{protocol}.md").write_text(markdown, encoding="utf-8")
        console.print(render_rich(report))
        console.print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
