"""K estimated without labels (``--n-clusters auto``) beside the true K, on every stand-in.

Uses the same preparation and graph as runSC.py / runST.py with their defaults; no
training is needed, since K is estimated on the expression graph before training.

    python bench/k_estimation.py
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import anndata as ad
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scrcl.config import default_config, get_preset  # noqa: E402
from scrcl.data.preprocess import prepare_sc  # noqa: E402
from scrcl.data.spatial import prepare_st  # noqa: E402
from scrcl.clustering.estimate_k import estimate_n_clusters  # noqa: E402
from scrcl.tl import expression_graph  # noqa: E402

SC = ["Baron_mouse1", "Baron_mouse2", "MCA_mouse_bladder_select2100", "CITE_CBMC_top2000"]
ST = ["151507", "151508", "151509", "151510", "151669", "151670", "151671", "151672",
      "151674", "151675", "151676", "Human_Breast_Cancer", "Mouse_Brain_Anterior"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shared-data", default=str(REPO.parent / "shared" / "data"))
    args = p.parse_args()
    root = Path(args.shared_data)
    print("| data set | true K | estimated K | Leiden stability |")
    print("|---|---|---|---|")
    for name in SC:
        adata = ad.read_h5ad(root / "substitutes" / "scdata" / f"{name}.h5ad")
        cfg = default_config("SC")
        prep = prepare_sc(adata, cfg.hvg, cfg.k, cfg.tms, cfg.gene_k, cfg.pca_threshold)
        est = estimate_n_clusters(expression_graph(prep, cfg.k))
        print(f"| {name} | {adata.obs['cell_type1'].nunique()} | {est.k} | "
              f"{est.stability:.2f} |", flush=True)
    for name in ST:
        adata = ad.read_h5ad(root / "stdata_pca" / f"{name}.h5ad")
        cfg = get_preset(name)
        prep = prepare_st(adata, cfg.hvg, cfg.k, cfg.tms, cfg.gene_k, preprocessed="yes")
        est = estimate_n_clusters(expression_graph(prep, cfg.k))
        print(f"| {name} | {adata.obs['ground_truth'].nunique()} | {est.k} | "
              f"{est.stability:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
