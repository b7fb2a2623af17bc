"""Tables for BENCHMARKS.md from the runs of bench/sc_bench.py.

For runs with a per-epoch trace (``--save-trace``), every protocol is recomputed from the
saved per-epoch labels with the package's own functions: 'last epoch',
'silhouette' (the default label-free rule of runSC.py), 'stable' (both scrcl.selection)
and 'oracle' (best NMI against the truth). Runs without a trace use what the JSON holds.

    python bench/sc_summary.py
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scrcl.config import default_config  # noqa: E402
from scrcl.metrics import evaluate  # noqa: E402
from scrcl.clustering.selection import candidate_epochs, most_stable_partition, silhouette  # noqa: E402

METRICS = ("acc", "nmi", "ari", "f1")


def from_trace(path: Path) -> dict[str, dict]:
    t = np.load(path, allow_pickle=True)
    labels, truth, emb, emb_epochs = t["labels"], t["truth"], t["emb"], t["emb_epochs"]
    epochs = labels.shape[0]
    scores = [evaluate(truth, lab) for lab in labels]
    cands = candidate_epochs(epochs, default_config().select_stride)
    stable = cands[most_stable_partition([labels[e - 1] for e in cands])]
    oracle = int(np.argmax([s["nmi"] for s in scores])) + 1
    # the default rule, on the saved (float16) embeddings of every 10th epoch
    sils = [silhouette(emb[i].astype(np.float32), labels[e - 1]) for i, e in enumerate(emb_epochs)]
    best = int(emb_epochs[int(np.flatnonzero(np.array(sils) >= max(sils))[-1])])
    return {"last epoch": {**scores[-1], "epoch": epochs},
            "silhouette (default)": {**scores[best - 1], "epoch": best},
            "stable": {**scores[stable - 1], "epoch": stable},
            "oracle": {**scores[oracle - 1], "epoch": oracle}}


def fmt(values) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", default="results/bench")
    args = p.parse_args()
    root = Path(args.dir)
    print("| data set | cells | K | protocol | seeds | ACC | NMI | ARI | F1 | epochs used |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    timing = []
    for js in sorted(root.glob("sc_bench_*.json")):
        rec = json.loads(js.read_text())
        name = rec["dataset"]
        per_proto: dict[str, list[dict]] = {}
        for run in rec["runs"]:
            trace = root / f"sc_trace_{name}_seed{run['seed']}.npz"
            got = from_trace(trace) if trace.exists() else {
                "last epoch": run["final"], "stable": run.get("stable"),
                "oracle": run.get("oracle")}
            for proto, s in got.items():
                if s is not None:
                    per_proto.setdefault(proto, []).append(s)
        for proto, rows in per_proto.items():
            cells = " | ".join(fmt([r[m] for r in rows]) for m in METRICS)
            epochs = ", ".join(str(r["epoch"]) for r in rows)
            print(f"| {name} | {rec['n_cells']} | {rec['n_clusters']} | {proto} | "
                  f"{len(rows)} | {cells} | {epochs} |")
        spe = [r["s_per_epoch"] for r in rec["runs"]]
        timing.append(f"| {name} | {rec['n_cells']} | {rec['n_genes']} | "
                      f"{rec['machine']['torch_threads']} | {np.mean(spe):.3f} | "
                      f"{np.mean([r['train_s'] for r in rec['runs']]):.0f} | "
                      f"{np.mean([r['scoring_s'] for r in rec['runs']]):.0f} | "
                      f"{rec['peak_rss_mb']:.0f} |")
    print()
    print("| data set | cells | genes | torch threads | s / training epoch | training s / seed "
          "| scoring s / seed | peak RSS (MB) |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(timing))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
