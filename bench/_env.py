"""Where and with what a result was computed: machine, libraries, git commit, threads and
peak memory. Nothing here changes a result."""
from __future__ import annotations

import functools
import os
import platform
import resource
import subprocess
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[1]
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMBA_NUM_THREADS")


def limit_threads_env(threads: int) -> None:
    """Set the thread variables of the numeric libraries (effective before they load)."""
    for var in THREAD_VARS:
        os.environ[var] = str(threads)


def limit_threads(threads: int) -> int:
    """torch threads (scrcl.training.precision.set_threads) and the BLAS/OpenMP pools
    already loaded."""
    from threadpoolctl import threadpool_limits

    from scrcl.training.precision import set_threads

    threadpool_limits(threads)
    return set_threads(threads)


def _cpuinfo_model() -> Optional[str]:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _mem_total_gb() -> Optional[float]:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


@functools.lru_cache(maxsize=None)
def machine(device: str) -> dict:
    """CPU model, cores, memory, platform, and the GPU's name when ``device`` is cuda."""
    from scrcl.training.precision import available_cores

    info = {"cpu_model": _cpuinfo_model(), "cores": os.cpu_count(),
            "cores_available": available_cores(), "mem_total_gb": _mem_total_gb(),
            "platform": platform.platform()}
    if device == "cuda":
        import torch

        info["gpu"] = torch.cuda.get_device_name(0)
    return info


@functools.lru_cache(maxsize=None)
def versions() -> dict:
    from scrcl.cli.common import versions as scrcl_versions

    return scrcl_versions()


@functools.lru_cache(maxsize=None)
def git_state() -> dict:
    """HEAD commit, and whether scrcl/ or bench/ differ from it (None outside a checkout;
    a copy of the tree whose .git is not current, e.g. on a GPU machine, names the commit
    in $SCRCL_GIT_COMMIT)."""
    def git(*args: str) -> Optional[str]:
        try:
            done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                                  timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    if os.environ.get("SCRCL_GIT_COMMIT"):  # whether the copy had changes is not known
        return {"commit": os.environ["SCRCL_GIT_COMMIT"], "dirty": None}
    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--", "scrcl", "bench", ":!bench/results")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def reset_peak_memory() -> None:
    """Start a new peak: the kernel's resident-memory high-water mark (Linux) and CUDA's."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.reset_peak_memory_stats()


def peak_memory() -> dict:
    """{'peak_rss_mb': since the last reset (else since the start), 'peak_gpu_mb' or None}."""
    rss = None
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    rss = int(line.split()[1]) / 1024
    except OSError:
        pass
    if rss is None:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    import torch

    gpu = (torch.cuda.max_memory_allocated() / 2**20
           if torch.cuda.is_available() and torch.cuda.is_initialized() else None)
    return {"peak_rss_mb": round(rss, 1), "peak_gpu_mb": None if gpu is None else round(gpu, 1)}
