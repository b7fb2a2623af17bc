"""Study of label-free epoch/model selection on saved training traces (issue 6).

Reads the per-epoch labels and every-10th-epoch embeddings saved by
``bench/sc_bench.py --save-trace`` and scores, against the true labels, what several
label-free rules would have picked. The rules themselves see no labels.

    python bench/selection_study.py results/bench/sc_trace_*.npz
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import adjusted_rand_score, calinski_harabasz_score, silhouette_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from scrcl.clustering.kmeans import kmeans_cosine  # noqa: E402


def consensus(labels: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Cluster the cells on their one-hot labels over several epochs (linear memory)."""
    n = labels.shape[1]
    onehot = np.zeros((n, labels.shape[0] * k), dtype=np.float32)
    for i, lab in enumerate(labels):
        onehot[np.arange(n), i * k + lab] = 1.0
    return kmeans_cosine(onehot, k, n_init=10, seed=seed).labels


def stability(labels: np.ndarray, window: int = 10) -> np.ndarray:
    """Per epoch: mean ARI of its labels with those of the previous ``window`` epochs."""
    out = np.full(labels.shape[0], -1.0)
    for e in range(window, labels.shape[0]):
        out[e] = np.mean([adjusted_rand_score(labels[e], labels[e - d])
                          for d in range(1, window + 1)])
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("traces", nargs="+")
    args = p.parse_args()
    rows = []
    for path in args.traces:
        t = np.load(path, allow_pickle=True)
        labels, truth, emb, emb_epochs = t["labels"], t["truth"], t["emb"], t["emb_epochs"]
        k = int(labels.max()) + 1
        ari = np.array([adjusted_rand_score(truth, lab) for lab in labels])
        r = {"trace": Path(path).stem, "final": ari[-1], "oracle_ari": ari.max(),
             "oracle_epoch": int(ari.argmax()) + 1}
        for m in (50, 100, 200):
            r[f"consensus_last{m}"] = adjusted_rand_score(truth, consensus(labels[-m:], k))
        stab = stability(labels)
        e = int(stab.argmax())
        r["most_stable"] = ari[e]
        r["most_stable_epoch"] = e + 1
        sil, ch = [], []
        for i, ep in enumerate(emb_epochs):
            x = emb[i].astype(np.float32)
            lab = labels[ep - 1]
            sil.append(silhouette_score(x, lab, metric="cosine") if len(set(lab)) > 1 else -1)
            ch.append(calinski_harabasz_score(x, lab) if len(set(lab)) > 1 else -1)
        r["best_silhouette"] = ari[emb_epochs[int(np.argmax(sil))] - 1]
        r["best_silhouette_epoch"] = int(emb_epochs[int(np.argmax(sil))])
        r["best_ch"] = ari[emb_epochs[int(np.argmax(ch))] - 1]
        last = emb_epochs > emb_epochs.max() - 100
        mean_emb = emb[last].astype(np.float32).mean(0)
        r["mean_emb_last100"] = adjusted_rand_score(truth, kmeans_cosine(mean_emb, k, 10, 0).labels)
        r["ari_at_100_200_300_400"] = [round(float(ari[e - 1]), 3) for e in (100, 200, 300, 400)]
        rows.append(r)
        print({k_: (round(float(v), 4) if isinstance(v, (float, np.floating)) else v)
               for k_, v in r.items()}, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
