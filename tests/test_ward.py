"""Ward clustering (scrcl.clustering.ward) against a brute-force Ward and hand-checked cases."""
import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from scrcl.clustering.ward import principal_components, ward, ward_cut


def brute_force_ward(points: np.ndarray, k: int) -> np.ndarray:
    """Greedy merging by the Ward cost |A||B|/(|A|+|B|) ||mu_A - mu_B||^2, every pair tried
    at every step (O(N^3)): the definition, written out."""
    clusters = [[i] for i in range(len(points))]
    while len(clusters) > k:
        best, pair = np.inf, None
        for a in range(len(clusters)):
            for b in range(a + 1, len(clusters)):
                ca, cb = points[clusters[a]], points[clusters[b]]
                cost = (len(ca) * len(cb) / (len(ca) + len(cb))
                        * ((ca.mean(0) - cb.mean(0)) ** 2).sum())
                if cost < best:
                    best, pair = cost, (a, b)
        a, b = pair
        clusters[a] = clusters[a] + clusters.pop(b)
    labels = np.empty(len(points), dtype=np.int64)
    for c, members in enumerate(clusters):
        labels[members] = c
    return labels


def test_hand_checked_case():
    points = np.array([[0.0], [1.0], [10.0], [11.0], [30.0]])
    assert ward_cut(points, 3).tolist() == [0, 0, 1, 1, 2]
    assert ward_cut(points, 2).tolist() == [0, 0, 0, 0, 1]


@pytest.mark.parametrize("k", [2, 4, 7])
def test_ward_cut_is_the_brute_force_ward(k):
    rng = np.random.default_rng(k)
    points = rng.normal(size=(40, 3)) + np.repeat(rng.normal(scale=4, size=(4, 3)), 10, 0)
    got = ward_cut(points, k)
    assert np.unique(got).size == k
    assert adjusted_rand_score(brute_force_ward(points, k), got) == 1.0


def test_principal_components_are_the_exact_ones_on_low_rank_data():
    rng = np.random.default_rng(0)
    axes = np.linalg.qr(rng.normal(size=(80, 5)))[0].T  # (5, 80) orthonormal rows
    x = (rng.normal(size=(300, 5)) * np.array([10.0, 5, 3, 2, 1])) @ axes  # rank 5
    got = principal_components(torch.tensor(x, dtype=torch.float32), n_comps=5)
    xc = x - x.mean(0)
    u, s, _ = np.linalg.svd(xc, full_matrices=False)
    want = u[:, :5] * s[:5]
    np.testing.assert_allclose(np.abs(got), np.abs(want), rtol=1e-3, atol=1e-3 * s[0])


def test_sampled_ward_keeps_separated_clusters():
    rng = np.random.default_rng(1)
    centres = rng.normal(scale=20, size=(5, 10))
    truth = np.repeat(np.arange(5), 400)
    x = torch.tensor(centres[truth] + rng.normal(size=(2000, 10)), dtype=torch.float32)
    exact = ward(x, 5)
    sampled = ward(x, 5, seed=3, max_exact=300)
    assert adjusted_rand_score(truth, exact) == 1.0
    assert adjusted_rand_score(truth, sampled) == 1.0
    assert sampled.dtype == np.int64 and sampled.shape == (2000,)


def test_ward_is_deterministic_and_checks_k():
    x = torch.randn(200, 30, generator=torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(ward(x, 6, seed=1), ward(x, 6, seed=2))  # exact: no draw
    with pytest.raises(ValueError, match="k must be between 1"):
        ward(x, 0)
    with pytest.raises(ValueError, match="k must be between 1"):
        ward(x, 201)
