"""Mini-batches of cells for data too large for one full-batch step (``batch_size``).

Memory of a full-batch step grows with N (about 100 KB per cell at hidden width 1,500);
a mini-batch step needs that only for its B cells. The batches follow Cluster-GCN: the
cells are cut once into parts that keep graph neighbours together (k-means on what the
cell graph was built from: the cells' principal components, or the spots' coordinates),
and every epoch the parts are shuffled and dealt into batches of about B cells (each part
to the batch with fewest cells so far). A batch is trained on the subgraph it induces:

* the views see the batch's rows of the (precomputed, dense) inputs, and the GCN view's
  second convolution the batch's own normalised subgraph D_b^-1/2 (A_b + I) D_b^-1/2;
* the refinement module's gene encoder still embeds every gene from *all* N cells (its
  input X1^T is (G, N) and its weight (N, C)), so the model stays the published one;
* the three losses are those of the batch: L_EDA over its cells, L_NCA with its induced
  graph and "everyone else" its other cells, L_CVC over its pairs.

This changes the optimisation (more, noisier steps; edges between batches unseen in a
step), so it is used only where full batches do not fit (``resolve_batch_size``), and its
accuracy against full batches is measured in BENCHMARKS.md. Evaluation (the embedding that
is clustered) is always a full-graph forward pass without gradients.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import scipy.sparse as sp
import torch

from .. import graphs

#: full batches up to this many cells (every published and shared data set), when
#: ``batch_size`` is left to the default
FULL_BATCH_MAX_CELLS = 20_000
#: cells per mini-batch above it (about 1 GB of activations at hidden width 1,500)
MINIBATCH_CELLS = 10_000
#: parts per batch (Cluster-GCN's "q"): batches mix several parts, so that one step does
#: not see a single region of the data only
PARTS_PER_BATCH = 4


def resolve_batch_size(setting: Optional[int], n_cells: int) -> Optional[int]:
    """Cells per step for a ``batch_size`` setting: None (default) is full batch up to
    FULL_BATCH_MAX_CELLS cells and MINIBATCH_CELLS above; 0 is always full batch; B >= N
    is full batch. Returns None for full batch."""
    if setting is None:
        setting = 0 if n_cells <= FULL_BATCH_MAX_CELLS else MINIBATCH_CELLS
    if setting < 0:
        raise ValueError(f"batch_size must be >= 0, got {setting}")
    return None if setting == 0 or setting >= n_cells else int(setting)


def _part_features(points: np.ndarray) -> np.ndarray:
    """What the parts are cut on: coordinates (<= 3 columns) as they are; otherwise unit
    rows of at most 50 principal components (the cell graph is a cosine kNN graph)."""
    x = np.asarray(points, dtype=np.float64)
    if x.shape[1] <= 3:
        return x
    if x.shape[1] > 50:
        from ..data.preprocess import pca

        x = pca(x)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


@dataclass
class BatchPlan:
    """The parts of the cells and how they are dealt into batches each epoch."""

    parts: list[np.ndarray]  # cell indices of each part (sorted)
    n_batches: int
    adj: sp.csr_matrix  # (N, N) the binary cell graph
    seed: int = 0

    @classmethod
    def make(cls, points: np.ndarray, adj: sp.csr_matrix, batch_size: int,
             seed: int = 0) -> "BatchPlan":
        """Parts by k-means on ``points`` (N, d): what the cell graph was built from."""
        from sklearn.cluster import KMeans

        n = adj.shape[0]
        n_batches = max(1, -(-n // batch_size))
        n_parts = min(n, n_batches * PARTS_PER_BATCH)
        labels = KMeans(n_parts, n_init=1, random_state=seed).fit_predict(
            _part_features(points))
        order = np.argsort(labels, kind="stable")
        bounds = np.cumsum(np.bincount(labels, minlength=n_parts))[:-1]
        parts = [np.sort(p) for p in np.split(order, bounds) if p.size]
        return cls(parts, n_batches, sp.csr_matrix(adj), seed)

    @property
    def n_cells(self) -> int:
        return self.adj.shape[0]

    def batches(self, epoch: int) -> list[np.ndarray]:
        """The batches of ``epoch`` (sorted cell indices; together every cell once), a
        deterministic function of (seed, epoch)."""
        rng = np.random.default_rng([self.seed, epoch])
        sizes = np.zeros(self.n_batches, dtype=np.int64)
        members: list[list[np.ndarray]] = [[] for _ in range(self.n_batches)]
        for i in rng.permutation(len(self.parts)):
            b = int(np.argmin(sizes))
            members[b].append(self.parts[i])
            sizes[b] += self.parts[i].size
        return [np.sort(np.concatenate(m)) for m in members if m]

    def edges_kept(self, epoch: int = 0) -> float:
        """Fraction of the graph's edges inside a batch in ``epoch`` (what a step sees)."""
        batch_of = np.empty(self.n_cells, dtype=np.int64)
        for b, idx in enumerate(self.batches(epoch)):
            batch_of[idx] = b
        coo = self.adj.tocoo()
        return float((batch_of[coo.row] == batch_of[coo.col]).mean()) if coo.nnz else 1.0

    def inputs(self, full, idx: np.ndarray):
        """The ``scrcl.train.Inputs`` of one batch: the batch's rows of the views' dense
        inputs, its induced subgraph, and the gene encoder's full input."""
        from .inputs import Inputs, _sparse_tensor

        if full.view1.x.layout != torch.strided or full.view2.x.layout != torch.strided:
            raise ValueError("mini-batches need dense view inputs "
                             "(Inputs.from_prepared(..., dense=True))")
        rows = torch.as_tensor(idx, device=full.device)
        sub = self.adj[idx][:, idx]
        dev = full.device
        return Inputs(
            view1=full.view1._replace(x=full.view1.x.index_select(0, rows)),
            view2=full.view2._replace(x=full.view2.x.index_select(0, rows)),
            gene_x=full.gene_x, gene_x_t=full.gene_x_t,
            cell_adj=_sparse_tensor(graphs.normalized_adjacency(sub), dev),
            gene_adj=full.gene_adj,
            loss_adj=_sparse_tensor(sub, dev),
        )


def batch_plan(data, batch_size: Optional[int], seed: int = 0) -> Optional[BatchPlan]:
    """The plan for ``PreparedData`` ``data`` and a ``batch_size`` setting, or None for
    full batches (:func:`resolve_batch_size`)."""
    size = resolve_batch_size(batch_size, data.n_cells)
    if size is None:
        return None
    points = data.graph_features
    if points is None:
        points = data.x1.toarray() if sp.issparse(data.x1) else np.asarray(data.x1)
    return BatchPlan.make(np.asarray(points), data.cell_adj, size, seed)

