"""``draw_DEGs.py``: its options; the analysis itself is :mod:`scrcl.degs.analysis`.

Reads the expression data of a data set (resolved as ``runSC.py`` resolves ``--dataset``)
and the cluster labels of a run (its consensus or one seed:
``results/<SC|ST>/<dataset>/labels.csv``, or a published ``pred_label_dict_<dataset>.mat``),
ranks genes per cluster, applies the published filter and writes ``degs.csv``,
``degs.json`` (the settings), four marker figures and a UMAP of the run's embedding into
one folder, all at once (a failed run leaves no partial folder behind).
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from contextlib import contextmanager
from typing import Callable, Optional, Sequence

from .._constants import DEFAULT_SC_LABEL_KEY
from ..degs import METHODS
from ..degs.analysis import DegOptions, draw
from ..errors import ScrclInputError
from .common import ArgumentParser, add_data_dir_option

DESCRIPTION = """\
Marker genes (DEGs) of the clusters found by runSC.py or runST.py, with the figures
biologists expect: dot plot, heatmap, stacked violin and matrix plot of the top genes of
every cluster, a table of the ranked genes (degs.csv, with the settings in degs.json) and a
UMAP of the run's embedding coloured by predicted and true labels.

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
    p = ArgumentParser(prog="draw_DEGs.py", description=DESCRIPTION, epilog=EPILOG,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_argument_group("what to analyse")
    src.add_argument("--dataset", metavar="NAME_OR_PATH",
                     help="data set: a benchmark name or alias (read from "
                          "<data-dir>/scdata/<name>.h5ad) or a path to an .h5ad file with "
                          "counts in X, as given to runSC.py. Default: the data set of the "
                          "most recent run under --results")
    add_data_dir_option(src, "scdata/ for benchmark names")
    src.add_argument("--results", metavar="DIR",
                     help="a run folder (the one holding labels.csv) or a results root "
                          "holding SC/<dataset>/ and ST/<dataset>/ (default: results)")
    src.add_argument("--labels", metavar="FILE",
                     help="read the predicted labels from a published-format "
                          "pred_label_dict_<dataset>.mat (one vector per seed, keyed by the "
                          "seed, in the cell order of the data set) instead of a run folder")
    src.add_argument("--seed", type=int, metavar="S",
                     help="which seed's clusters to use (default: the run's consensus of its "
                          "seeds, labels.csv 'consensus'; the first seed when the run has no "
                          "consensus, and of a --labels file)")
    src.add_argument("--groupby", choices=("pred", "truth"), default="pred",
                     help="group cells by the predicted clusters (pred, default) or by the "
                          "true labels of the data set (truth)")
    src.add_argument("--label-key", metavar="KEY",
                     help="obs column of the true labels (default: the run's label_key, "
                          f"else {DEFAULT_SC_LABEL_KEY})")

    rank = p.add_argument_group("ranking and filtering")
    rank.add_argument("--method", choices=METHODS, default="wilcoxon",
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
                     help="also show scanpy's log messages")
    return p


def _progress_printer(quiet: bool) -> Callable[[str], None]:
    def say(line: str) -> None:
        if not quiet:
            print(line, flush=True)
    return say


@contextmanager
def _quiet_libraries(verbose: bool):
    """Keep scanpy's own log lines off stderr unless --verbose."""
    import scanpy as sc

    previous = sc.settings.verbosity
    if not verbose:
        sc.settings.verbosity = 0
    try:
        yield
    finally:
        sc.settings.verbosity = previous


def options(args: argparse.Namespace) -> DegOptions:
    """The analysis options of the parsed command line."""
    return DegOptions(**{f.name: getattr(args, f.name) for f in dataclasses.fields(DegOptions)})


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
            draw(options(args), say)
    except ScrclInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        package_logger.setLevel(previous_level)
    return 0
