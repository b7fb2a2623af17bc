#!/usr/bin/env python
"""Baseline clustering benchmarks for the scRCL reproduction.

Subcommands
-----------
sc   scanpy baseline on the scRNA-seq stand-ins (substitutes/scdata):
     normalize_total(1e4) -> log1p -> 2000 HVG (flavor 'seurat', subset)
     -> scale(max_value=10) -> PCA 50 (arpack, random_state 0), then
       * k-means with K = #true classes (sklearn KMeans, n_init 10), one run per seed;
       * Leiden (igraph, resolution 1) on a symmetrised binary 15-NN graph of the
         50 PCs (sklearn NearestNeighbors, self excluded), one run per seed.
     Reports ACC (Hungarian), NMI, ARI, macro-F1, number of clusters, wall time.

st   baselines on the feature-level spatial stand-ins (stdata_pca/, X = 200 PCs):
       (a) k-means on the 200 features, K = #classes;
       (b) spatial smoothing: binary symmetric 6-NN graph of the spot coordinates
           (scipy cKDTree, no self loops), S = D^-1/2 (A+I) D^-1/2 with D the
           degree of A+I, X <- S X ten times, PCA to 30 components, k-means.
     Reports ARI and NMI per slice (mean ± std over seeds) and the DLPFC mean.

Each subcommand prints markdown tables and writes ``<out>/baselines_<cmd>.json``
(all per-seed numbers, timings, parameters, library versions and the machine)
and ``<out>/baselines_<cmd>.md`` (the tables), both written atomically.

Run from the repository root, e.g. ``python bench/baselines.py sc``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

_BENCH_DIR = Path(__file__).resolve().parent
if str(_BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(_BENCH_DIR))

SC_DATASETS = ["Baron_mouse1", "Baron_mouse2", "MCA_mouse_bladder_select2100", "CITE_CBMC_top2000"]
DLPFC_SLICES = [
    "151507", "151508", "151509", "151510", "151669", "151670",
    "151671", "151672", "151674", "151675", "151676",
]
ST_DATASETS = DLPFC_SLICES + ["Human_Breast_Cancer", "Mouse_Brain_Anterior"]
DEFAULT_SEEDS = [5, 15, 25, 35, 45]


# --------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    repo = _BENCH_DIR.parent
    common = argparse.ArgumentParser(add_help=False)
    g = common.add_argument_group("common options")
    g.add_argument(
        "--shared-data", type=Path, default=repo.parent / "shared" / "data", metavar="DIR",
        help="root of the shared benchmark data (the folder holding README.md, substitutes/, "
             "stdata_pca/). Default: <repo>/../shared/data = %(default)s. Data is read in place, never copied.",
    )
    g.add_argument(
        "--out", type=Path, default=repo / "results" / "bench", metavar="DIR",
        help="output folder for baselines_<cmd>.json and baselines_<cmd>.md (created if missing; "
             "files are written to a temp file and then os.replace'd).",
    )
    g.add_argument(
        "--seeds", type=int, nargs="+", default=DEFAULT_SEEDS, metavar="SEED",
        help="random seeds; one clustering run per seed (KMeans random_state / Leiden random_state). "
             "Mean ± std (population std, ddof=0) is over these runs.",
    )
    g.add_argument(
        "--datasets", nargs="+", default=None, metavar="NAME",
        help="run only these datasets (names as in the default list of the subcommand); None = all.",
    )
    g.add_argument(
        "--n-init", type=int, default=10,
        help="KMeans n_init (number of k-means++ restarts per run).",
    )
    g.add_argument(
        "--threads", type=int, default=2,
        help="cap on BLAS/OpenMP threads (OMP_NUM_THREADS etc. and threadpoolctl).",
    )

    p = argparse.ArgumentParser(
        prog="baselines.py",
        description=__doc__.split("\n\n", 1)[0],
        epilog="Use '<subcommand> --help' for the options of a subcommand.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="cmd", required=True, metavar="{sc,st}")

    psc = sub.add_parser(
        "sc", parents=[common],
        help="scanpy + k-means / Leiden baseline on the 4 scRNA-seq stand-ins",
        description="scanpy preprocessing (normalize_total 1e4, log1p, 2000 HVG seurat, scale max 10, "
                    "PCA 50 arpack rs 0), then k-means (K = #classes) and Leiden (igraph, 15-NN graph of "
                    "the PCs) per seed. Datasets: substitutes/scdata/<name>.h5ad, labels obs['cell_type1']. "
                    f"Default datasets: {', '.join(SC_DATASETS)}.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    s = psc.add_argument_group("sc options")
    s.add_argument("--n-top-genes", type=int, default=2000, help="number of HVGs (flavor 'seurat', subset)")
    s.add_argument("--n-pcs", type=int, default=50, help="number of principal components")
    s.add_argument("--n-neighbors", type=int, default=15,
                   help="k of the kNN graph for Leiden (self excluded; union-symmetrised, binary weights)")
    s.add_argument("--resolution", type=float, default=1.0, help="Leiden resolution (modularity objective)")
    s.add_argument("--leiden-iterations", type=int, default=2,
                   help="Leiden n_iterations (scanpy's recommended igraph setting is 2; -1 = until convergence)")
    s.add_argument("--no-leiden", action="store_true", help="skip the Leiden baseline (k-means only)")

    pst = sub.add_parser(
        "st", parents=[common],
        help="k-means and spatial-smoothing baselines on the 13 stdata_pca slices",
        description="(a) k-means on the 200 PCA features; (b) X <- S X repeated, S = D^-1/2 (A+I) D^-1/2 on a "
                    "spatial kNN graph, PCA, k-means. K = #classes. Datasets: stdata_pca/<name>.h5ad, labels "
                    f"obs['ground_truth'], coordinates obsm['spatial']. Default datasets: {', '.join(ST_DATASETS)}.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    t = pst.add_argument_group("st options")
    t.add_argument("--k-spatial", type=int, default=6,
                   help="number of nearest spots (Euclidean on obsm['spatial']) in the spatial graph")
    t.add_argument("--n-smooth", type=int, default=10, help="number of smoothing steps X <- S X")
    t.add_argument("--n-pcs", type=int, default=30, help="PCA components after smoothing")
    return p


# --------------------------------------------------------------------------- helpers


def _finish(args, cmd: str, payload: dict, tables: str, C) -> None:
    out_json = args.out / f"baselines_{cmd}.json"
    out_md = args.out / f"baselines_{cmd}.md"
    C.write_json_atomic(payload, out_json)
    # the markdown copy goes through the same temp-then-replace path
    import tempfile

    args.out.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out_md.name}.", suffix=".tmp", dir=args.out)
    with os.fdopen(fd, "w") as fh:
        fh.write(tables + "\n")
    os.replace(tmp, out_md)
    print(f"\nwrote {out_json}\nwrote {out_md}")


def _select(names: list[str], wanted: list[str] | None) -> list[str]:
    if not wanted:
        return names
    unknown = [w for w in wanted if w not in names]
    if unknown:
        raise SystemExit(f"unknown dataset(s): {unknown}; choose from {names}")
    return [n for n in names if n in wanted]


def _kmeans(Z, k: int, seed: int, n_init: int):
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(Z)


def _summarise(runs: list[dict], C) -> dict:
    keys = [k for k in runs[0] if isinstance(runs[0][k], (int, float)) and k != "seed"]
    return {k: C.mean_std([r[k] for r in runs]) for k in keys}


# --------------------------------------------------------------------------- sc


def run_sc(args, C) -> None:
    import anndata as ad
    import numpy as np
    import scanpy as sc
    import scipy.sparse as sp
    from sklearn.neighbors import NearestNeighbors

    sc.settings.verbosity = 0
    names = _select(SC_DATASETS, args.datasets)
    t_all = time.perf_counter()
    results = {}
    for name in names:
        path = args.shared_data / "substitutes" / "scdata" / f"{name}.h5ad"
        print(f"[sc] {name}: reading {path}", flush=True)
        t0 = time.perf_counter()
        adata = ad.read_h5ad(path)
        y = adata.obs["cell_type1"].astype(str).to_numpy()
        n_classes = int(len(np.unique(y)))
        n_obs, n_genes = adata.shape
        t_read = time.perf_counter() - t0

        t0 = time.perf_counter()
        sc.pp.normalize_total(adata, target_sum=1e4)
        sc.pp.log1p(adata)
        sc.pp.highly_variable_genes(adata, n_top_genes=args.n_top_genes, flavor="seurat", subset=True)
        n_hvg = int(adata.n_vars)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zero-centering densifies a sparse matrix
            sc.pp.scale(adata, max_value=10)
        sc.pp.pca(adata, n_comps=args.n_pcs, svd_solver="arpack", random_state=0)
        Z = np.asarray(adata.obsm["X_pca"], dtype=np.float64)
        t_prep = time.perf_counter() - t0

        entry = {
            "path": str(path), "n_obs": n_obs, "n_genes": n_genes, "n_hvg": n_hvg,
            "n_classes": n_classes, "time_read_s": t_read, "time_preprocess_s": t_prep, "methods": {},
        }

        runs = []
        for seed in args.seeds:
            t0 = time.perf_counter()
            pred = _kmeans(Z, n_classes, seed, args.n_init)
            dt = time.perf_counter() - t0
            runs.append({"seed": seed, **C.all_metrics(y, pred), "n_clusters": int(len(np.unique(pred))), "time_s": dt})
        entry["methods"]["kmeans"] = {"runs": runs, "summary": _summarise(runs, C)}
        print(f"[sc] {name}: kmeans ARI {C.fmt(entry['methods']['kmeans']['summary']['ARI'])}", flush=True)

        if not args.no_leiden:
            t0 = time.perf_counter()
            nn = NearestNeighbors(n_neighbors=args.n_neighbors).fit(Z)
            A = nn.kneighbors_graph(None, n_neighbors=args.n_neighbors, mode="connectivity")  # self excluded
            A = A.maximum(A.T).tocsr()
            A.setdiag(0)
            A.eliminate_zeros()
            A = sp.csr_matrix(A, dtype=np.float64)
            t_graph = time.perf_counter() - t0
            entry["leiden_graph"] = {"n_edges_undirected": int(A.nnz // 2), "time_s": t_graph}
            runs = []
            for seed in args.seeds:
                t0 = time.perf_counter()
                sc.tl.leiden(
                    adata, adjacency=A, flavor="igraph", directed=False, resolution=args.resolution,
                    n_iterations=args.leiden_iterations, random_state=seed, key_added="_leiden", use_weights=True,
                )
                pred = adata.obs["_leiden"].astype(str).to_numpy()
                dt = time.perf_counter() - t0
                runs.append({"seed": seed, **C.all_metrics(y, pred), "n_clusters": int(len(np.unique(pred))), "time_s": dt})
            entry["methods"]["leiden"] = {"runs": runs, "summary": _summarise(runs, C)}
            s = entry["methods"]["leiden"]["summary"]
            print(f"[sc] {name}: leiden ARI {C.fmt(s['ARI'])}, clusters {s['n_clusters']['mean']:.1f}", flush=True)
        results[name] = entry
    wall = time.perf_counter() - t_all

    header = ["dataset", "cells", "classes", "method", "ACC", "NMI", "ARI", "macro-F1", "#clusters",
              "prep (s)", "per run (s)"]
    rows = []
    for name, e in results.items():
        for m, label in (("kmeans", f"k-means (K={e['n_classes']})"), ("leiden", "Leiden (res 1, 15-NN)")):
            if m not in e["methods"]:
                continue
            s = e["methods"][m]["summary"]
            ncl = [r["n_clusters"] for r in e["methods"][m]["runs"]]
            ncl_s = str(ncl[0]) if min(ncl) == max(ncl) else f"{min(ncl)}–{max(ncl)} (mean {np.mean(ncl):.1f})"
            per_run = s["time_s"]["mean"] + (e["leiden_graph"]["time_s"] / len(args.seeds) if m == "leiden" else 0.0)
            rows.append([name, e["n_obs"], e["n_classes"], label, C.fmt(s["ACC"]), C.fmt(s["NMI"]), C.fmt(s["ARI"]),
                         C.fmt(s["F1"]), ncl_s, f"{e['time_preprocess_s']:.1f}", f"{per_run:.2f}"])
    env = C.environment(args.threads)
    table = C.markdown_table(header, rows)
    foot = (f"\nmean ± std over seeds {args.seeds} (std ddof=0). KMeans n_init={args.n_init}. "
            f"prep = preprocessing from counts to the PCs (file reading excluded), done once per dataset; per run = one clustering run "
            f"(Leiden: plus the kNN graph time divided by the number of seeds). Total wall time {wall:.1f} s on {env['machine']['cpu_model']} "
            f"({env['machine']['cpu_count']} CPUs, {args.threads} threads used), {env['machine']['platform']}.")
    text = "### scRNA-seq stand-ins: scanpy baselines\n\n" + table + "\n" + foot
    print("\n" + text)

    payload = {
        "benchmark": "sc",
        "command": " ".join(sys.argv),
        "params": {
            "seeds": args.seeds, "kmeans_n_init": args.n_init, "normalize_total_target": 1e4,
            "log1p": True, "n_top_genes": args.n_top_genes, "hvg_flavor": "seurat", "scale_max_value": 10,
            "n_pcs": args.n_pcs, "pca_svd_solver": "arpack", "pca_random_state": 0,
            "leiden": None if args.no_leiden else {
                "graph": f"sklearn NearestNeighbors k={args.n_neighbors} on PCs, self excluded, "
                         "union-symmetrised, binary weights",
                "flavor": "igraph", "resolution": args.resolution, "n_iterations": args.leiden_iterations,
                "objective": "modularity",
            },
            "std": "population (ddof=0)",
        },
        "wall_time_s": wall,
        **env,
        "datasets": results,
        "markdown": text,
    }
    _finish(args, "sc", payload, text, C)


# --------------------------------------------------------------------------- st


def spatial_graph(coords, k: int):
    """Binary symmetric kNN graph (Euclidean, scipy cKDTree), no self loops."""
    import numpy as np
    import scipy.sparse as sp
    from scipy.spatial import cKDTree

    n = coords.shape[0]
    _, idx = cKDTree(coords).query(coords, k=k + 1)
    rows, cols = [], []
    for i in range(n):
        nb = [j for j in idx[i] if j != i][:k]  # drop self even if a duplicate coordinate came first
        rows.extend([i] * len(nb))
        cols.extend(nb)
    A = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    A = A.maximum(A.T).tocsr()
    A.setdiag(0)
    A.eliminate_zeros()
    A.data[:] = 1.0
    return A


def smoothing_operator(A):
    """S = D^-1/2 (A + I) D^-1/2, D = diag of the row sums of A + I."""
    import numpy as np
    import scipy.sparse as sp

    M = (A + sp.identity(A.shape[0], format="csr")).tocsr()
    d = np.asarray(M.sum(axis=1)).ravel()
    dinv = sp.diags(1.0 / np.sqrt(d))
    return (dinv @ M @ dinv).tocsr()


def run_st(args, C) -> None:
    import anndata as ad
    import numpy as np
    from sklearn.decomposition import PCA

    names = _select(ST_DATASETS, args.datasets)
    t_all = time.perf_counter()
    results = {}
    for name in names:
        path = args.shared_data / "stdata_pca" / f"{name}.h5ad"
        print(f"[st] {name}: reading {path}", flush=True)
        adata = ad.read_h5ad(path)
        X = np.asarray(adata.X, dtype=np.float64)
        y = adata.obs["ground_truth"].astype(str).to_numpy()
        coords = np.asarray(adata.obsm["spatial"], dtype=np.float64)
        K = int(len(np.unique(y)))
        entry = {"path": str(path), "n_obs": int(X.shape[0]), "n_features": int(X.shape[1]), "n_classes": K,
                 "methods": {}}

        runs = []
        for seed in args.seeds:
            t0 = time.perf_counter()
            pred = _kmeans(X, K, seed, args.n_init)
            dt = time.perf_counter() - t0
            runs.append({"seed": seed, **C.all_metrics(y, pred), "n_clusters": int(len(np.unique(pred))), "time_s": dt})
        entry["methods"]["kmeans"] = {"runs": runs, "summary": _summarise(runs, C)}

        t0 = time.perf_counter()
        A = spatial_graph(coords, args.k_spatial)
        S = smoothing_operator(A)
        Xs = X.copy()
        for _ in range(args.n_smooth):
            Xs = S @ Xs
        Zs = PCA(n_components=args.n_pcs, random_state=0).fit_transform(Xs)
        t_prep = time.perf_counter() - t0
        deg = np.asarray(A.sum(axis=1)).ravel()
        entry["smooth_graph"] = {"n_edges_undirected": int(A.nnz // 2), "degree_mean": float(deg.mean()),
                                 "degree_min": int(deg.min()), "degree_max": int(deg.max()),
                                 "time_graph_smooth_pca_s": t_prep}
        runs = []
        for seed in args.seeds:
            t0 = time.perf_counter()
            pred = _kmeans(Zs, K, seed, args.n_init)
            dt = time.perf_counter() - t0
            runs.append({"seed": seed, **C.all_metrics(y, pred), "n_clusters": int(len(np.unique(pred))), "time_s": dt})
        entry["methods"]["smooth_kmeans"] = {"runs": runs, "summary": _summarise(runs, C)}
        a, b = entry["methods"]["kmeans"]["summary"], entry["methods"]["smooth_kmeans"]["summary"]
        print(f"[st] {name}: kmeans ARI {C.fmt(a['ARI'])} | smooth ARI {C.fmt(b['ARI'])}", flush=True)
        results[name] = entry
    wall = time.perf_counter() - t_all

    # DLPFC mean: mean over slices of the per-slice mean (and the std across slices of those means)
    dl = [n for n in names if n in DLPFC_SLICES]
    dlpfc_mean = {}
    if dl:
        for m in ("kmeans", "smooth_kmeans"):
            dlpfc_mean[m] = {
                k: C.mean_std([results[n]["methods"][m]["summary"][k]["mean"] for n in dl])
                for k in ("ARI", "NMI", "ACC", "F1")
            }

    header = ["slice", "spots", "classes", "k-means ARI", "k-means NMI", "smooth ARI", "smooth NMI",
              "k-means per run (s)", "smooth prep + per run (s)"]
    rows = []
    for name, e in results.items():
        a, b = e["methods"]["kmeans"]["summary"], e["methods"]["smooth_kmeans"]["summary"]
        rows.append([name, e["n_obs"], e["n_classes"], C.fmt(a["ARI"]), C.fmt(a["NMI"]), C.fmt(b["ARI"]),
                     C.fmt(b["NMI"]), f"{a['time_s']['mean']:.2f}",
                     f"{e['smooth_graph']['time_graph_smooth_pca_s']:.2f} + {b['time_s']['mean']:.2f}"])
    if dl:
        a, b = dlpfc_mean["kmeans"], dlpfc_mean["smooth_kmeans"]
        rows.append([f"**DLPFC mean ({len(dl)} slices)**", "", "", f"**{C.fmt(a['ARI'])}**", f"**{C.fmt(a['NMI'])}**",
                     f"**{C.fmt(b['ARI'])}**", f"**{C.fmt(b['NMI'])}**", "", ""])
    env = C.environment(args.threads)
    table = C.markdown_table(header, rows)
    foot = (f"\nPer slice: mean ± std over seeds {args.seeds} (std ddof=0). DLPFC mean row: mean ± std across slices "
            f"of the per-slice means. K = #classes, KMeans n_init={args.n_init}. Smoothing: binary symmetric "
            f"{args.k_spatial}-NN spatial graph (cKDTree), S = D^-1/2 (A+I) D^-1/2, {args.n_smooth} steps, "
            f"PCA {args.n_pcs}. Total wall time {wall:.1f} s on {env['machine']['cpu_model']} "
            f"({env['machine']['cpu_count']} CPUs, {args.threads} threads used), {env['machine']['platform']}.")
    text = "### Spatial stand-ins (stdata_pca, 200 PCA features): k-means and smoothing baselines\n\n" + table + "\n" + foot
    print("\n" + text)

    payload = {
        "benchmark": "st",
        "command": " ".join(sys.argv),
        "params": {
            "seeds": args.seeds, "kmeans_n_init": args.n_init, "k_spatial": args.k_spatial,
            "graph": "cKDTree Euclidean kNN on obsm['spatial'], binary, union-symmetrised, no self loops",
            "operator": "S = D^-1/2 (A+I) D^-1/2, D = rowsum(A+I)", "n_smooth": args.n_smooth,
            "pca_after_smoothing": {"n_components": args.n_pcs, "impl": "sklearn PCA", "random_state": 0},
            "std": "population (ddof=0)",
        },
        "wall_time_s": wall,
        **env,
        "datasets": results,
        "dlpfc_mean": dlpfc_mean,
        "dlpfc_slices": dl,
        "markdown": text,
    }
    _finish(args, "st", payload, text, C)


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    if args.threads < 1:
        raise SystemExit("--threads must be >= 1")
    # cap threads before numpy / sklearn / scanpy are imported
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import _common as C

    C.limit_threads(args.threads)
    args.shared_data = args.shared_data.expanduser().resolve()
    args.out = args.out.expanduser().resolve()
    if not args.shared_data.is_dir():
        raise SystemExit(f"shared data folder not found: {args.shared_data} (use --shared-data)")
    {"sc": run_sc, "st": run_st}[args.cmd](args, C)


if __name__ == "__main__":
    main()
