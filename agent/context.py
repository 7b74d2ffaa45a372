"""The second pass: what the bout around a window says, added to what the window says.

Pass one decides every window from itself and smooths the decisions along the recording; its runs of one
activity are the *provisional bouts*. Pass two averages each window's features over its provisional bout
within ±`half_width_s` (`knowledge_base.context`), lets the pack's context knowledge base vote on those
means, lets the labelled reference bouts nearest to them vote too (`retrieval.feature_neighbours`) and a
linear model of the reference bouts give its probabilities (`knowledge_base.linear`), and adds the three to
the fused evidence with the weights the pack fitted. They read the means differently: the knowledge base one
feature pair at a time, the neighbours by distance over all the ranked features, the linear model by
weighing those features jointly. A bout boundary found in pass one is never crossed, so a short bout keeps
its own evidence; a boundary pass one missed lets the context mix two activities, which is why the weights
and the width are fitted on held-out reference people arranged as continuous recordings (`fit_context`),
not on clean single-activity recordings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from agent.candidates import FusionModel, SourceScores, fuse, fused_seen_logits, log_softmax
from agent.timeline import DEFAULT_EXPECTED_BOUT_S, smooth_along_recordings
from knowledge_base.base import KnowledgeBase
from knowledge_base.context import bout_groups, context_means
from knowledge_base.linear import LinearFeatureModel
from recordings.windows import Windows
from retrieval.feature_neighbours import FeatureNeighbours

log = logging.getLogger(__name__)

CONTEXT_HALF_WIDTHS_S = (10.0, 15.0, 20.0)  # candidates tried on the held-out folds at build time
# The bout neighbours and the linear model read every feature (None) or only the union of each activity
# pair's top-k features in the context knowledge base; tried with each width. On dsads-xsub's folds the
# pairs' top 3 (about 270 of 1,395 features) lowered the neighbours' NLL from 0.185 to 0.154: all features at
# once drown the few that separate activities in noise.
CONTEXT_NEIGHBOUR_TOP_K: tuple[int | None, ...] = (None, 1, 3, 5, 10)
MAX_CONTEXT_WEIGHT = 50.0
PSEUDO_DAY_SEED = 0


def provisional_bouts(probabilities: np.ndarray, recording_ids: np.ndarray, start_s: np.ndarray, stride_s: float,
                      breaks: np.ndarray | None = None, expected_bout_s: float = DEFAULT_EXPECTED_BOUT_S) -> np.ndarray:  # fmt: skip
    """(N,) bout number per window from pass one: the runs of its decisions smoothed along each recording."""
    path = smooth_along_recordings(probabilities, recording_ids, start_s, stride_s, breaks, expected_bout_s)
    return bout_groups(recording_ids, start_s, path, breaks)


@dataclass(frozen=True)
class ContextSources:
    """The second pass's fitted sources; None for one a pack does not have."""

    knowledge_base: KnowledgeBase | None
    neighbours: FeatureNeighbours | None = None
    linear: LinearFeatureModel | None = None


def context_votes(sources: ContextSources, features: np.ndarray, feature_names: list[str], bouts: np.ndarray,
                  start_s: np.ndarray, half_width_s: float, seen: list[str],
                  pairwise_k: int) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:  # fmt: skip
    """(N, S) vote shares of the context knowledge base, of the nearest reference bouts and of the linear model
    on the bout-context means of `features` (columns named `feature_names`; computed once for all three); None
    for a source the pack does not have."""
    means = context_means(features, bouts, start_s, half_width_s)
    kb, near, linear = sources.knowledge_base, sources.neighbours, sources.linear
    return (None if kb is None else kb.pairwise_votes(means, seen, pairwise_k),
            None if near is None else near.vote_shares(near.pick(means, feature_names), seen),
            None if linear is None else linear.vote_shares(linear.pick(means, feature_names), seen))  # fmt: skip


def ranked_feature_names(knowledge_base: KnowledgeBase, top_k: int | None) -> list[str]:
    """The union of every activity pair's `top_k` ranked features, in the knowledge base's feature order (all
    features when `top_k` is None)."""
    names = list(knowledge_base.feature_names_)
    if top_k is None:
        return names
    chosen = {feature.name for ranking in knowledge_base.pairs_.values() for feature in ranking.features[:top_k]}
    return [name for name in names if name in chosen]


