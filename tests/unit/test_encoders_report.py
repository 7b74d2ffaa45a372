"""Report aggregation (mean and fold spread over seeds), bars, findings and renderings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from encoders.configurations import CONFIGURATIONS, TRAININGS, configuration
from encoders.errors import EncoderError
from encoders.prototypes import separability
from encoders.report import (
    EvalReport,
    GeneralisedScores,
    RunResult,
    UnseenScores,
    bars,
    findings,
    render_markdown,
    render_rich,
    summarise,
)


def _run(name: str, fold: int, seed: int, f1: float, h: float) -> RunResult:
    sep = separability(np.eye(3), ["a", "b", "c"])
    unseen = {b: UnseenScores(accuracy=f1, macro_f1=f1) for b in ("balanced", "natural")}
    gen = {b: GeneralisedScores(S=0.9, U=h, H=h, macro_f1=0.5, offset=0.1, inner_H=0.5) for b in ("balanced", "natural")}
    return RunResult(fold=fold, seed=seed, configuration=name, unseen_only=unseen, generalised=gen, gap=0.4,
                     gap_seen=0.5, gap_unseen=0.2, separability=sep, train_seconds=60.0)


def test_the_seven_study_configurations_are_defined():
    study = [c for c in CONFIGURATIONS if c.role in ("study", "study-baseline")]
    assert len(study) == 7
    assert {(TRAININGS[c.training].pipeline, c.method) for c in study} >= {("ce", "cosine"), ("contrastive", "isoftmax")}
    assert configuration("CE-name-cos").role == "study-baseline"
    with pytest.raises(EncoderError, match="unknown configuration"):
        configuration("nope")


def test_summary_mean_and_fold_spread():
    runs = [_run("CE-desc-cos", fold, seed, f1=0.5 + 0.1 * fold + 0.01 * seed, h=0.3) for fold in range(3) for seed in range(2)]
    row = summarise(runs, [configuration("CE-desc-cos")])[0]
    stat = row.metrics["unseen.balanced.f1"]
    fold_means = np.array([0.505, 0.605, 0.705])
    assert stat.mean == pytest.approx(fold_means.mean()) and stat.fold_std == pytest.approx(fold_means.std())
    assert stat.fold_min == pytest.approx(0.505) and stat.fold_max == pytest.approx(0.705)
    assert stat.seed_std == pytest.approx(0.005) and stat.n_runs == 6


def test_bars_and_findings_quote_the_numbers():
    runs = [_run("CE-desc-cos", 0, 0, 0.6, 0.3), _run("CL-desc-cos", 0, 0, 0.95, 0.65)]
    rows = summarise(runs, [configuration("CE-desc-cos"), configuration("CL-desc-cos")])
    result = bars(rows)
    assert result["unseen-only macro-F1 >= 0.9 (balanced batches)"].startswith("MET: best CL-desc-cos 0.950")
    assert result["generalised H >= 0.6 (natural batches)"].startswith("MET")
    lines = findings(rows, [])
    assert any("CL-desc-cos 0.950 vs CE-desc-cos 0.600 (higher)" in line for line in lines)


def test_renderings_and_json_round_trip():
    runs = [_run("CE-name-cos", f, 0, 0.4, 0.2) for f in range(2)]
    rows = summarise(runs, [configuration("CE-name-cos")])
    report = EvalReport(protocol="dsads-zsl", seeds=[0], folds=[0, 1], runs=runs, summary=rows, bars=bars(rows))
    text = render_markdown(report)
    assert "| CE-name-cos | 0.400 ± 0.000 |" in text and "NOT MET" in text
    assert render_rich(report).row_count == 1
    again = EvalReport.model_validate(json.loads(report.model_dump_json()))
    assert again == report
    skipped = EvalReport(protocol="pamap2-zsl", skipped="dataset not available")
    assert "skipped" in render_markdown(skipped)
