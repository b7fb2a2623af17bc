"""Figures of a spatial run: domains on the tissue, UMAP of the embedding, PAGA of domains.

Every function saves PNG files and closes its figures; none shows anything. Nothing here
builds an N x N array: the UMAP and PAGA graphs are sparse kNN graphs.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, Optional

import numpy as np
import pandas as pd

from .degs import umap_coordinates, umap_figure

log = logging.getLogger(__name__)

DPI = 150


def _colours(labels: pd.Categorical) -> dict[str, tuple]:
    import matplotlib

    cmap = matplotlib.colormaps["tab20" if len(labels.categories) > 10 else "tab10"]
    return {c: cmap(i % cmap.N) for i, c in enumerate(labels.categories)}


def tissue_image(uns: Mapping) -> tuple[Optional[np.ndarray], float, Optional[float]]:
    """(low-res image or None, its scale factor, spot diameter in full-res pixels) from a
    scanpy-style ``uns['spatial']``."""
    for entry in (uns.get("spatial") or {}).values():
        images = entry.get("images") or {}
        scale = entry.get("scalefactors") or {}
        if "lowres" in images:
            return (np.asarray(images["lowres"]), float(scale.get("tissue_lowres_scalef", 1.0)),
                    scale.get("spot_diameter_fullres"))
    return None, 1.0, None


def spatial_domains_figure(coords: np.ndarray, panels: Mapping[str, np.ndarray], path: Path,
                           image: Optional[np.ndarray] = None, scalef: float = 1.0) -> Path:
    """One panel per entry of ``panels`` (title -> (N,) labels) at ``coords: (N, 2)`` (x, y
    in full-resolution pixels), drawn on ``image`` (scaled by ``scalef``) when given, else as
    a scatter with the y axis pointing down as in the image."""
    import matplotlib.pyplot as plt

    xy = np.asarray(coords, dtype=np.float64)[:, :2] * (scalef if image is not None else 1.0)
    n_panels = len(panels)
    fig, axes = plt.subplots(1, n_panels, figsize=(5.2 * n_panels, 5), squeeze=False)
    size = max(2.0, 12000.0 / max(len(xy), 1))
    for ax, (title, labels) in zip(axes[0], panels.items()):
        cats = pd.Categorical(np.asarray(labels).astype(str))
        colours = _colours(cats)
        if image is not None:
            ax.imshow(image)
        for cat in cats.categories:
            mask = np.asarray(cats == cat)
            ax.scatter(xy[mask, 0], xy[mask, 1], s=size, color=colours[cat], label=cat,
                       linewidths=0)
        if image is None:
            ax.set_ylim(xy[:, 1].max() + 1, xy[:, 1].min() - 1)
            ax.set_xlim(xy[:, 0].min() - 1, xy[:, 0].max() + 1)
        ax.set_aspect("equal")
        ax.set_axis_off()
        ax.set_title(title)
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, frameon=False,
                  markerscale=max(1.0, 20 / size), ncol=1 if len(cats.categories) <= 20 else 2)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    return Path(path)


def paga_figure(embedding: np.ndarray, domains: np.ndarray, path: Path,
                n_neighbors: int = 15) -> Path:
    """PAGA graph of the domains over the kNN graph of ``embedding: (N, d)``.

    The connectivities are the binary symmetric kNN graph (scikit-learn), stored where
    ``sc.tl.paga`` looks for them; ``sc.pp.neighbors`` is not called.
    """
    import anndata as ad
    import matplotlib.pyplot as plt
    import scanpy as sc

    from ..clustering.leiden import knn_graph

    adj = knn_graph(np.asarray(embedding, dtype=np.float32), n_neighbors).astype(np.float32)
    obs = pd.DataFrame({"domain": pd.Categorical(np.asarray(domains).astype(str))})
    obs.index = obs.index.astype(str)
    adata = ad.AnnData(obs=obs)
    adata.obsp["connectivities"] = adj
    adata.obsp["distances"] = adj
    adata.uns["neighbors"] = {"connectivities_key": "connectivities",
                              "distances_key": "distances",
                              "params": {"n_neighbors": n_neighbors, "method": "umap"}}
    sc.tl.paga(adata, groups="domain")
    fig, ax = plt.subplots(figsize=(5, 5))
    sc.pl.paga(adata, ax=ax, show=False, frameon=False, fontsize=8)
    ax.set_title("PAGA of the domains")
    try:
        fig.savefig(path, dpi=DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    return Path(path)


def spatial_figures(adata, key: str, embedding_key: str, out_dir: Path,
                    truth_key: Optional[str] = None, paga: bool = False,
                    title: str = "scRCL domains") -> list[Path]:
    """All figures of a finished run: ``spatial_domains.png``, ``umap.png``, ``paga.png``.

    adata: the run's AnnData with ``obs[key]`` (domains), ``obsm[embedding_key]`` and
    ``obsm['spatial']``; spots without a domain are left out. ``title``: the domains' panel.
    """
    import matplotlib

    matplotlib.use("Agg")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    kept = adata.obs[key].notna().to_numpy()
    domains = adata.obs[key].to_numpy()[kept]
    panels = {title: domains}
    if truth_key is not None and truth_key in adata.obs:
        panels = {f"ground truth ({truth_key})": adata.obs[truth_key].to_numpy()[kept], **panels}
    image, scalef, _ = tissue_image(adata.uns)
    coords = np.asarray(adata.obsm["spatial"])[kept]
    written = [spatial_domains_figure(coords, panels, out_dir / "spatial_domains.png", image,
                                      scalef)]
    embedding = np.asarray(adata.obsm[embedding_key])[kept]
    umap_xy = umap_coordinates(embedding)
    written.append(umap_figure(umap_xy, {t: pd.Series(v) for t, v in panels.items()},
                               out_dir / "umap.png"))
    if paga:
        written.append(paga_figure(embedding, domains, out_dir / "paga.png"))
    return written
