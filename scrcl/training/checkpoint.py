"""Training checkpoints: one file per seed, written atomically, read back on ``--resume``.

A checkpoint holds everything the next epoch depends on: the model and Adam state, the
epoch reached, the loss history, and the random state of torch (CPU and CUDA), numpy and
Python (dropout draws from torch's global generator). Resuming from it therefore continues
the very same trajectory: a run interrupted after epoch k and resumed gives the weights of
the uninterrupted run, and its labels with ``--select last`` (the other label-free rules
choose among the epochs clustered after the resume; ``tests/test_checkpoint.py``).

It also records what it was trained on (configuration, output width, data shape), and a
checkpoint that does not match the run is refused rather than silently continued.
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ..errors import ScrclInputError
from ..io import atomic_path

log = logging.getLogger(__name__)

CHECKPOINT_DIRNAME = ".checkpoints"  # beside the results folders: <out>/../.checkpoints/<dataset>/
FORMAT_VERSION = 1
#: configuration fields that may change between the interrupted run and its resumption
#: (none of them changes training; the label-free choice's settings since Nov 2026;
#: 'schedule' names where epochs and lr came from, which are compared themselves)
_MAY_DIFFER = ("epochs", "kmeans_n_init", "preset", "radius", "pca_threshold", "select",
               "select_stride", "select_first", "embedding", "schedule")


@dataclass(frozen=True)
class CheckpointPlan:
    """Where and how often to checkpoint, and whether to resume.

    folder: the per-dataset checkpoint folder (files ``seed<S>.pt``); every: save after
    every ``every`` epochs and after the last one (0: never save); resume: continue from an
    existing checkpoint of the seed (a seed without one starts from epoch 0).
    """

    folder: Path
    every: int = 0
    resume: bool = False

    def __post_init__(self) -> None:
        if self.every < 0:
            raise ScrclInputError(f"--checkpoint-every must be 0 (off) or a positive number of "
                                  f"epochs, got {self.every}")

    @classmethod
    def for_run(cls, out_dir: Path, dataset: str, every: Optional[int], resume: bool,
                folder: Optional[str] = None) -> Optional["CheckpointPlan"]:
        """The plan of a command-line run, or None when neither saving nor resuming.

        Default folder: ``<out_dir>/../.checkpoints/<dataset>/``, beside the results.
        """
        every = every or 0
        if every == 0 and not resume:
            return None
        name = Path(dataset).name.removesuffix(".h5ad") or "data"
        where = Path(folder) if folder else Path(out_dir).parent / CHECKPOINT_DIRNAME / name
        return cls(where, every, resume)

    def path(self, seed: int) -> Path:
        return self.folder / f"seed{seed}.pt"

    def due(self, epoch: int, last: int) -> bool:
        return self.every > 0 and (epoch % self.every == 0 or epoch == last)


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
             "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def identity(config: dict, out_dim: int, n_cells: int, n_genes: int, seed: int) -> dict:
    """What a checkpoint must agree with to be resumed."""
    kept = {k: v for k, v in config.items() if k not in _MAY_DIFFER}
    return {"config": kept, "out_dim": out_dim, "n_cells": n_cells, "n_genes": n_genes,
            "seed": seed}


def save(path: Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer, epoch: int,
         losses: list[float], ident: dict) -> None:
    """Write the checkpoint to a temporary file beside ``path`` and rename it into place."""
    payload = {"version": FORMAT_VERSION, "identity": ident, "epoch": epoch,
               "losses": list(losses), "model": model.state_dict(),
               "optimizer": optimizer.state_dict(), "rng": rng_state()}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    log.debug("checkpoint written: %s (epoch %d)", path, epoch)


def load(path: Path, ident: dict, map_location: torch.device) -> Optional[dict]:
    """The checkpoint at ``path`` checked against ``ident``, or None when there is none."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        payload = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user problem
        raise ScrclInputError(f"cannot read the checkpoint {path} ({type(exc).__name__}); "
                              f"delete it or run without --resume") from None
    if not isinstance(payload, dict) or payload.get("version") != FORMAT_VERSION:
        raise ScrclInputError(f"{path} is not a scrcl checkpoint of this version; delete it or "
                              f"run without --resume")
    if _training_part(payload["identity"]) != _training_part(ident):
        diff = sorted(_differences(_training_part(payload["identity"]), _training_part(ident)))
        raise ScrclInputError(f"the checkpoint {path} was written by a different run "
                              f"({', '.join(diff)} differ); delete it, point --checkpoint-dir "
                              f"elsewhere, or run without --resume")
    return payload


def _training_part(ident: dict) -> dict:
    """The identity without the fields that may differ (a checkpoint written before a field
    joined ``_MAY_DIFFER`` still stored it)."""
    config = {k: v for k, v in ident.get("config", {}).items() if k not in _MAY_DIFFER}
    return {**ident, "config": config}


def _differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _differences(va, vb, f"{prefix}{key}.")
        elif va != vb:
            out.append(f"{prefix}{key}")
    return out


def remove(plan: Optional[CheckpointPlan], seeds) -> None:
    """Delete the seeds' checkpoint files (once the results they led to are written)."""
    if plan is None:
        return
    for seed in seeds:
        plan.path(seed).unlink(missing_ok=True)
    try:
        plan.folder.rmdir()  # only when empty
    except OSError:
        pass
