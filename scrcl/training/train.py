"""The training plan: tensors on a device, Adam, full-batch epochs, a progress bar.

The loop never sees labels. The published 'oracle' protocol is implemented by the caller
through ``on_epoch``, which receives the eval-mode outputs after chosen epochs. Optional:
checkpoints (``scrcl.checkpoint``) and data-parallel training (``scrcl.distributed``).
"""
from __future__ import annotations

import logging
import os
import random
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from . import checkpoint as ckpt
from .checkpoint import CheckpointPlan
from ..config import ScrclConfig
from .distributed import DistContext, shard_loss, wrap
from ..errors import ScrclInputError
from .chunked_loss import chunked_alignment_loss
from ..losses import cvc_loss, scrcl_loss
# re-exported: the names scrcl.train offered before the move
from .inputs import DENSE_INPUT_LIMIT, Inputs, _sparse_tensor, _to_tensor  # noqa: F401
from .minibatch import BatchPlan
from ..nn import ScrclModule
from .precision import autocast, resolve_compile, resolve_precision

log = logging.getLogger(__name__)

#: (epoch, eval-mode outputs) -> True to end training after this epoch (a label-free
#: stopping rule), else False or None
EpochCallback = Callable[[int, dict[str, Tensor]], Optional[bool]]


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' picks CUDA when available; 'cuda' without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        from ..errors import ScrclInputError

        raise ScrclInputError("--device cuda was asked for but no CUDA GPU is visible; "
                              "use --device cpu or auto")
    return torch.device(device)


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


#: from this many (N, H) activation entries on (N >= 11,185 at H = 1,500), training takes
#: L_EDA + L_NCA in row chunks (``scrcl.chunked_loss``): the same value to float rounding,
#: about 60 KB less memory per cell at H = 1,500. Every stored benchmark lies below it.
CHUNKED_LOSS_MIN = 1 << 24


def use_chunked_loss(n_cells: int, hid_dim: int, distributed: bool = False) -> bool:
    """Whether :func:`train` takes the chunked loss (env ``SCRCL_CHUNKED_LOSS=yes|no``
    overrides the size rule; data-parallel training keeps its per-cell loss)."""
    if distributed:
        return False
    env = os.environ.get("SCRCL_CHUNKED_LOSS", "auto").lower()
    if env in ("yes", "no"):
        return env == "yes"
    return n_cells * hid_dim >= CHUNKED_LOSS_MIN


def loss_kind(step_cells: int, hid_dim: int, epochs: int, distributed: bool = False) -> str:
    """How :func:`train` takes the losses for steps of ``step_cells`` cells: 'chunked'
    (``use_chunked_loss``), 'compiled' (``scrcl.precision.resolve_compile``; a compilation
    that fails falls back to eager, with a log line) or 'eager'. Rounding differs between
    them, not the method."""
    if use_chunked_loss(step_cells, hid_dim, distributed):
        return "chunked"
    return "compiled" if resolve_compile(step_cells, hid_dim, epochs) else "eager"


@dataclass
class TrainResult:
    model: ScrclModule
    losses: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    epoch_s: list[float] = field(default_factory=list)  # optimisation time of each epoch run
    start_epoch: int = 0  # epochs restored from a checkpoint (0: trained from scratch)
    stopped_at: Optional[int] = None  # the epoch a stopping rule ended training after


def embed(model: ScrclModule, inputs: Inputs, precision: str = "fp32",
          normalized: bool = True) -> dict[str, Tensor]:
    """Eval-mode forward pass (no dropout, no gradient) in a resolved ``precision``;
    ``normalized=False`` leaves out e1, e2 (two (N, H) float32 arrays)."""
    inputs.check_precision(precision)
    was_training = model.training
    model.eval()
    with torch.no_grad(), autocast(precision, inputs.device):
        out = inputs.forward(model, normalized)
    model.train(was_training)
    return out


