"""Data-parallel training over several processes with ``torch.distributed``.

Launch: ``torchrun --nproc-per-node P runSC.py --dataset ... --ddp`` (``--ddp`` is implied
when torchrun's environment variables are present). The same code runs on CPU (gloo
backend, one process per core group) and on GPUs (nccl backend, one GPU per process,
``cuda:LOCAL_RANK``).

What is split, and what this buys (honestly)
--------------------------------------------
scRCL is transductive and full-batch: the gene encoder's input width is the number of cells
N, every cell's representation is smoothed over up to ``t1 + 2`` hops of the cell graph,
and the losses contain sums over all cells (the global softmax of L_EDA, the column sums of
L_NCA, the Gram matrix of L_CVC). A cell's loss term therefore depends on every cell. The
design here keeps the training *exact*:

* every process holds the whole data set and graphs and runs the whole forward pass
  (replicated; same seed, so the same dropout masks);
* each process sums the loss terms of its own contiguous shard of cells only
  (``scrcl.losses.per_cell_loss``), with the global quantities computed over all cells,
  so the shards' losses add up to the full loss and their gradients to the full gradient;
* ``DistributedDataParallel`` all-reduces (averages) the gradients; the shard loss is
  scaled by the number of processes P so that the average is the full-batch gradient.

The result equals single-process training up to floating-point summation order
(``tests/test_distributed.py``: loss and weights within 1e-5 after several Adam steps).
It is **not faster**: the forward and backward passes through the encoders dominate the
cost and are replicated; only the loss terms (O(N H)) are divided, and each process needs
the memory of a single-process run. What it buys is the plumbing: the same training code
under torchrun on gloo and nccl, process groups, sharded loss and gradient all-reduce,
rank-0 checkpoints and outputs. Making it faster needs the forward pass itself partitioned
by cells (each process computing its rows of X W and gathering neighbour rows before each
graph hop, with dropout masks drawn for all N cells), which this module does not do.
"""
from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass
from typing import Optional

import torch
import torch.distributed as dist
from torch import Tensor

from ..errors import ScrclInputError
from ..losses import per_cell_loss

log = logging.getLogger(__name__)

TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class DistContext:
    """This process's place in the process group."""

    rank: int
    world_size: int
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, n: int) -> slice:
        """This process's contiguous block of ``n`` cells (sizes differ by at most one)."""
        base, extra = divmod(n, self.world_size)
        start = self.rank * base + min(self.rank, extra)
        return slice(start, start + base + (self.rank < extra))


def launched_by_torchrun() -> bool:
    return all(v in os.environ for v in TORCHRUN_VARS)


def current() -> Optional[DistContext]:
    """The context of an initialised process group, else None."""
    if not (dist.is_available() and dist.is_initialized()):
        return None
    local = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
    return DistContext(dist.get_rank(), dist.get_world_size(), local)


def setup(device: str = "auto", timeout_s: float = 1800.0) -> tuple[DistContext, str]:
    """Join the process group described by torchrun's environment.

    Returns the context and the device this process trains on: ``cuda:LOCAL_RANK`` with
    the nccl backend when CUDA is wanted ('auto' with a GPU, or 'cuda'), else 'cpu' with gloo.
    """
    if not dist.is_available():
        raise ScrclInputError("this torch build has no torch.distributed; run without --ddp")
    if not launched_by_torchrun():
        raise ScrclInputError("--ddp needs the environment of torchrun (RANK, WORLD_SIZE, ...): "
                              "launch with 'torchrun --nproc-per-node P runSC.py ... --ddp'")
    local = int(os.environ["LOCAL_RANK"])
    use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        if not torch.cuda.is_available() or local >= torch.cuda.device_count():
            raise ScrclInputError(f"process {local} needs GPU {local} but "
                                  f"{torch.cuda.device_count()} are visible; use fewer "
                                  f"processes or --device cpu")
        torch.cuda.set_device(local)
        backend, where = "nccl", f"cuda:{local}"
    else:
        backend, where = "gloo", "cpu"
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    ctx = current()
    assert ctx is not None
    log.info("process %d of %d (%s, %s)", ctx.rank, ctx.world_size, backend, where)
    return ctx, where


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """The model in DistributedDataParallel (parameters broadcast from rank 0)."""
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, output_device=None if ids is None
                                   else device.index)


def shard_loss(out: dict[str, Tensor], adj: Tensor, temperature: float, lambda1: float,
               lambda2: float, ctx: DistContext) -> tuple[Tensor, Tensor]:
    """(P x this shard's loss, for backward; the full loss, detached, same on every rank).

    DDP averages gradients over the P processes, so each backpropagates P times its share.
    """
    terms = per_cell_loss(out, adj, temperature, lambda1, lambda2)
    mine = terms[ctx.shard(terms.shape[0])].sum()
    total = mine.detach().clone()
    dist.all_reduce(total)
    return mine * ctx.world_size, total
