"""Arithmetic precision of the dense layers, and CPU threads.

``bf16``: the wide dense layers of both views run forward and backward in bfloat16 under
``torch.autocast``; the weights and Adam's state stay float32 (autocast casts a float32
weight to bfloat16 for each product), and the refinement module, the normalisations and
the three losses run in float32. Sparse products are done in float32 (MKL has no
bfloat16 CSR kernel), their inputs cast up and their outputs cast back by autocast at the
next dense layer. ``auto``: bf16 where the device computes it natively (a CUDA GPU with
bf16 support; a CPU with AVX512-BF16 or AMX), else fp32.
"""
from __future__ import annotations

import contextlib
import functools
import os
from typing import Iterator

import torch

PRECISIONS = ("auto", "fp32", "bf16")


@functools.lru_cache(maxsize=None)
def _cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` multiplies bfloat16 matrices natively (not by emulation)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    return bool({"avx512_bf16", "amx_bf16"} & _cpu_flags())


def resolve_precision(precision: str, device: torch.device) -> str:
    """'fp32' or 'bf16' for ``precision`` in PRECISIONS on ``device``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The autocast context of a resolved precision ('fp32': autocast off)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


@contextlib.contextmanager
def full_precision(x_device: torch.device) -> Iterator[None]:
    """Autocast off (float32 arithmetic) inside the block."""
    with torch.autocast(x_device.type, enabled=False):
        yield


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask, else all)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def set_threads(n: int | None = None) -> int:
    """Use ``n`` torch threads (default: the cores this process may use); returns n.

    Several runs side by side should each be given their share (``--threads``): two
    processes that each spin two OpenMP threads on two cores run slower than one each.
    """
    n = available_cores() if n is None else int(n)
    if n < 1:
        raise ValueError(f"threads must be at least 1, got {n}")
    torch.set_num_threads(n)
    return n
