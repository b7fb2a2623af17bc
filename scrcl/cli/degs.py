"""``draw_DEGs.py``: marker genes and figures of the clusters of a scRCL run.

Reads the expression data of a data set (resolved as ``runSC.py`` resolves ``--dataset``)
and the cluster labels of one seed of a run (``results/<SC|ST>/<dataset>/labels.csv``, or a
published ``pred_label_dict_<dataset>.mat``), ranks genes per cluster, applies the published
filter and writes ``degs.csv``, four marker figures and a UMAP of the run's embedding into
one folder, all at once (a failed run leaves no partial folder behind).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import pandas as pd

from .. import degs
from .._constants import DEFAULT_SC_LABEL_KEY, EMBEDDING_KEY, SEED_KEY
from ..data.read import read_h5ad
from ..data.registry import DatasetRef, canonical_sc_name, resolve_sc
from ..errors import ScrclInputError
from ..io import atomic_dir

logger = logging.getLogger(__name__)

DEFAULT_RESULTS = Path("results")
DEFAULT_FIGURES = Path("figures")
TABLE_FILE = "degs.csv"
PARAMS_FILE = "degs.json"
UNLABELLED = "unlabelled"

DESCRIPTION = """\
Marker genes (DEGs) of the clusters found by runSC.py or runST.py, with the figures
biologists expect: dot plot, heatmap, stacked violin and matrix plot of the top genes of
every cluster, a table of the ranked genes (degs.csv) and a UMAP of the run's embedding
coloured by predicted and true labels.

Genes are ranked with scanpy's rank_genes_groups on library-size-normalised, log1p data
(all genes), then filtered as in the published script: a gene is a marker of a cluster
when more than 50% of the cluster's cells express it, fewer than 25% of the other cells
do, and its log2 fold change exceeds 1.

With no argument, the most recent run under results/ is used."""

EPILOG = """\
examples:
  python draw_DEGs.py                                  # the most recent run under results/
  python draw_DEGs.py --dataset Baron_human --seed 15  # seed 15 of results/SC/Baron_human/
  python draw_DEGs.py --dataset data.h5ad --groupby truth
  python draw_DEGs.py --dataset Baron_human --labels pred_label_dict_Baron_human.mat

