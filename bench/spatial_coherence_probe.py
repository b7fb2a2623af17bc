"""Probe (accuracy issue): does a spatial-coherence signal beside the silhouette choose
better spatial partitions among a run's stored candidate epochs? No training.

Written before it was run. Reason: DLPFC domains are contiguous layers; the silhouette
measures separation in the embedding only, and the k-means partitions of the candidates
swing by 0.1-0.2 ARI between epochs, so a partition that is coherent over the tissue might
be the layered one. Signal, per candidate partition P on the binary symmetric 6-NN spot
graph (the smoothing baseline's graph):

    kappa(P) = (o - e) / (1 - e)

o the fraction of edges whose two spots share a cluster, e = sum_c p_c^2 with p_c the
fraction of edge ends in cluster c (a chance-corrected spatial agreement: one big cluster
does not score high). Rules, ties to the later epoch:
* 'sil+kappa' (the one on trial): the best mean of the candidate's rank by silhouette and
  its rank by kappa;
* 'kappa': kappa alone (reported, not on trial);
* 'silhouette': the package's rule, which must reproduce the stored pick.
Verdict rule: 'sil+kappa' replaces nothing unless its mean ARI over the default entries is
higher and it is not lower on more entries than it is higher.

    python bench/spatial_coherence_probe.py      # every stored spatial entry with candidates

Writes ``bench/results/probes/spatial_coherence.json`` (``--out``): one row per entry.
"""
from __future__ import annotations

import argparse
import glob
import json
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
from _probes import (PROBES_DIR, pick_later, stand_in, stored_candidates,  # noqa: E402
                     stored_pick, true_labels, write_json)

OUT = PROBES_DIR / "spatial_coherence.json"
RULES = ("silhouette", "kappa", "sil+kappa")


def spatial_kappa(adj: sp.spmatrix, labels: np.ndarray) -> float:
    """Chance-corrected agreement of ``labels`` (N,) across the edges of ``adj`` (N, N)."""
    upper = sp.triu(adj, 1).tocoo()
    same = float((labels[upper.row] == labels[upper.col]).mean())
    ends = np.concatenate([labels[upper.row], labels[upper.col]])
    p = np.bincount(ends) / ends.size
    expected = float((p ** 2).sum())
    return (same - expected) / (1.0 - expected)


def probe_entry(path: str, cache: dict) -> dict | None:
    from scipy.stats import rankdata
    from sklearn.metrics import adjusted_rand_score

    from scrcl.graphs import spatial_graph

    stored_run = stored_candidates(path)
    if stored_run is None:
        return None
    entry, epochs, parts = stored_run.entry, stored_run.epochs, stored_run.partitions
    name = entry["dataset"]
    if name not in cache:
        coords = np.asarray(stand_in(name)[0].obsm["spatial"], dtype=np.float64)[:, :2]
        cache[name] = (true_labels(name), spatial_graph(coords, 6))
    truth, adj = cache[name]
    if parts[0].size != truth.size:
        raise SystemExit(f"{path}: {parts[0].size} labels for {truth.size} spots")
    s = stored_run.silhouette
    kappa = np.array([spatial_kappa(adj, p) for p in parts])
    ari = np.array([adjusted_rand_score(truth, p) for p in parts])
    scores = {"silhouette": s, "kappa": kappa, "sil+kappa": rankdata(s) + rankdata(kappa)}
    picks = {rule: pick_later(score) for rule, score in scores.items()}
    own = stored_pick(entry, epochs, s)  # the package's own (rounded-trace ties)
    if own is not None:
        picks["silhouette"] = own
    return {"dataset": name, "variant": entry["variant"] or "defaults", "seed": entry["seed"],
            "stored_ari": entry["ari"], "stored_epoch": entry["epoch_used"],
            **{f"{rule}_epoch": epochs[i] for rule, i in picks.items()},
            **{f"{rule}_ari": float(ari[i]) for rule, i in picks.items()},
            "best_candidate_ari": float(ari.max()), "candidates": len(epochs)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    cache: dict = {}
    found = [probe_entry(p, cache) for p in
             sorted(glob.glob(str(HERE / "results" / "st" / "*" / "scrcl*" / "final" / "*.json")))]
    found = [r for r in found if r is not None]
    for r in found:
        if abs(r["silhouette_ari"] - r["stored_ari"]) > 1e-6:
            raise SystemExit(f"{r['dataset']} {r['variant']} seed {r['seed']}: the silhouette "
                             f"pick does not reproduce the stored entry")
    groups = sorted({r["variant"] for r in found})
    summary = {}
    for group in groups:
        rs = [r for r in found if r["variant"] == group]
        summary[group] = {"entries": len(rs),
                          **{rule: float(np.mean([r[f"{rule}_ari"] for r in rs])) for rule in RULES},
                          "best_candidate": float(np.mean([r["best_candidate_ari"] for r in rs])),
                          "sil+kappa higher": sum(r["sil+kappa_ari"] > r["silhouette_ari"] + 1e-9 for r in rs),
                          "sil+kappa lower": sum(r["sil+kappa_ari"] < r["silhouette_ari"] - 1e-9 for r in rs)}
        print(group, json.dumps({k: round(v, 3) if isinstance(v, float) else v
                                 for k, v in summary[group].items()}))
    write_json(args.out, {"summary": summary, "entries": found}, indent=1)


if __name__ == "__main__":
    main()
