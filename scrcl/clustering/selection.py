"""Label-free choice of the final clustering among the clusterings of several epochs.

Measured on the stand-ins (an earlier study of saved per-epoch traces; see BENCHMARKS.md),
the clustering of a single epoch is unreliable: on Baron_mouse1 the last epoch scores ARI 0.52-0.54 where
most epochs give 0.75-0.78, and on Baron_mouse2 most epochs give 0.45-0.58 and a few
0.86. The model is therefore clustered every ``stride`` epochs (and on scRNA-seq data on
each of its first 9 epochs too, ``ScrclConfig.select_first``) and one partition is kept:

* 'silhouette' (default): the partition with the highest silhouette (cosine) on its own
  embedding, computed on a fixed sample of at most 3,000 cells (the same for every
  candidate), on the embedding's device: the best-separated one.
* 'stable': the partition that agrees best (mean ARI) with those of the neighbouring
  candidate epochs.

Neither reads a label.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import adjusted_rand_score


def candidate_epochs(epochs: int, stride: int, window: int | None = None,
                     first: int = 0) -> list[int]:
    """The epochs (1-based) whose clusterings are candidates: the multiples of ``stride``
    (within the last ``window`` epochs when given), the last epoch, and epochs 1 to
    ``first`` (``select_first``; BENCHMARKS.md, "early candidates", measures it)."""
    start = 1 if window is None else max(1, epochs - window + 1)
    stride = max(1, stride)
    early = set(range(max(start, 1), min(first, epochs) + 1))
    return sorted({e for e in range(start, epochs + 1) if e % stride == 0} | {epochs} | early)


def most_stable_partition(partitions: Sequence[np.ndarray], reach: int = 2) -> int:
    """Index of the partition with the highest mean ARI to the ``reach`` partitions before
    and after it in the sequence (ties: the later one).

    partitions: M label vectors of the same N cells, in epoch order. O(M reach N) time.
    """
    m = len(partitions)
    if m == 1:
        return 0
    score = np.empty(m)
    for i in range(m):
        near = [j for j in range(i - reach, i + reach + 1) if j != i and 0 <= j < m]
        score[i] = np.mean([adjusted_rand_score(partitions[i], partitions[j]) for j in near])
    return int(np.flatnonzero(score >= score.max() - 1e-12)[-1])


#: cells the silhouette of label-free selection is computed on
SILHOUETTE_SAMPLE = 3000


def silhouette_cells(n: int, sample: int = SILHOUETTE_SAMPLE, seed: int = 0) -> np.ndarray:
    """The cells the silhouette is computed on: the first ``sample`` of a permutation of the
    ``n`` cells drawn from ``seed`` (all of them, permuted, when n <= sample). The same cells
    for every candidate of a run, so that the candidates' scores compare."""
    return np.random.default_rng(seed).permutation(n)[:sample]


def cosine_silhouette(embedding, labels, cells: Optional[np.ndarray] = None) -> float:
    """Silhouette (cosine distance) of a partition on its embedding, on the device of
    ``embedding`` (a tensor; an array is used on the CPU). -1 when the cells hold fewer than
    2 clusters or one cluster a cell.

    embedding: (N, d) array or tensor, any float dtype; labels: (N,) ints; cells: the indices
    of the cells scored and used as the clusters' members (default: all N). Equals
    ``sklearn.metrics.silhouette_score(embedding[cells], labels[cells], metric="cosine")``
    in float64 (tested to 1e-9; scikit-learn's float32 path is off by up to 2e-5 on tight
    clusters), in O(n k d) rather than O(n^2 d): with unit rows the mean distance of
    a cell to a cluster C is 1 - x.s_C / |C| (s_C the sum of C's rows; the cell itself left
    out of its own cluster's mean).
    """
    x = embedding if isinstance(embedding, torch.Tensor) else torch.as_tensor(
        np.asarray(embedding))
    dev = x.device
    lab = torch.as_tensor(np.asarray(labels) if not isinstance(labels, torch.Tensor)
                          else labels).to(dev)
    if cells is not None and len(cells) < x.shape[0]:  # (all cells: the order is moot)
        idx = torch.as_tensor(np.asarray(cells), dtype=torch.long, device=dev)
        x, lab = x[idx], lab[idx]
    n = x.shape[0]
    lab = torch.unique(lab, return_inverse=True)[1]  # 0..c-1
    c = int(lab.max()) + 1 if n else 0
    if not 2 <= c < n:
        return -1.0
    exact = torch.float32 if dev.type == "mps" else torch.float64
    x = F.normalize(x.to(exact), dim=1)
    if dev.type == "cpu":
        sums = x.new_zeros(c, x.shape[1]).index_add_(0, lab, x)
    else:  # a matmul of the indicators: deterministic, unlike index_add_ on CUDA
        sums = (torch.arange(c, device=dev).unsqueeze(1) == lab).to(exact) @ x
    size = torch.bincount(lab, minlength=c).to(exact)  # (c,)
    sim = x @ sums.T  # (n, c): x . s_C
    rows = torch.arange(n, device=dev)
    own = size[lab]
    self_sim = (x * x).sum(1)  # 1 up to rounding; sklearn's zero self-distance
    a = ((own - 1) - (sim[rows, lab] - self_sim)) / (own - 1).clamp_min(1)
    mean_to = (size - sim) / size  # (n, c)
    mean_to[rows, lab] = torch.inf
    b = mean_to.min(1).values
    score = torch.nan_to_num((b - a) / torch.maximum(a, b))
    score[own == 1] = 0.0
    return float(score.mean())


def silhouette(embedding, labels, sample: int = SILHOUETTE_SAMPLE, seed: int = 0) -> float:
    """Cosine silhouette of a partition on its embedding (N, d), on a fixed sample of at
    most ``sample`` cells (:func:`silhouette_cells`), computed on the embedding's device
    (:func:`cosine_silhouette`). -1 for a single cluster."""
    return cosine_silhouette(embedding, labels,
                             silhouette_cells(embedding.shape[0], sample, seed))
