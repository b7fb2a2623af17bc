"""The baselines beside scrcl, unchanged from the old bench/baselines.py.

scRNA-seq (counts): scanpy's standard pipeline (normalize_total 1e4, log1p, 2000 HVG
'seurat', scale max 10, PCA 50 arpack random_state 0), then
* ``pca_kmeans``: k-means (scikit-learn, n_init 10, K = true classes) on the 50 PCs;
* ``leiden``: scanpy's Leiden (igraph, resolution 1, 2 iterations) on the binary symmetric
  15-NN graph of the PCs (K is not given: Leiden finds its own number of clusters).

Spatial slices (200 PCA features per spot):
* ``pca_kmeans``: k-means (n_init 10) on the features;
* ``smooth_kmeans``: features smoothed 10 times with S = D^-1/2 (A+I) D^-1/2 of the binary
  symmetric 6-NN spatial graph, PCA 30 (random_state 0), k-means;
* ``gmm``: Gaussian mixture with one shared full covariance (mclust 'EEE',
  scrcl.clustering.mixture) on the features.

Each method is split in a per-data-set part (``features``, done once, timed as prep) and a
per-seed part (``cluster``). Every parameter is in PARAMS, which enters the results' hash.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

SC_BASELINES = ("pca_kmeans", "leiden")
ST_BASELINES = ("pca_kmeans", "smooth_kmeans", "gmm")

PARAMS: dict[str, dict[str, Any]] = {
    "sc": {"normalize_total": 1e4, "log1p": True, "n_top_genes": 2000, "hvg_flavor": "seurat",
           "scale_max_value": 10, "n_pcs": 50, "pca": "arpack, random_state 0",
           "kmeans_n_init": 10, "leiden": {"n_neighbors": 15, "resolution": 1.0,
                                           "flavor": "igraph", "n_iterations": 2}},
    "st": {"kmeans_n_init": 10, "k_spatial": 6, "n_smooth": 10, "smooth_pcs": 30,
           "gmm": "EEE (tied covariance), k-means init, n_init 1"},
}

#: which per-data-set features each method clusters
FEATURES = {("sc", "pca_kmeans"): "scanpy_pcs", ("sc", "leiden"): "scanpy_knn",
            ("st", "pca_kmeans"): "raw", ("st", "gmm"): "raw",
            ("st", "smooth_kmeans"): "smoothed_pcs"}


def scanpy_pcs(adata) -> np.ndarray:
    """(N, 50) PCs of scanpy's standard pipeline on the counts of ``adata`` (copied)."""
    import scanpy as sc

    p = PARAMS["sc"]
    adata = adata.copy()
    sc.pp.normalize_total(adata, target_sum=p["normalize_total"])
    sc.pp.log1p(adata)
    sc.pp.highly_variable_genes(adata, n_top_genes=min(p["n_top_genes"], adata.n_vars),
                                flavor=p["hvg_flavor"], subset=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zero-centring densifies the sparse matrix
        sc.pp.scale(adata, max_value=p["scale_max_value"])
    n_pcs = min(p["n_pcs"], min(adata.shape) - 1)
    sc.pp.pca(adata, n_comps=n_pcs, svd_solver="arpack", random_state=0)
    return np.asarray(adata.obsm["X_pca"], dtype=np.float64)


def smoothed_pcs(x: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """PCA (30) of the features smoothed 10 times on the 6-NN spatial graph."""
    from sklearn.decomposition import PCA

    from scrcl import graphs

    p = PARAMS["st"]
    adj = graphs.spatial_graph(np.asarray(coords, dtype=np.float64)[:, :2], p["k_spatial"])
    smoothed = graphs.smooth(np.asarray(x, dtype=np.float64), adj, p["n_smooth"])
    return PCA(n_components=p["smooth_pcs"], random_state=0).fit_transform(smoothed)


def features(kind: str, method: str, adata) -> Any:
    """The per-data-set input of ``method``: PCs, a kNN graph, or the raw features."""
    name = FEATURES[kind, method]
    if name == "scanpy_pcs":
        return scanpy_pcs(adata)
    if name == "scanpy_knn":
        from scrcl.clustering.leiden import knn_graph

        return knn_graph(scanpy_pcs(adata), PARAMS["sc"]["leiden"]["n_neighbors"])
    x = adata.X.toarray() if hasattr(adata.X, "toarray") else np.asarray(adata.X)
    if name == "raw":
        return np.asarray(x, dtype=np.float64)
    return smoothed_pcs(x, adata.obsm["spatial"])


def kmeans(x: np.ndarray, k: int, seed: int, n_init: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(x)


def leiden(adj, seed: int) -> np.ndarray:
    """scanpy's Leiden on a given adjacency, as the old baseline called it."""
    import anndata as ad
    import scanpy as sc
    import scipy.sparse as sp

    p = PARAMS["sc"]["leiden"]
    holder = ad.AnnData(sp.csr_matrix((adj.shape[0], 1), dtype=np.float32))
    sc.tl.leiden(holder, adjacency=sp.csr_matrix(adj, dtype=np.float64), flavor=p["flavor"],
                 directed=False, resolution=p["resolution"], n_iterations=p["n_iterations"],
                 random_state=seed, key_added="leiden", use_weights=True)
    return holder.obs["leiden"].astype(int).to_numpy()


def cluster(kind: str, method: str, inputs: Any, k: int, seed: int) -> np.ndarray:
    """One seed's labels of ``method`` on its per-data-set ``inputs``."""
    if method == "leiden":
        return leiden(inputs, seed)
    if method == "gmm":
        from scrcl.clustering.mixture import gmm_eee

        return gmm_eee(inputs, k, seed=seed)
    return kmeans(inputs, k, seed, PARAMS[kind]["kmeans_n_init"])


# ----------------------------------------------------------------------------- K rules
# Two label-free rules for the number of clusters studied beside the default (Leiden at
# resolution 1, ``scrcl.clustering.estimate_k``), each applied to the same expression graph.
# Both are textbook rules fixed before looking at the results; neither replaced the default
# (see BENCHMARKS.md, "Number of clusters without labels").

K_RULES = ("leiden_k", "model_graph_k", "eigengap_k", "stability_k")
EIGENGAP_MAX_K = 40  # largest K the eigengap rule may return
STABILITY_RESOLUTIONS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
STABILITY_SEEDS = 5


def binary_symmetric(adj):
    """The 0/1 symmetric version of a sparse (N, N) graph, float64 CSR."""
    import scipy.sparse as sp

    a = sp.csr_matrix(adj, dtype=np.float64)
    return ((a + a.T) > 0).astype(np.float64).tocsr()


def eigengap_k(adj, max_k: int = EIGENGAP_MAX_K) -> dict[str, Any]:
    """K before the largest gap between consecutive eigenvalues of D^-1/2 A D^-1/2 (the
    normalised Laplacian's smallest ones, von Luxburg 2007), K in [2, max_k]."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import eigsh

    a = binary_symmetric(adj)
    deg = np.asarray(a.sum(1)).ravel()
    inv = sp.diags(1 / np.sqrt(np.maximum(deg, 1)))
    mu = np.sort(eigsh(inv @ a @ inv, k=max_k + 1, which="LA",
                       return_eigenvectors=False, v0=np.ones(a.shape[0])))[::-1]
    gaps = mu[1:max_k] - mu[2:max_k + 1]  # after the k-th eigenvalue, k = 2..max_k
    return {"estimated_k": int(np.argmax(gaps)) + 2, "largest_gap": float(gaps.max())}


def stability_k(adj, resolutions=STABILITY_RESOLUTIONS,
                n_seeds: int = STABILITY_SEEDS) -> dict[str, Any]:
    """K of the Leiden resolution whose partitions agree most across seeds (mean pairwise
    ARI; ties: the finer resolution); communities of at least 5 cells are counted."""
    from sklearn.metrics import adjusted_rand_score

    from scrcl.clustering.leiden import leiden as scrcl_leiden

    a = binary_symmetric(adj)
    grid = {}
    for r in resolutions:
        parts = [scrcl_leiden(a, r, seed) for seed in range(n_seeds)]
        stab = float(np.mean([adjusted_rand_score(parts[i], parts[j])
                              for i in range(n_seeds) for j in range(i + 1, n_seeds)]))
        grid[r] = (max(2, int((np.bincount(parts[0]) >= 5).sum())), stab)
    best = max(grid, key=lambda r: (round(grid[r][1], 3), r))
    return {"estimated_k": grid[best][0], "resolution": best, "stability": grid[best][1],
            "grid": {str(r): list(v) for r, v in grid.items()}}



def model_graph(prepared, k: int):
    """The graph ``--n-clusters auto`` used before Nov 2026: the model's own cell graph for
    scRNA-seq (cosine kNN of the log-normalised selected genes, k from the configuration),
    for spatial data the cosine kNN graph (the preset's k) of 50 PCs of the features."""
    from scrcl import graphs
    from scrcl.data.preprocess import pca

    coords = prepared.graph_features is not None and prepared.graph_features.shape[1] <= 3
    return graphs.cell_graph(pca(prepared.features), k) if coords else prepared.cell_adj


def model_graph_k(prepared, k: int) -> dict[str, Any]:
    """Leiden (res 1) on :func:`model_graph`: the default rule before Nov 2026."""
    from scrcl.clustering.estimate_k import estimate_n_clusters

    est = estimate_n_clusters(model_graph(prepared, k))
    return {"estimated_k": est.k, "stability": est.stability, "resolution": est.resolution}
