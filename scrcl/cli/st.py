"""runST.py: spatial domains of a spatial transcriptomics data set by scRCL."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Optional

from .._constants import EMBEDDING_KEY, KEY_ADDED, SPATIAL_KEY
from ..config import default_config, get_preset, preset_names
from ..clustering.spatial_smoothing import refiner
from ..data.adapt import measure
from ..data.checks import check_anndata
from ..data.registry import ST_DATASETS
from ..data.source import spatial_input
from ..data.spatial import ST_LABEL_KEYS, drop_unlabelled, load_st, prepare_st, resolve_st
from ..errors import ScrclInputError
from ..pipeline import clusterer
from . import common, report

log = logging.getLogger("scrcl")


DESCRIPTION = f"""\
Spatial domains of a spatial transcriptomics data set by scRCL, and the results on disk.

--dataset takes a benchmark name, looked up under <data-dir>/stdata/ and run with its
published preset:
  {', '.join(ST_DATASETS)}
(DLPFC: stdata/DLPFC/<id>/ with filtered_feature_bc_matrix.h5, spatial/, metadata.tsv;
Human_Breast_Cancer, Mouse_Brain_Anterior: stdata/<name>/ likewise; Mouse_Embryo_E9.5:
stdata/Mouse_Embryo_E9.5/E9.5_E1S1.MOSTA.h5ad), or a path to any 10x Visium folder
(spaceranger 1.x tissue_positions_list.csv or 2.x tissue_positions.csv) or any .h5ad with
coordinates in obsm['spatial']. A file named after a benchmark (e.g. 151507.h5ad) gets that
benchmark's preset. Labels: --label-key, else the benchmark's column, else the first of
{', '.join(ST_LABEL_KEYS)} present; spots without a label are dropped.

X may be counts (HVG 'seurat_v3', normalise 1e4, log1p, scale, clip 10) or processed values
such as PCA scores (detected by negative or non-integer values: used as they are).

Outputs (folder --out, default results/ST/<dataset>/, written atomically):
  metrics.json  protocol, config, K, per-seed ACC/NMI/ARI/F1, mean and std, the seeds'
                consensus and its scores, time, memory
  labels.csv    one row per spot, one column per seed (predicted domain) and, with 3+
                seeds under --protocol final, 'consensus' (one partition from the seeds'
                partitions, average linkage)
  scrcl.h5ad    the spots + obs['scrcl'] (the consensus, else the first seed), obs['scrcl_seed<S>'], obsm['X_scrcl'],
                obsm['spatial'], uns['scrcl']
  --plot: figures/ST/<dataset>/spatial_domains.png, umap.png (and paga.png with --paga)
"""


def build_parser() -> argparse.ArgumentParser:
    p = common.script_parser("runST.py", DESCRIPTION, "ST", "a benchmark name, a Visium "
                             "folder or an .h5ad file with obsm['spatial']")
    s = p.add_argument_group("spatial options")
    common.add_cluster_option(s)
    s.add_argument("--radius", type=int,
                   help="spatial label refinement: each spot takes the majority domain of its "
                        "RADIUS nearest spots (default: the preset's, 50, at most 5%% of "
                        "the spots; 0 = off)")
    s.add_argument("--preprocessed", choices=("auto", "yes", "no"), default="auto",
                   help="whether X is already processed (skip normalisation, log1p and HVG "
                        "selection); auto: counts when X holds them, else the counts kept in "
                        "layers['counts'] or adata.raw, else X as processed features "
                        "(negative or non-integer values, e.g. PCA scores)")
    common.add_layer_option(s)
    s.add_argument("--preset", help="published preset to use (default: the data set's own, or "
                                    "the file's name when it is a benchmark name; 'none' for the "
                                    "documented defaults)")
    s.add_argument("--plot", action="store_true",
                   help="draw the domains on the tissue beside the ground truth, and a UMAP")
    s.add_argument("--paga", action="store_true", help="also draw PAGA of the domains "
                                                       "(implies --plot)")
    s.add_argument("--figures", help="figure folder (default figures/ST/<dataset>)")
    common.add_model_options(p)
    return p


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return common.guarded(lambda: run(args))


def choose_preset(name: str, asked: Optional[str]):
    """The base configuration: --preset, else the data set's preset, else the defaults."""
    if asked is not None:
        if asked.lower() == "none":
            return default_config("ST")
        cfg = get_preset(asked)
        if cfg is None or asked not in preset_names("ST"):
            raise ScrclInputError(f"unknown --preset '{asked}': choose 'none' or one of "
                                  f"{', '.join(preset_names('ST'))}")
        return cfg
    if name in preset_names("ST"):
        return get_preset(name)
    return default_config("ST")


def run(args: argparse.Namespace) -> int:
    common.setup(args)
    ref = resolve_st(args.dataset, args.data_dir)
    where = report.target(args, "ST", ref.name)
    base = choose_preset(ref.name, args.preset)
    adata, label_key = load_st(ref, args.label_key)
    if label_key is not None:
        adata = drop_unlabelled(adata, label_key)
    data, preprocessed, matrix = spatial_input(adata, args.layer, args.preprocessed)
    if matrix is not None:
        log.info("%s", matrix.message())
    counts = preprocessed == "no"
    check_anndata(data, label_key, counts=counts)
    size = measure(data, counts)
    cfg = report.effective_config(args, base, size, where.device)
    prepared = prepare_st(data, cfg.hvg, cfg.k, cfg.tms, cfg.gene_k, preprocessed)
    radius = cfg.radius or 0
    coords = adata.obsm[SPATIAL_KEY][prepared.cells]
    record = report.fit_and_report(
        args, where, adata, prepared, cfg, label_key, size, oracle_metric="ari",
        cluster_fn=clusterer(args.cluster, cfg.kmeans_n_init),
        postprocess=refiner(coords, radius) if radius else None,
        extra={"input": str(ref.path), "cluster": args.cluster, "radius": radius,
               "preprocessed": args.preprocessed,
               "input_matrix": matrix.record() if matrix is not None else None})
    if record is not None and (args.plot or args.paga):
        from ..plotting.spatial import spatial_figures

        fig_dir = Path(args.figures) if args.figures else Path("figures") / "ST" / ref.name
        seeds = record["seeds"]
        title = (f"scRCL domains (consensus of {len(seeds)} seeds)"
                 if record.get("consensus") is not None else f"scRCL domains (seed {seeds[0]})")
        paths = spatial_figures(adata, KEY_ADDED, EMBEDDING_KEY, fig_dir, label_key, args.paga,
                                title=title)
        print(f"figures written: {', '.join(str(p) for p in paths)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
