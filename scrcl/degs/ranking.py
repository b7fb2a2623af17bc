"""Ranking marker genes, the published filter and the DEG table.

The published ``draw_DEGs.py`` log-normalises the counts, ranks genes with
``sc.tl.rank_genes_groups`` and keeps the genes that pass
``sc.tl.filter_rank_genes_groups(min_in_group_fraction=0.5, max_out_group_fraction=0.25,
min_fold_change=1)``. This module does the same for any grouping and turns the result into
one tidy table. Every function takes an AnnData and returns values; none touches files.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import ScrclInputError

logger = logging.getLogger(__name__)

Method = Literal["wilcoxon", "t-test", "logreg"]
METHODS: tuple[str, ...] = ("wilcoxon", "t-test", "logreg")

RANK_KEY = "rank_genes_groups"  # uns key of the full ranking
FILTERED_KEY = "rank_genes_groups_filtered"  # uns key of the ranking after the filter
NORMALISE_TARGET = 1e4  # library size after normalisation, before log1p

#: Columns of ``degs.csv``, in order.
DEG_COLUMNS: tuple[str, ...] = (
    "cluster",  # group name
    "rank",  # 1-based position in the method's ranking of all genes for this cluster
    "gene",
    "score",  # the method's statistic (z-score for wilcoxon, t for t-test, coefficient for logreg)
    "logfoldchange",  # log2 of the ratio of mean expression in / out of the cluster
    "pval_adj",  # Benjamini-Hochberg adjusted p-value (empty for logreg)
    "frac_in",  # fraction of the cluster's cells expressing the gene
    "frac_out",  # fraction of all other cells expressing the gene
    "passes_filter",  # the published filter keeps this gene
    "marker_rank",  # 1-based position among the cluster's genes that pass (empty otherwise)
)


@dataclass(frozen=True)
class DegFilter:
    """Thresholds of ``sc.tl.filter_rank_genes_groups``; the defaults are the published ones.

    A gene is kept for a cluster when ``frac_in > min_in_group_fraction``,
    ``frac_out < max_out_group_fraction`` and ``logfoldchange > min_fold_change``
    (strict inequalities, as in scanpy).
    """

    min_in_group_fraction: float = 0.5
    max_out_group_fraction: float = 0.25
    min_fold_change: float = 1.0
    enabled: bool = True  # False: every ranked gene passes


def _is_integer_valued(x) -> bool:
    values = x.data if sp.issparse(x) else np.asarray(x)
    sample = np.asarray(values).ravel()[:200_000]
    return bool(np.all(np.isfinite(sample)) and np.all(sample == np.round(sample)))


def log_normalise(counts) -> "anndata.AnnData":  # noqa: F821
    """A copy of ``counts`` with X library-size normalised (to 1e4) and log1p-transformed.

    X must hold non-negative values. Integer-valued X is taken as raw counts and
    normalised; any other non-negative X is taken as already normalised and used as is
    (a warning says so). Raises ScrclInputError for negative values, which means features
    such as PCA scores, not expression.
    """
    import scanpy as sc

    adata = counts.copy()
    x = adata.X
    minimum = (x.min() if sp.issparse(x) else np.nanmin(x)) if adata.n_obs and adata.n_vars else 0
    if minimum < 0:
        raise ScrclInputError(
            "the expression matrix holds negative values (features such as PCA scores, not "
            "expression), so marker genes cannot be computed: give a data set with counts in X")
    if _is_integer_valued(x):
        sc.pp.normalize_total(adata, target_sum=NORMALISE_TARGET)
        sc.pp.log1p(adata)
    else:
        logger.warning("X is not integer counts; taking it as already log-normalised")
    if sp.issparse(adata.X):
        adata.X = sp.csr_matrix(adata.X, dtype=np.float32)
    return adata


def check_groups(groups: pd.Series, what: str = "cluster") -> None:
    """Raise ScrclInputError unless there are >= 2 groups and every group has >= 2 cells."""
    counts = groups.value_counts()
    if len(counts) < 2:
        raise ScrclInputError(
            f"only one {what} ({counts.index[0] if len(counts) else 'none'}) among the cells; "
            f"marker genes need at least two groups to compare")
    small = counts[counts < 2]
    if len(small):
        names = ", ".join(f"'{g}'" for g in small.index[:5])
        raise ScrclInputError(
            f"{what} {names} has only one cell, and ranking genes needs at least two cells per "
            f"group: pick another --seed, or use labels without singleton {what}s")


def rank_genes(adata_log, groupby: str, method: Method = "wilcoxon",
               key_added: str = RANK_KEY) -> None:
    """Rank every gene for every group against the rest; writes ``uns[key_added]``.

    adata_log: log-normalised AnnData (see :func:`log_normalise`) with the categorical
    column ``obs[groupby]``. Uses X, not ``raw``.
    """
    import scanpy as sc

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    kwargs = {"max_iter": 1000} if method == "logreg" else {}
    sc.tl.rank_genes_groups(adata_log, groupby, method=method, use_raw=False, pts=True,
                            n_genes=adata_log.n_vars, key_added=key_added, **kwargs)


def filter_ranking(adata_log, deg_filter: DegFilter = DegFilter(), key: str = RANK_KEY,
                   key_added: str = FILTERED_KEY) -> None:
    """Apply the published filter; writes ``uns[key_added]`` (failing genes' names are NaN)."""
    import scanpy as sc

    f = deg_filter
    if f.enabled:
        sc.tl.filter_rank_genes_groups(
            adata_log, key=key, key_added=key_added, use_raw=False,
            min_in_group_fraction=f.min_in_group_fraction,
            max_out_group_fraction=f.max_out_group_fraction,
            min_fold_change=f.min_fold_change)
    else:
        adata_log.uns[key_added] = adata_log.uns[key].copy()


def _group_stats(adata_log, groupby: str, group: str, genes: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """log2 fold change, fraction in and fraction out, computed as scanpy does."""
    x = adata_log[:, genes].X
    in_group = (adata_log.obs[groupby].astype(str) == str(group)).to_numpy()
    x_in, x_out = x[in_group], x[~in_group]

    def mean(m):
        return np.ravel(m.mean(axis=0))

    def frac(m):
        return np.ravel((m != 0).sum(axis=0)) / max(m.shape[0], 1)

    base = adata_log.uns.get("log1p", {}).get("base")
    scale = np.log(base) if base is not None else 1.0
    lfc = np.log2((np.expm1(mean(x_in) * scale) + 1e-9) / (np.expm1(mean(x_out) * scale) + 1e-9))
    return lfc, frac(x_in), frac(x_out)


def degs_table(adata_log, key: str = RANK_KEY, filtered_key: str = FILTERED_KEY,
               table_genes: int = 100) -> pd.DataFrame:
    """One row per (cluster, gene) for every cluster, with the columns of :data:`DEG_COLUMNS`.

    For each cluster the table holds the top ``table_genes`` genes of the ranking and every
    further gene that passes the filter (so the markers are complete even deep in the
    ranking). Rows are sorted by cluster (in category order) and rank.
    """
    ranking = adata_log.uns[key]
    groupby = ranking["params"]["groupby"]
    names = pd.DataFrame(ranking["names"])
    kept = pd.DataFrame(adata_log.uns[filtered_key]["names"])
    frames = []
    for cluster in names.columns:
        genes = names[cluster].to_numpy(dtype=object)
        passes = kept[cluster].notna().to_numpy()
        rows = np.flatnonzero((np.arange(len(genes)) < table_genes) | passes)
        sub_genes = genes[rows].astype(str)

        def field(name):
            if name in ranking:
                return pd.DataFrame(ranking[name])[cluster].to_numpy()[rows].astype(float)
            return None

        lfc, frac_in, frac_out = field("logfoldchanges"), None, None
        if "pts" in ranking:
            frac_in = ranking["pts"][cluster].reindex(sub_genes).to_numpy(dtype=float)
            frac_out = ranking["pts_rest"][cluster].reindex(sub_genes).to_numpy(dtype=float)
        if lfc is None or frac_in is None:  # logreg reports neither: compute them
            c_lfc, c_in, c_out = _group_stats(adata_log, groupby, cluster, sub_genes)
            lfc = c_lfc if lfc is None else lfc
            frac_in = c_in if frac_in is None else frac_in
            frac_out = c_out if frac_out is None else frac_out
        pvals = field("pvals_adj")
        marker_rank = np.full(len(rows), np.nan)
        marker_rank[passes[rows]] = np.arange(1, passes[rows].sum() + 1)
        frames.append(pd.DataFrame({
            "cluster": cluster,
            "rank": rows + 1,
            "gene": sub_genes,
            "score": field("scores"),
            "logfoldchange": lfc,
            "pval_adj": pvals if pvals is not None else np.nan,
            "frac_in": frac_in,
            "frac_out": frac_out,
            "passes_filter": passes[rows],
            "marker_rank": pd.array(marker_rank, dtype="Int64"),
        }))
    table = pd.concat(frames, ignore_index=True)
    return table[list(DEG_COLUMNS)]


def top_markers(table: pd.DataFrame, n_genes: int) -> dict[str, list[str]]:
    """The first ``n_genes`` genes passing the filter for each cluster (clusters without
    any are left out), in the table's cluster order."""
    markers: dict[str, list[str]] = {}
    passing = table[table["passes_filter"]].sort_values(["marker_rank"], kind="stable")
    for cluster in pd.unique(table["cluster"]):
        genes = passing.loc[passing["cluster"] == cluster, "gene"].head(n_genes).tolist()
        if genes:
            markers[str(cluster)] = genes
    return markers
