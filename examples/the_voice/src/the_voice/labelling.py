"""The first labels, as a bank would get them without a labelled data set.

The train texts are taken as unlabelled. Their sentence embeddings (Universal Sentence Encoder
multilingual v3, `berth.text.embed`: L2-normalised, so KMeans' Euclidean distance is the cosine one)
are grouped by KMeans into k = 77 clusters (seeded). (TF-IDF + truncated SVD + KMeans, the previous
recipe, gave labels right for 34% of the texts and 55 categories; embeddings: 41%, 60.) An analyst
then names each cluster after reading 5 of its
texts: simulated here by the majority true category among 5 seeded sample texts of the cluster
(ties go to the category seen first). Every text of the cluster gets that name: these are the
initial labels, wrong wherever a cluster mixes categories or the 5 texts misled the analyst.
Several clusters may get one name and some categories none; the analysts' corrections fix that
later (the retraining loop).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CLUSTERS = 77
TEXTS_READ_PER_CLUSTER = 5
SEED = 7


@dataclass(frozen=True, slots=True)
class ClusterLabels:
    labels: list[str]
    """One label per text, in the order of the texts."""
    clusters: list[int]
    """Each text's cluster."""
    names: dict[int, str]
    """The name the analyst gave each cluster."""


def cluster_texts(texts: Sequence[str], *, k: int = CLUSTERS, seed: int = SEED) -> list[int]:
    """KMeans clusters (0..k-1) of the texts' sentence embeddings."""
    from sklearn.cluster import KMeans

    from berth.text import embed

    kmeans = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(embed(list(texts)))
    return [int(c) for c in kmeans.labels_]


def name_clusters(
    clusters: Sequence[int], truth: Sequence[str], *, read: int = TEXTS_READ_PER_CLUSTER, seed: int = SEED
) -> dict[int, str]:
    """The simulated analyst: each cluster is named after the majority true category of `read`
    texts drawn (seeded) from it."""
    rng = np.random.default_rng(seed)
    members: dict[int, list[int]] = {}
    for index, cluster in enumerate(clusters):
        members.setdefault(cluster, []).append(index)
    names = {}
    for cluster in sorted(members):
        sample = rng.choice(members[cluster], size=min(read, len(members[cluster])), replace=False)
        names[cluster] = Counter(truth[int(i)] for i in sample).most_common(1)[0][0]
    return names


def label_by_clusters(texts: Sequence[str], truth: Sequence[str], *, seed: int = SEED) -> ClusterLabels:
    """Initial labels of `texts`: their cluster's name (`truth` is only read for the 5 texts per
    cluster the analyst looks at)."""
    clusters = cluster_texts(texts, seed=seed)
    names = name_clusters(clusters, truth, seed=seed)
    return ClusterLabels([names[c] for c in clusters], clusters, names)
