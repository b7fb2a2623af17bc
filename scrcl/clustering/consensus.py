"""One partition from several partitions of the same cells (label-free ensemble clustering).

A default run trains one model per seed (5); each gives a label-free partition. Their
consensus is the k-means partition of the cells' co-association profiles: every partition
s contributes the one-hot indicator of each cell's cluster, H = [H_1, ..., H_S] (N, sum K_s),
so that H H^T / S is the co-association matrix (the fraction of partitions in which two
cells share a cluster) without ever forming it (N x N). Every row of H has norm sqrt(S),
so cosine k-means on H is Euclidean k-means on the co-association profiles.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import scipy.sparse as sp

from .kmeans import kmeans_cosine


def indicator_matrix(partitions: Sequence[np.ndarray]) -> sp.csr_matrix:
    """H (N, sum K_s): the one-hot cluster indicators of S partitions side by side."""
    blocks = []
    for labels in partitions:
        _, codes = np.unique(np.asarray(labels), return_inverse=True)
        n = codes.size
        blocks.append(sp.csr_matrix((np.ones(n, np.float32), (np.arange(n), codes)),
                                    shape=(n, codes.max() + 1)))
    return sp.hstack(blocks, format="csr")


def consensus_partition(partitions: Sequence[np.ndarray], k: int, seed: int = 0,
                        n_init: int = 20) -> np.ndarray:
    """The consensus of S partitions (each (N,) labels of the same cells) into k clusters:
    cosine k-means on their indicator matrix. Deterministic for a seed; reads no label
    other than the partitions' own. Returns (N,) labels in 0..k-1."""
    if len(partitions) == 0:
        raise ValueError("no partition to take the consensus of")
    sizes = {np.asarray(p).shape for p in partitions}
    if len(sizes) != 1:
        raise ValueError(f"the partitions cover different cells: shapes {sorted(sizes)}")
    h = indicator_matrix(partitions).toarray()
    return kmeans_cosine(h, k, n_init=n_init, seed=seed).labels
