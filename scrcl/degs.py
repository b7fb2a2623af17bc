"""Marker genes of clusters: ranking, the published filter, the DEG table, and label files.

The published ``draw_DEGs.py`` log-normalises the counts, ranks genes with
``sc.tl.rank_genes_groups`` and keeps the genes that pass
``sc.tl.filter_rank_genes_groups(min_in_group_fraction=0.5, max_out_group_fraction=0.25,
min_fold_change=1)``. This module does the same for any grouping and turns the result into
one tidy table. It also reads and writes the published label format
(``pred_label_dict_<dataset>.mat``: one integer vector per seed, keyed by the seed) and the
label table of a ``runSC.py`` / ``runST.py`` run directory.

The maths functions take an AnnData and return values; the functions that touch files are
grouped at the end.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Mapping, Optional, Union

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .errors import ScrclInputError
from .io import atomic_path

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

LABEL_FILE_PREFIX = "pred_label_dict_"
_SEED_KEY = re.compile(r"^(?:seed_?)?(\d+)$")


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


# ---------------------------------------------------------------------------------------
# maths
# ---------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------------------

def read_label_mat(path: Union[str, Path]) -> dict[int, np.ndarray]:
    """Read a published label file: ``{seed: (N,) int labels}``, sorted by seed.

    Keys may be the bare seed (``'5'``, as published) or ``'seed5'``; MATLAB header
    entries are ignored. Raises ScrclInputError when the file cannot be read or holds no
    seed-keyed vector.
    """
    from scipy.io import loadmat

    path = Path(path)
    if not path.is_file():
        raise ScrclInputError(f"label file not found: {path}; give the path to a "
                              f"{LABEL_FILE_PREFIX}<dataset>.mat file")
    try:
        content = loadmat(str(path))
    except Exception as exc:  # scipy raises several types for a file that is not .mat
        raise ScrclInputError(f"cannot read {path} as a MATLAB .mat file ({exc}); give a file "
                              f"written by scipy.io.savemat with one label vector per seed")
    labels: dict[int, np.ndarray] = {}
    for key, value in content.items():
        match = _SEED_KEY.match(key)
        if match is None or not isinstance(value, np.ndarray):
            continue
        vector = np.asarray(value).ravel()
        if vector.dtype.kind == "f" and np.all(vector == np.round(vector)):
            vector = vector.astype(np.int64)
        labels[int(match.group(1))] = vector
    if not labels:
        raise ScrclInputError(f"{path} holds no label vector keyed by a seed (keys: "
                              f"{', '.join(k for k in content if not k.startswith('__'))}); "
                              f"expected keys such as '5', '15'")
    return dict(sorted(labels.items()))


def write_label_mat(path: Union[str, Path], labels: Mapping[int, np.ndarray]) -> None:
    """Write ``{seed: labels}`` in the published format (keys are the seeds), atomically."""
    from scipy.io import savemat

    with atomic_path(Path(path)) as tmp:
        with open(tmp, "wb") as fh:
            savemat(fh, {str(int(seed)): np.asarray(v).ravel() for seed, v in labels.items()})


def dataset_from_label_file(path: Union[str, Path]) -> Optional[str]:
    """``Baron_human`` for ``pred_label_dict_Baron_human.mat``; None for other names."""
    stem = Path(path).stem
    if not stem.startswith(LABEL_FILE_PREFIX):
        return None
    return stem[len(LABEL_FILE_PREFIX):] or None


# ---------------------------------------------------------------------------------------
# run directories written by runSC.py / runST.py
# ---------------------------------------------------------------------------------------

LABELS_FILE = "labels.csv"
METRICS_FILE = "metrics.json"
ANNDATA_FILE = "scrcl.h5ad"
TASKS = ("SC", "ST")


@dataclass(frozen=True)
class Run:
    """A run directory: ``<results>/<task>/<dataset>/`` with labels.csv (and usually more)."""

    path: Path
    task: str  # "SC" or "ST" (the name of the parent folder), "SC" when unknown
    dataset: str  # metrics.json 'dataset', else the folder name
    seeds: tuple[int, ...]
    label_key: Optional[str]  # metrics.json 'label_key'
    input: Optional[Path] = None  # metrics.json 'input': the file runSC.py read, if a file


    @property
    def anndata_path(self) -> Path:
        return self.path / ANNDATA_FILE


def _seed_columns(columns) -> dict[int, str]:
    seeds = {}
    for col in columns:
        match = _SEED_KEY.match(str(col))
        if match is not None:
            seeds[int(match.group(1))] = col
    return seeds


def open_run(path: Union[str, Path]) -> Run:
    """Describe the run in ``path``; raises ScrclInputError when it has no labels.csv."""
    path = Path(path)
    labels = path / LABELS_FILE
    if not labels.is_file():
        raise ScrclInputError(f"no {LABELS_FILE} in {path}: give the folder that runSC.py or "
                              f"runST.py wrote (results/SC/<dataset>/)")
    metrics: dict = {}
    if (path / METRICS_FILE).is_file():
        try:
            metrics = json.loads((path / METRICS_FILE).read_text())
        except (OSError, ValueError) as exc:
            logger.warning("cannot read %s: %s", path / METRICS_FILE, exc)
    header = pd.read_csv(labels, nrows=0).columns
    seeds = tuple(sorted(_seed_columns(header[1:])))
    if not seeds:
        raise ScrclInputError(f"{labels} has no seed<S> column of cluster labels; rerun runSC.py")
    task = path.parent.name if path.parent.name in TASKS else "SC"
    source = metrics.get("input")
    source = Path(source) if isinstance(source, str) and Path(source).is_file() else None
    return Run(path=path, task=task, dataset=str(metrics.get("dataset") or path.name),
               seeds=seeds, label_key=metrics.get("label_key"), input=source)


def read_run_labels(run: Run, seed: int) -> pd.Series:
    """Cluster labels of one seed, indexed by cell id (as strings)."""
    table = pd.read_csv(run.path / LABELS_FILE, index_col=0, dtype={0: str})
    table.index = table.index.astype(str)
    columns = _seed_columns(table.columns)
    if seed not in columns:
        raise ScrclInputError(f"seed {seed} was not run in {run.path} (seeds: "
                              f"{', '.join(map(str, sorted(columns)))}); pick one with --seed")
    return table[columns[seed]].rename(f"seed{seed}")


def find_runs(results_root: Union[str, Path]) -> list[Run]:
    """Every run under ``results_root/{SC,ST}/*/``, most recent (labels.csv mtime) first."""
    root = Path(results_root)
    found = []
    for task in TASKS:
        for labels in (root / task).glob(f"*/{LABELS_FILE}"):
            try:
                found.append((labels.stat().st_mtime, open_run(labels.parent)))
            except ScrclInputError as exc:
                logger.warning("skipping %s: %s", labels.parent, exc)
    found.sort(key=lambda item: item[0], reverse=True)
    return [run for _, run in found]


def read_embedding(path: Union[str, Path], key: str) -> Optional[pd.DataFrame]:
    """``obsm[key]`` of an h5ad file as a (cells x dims) frame indexed by cell id, or None.

    Opens the file in backed mode so that X (the counts) is not loaded.
    """
    import anndata as ad

    path = Path(path)
    if not path.is_file():
        return None
    adata = ad.read_h5ad(path, backed="r")
    try:
        if key not in adata.obsm:
            return None
        return pd.DataFrame(np.asarray(adata.obsm[key]), index=adata.obs_names.astype(str))
    finally:
        adata.file.close()
