"""How time and memory grow with the number of cells (issue 5's scaling benchmark).

For each source data set and size N, a data set of N cells is made by resampling cells of
the stand-in (with replacement) and thinning every count binomially (p = 0.9), so that no
two cells are exact copies. Each size runs in its own process (peak resident memory is that
process's ``ru_maxrss``), with the documented default configuration (the Baron_human preset:
2,000 genes, hidden width 1,500, k = 15, smoothing 5/0, precision auto), full batches or
mini-batches (``--batch-size``), and measures:

* preparation (normalisation, HVG, cell kNN graph, gene kNN graph) and the graphs alone,
* seconds per training epoch (``--epochs`` timed epochs, after one untimed warm-up epoch),
* embedding + cosine k-means time,
* peak RSS after preparation, after the tensors, after training, and at the end.

Each (source, size, batch setting) is one committed record,
``bench/results/scaling/<source>_<N>_<auto|full|B>.json``; a rerun measures only what is
not recorded (``--force``: everything). ``bench/report.py`` makes the scaling table and
``scrcl/memory.py``'s model is fitted to these records.

    OMP_NUM_THREADS=1 python bench/scaling.py --sizes 1000 5000 10000 20000 50000 100000 \
        --batch-size auto full
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
from typing import Callable, Iterable, Iterator, Optional

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


def child(source: str, n: int, epochs: int, data_dir: Path, n_init: int,
          batch_size: Optional[int] = None) -> dict:
    """One size, in this process; returns the measurements. ``batch_size``: the
    configuration's setting (None: the default rule of ``scrcl.training.minibatch``)."""
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    from scrcl import graphs
    from scrcl.clustering.kmeans import kmeans_cosine
    from scrcl.config import default_config
    from scrcl.data.preprocess import prepare_sc_with
    from scrcl.training.minibatch import batch_plan
    from scrcl.pipeline import clustering_input
    from scrcl.training.precision import resolve_precision
    from scrcl.training.train import Inputs, embed, train

    rec: dict = {"source": source, "n_cells": n, "batch_size_setting": batch_size}
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
    cfg = cfg.replace(batch_size=batch_size)
    plan = batch_plan(prepared, cfg.batch_size)
    rec["batch_cells"] = (n if plan is None
                          else max(idx.size for idx in plan.batches(1)))
    rec["n_batches"] = 1 if plan is None else plan.n_batches
    rec["edges_in_batch"] = 1.0 if plan is None else plan.edges_kept()
    precision = resolve_precision(cfg.precision, torch.device("cpu"))
    rec["precision"] = precision
    inputs = Inputs.from_prepared(prepared, torch.device("cpu"),
                                  dense=True if plan is not None else None, precision=precision)
    rec["to_tensors_s"] = time.perf_counter() - tick
    rec["rss_after_tensors_mb"] = peak_rss_mb()
    result = train(inputs, cfg, k, seed=5, progress=False, batches=plan)
    rec["epoch_s_all"] = result.epoch_s
    rec["epoch_s"] = float(np.mean(result.epoch_s[1:]))
    rec["rss_after_train_mb"] = peak_rss_mb()
    tick = time.perf_counter()
    emb = clustering_input(embed(result.model, inputs, precision, normalized=False))
    kmeans_cosine(emb, k, n_init=n_init, seed=5)
    rec["cluster_s"] = time.perf_counter() - tick
    rec["kmeans_n_init"] = n_init
    rec["peak_rss_mb"] = peak_rss_mb()
    return rec


RECORDS = Path(__file__).resolve().parent / "results" / "scaling"


def batch_label(setting: Optional[int]) -> str:
    """'auto' (the default rule), 'full' (0) or the batch size."""
    return "auto" if setting is None else "full" if setting == 0 else str(setting)


def batch_setting(text: str) -> Optional[int]:
    return None if text == "auto" else 0 if text == "full" else int(text)


def unrecorded(folder: Path, cases: Iterable[tuple], force: bool,
               name: Callable[..., str]) -> Iterator[tuple[tuple, Path, dict]]:
    """(case, record path, child environment) for each case whose record ``folder /
    name(*case)`` is not stored yet (all of them with ``force``); says which are skipped.
    The children get one OpenMP thread unless OMP_NUM_THREADS says otherwise."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    folder.mkdir(parents=True, exist_ok=True)
    for case in cases:
        path = folder / name(*case)
        if path.exists() and not force:
            print(f"recorded: {path.name}")
            continue
        yield case, path, env


def record_child(script: str, child_args: list[str], path: Path, env: dict, note: str,
                 command: str) -> Optional[dict]:
    """Run ``script`` with ``child_args`` in a process of its own (its peak RSS is its own),
    read the JSON record it prints last, add the wall time, threads, machine, command and
    note, and write it to ``path`` atomically; None (and a line on stderr) if it failed."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, script, *child_args], capture_output=True,
                          text=True, env=env)
    if proc.returncode != 0:
        print(f"failed: {command}: {proc.stderr.strip()[-1000:]}", file=sys.stderr)
        return None
    rec = json.loads(proc.stdout.strip().splitlines()[-1])
    rec.update(wall_s=time.perf_counter() - t0, threads=env["OMP_NUM_THREADS"],
               machine=f"{platform.machine()}, {os.cpu_count()} cores",
               command=f"OMP_NUM_THREADS={env['OMP_NUM_THREADS']} python {command}", note=note)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(rec, indent=1))
    tmp.replace(path)
    return rec


def load_records(folder: Path = RECORDS) -> list[dict]:
    """The committed records of this script (one JSON file per source, size, batch)."""
    return [json.loads(f.read_text()) for f in sorted(folder.glob("*.json"))]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 10000, 20000, 50000])
    p.add_argument("--sources", nargs="+", default=["CITE_CBMC_top2000"], choices=SOURCES)
    p.add_argument("--batch-size", nargs="+", default=["auto"], metavar="B",
                   help="'auto' (the default rule: full batch up to 20,000 cells), 'full', "
                        "or a number of cells; each is measured at every size")
    p.add_argument("--epochs", type=int, default=1, help="timed epochs (after one warm-up)")
    p.add_argument("--kmeans-n-init", type=int, default=5)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_SHARED_DATA)
    p.add_argument("--records", type=Path, default=RECORDS,
                   help="folder of the records (committed: bench/results/scaling)")
    p.add_argument("--force", action="store_true", help="measure again what is recorded")
    p.add_argument("--note", default="", help="saved with each record (e.g. machine load)")
    p.add_argument("--child", nargs=3, metavar=("SOURCE", "N", "BATCH"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        rec = child(args.child[0], int(args.child[1]), args.epochs, args.data_dir,
                    args.kmeans_n_init, batch_setting(args.child[2]))
        print(json.dumps(rec))
        return 0
    cases = [(n, source, batch) for n in sorted(args.sizes) for source in args.sources
             for batch in args.batch_size]
    for (n, source, batch), path, env in unrecorded(
            args.records, cases, args.force,
            lambda n, source, batch: f"{source}_{n}_{batch_label(batch_setting(batch))}.json"):
        rec = record_child(
            __file__, ["--child", source, str(n), batch, "--epochs", str(args.epochs),
                       "--data-dir", str(args.data_dir), "--kmeans-n-init",
                       str(args.kmeans_n_init)], path, env, args.note,
            f"bench/scaling.py --sizes {n} --sources {source} --batch-size {batch} "
            f"--epochs {args.epochs}")
        if rec is not None:
            print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v)
                              for k, v in rec.items() if k != "epoch_s_all"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
