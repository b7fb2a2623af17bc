"""runSC.py: cell types of a scRNA-seq data set by scRCL."""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Optional

from .._constants import DEFAULT_SC_LABEL_KEY
from ..config import ScrclConfig, default_config, get_preset
from ..data.adapt import measure
from ..data.checks import check_anndata
from ..data.preprocess import FEATURES, prepare_sc_with
from ..data.read import read_expression
from ..data.registry import SC_ALIASES, SC_SOURCES, resolve_sc
from ..data.source import choose_matrix
from ..data.synthetic import synthetic_counts
from ..pipeline import clusterer
from . import common, report

log = logging.getLogger("scrcl")

#: settings of the demo: a small model trained briefly. out_dim is 16 rather than K = 4:
#: with out_dim = K the seeds disagree on this data (ARI 0.30 to 1.00 over 5 seeds), with
#: 16 they agree (every seed within 0.05 ARI; tests/test_run_sc.py).
DEMO_CONFIG = ScrclConfig(hvg=300, k=15, tms=(1, 0), lr=1e-3, weight_decay=1e-3, dropout=0.1,
                          lambda1=1.0, lambda2=1.0, temperature=0.5, hid_dim=128, out_dim=16,
                          epochs=60, kmeans_n_init=5, preset="demo")
#: the demo's model is small: one thread is fastest, and stays fast beside other work
#: (two threads on two busy cores ran its seeds 10 times slower); --threads overrides
DEMO_THREADS = 1

DESCRIPTION = f"""\
Cluster the cells of a scRNA-seq count matrix with scRCL and write the results.

--dataset takes 'demo' (synthetic counts, no download, under a minute on CPU), a path to
an .h5ad file, a 10x filtered_feature_bc_matrix .h5 file or matrix folder, or a benchmark
name, looked up as
<data-dir>/scdata/<full name>.h5ad and run with its published preset:
  {', '.join(SC_SOURCES)}
  aliases: {', '.join(f'{a}={n}' for a, n in SC_ALIASES.items())}

What X holds is read from its values and printed: raw counts (UMI or read counts),
log-normalised, normalised, scaled or PCA scores. When X is not counts, the counts are
taken from where scanpy, CELLxGENE and Seurat conversions keep them (layers['counts'],
adata.raw, or --layer NAME); without counts anywhere, log-normalised X is used as the
log-normalised input (never normalised twice) and scaled X is refused.

Outputs (folder --out, default results/SC/<dataset>/, written atomically):
  metrics.json  protocol, config, K, per-seed ACC/NMI/ARI/F1, mean and std, the seeds'
                consensus and its scores, time, memory
  labels.csv    one row per cell, one column per seed (predicted cluster) and, with 3+
                seeds under --protocol final, 'consensus' (one partition from the seeds'
                partitions, average linkage)
  scrcl.h5ad    the input cells + obs['scrcl'] (the consensus, else the first seed),
                obs['scrcl_seed<S>'], obsm['X_scrcl'] (the first seed's clustered embedding:
                [e1, e2], 2 x hidden width, by default; [z1, z2] with --embedding z or
                --protocol oracle), uns['scrcl']
"""


def build_parser() -> argparse.ArgumentParser:
    p = common.script_parser("runSC.py", DESCRIPTION, "SC",
                             "'demo', a benchmark name or alias, or a path to an .h5ad file")
    common.add_model_options(p)
    common.add_cluster_option(p.add_argument_group("clustering"))
    inp = p.add_argument_group("scRNA-seq input")
    common.add_layer_option(inp)
    inp.add_argument(
        "--features", choices=FEATURES, default=None,
        help="what the network is fed: 'auto' (default): lognorm where the counts look "
             "like read counts of a full-length protocol (under 30%% of the nonzero "
             "counts equal 1), counts where they look like UMI counts; 'counts': the raw "
             "counts of the selected genes, as published; 'lognorm': their "
             "log-normalised values, scaled to the mean of the raw counts. The choice is "
             "printed and saved in metrics.json (BENCHMARKS.md: counts vs lognorm)")
    return p


def resolve_labels(adata, label_key: Optional[str], n_clusters) -> Optional[str]:
    """The label column to score with, or None for an unlabelled run."""
    if label_key is not None:
        return label_key  # asked for explicitly: must exist (scrcl.data.checks)
    if DEFAULT_SC_LABEL_KEY in adata.obs:
        return DEFAULT_SC_LABEL_KEY
    if n_clusters is None:
        log.info("no label column obs['%s']: K is estimated (--n-clusters auto); give "
                 "--n-clusters K or --label-key COLUMN otherwise", DEFAULT_SC_LABEL_KEY)
    return None


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return common.guarded(lambda: run(args))


def run(args: argparse.Namespace) -> int:
    common.setup(args, DEMO_THREADS if args.dataset == "demo" else None)
    ref = resolve_sc(args.dataset, args.data_dir)
    where = report.target(args, "SC", ref.name)
    if ref.path is None:
        adata, base = synthetic_counts(), DEMO_CONFIG
    else:
        adata = read_expression(ref.path)
        base = (get_preset(ref.name) if ref.benchmark else None) or default_config("SC")
    label_key = resolve_labels(adata, args.label_key, args.n_clusters)
    matrix = choose_matrix(adata, args.layer, args.features)
    log.info("%s", matrix.message())
    check_anndata(matrix.adata, label_key)
    size = measure(matrix.adata)
    cfg = report.effective_config(args, base, size, where.device)
    prepared = prepare_sc_with(matrix.adata, cfg, matrix.kind)
    report.fit_and_report(args, where, adata, prepared, cfg, label_key, size,
                          oracle_metric="nmi",
                          cluster_fn=clusterer(args.cluster, cfg.kmeans_n_init),
                          extra={"input": str(ref.path) if ref.path else "synthetic demo",
                                 "input_matrix": matrix.record(),
                                 "cluster": args.cluster})
    return 0


if __name__ == "__main__":
    sys.exit(main())
