"""Label-free choice of the final clustering: the medoid of the late-epoch clusterings.

Measured on the stand-ins (bench/selection_study.py, BENCHMARKS.md), the embedding is good
for most of training, but a single k-means run on the last epoch sometimes lands on a
poor partition (ARI 0.5 where the epochs around it give 0.77). Clustering several late
epochs and keeping the partition that agrees best with all the others (highest mean ARI
to them) removes those outliers. It reads no label.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.metrics import adjusted_rand_score


def candidate_epochs(epochs: int, window: int, stride: int) -> list[int]:
    """The epochs (1-based) whose clusterings are candidates: the multiples of ``stride``
    among the last ``window`` epochs, and the last epoch."""
    first = max(1, epochs - window + 1)
    stride = max(1, stride)
    return sorted({e for e in range(first, epochs + 1) if e % stride == 0} | {epochs})


def medoid_partition(partitions: Sequence[np.ndarray]) -> int:
    """Index of the partition with the highest mean ARI to the others (ties: the later).

    partitions: M label vectors of the same N cells. O(M^2 N) time, O(M^2) memory.
    """
    m = len(partitions)
    if m == 1:
        return 0
    agreement = np.zeros((m, m))
    for i in range(m):
        for j in range(i + 1, m):
            agreement[i, j] = agreement[j, i] = adjusted_rand_score(partitions[i], partitions[j])
    score = agreement.sum(1)
    return int(np.flatnonzero(score >= score.max() - 1e-12)[-1])
