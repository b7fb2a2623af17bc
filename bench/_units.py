"""What one unit of the sc, st, speed and k suites computes: a scrcl training run, its
1-epoch control, a baseline, a peer (GraphST, scVI), a timing or an estimate of K."""
from __future__ import annotations

import math
import os
import statistics
import time
from typing import TYPE_CHECKING, Any

import _data
import _env
import _methods
import _peers
from _results import Key
from _suites import AUTOK, EPOCH1, PROTOCOLS, SPEED_PRECISIONS
from _plan import resolved_precision, trains_every_epoch
from _entries import dataset_inputs, scores_fields, store
from _training import (fits_budget, losses_taken, out_of_time, probe_unit_s, scrcl_inputs,
                       train_protocols, unit_clustering)
from _derived import derive_autok, derive_final

if TYPE_CHECKING:  # annotations only
    from _plan import Context, Unit


def run_scrcl(ctx: Context, unit: Unit, pending: list[Key]) -> None:
    pending = [key for key in pending
               if not derive_final(ctx, unit, key) and not derive_autok(ctx, unit, key)]
    if not pending:
        return
    cfg = ctx.config(unit.spec)
    methods = sorted({k.method for k in pending})
    protocols = [p for p in PROTOCOLS if any(k.protocol == p for k in pending)]
    protocols_of = {m: [p for p in protocols if any(k.method == m and k.protocol == p
                                                    for k in pending)] for m in methods}
    if not fits_budget(ctx, unit, lambda: probe_unit_s(
            ctx, unit, scrcl_inputs(ctx, unit, cfg), cfg, unit.seed, methods, protocols,
            protocols_of)):
        return
    inputs = scrcl_inputs(ctx, unit, cfg)
    n_clusters, named, est = unit_clustering(ctx, unit, inputs, cfg, methods)
    _env.reset_peak_memory()
    trace: dict = {}
    candidates: dict = {}
    trained = cfg.replace(stop="never") if trains_every_epoch(ctx) else cfg  # as hashed
    results = train_protocols(ctx, inputs, trained, unit.seed, methods, protocols, trace,
                              clustering=(n_clusters, named), candidates=candidates,
                              protocols_of=protocols_of)
    memory = _env.peak_memory()
    losses = losses_taken(inputs.prepared, cfg)
    for key in pending:
        result = results[key.method][key.protocol]
        run = result.runs[0]
        k_fields = ({"n_clusters": est.k, "estimated_k": est.k, "true_k": inputs.n_clusters,
                     "k_stability": est.stability} if key.method == AUTOK
                    else {"n_clusters": result.n_clusters})
        store(ctx, unit, key, {
            "epochs": cfg.epochs, **k_fields,
            "n_cells": inputs.prepared.n_cells, "n_features": inputs.prepared.n_genes,
            **scores_fields(inputs.truth, run.labels), "epoch_used": run.epoch_used,
            "s_per_epoch": run.train_s / max(run.epochs_run, 1), "train_s": run.train_s,
            "epochs_run": run.epochs_run, "wall_s": run.wall_s, "prep_s": inputs.prep_s,
            **memory, "precision": result.precision, "precision_requested": cfg.precision,
            "losses": losses,
            "features": inputs.prepared.input_kind, "config": cfg.to_dict(),
            # the partition itself (cells in prepared order), for label-free studies of
            # the seeds together (consensus) without training again
            "labels": run.labels.astype(int).tolist(),
            "trace": trace.get(key.method) if key.protocol == "final" else None,
            "candidates": candidates.get(key.method) if key.protocol == "final" else None})



def run_baseline(ctx: Context, unit: Unit, pending: list[Key]) -> None:
    import numpy as np

    import _methods

    if out_of_time(ctx, pending):
        return
    kind = unit.spec.kind
    if kind == "sc":
        import scanpy  # noqa: F401  (loaded before the preparation is timed)
    adata, label_key = dataset_inputs(ctx, unit.spec, lambda: _data.read(unit.spec), "adata")
    truth = np.asarray(adata.obs[label_key].astype(str))
    for key in pending:
        what = _methods.FEATURES[kind, key.method]

        def build() -> tuple[Any, float]:
            start = time.perf_counter()
            return _methods.features(kind, key.method, adata), time.perf_counter() - start

        feats, prep_s = dataset_inputs(ctx, unit.spec, build, what)
        k = int(np.unique(truth).size)
        _env.reset_peak_memory()
        start = time.perf_counter()
        labels = _methods.cluster(kind, key.method, feats, k, key.seed)
        wall = time.perf_counter() - start
        store(ctx, unit, key, {
            "epochs": None, "n_clusters": k, "n_cells": int(adata.n_obs),
            "n_features": int(adata.n_vars), **scores_fields(truth, labels),
            "epoch_used": None, "s_per_epoch": None, "wall_s": wall, "prep_s": prep_s,
            **_env.peak_memory(), "precision": None, "precision_requested": None})



