"""Estimating the number of clusters without labels (``--n-clusters auto``).

The rule is the field's a-priori default, fixed before looking at any benchmark: Leiden
(modularity, resolution 1) on the cell graph that the model itself uses, counting the
communities of at least ``min_size`` cells. Its stability across Leiden seeds (mean
pairwise ARI) is reported with it. A study of other rules (silhouette over a resolution
range picked far too few clusters on the stand-ins) is in BENCHMARKS.md.
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
    log.info("estimated K = %d (Leiden resolution %.2f on the cell graph, stability %.2f)",
             k, resolution, stability)
    return KEstimate(k, resolution, stability, np.asarray(parts[0]))
