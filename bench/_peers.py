"""The peers beside scrcl, called through their own packages (the optional extra
``pip install .[peers]``: scvi-tools, GraphST and the POT package GraphST imports).

scRNA-seq (counts), scvi-tools with its tutorial's settings:
* genes seen in fewer than 3 cells dropped (their near-zero variance breaks seurat_v3's
  fit), then the 2,000 'seurat_v3' highly variable genes of the counts where there are
  more; ``SCVI(n_layers=2, n_latent=30, gene_likelihood='nb')``, ``train()`` with its
  default epochs (min(400, round(400 * 20,000 / cells))) and its own train/validation split;
  the latent mean (``get_latent_representation()``, (N, 30)) clustered by
* ``scvi-kmeans``: k-means (scikit-learn, n_init 10) at the true K;
* ``scvi-leiden``: Leiden (resolution 1, 2 iterations) on the binary symmetric 15-NN graph
  of the latent, as the ``leiden`` baseline clusters its PCs (K is not given).

Spatial slices, GraphST 1.1.1 (``GraphST.GraphST``), adapted to the input scrcl gets:
* its input 'genes' are the slice's 200 PCA features, the labelled spots only (what
  scrcl reads); GraphST's own preprocessing (3,000 seurat_v3 genes of counts,
  normalize_total, log1p, scale) cannot run on them and is skipped by marking every feature
  ``highly_variable`` (GraphST then takes them as they are);
* its own spot graph (3 nearest spots, datatype '10X'), its defaults (600 epochs, lr 0.001,
  64-wide hidden layer, alpha 10, beta 1), the model after the last epoch; no label;
* its clustering step, ``GraphST.utils.clustering``, calls R's mclust: instead its PCA (20
  components, random_state 42) of the reconstructed features ``obsm['emb']`` is clustered
  by the same 'EEE' Gaussian mixture in Python (``scrcl.clustering.mixture.gmm_eee``) at
  the true K; no refinement of the labels (the function's default).

Seeds: every random source each peer draws from is set from the benchmark's seed
(``scvi.settings.seed``; GraphST's ``random_seed``, which sets Python's, numpy's and torch's
generators; numpy and torch before either). Every parameter is in PARAMS, which enters the
results' hash.
"""
from __future__ import annotations

import importlib.util
import random
import time
from typing import Any, Optional

import numpy as np

PEERS = {"sc": ("scvi-kmeans", "scvi-leiden"), "st": ("graphst",)}
#: the importable module each peer needs, and the pip names of the extra
MODULES = {"scvi-kmeans": ("scvi",), "scvi-leiden": ("scvi",), "graphst": ("GraphST", "ot")}
INSTALL_HINT = "pip install .[peers]"

PARAMS: dict[str, dict[str, Any]] = {
    "sc": {"package": "scvi-tools", "min_cells": 3, "n_top_genes": 2000,
           "hvg_flavor": "seurat_v3", "n_layers": 2, "n_latent": 30,
           "gene_likelihood": "nb", "max_epochs": "default", "kmeans_n_init": 10,
           "leiden": {"n_neighbors": 15, "resolution": 1.0, "flavor": "igraph",
                      "n_iterations": 2}},
    "st": {"package": "GraphST", "input": "the slice's features as given (no HVG, no "
           "normalisation)", "datatype": "10X", "epochs": 600, "embedding": "final epoch",
           "pca": {"n_components": 20, "random_state": 42},
           "cluster": "EEE Gaussian mixture (scrcl.clustering.mixture) instead of mclust",
           "refinement": False},
}


def missing_modules(methods) -> list[str]:
    """The modules the given peer methods need that are not installed (sorted)."""
    need = {m for method in methods for m in MODULES.get(method, ())}
    return sorted(m for m in need if importlib.util.find_spec(m) is None)