def fit_bout_models(windows: Windows, means: np.ndarray, knowledge_base: KnowledgeBase,
                    top_k: int | None) -> tuple[FeatureNeighbours, LinearFeatureModel]:  # fmt: skip
    """Nearest-neighbour votes and a linear model over the reference bout-context `means` (columns named as the
    knowledge base's features), both restricted to the features :func:`ranked_feature_names` picks."""
    kept = ranked_feature_names(knowledge_base, top_k)  # in the knowledge base's column order
    columns = np.flatnonzero(np.isin(knowledge_base.feature_names_, kept))
    labels = list(np.asarray(windows.label_names, dtype=object).astype(str))
    return (FeatureNeighbours().fit(means[:, columns], labels, feature_names=kept),
            LinearFeatureModel().fit(means[:, columns], labels, feature_names=kept))


def reference_context_features(windows: Windows, features: np.ndarray, half_width_s: float) -> np.ndarray:
    """Bout-context means of labelled reference windows: their bouts are their labelled runs."""
    bouts = bout_groups(windows.recording_ids, windows.start_s, windows.labels)
    return context_means(features, bouts, windows.start_s, half_width_s).astype(np.float32)


def fit_context_sources(windows: Windows, features: np.ndarray, half_width_s: float, with_neighbours: bool = True,
                        with_linear: bool = True, top_k: int | None = None) -> ContextSources:  # fmt: skip
    """The second pass's sources, fitted on the same bout-context means of the labelled reference runs: a
    knowledge base (its rankings pick what separates activities over ±half_width_s) and, unless told
    otherwise, the means indexed for nearest-neighbour votes and a linear model, both on the features the
    knowledge base ranks in each pair's top `top_k` (every feature when None)."""
    means, knowledge_base = _context_knowledge_base(windows, features, half_width_s)
    if not (with_neighbours or with_linear):
        return ContextSources(knowledge_base)
    neighbours, linear = fit_bout_models(windows, means, knowledge_base, top_k)
    return ContextSources(knowledge_base, neighbours if with_neighbours else None, linear if with_linear else None)


def _context_knowledge_base(windows: Windows, features: np.ndarray, half_width_s: float) -> tuple[np.ndarray, KnowledgeBase]:
    """The reference bout-context means and the knowledge base fitted on them."""
    means = reference_context_features(windows, features, half_width_s)
    return means, KnowledgeBase(show_progress=False).fit(windows, features=means)


def pseudo_days(windows: Windows, seed: int = PSEUDO_DAY_SEED) -> tuple[np.ndarray, np.ndarray]:
    """(recording ids, start times) that join each subject's recordings end to end in a seeded random order:
    held-out reference people as continuous recordings, so a context can straddle a change of activity as
    it does in a user's recording (DSADS ships one activity per recording)."""
    rng = np.random.default_rng(seed)
    ids = np.asarray(windows.recording_ids).astype(str)
    subjects = np.asarray(windows.subjects).astype(str)
    start = np.asarray(windows.start_s, dtype=np.float64)
    joined_start = np.empty_like(start)
    for subject in sorted(set(subjects)):
        offset = 0.0
        recordings = sorted(set(ids[subjects == subject]))
        for recording in rng.permutation(recordings):
            rows = np.flatnonzero((ids == recording) & (subjects == subject))
            first = start[rows].min()
            joined_start[rows] = start[rows] - first + offset
            offset = joined_start[rows].max() + windows.window_s
    return subjects, joined_start


@dataclass
class ContextFold:
    """One held-out fold as the context fit needs it."""

    train: Windows  # the fold's reference windows (its knowledge base was fitted on them)
    train_features: np.ndarray
    held_out: Windows
    held_features: np.ndarray
    scores: SourceScores  # the held-out windows' pass-one scores
    seen: list[str]


