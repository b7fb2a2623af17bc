"""scRNA-seq benchmark of scrcl on the stand-ins: the label-free 'final' protocol and the
published 'oracle' protocol from the same training runs, wall time and peak memory.

One training run per (dataset, seed) serves both protocols: the model is clustered after
every epoch (oracle: the epoch with the best NMI against the true labels is kept) and the
last epoch's clustering is exactly what ``runSC.py --protocol final`` reports, since the
per-epoch evaluation neither changes the model nor draws from its random stream. The
per-epoch ARI curve is saved as well. Training time is measured separately from the
per-epoch scoring.

    python bench/sc_bench.py --datasets Baron_mouse1 Baron_mouse2 --seeds 5 15 25
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import anndata as ad
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scrcl.config import default_config  # noqa: E402
from scrcl.data.preprocess import prepare_sc  # noqa: E402
from scrcl.io import write_json  # noqa: E402
from scrcl.metrics import evaluate  # noqa: E402
from scrcl.pipeline import clustering_input, kmeans_clusterer  # noqa: E402
from scrcl.clustering.selection import candidate_epochs, most_stable_partition  # noqa: E402
from scrcl.train import Inputs, train  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="+", default=["Baron_mouse1", "Baron_mouse2",
                                                       "MCA_mouse_bladder_select2100"],
                   help="file stems in <shared-data>/substitutes/scdata/")
    p.add_argument("--shared-data", default=str(REPO.parent / "shared" / "data"),
                   help="the shared data folder")
    p.add_argument("--seeds", type=int, nargs="+", default=[5, 15, 25, 35, 45])
    p.add_argument("--epochs", type=int, default=500)
    p.add_argument("--no-oracle", action="store_true",
                   help="score only the last epoch (no per-epoch clustering)")
    p.add_argument("--save-trace", action="store_true",
                   help="save per-epoch labels and every 10th epoch's embedding (.npz)")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--out", default="results/bench", help="folder for sc_bench_<dataset>.json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cfg = default_config("SC").replace(epochs=args.epochs)
    for name in args.datasets:
        adata = ad.read_h5ad(Path(args.shared_data) / "substitutes" / "scdata" / f"{name}.h5ad")
        t0 = time.perf_counter()
        prepared = prepare_sc(adata, cfg.hvg, cfg.k, cfg.tms, cfg.gene_k, cfg.pca_threshold)
        prep_s = time.perf_counter() - t0
        truth = np.asarray(adata.obs["cell_type1"].astype(str))[prepared.cells]
        k = np.unique(truth).size
        inputs = Inputs.from_prepared(prepared, torch.device("cpu"))
        cluster = kmeans_clusterer(cfg.kmeans_n_init)
        runs = []
        for seed in args.seeds:
            curve: list[dict] = []
            score_s = [0.0]
            trace: dict[str, list] = {"labels": [], "emb_epochs": [], "emb": []}

            cands = candidate_epochs(args.epochs, cfg.select_stride)

            def on_epoch(epoch, outputs):
                if args.no_oracle and epoch not in cands:
                    return
                t = time.perf_counter()
                emb = clustering_input(outputs)
                labels = cluster(emb, k, seed)
                curve.append({"epoch": epoch, **evaluate(truth, labels)})
                trace["labels"].append(labels.astype(np.int16))
                if epoch % 10 == 0:
                    trace["emb_epochs"].append(epoch)
                    trace["emb"].append(emb.numpy().astype(np.float16))
                score_s[0] += time.perf_counter() - t

            every = cfg.select_stride if args.no_oracle else 1
            t = time.perf_counter()
            res = train(inputs, cfg, cfg.out_dim or k, seed, on_epoch=on_epoch,
                        eval_every=every, progress=False)
            wall = time.perf_counter() - t
            best = max(curve, key=lambda r: r["nmi"])
            # the default label-free choice (runSC.py --select stable), from the same labels
            by_epoch = {r["epoch"]: (r, lab) for r, lab in zip(curve, trace["labels"])}
            stable = by_epoch[cands[most_stable_partition([by_epoch[e][1] for e in cands])]][0]
            if args.save_trace and not args.no_oracle:
                # per-epoch labels and embeddings, for studying label-free epoch selection
                trace_path = Path(args.out) / f"sc_trace_{name}_seed{seed}.npz"
                trace_path.parent.mkdir(parents=True, exist_ok=True)
                np.savez_compressed(trace_path, labels=np.stack(trace["labels"]),
                                    emb_epochs=np.array(trace["emb_epochs"]),
                                    emb=np.stack(trace["emb"]), truth=truth.astype(str),
                                    losses=np.array(res.losses))
            if args.no_oracle:
                best = None  # not evaluated: scoring every epoch was switched off
            runs.append({"seed": seed, "final": curve[-1], "oracle": best,
                         "stable": stable,
                         "train_s": wall - score_s[0], "scoring_s": score_s[0],
                         "s_per_epoch": (wall - score_s[0]) / args.epochs,
                         "ari_curve": [round(r["ari"], 4) for r in curve]})
            print(f"{name} seed {seed}: last epoch ARI {curve[-1]['ari']:.4f} | stable "
                  f"(epoch {stable['epoch']}) ARI {stable['ari']:.4f} | oracle "
                  + (f"(epoch {best['epoch']}) ARI {best['ari']:.4f}" if best else "not run")
                  + f" | train {wall - score_s[0]:.1f}s", flush=True)
            write_json(Path(args.out) / f"sc_bench_{name}.json",
                       _record(name, prepared, k, cfg, args, prep_s, runs))
        record = _record(name, prepared, k, cfg, args, prep_s, runs)
        print(json.dumps({name: record["summary"]}, indent=None), flush=True)
    return 0


def _record(name, prepared, k, cfg, args, prep_s, runs) -> dict:
    """The benchmark record of one data set from the seeds run so far."""
    summary = {}
    for proto in ("final", "oracle", "stable"):
        if runs[0][proto] is None:
            continue
        table = {m: [r[proto][m] for r in runs] for m in ("acc", "nmi", "ari", "f1")}
        summary[proto] = {m: {"mean": float(np.mean(v)), "std": float(np.std(v))}
                          for m, v in table.items()}
    return {"dataset": name, "n_cells": prepared.n_cells, "n_genes": prepared.n_genes,
            "n_clusters": int(k), "k_source": "number of true classes",
            "config": cfg.to_dict(), "seeds": [r["seed"] for r in runs], "prep_s": prep_s,
            "runs": runs, "summary": summary,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                        "torch_threads": args.threads, "torch": torch.__version__},
            "command": " ".join(sys.argv)}

if __name__ == "__main__":
    raise SystemExit(main())