def train(inputs: Inputs, cfg: ScrclConfig, out_dim: int, seed: int,
          on_epoch: Optional[EpochCallback] = None, eval_every: int = 1, eval_first: int = 0,
          progress: bool = True, desc: str = "", checkpoint: Optional[CheckpointPlan] = None,
          distributed: Optional[DistContext] = None,
          batches: Optional[BatchPlan] = None) -> TrainResult:
    """Train one model from ``seed`` for ``cfg.epochs`` epochs: full batches, or one step
    per mini-batch of ``batches`` (``scrcl.minibatch``; evaluation stays full-graph).

    The dense layers run in ``cfg.precision`` (``scrcl.precision``: 'auto' picks bf16
    where the device computes it natively); weights, Adam's state and the losses are
    float32.

    ``on_epoch(epoch, outputs)`` (1-based epoch) is called on epochs 1 to ``eval_first``,
    every ``eval_every`` epochs and
    after the last one with eval-mode outputs (h1, h2, z1, z2); the loop itself reads no
    labels. When ``on_epoch`` returns True, training ends after that epoch
    (``TrainResult.stopped_at``): ``cfg.epochs`` is then the most it trains.
    ``checkpoint``: save every ``checkpoint.every`` epochs to ``checkpoint.path(seed)``
    and/or resume from it (then ``on_epoch`` sees only the epochs after the saved one).
    ``distributed``: the process group this process belongs to (``scrcl.distributed``);
    every process must call ``train`` with the same arguments.
    """
    set_seed(seed)
    precision = resolve_precision(cfg.precision, inputs.device)
    inputs.check_precision(precision)
    model = ScrclModule(inputs.n_cells, inputs.n_genes, cfg.hid_dim, out_dim,
                        cfg.dropout).to(inputs.device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay,
                           fused=True)  # one kernel for all parameters: 5x faster on CPU
    result = TrainResult(model)
    ident = ckpt.identity(cfg.to_dict(), out_dim, inputs.n_cells, inputs.n_genes, seed)
    if checkpoint is not None and checkpoint.resume:
        _restore(checkpoint.path(seed), ident, model, opt, result, cfg.epochs, inputs.device)
    net = model if distributed is None else wrap(model, inputs.device)
    if batches is not None and distributed is not None:
        raise ValueError("mini-batches and data-parallel training do not combine; "
                         "use one of them")
    step_cells = inputs.n_cells if batches is None else max(
        idx.size for idx in batches.batches(1))
    kind = loss_kind(step_cells, cfg.hid_dim, cfg.epochs, distributed is not None)
    chunked = kind == "chunked"
    objective = (_chunked_objective if chunked
                 else _objective(kind == "compiled", dynamic=batches is not None))
    saves = checkpoint is not None and (distributed is None or distributed.is_main)
    start = time.perf_counter()
    bar = tqdm(range(result.start_epoch + 1, cfg.epochs + 1), desc=desc,
               disable=not progress, leave=False, dynamic_ncols=True)
    model.train()

    def step(part: Inputs, epoch: int) -> Tensor:
        """One optimisation step on ``part`` (all cells, or a batch); the loss value."""
        opt.zero_grad(set_to_none=True)
        with autocast(precision, part.device):
            out = part.forward(net, normalized=not chunked)
        first = (out["h1"], out["h2"]) if chunked else (out["e1"], out["e2"])
        if distributed is None:
            loss = objective(*first, out["z1"], out["z2"], part.loss_adj,
                             cfg.temperature, cfg.lambda1, cfg.lambda2)
            value = loss.detach()
        else:
            loss, value = shard_loss(out, part.loss_adj, cfg.temperature, cfg.lambda1,
                                     cfg.lambda2, distributed)
        del out, first  # what the backward pass needs, it has saved; the rest goes now
        if not torch.isfinite(value):
            raise FloatingPointError(f"loss became {float(value)} at epoch {epoch}; "
                                     f"lower --lr or --temperature")
        loss.backward()
        opt.step()
        return value

    for epoch in bar:
        tick = time.perf_counter()
        if batches is None:
            value = step(inputs, epoch)
        else:  # the epoch's loss: the batches' losses weighted by their cells
            value = sum(step(batches.inputs(inputs, idx), epoch) * (idx.size / inputs.n_cells)
                        for idx in batches.batches(epoch))
        result.losses.append(value.item())
        result.epoch_s.append(time.perf_counter() - tick)
        if progress and epoch % 10 == 0:
            bar.set_postfix(loss=f"{result.losses[-1]:.4g}")
        if on_epoch is not None and (epoch <= eval_first or epoch % eval_every == 0
                                     or epoch == cfg.epochs):
            out = embed(model, inputs, precision, normalized=False)
            if not all(bool(torch.isfinite(v).all()) for v in out.values()):
                raise FloatingPointError(f"the model's output became non-finite after epoch "
                                         f"{epoch}; lower --lr or --temperature")
            stop = on_epoch(epoch, out)
            del out
        else:
            stop = False
        if saves and checkpoint.due(epoch, cfg.epochs):
            ckpt.save(checkpoint.path(seed), model=model, optimizer=opt, epoch=epoch,
                      losses=result.losses, ident=ident)
        if stop:
            result.stopped_at = epoch
            break
    bar.close()
    result.wall_s = time.perf_counter() - start
    return result


