"""Label-free choice of the final clustering: the most stable epoch.

Measured on the stand-ins (bench/selection_study.py, BENCHMARKS.md), the embedding is good
for most of training, but the clustering of the last epoch is not: on Baron_mouse1 it
scores ARI 0.52-0.54 where most epochs give 0.75-0.78, because late epochs sometimes
drift or k-means lands on a poor partition. The model is therefore clustered every
``stride`` epochs, and the partition kept is the one that agrees best (mean ARI) with the
partitions of its neighbouring candidate epochs: a clustering that the training keeps
reproducing, not a passing one. It reads no label.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.metrics import adjusted_rand_score


def candidate_epochs(epochs: int, stride: int, window: int | None = None) -> list[int]:
    """The epochs (1-based) whose clusterings are candidates: the multiples of ``stride``
    (within the last ``window`` epochs when given), and the last epoch."""
    first = 1 if window is None else max(1, epochs - window + 1)
    stride = max(1, stride)
    return sorted({e for e in range(first, epochs + 1) if e % stride == 0} | {epochs})


def most_stable_partition(partitions: Sequence[np.ndarray], reach: int = 2) -> int:
    """Index of the partition with the highest mean ARI to the ``reach`` partitions before
    and after it in the sequence (ties: the later one).

    partitions: M label vectors of the same N cells, in epoch order. O(M reach N) time.
    """
    m = len(partitions)
    if m == 1:
        return 0
    score = np.empty(m)
    for i in range(m):
        near = [j for j in range(i - reach, i + reach + 1) if j != i and 0 <= j < m]
        score[i] = np.mean([adjusted_rand_score(partitions[i], partitions[j]) for j in near])
    return int(np.flatnonzero(score >= score.max() - 1e-12)[-1])
