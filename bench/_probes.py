"""What the probe scripts (``bench/*_probe.py``) share: a slice prepared as the pipeline
prepares it, the stored candidates of a label-free entry, the pick rule and the atomic
write of a probe's JSON."""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from _data import dataset_spec, read
from _results import unpack_labels

#: where the probes write their JSON
PROBES_DIR = Path(__file__).resolve().parent / "results" / "probes"


@lru_cache(maxsize=None)
def stand_in(name: str) -> tuple[Any, str]:
    """A shared stand-in as read from ``../shared/data`` (AnnData, label column), read once
    per process; callers must not modify it."""
    return read(dataset_spec(name))


def true_labels(name: str) -> np.ndarray:
    """(N,) the stand-in's true labels as text, every cell or spot of its file."""
    adata, key = stand_in(name)
    return np.asarray(adata.obs[key].astype(str))


@dataclass
class Slice:
    """A spatial stand-in as ``runST.py`` trains on it (its preset, CPU)."""

    cfg: Any  # ScrclConfig, the slice's preset
    prepared: Any  # PreparedData
    truth: np.ndarray  # (N,) str labels of the prepared spots
    k: int  # true classes
    coords: np.ndarray  # (N, 2+) coordinates of the prepared spots
    refine: Callable[[np.ndarray], np.ndarray]  # the preset's spatial refinement
    wanted: set  # the candidate epochs (every select_stride-th and the last)
    precision: str  # resolved on the CPU
    inputs: Any  # training Inputs on the CPU


def prepare_slice(name: str) -> Slice:
    import torch

    from scrcl.clustering.selection import candidate_epochs
    from scrcl.clustering.spatial_smoothing import refiner
    from scrcl.config import get_preset
    from scrcl.data.spatial import prepare_st
    from scrcl.training.precision import resolve_precision
    from scrcl.training.train import Inputs

    adata, key = stand_in(name)
    cfg = get_preset(name)
    prepared = prepare_st(adata, cfg.hvg, cfg.k, cfg.tms, cfg.gene_k, "auto")
    truth = np.asarray(adata.obs[key].astype(str))[prepared.cells]
    coords = np.asarray(adata.obsm["spatial"])[prepared.cells]
    precision = resolve_precision(cfg.precision, torch.device("cpu"))
    return Slice(cfg, prepared, truth, len(set(truth)), coords, refiner(coords, cfg.radius or 0),
                 set(candidate_epochs(cfg.epochs, cfg.select_stride, first=0)), precision,
                 Inputs.from_prepared(prepared, torch.device("cpu"), precision=precision))


def pick_later(score: np.ndarray) -> int:
    """Index of the largest value, ties to the later one."""
    return int(np.flatnonzero(score == score.max())[-1])


def stored_pick(entry: dict, epochs: list[int], silhouette: np.ndarray) -> Optional[int]:
    """Index of the package's own pick (the stored ``epoch_used``) among ``epochs``, or None
    when it is not among them or not the best by the trace's silhouettes. The trace rounds
    them to 4 decimals, so a tie there need not be one in the run: the stored pick, made on
    the unrounded values, decides it."""
    if entry["epoch_used"] not in epochs:
        return None
    i = epochs.index(entry["epoch_used"])
    return i if silhouette[i] == silhouette.max() else None


@dataclass
class StoredCandidates:
    entry: dict  # the stored entry
    epochs: list[int]  # candidate epochs that have a silhouette in the trace
    partitions: list[np.ndarray]  # (N,) labels each
    silhouette: np.ndarray  # (C,) the trace's (rounded) silhouettes


def stored_candidates(path: str) -> Optional[StoredCandidates]:
    """The candidates of a stored label-free scrcl entry; None for another method or an
    entry stored without candidates (or without the trace of their silhouettes)."""
    entry = json.loads(Path(path).read_text())
    rows = entry.get("candidates") or []
    if entry["method"] != "scrcl" or len(rows) < 2 or not entry.get("trace"):
        return None
    sil = {t[0]: t[3] for t in entry["trace"]}
    rows = [r for r in rows if sil.get(r[0]) is not None]
    return StoredCandidates(entry, [r[0] for r in rows], [unpack_labels(r[3]) for r in rows],
                            np.array([sil[r[0]] for r in rows]))


def write_json(path: Path, obj: Any, indent: Optional[int] = None) -> None:
    """Write ``obj`` to ``path`` atomically (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=indent) + ("\n" if indent else ""))
    tmp.replace(path)


def probe_slices(probe: Callable[[str], dict], slices: list[str], out: Path,
                 keep: bool = False) -> None:
    """Run ``probe`` on each slice, print its summary and rewrite ``out`` after each;
    ``keep``: start from the slices already in ``out``."""
    found: dict = json.loads(out.read_text()) if keep and out.exists() else {}
    for name in slices:
        found[name] = probe(name)
        print(name, json.dumps(found[name]["summary"]), flush=True)
        write_json(out, found)
