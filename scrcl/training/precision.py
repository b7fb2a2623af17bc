"""How the arithmetic runs: precision of the dense layers, compiled losses, CPU threads.

``bf16``: the wide dense layers of both views run forward and backward in bfloat16 under
``torch.autocast``; the weights and Adam's state stay float32 (autocast casts a float32
weight to bfloat16 for each product), and the refinement module, the normalisations and
the three losses run in float32. Sparse products are done in float32 (MKL has no
bfloat16 CSR kernel), their inputs cast up and their outputs cast back by autocast at the
next dense layer. ``auto``: bf16 where the device computes it natively (a CUDA GPU with
bf16 support; a CPU with AVX512-BF16 or AMX), else fp32. ``tf32``: float32 everywhere, with
the matrix products of a CUDA GPU in TensorFloat-32 (Ampere and newer); fp32 on a CPU.
"""
from __future__ import annotations

import contextlib
import functools
import os
from typing import Iterator

import torch

PRECISIONS = ("auto", "fp32", "bf16", "tf32")


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
    """'fp32', 'bf16' or 'tf32' (CUDA only) for ``precision`` in PRECISIONS on ``device``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    if precision == "tf32" and device.type != "cuda":
        return "fp32"
    return precision


@contextlib.contextmanager
def autocast(precision: str, device: torch.device) -> Iterator[None]:
    """The arithmetic of a resolved precision inside the block: bf16 autocast, TF32
    products on CUDA, or plain float32."""
    if precision == "tf32":
        before = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = True
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32 = before
        return
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        yield


#: 'auto' compiles the losses from this many (N x H) activation entries and 100 epochs on.
#: Measured (session 7, one thread, N = 2,100, H = 1,500): the losses' forward and backward
#: took 0.35-0.41 s eager, 0.20-0.26 s compiled, and a cold compilation (empty inductor
#: cache) about 40 s, 3-5 s with the cache: from about 2.5 M entries, 500 epochs save more
#: than even a cold compilation costs (it was 4 M before).
COMPILE_MIN_ENTRIES = 2_500_000


#: environment variable that sets the compilation of the losses: 'auto' (default), 'yes', 'no'
COMPILE_ENV = "SCRCL_COMPILE"


def resolve_compile(n_cells: int, hid_dim: int, epochs: int,
                    setting: str | None = None) -> bool:
    """Whether to fuse the losses with ``torch.compile``: ``setting`` 'yes', 'no' or 'auto'
    (default: $SCRCL_COMPILE, else 'auto'). An execution setting, like the threads: it
    changes rounding, not the method, so it is not part of ``ScrclConfig``.

    The losses are some forty element-wise passes over (N, H) arrays, memory-bound on a
    CPU; compiled, they fuse into a few loops. Compiling costs about a minute once per
    process (less with inductor's on-disk cache) and needs a C++ compiler, so 'auto'
    compiles only long runs on large data, where a compiler is found.
    """
    setting = setting or os.environ.get(COMPILE_ENV, "auto")
    if setting not in ("auto", "yes", "no"):
        raise ValueError(f"{COMPILE_ENV} must be 'auto', 'yes' or 'no', got {setting!r}")
    if setting != "auto":
        return setting == "yes"
    import shutil

    has_compiler = any(shutil.which(c) for c in ("g++", "c++", "clang++"))
    return has_compiler and n_cells * hid_dim >= COMPILE_MIN_ENTRIES and epochs >= 100


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