exit status: 0 on success, 2 on bad input (the reason is printed as one 'error:' line)."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one ``error:`` line and exit code 2."""

    def error(self, message: str):  # noqa: D401 (argparse API)
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"'{text}' is not a fraction between 0 and 1")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a positive integer")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface of draw_DEGs.py."""
    p = _Parser(prog="draw_DEGs.py", description=DESCRIPTION, epilog=EPILOG,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_argument_group("what to analyse")
    src.add_argument("--dataset", metavar="NAME_OR_PATH",
                     help="data set: a benchmark name or alias (read from "
                          "<data-dir>/scdata/<name>.h5ad) or a path to an .h5ad file with "
                          "counts in X, as given to runSC.py. Default: the data set of the "
                          "most recent run under --results")
    src.add_argument("--data-dir", metavar="DIR",
                     help="folder holding scdata/ for benchmark names (default: "
                          "$SCRCL_DATA_DIR, else ./datasets)")
    src.add_argument("--results", metavar="DIR",
                     help="a run folder (the one holding labels.csv) or a results root "
                          "holding SC/<dataset>/ and ST/<dataset>/ (default: results)")
    src.add_argument("--labels", metavar="FILE",
                     help="read the predicted labels from a published-format "
                          "pred_label_dict_<dataset>.mat (one vector per seed, keyed by the "
                          "seed, in the cell order of the data set) instead of a run folder")
    src.add_argument("--seed", type=int, metavar="S",
                     help="which seed's clusters to use (default: the first seed of the run)")
    src.add_argument("--groupby", choices=("pred", "truth"), default="pred",
                     help="group cells by the predicted clusters (pred, default) or by the "
                          "true labels of the data set (truth)")
    src.add_argument("--label-key", metavar="KEY",
                     help="obs column of the true labels (default: the run's label_key, "
                          f"else {DEFAULT_SC_LABEL_KEY})")

    rank = p.add_argument_group("ranking and filtering")
    rank.add_argument("--method", choices=degs.METHODS, default="wilcoxon",
                      help="test of sc.tl.rank_genes_groups (default: wilcoxon)")
    rank.add_argument("--min-in-group-fraction", type=_fraction, default=0.5, metavar="F",
                      help="keep genes expressed in more than this fraction of the "
                           "cluster's cells (default: 0.5, as published)")
    rank.add_argument("--max-out-group-fraction", type=_fraction, default=0.25, metavar="F",
                      help="keep genes expressed in fewer than this fraction of the other "
                           "cells (default: 0.25, as published)")
    rank.add_argument("--min-fold-change", type=float, default=1.0, metavar="L",
                      help="keep genes whose log2 fold change exceeds this (default: 1, as "
                           "published)")
    rank.add_argument("--no-filter", action="store_true",
                      help="skip the filter: plot the top-ranked genes as they are")

    out = p.add_argument_group("output")
    out.add_argument("--n-genes", type=_positive_int, default=3, metavar="N",
                     help="marker genes per cluster in the figures (default: 3)")
    out.add_argument("--table-genes", type=_positive_int, default=100, metavar="N",
                     help="top-ranked genes per cluster in degs.csv, in addition to every "
                          "gene that passes the filter (default: 100)")
    out.add_argument("--format", choices=("png", "pdf", "svg"), default="png",
                     help="figure file format (default: png)")
    out.add_argument("--out", metavar="DIR",
                     help="output folder, replaced as a whole (default: "
                          "figures/<SC|ST>/<dataset>/DEGs, or DEGs_truth with --groupby truth)")
    out.add_argument("--no-umap", action="store_true",
                     help="do not draw the UMAP of the run's embedding")
    out.add_argument("-q", "--quiet", action="store_true",
                     help="print nothing but errors")
    out.add_argument("-v", "--verbose", action="store_true",
                     help="also show library log messages and warnings")
    return p


# ---------------------------------------------------------------------------------------
# locating the inputs
# ---------------------------------------------------------------------------------------

@dataclass
class Inputs:
    """Everything read from disk, checked and aligned on the same cells."""

    name: str  # data set name for the output path
    task: str  # SC or ST
    data_path: Path  # file the expression was read from
    counts: "anndata.AnnData"  # noqa: F821  cells of the labels, in their order
    predicted: Optional[pd.Series]  # (N,) cluster ids as strings, or None
    truth: Optional[pd.Series]  # (N,) true labels as strings, or None
    seed: Optional[int]
    label_key: str
    run: Optional[degs.Run]
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


def _results_root_and_run(results: Optional[str]) -> tuple[Path, Optional[degs.Run]]:
    if results is None:
        return DEFAULT_RESULTS, None
    path = Path(results)
    if (path / degs.LABELS_FILE).is_file():
        return path.parent.parent, degs.open_run(path)
    if not path.is_dir():
        raise ScrclInputError(f"results folder not found: {path}; give the folder runSC.py "
                              f"wrote (results/SC/<dataset>/) or a results root")
    return path, None


def _run_of(root: Path, name: str) -> Optional[degs.Run]:
    candidates = [root / task / name for task in degs.TASKS]
    found = [c for c in candidates if (c / degs.LABELS_FILE).is_file()]
    if not found:
        return None
    found.sort(key=lambda c: (c / degs.LABELS_FILE).stat().st_mtime, reverse=True)
    return degs.open_run(found[0])


def _read_counts(path: Path):
    if path.suffix != ".h5ad":
        raise ScrclInputError(f"draw_DEGs.py reads .h5ad files, not {path.name}: convert it, "
                              f"or run runSC.py first and use its results folder")
    adata = read_h5ad(path)
    adata.obs_names = adata.obs_names.astype(str)
    return adata


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


def locate_inputs(args, say: Callable[[str], None]) -> Inputs:
    """Find and read the data, the labels and the run, and check that they fit together."""
    root, run = _results_root_and_run(args.results)
    name = ref = resolve_error = None
    if args.dataset is not None:
        name, ref, resolve_error = _resolve_name(args.dataset, args.data_dir)
    elif args.labels is not None:
        guessed = degs.dataset_from_label_file(args.labels)
        if guessed is None:
            raise ScrclInputError(f"cannot tell the data set of {args.labels}: pass --dataset "
                                  f"(or name the file {degs.LABEL_FILE_PREFIX}<dataset>.mat)")
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
        runs = degs.find_runs(root)
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
        by_seed = degs.read_label_mat(labels_file)
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
        seed = args.seed if args.seed is not None else run.seeds[0]
        labels = degs.read_run_labels(run, seed)
        counts = _align_by_id(counts, labels, str(run.path / degs.LABELS_FILE), data_path)
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


# ---------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------

def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it: set it straight back
    os.umask(mask)
    return mask


def _progress_printer(quiet: bool) -> Callable[[str], None]:
    def say(line: str) -> None:
        if not quiet:
            print(line, flush=True)
    return say


def draw(args, say: Callable[[str], None]) -> Path:
    """Run the whole analysis; returns the output folder."""
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
        groups, group_col = inputs.predicted, SEED_KEY.format(seed=inputs.seed)
        what = "cluster"
    degs.check_groups(groups, what)

    counts = inputs.counts[groups.index.to_numpy()] if len(groups) < inputs.counts.n_obs \
        else inputs.counts
    adata = degs.log_normalise(counts)
    adata.obs[group_col] = groups.to_numpy()
    deg_filter = degs.DegFilter(args.min_in_group_fraction, args.max_out_group_fraction,
                                args.min_fold_change, enabled=not args.no_filter)
    say(f"ranking {adata.n_vars} genes in {groups.nunique()} {what}s of {adata.n_obs} cells "
        f"({args.method})")
    degs.rank_genes(adata, group_col, args.method)
    degs.filter_ranking(adata, deg_filter)
    table = degs.degs_table(adata, table_genes=args.table_genes)
    markers = degs.top_markers(table, args.n_genes)
    if not markers:
        raise ScrclInputError(
            "no gene passes the filter in any cluster; loosen --min-in-group-fraction, "
            "--max-out-group-fraction or --min-fold-change, or pass --no-filter")
    for group in adata.obs[group_col].cat.categories:
        if group not in markers:
            logger.warning("%s %s: no gene passes the filter", what, group)

    embedding = None
    if not args.no_umap and inputs.run is not None:
        frame = degs.read_embedding(inputs.run.anndata_path, EMBEDDING_KEY)
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
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes it private; figures are not
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
            colourings = {f"predicted (seed {inputs.seed})": inputs.predicted}
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
            "normalisation": f"normalize_total(target_sum={degs.NORMALISE_TARGET:g}) + log1p",
            "n_cells": int(adata.n_obs), "n_genes": int(adata.n_vars),
            "group_sizes": {str(k): int(v) for k, v in groups.value_counts(sort=False).items()},
            "markers": markers, "files": files + [PARAMS_FILE],
        }
        (staging / PARAMS_FILE).write_text(json.dumps(params, indent=2) + "\n")
    say(f"wrote {len(files) + 1} files to {out}/")
    return out


@contextmanager
def _quiet_libraries(verbose: bool):
    """Keep library warnings and scanpy's own log lines off stderr unless --verbose."""
    import scanpy as sc

    previous = sc.settings.verbosity
    with warnings.catch_warnings():
        if not verbose:
            warnings.simplefilter("ignore")
            sc.settings.verbosity = 0
        try:
            yield
        finally:
            sc.settings.verbosity = previous


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of draw_DEGs.py; returns the exit status."""
    import matplotlib

    matplotlib.use("Agg", force=True)  # headless: never open a window
    args = build_parser().parse_args(argv)
    logging.basicConfig(format="%(levelname)s: %(message)s",
                        level=logging.INFO if args.verbose else logging.WARNING)
    package_logger = logging.getLogger("scrcl")
    previous_level = package_logger.level
    if args.quiet and not args.verbose:
        package_logger.setLevel(logging.ERROR)
    say = _progress_printer(args.quiet)
    try:
        with _quiet_libraries(args.verbose):
            draw(args, say)
    except ScrclInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        package_logger.setLevel(previous_level)
    return 0
