"""Text prototypes of activities: label names, descriptions, prompt ensembles, and separability-optimised ones.

A prototype only needs text, so any activity of the vocabulary (seen or unseen) has one. Each stored
prototype carries the sha256 of the exact text that produced it: a pack whose vocabulary text changed is
detected instead of silently comparing windows against stale vectors.

Separability optimisation (after the study we build on): description embeddings of related activities
sit close together (e.g. the two treadmill walks), which makes zero-shot decisions between them fragile.
We move the prototypes on the unit sphere to enlarge the smallest angular margin between any two
activities while a penalty keeps each near its description embedding; `tradeoff` weighs the two.
"""

from __future__ import annotations

import logging
import re
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from encoders.errors import EncoderError
from encoders.text import TextEncoder, text_sha256
from recordings.vocabulary import Activity, Vocabulary

log = logging.getLogger(__name__)

PrototypeKind = Literal["name", "description", "ensemble", "optimised"]


def attribute_sentences(activity: Activity) -> list[str]:
    """Plain-language sentences from the attribute signature (cadence in words, not numbers MiniLM ignores)."""
    a = activity.attributes
    out: list[str] = []
    if a.torso is not None:
        out.append(f"The torso is {a.torso}." if a.torso != "varies" else "The torso angle keeps changing.")
    if a.lying_side is not None:
        out.append(f"Lying on the {a.lying_side}.")
    if a.periodic is not None:
        out.append("The movement is rhythmic and repeating." if a.periodic else "There is no rhythmic movement.")
    if a.intensity is not None:
        out.append(f"The intensity is {a.intensity.replace('_', ' ')}.")
    if a.moving_parts is not None:
        parts = " and ".join(a.moving_parts)
        out.append(f"The {parts} move." if a.moving_parts else "The body is still.")
    return out


def text_views(activity: Activity, kind: PrototypeKind) -> list[str]:
    """The texts whose (mean) embedding is the prototype of `activity` for `kind`."""
    if kind == "name":
        return [activity.label_name]
    if kind == "description":
        return [activity.description]
    if kind == "ensemble":
        sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", activity.description) if s.strip()]
        return [activity.label_name, *activity.synonyms, activity.description, *sentences, " ".join(attribute_sentences(activity))]
    raise EncoderError(f"prototype kind {kind!r} is not built from text views", fix="use name, description or ensemble")


class Prototype(BaseModel):
    """One activity's unit-length vector and the text it came from."""

    model_config = ConfigDict(extra="forbid")

    activity: str
    texts: list[str]
    text_sha256: str = Field(description="sha256 of the texts joined by newlines")
    vector: list[float]


class PrototypeSet(BaseModel):
    """Prototypes of several activities in one space, as stored in a pack (`prototypes_<kind>.json`)."""

    model_config = ConfigDict(extra="forbid")

    kind: PrototypeKind
    text_model: str
    space: str = Field(description="'text' (raw MiniLM) or 'projected' (after the encoder's text projection)")
    prototypes: list[Prototype]
    notes: dict[str, float | str] = Field(default_factory=dict, description="e.g. optimisation trade-off")

    @property
    def activities(self) -> tuple[str, ...]:
        return tuple(p.activity for p in self.prototypes)

    @property
    def matrix(self) -> np.ndarray:
        return np.asarray([p.vector for p in self.prototypes], dtype=np.float32)

    def select(self, activities: list[str] | tuple[str, ...]) -> np.ndarray:
        """(A, D) rows in the order of `activities`."""
        lookup = {p.activity: i for i, p in enumerate(self.prototypes)}
        missing = [a for a in activities if a not in lookup]
        if missing:
            raise EncoderError(f"no {self.kind} prototype for {missing}", fix="build prototypes for these activities")
        return self.matrix[[lookup[a] for a in activities]]

    def verify(self, vocabulary: Vocabulary) -> None:
        """Raise if a prototype's text no longer matches the vocabulary's (stale pack)."""
        source = str(self.notes.get("base", "description")) if self.kind == "optimised" else self.kind
        for proto in self.prototypes:
            current = text_views(vocabulary[proto.activity], source)  # type: ignore[arg-type]
            if text_sha256("\n".join(current)) != proto.text_sha256:
                raise EncoderError(
                    f"the {self.kind} prototype of {proto.activity!r} was built from different text",
                    fix="rebuild the encoder's prototypes for the current vocabulary",
                )


