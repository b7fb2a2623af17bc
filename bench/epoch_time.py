"""Seconds per training epoch (after 2 warm-up epochs), on a quiet machine.

    python bench/epoch_time.py --dataset ../shared/data/substitutes/scdata/Baron_mouse1.h5ad
    python bench/epoch_time.py --dataset ../shared/data/stdata_pca/151507.h5ad --spatial \
        --precision bf16 --threads 1

Training only (no per-epoch clustering). For a fair fp32/bf16 comparison in one run, the
benchmark runner's speed suite (``python bench/run.py speed``) alternates the two.
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

import anndata as ad
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from scrcl.config import default_config, get_preset  # noqa: E402
from scrcl.data.preprocess import prepare_sc_with  # noqa: E402
from scrcl.training.precision import (COMPILE_ENV, PRECISIONS, resolve_compile,  # noqa: E402
                             resolve_precision, set_threads)
from scrcl.training.train import Inputs, train, use_chunked_loss  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, help="an .h5ad file")
    p.add_argument("--spatial", action="store_true", help="stdata_pca slice, its preset")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads (default: the cores this process may use)")
    p.add_argument("--precision", choices=PRECISIONS, default="auto")
    args = p.parse_args()
    threads = set_threads(args.threads)
    adata = ad.read_h5ad(args.dataset)
    if args.spatial:
        from scrcl.data.spatial import prepare_st

        cfg = get_preset(Path(args.dataset).stem)
        prep = prepare_st(adata, cfg.hvg, cfg.k, cfg.tms, cfg.gene_k, preprocessed="yes")
        k = adata.obs["ground_truth"].nunique()
    else:
        cfg = default_config("SC")
        prep = prepare_sc_with(adata, cfg)
        k = adata.obs["cell_type1"].nunique()
    device = torch.device("cpu")
    inputs = Inputs.from_prepared(prep, device)
    # compile the losses as a full run would (the short timing runs would not by themselves)
    chunked = use_chunked_loss(inputs.n_cells, cfg.hid_dim)
    compiled = resolve_compile(inputs.n_cells, cfg.hid_dim, cfg.epochs) and not chunked
    os.environ[COMPILE_ENV] = "yes" if compiled else "no"
    cfg = cfg.replace(precision=args.precision)
    train(inputs, cfg.replace(epochs=2), cfg.out_dim or k, 5, progress=False)  # + compile
    t = time.perf_counter()
    train(inputs, cfg.replace(epochs=args.epochs), cfg.out_dim or k, 5, progress=False)
    per_epoch = (time.perf_counter() - t) / args.epochs
    print(f"{Path(args.dataset).stem}: {prep.n_cells} cells x {prep.n_genes} features, "
          f"{threads} threads, {resolve_precision(cfg.precision, device)}"
          f"{', chunked loss' if chunked else ', compiled losses' if compiled else ''}: "
          f"{per_epoch:.3f} s per epoch "
          f"({per_epoch * 500:.0f} s per 500-epoch seed), peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB, "
          f"{platform.processor() or platform.machine()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
