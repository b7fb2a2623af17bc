"""The whole marker-gene analysis of ``draw_DEGs.py``: find the data and the labels of a run
(or a published label file), check that they belong together, rank and filter the genes of
every group, and write the table, the figures and the UMAP into one folder, all at once (a
failed analysis leaves no partial folder behind)."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pandas as pd

from .._constants import DEFAULT_SC_LABEL_KEY, EMBEDDING_KEY, KEY_ADDED, SEED_KEY
from ..data.read import read_h5ad
from ..data.genes import with_symbols
from ..data.registry import DatasetRef, canonical_sc_name, resolve_sc
from ..data.source import choose_matrix
from ..errors import ScrclInputError
from ..io import atomic_dir
from .files import (LABEL_FILE_PREFIX, LABELS_FILE, TASKS, Run, dataset_from_label_file,
                    find_runs, open_run, read_embedding, read_label_mat, read_run_labels)
from .ranking import (NORMALISE_TARGET, DegFilter, check_groups, degs_table, filter_ranking,
                      log_normalise, rank_genes, top_markers)

logger = logging.getLogger(__name__)

DEFAULT_RESULTS = Path("results")
DEFAULT_FIGURES = Path("figures")
TABLE_FILE = "degs.csv"
PARAMS_FILE = "degs.json"
UNLABELLED = "unlabelled"


@dataclass
class DegOptions:
    """What to analyse and how (the options of draw_DEGs.py, same names)."""

    dataset: Optional[str] = None  # benchmark name or .h5ad path; None: from the run
    data_dir: Optional[str] = None
    results: Optional[str] = None  # a run folder or a results root
    labels: Optional[str] = None  # a published pred_label_dict_<dataset>.mat
    seed: Optional[int] = None
    groupby: str = "pred"  # 'pred' or 'truth'
    label_key: Optional[str] = None
    method: str = "wilcoxon"
    min_in_group_fraction: float = 0.5
    max_out_group_fraction: float = 0.25
    min_fold_change: float = 1.0
    no_filter: bool = False
    n_genes: int = 3
    table_genes: int = 100
    format: str = "png"
    out: Optional[str] = None
    no_umap: bool = False


@dataclass
class Inputs:
    """Everything read from disk, checked and aligned on the same cells."""

    name: str  # data set name for the output path
    task: str  # SC or ST
    data_path: Path  # file the expression was read from
    counts: "anndata.AnnData"  # noqa: F821  cells of the labels, in their order
    predicted: Optional[pd.Series]  # (N,) cluster ids as strings, or None
    truth: Optional[pd.Series]  # (N,) true labels as strings, or None
    seed: Optional[int]  # the seed whose clusters are analysed; None: the seeds' consensus
    label_key: str
    run: Optional[Run]
    labels_file: Optional[Path]


def _resolve_name(arg: str, data_dir: Optional[str]):
    """(name, DatasetRef or None, the resolution error or None) for ``--dataset``."""
    try:
        ref = resolve_sc(arg, data_dir)
        return ref.name, ref, None
    except ScrclInputError as exc:
        path = Path(arg)
        name = canonical_sc_name(arg) or (path.stem if path.suffix in (".h5ad", ".h5") else arg)
        return name, None, exc


def _results_root_and_run(results: Optional[str]) -> tuple[Path, Optional[Run]]:
    if results is None:
        return DEFAULT_RESULTS, None
    path = Path(results)
    if (path / LABELS_FILE).is_file():
        return path.parent.parent, open_run(path)
    if not path.is_dir():
        raise ScrclInputError(f"results folder not found: {path}; give the folder runSC.py "
                              f"wrote (results/SC/<dataset>/) or a results root")
    return path, None


def _run_of(root: Path, name: str) -> Optional[Run]:
    candidates = [root / task / name for task in TASKS]
    found = [c for c in candidates if (c / LABELS_FILE).is_file()]
    if not found:
        return None
    found.sort(key=lambda c: (c / LABELS_FILE).stat().st_mtime, reverse=True)
    return open_run(found[0])


def _read_counts(path: Path):
    if path.suffix != ".h5ad":
        raise ScrclInputError(f"draw_DEGs.py reads .h5ad files, not {path.name}: convert it, "
                              f"or run runSC.py first and use its results folder")
    adata = read_h5ad(path)
    adata.obs_names = adata.obs_names.astype(str)
    matrix = choose_matrix(adata)
    logger.info("%s", matrix.message())
    counts, column = with_symbols(matrix.adata)
    if column is not None:
        logger.info("genes are shown by their symbols in var['%s'] (the Ensembl ids in "
                    "var['gene_ids'])", column)
    return counts


def _align_by_id(counts, labels: pd.Series, source: str, data_path: Path):
    """The rows of ``counts`` for the cells of ``labels``, in the labels' order."""
    if list(labels.index) == list(counts.obs_names):
        return counts
    if not counts.obs_names.is_unique:
        raise ScrclInputError(f"cell ids in {data_path} are not unique, so the cells of {source} "
                              f"cannot be matched; make obs_names unique and rerun runSC.py")
    where = counts.obs_names.get_indexer(labels.index)
    missing = int((where < 0).sum())
    if missing:
        raise ScrclInputError(
            f"{missing} of the {len(labels)} cells in {source} are not in {data_path} "
            f"({counts.n_obs} cells): the run was made on other data; pass the same --dataset "
            f"as to runSC.py")
    return counts[where].copy()


