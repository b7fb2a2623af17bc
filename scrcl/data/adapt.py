"""Defaults that depend on the data's size, fitted to the data; explicit values stay strict.

A preset or a documented default (HVG 2000, k 15, gene_k 5, radius 50) can be impossible on
small data: a 326-gene panel has no 2,000 genes to select. Such a default is lowered to what
the data allows, with one line saying so; a value the user gave is kept as given, and an
impossible one is an error (raised where the data is prepared).

Data-size-dependent settings and their limits:

* ``hvg``: the genes expressed in at least one cell (counts); for processed features, all
  features are used.
* ``k`` (cell or spot graph): the cells minus one.
* ``gene_k`` (gene graph, the gene itself counted): the genes kept.
* ``radius`` (spatial label refinement): 5% of the spots (0, off, below 20 spots), so that
  the majority vote stays local.
* the silhouette sample of label-free selection and the PCA components are capped by
  the functions that use them (``scrcl.clustering.selection.silhouette``,
  ``scrcl.data.preprocess.pca``); :func:`size_record` reports the values they take.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Optional

import anndata as ad

from ..config import ScrclConfig
from .checks import check_at_most, check_enough_cells
from .preprocess import as_csr, filter_empty, pca_components

#: the spatial refinement neighbourhood is at most this fraction of the spots by default
RADIUS_FRACTION = 0.05


@dataclass(frozen=True)
class DataSize:
    """What the preparation will keep of a data set."""

    n_cells: int  # cells (spots) with at least one count; every spot of processed data
    n_genes: int  # genes expressed in some cell; every feature of processed data
    counts: bool  # True: X holds counts and ``hvg`` genes are selected


def measure(adata: ad.AnnData, counts: bool = True) -> DataSize:
    """The cells and genes the preparation keeps (those with a non-zero value) of X: (N, G)."""
    if not counts:
        return DataSize(adata.n_obs, adata.n_vars, False)
    cells, genes = filter_empty(as_csr(adata.X))
    return DataSize(int(cells.sum()), int(genes.sum()), True)


def adapt_config(cfg: ScrclConfig, given: Collection[str], size: DataSize
                 ) -> tuple[ScrclConfig, list[str]]:
    """``cfg`` with its data-size-dependent defaults lowered to what the data allows.

    given: the names of the fields set explicitly (command-line options); those are never
    changed, and one above what the data allows raises ScrclInputError. Returns (effective
    config, one line per lowered default).
    """
    origin = f"the {cfg.preset} preset's" if cfg.preset else "the default"
    changes: dict[str, int] = {}
    notes: list[str] = []

    def fit(name: str, limit: int, what: str, strict: Optional[tuple[int, str]] = None) -> None:
        """Lower the default ``name`` to ``limit``; a given value must not pass ``strict``
        (limit, what), by default the same limit."""
        value = getattr(cfg, name)
        if value is None:
            return
        if name in given:
            check_at_most(name, value, *(strict or (limit, what)))
        elif value > limit:
            changes[name] = limit
            notes.append(f"{name} = {limit} ({origin} {value} is more than {what} ({limit}); "
                         f"--{name.replace('_', '-')} sets it)")

    n = size.n_cells
    check_enough_cells(n)
    if size.counts:
        fit("hvg", size.n_genes, "the number of expressed genes")
    elif "hvg" not in given:
        changes["hvg"] = size.n_genes  # processed features: every one is used
    genes_kept = min(changes.get("hvg", cfg.hvg), size.n_genes)
    fit("k", n - 1, f"the neighbours the {n} cells allow")
    fit("gene_k", genes_kept, "the number of genes kept")
    if cfg.radius:
        fit("radius", int(n * RADIUS_FRACTION), f"{RADIUS_FRACTION:.0%} of the {n} spots",
            strict=(n - 1, f"the neighbours the {n} spots allow"))
    return cfg.replace(**changes), notes


def given_fields(args, names: Collection[str]) -> set[str]:
    """The config fields among ``names`` that were given on the command line (not None)."""
    return {name for name in names if getattr(args, name, None) is not None}


def size_record(size: DataSize, cfg: ScrclConfig) -> dict:
    """The data-size-dependent values of a run, for metrics.json."""
    from ..clustering.selection import SILHOUETTE_SAMPLE

    genes = min(cfg.hvg, size.n_genes)
    return {"n_cells_kept": size.n_cells, "n_genes_available": size.n_genes,
            "silhouette_sample": int(min(SILHOUETTE_SAMPLE, size.n_cells)),
            "pca_components": pca_components((size.n_cells, genes))}

