"""What clustering [e1, e2] ('h') instead of [z1, z2] ('z') costs as the data grow (issue 13).

The label-free protocol clusters the model at every candidate epoch (59 of them in a 500-epoch
run: every 10th epoch and the first 9), each time by cosine k-means with ``kmeans_n_init``
restarts and a cosine silhouette on a 3,000-cell sample; each seed then keeps its chosen
embedding. 'z' is 2K wide, 'h' is 2 x hidden width (3,000 with the defaults), so both the
clustering time and the kept embedding grow with the embedding's width.

For each size N (cells resampled from a stand-in and thinned as in ``bench/scaling.py``), in a
process of its own: prepare with the scRNA-seq defaults, train ``--epochs`` epochs (the default
batch rule), then cluster the same eval-mode outputs with both embeddings, 'z' first, and time
one candidate (k-means with the default restarts, then the silhouette). Records
``bench/results/embedding_cost/<source>_<N>.json`` with the per-candidate seconds of each
embedding, the seconds per training epoch, the projection to a whole default run per seed
(500 epochs and 59 candidates) and the bytes of the embedding a seed keeps.

The embedding is that of a model trained a few epochs, not 500: k-means may take a different
number of iterations on a converged model, so the projection is an estimate.

    OMP_NUM_THREADS=1 python bench/embedding_cost.py --sizes 20000 50000 100000
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import DEFAULT_SHARED_DATA  # noqa: E402
from bench.scaling import (SOURCES, peak_rss_mb, record_child, resample,  # noqa: E402
                           unrecorded)

RECORDS = Path(__file__).resolve().parent / "results" / "embedding_cost"


def child(source: str, n: int, epochs: int, data_dir: Path) -> dict:
    """One size, in this process: the measurements of both embeddings."""
    import numpy as np
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    from scrcl.clustering.kmeans import kmeans_cosine
    from scrcl.clustering.selection import candidate_epochs, silhouette
    from scrcl.config import default_config
    from scrcl.data.preprocess import prepare_sc_with
    from scrcl.training.minibatch import batch_plan
    from scrcl.pipeline import clustering_input
    from scrcl.training.precision import resolve_precision
    from scrcl.training.train import Inputs, embed, train

    adata = resample(data_dir / "substitutes" / "scdata" / f"{source}.h5ad", n)
    k = int(adata.obs["cell_type1"].nunique())
    expressed = int((np.bincount(adata.X.indices, minlength=adata.n_vars) > 0).sum())
    cfg = default_config("SC").replace(epochs=epochs)
    cfg = cfg.replace(hvg=min(cfg.hvg, expressed))
    prepared = prepare_sc_with(adata, cfg)
    plan = batch_plan(prepared, cfg.batch_size)
    precision = resolve_precision(cfg.precision, torch.device("cpu"))
    inputs = Inputs.from_prepared(prepared, torch.device("cpu"),
                                  dense=True if plan is not None else None, precision=precision)
    trained = train(inputs, cfg, k, seed=5, progress=False, batches=plan)
    outputs = embed(trained.model, inputs, precision, normalized=False)
    full = default_config("SC")
    n_candidates = len(candidate_epochs(full.epochs, full.select_stride,
                                        first=full.select_first))
    epoch_s = float(np.mean(trained.epoch_s[1:] if len(trained.epoch_s) > 1
                            else trained.epoch_s))
    rec: dict = {"source": source, "n_cells": n, "n_clusters": k, "n_genes": prepared.n_genes,
                 "hid_dim": cfg.hid_dim, "epochs_trained": epochs, "epoch_s": epoch_s,
                 "kmeans_n_init": cfg.kmeans_n_init, "candidates_per_seed": n_candidates,
                 "precision": precision, "embeddings": {}}
    for name in ("z", "h"):
        tick = time.perf_counter()
        emb_t = clustering_input(outputs, name).float()
        emb = emb_t.numpy()
        input_s = time.perf_counter() - tick
        tick = time.perf_counter()
        labels = kmeans_cosine(emb_t, k, n_init=cfg.kmeans_n_init, seed=5).labels
        kmeans_s = time.perf_counter() - tick
        tick = time.perf_counter()
        silhouette(emb, labels)
        silhouette_s = time.perf_counter() - tick
        candidate_s = input_s + kmeans_s + silhouette_s
        rec["embeddings"][name] = {
            "width": int(emb.shape[1]), "input_s": input_s, "kmeans_s": kmeans_s,
            "silhouette_s": silhouette_s, "candidate_s": candidate_s,
            "kept_mb_per_seed": emb.nbytes / 2**20,
            "clustering_s_per_seed": n_candidates * candidate_s,
            "training_s_per_seed": full.epochs * epoch_s,
            "clustering_share": n_candidates * candidate_s
            / (n_candidates * candidate_s + full.epochs * epoch_s),
            "peak_rss_mb_after": peak_rss_mb()}
        del emb_t, emb
    return rec


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000, 50000])
    p.add_argument("--sources", nargs="+", default=["CITE_CBMC_top2000"], choices=SOURCES)
    p.add_argument("--epochs", type=int, default=2, help="epochs trained before the timing")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_SHARED_DATA)
    p.add_argument("--records", type=Path, default=RECORDS)
    p.add_argument("--force", action="store_true", help="measure again what is recorded")
    p.add_argument("--note", default="", help="saved with each record (e.g. machine load)")
    p.add_argument("--child", nargs=2, metavar=("SOURCE", "N"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]), args.epochs, args.data_dir)))
        return 0
    cases = [(n, source) for n in sorted(args.sizes) for source in args.sources]
    for (n, source), path, env in unrecorded(args.records, cases, args.force,
                                             lambda n, source: f"{source}_{n}.json"):
        rec = record_child(__file__, ["--child", source, str(n), "--epochs", str(args.epochs),
                                      "--data-dir", str(args.data_dir)],
                           path, env, args.note, f"bench/embedding_cost.py --sizes {n} "
                           f"--sources {source} --epochs {args.epochs}")
        if rec is None:
            continue
        z, h = rec["embeddings"]["z"], rec["embeddings"]["h"]
        print(f"{source} N={n}: candidate z {z['candidate_s']:.2f} s, h {h['candidate_s']:.2f}"
              f" s; per seed clustering z {z['clustering_s_per_seed'] / 60:.1f} min, h "
              f"{h['clustering_s_per_seed'] / 60:.1f} min, training "
              f"{z['training_s_per_seed'] / 60:.1f} min; kept h {h['kept_mb_per_seed']:.0f}"
              f" MB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