def _objective(compiled: bool, dynamic: bool = False) -> Callable[..., Tensor]:
    """The loss function, compiled when ``compiled`` (:func:`loss_kind`, decided on the
    cells of one step); a compilation that fails falls back to the plain function, with a
    log line. ``dynamic``: one compilation for every number of cells (mini-batches differ
    in size from step to step; compiled for fixed sizes, torch would compile once per
    size, up to its limit of 8, and then run uncompiled)."""
    if not compiled:
        return scrcl_loss
    compiled = torch.compile(scrcl_loss, dynamic=dynamic)
    state = {"fn": compiled}

    def objective(*args) -> Tensor:
        try:
            return state["fn"](*args)
        except Exception as exc:  # no compiler, unsupported platform...: run uncompiled
            if state["fn"] is scrcl_loss:
                raise
            log.warning("torch.compile of the losses failed (%s: %s); running them "
                        "uncompiled", type(exc).__name__, str(exc).splitlines()[0][:200])
            state["fn"] = scrcl_loss
            return scrcl_loss(*args)

    return objective


def _chunked_objective(h1: Tensor, h2: Tensor, z1: Tensor, z2: Tensor, adj: Tensor,
                       temperature: float, lambda1: float, lambda2: float) -> Tensor:
    """The training loss from the unnormalised h1, h2 (N, H): L_EDA + lambda1 L_NCA in row
    chunks (``scrcl.chunked_loss``), lambda2 L_CVC as usual (it is (N, C), small)."""
    return (chunked_alignment_loss(h1, h2, adj, temperature, lambda1)
            + lambda2 * cvc_loss(z1, z2, adj))


def _restore(path, ident: dict, model: ScrclModule, opt: torch.optim.Optimizer,
             result: TrainResult, epochs: int, device: torch.device) -> None:
    """Load a checkpoint (if there is one) into the model, optimiser, history and RNGs."""
    payload = ckpt.load(path, ident, device)
    if payload is None:
        log.info("no checkpoint at %s: training from epoch 0", path)
        return
    if payload["epoch"] > epochs:
        raise ScrclInputError(f"the checkpoint {path} is at epoch {payload['epoch']}, beyond "
                              f"--epochs {epochs}; raise --epochs or delete it")
    model.load_state_dict(payload["model"])
    opt.load_state_dict(payload["optimizer"])
    result.losses = list(payload["losses"])
    result.start_epoch = payload["epoch"]
    ckpt.set_rng_state(payload["rng"])
    log.info("resumed from %s at epoch %d", path, result.start_epoch)