def _series(values, index, categories_numeric: bool) -> pd.Series:
    values = pd.Series(np.asarray(values), index=index)
    missing = values.isna()
    text = values.astype(str).where(~missing, UNLABELLED)
    if categories_numeric:
        order = sorted(text.unique(), key=lambda v: (not v.lstrip("-").isdigit(),
                                                     int(v) if v.lstrip("-").isdigit() else 0, v))
    else:
        order = sorted(text.unique())
    return pd.Series(pd.Categorical(text, categories=order), index=index)


def locate_inputs(args: DegOptions, say: Callable[[str], None]) -> Inputs:
    """Find and read the data, the labels and the run, and check that they fit together."""
    root, run = _results_root_and_run(args.results)
    name = ref = resolve_error = None
    if args.dataset is not None:
        name, ref, resolve_error = _resolve_name(args.dataset, args.data_dir)
    elif args.labels is not None:
        guessed = dataset_from_label_file(args.labels)
        if guessed is None:
            raise ScrclInputError(f"cannot tell the data set of {args.labels}: pass --dataset "
                                  f"(or name the file {LABEL_FILE_PREFIX}<dataset>.mat)")
        name, ref, resolve_error = _resolve_name(guessed, args.data_dir)

    if run is None and name is not None:
        run = _run_of(root, name)
    if run is None and args.labels is None:
        if resolve_error is not None:
            raise resolve_error
        if name is not None:
            raise ScrclInputError(
                f"no results for {name} in {root}/SC/{name}/ or {root}/ST/{name}/: run "
                f"'python runSC.py --dataset {args.dataset}' first, or pass --results DIR or "
                f"--labels FILE")
        runs = find_runs(root)
        if not runs:
            raise ScrclInputError(f"no results found under {root}/ (no <SC|ST>/<dataset>/"
                                  f"labels.csv): run runSC.py first, or pass --results DIR")
        run = runs[0]
        say(f"using the most recent run: {run.path}")
    if name is None:  # from the run: the file it read, else its data set name
        name, ref, resolve_error = _resolve_name(run.dataset, args.data_dir)
        if run.input is not None:
            ref = DatasetRef(name, run.input, benchmark=False, label_key=run.label_key)

    # expression: the data set as runSC.py resolves it, else the cells the run saved
    if ref is not None and ref.path is not None and ref.path.suffix == ".h5ad":
        data_path = ref.path
    elif run is not None and run.anndata_path.is_file():
        data_path = run.anndata_path
        logger.info("reading expression from %s", data_path)
    elif resolve_error is not None:
        raise resolve_error
    else:
        raise ScrclInputError(f"no expression data for {name}: pass --dataset with the .h5ad "
                              f"file the run was made on")
    counts = _read_counts(data_path)

    # predicted labels of one seed
    labels_file = Path(args.labels) if args.labels is not None else None
    predicted, seed = None, None
    if labels_file is not None:
        by_seed = read_label_mat(labels_file)
        seed = args.seed if args.seed is not None else next(iter(by_seed))
        if seed not in by_seed:
            raise ScrclInputError(f"seed {seed} is not in {labels_file} (seeds: "
                                  f"{', '.join(map(str, by_seed))}); pick one with --seed")
        vector = by_seed[seed]
        if len(vector) != counts.n_obs:
            raise ScrclInputError(
                f"{labels_file} has {len(vector)} labels for seed {seed} but {data_path} has "
                f"{counts.n_obs} cells: the labels belong to another data set or another cell "
                f"filtering; pass the matching --dataset")
        predicted = pd.Series(vector, index=counts.obs_names)
    else:
        seed = args.seed if args.seed is not None else (
            None if run.has_consensus else run.seeds[0])
        labels = read_run_labels(run, seed)
        counts = _align_by_id(counts, labels, str(run.path / LABELS_FILE), data_path)
        predicted = pd.Series(labels.to_numpy(), index=counts.obs_names)
    predicted = _series(predicted.to_numpy(), counts.obs_names, categories_numeric=True)

    # true labels
    label_key = (args.label_key or (run.label_key if run else None)
                 or (ref.label_key if ref else None) or DEFAULT_SC_LABEL_KEY)
    truth = None
    if label_key in counts.obs:
        truth = _series(counts.obs[label_key].to_numpy(dtype=object), counts.obs_names,
                        categories_numeric=False)
    elif args.groupby == "truth":
        columns = ", ".join(map(str, counts.obs.columns)) or "none"
        raise ScrclInputError(f"no label column '{label_key}' in {data_path} (obs columns: "
                              f"{columns}); name the column of true labels with --label-key")

    task = run.task if run is not None else "SC"
    return Inputs(name=name, task=task, data_path=data_path, counts=counts,
                  predicted=predicted, truth=truth, seed=seed, label_key=label_key, run=run,
                  labels_file=labels_file)


