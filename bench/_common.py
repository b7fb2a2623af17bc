"""Shared helpers for the baseline benchmarks in ``bench/``.

The metric functions here are deliberately plain (numpy / scipy / sklearn only)
so that they can later be swapped for ``scrcl.metrics`` without changing the
benchmark scripts.  Conventions:

* ``y_true`` and ``y_pred`` are 1-D label arrays of equal length; labels may be
  strings or integers and need not be contiguous.
* ACC uses the Hungarian algorithm (``scipy.optimize.linear_sum_assignment``)
  on the cluster x class contingency table, maximising the number of matched
  cells.  It is valid when the number of clusters differs from the number of
  classes: at most ``min(#clusters, #classes)`` pairs are matched and every
  cell of an unmatched cluster counts as wrong.
* Macro-F1 is computed after the same matching; cells of unmatched clusters get
  a label that is not a class (so they are wrong), and the average is over the
  true classes (a class that no cluster was matched to has F1 = 0).
* NMI uses the arithmetic mean normalisation (sklearn default).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
DEFAULT_OUT = REPO_ROOT / "results" / "bench"


def limit_threads(n: int) -> None:
    """Cap BLAS / OpenMP threads. Must run before numpy-heavy imports to be fully effective."""
    for var in (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "NUMEXPR_NUM_THREADS",
        "VECLIB_MAXIMUM_THREADS",
        "NUMBA_NUM_THREADS",
    ):
        os.environ[var] = str(n)
    try:  # also limit pools that are already loaded
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except Exception:  # pragma: no cover - threadpoolctl is an sklearn dependency
        pass


# --------------------------------------------------------------------------- metrics


def _encode(y) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {y.shape}")
    _, codes = np.unique(y.astype(str) if y.dtype == object else y, return_inverse=True)
    return codes.ravel()


def contingency(y_true, y_pred) -> np.ndarray:
    """Cluster x class count table (rows: predicted clusters, columns: true classes)."""
    t = _encode(y_true)
    p = _encode(y_pred)
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length: {t.shape} vs {p.shape}")
    table = np.zeros((p.max() + 1, t.max() + 1), dtype=np.int64)
    np.add.at(table, (p, t), 1)
    return table


def hungarian_map(y_true, y_pred) -> np.ndarray:
    """Return y_pred relabelled to true-class codes; unmatched clusters get -1.

    The returned array holds codes of ``np.unique(y_true)`` (0..C-1) or -1.
    """
    p = _encode(y_pred)
    table = contingency(y_true, y_pred)
    rows, cols = linear_sum_assignment(table, maximize=True)
    mapping = np.full(table.shape[0], -1, dtype=np.int64)
    mapping[rows] = cols
    return mapping[p]


def cluster_acc(y_true, y_pred) -> float:
    """Unsupervised clustering accuracy with Hungarian matching."""
    t = _encode(y_true)
    mapped = hungarian_map(y_true, y_pred)
    return float(np.mean(mapped == t))


def macro_f1(y_true, y_pred) -> float:
    """Macro-F1 over the true classes after Hungarian matching (unmatched clusters are wrong)."""
    from sklearn.metrics import f1_score

    t = _encode(y_true)
    mapped = hungarian_map(y_true, y_pred)
    return float(
        f1_score(t, mapped, labels=np.arange(t.max() + 1), average="macro", zero_division=0)
    )


def nmi(y_true, y_pred) -> float:
    from sklearn.metrics import normalized_mutual_info_score

    return float(normalized_mutual_info_score(_encode(y_true), _encode(y_pred), average_method="arithmetic"))


def ari(y_true, y_pred) -> float:
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(_encode(y_true), _encode(y_pred)))


def all_metrics(y_true, y_pred) -> dict:
    return {
        "ACC": cluster_acc(y_true, y_pred),
        "NMI": nmi(y_true, y_pred),
        "ARI": ari(y_true, y_pred),
        "F1": macro_f1(y_true, y_pred),
    }


def mean_std(values) -> dict:
    """Mean and population std (ddof=0) of a list of numbers."""
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=0)), "n": int(v.size)}


def fmt(ms: dict, digits: int = 3) -> str:
    return f"{ms['mean']:.{digits}f} ± {ms['std']:.{digits}f}"


# --------------------------------------------------------------------------- environment / IO


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def environment(threads: int) -> dict:
    pkgs = ["numpy", "scipy", "scikit-learn", "scanpy", "anndata", "pandas", "igraph", "leidenalg", "threadpoolctl"]
    mem_gb = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    mem_gb = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    cpu_model = None
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        affinity = None
    return {
        "python": sys.version.split()[0],
        "versions": {p: _version(p) for p in pkgs},
        "machine": {
            "platform": platform.platform(),
            "machine": platform.machine(),
            "processor": platform.processor() or None,
            "cpu_model": cpu_model,
            "cpu_count": os.cpu_count(),
            "cpu_affinity": affinity,
            "mem_total_gb": mem_gb,
            "threads_used": threads,
        },
    }


def write_json_atomic(obj, path: Path) -> None:
    """Write JSON to a temp file in the same directory, then os.replace it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(obj, fh, indent=2, sort_keys=False)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)
