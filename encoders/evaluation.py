"""`harlens eval encoders --protocol dsads-zsl`: train and score every configuration on every fold and seed.

The lead's CLI calls :func:`evaluate_protocol` and prints :func:`encoders.report.render_rich` of the
returned report. Data come from `recordings.protocols` (this package never opens dataset files itself).
Nothing is tuned on test subjects: the only fitted inference parameter, the seen-vs-unseen offset of the
generalised setting, is chosen on an inner split of the reference subjects (:mod:`encoders.calibration`);
the inverted-softmax beta and the separability trade-off are fixed settings.

Per fold and seed, each training pipeline is fitted once on the reference windows (and once more on the
inner split for calibration); all configurations sharing a pipeline reuse those encoders.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from encoders.batches import balanced_batches, batched_scores, natural_batches
from encoders.calibration import InnerSplit, best_offset, choose_inner_split, inner_windows
from encoders.config import AugmentConfig, EncoderConfig, TCNConfig, TrainConfig
from encoders.configurations import CONFIGURATIONS, TRAININGS, Configuration, configuration
from encoders.errors import EncoderError
from encoders.inference import calibrated_stacking, hub_offsets
from encoders.metrics import accuracy, generalised, macro_f1, modality_gap
from encoders.model import IMUEncoder
from encoders.progress import Progress
from encoders.prototypes import embed_views, normalise, optimise_separability, separability
from encoders.report import (
    BATCHINGS,
    EvalReport,
    GeneralisedScores,
    PrototypeStats,
    RunResult,
    TrainingTime,
    UnseenScores,
    bars,
    findings,
    summarise,
)
from encoders.text import TextEncoder
from encoders.runtime import torch_threads
from recordings.errors import DataNotFoundError
from recordings.protocols import ProtocolSplit, get_protocol, load_recordings, load_split
from recordings.vocabulary import Vocabulary, load_vocabulary
from recordings.windows import Windows

log = logging.getLogger(__name__)


class EvalSettings(BaseModel):
    """Everything that shapes an evaluation besides protocol, folds and seeds (stored in the report)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(default=15, ge=1)
    inner_epochs: int = Field(default=15, ge=1, description="epochs of the calibration encoder")
    temperature: float = 0.1
    beta: float = Field(default=10.0, gt=0, description="inverted-softmax / querybank temperature")
    tradeoff: float = Field(default=1.0, ge=0, description="separability optimisation: pull toward the text")
    tcn: TCNConfig = Field(default_factory=TCNConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    threads: int = Field(default=1, ge=1, le=2)
    configurations: tuple[str, ...] = tuple(c.name for c in CONFIGURATIONS)
    max_train_seconds: float = 300.0

    def digest(self, protocol_digest: str) -> str:
        return hashlib.sha256((self.model_dump_json() + protocol_digest).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class _Set:
    """Embeddings of a window set plus the provenance the batchings need (numpy only)."""

    emb: np.ndarray
    labels: np.ndarray
    subjects: np.ndarray
    recording_ids: np.ndarray
    start_s: np.ndarray

    @classmethod
    def of(cls, encoder: IMUEncoder, windows: Windows) -> "_Set":
        return cls(encoder.embed(windows), windows.labels.astype(int), windows.subjects, windows.recording_ids,
                   windows.start_s)

    def subset(self, mask: np.ndarray) -> "_Set":
        return _Set(self.emb[mask], self.labels[mask], self.subjects[mask], self.recording_ids[mask], self.start_s[mask])


@dataclass(frozen=True)
class _Trained:
    """One pipeline's encoders for one fold and seed, with their embedded window sets."""

    encoder: IMUEncoder
    inner: IMUEncoder
    test: _Set
    bank: _Set
    inner_val: _Set
    inner_bank: _Set


# ---------------------------------------------------------------------------------------------- decisions
def _batches(s: _Set, batching: str, seed: int) -> list:
    if batching == "balanced":
        return balanced_batches(s.labels, s.subjects, seed)
    return natural_batches(s.recording_ids, s.start_s)


def _decide(scores: np.ndarray, method: str, batches: list, beta: float, bank_scores: np.ndarray) -> np.ndarray:
    """Corrected scores (cosine units) for one inference method."""
    if method == "cosine":
        return scores
    if method == "querybank":
        return scores - hub_offsets(bank_scores, beta)[None, :]
    return batched_scores(scores, batches, lambda s: s - hub_offsets(s, beta)[None, :])


def _unseen_only(config: Configuration, s: _Set, protos: np.ndarray, bank: np.ndarray, unseen: list[int],
                 batching: str, settings: EvalSettings, seed: int) -> UnseenScores:
    """The study's setting: unseen windows only, unseen activities the only answers."""
    part = s.subset(np.isin(s.labels, unseen))
    scores = part.emb @ protos[unseen].T
    z = _decide(scores, config.method, _batches(part, batching, seed), settings.beta, bank @ protos[unseen].T)
    pred = np.asarray(unseen)[z.argmax(axis=1)]
    return UnseenScores(accuracy=accuracy(part.labels, pred), macro_f1=macro_f1(part.labels, pred, unseen))


def _calibrate(config: Configuration, trained: _Trained, inner: InnerSplit, activities: tuple[str, ...],
               batching: str, settings: EvalSettings, seed: int) -> tuple[float, float]:
    """Seen offset maximising H on the held-out reference subjects of the inner split."""
    names = tuple(a for a in activities if a in inner.seen or a in inner.unseen)
    protos = trained.inner.prototypes(names, config.prototypes, settings.tradeoff).matrix
    local = {activities.index(a): i for i, a in enumerate(names)}
    val = trained.inner_val.subset(np.isin(trained.inner_val.labels, list(local)))
    val = _Set(val.emb, np.array([local[v] for v in val.labels]), val.subjects, val.recording_ids, val.start_s)
    z = _decide(val.emb @ protos.T, config.method, _batches(val, batching, seed), settings.beta,
                trained.inner_bank.emb @ protos.T)
    seen = [names.index(a) for a in inner.seen]
    unseen = [names.index(a) for a in inner.unseen]
    return best_offset(z, val.labels, seen, unseen)


def _generalised(config: Configuration, trained: _Trained, protos: np.ndarray, split: ProtocolSplit,
                 inner: InnerSplit, batching: str, settings: EvalSettings, seed: int) -> GeneralisedScores:
    """Every activity a possible answer, seen scores lowered by the offset calibrated on reference subjects."""
    acts = split.spec.activities
    seen = [acts.index(a) for a in split.seen]
    unseen = [acts.index(a) for a in split.unseen]
    offset, inner_h = _calibrate(config, trained, inner, acts, batching, settings, seed)
    s = trained.test
    z = _decide(s.emb @ protos.T, config.method, _batches(s, batching, seed), settings.beta, trained.bank.emb @ protos.T)
    z = calibrated_stacking(z, np.isin(np.arange(len(acts)), seen), offset)
    scores = generalised(s.labels, z.argmax(axis=1), seen, unseen)
    return GeneralisedScores(**scores, offset=offset, inner_H=inner_h)


def score_configuration(config: Configuration, trained: _Trained, split: ProtocolSplit, inner: InnerSplit,
                        settings: EvalSettings, seed: int) -> RunResult:
    acts = split.spec.activities
    unseen = [acts.index(a) for a in split.unseen]
    protos = trained.encoder.prototypes(acts, config.prototypes, settings.tradeoff).matrix
    bank = trained.bank.emb
    unseen_scores, gen_scores = {}, {}
    for batching in BATCHINGS:
        if config.batch_dependent or batching == BATCHINGS[0]:
            unseen_scores[batching] = _unseen_only(config, trained.test, protos, bank, unseen, batching, settings, seed)
            gen_scores[batching] = _generalised(config, trained, protos, split, inner, batching, settings, seed)
        else:  # the decision does not depend on the batch: identical under every batching
            unseen_scores[batching] = unseen_scores[BATCHINGS[0]]
            gen_scores[batching] = gen_scores[BATCHINGS[0]]
    test = trained.test
    is_unseen = np.isin(test.labels, unseen)
    before = None
    if config.prototypes == "optimised":
        before = separability(trained.encoder.prototypes(acts, "description").matrix, acts)
    return RunResult(
        fold=split.fold, seed=seed, configuration=config.name, unseen_only=unseen_scores, generalised=gen_scores,
        gap=modality_gap(test.emb, protos, test.labels),
        gap_seen=modality_gap(test.emb[~is_unseen], protos, test.labels[~is_unseen]),
        gap_unseen=modality_gap(test.emb[is_unseen], protos, test.labels[is_unseen]),
        separability=separability(protos, acts), separability_before=before,
        train_seconds=trained.encoder.train_log_.seconds,
    )


# ---------------------------------------------------------------------------------------------- training
def encoder_config(training: str, settings: EvalSettings, seed: int, epochs: int) -> EncoderConfig:
    spec = TRAININGS[training]
    train = TrainConfig(pipeline=spec.pipeline, text_view=spec.text_view, epochs=epochs, seed=seed,
                        temperature=settings.temperature, augment=settings.augment, threads=settings.threads,
                        max_train_seconds=settings.max_train_seconds)
    return EncoderConfig(tcn=settings.tcn, train=train)


def _train(training: str, split: ProtocolSplit, inner: InnerSplit, settings: EvalSettings, seed: int,
           vocabulary: Vocabulary, text_encoder: TextEncoder, progress: Progress) -> _Trained:
    inner_train, inner_val = inner_windows(split.reference, inner)
    fit = lambda windows, epochs: IMUEncoder(  # noqa: E731
        encoder_config(training, settings, seed, epochs), vocabulary, text_encoder, progress).fit(windows)
    encoder = fit(split.reference, settings.epochs)
    calibration = fit(inner_train, settings.inner_epochs)
    return _Trained(encoder, calibration, _Set.of(encoder, split.test), _Set.of(encoder, split.reference),
                    _Set.of(calibration, inner_val), _Set.of(calibration, inner_train))


def evaluate_split(split: ProtocolSplit, seed: int, settings: EvalSettings, vocabulary: Vocabulary,
                   text_encoder: TextEncoder, progress: Progress) -> list[RunResult]:
    """All configured configurations on one fold with one seed."""
    configs = [configuration(name) for name in settings.configurations]
    subjects = tuple(dict.fromkeys(split.reference.subjects.tolist()))
    inner = choose_inner_split(split.seen, subjects, split.spec.unseen_folds, split.fold, seed)
    results = []
    for training in dict.fromkeys(c.training for c in configs):
        trained = _train(training, split, inner, settings, seed, vocabulary, text_encoder, progress)
        for config in (c for c in configs if c.training == training):
            results.append(score_configuration(config, trained, split, inner, settings, seed))
        log.info("fold %s seed %d %s: trained in %.0f s", split.fold, seed, training, trained.encoder.train_log_.seconds)
    return results


# ---------------------------------------------------------------------------------------------- protocol
def prototype_stats(activities: tuple[str, ...], vocabulary: Vocabulary, text_encoder: TextEncoder,
                    tradeoff: float, threads: int = 1) -> list[PrototypeStats]:
    """Separability of each prototype kind in the raw text space (before any training)."""
    out, matrices = [], {}
    for kind in ("name", "description", "ensemble"):
        _, views = embed_views(activities, kind, vocabulary, text_encoder)
        matrices[kind] = normalise(np.stack([v.mean(axis=0) for v in views]))
        out.append(PrototypeStats(kind=kind, separability=separability(matrices[kind], activities)))
    with torch_threads(threads):
        optimised = optimise_separability(matrices["description"], tradeoff=tradeoff)
    out.append(PrototypeStats(kind="optimised", separability=separability(optimised, activities)))
    return out


def _training_times(runs: list[RunResult]) -> list[TrainingTime]:
    by_key: dict[tuple, list[float]] = {}
    for run in runs:
        training = configuration(run.configuration).training
        by_key.setdefault((training, run.fold, run.seed), []).append(run.train_seconds)
    per: dict[tuple, list[float]] = {}
    for (training, fold, _), seconds in by_key.items():
        per.setdefault((training, fold), []).append(seconds[0])
    return [TrainingTime(training=t, fold=f, mean_seconds=float(np.mean(v)), max_seconds=float(np.max(v)))
            for (t, f), v in per.items()]


def _load_partial(path: Path | None, digest: str) -> list[RunResult]:
    """Runs saved by an interrupted evaluation with the same settings (resumable benchmarks)."""
    if path is None or not path.is_file():
        return []
    runs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("digest") == digest:
            runs.append(RunResult.model_validate(record["run"]))
    log.info("resuming: %d runs loaded from %s", len(runs), path)
    return runs


def _save_partial(path: Path | None, digest: str, runs: list[RunResult]) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            for run in runs:
                handle.write(json.dumps({"digest": digest, "run": run.model_dump(mode="json")}) + "\n")


def evaluate_protocol(
    protocol: str = "dsads-zsl",
    seeds: tuple[int, ...] | list[int] = (0, 1, 2),
    folds: tuple[int, ...] | list[int] | None = None,
    out_json: str | Path | None = None,
    progress: bool | Progress = True,
    settings: EvalSettings | None = None,
    root: str | Path | None = None,
    resume: bool = True,
) -> EvalReport:
    """Train and score the configurations on `folds` x `seeds` of a zero-shot protocol; write JSON if asked.

    A dataset that is not present yields a report with `skipped` set (and a log message), not an error,
    so `pamap2-zsl` runs when a user supplies PAMAP2 and is skipped cleanly otherwise.
    """
    started = time.perf_counter()
    settings = settings or EvalSettings()
    spec = get_protocol(protocol)
    if spec.setting != "unseen activities" or not spec.unseen_folds:
        raise EncoderError(f"protocol {protocol} has no unseen-activity folds", fix="use dsads-zsl or pamap2-zsl")
    bar = progress if isinstance(progress, Progress) else Progress(enabled=bool(progress))
    folds = list(range(spec.n_folds)) if folds is None else list(folds)
    report = EvalReport(protocol=protocol, protocol_digest=spec.digest, seeds=list(seeds), folds=folds,
                        settings=settings.model_dump(mode="json"), configurations=[configuration(n) for n in settings.configurations])
    vocabulary = load_vocabulary()
    try:
        recordings = load_recordings(spec, root, vocabulary)
    except DataNotFoundError as exc:
        log.warning("%s skipped: %s", protocol, exc)
        report.skipped = f"dataset not available ({exc})"
        return _finish(report, out_json, started)
    text_encoder = TextEncoder()
    digest = settings.digest(spec.digest)
    partial = Path(out_json).with_suffix(".partial.jsonl") if out_json is not None else None
    runs = _load_partial(partial, digest) if resume else []
    done = {(r.fold, r.seed) for r in runs}
    with bar.task(f"{protocol}: folds x seeds", total=len(folds) * len(seeds)) as advance:
        for fold in folds:
            split = load_split(protocol, fold, root=root, vocabulary=vocabulary, recordings=recordings)
            for seed in seeds:
                if (fold, seed) not in done:
                    new = evaluate_split(split, seed, settings, vocabulary, text_encoder, bar)
                    _save_partial(partial, digest, new)
                    runs.extend(new)
                advance(f"fold {fold} seed {seed}")
    report.runs = [r for r in runs if r.fold in folds and r.seed in seeds]
    report.summary = summarise(report.runs, report.configurations)
    report.prototype_stats = prototype_stats(spec.activities, vocabulary, text_encoder, settings.tradeoff, settings.threads)
    report.training_times = _training_times(report.runs)
    report.findings = findings(report.summary, report.prototype_stats)
    report.bars = bars(report.summary)
    return _finish(report, out_json, started)


def _finish(report: EvalReport, out_json: str | Path | None, started: float) -> EvalReport:
    report.seconds = time.perf_counter() - started
    if out_json is not None:
        path = Path(out_json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(report.model_dump_json(indent=1), encoding="utf-8")
    return report
