"""Probe (accuracy issue): what is clustered. Does a hierarchical clustering of each
candidate's embedding, instead of cosine k-means, lift the label-free (silhouette) pick?

Written before it was run on trained models. Reason: the stored candidates show that no
choice among epochs reaches the peers on MCA, CITE and Baron_mouse2 (the answer key's best
candidate is below them), so the partition of each candidate has to improve. Cosine
k-means at the true K favours clusters of equal size; the stand-ins' classes are skewed
(MCA 550 ... 8 cells, CITE 2,293 ... 49, Baron 551 ... 3). A first look at the embeddings
after one epoch (seed 5, not a measurement) gave average linkage on the cosine distance
0.589 / 0.606 / 0.908 / 0.780 / 0.881 (MCA, CITE, Baron_mouse2, Baron_mouse1, Darmanis)
against k-means' 0.516 / 0.524 / 0.899 / 0.764 / 0.880, and Ward linkage on 50 principal
components of the embedding 0.590 / 0.533 / 0.908 / 0.766 / 0.910.

One label-free training run per stand-in (seed 5, the runner's configuration, one thread),
every candidate epoch (every 10th, the first ``select_first`` and the last) clustered three
ways from the same model, each way picking its own candidate by the package's rule (cosine
silhouette on the embedding, ties to the later epoch; the stop rule watches all three):

* ``kmeans``: cosine k-means, the preset's restarts (the default today);
* ``average``: average linkage on the cosine distance of the embedding's rows, cut at K;
* ``ward``: Ward linkage on the first 50 principal components of the embedding, cut at K.

On slices every partition is refined as the preset says (the pipeline's post-processing).
Per way: the picked epoch and its ARI, the best candidate (answer key), each candidate's ARI
and silhouette.

Verdict rule, written first: a hierarchical way earns a runner study (every stand-in, the
runner's seeds) only if its pick averages at least 0.02 above k-means' over the five
scRNA-seq stand-ins, is not below k-means' by more than 0.02 on any probed stand-in, and
its mean over the probed slices is not below k-means'. One seed: a probe, not a measurement.

    OMP_NUM_THREADS=1 python bench/clustering_probe.py Darmanis_brain Baron_mouse1 \\
        Baron_mouse2 MCA_mouse_bladder_select2100 151507 151669 151671 151672 \\
        CITE_CBMC_top2000

Writes ``bench/results/probes/clustering.json`` (``--out``), rewritten after each stand-in.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
from _probes import PROBES_DIR, probe_slices  # noqa: E402

OUT = PROBES_DIR / "clustering.json"


def cut(linkage: np.ndarray, k: int) -> np.ndarray:
    """(N,) labels of the K-cluster cut of a scipy linkage matrix."""
    from scipy.cluster.hierarchy import cut_tree

    return cut_tree(linkage, n_clusters=k).ravel().astype(np.int64)


def average_cosine(emb: torch.Tensor, k: int, seed: int) -> np.ndarray:
    """Average linkage on the cosine distance of the rows of ``emb`` (N, d), cut at K."""
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import squareform

    x = torch.nn.functional.normalize(emb.double(), dim=1)
    dist = (1.0 - x @ x.T).clamp_min_(0).cpu().numpy()
    np.fill_diagonal(dist, 0.0)
    return cut(linkage(squareform(dist, checks=False), method="average"), k)


def ward_pca(emb: torch.Tensor, k: int, seed: int) -> np.ndarray:
    """Ward linkage on the first 50 principal components of ``emb`` (N, d), cut at K
    (``scrcl.clustering.ward``: exact up to 10,000 cells)."""
    from scrcl.clustering.ward import ward

    return ward(emb, k, seed=seed)


WAYS = {"kmeans": None, "average": average_cosine, "ward": ward_pca}


def probe(name: str, seed: int = 5, ways: tuple[str, ...] = tuple(WAYS)) -> dict:
    import _data
    from scrcl.config import DEFAULT_SCHEDULE, with_schedule
    from scrcl.metrics import evaluate
    from scrcl.clustering.selection import silhouette
    from scrcl.pipeline import run_protocols

    t0 = time.time()
    spec = _data.dataset_spec(name)
    cfg = with_schedule(_data.base_config(spec), DEFAULT_SCHEDULE)
    inputs = _data.scrcl_inputs(spec, cfg)
    chosen = {way: WAYS[way] for way in ways}
    trace: dict = {way: {} for way in chosen}

    def record(_seed, way, epoch, labels, emb) -> None:
        trace[way][epoch] = (evaluate(inputs.truth, labels)["ari"],
                             silhouette(torch.from_numpy(emb), labels))

    results = run_protocols(inputs.prepared, cfg, inputs.n_clusters, [seed], ("final",),
                            truth=inputs.truth, device="cpu", progress=False,
                            postprocess=inputs.postprocess, clusterers=chosen,
                            epoch_hook=record)
    summary = {}
    for way in chosen:
        run = results[way]["final"].runs[0]
        aris = trace[way]
        summary[way] = {"picked_epoch": run.epoch_used, "picked_ari": run.scores["ari"],
                        "best_ari": max(a for a, _ in aris.values()),
                        "epochs_run": run.epochs_run}
    # per way: {epoch: [ARI, silhouette]}
    return {"summary": summary, "candidates": {w: {str(e): list(v) for e, v in t.items()}
                                               for w, t in trace.items()},
            "k": inputs.n_clusters, "seed": seed, "wall_s": time.time() - t0}


def verdict(found: dict, sc_names: tuple[str, ...]) -> dict:
    """The written rule applied to the probe's summaries: per hierarchical way, its mean pick
    minus k-means' over the scRNA-seq stand-ins and over the slices, its worst difference,
    and whether it earns a runner study."""
    out = {}
    for way in ("average", "ward"):
        diffs = {n: v["summary"][way]["picked_ari"] - v["summary"]["kmeans"]["picked_ari"]
                 for n, v in found.items() if way in v["summary"]}
        sc = [d for n, d in diffs.items() if n in sc_names]
        st = [d for n, d in diffs.items() if n not in sc_names]
        out[way] = {"sc_mean_gain": float(np.mean(sc)) if sc else None,
                    "st_mean_gain": float(np.mean(st)) if st else None,
                    "worst": min(diffs.values()) if diffs else None, "per_set": diffs,
                    "passes": bool(len(sc) == len(sc_names) and np.mean(sc) >= 0.02
                                   and min(diffs.values()) >= -0.02
                                   and (not st or np.mean(st) >= 0))}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("datasets", nargs="*")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--ways", nargs="+", choices=tuple(WAYS), default=tuple(WAYS),
                   help="the clusterings to compare (default: all three)")
    p.add_argument("--verdict", action="store_true",
                   help="print the rule's verdict on --out's stand-ins; train nothing")
    args = p.parse_args(argv)
    if args.verdict:
        import json

        from _data import SC_DATASETS

        print(json.dumps(verdict(json.loads(args.out.read_text()), tuple(SC_DATASETS)),
                         indent=1))
        return 0
    torch.set_num_threads(1)
    probe_slices(lambda name: probe(name, ways=tuple(args.ways)), args.datasets, args.out,
                 keep=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
