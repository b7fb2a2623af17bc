#!/usr/bin/env python
"""scRCL (runST's pipeline) on the stdata_pca stand-ins: ARI/NMI per slice, k-means and gmm.

Each slice runs in its own process (so its peak memory is its own). One model is trained per
seed; its final embedding is clustered with cosine k-means (runST.py --cluster kmeans) and
with the EEE Gaussian mixture (--cluster gmm), each followed by the spatial refinement. Under
the 'final' protocol this is exactly what two runST.py calls would give, at half the cost.
Under 'oracle' the best epoch is chosen by ARI of the k-means clustering, as published.

    python bench/st_bench.py --epochs 10 --seeds 5 [--datasets 151507 ...] [--protocol final]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DATASETS = ["151507", "151508", "151509", "151510", "151669", "151670", "151671", "151672",
            "151674", "151675", "151676", "Human_Breast_Cancer", "Mouse_Brain_Anterior"]


def worker(args) -> None:
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from scrcl.config import get_preset
    from scrcl.data.spatial import drop_unlabelled, load_st, prepare_st, resolve_st
    from scrcl.metrics import evaluate
    from scrcl.clustering.mixture import gmm_eee
    from scrcl.pipeline import run_seeds
    from scrcl.clustering.spatial_smoothing import refiner

    t0 = time.perf_counter()
    ref = resolve_st(str(args.shared_data / "stdata_pca" / f"{args.worker}.h5ad"))
    adata, key = load_st(ref)
    adata = drop_unlabelled(adata, key)
    cfg = get_preset(args.worker).replace(epochs=args.epochs, hid_dim=args.hid_dim)
    prepared = prepare_st(adata, cfg.hvg, cfg.k, cfg.tms, cfg.gene_k)
    truth = adata.obs[key].astype(str).to_numpy()
    k = int(np.unique(truth).size)
    refine = refiner(adata.obsm["spatial"], cfg.radius or 0)
    result = run_seeds(prepared, cfg, k, args.seeds, protocol=args.protocol, truth=truth,
                       device="cpu", progress=False, postprocess=refine, oracle_metric="ari")
    runs = []
    for run in result.runs:
        t1 = time.perf_counter()
        gmm = refine(gmm_eee(run.embedding, k, seed=run.seed))
        runs.append({"seed": run.seed, "epoch_used": run.epoch_used, "train_cluster_s": run.wall_s,
                     "kmeans": run.scores, "gmm": evaluate(truth, gmm),
                     "gmm_s": time.perf_counter() - t1})
    out = {"dataset": args.worker, "n_spots": adata.n_obs, "n_classes": k,
           "config": cfg.to_dict(), "protocol": args.protocol, "runs": runs,
           "wall_s": time.perf_counter() - t0,
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    Path(args.result).write_text(json.dumps(out, indent=1, default=float))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="+", default=DATASETS)
    p.add_argument("--seeds", type=int, nargs="+", default=[5, 15, 25, 35, 45])
    p.add_argument("--epochs", type=int, default=500)
    p.add_argument("--hid-dim", type=int, default=1500)
    p.add_argument("--protocol", choices=("final", "oracle"), default="final")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--shared-data", type=Path, default=REPO.parent / "shared" / "data")
    p.add_argument("--out", type=Path, default=REPO / "results" / "bench" / "st_scrcl")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    import numpy as np

    args.out.mkdir(parents=True, exist_ok=True)
    tag = f"{args.protocol}_e{args.epochs}_h{args.hid_dim}_s{'-'.join(map(str, args.seeds))}"
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    rows, results = [], []
    for name in args.datasets:
        res = args.out / f"{name}_{tag}.json"
        cmd = [sys.executable, __file__, "--worker", name, "--result", str(res),
               "--epochs", str(args.epochs), "--hid-dim", str(args.hid_dim), "--protocol",
               args.protocol, "--threads", str(args.threads), "--shared-data",
               str(args.shared_data), "--seeds", *map(str, args.seeds)]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, env=env)
        r = json.loads(res.read_text())
        results.append(r)

        def ms(method, metric):
            v = np.array([run[method][metric] for run in r["runs"]])
            return f"{v.mean():.3f} ± {v.std():.3f}"

        rows.append(f"| {name} | {r['n_spots']} | {r['n_classes']} | {ms('kmeans', 'ari')} | "
                    f"{ms('kmeans', 'nmi')} | {ms('gmm', 'ari')} | {ms('gmm', 'nmi')} | "
                    f"{time.perf_counter() - t0:.0f} | {r['peak_rss_mb']:.0f} |")
        print(rows[-1], flush=True)
    head = ("| dataset | spots | K | ARI k-means | NMI k-means | ARI gmm | NMI gmm | wall (s) | "
            "peak RSS (MB) |\n|---|---|---|---|---|---|---|---|---|")
    dl = [r for r in results if r["dataset"].startswith("1516") or r["dataset"].startswith("15150")
          or r["dataset"].startswith("15151")]
    summary = ""
    if dl:
        for method in ("kmeans", "gmm"):
            per = [np.mean([run[method]["ari"] for run in r["runs"]]) for r in dl]
            summary += f"\nDLPFC mean ARI ({method}, {len(dl)} slices): {np.mean(per):.3f}"
    text = (f"{head}\n" + "\n".join(rows) + "\n" + summary + f"\n\nprotocol {args.protocol}, "
            f"epochs {args.epochs}, hid_dim {args.hid_dim}, seeds {args.seeds}, {args.threads} "
            f"thread(s), CPU, {platform.platform()}; command: {' '.join(sys.argv)}")
    print(text)
    (args.out / f"summary_{tag}.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
