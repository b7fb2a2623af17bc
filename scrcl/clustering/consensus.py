"""One partition from several partitions of the same cells (label-free ensemble clustering).

A default run trains one model per seed (5); each gives a label-free partition. Their
consensus is built from the co-association of the cells: C_ij, the fraction of the S
partitions in which cells i and j share a cluster, and the distance D_ij = 1 - C_ij.

``method="average"`` (the default; evidence accumulation clustering, Fred & Jain, 2005):
average-linkage (UPGMA) agglomeration under D, stopped at k clusters. Cells with the same
cluster in every partition (a *fragment*) are at distance 0 and merge first, so the
agglomeration runs on the F fragments, weighted by their sizes, which gives the same tree
as on the N cells (up to ties) without an N x N matrix: F is the number of distinct label
tuples, a few tens on the stand-ins, and time and memory are O(F^2).

``method="kmeans"``: every partition s contributes the one-hot indicator of each cell's
cluster, H = [H_1, ..., H_S] (N, sum K_s), so that H H^T / S = C; every row of H has norm
sqrt(S), so cosine k-means on H is Euclidean k-means on the co-association profiles.

Ties: co-association distances are multiples of 1/S and tie often. Distances within
``TIE`` of each other are ties, and a tie goes to the lowest fragment indices, fragments
being numbered by their first cell: the consensus does not depend on the order of the
partitions or on the numbering of their clusters. With two partitions every first merge
ties, so the pipeline makes no consensus of fewer than three seeds.

Small clusters: average linkage leaves cells that the partitions place inconsistently as
clusters of their own. Clusters of fewer than ``MIN_CLUSTER_CELLS`` cells do not count
towards k: the cut is the coarsest with k clusters of at least that many cells, and the
smaller clusters of that cut join the cluster at the smallest average distance.

Why average linkage is the default: on the seven stand-ins with three or more stored
label-free seeds (Nov 2026), it scored above the mean ARI of the seeds on five and gained
0.014 ARI on average, where k-means on the profiles gained on four and lost 0.017 on
average (BENCHMARKS.md, consensus table, which tells the order of the choices).
"""
from __future__ import annotations

from typing import Literal, Optional, Sequence

import numpy as np
import scipy.sparse as sp

from .kmeans import kmeans_cosine

ConsensusMethod = Literal["average", "kmeans"]
CONSENSUS_METHODS = ("average", "kmeans")
#: above this many fragments the (F, F) float32 distance matrix of average linkage (576 MB
#: at the limit) is refused; callers fall back to k-means (:func:`consensus_method_for`)
MAX_FRAGMENTS = 12_000
#: the largest dense indicator matrix (bytes) of the k-means consensus
MAX_KMEANS_BYTES = 1 << 30
#: clusters of fewer cells do not count towards K in the average-linkage consensus (they
#: join the nearest cluster): the same floor as the K estimate's communities
MIN_CLUSTER_CELLS = 5


def indicator_matrix(partitions: Sequence[np.ndarray]) -> sp.csr_matrix:
    """H (N, sum K_s): the one-hot cluster indicators of S partitions side by side."""
    blocks = []
    for labels in partitions:
        _, codes = np.unique(np.asarray(labels), return_inverse=True)
        n = codes.size
        blocks.append(sp.csr_matrix((np.ones(n, np.float32), (np.arange(n), codes)),
                                    shape=(n, codes.max() + 1)))
    return sp.hstack(blocks, format="csr")


