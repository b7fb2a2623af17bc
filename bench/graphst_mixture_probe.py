"""Probe (peers): how much of GraphST's spatial score is its clustering step's
initialisation? GraphST is trained once on a slice exactly as the runner trains it
(``bench/_peers.py``: seed 5, its defaults), and its embedding's 20 PCs (random_state 42)
are clustered by the EEE mixture with ten different initialisation seeds (one k-means
start each, as the runner's ``graphst_labels`` with its seed), by the mixture with ten
restarts keeping the fit of highest likelihood, and by k-means. Per fit: ARI against the
truth and the mean log-likelihood per spot (label-free). No label enters any fit.

    OMP_NUM_THREADS=1 python bench/graphst_mixture_probe.py 151507 [--cache DIR]

``--cache``: keep / reuse the trained embedding there (``emb_<slice>_<seed>.npy``).
Writes ``bench/results/probes/graphst_mixture.json`` (``--out``), one entry per slice.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
import _peers  # noqa: E402
from _data import dataset_spec, read  # noqa: E402

OUT = HERE / "results" / "probes" / "graphst_mixture.json"


def probe(name: str, seed: int, cache: Path | None) -> dict:
    import torch
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.metrics import adjusted_rand_score

    from scrcl.clustering.mixture import TiedGaussianMixture

    torch.set_num_threads(1)
    adata, key = read(dataset_spec(name))
    truth = np.asarray(adata.obs[key].astype(str))
    k = int(np.unique(truth).size)
    path = None if cache is None else cache / f"emb_{name}_{seed}.npy"
    train_s = None
    if path is not None and path.exists():
        emb = np.load(path)
    else:
        start = time.perf_counter()
        emb = _peers.graphst_embedding(_peers.graphst_input(adata), seed)
        train_s = time.perf_counter() - start
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, emb)
    reduced = PCA(n_components=20, random_state=42).fit_transform(emb)
    runner = float(adjusted_rand_score(truth, _peers.graphst_labels(emb, k, seed)))

    def fit(init_seed: int, n_init: int) -> dict:
        model = TiedGaussianMixture(k, n_init=n_init, max_iter=500, reg_covar=1e-6,
                                    init_params="kmeans", random_state=init_seed)
        labels = model.fit_predict(reduced)
        return {"init_seed": init_seed, "n_init": n_init,
                "ari": float(adjusted_rand_score(truth, labels)),
                "loglik_per_spot": float(model.score(reduced))}

    fits = [fit(s, 1) for s in range(10)]
    best_of_10 = fit(seed, 10)
    kmeans = [float(adjusted_rand_score(truth, KMeans(k, n_init=10, random_state=s)
                                        .fit_predict(reduced))) for s in range(3)]
    return {"seed": seed, "train_s": train_s, "runner_ari": runner, "mixture_fits": fits,
            "mixture_best_likelihood_of_10": best_of_10, "kmeans_pca20_ari": kmeans}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("slices", nargs="+")
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--cache", type=Path, default=None)
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    out: dict = json.loads(args.out.read_text()) if args.out.exists() else {}
    for name in args.slices:
        out[name] = probe(name, args.seed, args.cache)
        fits = out[name]["mixture_fits"]
        print(name, "runner", round(out[name]["runner_ari"], 3), "mixture seeds",
              [round(f["ari"], 3) for f in fits], "best likelihood of 10",
              round(out[name]["mixture_best_likelihood_of_10"]["ari"], 3), flush=True)
        tmp = args.out.with_suffix(".tmp")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(out, indent=1) + "\n")
        tmp.replace(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
