"""From an AnnData of counts to the model's inputs (METHOD.md section 1).

``prepare_sc`` filters, normalises, selects genes and builds the sparse cell and gene
graphs and the two smoothed views. It reads no labels.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional, Union

import anndata as ad
import numpy as np
import scipy.sparse as sp

from .. import graphs
from ..errors import ScrclInputError
from .checks import check_at_most, check_enough_cells, check_matrix
from .content import count_type

__all__ = ["PreparedData", "as_csr", "check_matrix", "filter_empty", "log_normalize",
           "select_hvg", "pca", "pca_components", "prepare_sc", "prepare_sc_with",
           "resolve_features"]

log = logging.getLogger(__name__)

Matrix = Union[np.ndarray, sp.csr_matrix]


@dataclass
class PreparedData:
    """Everything the model needs, as numpy / scipy objects (no torch yet).

    The two views are X1 = S^t1 X and X2 = S^t2 X (``tms = (t1, t2)``); they are kept as
    X and t, because for sparse X the model computes S^t (X W) instead, which is the same
    number at a fraction of the cost.
    """

    features: Matrix  # (N, G) X: counts or log-normalised values (scRNA-seq), or scaled
    # expression (spatial)
    tms: tuple[int, int]  # smoothing steps of the MLP view and of the GCN view
    cell_adj: sp.csr_matrix  # (N, N) binary symmetric cell graph, no self loops
    gene_adj: sp.csr_matrix  # (G, G) binary symmetric gene graph, no self loops
    cells: np.ndarray  # (N,) bool mask of the input cells kept
    genes: np.ndarray  # (G,) names of the selected genes
    graph_features: Optional[np.ndarray] = None  # what the cell graph was built on
    input_kind: str = "counts"  # what X holds: 'counts', 'lognorm' or 'processed'

    @property
    def n_cells(self) -> int:
        return self.features.shape[0]

    @property
    def n_genes(self) -> int:
        return self.features.shape[1]

    @classmethod
    def build(cls, features: Matrix, tms, cell_adj: sp.csr_matrix, gene_k: int,
              cells: np.ndarray, genes: np.ndarray,
              graph_features: Optional[np.ndarray] = None,
              input_kind: str = "counts") -> "PreparedData":
        """PreparedData with the gene graph made here, from each gene's profile X^T."""
        check_at_most("gene_k", gene_k, features.shape[1], "the number of genes kept")
        if sp.issparse(features) and features.shape[0] >= SPARSE_GENE_GRAPH_MIN_CELLS:
            gene_adj = graphs.gene_graph_sparse(features, gene_k)
        else:
            profiles = (features.T.toarray() if sp.issparse(features)
                        else np.ascontiguousarray(features.T))
            gene_adj = graphs.gene_graph(profiles, gene_k)
        return cls(features, tuple(tms), cell_adj, gene_adj, cells, np.asarray(genes),
                   graph_features, input_kind)

    @property
    def x1(self) -> Matrix:
        """(N, G) the MLP view's input S^t1 X."""
        return graphs.smooth(self.features, self.cell_adj, self.tms[0])

    @property
    def x2(self) -> Matrix:
        """(N, G) the GCN view's input S^t2 X."""
        return graphs.smooth(self.features, self.cell_adj, self.tms[1])


#: from this many cells on, the gene graph of sparse features comes from their Gram matrix
#: (``graphs.gene_graph_sparse``: same graph, no dense (G, N) copy); below, the dense search
#: that every stored benchmark used
SPARSE_GENE_GRAPH_MIN_CELLS = 20_000


def as_csr(x) -> sp.csr_matrix:
    return sp.csr_matrix(x, dtype=np.float32) if not sp.issparse(x) else x.tocsr().astype(np.float32)


