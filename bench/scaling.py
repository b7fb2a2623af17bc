"""How time and memory grow with the number of cells (issue 5's scaling benchmark).

For each source data set and size N, a data set of N cells is made by resampling cells of
the stand-in (with replacement) and thinning every count binomially (p = 0.9), so that no
two cells are exact copies. Each size runs in its own process (peak resident memory is that
process's ``ru_maxrss``), with the documented default configuration (the Baron_human preset:
2,000 genes, hidden width 1,500, k = 15, smoothing 5/0), and measures:

* preparation (normalisation, HVG, cell kNN graph, gene kNN graph) and the graphs alone,
* seconds per training epoch (``--epochs`` timed epochs, after one untimed warm-up epoch),
* embedding + cosine k-means time,
* peak RSS after preparation, after training, and at the end.

Writes ``results/bench/scaling.json`` and ``scaling.png`` (log-log, with the fitted slope of
each curve between 10k cells and the largest size).

    OMP_NUM_THREADS=1 python bench/scaling.py --sizes 1000 5000 10000 20000 50000
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

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import DEFAULT_OUT, DEFAULT_SHARED_DATA  # noqa: E402

SOURCES = ("CITE_CBMC_top2000", "Baron_mouse2")
THIN = 0.9  # binomial thinning of every count


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def resample(source_path: Path, n: int, seed: int = 0):
    """n cells drawn with replacement from the source, counts thinned binomially."""
    import anndata as ad

    src = ad.read_h5ad(source_path)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, src.n_obs, size=n)
    x = src.X[idx].tocsr().astype(np.float32)
    x.data = rng.binomial(x.data.astype(np.int64), THIN).astype(np.float32)
    x.eliminate_zeros()
    obs = src.obs.iloc[idx][["cell_type1"]].reset_index(drop=True)
    obs.index = obs.index.astype(str)
    return ad.AnnData(x, obs=obs, var=src.var[[]].copy())


def child(source: str, n: int, epochs: int, data_dir: Path, n_init: int) -> dict:
    """One size, in this process; returns the measurements."""
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    from scrcl import graphs
    from scrcl.clustering.kmeans import kmeans_cosine
    from scrcl.config import default_config
    from scrcl.data.preprocess import prepare_sc_with
    from scrcl.pipeline import clustering_input
    from scrcl.train import Inputs, embed, train

    rec: dict = {"source": source, "n_cells": n}
    tick = time.perf_counter()
    adata = resample(data_dir / "substitutes" / "scdata" / f"{source}.h5ad", n)
    rec["make_s"] = time.perf_counter() - tick
    k = int(adata.obs["cell_type1"].nunique())
    expressed = int((np.bincount(adata.X.indices, minlength=adata.n_vars) > 0).sum())
    cfg = default_config("SC").replace(epochs=epochs + 1)
    cfg = cfg.replace(hvg=min(cfg.hvg, expressed))  # resampling can leave a gene unexpressed
    graph_s: dict = {"cell_graph": 0.0, "gene_graph": 0.0}

    def timed(name, fn):
        def wrapper(*a, **kw):
            t0 = time.perf_counter()
            out = fn(*a, **kw)
            graph_s[name] += time.perf_counter() - t0
            return out
        return wrapper

    graphs.cell_graph = timed("cell_graph", graphs.cell_graph)
    graphs.gene_graph = timed("gene_graph", graphs.gene_graph)
    tick = time.perf_counter()
    prepared = prepare_sc_with(adata, cfg)
    rec["prepare_s"] = time.perf_counter() - tick
    rec["cell_graph_s"], rec["gene_graph_s"] = graph_s["cell_graph"], graph_s["gene_graph"]
    rec["n_genes"] = prepared.n_genes
    rec["nnz_per_cell"] = prepared.features.nnz / prepared.n_cells
    rec["graph_edges"] = int(prepared.cell_adj.nnz)
    rec["rss_after_prepare_mb"] = peak_rss_mb()
    tick = time.perf_counter()
    inputs = Inputs.from_prepared(prepared, torch.device("cpu"))
    rec["to_tensors_s"] = time.perf_counter() - tick
    result = train(inputs, cfg, k, seed=5, progress=False)
    rec["epoch_s_all"] = result.epoch_s
    rec["epoch_s"] = float(np.mean(result.epoch_s[1:]))
    rec["rss_after_train_mb"] = peak_rss_mb()
    tick = time.perf_counter()
    emb = clustering_input(embed(result.model, inputs))
    kmeans_cosine(emb, k, n_init=n_init, seed=5)
    rec["cluster_s"] = time.perf_counter() - tick
    rec["kmeans_n_init"] = n_init
    rec["peak_rss_mb"] = peak_rss_mb()
    return rec


def slope(ns, ys, lo: int = 10_000) -> float | None:
    pts = [(n, y) for n, y in zip(ns, ys) if n >= lo and y and y > 0]
    if len(pts) < 2:
        return None
    x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
    return float(np.polyfit(x, y, 1)[0])


def plot(records: list[dict], path: Path) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("epoch_s", "seconds per training epoch"), ("prepare_s", "preparation + graphs (s)"),
              ("peak_rss_mb", "peak resident memory (MB)")]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    slopes: dict = {}
    for ax, (key, title) in zip(axes, panels):
        for source in sorted({r["source"] for r in records}):
            rs = sorted((r for r in records if r["source"] == source and key in r),
                        key=lambda r: r["n_cells"])
            ns, ys = [r["n_cells"] for r in rs], [r[key] for r in rs]
            s = slope(ns, ys)
            slopes[f"{source}:{key}"] = s
            label = source + (f" (slope {s:.2f} from 10k)" if s is not None else "")
            ax.plot(ns, ys, "o-", label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("cells")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("scrcl scaling, 2,000 genes, hidden 1,500, 1 CPU thread")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return slopes


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 10000, 20000, 50000])
    p.add_argument("--sources", nargs="+", default=list(SOURCES), choices=SOURCES)
    p.add_argument("--epochs", type=int, default=3, help="timed epochs (after one warm-up)")
    p.add_argument("--kmeans-n-init", type=int, default=5)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_SHARED_DATA)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--time-limit", type=float, default=3600,
                   help="seconds: sizes that would start after this are skipped")
    p.add_argument("--append", action="store_true",
                   help="keep the records already in <out>/scaling.json and measure only the "
                        "missing (source, size) pairs")
    p.add_argument("--child", nargs=2, metavar=("SOURCE", "N"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]), args.epochs, args.data_dir,
                               args.kmeans_n_init)))
        return 0
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    start = time.perf_counter()
    records = []
    out_json = args.out / "scaling.json"
    if args.append and out_json.exists():
        records = [r for r in json.loads(out_json.read_text())["records"] if "error" not in r]
    done = {(r["source"], r["n_cells"]) for r in records}
    for n in sorted(args.sizes):
        for source in args.sources:
            if (source, n) in done:
                continue
            if time.perf_counter() - start > args.time_limit:
                print(f"skipped {source} {n}: time limit", file=sys.stderr)
                continue
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, __file__, "--child", source, str(n),
                                   "--epochs", str(args.epochs), "--data-dir", str(args.data_dir),
                                   "--kmeans-n-init", str(args.kmeans_n_init)],
                                  capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                rec = {"source": source, "n_cells": n, "error": proc.stderr.strip()[-2000:]}
            else:
                rec = json.loads(proc.stdout.strip().splitlines()[-1])
            rec["wall_s"] = time.perf_counter() - t0
            records.append(rec)
            print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v)
                              for k, v in rec.items() if k != "epoch_s_all"}), flush=True)
            args.out.mkdir(parents=True, exist_ok=True)
            out_json.write_text(json.dumps({"records": records}, indent=2))
    ok = [r for r in records if "error" not in r]
    slopes = plot(ok, args.out / "scaling.png") if ok else {}
    meta = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                        "omp_num_threads": env["OMP_NUM_THREADS"]},
            "config": "default_config('SC') (Baron_human preset), epochs timed after 1 warm-up",
            "thinning": THIN, "slopes_from_10k": slopes}
    out_json.write_text(json.dumps({"meta": meta, "records": records}, indent=2))
    print(json.dumps(slopes, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
