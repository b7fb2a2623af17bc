"""Clustering accuracy against true labels: ACC, NMI, ARI and macro-F1.

Pure functions; they never modify the arrays they are given.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, f1_score, normalized_mutual_info_score


def _codes(values) -> np.ndarray:
    return np.unique(np.asarray(values), return_inverse=True)[1].ravel()


def match_clusters(truth, pred) -> np.ndarray:
    """Predicted clusters renamed to the classes of the best one-to-one matching (Hungarian,
    maximising agreement). Clusters left unmatched (more clusters than classes) get -1.

    Returns a new array of class codes (0..n_classes-1, or -1); ``pred`` is not touched.
    """
    t, p = _codes(truth), _codes(pred)
    cont = np.zeros((p.max() + 1, t.max() + 1), dtype=np.int64)
    np.add.at(cont, (p, t), 1)
    rows, cols = linear_sum_assignment(cont, maximize=True)
    mapping = np.full(cont.shape[0], -1, dtype=np.int64)
    mapping[rows] = cols
    return mapping[p]


def accuracy(truth, pred) -> float:
    """Fraction of cells whose cluster maps to their class under the best matching."""
    return float(np.mean(match_clusters(truth, pred) == _codes(truth)))


def f1_macro(truth, pred) -> float:
    """Macro F1 over the true classes after the best one-to-one matching."""
    t = _codes(truth)
    return float(f1_score(t, match_clusters(truth, pred), labels=np.unique(t), average="macro",
                          zero_division=0))


def nmi(truth, pred) -> float:
    return float(normalized_mutual_info_score(_codes(truth), _codes(pred),
                                              average_method="arithmetic"))


def ari(truth, pred) -> float:
    return float(adjusted_rand_score(_codes(truth), _codes(pred)))


def evaluate(truth, pred) -> dict[str, float]:
    """{'acc', 'nmi', 'ari', 'f1'} of predicted clusters against true labels."""
    if len(truth) != len(pred):
        raise ValueError(f"{len(truth)} true labels but {len(pred)} predictions")
    return {"acc": accuracy(truth, pred), "nmi": nmi(truth, pred), "ari": ari(truth, pred),
            "f1": f1_macro(truth, pred)}
