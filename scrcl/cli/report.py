"""What runSC.py and runST.py do once the data is read: the effective configuration, then
train, record, write and print (:func:`fit_and_report`), and the content of metrics.json."""
from __future__ import annotations

import argparse
import logging
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import anndata as ad
import numpy as np
import pandas as pd
import torch

from ..training import checkpoint
from ..training.checkpoint import CheckpointPlan
from .._constants import DEFAULT_SEEDS, DEFAULT_SEEDS_WHY
from ..config import ScrclConfig
from ..data.adapt import DataSize, adapt_config, given_fields, size_record
from ..data.preprocess import PreparedData
from ..training.distributed import DistContext
from ..errors import ScrclInputError
from ..io import atomic_dir, write_json
from ..pipeline import CONSENSUS_NOTES, METRICS, ClusterFn, PostprocessFn, RunResult
from ..tl import fit
from . import training
from .common import MODEL_OPTIONS, check_writable, config_from_args, peak_memory_mb, versions

log = logging.getLogger("scrcl")

OUTPUT_FILES = ("metrics.json", "labels.csv", "scrcl.h5ad")

PROTOCOL_NOTES = {
    "final": "label-free: training ends at --epochs or when the selection score stops "
             "improving (config 'stop'), and the clustering is chosen without labels "
             "(config 'select'); labels used only for the final scores and, "
             "when K was not given, for K (n_clusters_source)",
    "oracle": "published protocol: best epoch chosen by the true labels (answer key); for "
              "comparison with the paper only",
}


@dataclass(frozen=True)
class Target:
    """Where a run goes: its name, results folder, checkpoints, process group and device."""

    name: str  # the data set's name; results are filed under it
    out: Path
    plan: Optional[CheckpointPlan]
    group: Optional[DistContext]
    device: str


def target(args: argparse.Namespace, task: str, name: str) -> Target:
    """The run's results folder (checked writable now, before any work), checkpoint plan,
    process group and device."""
    out = Path(args.out) if args.out else Path("results") / task / name
    check_writable(out)
    plan = training.checkpoint_plan(args, out, name)
    group, device = training.process_group(args)
    return Target(name, out, plan, group, device)


def effective_config(args: argparse.Namespace, base: ScrclConfig, size: DataSize,
                     device: str) -> ScrclConfig:
    """``base`` with the command-line values, its size-dependent defaults fitted to the data
    (one printed line for each default lowered); prints the configuration line."""
    from ..training.precision import resolve_precision
    from ..training.train import resolve_device

    given = given_fields(args, MODEL_OPTIONS + ("radius",))
    cfg, notes = adapt_config(config_from_args(base, args), given, size)
    for note in notes:
        print(f"adapted to the data: {note}")
    precision = resolve_precision(cfg.precision, resolve_device(device))
    origin = f"{cfg.preset} preset" if cfg.preset else "defaults"
    if cfg.schedule:
        origin += f", {cfg.schedule} schedule"
    changed = ", with command-line changes" if given else ""
    print(f"config ({origin}{changed}; precision {precision}): {cfg.to_dict()}")
    return cfg


