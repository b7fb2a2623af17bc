"""Label-free choice of the final clustering among the clusterings of several epochs.

Measured on the stand-ins (an earlier study of saved per-epoch traces; see BENCHMARKS.md),
the clustering of a single epoch is unreliable: on Baron_mouse1 the last epoch scores ARI 0.52-0.54 where
most epochs give 0.75-0.78, and on Baron_mouse2 most epochs give 0.45-0.58 and a few
0.86. The model is therefore clustered every ``stride`` epochs (and on scRNA-seq data on
each of its first 9 epochs too, ``ScrclConfig.select_first``) and one partition is kept:

* 'silhouette' (default): the partition with the highest silhouette (cosine) on its own
  embedding, computed on a fixed sample of at most 3,000 cells: the best-separated one.
* 'stable': the partition that agrees best (mean ARI) with those of the neighbouring
  candidate epochs.

Neither reads a label.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.metrics import adjusted_rand_score, silhouette_score


def candidate_epochs(epochs: int, stride: int, window: int | None = None,
                     first: int = 0) -> list[int]:
    """The epochs (1-based) whose clusterings are candidates: the multiples of ``stride``
    (within the last ``window`` epochs when given), the last epoch, and epochs 1 to
    ``first`` (``select_first``; BENCHMARKS.md, "early candidates", measures it)."""
    start = 1 if window is None else max(1, epochs - window + 1)
    stride = max(1, stride)
    early = set(range(max(start, 1), min(first, epochs) + 1))
    return sorted({e for e in range(start, epochs + 1) if e % stride == 0} | {epochs} | early)


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


#: cells the silhouette of label-free selection is computed on (memory O(sample^2))
SILHOUETTE_SAMPLE = 3000


def silhouette(embedding: np.ndarray, labels: np.ndarray,
               sample: int = SILHOUETTE_SAMPLE) -> float:
    """Cosine silhouette of a partition on its embedding (N, d), on a fixed sample of at
    most ``sample`` cells (memory O(sample^2), whatever N). -1 for a single cluster."""
    n = embedding.shape[0]
    idx = np.random.default_rng(0).permutation(n)[:sample]
    if np.unique(labels[idx]).size < 2 or np.unique(labels[idx]).size >= idx.size:
        return -1.0
    return float(silhouette_score(np.asarray(embedding, dtype=np.float32)[idx], labels[idx],
                                  metric="cosine"))