def filter_empty(counts: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Masks of cells with at least one expressed gene and genes expressed in some cell."""
    cells = np.diff(counts.indptr) > 0
    genes = np.bincount(counts.indices, minlength=counts.shape[1]) > 0
    return cells, genes


def log_normalize(counts: sp.csr_matrix, target: float = 1e4) -> sp.csr_matrix:
    """log1p of counts scaled to ``target`` total per cell. counts: (N, G) CSR."""
    totals = np.asarray(counts.sum(axis=1)).ravel()
    scale = np.where(totals > 0, target / np.where(totals > 0, totals, 1), 0.0)
    out = sp.diags(scale.astype(np.float32)) @ counts
    out = out.tocsr()
    out.data = np.log1p(out.data)
    return out


def select_hvg(lognorm: sp.csr_matrix, n_top: int) -> np.ndarray:
    """Indices of the ``n_top`` most variable genes (scanpy's 'seurat' flavour, log data)."""
    import scanpy as sc

    n_genes = lognorm.shape[1]
    if n_top >= n_genes:
        return np.arange(n_genes)
    tmp = ad.AnnData(lognorm)
    sc.pp.highly_variable_genes(tmp, flavor="seurat", n_top_genes=n_top)
    return np.flatnonzero(tmp.var["highly_variable"].to_numpy())


N_PCS = 50  # principal components of the cell graph (large data) and of K estimation


def pca_components(shape: tuple[int, int], wanted: int = N_PCS) -> int:
    """The components a PCA of an (N, G) matrix gets: ``wanted``, at most min(N, G) - 1."""
    return max(1, min(wanted, min(shape) - 1))


def pca(x: Matrix, n_comps: int = N_PCS, seed: int = 0) -> np.ndarray:
    """Principal components of x (N, G) -> (N, n_comps), centred, via randomized SVD;
    ``n_comps`` is lowered to min(N, G) - 1 for small data (:func:`pca_components`)."""
    from sklearn.decomposition import PCA

    dense = x.toarray() if sp.issparse(x) else np.asarray(x)
    n_comps = pca_components(dense.shape, n_comps)
    return PCA(n_comps, svd_solver="randomized", random_state=seed).fit_transform(dense)


#: input kinds of the scRNA-seq features (``--features``)
FEATURES = ("auto", "counts", "lognorm")


def fraction_of_ones(counts: sp.csr_matrix) -> float:
    """The fraction of the nonzero entries of a count matrix that equal 1."""
    return float(np.mean(counts.data == 1)) if counts.nnz else 1.0


def counts_scale(lognorm: sp.csr_matrix, counts: sp.csr_matrix) -> float:
    """The factor that gives log-normalised values the mean of the raw counts they come
    from: sum(counts) / sum(lognorm) over the same (N, G) entries (1 when either is 0).

    Why: the published optimiser settings (learning rate, weight decay 0.1 in the
    scRNA-seq defaults) were tuned on raw counts, whose mean is 0.1-30 on the stand-ins;
    log values lie in 0-9 with means near 0.1, about 250x below the counts of a read-count
    set. One constant per data set keeps every cell's profile (library size removed) and
    gives the network inputs of the magnitude those settings were tuned for. On the
    Darmanis stand-in (3 seeds, 500 epochs, label-free) unscaled log values scored ARI
    0.704 +- 0.081, scaled ones 0.845 +- 0.006, raw counts 0.807 +- 0.068 (BENCHMARKS.md).
    """
    num, den = float(counts.sum()), float(lognorm.sum())
    return num / den if num > 0 and den > 0 else 1.0


def resolve_features(setting: str, counts: sp.csr_matrix) -> tuple[str, str]:
    """('counts' or 'lognorm', why) for ``setting`` in FEATURES; reads no label.

    'auto' gives the network log-normalised values where the counts look like read counts
    (:func:`scrcl.data.content.count_type`: at least two of few ones, a high median and a
    high mean among the non-zero counts; full-length protocols: library sizes spread over
    orders of magnitude, values up to 1e5, so that raw counts would let sequencing depth
    decide the clusters), and the published raw counts where they look like UMI counts.
    """
    if setting not in FEATURES:
        raise ValueError(f"features must be one of {FEATURES}, got {setting!r}")
    if setting != "auto":
        return setting, "as asked"
    kind, why = count_type(counts.data)
    if kind == "reads":
        return "lognorm", f"auto: the counts look like read counts ({why})"
    return "counts", f"auto: the counts look like UMI counts ({why})"


def prepare_sc(adata: ad.AnnData, hvg: int, k: int, tms: tuple[int, int], gene_k: int = 5,
               pca_threshold: int = 10_000, features: str = "auto",
               input_kind: str = "counts") -> PreparedData:
    """scRNA-seq preparation (METHOD.md 1, scRNA-seq): counts in ``adata.X`` (or, with
    ``input_kind='lognorm'``, log-normalised values when a file holds no counts:
    ``scrcl.data.source``).

    Drops empty cells and genes; selects ``hvg`` genes on log-normalised data; features are
    the raw counts of those genes (``features='counts'``, as published) or their
    log-normalised values ('lognorm': library size removed, then scaled by one constant
    to the mean of the raw counts, :func:`counts_scale`; 'auto': see
    :func:`resolve_features`); the cell graph is the cosine kNN graph of the
    log-normalised selected genes (of their 50 PCs from ``pca_threshold`` cells on); the gene
    graph is the Euclidean kNN graph of the genes' feature profiles. Log-normalised input is
    never normalised again: it is the 'lognorm' feature, scaled to the mean of its
    ``expm1`` (the normalised counts), the closest thing to the raw counts' mean it holds.
    """
    if input_kind not in ("counts", "lognorm"):
        raise ValueError(f"input_kind must be 'counts' or 'lognorm', got {input_kind!r}")
    check_matrix(adata.X, counts=True)
    matrix = as_csr(adata.X)
    cells, genes = filter_empty(matrix)
    if cells.sum() < cells.size:
        log.info("dropped %d cells with no expressed gene", cells.size - cells.sum())
    matrix = matrix[cells][:, genes]
    n, g = matrix.shape
    check_enough_cells(n)
    check_at_most("hvg", hvg, g, "the number of expressed genes")
    check_at_most("k", k, n - 1, f"the neighbours the {n} cells allow")
    if input_kind == "lognorm":
        if features == "counts":
            raise ScrclInputError("--features counts needs raw counts; the input is "
                                  "log-normalised")
        kind, lognorm, counts = "lognorm", matrix, None
        log.info("features: lognorm (the input is log-normalised; it is not normalised again)")
    else:
        counts = matrix
        kind, why = resolve_features(features, counts)
        if features != "counts":
            log.info("features: %s (%s)", kind, why)
        lognorm = log_normalize(counts)
    selected = select_hvg(lognorm, hvg)
    graph_in = lognorm[:, selected]
    if kind == "lognorm":
        if counts is not None:
            reference = counts[:, selected]
        else:
            reference = graph_in.copy()
            reference.data = np.expm1(reference.data)
        factor = counts_scale(graph_in, reference)
        log.info("features: log-normalised values x %.3g (the mean of the %s)", factor,
                 "raw counts" if counts is not None else "normalised counts")
        x = (graph_in * np.float32(factor)).tocsr()
    else:
        x = counts[:, selected]
    graph_features = pca(graph_in) if n >= pca_threshold else graph_in.toarray()
    return PreparedData.build(x, tms, graphs.cell_graph(graph_features, k), gene_k, cells,
                              adata.var_names[genes][selected], graph_features, kind)


def prepare_sc_with(adata: ad.AnnData, cfg, input_kind: str = "counts") -> PreparedData:
    """:func:`prepare_sc` with the settings of a ``ScrclConfig``."""
    return prepare_sc(adata, cfg.hvg, cfg.k, cfg.tms, cfg.gene_k, cfg.pca_threshold,
                      cfg.features, input_kind)