def run_epoch1(ctx: Context, unit: Unit, pending: list[Key]) -> None:
    """scrcl's pipeline after one epoch, its last clustered (``scrcl-epoch1``): the inputs,
    clusterer (k-means at the true K), spatial refinement and seed of ``scrcl``."""
    if out_of_time(ctx, pending):
        return
    cfg = ctx.epoch1_config(unit.spec)
    inputs = scrcl_inputs(ctx, unit, ctx.config(unit.spec))
    _env.reset_peak_memory()
    results = train_protocols(ctx, inputs, cfg, unit.seed, [EPOCH1], ["final"],
                              clustering=(inputs.n_clusters, {EPOCH1: None}))
    memory = _env.peak_memory()
    result = results[EPOCH1]["final"]
    run = result.runs[0]
    store(ctx, unit, pending[0], {
        "epochs": cfg.epochs, "n_clusters": result.n_clusters,
        "n_cells": inputs.prepared.n_cells, "n_features": inputs.prepared.n_genes,
        **scores_fields(inputs.truth, run.labels), "epoch_used": run.epoch_used,
        "s_per_epoch": run.train_s / max(run.epochs_run, 1), "train_s": run.train_s,
        "epochs_run": run.epochs_run, "wall_s": run.wall_s, "prep_s": inputs.prep_s,
        **memory, "precision": result.precision, "precision_requested": cfg.precision,
        "losses": losses_taken(inputs.prepared, cfg),
        "features": inputs.prepared.input_kind, "config": cfg.to_dict(),
        "labels": run.labels.astype(int).tolist()})



def run_peer(ctx: Context, unit: Unit, pending: list[Key]) -> None:
    """One peer trained for the unit's seed (GraphST on a slice, scVI on counts) and
    clustered for each pending method (bench/_peers.py); labels are read only to score."""
    import numpy as np

    if out_of_time(ctx, pending):
        return
    kind = unit.spec.kind
    adata, label_key = dataset_inputs(ctx, unit.spec, lambda: _data.read(unit.spec), "adata")
    truth = np.asarray(adata.obs[label_key].astype(str))
    k = int(np.unique(truth).size)
    _env.reset_peak_memory()
    found = _peers.run_peer(kind, adata, [key.method for key in pending], k, unit.seed,
                            epochs=ctx.args.peer_epochs, device=ctx.args.device)
    memory = _env.peak_memory()
    for key in pending:
        out = found[key.method]
        store(ctx, unit, key, {
            "epochs": out["epochs"], "n_clusters": k, "n_cells": int(adata.n_obs),
            "n_features": out["n_features"], **scores_fields(truth, out["labels"]),
            "epoch_used": out["epochs"], "s_per_epoch": None, "train_s": out["train_s"],
            "cluster_s": out["cluster_s"], "wall_s": out["train_s"] + out["cluster_s"],
            "prep_s": out["prep_s"], **memory, "precision": "fp32",
            "precision_requested": None, "peer_versions": _peers.package_versions(kind),
            "labels": out["labels"].astype(int).tolist()})