def embed_views(
    activities: list[str] | tuple[str, ...], kind: PrototypeKind, vocabulary: Vocabulary, text_encoder: TextEncoder
) -> tuple[list[list[str]], list[np.ndarray]]:
    """Per activity: its texts and their (n_views, D) raw embeddings."""
    texts = [text_views(vocabulary[a], kind) for a in activities]
    flat = text_encoder.encode([t for group in texts for t in group])
    bounds = np.cumsum([0] + [len(g) for g in texts])
    return texts, [flat[bounds[i] : bounds[i + 1]] for i in range(len(texts))]


def normalise(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def make_set(
    activities: list[str] | tuple[str, ...],
    texts: list[list[str]],
    vectors: np.ndarray,
    kind: PrototypeKind,
    space: str,
    text_model: str,
    notes: dict | None = None,
) -> PrototypeSet:
    protos = [
        Prototype(activity=a, texts=t, text_sha256=text_sha256("\n".join(t)), vector=[float(v) for v in vec])
        for a, t, vec in zip(activities, texts, vectors)
    ]
    return PrototypeSet(kind=kind, text_model=text_model, space=space, prototypes=protos, notes=notes or {})


class Separability(BaseModel):
    """How far apart prototypes are: inter-prototype cosines (lower = more separable)."""

    min_cosine: float
    mean_cosine: float
    max_cosine: float = Field(description="the closest pair; 1 - this bounds the smallest margin")
    min_angle_deg: float = Field(description="smallest angle between two prototypes")
    closest_pair: tuple[str, str]


def separability(matrix: np.ndarray, activities: list[str] | tuple[str, ...]) -> Separability:
    if len(activities) < 2:
        raise EncoderError("separability needs at least two prototypes")
    m = normalise(np.asarray(matrix, dtype=np.float64))
    cos = m @ m.T
    off = ~np.eye(len(m), dtype=bool)
    i, j = np.unravel_index(np.where(off, cos, -np.inf).argmax(), cos.shape)
    return Separability(
        min_cosine=float(cos[off].min()),
        mean_cosine=float(cos[off].mean()),
        max_cosine=float(cos[i, j]),
        min_angle_deg=float(np.degrees(np.arccos(np.clip(cos[i, j], -1, 1)))),
        closest_pair=(activities[i], activities[j]),
    )


def optimise_separability(
    anchors: np.ndarray,
    tradeoff: float = 1.0,
    steps: int = 300,
    lr: float = 0.01,
    sharpness: float = 50.0,
    seed: int = 0,
    within_span: bool = True,
) -> np.ndarray:
    """Move unit vectors apart: minimise a smooth maximum of the pairwise cosines + tradeoff * mean (1 - cos to anchor).

    `sharpness` turns the max over pairs into a log-sum-exp so every close pair gets gradient; a larger
    `tradeoff` keeps prototypes nearer their text. With `within_span` (default) each prototype stays a
    combination of the anchors: in 384 dimensions any 19 vectors can be made orthogonal by adding
    directions no window embedding ever uses, which "separates" the prototypes only on paper while
    scaling every score down; inside the anchors' span, separating means reweighting what the text
    embeddings share and what tells them apart. Deterministic (full-batch Adam from the anchors).
    """
    if tradeoff < 0:
        raise EncoderError(f"tradeoff {tradeoff} must be >= 0")
    torch.manual_seed(seed)
    anchor = torch.as_tensor(normalise(np.asarray(anchors, dtype=np.float64)), dtype=torch.float64)
    n = anchor.shape[0]
    if within_span:
        param = torch.eye(n, dtype=torch.float64).requires_grad_(True)
        vectors = lambda: torch.nn.functional.normalize(param @ anchor, dim=1)  # noqa: E731
    else:
        param = anchor.clone().requires_grad_(True)
        vectors = lambda: torch.nn.functional.normalize(param, dim=1)  # noqa: E731
    opt = torch.optim.Adam([param], lr=lr)
    off = ~torch.eye(n, dtype=torch.bool)
    for _ in range(steps):
        p = vectors()
        spread = torch.logsumexp(sharpness * (p @ p.T)[off], dim=0) / sharpness
        stay = (1 - (p * anchor).sum(dim=1)).mean()
        loss = spread + tradeoff * stay
        opt.zero_grad()
        loss.backward()
        opt.step()
    return vectors().detach().numpy().astype(np.float32)