def fragments(partitions: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The cells' label tuples over S partitions: (tuples (F, S) int64, cell -> tuple (N,)).

    Tuples are ordered by their first cell, so that everything computed from them is the
    same whatever the order of the partitions and the numbering of their clusters."""
    codes = np.stack([np.unique(np.asarray(p), return_inverse=True)[1].ravel()
                      for p in partitions], axis=1)
    tuples, first, member = np.unique(codes, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return tuples[order], rank[member.ravel()]


def coassociation_distance(tuples: np.ndarray) -> np.ndarray:
    """D (F, F) float32 between label tuples (F, S): the fraction of partitions that put
    them in different clusters (1 - co-association)."""
    dist = np.zeros((tuples.shape[0],) * 2, dtype=np.float32)
    for s in range(tuples.shape[1]):
        col = tuples[:, s]
        dist += col[:, None] != col[None, :]
    dist /= tuples.shape[1]
    return dist


#: distances closer than this are ties (co-association distances are multiples of 1/S, and
#: their averages tie often); a tie goes to the lowest indices
TIE = 1e-6


def average_linkage_cut(dist: np.ndarray, weights: np.ndarray, k: int,
                        min_size: float = 1) -> np.ndarray:
    """Average linkage (UPGMA) of F weighted points, cut at k clusters.

    dist: (F, F) symmetric distances; weights: (F,) positive sizes (a point of weight w is w
    coincident points). The distance of two clusters is the weighted mean of the distances
    between their points (Lance-Williams update); the closest pair merges first, and pairs
    within ``TIE`` of the closest count as tied: the pair with the lowest indices merges.
    ``min_size``: the cut is the coarsest one with k clusters of at least this weight
    (min_size 1: the usual cut at k clusters); its lighter clusters are labelled -1.
    Returns (F,) labels in 0..k-1 (or -1), numbered by first appearance.
    """
    merges = _agglomerate(np.array(dist, dtype=np.float32, copy=True), weights)
    cluster, heavy = _cut(merges, weights, k, min_size)
    labels = np.full(cluster.shape, -1, dtype=np.int64)
    labels[heavy] = _first_appearance(cluster[heavy])
    return labels


def _first_min(row: np.ndarray) -> tuple[int, float]:
    """(the lowest index within TIE of the row's minimum, the minimum)."""
    low = float(row.min())
    return int(np.flatnonzero(row <= low + TIE)[0]), low


def _agglomerate(d: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The merges (F - 1, 2) of average linkage, each (i, j), i < j: cluster j joins
    cluster i (a cluster is named by its lowest point). Overwrites ``d`` (float32)."""
    w = np.asarray(weights, dtype=np.float64).copy()
    f = d.shape[0]
    if d.shape != (f, f) or w.shape != (f,):
        raise ValueError(f"dist must be (F, F) and weights (F,), got {d.shape}, {w.shape}")
    if f == 0:
        raise ValueError("no point to cluster")
    np.fill_diagonal(d, np.inf)
    active = np.ones(f, bool)
    row_arg = np.zeros(f, dtype=np.int64)
    row_min = np.full(f, np.inf)
    for r in range(f):
        if f > 1:
            row_arg[r], row_min[r] = _first_min(d[r])
    merges = np.zeros((max(f - 1, 0), 2), dtype=np.int64)
    for step in range(f - 1):
        live_min = np.where(active, row_min, np.inf)
        i = int(np.flatnonzero(live_min <= live_min.min() + TIE)[0])  # lowest tied row
        j = int(row_arg[i])
        i, j = min(i, j), max(i, j)
        merges[step] = i, j
        merged = ((w[i] * d[i].astype(np.float64) + w[j] * d[j]) / (w[i] + w[j]))
        merged = merged.astype(np.float32)
        merged[[i, j]] = np.inf
        merged[~active] = np.inf
        d[i], d[:, i] = merged, merged
        d[j], d[:, j] = np.inf, np.inf
        w[i] += w[j]
        active[j] = False
        row_min[j] = np.inf
        stale = active & ((row_arg == i) | (row_arg == j))
        stale[i] = True
        for r in np.flatnonzero(stale):
            row_arg[r], row_min[r] = _first_min(d[r])
        col = d[:, i].astype(np.float64)
        fresh = active & ~stale
        closer = fresh & (col < row_min - TIE)
        row_min[closer], row_arg[closer] = col[closer], i
        tied = fresh & ~closer & (col <= row_min + TIE) & (i < row_arg)
        row_min[tied], row_arg[tied] = np.minimum(row_min[tied], col[tied]), i
    return merges


def _cut(merges: np.ndarray, weights: np.ndarray, k: int,
         min_size: float) -> tuple[np.ndarray, np.ndarray]:
    """The coarsest cut of the tree (merges (F - 1, 2) of :func:`_agglomerate`) with k
    clusters of weight >= min_size; the cut at k clusters when no cut has k such clusters.
    Returns (cluster (F,): each point's cluster, named by its lowest point; heavy (F,) bool:
    whether that cluster counts, i.e. weighs >= min_size, or every cluster in the fallback)."""
    if k < 1:
        raise ValueError(f"need k >= 1, got {k}")
    f = merges.shape[0] + 1
    w = np.asarray(weights, dtype=np.float64).copy()
    n_heavy = int((w >= min_size).sum())
    best = 0 if n_heavy >= k else None
    for t, (i, j) in enumerate(merges, start=1):
        n_heavy += (int(w[i] + w[j] >= min_size) - int(w[i] >= min_size)
                    - int(w[j] >= min_size))
        w[i] += w[j]
        if n_heavy >= k:
            best = t
    steps = max(f - k, 0) if best is None else best
    cluster = np.arange(f)
    size = np.asarray(weights, dtype=np.float64).copy()
    for i, j in merges[:steps]:
        cluster[cluster == j] = i
        size[i] += size[j]
    heavy = np.ones(f, bool) if best is None else size[cluster] >= min_size
    return cluster, heavy


def _first_appearance(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered 0.. in the order in which they first appear."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    return rank[inverse.ravel()]


def attach_light(cluster: np.ndarray, heavy: np.ndarray, tuples: np.ndarray,
                 weights: np.ndarray) -> np.ndarray:
    """``cluster`` (F,) with every light cluster (``heavy`` False) joined to the heavy
    cluster at the smallest average co-association distance from it (all its cells to all
    of the heavy cluster's; ties to the lowest-named). tuples: (F, S) label tuples."""
    out = cluster.copy()
    if heavy.all():
        return out
    w = np.asarray(weights, dtype=np.float64)
    names = np.unique(cluster[heavy])
    slot = np.searchsorted(names, cluster[heavy])
    mass = np.bincount(slot, weights=w[heavy], minlength=names.size)
    for light in np.unique(cluster[~heavy]):
        members = np.flatnonzero(cluster == light)
        between = np.zeros(names.size)
        for a in members:
            dist = (tuples[a][None, :] != tuples[heavy]).mean(axis=1)  # to heavy fragments
            between += w[a] * np.bincount(slot, weights=w[heavy] * dist, minlength=names.size)
        mean = between / (mass * w[members].sum())
        out[members] = names[int(np.flatnonzero(mean <= mean.min() + TIE)[0])]
    return out


def consensus_partition(partitions: Sequence[np.ndarray], k: int, seed: int = 0,
                        n_init: int = 20, method: ConsensusMethod = "average",
                        min_size: int = MIN_CLUSTER_CELLS) -> np.ndarray:
    """The consensus of S partitions (each (N,) labels of the same cells) into k clusters
    (fewer when the partitions have fewer distinct label tuples than k). Deterministic;
    reads no label other than the partitions' own; ``seed`` and ``n_init`` are k-means'.
    Average linkage: the coarsest cut with k clusters of at least ``min_size`` cells (at
    most N // k), the smaller clusters of that cut joined to the nearest of those (on
    average); see the module's docstring. One partition is returned as it is (renumbered).
    Returns (N,) labels in 0..k-1."""
    if len(partitions) == 0:
        raise ValueError("no partition to take the consensus of")
    sizes = {np.asarray(p).shape for p in partitions}
    if len(sizes) != 1:
        raise ValueError(f"the partitions cover different cells: shapes {sorted(sizes)}")
    if method not in CONSENSUS_METHODS:
        raise ValueError(f"unknown consensus method {method!r}: choose one of "
                         f"{', '.join(CONSENSUS_METHODS)}")
    if k < 1:
        raise ValueError(f"need k >= 1 clusters, got {k}")
    if method == "kmeans":
        h = indicator_matrix(partitions).toarray()
        return kmeans_cosine(h, k, n_init=n_init, seed=seed).labels
    tuples, member = fragments(partitions)
    if len(partitions) == 1:
        return member
    if tuples.shape[0] > MAX_FRAGMENTS:
        raise ValueError(f"the partitions split the cells into {tuples.shape[0]} groups "
                         f"(more than {MAX_FRAGMENTS}); use method='kmeans'")
    weights = np.bincount(member, minlength=tuples.shape[0])
    merges = _agglomerate(coassociation_distance(tuples), weights)
    floor = max(1, min(min_size, member.size // k))
    cluster, heavy = _cut(merges, weights, k, floor)
    return _first_appearance(attach_light(cluster, heavy, tuples, weights))[member]


def consensus_method_for(partitions: Sequence[np.ndarray]) -> Optional[ConsensusMethod]:
    """'average' unless the partitions split the cells into more than MAX_FRAGMENTS groups
    (large data whose seeds disagree on many cells), then 'kmeans' when its dense (N,
    sum K_s) float32 indicator matrix fits in MAX_KMEANS_BYTES, else None (no consensus)."""
    if fragments(partitions)[0].shape[0] <= MAX_FRAGMENTS:
        return "average"
    width = sum(np.unique(np.asarray(p)).size for p in partitions)
    return "kmeans" if 4 * width * np.asarray(partitions[0]).size <= MAX_KMEANS_BYTES else None