def fit_context(model: FusionModel, folds: list[ContextFold], stride_s: float, progress=None) -> FusionModel:
    """The half-width (of :data:`CONTEXT_HALF_WIDTHS_S`), the features of the neighbours and the linear model
    (of :data:`CONTEXT_NEIGHBOUR_TOP_K`) and the three weights of the second pass's votes (bout-context
    knowledge base, nearest reference bouts, linear model) with the lowest held-out NLL, the four pass-one
    weights fixed; the held-out people are joined into pseudo-days first. Every combination's weights, NLL
    and accuracy go into `context_fitted_on`."""
    prepared = []
    for fold in folds:
        fold_model = model.model_copy(update={"seen": fold.seen})
        ids, start = pseudo_days(fold.held_out)
        bouts = provisional_bouts(fuse(fold.scores, fold_model), ids, start, stride_s)
        labels = np.asarray(fold.held_out.label_names, dtype=object).astype(str)
        rows = np.flatnonzero(np.isin(labels, fold.seen))
        truth = np.array([fold.seen.index(a) for a in labels[rows]])
        base = fused_seen_logits(fold.scores, model.settings, model.weights)[rows]
        prepared.append((fold, bouts, start, rows, truth, base))
    bases, truths = [base for *_, base in prepared], [truth for *_, truth, _ in prepared]
    summary = {}
    for half_width in CONTEXT_HALF_WIDTHS_S:
        if progress:
            progress(f"fusion: fitting the bout context (±{half_width:g} s)")
        fitted = []  # per fold: what does not depend on the neighbours' features, computed once per width
        for fold, bouts, start, rows, truth, base in prepared:
            means, kb = _context_knowledge_base(fold.train, fold.train_features, half_width)
            held_means = context_means(fold.held_features, bouts, start, half_width)
            votes = np.log(kb.pairwise_votes(held_means, fold.seen, model.settings.pairwise_k)[rows] + model.settings.floor)
            fitted.append((fold, rows, means, kb, held_means, votes))
        for top_k in CONTEXT_NEIGHBOUR_TOP_K:
            contexts = []
            for fold, rows, means, kb, held_means, votes in fitted:
                names = list(kb.feature_names_)
                neighbours, linear = fit_bout_models(fold.train, means, kb, top_k)
                near = neighbours.vote_shares(neighbours.pick(held_means, names), fold.seen)
                probabilities = linear.vote_shares(linear.pick(held_means, names), fold.seen)
                contexts.append(np.stack([votes, np.log(near[rows] + model.settings.floor),
                                          np.log(probabilities[rows] + model.settings.floor)]))  # fmt: skip
            summary[(half_width, top_k)] = _best_weights(bases, contexts, truths)
    chosen = min(summary, key=lambda key: summary[key][1])
    (weight, neighbours_weight, linear_weight), nll, accuracy = summary[chosen]
    fitted_on = (f"held-out folds joined into pseudo-days; chose ±{chosen[0]:g} s, neighbours and linear model on "
                 f"{top_k_text(chosen[1])}; tried "
                 + ", ".join(f"±{h:g} s with {top_k_text(k)} (weights {w[0]:.2f} knowledge base, {w[1]:.2f} neighbours, "
                             f"{w[2]:.2f} linear; NLL {n:.3f}, accuracy {a:.3f})" for (h, k), (w, n, a) in summary.items())
                 + f"; without context NLL {model.reference_nll:.3f}, accuracy {model.reference_accuracy:.3f}")  # fmt: skip
    log.info("bout context: %s", fitted_on)
    return model.model_copy(update={"context_weight": weight, "context_neighbours_weight": neighbours_weight,
                                    "context_linear_weight": linear_weight, "context_half_width_s": chosen[0],
                                    "context_neighbours_top_k": chosen[1], "context_fitted_on": fitted_on})  # fmt: skip


def top_k_text(top_k: int | None) -> str:
    return "every feature" if top_k is None else f"each pair's top {top_k}"


def _best_weights(bases: list[np.ndarray], contexts: list[np.ndarray], truths: list[np.ndarray]) -> tuple[tuple[float, ...], float, float]:
    """(one weight per context source, NLL, accuracy): the weights in [0, MAX_CONTEXT_WEIGHT] minimising the
    pooled NLL of base + weights · contexts (each context (sources, N, S)); zero when no weight lowers it."""
    base, truth = np.concatenate(bases), np.concatenate(truths)
    context = np.concatenate(contexts, axis=1)
    rows = np.arange(len(truth))

    def nll(weights: np.ndarray) -> float:
        return float(-log_softmax(base + np.tensordot(weights, context, axes=1))[rows, truth].mean())

    n_sources = len(context)
    fitted = minimize(nll, np.ones(n_sources), bounds=[(0.0, MAX_CONTEXT_WEIGHT)] * n_sources, method="L-BFGS-B")
    weights = fitted.x if fitted.fun < nll(np.zeros(n_sources)) else np.zeros(n_sources)
    accuracy = float(((base + np.tensordot(weights, context, axes=1)).argmax(axis=1) == truth).mean())
    return tuple(float(w) for w in weights), nll(weights), accuracy
