"""Marker-gene figures (dotplot, heatmap, stacked violin, matrixplot) and the run's UMAP.

scanpy draws the marker figures; the UMAP is computed with umap-learn on a kNN graph built
with scikit-learn, because scanpy 1.11's ``pp.neighbors`` fails above 4,096 cells with
scipy 1.17 (its approximate-neighbour branch).
"""
from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

#: File stem -> human name of the marker figures, in drawing order.
MARKER_PLOTS: dict[str, str] = {
    "dotplot": "dot plot",
    "heatmap": "heatmap",
    "stacked_violin": "stacked violin plot",
    "matrixplot": "matrix plot",
}
UMAP_STEM = "umap"
DPI = 150


def _draw(kind: str, adata_log, groupby: str, markers: Mapping[str, Sequence[str]]):
    """Draw one marker figure and return its matplotlib Figure."""
    import scanpy as sc

    var_names = {group: list(genes) for group, genes in markers.items()}
    common = dict(var_names=var_names, groupby=groupby, use_raw=False, show=False,
                  dendrogram=False)
    if kind == "heatmap":
        axes = sc.pl.heatmap(adata_log, standard_scale="var", show_gene_labels=True, **common)
        return axes["heatmap_ax"].figure
    plot_fn = {"dotplot": sc.pl.dotplot, "stacked_violin": sc.pl.stacked_violin,
               "matrixplot": sc.pl.matrixplot}[kind]
    plot = plot_fn(adata_log, standard_scale="var", return_fig=True, **common)
    plot.make_figure()
    return plot.fig


def marker_figures(adata_log, groupby: str, markers: Mapping[str, Sequence[str]],
                   out_dir: Path, fmt: str = "png",
                   progress: Optional[Callable[[str, Path], None]] = None) -> list[Path]:
    """Draw the four marker figures of ``markers`` (group -> top genes) into ``out_dir``.

    adata_log: log-normalised AnnData whose categorical ``obs[groupby]`` holds the groups
    named in ``markers``. Returns the written paths (``<stem>.<fmt>``); ``progress`` is
    called with (figure name, path) after each.
    """
    import matplotlib.pyplot as plt

    if not markers:
        raise ValueError("no marker genes to draw")
    written = []
    for stem, name in MARKER_PLOTS.items():
        path = Path(out_dir) / f"{stem}.{fmt}"
        fig = _draw(stem, adata_log, groupby, markers)
        try:
            fig.savefig(path, format=fmt, dpi=DPI, bbox_inches="tight")
        finally:
            plt.close(fig)
        written.append(path)
        if progress is not None:
            progress(name, path)
    return written


def umap_coordinates(embedding: np.ndarray, n_neighbors: int = 15,
                     random_state: int = 0) -> np.ndarray:
    """2-D UMAP of ``embedding: (N, D) float`` -> ``(N, 2) float``.

    The exact kNN graph (self included, Euclidean) comes from scikit-learn and is handed to
    umap-learn as ``precomputed_knn``, which works at any N.
    """
    import umap
    from sklearn.neighbors import NearestNeighbors

    embedding = np.asarray(embedding, dtype=np.float32)
    n_cells = embedding.shape[0]
    if n_cells < 4:
        raise ValueError(f"a UMAP needs at least 4 cells, got {n_cells}")
    k = min(n_neighbors, n_cells - 1)
    dists, idx = NearestNeighbors(n_neighbors=k).fit(embedding).kneighbors(embedding)
    with warnings.catch_warnings():
        # a bare kNN table cannot transform new data, which is not needed here; umap-learn
        # warns about it
        warnings.filterwarnings("ignore", r"precomputed_knn\[2\] \(knn_search_index\) is "
                                          r"not an NNDescent object", UserWarning)
        reducer = umap.UMAP(n_neighbors=k, random_state=random_state, n_jobs=1,
                            precomputed_knn=(idx, dists, None))
        return np.asarray(reducer.fit_transform(embedding), dtype=np.float32)


def umap_figure(coords: np.ndarray, colourings: Mapping[str, pd.Series], path: Path,
                fmt: str = "png") -> Path:
    """One panel per entry of ``colourings`` (title -> (N,) labels) on ``coords: (N, 2)``."""
    import anndata as ad
    import matplotlib.pyplot as plt
    import scanpy as sc

    def categorical(labels) -> pd.Categorical:
        if isinstance(labels, pd.Series) and isinstance(labels.dtype, pd.CategoricalDtype):
            return pd.Categorical(labels.astype(str).to_numpy(),
                                  categories=[str(c) for c in labels.cat.categories])
        return pd.Categorical(np.asarray(labels).astype(str))

    obs = pd.DataFrame({title: categorical(labels) for title, labels in colourings.items()})
    obs.index = obs.index.astype(str)
    adata = ad.AnnData(obs=obs, obsm={"X_umap": np.asarray(coords)})
    fig = sc.pl.umap(adata, color=list(colourings), title=list(colourings), show=False,
                     return_fig=True, frameon=False, ncols=len(colourings), wspace=0.4)
    try:
        fig.savefig(path, format=fmt, dpi=DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    return Path(path)
