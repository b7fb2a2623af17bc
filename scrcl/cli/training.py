"""The command-line side of long runs: checkpoint options and torchrun processes."""
from __future__ import annotations

import argparse
import atexit
import os
from pathlib import Path
from typing import Optional

from ..training.checkpoint import CheckpointPlan
from ..training.distributed import DistContext, launched_by_torchrun, setup, teardown
from ..errors import ScrclInputError


def checkpoint_plan(args: argparse.Namespace, out: Path, dataset: str) -> Optional[CheckpointPlan]:
    """The checkpoint plan of ``--checkpoint-every/--resume/--checkpoint-dir``, checked."""
    if args.resume and args.protocol == "oracle":
        raise ScrclInputError("--resume works with --protocol final only: the oracle protocol's "
                              "best epoch so far is not part of a checkpoint")
    if args.checkpoint_dir and not (args.checkpoint_every or args.resume):
        raise ScrclInputError("--checkpoint-dir needs --checkpoint-every N or --resume")
    return CheckpointPlan.for_run(out, dataset, args.checkpoint_every, args.resume,
                                  args.checkpoint_dir)


def wants_ddp(args: argparse.Namespace) -> bool:
    return args.ddp or (launched_by_torchrun() and int(os.environ["WORLD_SIZE"]) > 1)


def process_group(args: argparse.Namespace) -> tuple[Optional[DistContext], str]:
    """(this process's context, its device) under --ddp/torchrun, else (None, --device)."""
    if not wants_ddp(args):
        return None, args.device
    atexit.register(teardown)
    return setup(args.device)
