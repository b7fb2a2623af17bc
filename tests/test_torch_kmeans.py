"""Cosine k-means and the cosine silhouette in torch, against scikit-learn as the independent
reference: inertia on real features, partitions of separated data, silhouette values,
determinism, and the device the work runs on."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.preprocessing import normalize
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from scrcl.clustering.kmeans import _lloyd, kmeans_cosine, kmeanspp
from scrcl.clustering.selection import cosine_silhouette, silhouette, silhouette_cells

from _shared_data import shared_file


def cosine_inertia(x: np.ndarray, labels: np.ndarray) -> float:
    """Summed cosine distance of the cells to the best unit centre of their cluster,
    sum_C (|C| - |s_C|) for unit rows, in float64 (the objective spherical k-means lowers)."""
    xn = normalize(np.asarray(x, dtype=np.float64))
    total = 0.0
    for c in np.unique(labels):
        members = xn[labels == c]
        total += members.shape[0] - np.linalg.norm(members.sum(0))
    return total


def _blobs(n_per: int, k: int, d: int, spread: float, seed: int):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, d)) * 10
    x = np.concatenate([c + spread * rng.standard_normal((n_per, d)) for c in centres])
    return x.astype(np.float32), np.repeat(np.arange(k), n_per)


@pytest.fixture(scope="module")
def baron_pca():
    """Baron_mouse1: 50 principal components of log-normalised counts, K = its classes."""
    import anndata as ad
    from sklearn.decomposition import PCA

    adata = ad.read_h5ad(shared_file("substitutes/scdata/Baron_mouse1.h5ad"))
    counts = np.asarray(adata.X.todense() if hasattr(adata.X, "todense") else adata.X,
                        dtype=np.float64)
    logn = np.log1p(counts / counts.sum(1, keepdims=True) * 1e4)
    x = PCA(50, random_state=0).fit_transform(logn).astype(np.float32)
    return x, int(adata.obs["cell_type1"].nunique())


@pytest.fixture(scope="module")
def dlpfc_features():
    """DLPFC 151507: the 200 features of its spots, K = its layers."""
    import anndata as ad

    adata = ad.read_h5ad(shared_file("stdata_pca/151507.h5ad"))
    return np.asarray(adata.X, dtype=np.float32), int(adata.obs["ground_truth"].nunique())


@pytest.mark.parametrize("data", ["baron_pca", "dlpfc_features"])
def test_inertia_within_one_percent_of_scikit_learn(data, request):
    x, k = request.getfixturevalue(data)
    ours = kmeans_cosine(x, k, n_init=10, seed=0)
    theirs = KMeans(k, n_init=10, random_state=0).fit(normalize(x)).labels_
    mine, ref = cosine_inertia(x, ours.labels), cosine_inertia(x, theirs)
    # scikit-learn lowers the Euclidean objective of the unit rows (mean centres), a close
    # cousin of the cosine one: ours must not be more than 1% above it (it may be below)
    assert mine <= 1.01 * ref
    assert ours.inertia == pytest.approx(mine, rel=1e-4)  # the inertia it reports is its own
    assert np.bincount(ours.labels).size == k and ours.labels.dtype == np.int64


@pytest.mark.parametrize("k, d", [(5, 10), (12, 60), (20, 200)])
def test_same_partition_as_scikit_learn_on_separated_blobs(k, d):
    x, truth = _blobs(40, k, d, spread=0.5, seed=k)
    ours = kmeans_cosine(x, k, n_init=10, seed=1).labels
    theirs = KMeans(k, n_init=10, random_state=1).fit(normalize(x)).labels_
    assert adjusted_rand_score(theirs, ours) == 1.0
    assert adjusted_rand_score(truth, ours) == 1.0


def test_deterministic_per_seed_and_input_type():
    x, _ = _blobs(60, 6, 8, spread=4.0, seed=3)  # overlapping: restarts disagree
    a = kmeans_cosine(x, 6, n_init=5, seed=7)
    b = kmeans_cosine(torch.from_numpy(x).to(torch.bfloat16), 6, n_init=5, seed=7)
    c = kmeans_cosine(torch.from_numpy(x), 6, n_init=5, seed=7)
    assert np.array_equal(a.labels, c.labels) and a.inertia == c.inertia
    assert b.labels.shape == a.labels.shape  # a bf16 embedding is accepted
    others = {tuple(kmeans_cosine(x, 6, n_init=1, seed=s).labels) for s in range(6)}
    assert len(others) > 1  # the seed matters: the test above could fail


def test_restart_groups_bound_memory_and_keep_the_best():
    x, truth = _blobs(50, 4, 6, spread=0.4, seed=5)
    one_group = kmeans_cosine(x, 4, n_init=6, seed=2)
    small = kmeans_cosine(x, 4, n_init=6, seed=2, batch_floats=4 * x.shape[0])  # 1 a group
    assert adjusted_rand_score(truth, small.labels) == 1.0
    assert small.inertia == pytest.approx(one_group.inertia, rel=1e-5)


def test_tolerance_stops_earlier_near_the_same_inertia(dlpfc_features):
    x, k = dlpfc_features
    exact = kmeans_cosine(x, k, n_init=4, seed=3)
    loose = kmeans_cosine(x, k, n_init=4, seed=3, tol=1.0)
    assert loose.n_iter < exact.n_iter
    assert exact.inertia <= loose.inertia <= 1.01 * exact.inertia
    assert loose.inertia == pytest.approx(cosine_inertia(x, loose.labels), rel=1e-4)


def _lloyd_reference(x, centres, max_iter):
    """Plain spherical Lloyd, every centre recomputed from its members at every step, one
    restart at a time, until no label changes (an emptied cluster is re-seeded as in the
    package: its j-th empty cluster at its j-th farthest cell)."""
    labels_all, inertia = [], []
    for c in centres:
        sims = c @ x.T
        best, labels = sims.max(0)
        for _ in range(max_iter):
            sums = torch.zeros_like(c).index_add_(0, labels, x)
            counts = torch.bincount(labels, minlength=c.shape[0])
            empty = (counts == 0).nonzero().squeeze(1).tolist()
            far = torch.argsort(best)
            for slot, j in enumerate(empty):
                sums[j] = x[far[slot]]
            c = F.normalize(sums, dim=1)
            best, new = (c @ x.T).max(0)
            if torch.equal(new, labels):
                break
            labels = new
        labels_all.append(labels)
        inertia.append(float((1 - best.double()).sum()))
    return torch.stack(labels_all), torch.tensor(inertia, dtype=torch.float64)


@pytest.mark.parametrize("running_sums", [True, False])
def test_lloyd_that_updates_only_changed_clusters_matches_plain_lloyd(running_sums):
    """Recomputing only the clusters that gained or lost a cell, with converged restarts set
    aside, reaches the fixed points of plain Lloyd: clustered data, duplicated cells, empty
    clusters (k above the groups)."""
    rng = np.random.default_rng(0)
    for trial, (n, k, d, runs) in enumerate([(400, 5, 8, 12), (1000, 12, 20, 7),
                                             (300, 30, 4, 6), (2000, 3, 100, 1)]):
        groups = rng.integers(0, 6, n)
        x = rng.standard_normal((6, d))[groups] + 0.8 * rng.standard_normal((n, d))
        x[: n // 8] = x[0]  # duplicated cells
        x = F.normalize(torch.as_tensor(x, dtype=torch.float32), dim=1)
        start, sims = kmeanspp(x, k, runs, torch.Generator().manual_seed(trial))
        labels, centres, inertia, _ = _lloyd(x, start, sims, 300, running_sums=running_sums)
        want_labels, want_inertia = _lloyd_reference(x, start, 300)
        assert torch.equal(labels, want_labels)
        torch.testing.assert_close(inertia, want_inertia, rtol=1e-5, atol=1e-4)
        assert torch.isfinite(centres).all()


def test_greedy_seeding_beats_a_random_start():
    """The seeding's centres are cells, distinct, and cover the data better than k cells
    drawn uniformly (the summed distance to the nearest centre)."""
    x, _ = _blobs(30, 8, 5, spread=0.3, seed=9)
    xt = F.normalize(torch.from_numpy(x), dim=1)
    centres, sims = kmeanspp(xt, 8, 10, torch.Generator().manual_seed(0))
    torch.testing.assert_close(sims, centres @ xt.T)
    assert all(torch.unique(c, dim=0).shape[0] == 8 for c in centres)
    seeded = (1 - sims.max(1).values).sum(1).mean()
    gen = torch.Generator().manual_seed(0)
    uniform = torch.stack([xt[torch.randperm(xt.shape[0], generator=gen)[:8]]
                           for _ in range(10)])
    assert seeded < (1 - (uniform @ xt.T).max(1).values).sum(1).mean()


@pytest.mark.parametrize("data", ["baron_pca", "dlpfc_features"])
def test_silhouette_equals_scikit_learn_on_the_same_cells(data, request):
    x, k = request.getfixturevalue(data)
    labels = KMeans(k, n_init=1, random_state=0).fit(normalize(x)).labels_
    cells = silhouette_cells(x.shape[0], 3000)
    assert cells.size == min(3000, x.shape[0]) and np.unique(cells).size == cells.size
    # computed in float64: equal to scikit-learn's in float64, and within scikit-learn's own
    # float32 rounding (up to 2e-5 on tight clusters) of its float32 value
    want = silhouette_score(x[cells].astype(np.float64), labels[cells], metric="cosine")
    assert silhouette(x, labels) == pytest.approx(want, abs=1e-9)
    assert cosine_silhouette(torch.from_numpy(x), torch.from_numpy(labels),
                             cells) == pytest.approx(want, abs=1e-9)
    assert silhouette(x, labels) == pytest.approx(
        silhouette_score(x[cells], labels[cells], metric="cosine"), abs=1e-5)


def test_silhouette_with_singletons_duplicates_and_a_sample():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((500, 7)).astype(np.float32)
    x[10:20] = x[10]  # duplicated cells
    labels = rng.integers(0, 5, 500)
    labels[0], labels[1] = 5, 6  # two singleton clusters
    cells = silhouette_cells(500, 300, seed=3)
    x64 = x.astype(np.float64)
    want = silhouette_score(x64[cells], labels[cells], metric="cosine")
    assert cosine_silhouette(x, labels, cells) == pytest.approx(want, abs=1e-9)
    full = silhouette_score(x64, labels, metric="cosine")
    assert cosine_silhouette(x, labels) == pytest.approx(full, abs=1e-9)
    assert silhouette(x, np.zeros(500, dtype=int)) == -1.0
    assert cosine_silhouette(x[:4], np.arange(4)) == -1.0  # a cluster a cell


def test_silhouette_cells_are_the_same_for_every_candidate():
    assert np.array_equal(silhouette_cells(5000), silhouette_cells(5000))
    assert np.array_equal(np.sort(silhouette_cells(800)), np.arange(800))
    assert not np.array_equal(silhouette_cells(5000, seed=1), silhouette_cells(5000))


class _Devices(TorchDispatchMode):
    """Records the device of every tensor an operation makes."""

    def __init__(self):
        super().__init__()
        self.seen = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.seen |= {t.device.type for t in tree_flatten(out)[0]
                      if isinstance(t, torch.Tensor)}
        return out


def test_cpu_tensors_stay_on_the_cpu():
    x, _ = _blobs(30, 4, 6, spread=0.5, seed=6)
    with _Devices() as seen:
        labels = kmeans_cosine(torch.from_numpy(x), 4, n_init=3, seed=0).labels
        silhouette(torch.from_numpy(x), labels)
    assert seen.seen == {"cpu"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_tensors_are_clustered_on_cuda(dlpfc_features):
    x, k = dlpfc_features
    xc = torch.from_numpy(x).cuda()
    with _Devices() as seen:
        res = kmeans_cosine(xc, k, n_init=10, seed=0)
        score = silhouette(xc, res.labels)
    assert "cuda" in seen.seen
    again = kmeans_cosine(xc, k, n_init=10, seed=0)
    assert np.array_equal(res.labels, again.labels)  # deterministic on the device
    cpu = kmeans_cosine(x, k, n_init=10, seed=0)
    assert res.inertia == pytest.approx(cpu.inertia, rel=0.01)
    assert score == pytest.approx(silhouette(x, res.labels), abs=1e-9)
