"""Clustering of the learnt embedding: spherical (cosine) k-means on the model's device."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass
class KMeansResult:
    labels: np.ndarray  # (N,) int64 in 0..K-1
    centroids: np.ndarray  # (K, d) unit rows
    inertia: float  # summed cosine distance of the cells to their centroids


def _kmeanspp(x: Tensor, k: int, gen: torch.Generator) -> Tensor:
    """k-means++ seeding under cosine distance 1 - x.c. x: (N, d) unit rows -> (k, d)."""
    n = x.shape[0]
    first = torch.randint(n, (1,), generator=gen, device="cpu").item()
    centres = [x[first]]
    closest = (1.0 - x @ x[first]).clamp_min(0)
    for _ in range(1, k):
        total = closest.sum()
        if total <= 0:  # every cell sits on a centre already: pick uniformly
            idx = torch.randint(n, (1,), generator=gen, device="cpu").item()
        else:
            probs = (closest / total).double().cpu()
            idx = torch.multinomial(probs, 1, generator=gen).item()
        centres.append(x[idx])
        closest = torch.minimum(closest, (1.0 - x @ x[idx]).clamp_min(0))
    return torch.stack(centres)


def _lloyd(x: Tensor, centres: Tensor, max_iter: int, tol: float) -> tuple[Tensor, Tensor, float]:
    """Spherical Lloyd iterations. An emptied cluster is re-seeded at the cell farthest
    from its centre, so no centroid is ever NaN."""
    k = centres.shape[0]
    labels = None
    for _ in range(max_iter):
        sim = x @ centres.T  # (N, k)
        best, new_labels = sim.max(1)
        sums = torch.zeros_like(centres).index_add_(0, new_labels, x)
        counts = torch.bincount(new_labels, minlength=k)
        empty = (counts == 0).nonzero().flatten()
        if empty.numel():
            far = torch.argsort(best)[: empty.numel()]
            sums[empty] = x[far]
        new_centres = F.normalize(sums, dim=1)
        shift = (new_centres - centres).norm(dim=1).max().item()
        centres = new_centres
        if labels is not None and torch.equal(new_labels, labels) and shift < tol:
            break
        labels = new_labels
    sim = x @ centres.T
    best, labels = sim.max(1)
    return labels, centres, float((1.0 - best).sum())


def kmeans_cosine(x, k: int, n_init: int = 20, seed: int = 0, max_iter: int = 300,
                  tol: float = 1e-6, device: str | torch.device | None = None) -> KMeansResult:
    """k-means with cosine distance: k-means++ seeding, ``n_init`` restarts, the run with the
    smallest summed distance kept. Deterministic for a given seed.

    x: (N, d) array or tensor (rows are L2-normalised here). Returns labels in 0..k-1.
    """
    xt = torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x)
    xt = xt.to(device or xt.device, dtype=torch.float32)
    n = xt.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the number of points ({n}), got {k}")
    xt = F.normalize(xt, dim=1)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    best = None
    for _ in range(max(1, n_init)):
        centres = _kmeanspp(xt, k, gen)
        labels, centres, inertia = _lloyd(xt, centres, max_iter, tol)
        if best is None or inertia < best[2] - 1e-9:
            best = (labels, centres, inertia)
    labels, centres, inertia = best
    return KMeansResult(_relabel(labels.cpu().numpy()), centres.cpu().numpy(), inertia)


def _relabel(labels: np.ndarray) -> np.ndarray:
    """Renumber clusters 0..K-1 by order of first appearance (a canonical form)."""
    _, first = np.unique(labels, return_index=True)
    order = labels[np.sort(first)]
    mapping = np.empty(labels.max() + 1, dtype=np.int64)
    mapping[order] = np.arange(order.size)
    return mapping[labels]