def seed_all(seed: int) -> None:
    """Python's, numpy's and torch's generators."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def package_versions(kind: str) -> dict[str, Optional[str]]:
    from importlib.metadata import PackageNotFoundError, version

    names = ("scvi-tools",) if kind == "sc" else ("GraphST", "POT")
    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


# ----------------------------------------------------------------------------- scVI


def scvi_input(adata):
    """The counts scVI is trained on: genes in >= 3 cells, then 2,000 seurat_v3 HVGs of the
    counts where there are more (a copy; (N, G') AnnData)."""
    import scanpy as sc
    import scipy.sparse as sp

    p = PARAMS["sc"]
    adata = adata.copy()
    adata.X = sp.csr_matrix(adata.X, dtype=np.float32)
    sc.pp.filter_genes(adata, min_cells=p["min_cells"])
    if adata.n_vars > p["n_top_genes"]:
        sc.pp.highly_variable_genes(adata, n_top_genes=p["n_top_genes"],
                                    flavor=p["hvg_flavor"], subset=True)
    return adata


def scvi_latent(adata, seed: int, max_epochs: Optional[int] = None) -> tuple[np.ndarray, dict]:
    """(N, 30) latent means of an SCVI model trained on ``adata`` (counts, as
    :func:`scvi_input` makes them) and {'epochs': trained epochs}. ``max_epochs`` None:
    scvi-tools' default."""
    import scvi

    p = PARAMS["sc"]
    seed_all(seed)
    scvi.settings.seed = seed  # Python, numpy, torch (lightning's seed_everything)
    scvi.settings.verbosity = 30  # warnings only
    adata = adata.copy()
    scvi.model.SCVI.setup_anndata(adata)
    model = scvi.model.SCVI(adata, n_layers=p["n_layers"], n_latent=p["n_latent"],
                            gene_likelihood=p["gene_likelihood"])
    model.train(max_epochs=max_epochs, enable_progress_bar=False, accelerator="cpu")
    history = model.history or {}  # scvi-tools' in-memory logger: one row an epoch
    epochs = int(history["elbo_train"].shape[0]) if "elbo_train" in history else None
    return np.asarray(model.get_latent_representation(), dtype=np.float64), {"epochs": epochs}


def scvi_labels(method: str, latent: np.ndarray, k: int, seed: int) -> np.ndarray:
    """The latent clustered: k-means at ``k`` or Leiden (res 1) of its 15-NN graph."""
    import _methods

    p = PARAMS["sc"]
    if method == "scvi-kmeans":
        return _methods.kmeans(latent, k, seed, p["kmeans_n_init"])
    from scrcl.clustering.leiden import knn_graph

    return _methods.leiden(knn_graph(latent, p["leiden"]["n_neighbors"]), seed)


# ----------------------------------------------------------------------------- GraphST


def graphst_input(adata):
    """The slice as GraphST is given it: X the (N, 200) features as float32, every feature
    marked highly variable (so that its count preprocessing is skipped), obsm['spatial']."""
    import anndata as ad

    x = adata.X.toarray() if hasattr(adata.X, "toarray") else np.asarray(adata.X)
    out = ad.AnnData(np.asarray(x, dtype=np.float32))
    out.obs_names = list(map(str, adata.obs_names))
    out.obsm["spatial"] = np.asarray(adata.obsm["spatial"], dtype=np.float64)[:, :2]
    out.var["highly_variable"] = True
    return out


def graphst_embedding(adata, seed: int, epochs: Optional[int] = None,
                      device: str = "cpu") -> np.ndarray:
    """(N, F) reconstructed features ``obsm['emb']`` of GraphST trained on ``adata`` (as
    :func:`graphst_input` makes it) for ``epochs`` (None: its default, 600)."""
    import contextlib
    import io

    import torch
    from GraphST import GraphST

    seed_all(seed)
    kwargs = {} if epochs is None else {"epochs": epochs}
    with contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):  # its progress prints and bar
        model = GraphST.GraphST(adata, device=torch.device(device), random_seed=seed,
                                datatype=PARAMS["st"]["datatype"], **kwargs)
        trained = model.train()
    return np.asarray(trained.obsm["emb"], dtype=np.float64)


def graphst_labels(emb: np.ndarray, k: int, seed: int) -> np.ndarray:
    """GraphST's clustering step with the EEE mixture for mclust: PCA (20, random_state 42)
    of the embedding, then the mixture at ``k``."""
    from sklearn.decomposition import PCA

    from scrcl.clustering.mixture import gmm_eee

    pca = PARAMS["st"]["pca"]
    n = min(pca["n_components"], emb.shape[1], emb.shape[0] - 1)
    reduced = PCA(n_components=n, random_state=pca["random_state"]).fit_transform(emb)
    return gmm_eee(reduced, k, seed=seed)


# ----------------------------------------------------------------------------- one unit


def run_peer(kind: str, adata, methods: list[str], k: int, seed: int,
             epochs: Optional[int] = None, device: str = "cpu") -> dict[str, dict]:
    """Train the peer once for ``seed`` and cluster it for each method: {method: {'labels',
    'train_s', 'cluster_s', 'prep_s', 'n_features', 'epochs'}}. ``epochs``: None for each
    peer's default (tests pass a few)."""
    start = time.perf_counter()
    if kind == "sc":
        data = scvi_input(adata)
        prep_s = time.perf_counter() - start
        start = time.perf_counter()
        emb, info = scvi_latent(data, seed, epochs)
    else:
        data = graphst_input(adata)
        prep_s = time.perf_counter() - start
        start = time.perf_counter()
        emb = graphst_embedding(data, seed, epochs, device)
        info = {"epochs": epochs or PARAMS["st"]["epochs"]}
    train_s = time.perf_counter() - start
    out = {}
    for method in methods:
        start = time.perf_counter()
        labels = (scvi_labels(method, emb, k, seed) if kind == "sc"
                  else graphst_labels(emb, k, seed))
        out[method] = {"labels": np.asarray(labels), "train_s": train_s, "prep_s": prep_s,
                       "cluster_s": time.perf_counter() - start,
                       "n_features": int(data.n_vars), **info}
    return out
