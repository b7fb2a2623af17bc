"""Label-free rules for choosing the final partition among a run's candidate epochs, applied
to the candidates stored with a label-free scrcl entry (``bench/run.py``: every candidate
epoch's partition, packed, with its Calinski-Harabasz and Davies-Bouldin scores, and the
silhouette in the trace). A study towards issue 13: no rule here is the package default
unless BENCHMARKS.md says so, and none reads a label ('best_candidate' is the answer key's
choice among the same candidates, shown only as the ceiling of every rule).

Each rule maps the candidates to one partition (N,): most pick one candidate epoch;
'epoch_consensus' (k-means on the co-association profiles) and 'epoch_linkage' (average
linkage on the co-association) build a new partition from all of them.

Early epochs (``EARLY_EPOCHS``): the answer key's best epoch is often among the first
(CITE 2, MCA 1, Baron_mouse2 4), where no candidate of the stride lies. Runs that
cluster every epoch (the oracle protocol's) therefore also keep the candidates of epochs
1-9 (since session 7); ``EARLY_RULES`` apply a rule to the stride's candidates and these
together, and 'best_candidate_early' is the answer key's pick among them all. Chosen
before any such candidate was stored: the silhouette rule only (the package's default),
to see whether it would pick an early epoch where one is better and leave it where not.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import scipy.sparse as sp

#: raise when a rule changes: the study's entries are then recomputed
SELECTION_VERSION = 3  # 2: epoch_linkage breaks ties by the cells' order; 3: and floors clusters at 5 cells


@dataclass
class Candidates:
    """A run's candidate epochs, in epoch order."""

    epochs: list[int]
    partitions: list[np.ndarray]  # (N,) labels each
    silhouette: list[Optional[float]]
    calinski_harabasz: list[Optional[float]]
    davies_bouldin: list[Optional[float]]
    graph: sp.csr_matrix  # (N, N) the model's cell graph A (binary, symmetric)
    n_clusters: int


def modularity(adj: sp.csr_matrix, labels: np.ndarray) -> float:
    """Newman's modularity (resolution 1) of a partition of the graph ``adj`` (N, N)
    (symmetric; entries are edge weights): sum over clusters of e_cc / 2m - (d_c / 2m)^2,
    with e_cc the summed weight inside cluster c counted in both directions and d_c its
    summed degree."""
    adj = sp.csr_matrix(adj)
    _, codes = np.unique(labels, return_inverse=True)
    k = codes.max() + 1
    onehot = sp.csr_matrix((np.ones(codes.size), (np.arange(codes.size), codes)),
                           shape=(codes.size, k))
    within = (onehot.T @ adj @ onehot).diagonal()  # (k,)
    degree = np.asarray(onehot.T @ np.asarray(adj.sum(1)).ravel()).ravel()
    two_m = adj.sum()
    return float((within / two_m - (degree / two_m) ** 2).sum())


def _argbest(values: list[Optional[float]], sign: float) -> Optional[int]:
    """Index of the best value (largest of sign * value), ties to the later one; None when
    no value is known."""
    scored = [(sign * v, i) for i, v in enumerate(values) if v is not None]
    return max(scored)[1] if scored else None


def silhouette_rule(c: Candidates) -> Optional[np.ndarray]:
    i = _argbest(c.silhouette, 1.0)
    return None if i is None else c.partitions[i]


def calinski_harabasz_rule(c: Candidates) -> Optional[np.ndarray]:
    i = _argbest(c.calinski_harabasz, 1.0)
    return None if i is None else c.partitions[i]


def davies_bouldin_rule(c: Candidates) -> Optional[np.ndarray]:
    i = _argbest(c.davies_bouldin, -1.0)
    return None if i is None else c.partitions[i]


def modularity_rule(c: Candidates) -> Optional[np.ndarray]:
    """The candidate whose clusters are most modular on the model's own cell graph (the
    spatial neighbour graph of a slice; the expression kNN graph of scRNA-seq)."""
    i = _argbest([modularity(c.graph, p) for p in c.partitions], 1.0)
    return c.partitions[i]


def stable_rule(c: Candidates) -> Optional[np.ndarray]:
    from scrcl.clustering.selection import most_stable_partition

    return c.partitions[most_stable_partition(c.partitions)]


def last_rule(c: Candidates) -> Optional[np.ndarray]:
    return c.partitions[-1]


def epoch_consensus_rule(c: Candidates) -> Optional[np.ndarray]:
    """The consensus (co-association k-means) of every candidate epoch's partition."""
    from scrcl.clustering.consensus import consensus_partition

    return consensus_partition(c.partitions, c.n_clusters, seed=0, method="kmeans")


def epoch_linkage_rule(c: Candidates) -> Optional[np.ndarray]:
    """The consensus (average linkage on the co-association, the package's consensus of
    seeds) of every candidate epoch's partition."""
    from scrcl.clustering.consensus import consensus_method_for, consensus_partition

    method = consensus_method_for(c.partitions)  # as the pipeline chooses for seeds
    return None if method is None else consensus_partition(c.partitions, c.n_clusters,
                                                           method=method)


RULES: dict[str, Callable[[Candidates], Optional[np.ndarray]]] = {
    "silhouette": silhouette_rule, "calinski_harabasz": calinski_harabasz_rule,
    "davies_bouldin": davies_bouldin_rule, "modularity": modularity_rule,
    "stable": stable_rule, "last": last_rule, "epoch_consensus": epoch_consensus_rule,
    "epoch_linkage": epoch_linkage_rule,
}
#: the answer key's choice among the same candidates: the ceiling of every rule above
CEILING = "best_candidate"

#: epochs whose clusterings a run that clusters every epoch keeps as extra candidates
EARLY_EPOCHS = tuple(range(1, 10))
#: rules applied to the stride's candidates together with the early ones
EARLY_RULES: dict[str, Callable[[Candidates], Optional[np.ndarray]]] = {
    "silhouette_early": silhouette_rule,
}
#: the answer key's choice among the stride's and the early candidates
CEILING_EARLY = "best_candidate_early"
EARLY_METHODS = (*EARLY_RULES, CEILING_EARLY)
