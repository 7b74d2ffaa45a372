"""Reference packs: everything harlens learns from reference data, in one folder.

`build_pack` runs the protocol's reference split through each component and writes
`knowledge_base/`, `encoder/`, `retrieval/` and `manifest.json` (versions, hashes, protocol, timings).
`load_pack` reads the manifest and refuses a pack whose files or protocol no longer match.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, ValidationError

from recordings.channels import channels_of, placements_of
from recordings.datasets import file_sha256
from recordings.errors import RecordingError
from recordings.protocols import get_protocol, load_split
from recordings.vocabulary import load_vocabulary
from recordings.windows import Windows

log = logging.getLogger(__name__)
MANIFEST_FILE = "manifest.json"
PACK_FORMAT = 1
COMPONENTS = ("knowledge_base", "encoder", "retrieval", "fusion")
FUSION_FILE = "fusion.json"
CONTEXT_KB_FOLDER = "context_knowledge_base"  # inside the fusion folder: the second pass's knowledge base
CONTEXT_NEIGHBOURS_FOLDER = "context_neighbours"  # inside the fusion folder: the reference bouts it searches
CONTEXT_LINEAR_FOLDER = "context_linear"  # inside the fusion folder: the bout context's linear model


class PackError(RuntimeError):
    """A pack that cannot be built, found or trusted."""


class ComponentRecord(BaseModel):
    folder: str
    sha256: str = Field(description="hash over the component's files, checked at load")
    build_s: float


class PackManifest(BaseModel):
    format: int = PACK_FORMAT
    harlens_version: str
    protocol: str
    protocol_digest: str
    fold: int | None
    activities: list[str] = Field(description="every activity the pack can answer, seen and unseen")
    seen: list[str] = Field(description="activities with reference windows")
    channels: list[str]
    sampling_rate_hz: float
    window_s: float
    stride_s: float
    reference_windows: int
    placements: list[str] | None = Field(default=None, description="the placements the pack was restricted to "
                                         "(`harlens build --placements`); None: all of the protocol's")  # fmt: skip
    components: dict[str, ComponentRecord]
    built_at: datetime
    build_s: float

    @property
    def zero_shot(self) -> bool:
        """Some activities have no reference windows (their fusion needs a seen gate)."""
        return set(self.activities) != set(self.seen)


def _folder_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(bytes.fromhex(file_sha256(path)))
    return digest.hexdigest()


def _version() -> str:
    from importlib.metadata import version

    return version("harlens")


def reference_metadata(windows: Windows) -> pd.DataFrame:
    """The retrieval metadata table of reference windows (one row per window, ids = row order)."""
    return pd.DataFrame(
        {
            "dataset": [str(r).split("/")[0] for r in windows.recording_ids],
            "subject": windows.subjects.astype(str),
            "activity": windows.label_names.astype(str),
            "recording": windows.recording_ids.astype(str),
            "start_s": windows.start_s.astype(float),
        }
    )


def _build_knowledge_base(reference: Windows, folder: Path, vocabulary) -> None:
    from knowledge_base.base import KnowledgeBase

    KnowledgeBase().fit(reference, vocabulary).save(folder)


def _build_encoder(reference: Windows, folder: Path, vocabulary, activities: list[str], epochs: int | None) -> None:
    from encoders.model import IMUEncoder

    extra = tuple(a for a in activities if a not in set(reference.label_names))
    config = _encoder_config(epochs, text_view_for(bool(extra)))
    IMUEncoder(config, vocabulary=vocabulary).fit(reference).save(folder, extra_activities=extra)


def outdated_reason(path: str | Path, encoder_epochs: int | None = None) -> str | None:
    """Why a readable pack is not what this harlens would build now (its encoder was trained with other
    settings or cut short by a time budget, or its fusion lacks a bout context, bout neighbours, the choice of
    their features or the bout linear model, was fitted on 2 held-out folds, or lacks weights for some of its
    placements), or None. A user's pack stays valid (it stores its own settings); a benchmark or the demo,
    which report on the current code, rebuild such a pack."""
    from agent.sources import placement_subsets, subset_key

    manifest = load_manifest(path, verify=False)
    stored = json.loads((Path(path) / "encoder" / "encoder_config.json").read_text(encoding="utf-8"))["train"]
    current = _encoder_config(encoder_epochs, text_view_for(manifest.zero_shot)).train.model_dump(mode="json")
    # a time budget changes nothing unless it cut the training short, which the training log says
    changed = sorted(key for key in current if key != "max_train_seconds" and stored.get(key) != current[key])
    if changed:
        return f"its encoder was trained with other {', '.join(changed)} settings"
    log_file = Path(path) / "encoder" / "train_log.json"
    trained = json.loads(log_file.read_text(encoding="utf-8")) if log_file.is_file() else {}
    if trained.get("stopped_early"):
        return (f"its encoder's training was cut short by a time budget after {trained.get('epochs_run')} of "
                f"{current['epochs']} epochs (this machine was slower than the budget assumed)")
    fusion = json.loads((Path(path) / "fusion" / FUSION_FILE).read_text(encoding="utf-8"))
    if fusion.get("context_half_width_s") is None:
        return "its fusion predates the bout context (second pass)"
    if "context_neighbours_weight" not in fusion:
        return "its fusion predates the nearest reference bouts (second pass)"
    if "context_neighbours_top_k" not in fusion:
        return "its fusion predates the choice of the bout neighbours' features"
    if "context_linear_weight" not in fusion:
        return "its fusion predates the bout context's linear model"
    if fusion.get("held_out_folds") is None:
        return f"its fusion was fitted on 2 folds of reference subjects, not {CALIBRATION_FOLDS}"
    subsets = {subset_key(subset) for subset in placement_subsets(placements_of(manifest.channels))}
    if set(fusion.get("placement_weights", {})) != subsets:
        return "its fusion predates the weights for a recording with some of its placements"
    return None


def stale_reason(path: str | Path, protocol: str, fold: int | None = None, encoder_epochs: int | None = None,
                 placements: tuple[str, ...] | None = None) -> str | None:  # fmt: skip
    """Why the folder does not hold a pack that a run reporting on the current code (the demo, the benchmarks)
    may reuse: missing, unreadable or incomplete, built for another protocol, fold or placement set, or
    outdated. None when it may be reused."""
    path = Path(path)
    if not (path / MANIFEST_FILE).is_file():
        return "there is no pack there yet"
    try:
        manifest, _ = open_pack(path)
    except PackError as error:
        return str(error)
    if (manifest.protocol, manifest.fold) != (protocol, fold):
        return f"it was built for {manifest.protocol} fold {manifest.fold}, not {protocol} fold {fold}"
    if set(manifest.placements or []) != set(placements or []):
        return f"it was built for placements {manifest.placements or 'all'}, not {list(placements or []) or 'all'}"
    return outdated_reason(path, encoder_epochs)


def reuse_or_rebuild(protocol: str, folder: str | Path, fold: int | None = None, *, progress=None,
                     encoder_epochs: int | None = None, placements: tuple[str, ...] | None = None) -> bool:  # fmt: skip
    """Keep the pack in `folder` when :func:`stale_reason` finds nothing, else delete the folder and build the
    pack again. Only for folders a run owns (the demo's, the benchmarks'): a user's pack is never deleted.
    True when the pack was reused."""
    import shutil

    folder = Path(folder)
    reason = stale_reason(folder, protocol, fold, encoder_epochs, placements)
    if reason is None:
        return True
    if progress:
        progress(f"building the {protocol} pack in {folder}: {reason}")
    if folder.exists():
        shutil.rmtree(folder)
    build_pack(protocol, folder, fold, progress=progress, encoder_epochs=encoder_epochs, placements=placements)
    return False


def placement_channels(channels: list[str] | tuple[str, ...], placements: tuple[str, ...]) -> list[str]:
    """The channels of the named placements, in the given channel order."""
    available = placements_of(channels)
    unknown = [p for p in placements if p not in available]
    if unknown or not placements:
        raise PackError(f"placements {list(placements)} are not all in the protocol's data, which has {available}; "
                        "name one or more of those")  # fmt: skip
    return channels_of(channels, placements)


def text_view_for(zero_shot: bool) -> str:
    """Label names for packs with unseen activities: cross-entropy on name prototypes (CE-name-cos) was
    selected for the generalised setting on reference-only development splits (`encoders.configurations.
    DEV_SELECTED`); descriptions otherwise (the better prototype scores when every activity is seen)."""
    return "name" if zero_shot else "description"


def _encoder_config(epochs: int | None, text_view: str = "description"):
    from encoders.config import EncoderConfig

    config = EncoderConfig()
    update = {"text_view": text_view} | ({"epochs": epochs} if epochs is not None else {})
    return config.model_copy(update={"train": config.train.model_copy(update=update)})


def _build_retrieval(reference: Windows, folder: Path, encoder_folder: Path, vocabulary) -> None:
    from encoders.model import IMUEncoder
    from retrieval.multi import MultiPlacementIndex

    encoder = IMUEncoder.load(encoder_folder, vocabulary=vocabulary)
    vectors = encoder.embed_placements(reference)
    dimension = next(iter(vectors.values())).shape[1]
    index = MultiPlacementIndex(list(vectors), dimension, encoder_hash=_folder_hash(encoder_folder))
    index.fit(vectors, reference_metadata(reference)).save(folder)


# The fusion is fitted on reference subjects held out in this many folds. With three, each fold's components
# are trained on four of dsads' six reference people (three with two folds), nearer the final pack's six; the
# folds' first-pass NLL on dsads-xsub went 0.266 -> 0.171. Each fold trains its own encoder, so the build takes
# longer (dsads-xsub 266 s -> 352 s on the same 2-core machine).
CALIBRATION_FOLDS = 3
CALIBRATION_EPOCHS = 10


def _build_fusion(reference: Windows, folder: Path, pack: Path, spec, seen: list[str], vocabulary, progress,
                  epochs: int | None, fold: int | None = None) -> None:  # fmt: skip
    """Fit the fusion on out-of-sample scores: the reference subjects are split in folds, and for each fold
    a knowledge base, an encoder (fewer epochs) and indexes are fitted on the other subjects."""
    from agent.candidates import FusionSettings
    from agent.context import fit_context_sources
    from agent.sources import fit_fusion

    final = _open_components(pack, list(spec.activities), seen, spec, reference.sampling_rate_hz,
                             list(reference.channels), vocabulary)  # fmt: skip
    subjects = sorted(set(reference.subjects.astype(str)))
    if len(subjects) < 2:
        raise PackError(f"the reference split has {len(subjects)} subject(s); fitting the fusion needs at least 2")
    pseudo_unseen: tuple[str, ...] = ()
    if set(spec.activities) != set(seen):  # zero-shot pack: some seen activities play unseen, to fit the seen gate
        from encoders.calibration import choose_inner_split

        pseudo_unseen = choose_inner_split(tuple(seen), tuple(subjects), spec.unseen_folds, fold, seed=0).unseen
    folds = []
    for number in range(min(CALIBRATION_FOLDS, len(subjects))):
        held = np.isin(reference.subjects.astype(str), subjects[number::CALIBRATION_FOLDS])
        if progress:
            progress(f"fusion: fitting held-out fold {number + 1} (holding out {', '.join(subjects[number::CALIBRATION_FOLDS])}"
                     + (f"; pseudo-unseen {', '.join(pseudo_unseen)})" if pseudo_unseen else ")"))  # fmt: skip
        folds.append(_held_out_fold(reference, held, final, vocabulary, epochs, pseudo_unseen))
    settings = FusionSettings(prototype_kind=final.encoder.config_.train.text_view)
    model = fit_fusion(final, reference, folds, settings, progress=progress)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / FUSION_FILE).write_text(model.model_dump_json(indent=1), encoding="utf-8")
    if progress:
        progress(f"fusion: context knowledge base over ±{model.context_half_width_s:g} s bouts")
    features = final.knowledge_base.transform(reference)
    sources = fit_context_sources(reference, features, model.context_half_width_s,
                                  with_neighbours=model.context_neighbours_weight > 0,
                                  with_linear=model.context_linear_weight > 0, top_k=model.context_neighbours_top_k)
    sources.knowledge_base.save(folder / CONTEXT_KB_FOLDER)
    if sources.neighbours is not None:
        sources.neighbours.save(folder / CONTEXT_NEIGHBOURS_FOLDER)
    if sources.linear is not None:
        sources.linear.save(folder / CONTEXT_LINEAR_FOLDER)


def _held_out_fold(reference: Windows, held: np.ndarray, final, vocabulary, epochs: int | None,
                   pseudo_unseen: tuple[str, ...] = ()):  # fmt: skip
    from agent.sources import HeldOutFold, ReferenceComponents, class_centroids
    from encoders.model import IMUEncoder
    from knowledge_base.base import KnowledgeBase
    from retrieval.multi import MultiPlacementIndex

    names = np.asarray(reference.label_names, dtype=object).astype(str)
    train = reference.subset(~held & ~np.isin(names, pseudo_unseen))
    fold_seen = [a for a in final.seen if a not in set(pseudo_unseen)]
    kb = KnowledgeBase(show_progress=False)
    train_features = kb.new_extractor().set_params(show_progress=False).fit(train).transform(train)
    kb.fit(train, features=train_features)
    config = _encoder_config(min(epochs or CALIBRATION_EPOCHS, CALIBRATION_EPOCHS), final.encoder.config_.train.text_view)
    encoder = IMUEncoder(config, vocabulary=vocabulary).fit(train)
    vectors = encoder.embed_placements(train)
    dimension = next(iter(vectors.values())).shape[1]
    index = MultiPlacementIndex(list(vectors), dimension).fit(vectors, reference_metadata(train))
    components = ReferenceComponents(
        knowledge_base=kb, encoder=encoder, index=index, activities=final.activities, seen=fold_seen,
        window_s=final.window_s, stride_s=final.stride_s, sampling_rate_hz=final.sampling_rate_hz, channels=final.channels,
    )  # fmt: skip
    centroids = class_centroids(encoder.embed(train), np.asarray(train.label_names, dtype=object), fold_seen)
    return HeldOutFold(components=components, centroids=centroids, held_out=reference.subset(held), train=train,
                       train_features=train_features)  # fmt: skip


def _open_components(pack: Path, activities, seen, spec, rate, channels, vocabulary, fusion=None):
    from agent.sources import ReferenceComponents
    from encoders.model import IMUEncoder
    from knowledge_base.base import KnowledgeBase
    from knowledge_base.linear import LinearFeatureModel
    from retrieval.feature_neighbours import FeatureNeighbours
    from retrieval.multi import MultiPlacementIndex

    context = pack / "fusion" / CONTEXT_KB_FOLDER
    neighbours = pack / "fusion" / CONTEXT_NEIGHBOURS_FOLDER
    linear = pack / "fusion" / CONTEXT_LINEAR_FOLDER
    return ReferenceComponents(
        context_knowledge_base=KnowledgeBase.load(context) if fusion is not None and context.is_dir() else None,
        context_neighbours=FeatureNeighbours.load(neighbours) if fusion is not None and neighbours.is_dir() else None,
        context_linear=LinearFeatureModel.load(linear) if fusion is not None and linear.is_dir() else None,
        knowledge_base=KnowledgeBase.load(pack / "knowledge_base"),
        encoder=IMUEncoder.load(pack / "encoder", vocabulary=vocabulary),
        index=MultiPlacementIndex.load(pack / "retrieval", encoder_hash=_folder_hash(pack / "encoder")),
        activities=list(activities), seen=list(seen), window_s=spec.window_s, stride_s=spec.stride_s,
        sampling_rate_hz=rate, channels=list(channels), fusion=fusion,
    )  # fmt: skip


def open_pack(path: str | Path, verify: bool = True):
    """A complete pack as :class:`agent.sources.ReferenceComponents`, ready to analyse recordings."""
    from agent.candidates import FusionModel

    path = Path(path)
    manifest = load_manifest(path, verify=verify)
    missing = [c for c in COMPONENTS if c not in manifest.components]
    if missing:
        raise PackError(f"{path} lacks {missing}; analysis needs a full pack: `{_rebuild_command(manifest)}`")
    try:
        fusion = FusionModel.model_validate_json((path / "fusion" / FUSION_FILE).read_text(encoding="utf-8"))
    except ValidationError as exc:
        raise PackError(f"{path / 'fusion' / FUSION_FILE} does not fit this harlens ({exc.errors()[0]['msg']}); rebuild "
                        f"it: `{_rebuild_command(manifest)}`") from None  # fmt: skip
    if fusion.context_weight > 0 and not (path / "fusion" / CONTEXT_KB_FOLDER).is_dir():
        raise PackError(f"{path / 'fusion'} has a bout-context weight but no {CONTEXT_KB_FOLDER}; rebuild it: "
                        f"`{_rebuild_command(manifest)}`")  # fmt: skip
    if fusion.context_neighbours_weight > 0 and not (path / "fusion" / CONTEXT_NEIGHBOURS_FOLDER).is_dir():
        raise PackError(f"{path / 'fusion'} has a bout-neighbours weight but no {CONTEXT_NEIGHBOURS_FOLDER}; rebuild "
                        f"it: `{_rebuild_command(manifest)}`")  # fmt: skip
    if fusion.context_linear_weight > 0 and not (path / "fusion" / CONTEXT_LINEAR_FOLDER).is_dir():
        raise PackError(f"{path / 'fusion'} has a bout linear-model weight but no {CONTEXT_LINEAR_FOLDER}; rebuild "
                        f"it: `{_rebuild_command(manifest)}`")  # fmt: skip
    if manifest.zero_shot and fusion.seen_gate is None:
        raise PackError(f"{path} was built by an older harlens whose zero-shot fusion has no seen gate; rebuild it: "
                        f"`{_rebuild_command(manifest)}`")  # fmt: skip
    spec = get_protocol(manifest.protocol)
    return manifest, _open_components(path, manifest.activities, manifest.seen, spec, manifest.sampling_rate_hz,
                                      manifest.channels, load_vocabulary(), fusion)  # fmt: skip


def _rebuild_command(manifest: PackManifest) -> str:
    return build_command(manifest.protocol, manifest.fold, manifest.placements or ())


def build_command(protocol: str, fold: int | None = None, placements: list[str] | tuple[str, ...] = ()) -> str:
    """The `harlens build` command line for such a pack (the output folder left to the user)."""
    options = ([] if fold is None else [f"--fold {fold}"]) + [f"--placements {p}" for p in placements]
    return " ".join(["harlens build --protocol", protocol, *options, "--out NEW_FOLDER"])


def build_pack(
    protocol: str,
    out: str | Path,
    fold: int | None = None,
    components: tuple[str, ...] = COMPONENTS,
    progress=None,
    encoder_epochs: int | None = None,
    placements: tuple[str, ...] | None = None,
) -> PackManifest:
    """Build a reference pack from a protocol's reference split (test subjects are never read into it);
    `placements` restricts it to those sensors' channels, for recordings that have only them."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise PackError(f"{out} exists and is not empty; choose a new folder or delete it")
    unknown = set(components) - set(COMPONENTS)
    needs = {"retrieval": {"encoder"}, "fusion": {"knowledge_base", "encoder", "retrieval"}}
    if unknown or any(name in components and not needed <= set(components) for name, needed in needs.items()):
        raise PackError(f"components must be a subset of {COMPONENTS} (retrieval needs the encoder; fusion needs "
                        f"all three others), got {components}")
    started = time.perf_counter()
    spec = get_protocol(protocol)
    vocabulary = load_vocabulary()
    split = load_split(protocol, fold, vocabulary=vocabulary)
    reference = split.reference
    if placements:
        reference = reference.select_channels(placement_channels(reference.channels, tuple(placements)))
        placements = tuple(reference.placements)  # data order, once each
    out.mkdir(parents=True, exist_ok=True)
    records: dict[str, ComponentRecord] = {}
    steps = {
        "knowledge_base": lambda folder: _build_knowledge_base(reference, folder, vocabulary),
        "encoder": lambda folder: _build_encoder(reference, folder, vocabulary, list(spec.activities), encoder_epochs),
        "retrieval": lambda folder: _build_retrieval(reference, folder, out / "encoder", vocabulary),
        "fusion": lambda folder: _build_fusion(reference, folder, out, spec, list(split.seen), vocabulary, progress,
                                                encoder_epochs, fold),
    }
    for name in COMPONENTS:
        if name not in components:
            continue
        if progress:
            progress(f"building {name}")
        step_started = time.perf_counter()
        steps[name](out / name)
        records[name] = ComponentRecord(folder=name, sha256=_folder_hash(out / name), build_s=time.perf_counter() - step_started)
        log.info("%s built in %.1f s", name, records[name].build_s)
    manifest = PackManifest(
        harlens_version=_version(),
        protocol=protocol,
        protocol_digest=spec.digest,
        fold=fold,
        activities=list(spec.activities),
        seen=list(split.seen),
        channels=list(reference.channels),
        sampling_rate_hz=reference.sampling_rate_hz,
        window_s=spec.window_s,
        stride_s=spec.stride_s,
        reference_windows=len(reference),
        placements=list(placements) if placements else None,
        components=records,
        built_at=datetime.now(UTC),
        build_s=time.perf_counter() - started,
    )
    (out / MANIFEST_FILE).write_text(manifest.model_dump_json(indent=2), encoding="utf-8")
    return manifest


