"""Probe (issue 13): does smoothing the learnt [z1, z2] over the spot graph before k-means
lift the spatial partitions, as smoothing lifts PCA + k-means (the smoothing baseline)?

One label-free training run per slice (seed 5, the slice's preset, 500 epochs, one
thread). At every candidate epoch (every 10th and the last) [z1, z2] is clustered as it is
and smoothed: S^t Z with S = D^-1/2 (A + I) D^-1/2 of the 6-NN spot graph (as the smoothing
baseline; t = 3, 10) or of the model's own 15-NN spot graph (t = 3, "g3"); each partition
is cosine k-means (the preset's restarts, seed 5) refined with the preset's radius, as the
pipeline does. Per candidate: the ARI against the truth and the cosine silhouette of each
variant on its own embedding; per variant: the silhouette pick (the default rule), the best
candidate (answer key) and the mean over candidates. The unsmoothed pick reproduces the
stored label-free entry of the seed.

    OMP_NUM_THREADS=1 python bench/embedding_smoothing_probe.py 151507 151669 151671 151672

Writes ``bench/results/probes/embedding_smoothing.json`` (``--out``), rewritten after each
slice. A probe, not a benchmark: one seed, to decide whether a runner study is worth it.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]
from _probes import prepare_slice, probe_slices  # noqa: E402

VARIANTS = (0, 3, 10, "g3")
OUT = Path(__file__).resolve().parent / "results" / "probes" / "embedding_smoothing.json"


def probe(name: str, seed: int = 5) -> dict:
    from scrcl import graphs
    from scrcl.clustering.kmeans import kmeans_cosine
    from scrcl.clustering.selection import silhouette
    from scrcl.metrics import evaluate
    from scrcl.pipeline import clustering_input
    from scrcl.training.train import train

    t0 = time.time()
    sl = prepare_slice(name)
    cfg, prepared, truth, k, refine, wanted = (sl.cfg, sl.prepared, sl.truth, sl.k, sl.refine,
                                               sl.wanted)
    adj6 = graphs.spatial_graph(sl.coords, 6)
    rows = []

    def on_epoch(epoch, outputs):
        if epoch not in wanted:
            return
        emb = clustering_input(outputs, "z").float().numpy()
        row = {"epoch": epoch}
        for t in VARIANTS:
            x = (emb if t == 0 else graphs.smooth(emb, prepared.cell_adj, 3) if t == "g3"
                 else graphs.smooth(emb, adj6, t))
            labels = refine(kmeans_cosine(torch.from_numpy(np.ascontiguousarray(x)), k,
                                          n_init=cfg.kmeans_n_init, seed=seed).labels)
            row[f"ari{t}"] = evaluate(truth, labels)["ari"]
            row[f"sil{t}"] = silhouette(x, labels)
        rows.append(row)

    train(sl.inputs, cfg, cfg.out_dim or k, seed, on_epoch=on_epoch,
          eval_every=cfg.select_stride, progress=False)
    summary = {}
    for t in VARIANTS:
        pick = max(rows, key=lambda r: (r[f"sil{t}"], r["epoch"]))
        summary[t] = {"picked_ari": pick[f"ari{t}"], "picked_epoch": pick["epoch"],
                      "best_ari": max(r[f"ari{t}"] for r in rows),
                      "mean_ari": float(np.mean([r[f"ari{t}"] for r in rows]))}
    return {"rows": rows, "summary": summary, "wall_s": time.time() - t0, "seed": seed}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("slices", nargs="+")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    probe_slices(probe, args.slices, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
