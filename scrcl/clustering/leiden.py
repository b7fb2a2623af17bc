"""Leiden community detection of an embedding, with a resolution search to hit K clusters.

The graph is the symmetric binary kNN graph of the embedding (exact, scikit-learn); igraph
runs Leiden with the modularity objective. Bisection on the resolution looks for exactly K
communities; when none is found in ``max_steps``, the closest count is returned.
"""
from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

log = logging.getLogger(__name__)


def knn_graph(x: np.ndarray, k: int = 15) -> sp.csr_matrix:
    """(N, N) binary symmetric kNN graph of ``x: (N, d)``, no self loops (sparse)."""
    from sklearn.neighbors import NearestNeighbors

    n = x.shape[0]
    k = min(k, n - 1)
    a = NearestNeighbors(n_neighbors=k).fit(x).kneighbors_graph(None, mode="connectivity")
    a = a.maximum(a.T).tocsr()
    a.setdiag(0)
    a.eliminate_zeros()
    return a


def leiden(adj: sp.spmatrix, resolution: float, seed: int = 0) -> np.ndarray:
    """Leiden communities (modularity, igraph) of a sparse symmetric graph -> (N,) labels."""
    import igraph as ig
    import random

    coo = sp.triu(adj, k=1).tocoo()
    graph = ig.Graph(n=adj.shape[0], edges=np.column_stack([coo.row, coo.col]).tolist())
    state = random.getstate()
    random.seed(seed)  # igraph draws from Python's random module
    try:
        parts = graph.community_leiden(objective_function="modularity", resolution=resolution,
                                       n_iterations=-1)
    finally:
        random.setstate(state)
    return np.asarray(parts.membership, dtype=np.int64)


def leiden_k(x: np.ndarray, k: int, seed: int = 0, n_neighbors: int = 15,
             max_steps: int = 30) -> np.ndarray:
    """Leiden clusters of ``x: (N, d)``, the resolution bisected to give ``k`` clusters."""
    adj = knn_graph(np.asarray(x, dtype=np.float32), n_neighbors)

    def count(labels: np.ndarray) -> int:
        return int(np.unique(labels).size)

    lo, hi = 0.0, 1.0
    best = leiden(adj, hi, seed)
    while count(best) < k and hi < 64:  # more resolution, more communities
        lo, hi = hi, hi * 2
        best = leiden(adj, hi, seed)
    for _ in range(max_steps):
        if count(best) == k:
            return best
        mid = (lo + hi) / 2
        labels = leiden(adj, mid, seed)
        if abs(count(labels) - k) < abs(count(best) - k):
            best = labels
        if count(labels) > k:
            hi = mid
        else:
            lo = mid
    if count(best) != k:
        log.warning("Leiden: no resolution gave exactly %d clusters; kept %d", k, count(best))
    return best
