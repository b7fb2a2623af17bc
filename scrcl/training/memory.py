"""How much memory a run needs, and the check made before training starts.

A model of the peak resident memory of a whole CPU run, fitted to the records of
``bench/scaling.py`` (``bench/results/scaling/``: CITE-seq cells resampled from 1,000 to
100,000, 2,000 genes, hidden width 1,500, precision auto = bf16 on that machine). Two
stages, each linear, and the larger counts:

    training   = T0 + T_CELL * N * (G / 2000) + c * B * (H / 1500)
    evaluation = E0 + E_CELL * N * (G / 2000)   (preparation, the full-graph embedding and
                                                 the clustering, which B does not change)
    peak MB    = training for full batches (every record of those peaked in training),
                 max(training, evaluation) for mini-batches

N cells, G genes, H hidden width, B cells per step (N for full batches), c = T_BATCH where
training takes the chunked loss (B H >= 2^24, ``scrcl.train.CHUNKED_LOSS_MIN``), else
T_BATCH_PLAIN. Scaling with G and H is an assumption (the records vary N and B only).
``python bench/report.py`` refits it beside the records, and ``tests/test_memory.py``
checks that these constants still describe them. Resident memory includes what the
allocator keeps after freeing, which small mini-batches raise (BENCHMARKS.md). On a GPU
the model says nothing of GPU memory (none was measured on a GPU).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from ..errors import ScrclInputError

#: fitted to bench/results/scaling (bench/report.py, block "scaling"): training stage.
#: T_BATCH_PLAIN adds 0.009 MB a cell to its fit (0.1667): since session 7, steps below
#: 2^24 activation entries keep the float32 sum x + b of their three biased activations
#: (2 bytes more a value than the bfloat16 x, H = 1,500), computed, not refitted
T0, T_CELL, T_BATCH, T_BATCH_PLAIN = 1103.0, 0.0281, 0.0755, 0.1667 + 0.009
#: evaluation stage
E0, E_CELL = 2564.0, 0.0455
#: copies of a wide clustered embedding held at once (the first seed's kept one and the
#: candidate being clustered): computed, not fitted, since the records clustered [z1, z2],
#: 2K wide, whose copies the fit includes; [e1, e2] adds 2 x 4 bytes x 2H a cell
EMBEDDING_COPIES = 2
#: a run is refused when its prediction exceeds this share of the available memory
HEADROOM = 0.9
#: env variable that sets the memory available to a run, in MB (tests, shared machines)
LIMIT_ENV = "SCRCL_MEMORY_LIMIT_MB"

Coef = tuple[float, float, float, float, float, float]


def coefficients() -> Coef:
    """(T0, T_CELL, T_BATCH, T_BATCH_PLAIN, E0, E_CELL)."""
    return T0, T_CELL, T_BATCH, T_BATCH_PLAIN, E0, E_CELL


def _train_terms(n_cells: int, n_genes: int, hid_dim: int,
                 batch_cells: Optional[int]) -> list[float]:
    from .train import CHUNKED_LOSS_MIN

    b = n_cells if batch_cells is None else min(batch_cells, n_cells)
    step = b * hid_dim / 1500
    chunked = b * hid_dim >= CHUNKED_LOSS_MIN
    return [1.0, n_cells * n_genes / 2000, step if chunked else 0.0, 0.0 if chunked else step]


def _eval_terms(n_cells: int, n_genes: int) -> list[float]:
    return [1.0, n_cells * n_genes / 2000]


def embedding_mb(n_cells: int, embedding_width: int) -> float:
    """What the clustered embedding adds beyond the fit (MB): ``embedding_width`` is 2H
    for [e1, e2] ('h'), 0 for [z1, z2], which the fitted records clustered. The
    candidates are clustered between training epochs, so it adds to both stages."""
    return EMBEDDING_COPIES * 4 * embedding_width * n_cells / 2**20


def predict_mb(n_cells: int, n_genes: int, hid_dim: int, batch_cells: Optional[int] = None,
               coef: Optional[Coef] = None, embedding_width: int = 0) -> float:
    """Predicted peak resident memory (MB) of a CPU run; ``batch_cells`` None = full batch;
    ``embedding_width``: see :func:`embedding_mb`."""
    c = coef or coefficients()
    extra = embedding_mb(n_cells, embedding_width)
    train = float(np.dot(c[:4], _train_terms(n_cells, n_genes, hid_dim, batch_cells))) + extra
    if batch_cells is None or batch_cells >= n_cells:  # full batches: training is the peak
        return train
    return max(train, float(np.dot(c[4:], _eval_terms(n_cells, n_genes))) + extra)


def fit(records: Iterable[dict]) -> Coef:
    """Least-squares coefficients (as :func:`coefficients`) from scaling records: the
    training stage from every record's ``rss_after_train_mb``, the evaluation stage from
    ``peak_rss_mb`` of the records that peaked after training (with ``n_cells``,
    ``n_genes``, ``batch_cells``; hidden width 1,500)."""
    recs = list(records)
    train, *_ = np.linalg.lstsq(
        np.asarray([_train_terms(r["n_cells"], r["n_genes"], 1500, r["batch_cells"])
                    for r in recs]),
        np.asarray([r["rss_after_train_mb"] for r in recs]), rcond=None)
    # the evaluation stage from the records whose peak came after training
    late = [r for r in recs if r["peak_rss_mb"] > r["rss_after_train_mb"] + 20]
    late = late if len(late) >= 2 else recs
    ev, *_ = np.linalg.lstsq(np.asarray([_eval_terms(r["n_cells"], r["n_genes"]) for r in late]),
                             np.asarray([r["peak_rss_mb"] for r in late]), rcond=None)
    return tuple(float(c) for c in (*train, *ev))  # type: ignore[return-value]


def available_mb() -> Optional[float]:
    """Memory this process may still use (MB): the smallest of $SCRCL_MEMORY_LIMIT_MB,
    the kernel's MemAvailable and a cgroup v2 limit; None where none is known."""
    found: list[float] = []
    if os.environ.get(LIMIT_ENV):
        found.append(float(os.environ[LIMIT_ENV]))
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) / 1024)
    except OSError:
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            used = int(Path("/sys/fs/cgroup/memory.current").read_text())
            found.append((int(limit) - used) / 2**20)
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def _gb(mb: float) -> str:
    return f"{mb / 1024:.1f} GB"


