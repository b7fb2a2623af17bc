"""The candidates' clustering: the k-means and silhouette of a reference commit
(``--reference``, read from git) against the working tree's, in one process, interleaved.

A label-free run clusters the model at each candidate epoch: cosine k-means with the default
restarts (``kmeans_n_init``), then the cosine silhouette on at most 3,000 cells. Here the
embeddings are those a default run clusters, from a model trained ``--epochs`` epochs (seed
5) on Baron_mouse1 (822 cells), DLPFC 151507 (4,221 spots) and CITE_CBMC_top2000 (8,617
cells): [z1, z2] (2K wide) and [e1, e2] (3,000 wide), K = the data set's classes, plus K = 20
and K = 5 on two of them. Each case is timed ``--repeats`` times, reference and new
(``--sklearn``: and scikit-learn's KMeans) in rotating order, one thread; the record keeps
every time, the medians' ratios, the inertias (cosine, float64, of each partition) and the
load average around each case (the machine may be shared: read the ratios, measured side
by side, rather than the seconds).

    OMP_NUM_THREADS=1 python bench/kmeans_speed.py --out bench/results/kmeans_speed/cpu.json
    python bench/kmeans_speed.py --device cuda --out /tmp/kmeans_speed_cuda.json  # on a GPU

Embeddings are cached under ``--cache`` (not in the repository): a rerun does not retrain.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._env import REPO, limit_threads, limit_threads_env, machine  # noqa: E402

#: (data set, embedding, K or None for the data set's classes)
CASES = (("Baron_mouse1", "z", None), ("Baron_mouse1", "h", None), ("Baron_mouse1", "h", 20),
         ("151507", "z", None), ("151507", "z", 5), ("151507", "h", None),
         ("CITE_CBMC_top2000", "z", None), ("CITE_CBMC_top2000", "h", None))
REFERENCE = "d663496"  # the last commit before the clustering moved to the device


def module_at(commit: str, path: str, name: str) -> types.ModuleType:
    """A module of the package as it was at ``commit`` (self-contained modules only)."""
    source = subprocess.run(["git", "-C", str(REPO), "show", f"{commit}:{path}"], check=True,
                            capture_output=True, text=True).stdout
    module = types.ModuleType(name)
    module.__file__ = f"{commit}:{path}"
    sys.modules[name] = module  # dataclasses look their module up
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module


def embeddings(name: str, epochs: int, cache: Path) -> tuple[dict, int]:
    """{'z': (N, 2K), 'h': (N, 3000)} float32 of a model trained ``epochs`` epochs (seed 5,
    the data set's runSC/runST configuration) and its number of classes."""
    import numpy as np

    files = {e: cache / f"{name}_{e}_ep{epochs}.npy" for e in ("z", "h")}
    k_file = cache / f"{name}_k.txt"
    if all(f.exists() for f in files.values()) and k_file.exists():
        return {e: np.load(f) for e, f in files.items()}, int(k_file.read_text())
    import torch

    from bench._data import base_config, dataset_spec, scrcl_inputs
    from scrcl.training.minibatch import batch_plan
    from scrcl.pipeline import clustering_input
    from scrcl.training.precision import resolve_precision
    from scrcl.training.train import Inputs, embed, train

    spec = dataset_spec(name)
    cfg = base_config(spec).replace(epochs=epochs)
    inputs_ = scrcl_inputs(spec, cfg)
    plan = batch_plan(inputs_.prepared, cfg.batch_size)
    precision = resolve_precision(cfg.precision, torch.device("cpu"))
    inputs = Inputs.from_prepared(inputs_.prepared, torch.device("cpu"),
                                  dense=True if plan is not None else None, precision=precision)
    trained = train(inputs, cfg, cfg.out_dim or inputs_.n_clusters, 5, progress=False,
                    batches=plan)
    outputs = embed(trained.model, inputs, precision)
    cache.mkdir(parents=True, exist_ok=True)
    out = {}
    for e, f in files.items():
        out[e] = clustering_input(outputs, e).float().numpy()
        np.save(f, out[e])
    k_file.write_text(str(inputs_.n_clusters))
    return out, inputs_.n_clusters


def cosine_inertia(x, labels) -> float:
    """sum over clusters of (|C| - |s_C|) for the unit rows, float64."""
    import numpy as np

    xn = x.astype(np.float64)
    xn /= np.linalg.norm(xn, axis=1, keepdims=True)
    return float(sum((labels == c).sum() - np.linalg.norm(xn[labels == c].sum(0))
                     for c in np.unique(labels)))


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def run_case(x, k: int, n_init: int, repeats: int, ref_km, ref_sel,
             with_sklearn: bool = False, device: str = "cpu") -> dict:
    """Times (s) of the reference and new k-means and silhouette (and of scikit-learn's
    KMeans on the unit rows, with the same restarts), interleaved. Both k-means get the
    embedding as a tensor on ``device`` (as the pipeline does); the reference silhouette
    gets it as an array (scikit-learn, on the CPU), the new one as the tensor."""
    import numpy as np
    import torch

    from scrcl.clustering.kmeans import kmeans_cosine
    from scrcl.clustering.selection import silhouette

    xd = torch.from_numpy(x).to(device)
    kmeans = {"reference": lambda: ref_km.kmeans_cosine(xd, k, n_init=n_init, seed=5).labels,
              "new": lambda: kmeans_cosine(xd, k, n_init=n_init, seed=5).labels}
    if with_sklearn:
        from sklearn.cluster import KMeans

        unit = x / np.linalg.norm(x, axis=1, keepdims=True)
        kmeans["sklearn"] = lambda: KMeans(k, n_init=n_init, random_state=5).fit(unit).labels_
    sil = {"reference": lambda part: ref_sel.silhouette(x, part),
           "new": lambda part: silhouette(xd, part)}
    times = {"kmeans": {w: [] for w in kmeans}, "silhouette": {w: [] for w in sil}}
    labels, scores = {}, {}
    load = [os.getloadavg()[0]]
    for rep in range(repeats):
        names = list(kmeans)
        order = names[rep % len(names):] + names[:rep % len(names)]  # rotated each time
        for which in order:
            t, labels[which] = timed(kmeans[which])
            times["kmeans"][which].append(t)
        for which in [w for w in order if w in sil]:  # both score the reference's partition
            t, scores[which] = timed(lambda: sil[which](labels["reference"]))
            times["silhouette"][which].append(t)
    load.append(os.getloadavg()[0])
    rec = {"times_s": times, "load_avg_1min": load}
    for m in times:
        rec[f"{m}_median_s"] = {w: float(np.median(t)) for w, t in times[m].items()}
        for w in times[m]:
            if w != "new":
                rec[f"{m}_ratio_{w}_over_new"] = (rec[f"{m}_median_s"][w]
                                                  / rec[f"{m}_median_s"]["new"])
    cand = {w: rec["kmeans_median_s"][w] + rec["silhouette_median_s"][w]
            for w in ("reference", "new")}
    rec["candidate_ratio_reference_over_new"] = cand["reference"] / cand["new"]
    rec["inertia"] = {w: cosine_inertia(x, labels[w]) for w in kmeans}
    rec["silhouette"] = scores
    return rec


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--reference", default=REFERENCE)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/scrcl_kmeans_speed"))
    parser.add_argument("--cases", nargs="*", default=None,
                        help="data set:embedding[:K] (default: all)")
    parser.add_argument("--sklearn", action="store_true",
                        help="time scikit-learn's KMeans (unit rows, same restarts) too")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--note", default="")
    args = parser.parse_args(argv)
    limit_threads_env(args.threads)
    limit_threads(args.threads)
    from scrcl.config import default_config

    ref_km = module_at(args.reference, "scrcl/clustering/kmeans.py", "_reference_kmeans")
    ref_sel = module_at(args.reference, "scrcl/clustering/selection.py",
                        "_reference_selection")
    n_init = default_config("SC").kmeans_n_init
    cases = CASES if args.cases is None else [
        (c.split(":")[0], c.split(":")[1], int(c.split(":")[2]) if c.count(":") == 2 else None)
        for c in args.cases]
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--",
                                 "scrcl/clustering/kmeans.py", "scrcl/clustering/selection.py"],
                                capture_output=True, text=True).stdout)
    record = {"command": " ".join([Path(sys.argv[0]).name] + (argv or sys.argv[1:])),
              "reference_commit": args.reference, "commit": commit,
              "kmeans_or_selection_modified_since_commit": dirty, "threads": args.threads,
              "device": args.device, "machine": machine(args.device), "kmeans_n_init": n_init,
              "epochs_trained": args.epochs, "note": args.note, "cases": []}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for name, emb, k in cases:
        data, classes = embeddings(name, args.epochs, args.cache)
        x, k = data[emb], k or classes
        print(f"{name} {emb} {x.shape} K={k}", flush=True)
        rec = {"dataset": name, "embedding": emb, "n_cells": int(x.shape[0]),
               "width": int(x.shape[1]), "k": k,
               **run_case(x, k, n_init, args.repeats, ref_km, ref_sel, args.sklearn,
                          args.device)}
        record["cases"].append(rec)
        print(f"  k-means {rec['kmeans_median_s']} x{rec['kmeans_ratio_reference_over_new']:.2f}"
              f"  silhouette x{rec['silhouette_ratio_reference_over_new']:.2f}"
              f"  inertia {rec['inertia']}", flush=True)
        args.out.write_text(json.dumps(record, indent=1) + "\n")  # as the cases come in


if __name__ == "__main__":
    main()