def fit_and_report(args: argparse.Namespace, where: Target, adata: ad.AnnData,
                   prepared: PreparedData, cfg: ScrclConfig, label_key: Optional[str],
                   size: DataSize, *, oracle_metric: str, extra: dict,
                   cluster_fn: Optional[ClusterFn] = None,
                   postprocess: Optional[PostprocessFn] = None) -> Optional[dict]:
    """Train and cluster, then write metrics.json, labels.csv and scrcl.h5ad atomically and
    print the summary: the sequence runSC.py and runST.py share.

    K: ``--n-clusters``, else the number of true classes when labelled, else estimated.
    Returns the metrics.json record (None on a DDP process other than rank 0, which
    writes nothing).
    """
    n_clusters = args.n_clusters or (None if label_key else "auto")
    result = fit(adata, prepared, n_clusters=n_clusters, label_key=label_key, config=cfg,
                 seeds=args.seeds, protocol=args.protocol, device=where.device,
                 progress=not args.quiet, cluster_fn=cluster_fn, postprocess=postprocess,
                 oracle_metric=oracle_metric, checkpoint=where.plan, distributed=where.group)
    record = run_record(where.name, result, prepared.n_cells, prepared.n_genes, label_key,
                        extra={**extra, "features": prepared.input_kind,
                               "data_size": size_record(size, result.config)})
    if where.group is not None and not where.group.is_main:
        return None
    write_outputs(where.out, adata, record, result, prepared.cells)
    checkpoint.remove(where.plan, args.seeds)
    print_summary(record)
    print(f"results written to {where.out}/ ({', '.join(OUTPUT_FILES)})")
    return record


def run_record(dataset: str, result: RunResult, n_cells: int, n_genes: int,
               label_key: Optional[str], extra: Optional[dict] = None) -> dict:
    """The content of metrics.json."""
    per_seed = [{"seed": r.seed, **(r.scores or {}), "epoch_used": r.epoch_used,
                 "epochs_trained": r.epochs_run, "wall_s": round(r.wall_s, 3)}
                for r in result.runs]
    summary = result.summary()
    return {
        "dataset": dataset,
        "protocol": result.protocol,
        "protocol_note": PROTOCOL_NOTES[result.protocol],
        "seeds": result.seeds,
        "config": result.config.to_dict(),
        "n_cells": n_cells,
        "n_genes": n_genes,
        "n_clusters": result.n_clusters,
        "n_clusters_source": getattr(result, "k_source", "given"),
        "stop": stop_record(result),
        "label_key": label_key,
        "per_seed": per_seed,
        "mean": summary.get("mean"),
        "std": summary.get("std"),
        "consensus": None if result.consensus is None else {
            "method": result.consensus_method,
            "how": CONSENSUS_NOTES[result.consensus_method], "seeds": result.seeds,
            "n_clusters_found": int(np.unique(result.consensus).size),
            "scores": result.consensus_scores},
        "device": result.device,
        "precision": result.precision,
        "threads": torch.get_num_threads(),
        "memory": peak_memory_mb(),
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "torch_threads": torch.get_num_threads()},
        "versions": versions(),
        **(extra or {}),
    }


def stop_record(result: RunResult) -> dict:
    """metrics.json's ``stop`` block: the setting, and per seed the epoch training ended
    after and the signal that ended it ('plateau': the label-free stopping rule,
    'max_epochs': --epochs reached; scrcl.clustering.stopping)."""
    if all(r.stop is None for r in result.runs):
        why = ("the oracle protocol trains every epoch" if result.protocol == "oracle"
               else f"stop={result.config.stop}, select={result.config.select}: "
                    f"every epoch trained")
        return {"setting": result.config.stop, "active": False, "why": why,
                "max_epochs": result.config.epochs,
                "per_seed": [{"seed": r.seed, "epoch": r.epochs_run, "signal": "max_epochs"}
                             for r in result.runs]}
    return {"setting": result.config.stop, "active": True,
            "max_epochs": result.config.epochs,
            "per_seed": [{"seed": r.seed, **(r.stop or {})} for r in result.runs]}


def _plain_frame(frame: pd.DataFrame) -> None:
    """The frame's string-array index and columns as object columns, in place."""
    if isinstance(frame.index.dtype, pd.StringDtype):
        frame.index = frame.index.astype(object)
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.StringDtype):
            frame[col] = frame[col].astype(object)


def _plain_in(mapping) -> None:
    """_plain_frame on every data frame held in ``mapping`` (obsm, varm, uns), nested."""
    for value in mapping.values():
        if isinstance(value, pd.DataFrame):
            _plain_frame(value)
        elif isinstance(value, dict):
            _plain_in(value)