def check(n_cells: int, n_genes: int, hid_dim: int, batch_cells: Optional[int],
          device: str = "cpu", embedding_width: int = 0) -> str:
    """The line printed before training ("about 6.1 GB needed, 20.3 GB available"), or a
    ScrclInputError naming the option that would make the run fit."""
    need = predict_mb(n_cells, n_genes, hid_dim, batch_cells, embedding_width=embedding_width)
    where = "host memory" if device.startswith("cuda") else "memory"
    free = available_mb()
    if free is None:
        return f"{where}: about {_gb(need)} needed (available memory unknown)"
    if need <= HEADROOM * free or device.startswith("cuda"):  # GPU memory: not modelled
        return f"{where}: about {_gb(need)} needed, {_gb(free)} available"

    def at(b: int) -> float:
        return predict_mb(n_cells, n_genes, hid_dim, b, embedding_width=embedding_width)

    fits = max((b for b in range(1000, n_cells, 1000) if at(b) <= HEADROOM * free), default=0)
    if fits >= 1000:
        fix = f"use --batch-size {fits} (about {_gb(at(fits))})"
    elif embedding_width:
        fix = ("use --embedding z (the published [z1, z2], far narrower), fewer genes (--hvg) "
               "or a smaller --hid-dim, or a machine with more memory")
    else:
        fix = "use fewer genes (--hvg) or a smaller --hid-dim, or a machine with more memory"
    raise ScrclInputError(f"this run needs about {_gb(need)} of {where} but only "
                          f"{_gb(free)} is available; {fix}")