def load_manifest(path: str | Path, verify: bool = True) -> PackManifest:
    """A pack's manifest, after checking format, protocol digest and (by default) every component's hash."""
    path = Path(path)
    manifest_path = path / MANIFEST_FILE
    if not manifest_path.is_file():
        raise PackError(f"{path} is not a harlens pack (no {MANIFEST_FILE}); build one with `harlens build`")
    try:
        manifest = PackManifest.model_validate(json.loads(manifest_path.read_text(encoding="utf-8")))
    except (ValueError, json.JSONDecodeError) as exc:
        raise PackError(f"{manifest_path}: unreadable manifest ({exc}); rebuild the pack") from None
    if manifest.format != PACK_FORMAT:
        raise PackError(f"{path}: pack format {manifest.format}, this harlens reads {PACK_FORMAT}; rebuild the pack")
    try:
        spec = get_protocol(manifest.protocol)
    except RecordingError as exc:
        raise PackError(f"{path}: {exc}") from None
    if spec.digest != manifest.protocol_digest:
        raise PackError(f"{path}: protocol {manifest.protocol} changed since the pack was built; rebuild the pack")
    if verify:
        for name, record in manifest.components.items():
            if _folder_hash(path / record.folder) != record.sha256:
                raise PackError(f"{path / record.folder}: files changed since the pack was built; rebuild the pack")
    return manifest


def require_channels(manifest, channels: list[str] | tuple[str, ...]) -> list[str]:
    """The pack channels a recording provides, or an error naming what is missing and what to do.
    `manifest`: anything with the pack's `channels` (a PackManifest or opened ReferenceComponents)."""
    present = [c for c in manifest.channels if c in set(channels)]
    if not present:
        raise PackError(
            f"the recording's channels {list(channels)[:6]} share nothing with the pack's {manifest.channels[:6]}…; "
            "if the file's columns name no placement, say which with --placement (or --map), else use a pack built "
            "for these placements"
        )
    return present

