"""Spatial label refinement: each spot takes the majority label of its nearest spots.

The neighbours come from a KD-tree on the coordinates, so memory is O(N x radius), never
N x N. The neighbour table is computed once and reused for every clustering that is refined
(the oracle protocol refines after every epoch).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.spatial import cKDTree


def neighbour_table(coords: np.ndarray, radius: int) -> np.ndarray:
    """Indices of the ``radius`` nearest spots of every spot, itself excluded.

    coords: (N, 2) float. Returns (N, radius) int64, nearest first; ties by index.
    """
    coords = np.asarray(coords, dtype=np.float64)
    n = coords.shape[0]
    if not 1 <= radius < n:
        raise ValueError(f"radius must be between 1 and N - 1 = {n - 1}, got {radius}")
    _, idx = cKDTree(coords).query(coords, k=radius + 1)
    own = idx == np.arange(n)[:, None]
    has_own = own.any(axis=1)
    out = np.empty((n, radius), dtype=np.int64)
    out[has_own] = idx[has_own][~own[has_own]].reshape(-1, radius)
    out[~has_own] = idx[~has_own, :radius]  # a duplicate position hid the spot itself
    return out


def majority_vote(labels: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """The most frequent label among each spot's neighbours.

    labels: (N,) int >= 0; neighbours: (N, r) int. A tie keeps the spot's own label when it
    is among the tied ones, else takes the smallest tied label. Returns a new (N,) array.
    """
    labels = np.asarray(labels)
    n_labels = int(labels.max()) + 1
    votes = np.zeros((labels.size, n_labels), dtype=np.int32)
    np.add.at(votes, (np.repeat(np.arange(labels.size), neighbours.shape[1]),
                      labels[neighbours].ravel()), 1)
    top = votes.max(axis=1)
    keep = votes[np.arange(labels.size), labels] == top
    return np.where(keep, labels, votes.argmax(axis=1)).astype(labels.dtype)


def refine_labels(labels: np.ndarray, coords: np.ndarray, radius: int) -> np.ndarray:
    """Majority label of the ``radius`` nearest spots (itself excluded); radius 0: unchanged."""
    if not radius:
        return np.asarray(labels).copy()
    return majority_vote(labels, neighbour_table(coords, radius))


def refiner(coords: np.ndarray, radius: int) -> Callable[[np.ndarray], np.ndarray]:
    """labels -> refined labels, with the neighbour table built once."""
    if not radius:
        return lambda labels: np.asarray(labels)
    table = neighbour_table(coords, radius)
    return lambda labels: majority_vote(labels, table)