def draw(args: DegOptions, say: Callable[[str], None]) -> Path:
    """Rank the genes of the groups, then write degs.csv, degs.json, the marker figures and
    the UMAP into the output folder, all at once; returns the folder. ``say`` prints a
    progress line."""
    from .. import plotting
    from ..plotting.degs import UMAP_STEM

    inputs = locate_inputs(args, say)
    if args.groupby == "truth":
        groups, group_col = inputs.truth, inputs.label_key
        if (groups == UNLABELLED).any():
            keep = (groups != UNLABELLED).to_numpy()
            logger.warning("leaving out %d cells without a true label", int((~keep).sum()))
            groups = groups[keep].cat.remove_unused_categories()
        what = "cell type"
    else:
        groups, group_col = inputs.predicted, (KEY_ADDED if inputs.seed is None
                                               else SEED_KEY.format(seed=inputs.seed))
        what = "cluster"
    check_groups(groups, what)

    counts = inputs.counts[groups.index.to_numpy()] if len(groups) < inputs.counts.n_obs \
        else inputs.counts
    adata = log_normalise(counts)
    adata.obs[group_col] = groups.to_numpy()
    deg_filter = DegFilter(args.min_in_group_fraction, args.max_out_group_fraction,
                                args.min_fold_change, enabled=not args.no_filter)
    say(f"ranking {adata.n_vars} genes in {groups.nunique()} {what}s of {adata.n_obs} cells "
        f"({args.method})")
    rank_genes(adata, group_col, args.method)
    filter_ranking(adata, deg_filter)
    table = degs_table(adata, table_genes=args.table_genes)
    markers = top_markers(table, args.n_genes)
    if not markers:
        raise ScrclInputError(
            "no gene passes the filter in any cluster; loosen --min-in-group-fraction, "
            "--max-out-group-fraction or --min-fold-change, or pass --no-filter")
    for group in adata.obs[group_col].cat.categories:
        if group not in markers:
            logger.warning("%s %s: no gene passes the filter", what, group)

    embedding = None
    if not args.no_umap and inputs.run is not None:
        frame = read_embedding(inputs.run.anndata_path, EMBEDDING_KEY)
        if frame is None:
            say(f"umap: skipped (no obsm['{EMBEDDING_KEY}'] in {inputs.run.anndata_path})")
        elif not inputs.counts.obs_names.isin(frame.index).all():
            say(f"umap: skipped (the cells of {inputs.run.anndata_path} are not those analysed)")
        else:
            embedding = frame.loc[inputs.counts.obs_names].to_numpy()
    elif not args.no_umap:
        say("umap: skipped (no run folder with an embedding for these labels)")

    out = Path(args.out) if args.out else (
        DEFAULT_FIGURES / inputs.task / inputs.name
        / ("DEGs_truth" if args.groupby == "truth" else "DEGs"))
    with atomic_dir(out) as staging:
        table.to_csv(staging / TABLE_FILE, index=False)
        say(f"table: {out / TABLE_FILE} ({len(table)} rows, "
            f"{int(table['passes_filter'].sum())} pass the filter)")
        files = [TABLE_FILE]
        written = plotting.marker_figures(
            adata, group_col, markers, staging, args.format,
            progress=lambda name, path: say(f"{name}: {out / path.name}"))
        files += [p.name for p in written]
        if embedding is not None:
            say(f"umap: computing on {embedding.shape[0]} cells x {embedding.shape[1]} dims")
            coords = plotting.umap_coordinates(embedding)
            which = "consensus of the seeds" if inputs.seed is None else f"seed {inputs.seed}"
            colourings = {f"predicted ({which})": inputs.predicted}
            if inputs.truth is not None:
                colourings[f"true ({inputs.label_key})"] = inputs.truth
            path = plotting.umap_figure(coords, colourings,
                                        staging / f"{UMAP_STEM}.{args.format}",
                                        args.format)
            files.append(path.name)
            say(f"umap: {out / path.name}")
        params = {
            "dataset": inputs.name, "data": str(inputs.data_path),
            "run": str(inputs.run.path) if inputs.run else None,
            "labels_file": str(inputs.labels_file) if inputs.labels_file else None,
            "seed": inputs.seed, "groupby": args.groupby, "group_column": group_col,
            "label_key": inputs.label_key, "method": args.method,
            "filter": None if args.no_filter else {
                "min_in_group_fraction": args.min_in_group_fraction,
                "max_out_group_fraction": args.max_out_group_fraction,
                "min_fold_change": args.min_fold_change},
            "normalisation": f"normalize_total(target_sum={NORMALISE_TARGET:g}) + log1p",
            "n_cells": int(adata.n_obs), "n_genes": int(adata.n_vars),
            "group_sizes": {str(k): int(v) for k, v in groups.value_counts(sort=False).items()},
            "markers": markers, "files": files + [PARAMS_FILE],
        }
        (staging / PARAMS_FILE).write_text(json.dumps(params, indent=2) + "\n")
    say(f"wrote {len(files) + 1} files to {out}/")
    return out