def time_precisions(ctx: Context, inputs: _data.ScrclInputs, cfg, seed: int) -> dict:
    """Seconds per training epoch in fp32 and bf16, in alternating blocks in this process
    (fp32 bf16, then bf16 fp32), each block ``warmup`` untimed epochs then timed ones."""
    from scrcl.training.train import Inputs, resolve_device, train

    from scrcl.training.precision import COMPILE_ENV, resolve_compile

    args = ctx.args
    device = resolve_device(args.device)
    tensors = Inputs.from_prepared(inputs.prepared, device)
    # compile the losses as a full run would (the short timing runs would not by themselves)
    os.environ[COMPILE_ENV] = "yes" if resolve_compile(tensors.n_cells, cfg.hid_dim,
                                                        cfg.epochs) else "no"
    out_dim = cfg.out_dim or inputs.n_clusters
    per_block = math.ceil(args.timed_epochs / 2)
    out = {p: {"epoch_s": [], "peak_rss_mb": 0.0, "peak_gpu_mb": None} for p in SPEED_PRECISIONS}
    for order in (SPEED_PRECISIONS, SPEED_PRECISIONS[::-1]):
        for precision in order:
            _env.reset_peak_memory()
            trained = train(tensors, cfg.replace(epochs=args.warmup + per_block,
                                                 precision=precision), out_dim, seed,
                            progress=False)
            memory = _env.peak_memory()
            slot = out[precision]
            slot["epoch_s"] += trained.epoch_s[args.warmup:]
            slot["peak_rss_mb"] = max(slot["peak_rss_mb"], memory["peak_rss_mb"])
            if memory["peak_gpu_mb"] is not None:
                slot["peak_gpu_mb"] = max(slot["peak_gpu_mb"] or 0.0, memory["peak_gpu_mb"])
    for precision, slot in out.items():
        slot["s_per_epoch"] = statistics.mean(slot["epoch_s"])
        slot["s_per_epoch_median"] = statistics.median(slot["epoch_s"])
        slot["precision"] = resolved_precision(precision, args.device)
    return out



def run_speed(ctx: Context, unit: Unit, pending: list[Key]) -> None:
    cfg = ctx.config(unit.spec)
    if not fits_budget(ctx, unit, lambda: probe_unit_s(
            ctx, unit, scrcl_inputs(ctx, unit, cfg), cfg, unit.seed, ["scrcl"], ["final"])):
        return
    inputs = scrcl_inputs(ctx, unit, cfg)
    start = time.perf_counter()
    timings = time_precisions(ctx, inputs, cfg, unit.seed)
    key = pending[0]
    store(ctx, unit, key, {
        "epochs": len(timings["fp32"]["epoch_s"]), "warmup": ctx.args.warmup,
        "n_clusters": inputs.n_clusters, "n_cells": inputs.prepared.n_cells,
        "n_features": inputs.prepared.n_genes, "wall_s": time.perf_counter() - start,
        "prep_s": inputs.prep_s, "by_precision": timings,
        "bf16_over_fp32": timings["bf16"]["s_per_epoch"] / timings["fp32"]["s_per_epoch"],
        "peak_rss_mb": max(t["peak_rss_mb"] for t in timings.values()),
        "peak_gpu_mb": max((t["peak_gpu_mb"] for t in timings.values()
                            if t["peak_gpu_mb"] is not None), default=None),
        "precision": "+".join(SPEED_PRECISIONS), "losses": losses_taken(inputs.prepared, cfg),
        "config": cfg.to_dict()})



def run_k(ctx: Context, unit: Unit, pending: list[Key]) -> None:
    """K as ``--n-clusters auto`` estimates it ('leiden_k', before training, no label read),
    or as one of the studied rules of ``_methods.K_RULES`` does on the same graph."""
    from scrcl.clustering.estimate_k import estimate_n_clusters
    from scrcl.tl import expression_graph

    if out_of_time(ctx, pending):
        return
    cfg = ctx.config(unit.spec)
    inputs = scrcl_inputs(ctx, unit, cfg)
    _env.reset_peak_memory()
    start = time.perf_counter()
    method = pending[0].method
    prepared = inputs.prepared
    if method == "model_graph_k":  # the rule before Nov 2026, on the model's own graph
        found = _methods.model_graph_k(prepared, cfg.k)
    elif method == "leiden_k":
        est = estimate_n_clusters(expression_graph(prepared))
        found = {"estimated_k": est.k, "stability": est.stability,
                 "resolution": est.resolution,  # Leiden at resolution 1 as a clustering:
                 **scores_fields(inputs.truth, est.labels)}
    else:
        found = getattr(_methods, method)(expression_graph(prepared))
    store(ctx, unit, pending[0], {
        "epochs": None, "n_clusters": inputs.n_clusters, **found,
        "n_cells": inputs.prepared.n_cells,
        "n_features": inputs.prepared.n_genes, "wall_s": time.perf_counter() - start,
        "prep_s": inputs.prep_s, **_env.peak_memory(), "precision": None,
        "config": cfg.to_dict()})