def _plain_strings(adata: ad.AnnData) -> ad.AnnData:
    """``adata`` with pandas string arrays (the default string dtype of pandas 3) as
    object columns, in place (obs, var, raw.var and the data frames in obsm, varm, uns):
    every anndata writes those, while nullable strings need an opt-in setting of anndata
    >= 0.11 and give files that older versions cannot read. ``adata`` is the one the
    script read, never a user's object."""
    for mapping in (adata.obsm, adata.varm, adata.uns):  # first: anndata checks their
        _plain_in(mapping)  # frames' index against obs/var names when they are read
    for frame in (adata.obs, adata.var, *((adata.raw.var,) if adata.raw is not None else ())):
        _plain_frame(frame)
    return adata


def write_outputs(out_dir: Path, adata: ad.AnnData, record: dict, result: RunResult,
                  cells: np.ndarray) -> None:
    """metrics.json, labels.csv and scrcl.h5ad, all or nothing."""
    labels = pd.DataFrame(index=pd.Index(adata.obs_names, name="cell"))
    for run in result.runs:
        col = np.full(adata.n_obs, -1, dtype=np.int64)
        col[cells] = run.labels
        labels[f"seed{run.seed}"] = pd.array(np.where(col >= 0, col, None), dtype="Int64")
    if result.consensus is not None:
        col = np.full(adata.n_obs, -1, dtype=np.int64)
        col[cells] = result.consensus
        labels["consensus"] = pd.array(np.where(col >= 0, col, None), dtype="Int64")
    try:
        with atomic_dir(out_dir) as tmp:
            write_json(tmp / "metrics.json", record)
            labels.to_csv(tmp / "labels.csv")
            _plain_strings(adata).write_h5ad(tmp / "scrcl.h5ad")
    except OSError as exc:
        raise ScrclInputError(f"cannot write the results folder {out_dir} "
                              f"({exc.strerror or exc}); nothing was written, choose another "
                              f"--out") from None


def print_summary(record: dict, stream=sys.stdout) -> None:
    """The human-readable result, always naming the protocol."""
    head = (f"{record['dataset']}: {record['n_cells']} cells, {record['n_genes']} genes, "
            f"K={record['n_clusters']} ({record['n_clusters_source']}); "
            f"{record['device']}, {record['precision']}, {record['threads']} "
            f"thread{'s' if record['threads'] != 1 else ''}")
    print(head, file=stream)
    print(f"protocol: {record['protocol']} ({record['protocol_note']})", file=stream)
    seeds = list(record["seeds"])
    why = DEFAULT_SEEDS_WHY if tuple(seeds) == DEFAULT_SEEDS else "as given (--seeds)"
    print(f"seeds: {len(seeds)} trained ({' '.join(map(str, seeds))}; {why})", file=stream)
    if record["mean"] is None:
        print("no true labels: not scored", file=stream)
    else:
        for r in record["per_seed"]:
            print(f"  seed {r['seed']:>4}: " + "  ".join(f"{m.upper()} {r[m]:.4f}" for m in METRICS)
                  + f"  epoch {r['epoch_used']}"
                  + (f" of {r['epochs_trained']}" if r.get("epochs_trained") else "")
                  + f"  {r['wall_s']:.1f}s", file=stream)
        print(f"[{record['protocol']}] mean +- std over {len(record['seeds'])} seeds: "
              + "  ".join(f"{m.upper()} {record['mean'][m]:.4f} +- {record['std'][m]:.4f}"
                          for m in METRICS), file=stream)
    cons = record.get("consensus")
    if cons is not None and cons["scores"] is not None:
        print(f"[{record['protocol']}] consensus of the {len(cons['seeds'])} seeds' partitions "
              f"(obs['scrcl'], labels.csv 'consensus'): "
              + "  ".join(f"{m.upper()} {cons['scores'][m]:.4f}" for m in METRICS), file=stream)
