"""Ward clustering of an embedding: agglomerative clustering on the embedding's first 50
principal components, cut at K clusters.

Starting from one cluster a cell, each step merges the two clusters A and B whose union
least increases the within-cluster sum of squares (Ward, 1963):

    Δ(A, B) = |A| |B| / (|A| + |B|) · ||μ_A − μ_B||²

until K clusters are left. Unlike k-means it has no start to draw (the partition depends on
the embedding alone) and no pull towards clusters of equal size. Up to ``max_exact`` cells
the linkage is scipy's exact one (O(N²) memory: 0.4 GB at 10,000 cells); above, Ward runs on
a fixed random sample of ``max_exact`` cells and every other cell joins the cluster with the
nearest centre (in the same components).
"""
from __future__ import annotations

import numpy as np
import torch

#: the principal components of the embedding that Ward clusters
WARD_PCS = 50
#: above this many cells, Ward clusters a sample of this size (see the module docstring)
MAX_EXACT_CELLS = 10_000


def principal_components(x: torch.Tensor, n_comps: int = WARD_PCS) -> np.ndarray:
    """(N, min(n_comps, N, d)) float64 scores of the centred rows of ``x: (N, d)`` on their
    leading principal axes (scikit-learn's randomised PCA, its draws seeded by 0: the same
    embedding always gives the same components)."""
    from sklearn.decomposition import PCA

    arr = x.detach().double().cpu().numpy()
    q = min(n_comps, *arr.shape)
    return PCA(q, svd_solver="randomized", random_state=0).fit_transform(arr)


def ward_cut(points: np.ndarray, k: int) -> np.ndarray:
    """(N,) labels 0..K-1 of the K-cluster cut of the exact Ward tree of ``points: (N, d)``
    (scipy's linkage); clusters numbered by their first cell."""
    from scipy.cluster.hierarchy import cut_tree, linkage

    if k >= points.shape[0]:
        return np.arange(points.shape[0], dtype=np.int64)
    labels = cut_tree(linkage(points, method="ward"), n_clusters=k).ravel()
    return _renumber(labels)


def _renumber(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered 0.. in the order of their first cell."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return order[inverse].astype(np.int64)


def ward(x: torch.Tensor, k: int, seed: int = 0, n_comps: int = WARD_PCS,
         max_exact: int = MAX_EXACT_CELLS) -> np.ndarray:
    """Ward clusters of an embedding ``x: (N, d)`` (tensor, any device) -> (N,) int64 labels.

    The first ``n_comps`` principal components of ``x`` are clustered by Ward's linkage, cut
    at ``k`` clusters; with more than ``max_exact`` cells, Ward clusters a sample of
    ``max_exact`` of them (drawn from ``seed``) and the others join the nearest cluster
    centre. Nothing else is random.
    """
    n = x.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the number of cells ({n}), got {k}")
    pcs = principal_components(x, n_comps)
    if n <= max_exact:
        return ward_cut(pcs, k)
    sample = np.sort(np.random.default_rng(seed).choice(n, max_exact, replace=False))
    sampled = ward_cut(pcs[sample], k)
    centres = np.stack([pcs[sample][sampled == c].mean(0) for c in range(k)])
    dist = ((pcs ** 2).sum(1)[:, None] - 2 * pcs @ centres.T + (centres ** 2).sum(1)[None])
    labels = dist.argmin(1)
    labels[sample] = sampled  # the sampled cells keep their cut
    return labels.astype(np.int64)
