"""kNN-vote macro-F1 with standardised knowledge-base features, per placement fused by RRF vs one
concatenated index (issue 5's feature baseline; the encoder-embedding variant needs a trained encoder)."""

from __future__ import annotations

import json
import sys

import numpy as np

from knowledge_base.features import FeatureExtractor
from recordings.protocols import load_split
from retrieval.voting import compare_knn_strategies


def standardised_by_placement(features: np.ndarray, names: list[str], mean: np.ndarray, std: np.ndarray) -> dict[str, np.ndarray]:
    """Standardised (with reference statistics) feature columns grouped by the placement they describe."""
    scaled = (features - mean) / std
    placements = [n.split(".")[0] for n in names]
    groups = {p: [i for i, q in enumerate(placements) if q == p] for p in dict.fromkeys(placements) if "~" not in p}
    return {p: np.ascontiguousarray(scaled[:, cols], dtype=np.float32) for p, cols in groups.items()}


def run_knn_features(protocols: tuple[str, ...] = ("dsads-xsub", "hapt-xsub"), k: int = 10) -> list[dict]:
    records = []
    for protocol in protocols:
        split = load_split(protocol)
        extractor = FeatureExtractor(show_progress=False).fit(split.reference)
        reference, test = extractor.transform(split.reference), extractor.transform(split.test)
        mean, std = reference.mean(axis=0), reference.std(axis=0) + 1e-6
        names = list(extractor.feature_names_)
        comparison = compare_knn_strategies(
            standardised_by_placement(reference, names, mean, std), split.reference.label_names,
            standardised_by_placement(test, names, mean, std), split.test.label_names,
            k=k, metric="l2", fusion="concat_raw", per_placement=False,
        )  # fmt: skip
        for strategy, score in comparison.strategies.items():
            records.append({"protocol": protocol, "fold": None, "system": f"knn-features-{strategy}",
                            "macro_f1": score.macro_f1, "accuracy": score.accuracy})  # fmt: skip
    return records


if __name__ == "__main__":
    results = run_knn_features()
    print(json.dumps(results, indent=2))
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as handle:
            json.dump(results, handle, indent=2)
