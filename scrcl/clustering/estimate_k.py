"""Estimating the number of clusters without labels (``--n-clusters auto``).

The rule: Leiden (modularity, resolution 1, the field's a-priori default) on the 15-NN
graph of 50 principal components of the expression, the graph scanpy's defaults build
(``scrcl.tl.expression_graph``), counting the communities of at least ``min_size`` cells.
Its stability across Leiden seeds (mean pairwise ARI) is reported with it. Chosen on the
shared stand-ins among four rules (BENCHMARKS.md, "Number of clusters without labels"):
within 25% of the true K on 12 of 18 stand-ins, against 9 for the same Leiden on the
model's own cell graph (the rule before Nov 2026), 6 for the eigengap of that graph and 3
for the most stable resolution; the stand-ins are therefore no independent test of it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

import numpy as np
import scipy.sparse as sp
from sklearn.metrics import adjusted_rand_score

from .leiden import leiden

log = logging.getLogger(__name__)


@dataclass
class KEstimate:
    k: int
    resolution: float
    stability: float  # mean ARI between the partitions of different Leiden seeds
    labels: Optional[np.ndarray] = None  # (N,) the first seed's Leiden partition


def estimate_n_clusters(adj: sp.spmatrix, resolution: float = 1.0, seeds=(0, 1, 2),
                        min_size: int = 5) -> KEstimate:
    """K = number of Leiden communities (>= min_size cells) of the graph adj: (N, N) sparse."""
    parts = [leiden(adj, resolution, seed) for seed in seeds]
    stability = float(np.mean([adjusted_rand_score(parts[i], parts[j])
                               for i in range(len(parts)) for j in range(i + 1, len(parts))]))
    k = max(2, int((np.bincount(parts[0]) >= min_size).sum()))
    log.info("estimated K = %d (Leiden resolution %.2f, stability %.2f)",
             k, resolution, stability)
    return KEstimate(k, resolution, stability, np.asarray(parts[0]))
