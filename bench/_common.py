"""An independent implementation of the four clustering metrics (numpy / scipy / sklearn
only), written separately from ``scrcl.metrics``; tests/test_cluster_metrics.py checks that
the two agree. The benchmark itself scores with ``scrcl.metrics.evaluate``. (Also the
default folders of bench/scaling.py.) Conventions:

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

from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

REPO_ROOT = Path(__file__).resolve().parent.parent
# used by bench/scaling.py
DEFAULT_SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
DEFAULT_OUT = REPO_ROOT / "results" / "bench"


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
