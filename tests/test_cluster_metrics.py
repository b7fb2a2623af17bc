"""k-means and the accuracy metrics on hand-made cases."""
import numpy as np
import pytest

from scrcl import metrics
import torch

from scrcl.clustering.kmeans import centroid_sums, kmeans_cosine


def _directions(seed=0, per=40):
    rng = np.random.default_rng(seed)
    centres = np.eye(4)[:, :4] * 10 + 1
    x = np.concatenate([c + rng.normal(scale=0.3, size=(per, 4)) for c in centres])
    truth = np.repeat(np.arange(4), per)
    return x, truth


def test_kmeans_recovers_separated_directions():
    x, truth = _directions()
    res = kmeans_cosine(x, 4, n_init=5, seed=0)
    assert metrics.ari(truth, res.labels) == 1.0
    assert np.isfinite(res.centroids).all()


def test_kmeans_is_deterministic_per_seed():
    x = np.random.default_rng(1).normal(size=(200, 6))
    a = kmeans_cosine(x, 5, n_init=3, seed=7).labels
    b = kmeans_cosine(x, 5, n_init=3, seed=7).labels
    assert np.array_equal(a, b)


def test_kmeans_no_nan_when_clusters_empty():
    # 3 distinct directions, asked for 6 clusters: some clusters must be re-seeded
    x = np.repeat(np.eye(3), 10, axis=0)
    res = kmeans_cosine(x, 6, n_init=2, seed=0)
    assert np.isfinite(res.centroids).all()
    assert res.labels.min() >= 0 and res.labels.max() < 6


def test_centroid_sums_match_a_dense_reference_and_the_scatter_form():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(300, 17, generator=gen)
    labels = torch.randint(0, 6, (4, 300), generator=gen)
    labels[2] = 0  # a restart with five empty clusters
    sums = centroid_sums(x, labels, 6)
    onehot = torch.nn.functional.one_hot(labels, 6).double()  # (R, N, k)
    dense = torch.einsum("rnk,nd->rkd", onehot, x.double())
    np.testing.assert_allclose(sums.double().numpy(), dense.numpy(), rtol=1e-5, atol=1e-5)
    assert (sums[2, 1:] == 0).all()
    # the form used before (one scatter over the (R, N, d) expansion): the same bits, so
    # results stored with it stay valid
    r, n, d = 4, 300, 17
    old = torch.zeros(r, 6, d).scatter_add_(1, labels.unsqueeze(2).expand(r, n, d),
                                            x.expand(r, n, d))
    assert torch.equal(sums, old)


def test_kmeans_rejects_k_above_n():
    with pytest.raises(ValueError):
        kmeans_cosine(np.ones((3, 2)), 4)


def test_metrics_on_a_relabelled_perfect_clustering():
    truth = np.array(["a", "a", "b", "b", "c", "c"])
    pred = np.array([2, 2, 0, 0, 1, 1])
    before = pred.copy()
    assert metrics.evaluate(truth, pred) == {"acc": 1.0, "nmi": 1.0, "ari": 1.0, "f1": 1.0}
    assert np.array_equal(pred, before)  # predictions are never modified


def test_acc_by_hand_with_more_clusters_than_classes():
    truth = np.array([0, 0, 0, 1, 1, 1])
    pred = np.array([0, 0, 1, 2, 2, 2])  # cluster 1 is left unmatched
    assert metrics.accuracy(truth, pred) == pytest.approx(5 / 6)
    # class 0: precision 1, recall 2/3 -> F1 0.8; class 1: F1 1
    assert metrics.f1_macro(truth, pred) == pytest.approx(0.9)


def test_acc_by_hand_with_fewer_clusters_than_classes():
    truth = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 0, 0, 0, 1, 1])
    assert metrics.accuracy(truth, pred) == pytest.approx(4 / 6)
    # matched: cluster 0 -> class 0 (or 1), cluster 1 -> class 2; one class gets nothing
    assert metrics.f1_macro(truth, pred) == pytest.approx((2 / 3 + 0 + 1) / 3)


def test_nmi_is_arithmetic_and_ari_by_hand():
    truth = [0, 0, 1, 1]
    pred = [0, 0, 0, 1]
    # H(T) = ln 2, H(P) = -(3/4 ln 3/4 + 1/4 ln 1/4), I = H(T) + H(P) - H(T,P)
    ht = np.log(2)
    hp = -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))
    htp = -(0.5 * np.log(0.5) + 2 * 0.25 * np.log(0.25))
    assert metrics.nmi(truth, pred) == pytest.approx((ht + hp - htp) / ((ht + hp) / 2))
    # pairs: 6; same-truth pairs 2, same-pred pairs 3, both 1 -> ARI = (1 - 1) / (2.5 - 1)
    assert metrics.ari(truth, pred) == pytest.approx(0.0)


def test_most_stable_partition_skips_passing_outliers():
    from scrcl.clustering.selection import candidate_epochs, most_stable_partition

    good = np.repeat(np.arange(3), 10)
    near = good.copy()
    near[0] = 1
    outlier = np.tile(np.arange(3), 10)
    # a run of good partitions with an outlier at the end: a good one inside the run wins
    seq = [near, good, good.copy(), near.copy(), outlier]
    assert most_stable_partition(seq, reach=1) == 2  # ties between 1 and 2: the later
    assert most_stable_partition([outlier, good, good.copy(), good.copy()], reach=2) == 3
    assert candidate_epochs(500, 10) == list(range(10, 501, 10))
    assert candidate_epochs(7, 5) == [5, 7]
    assert candidate_epochs(30, 10, first=3) == [1, 2, 3, 10, 20, 30]
    assert candidate_epochs(4, 10, first=9) == [1, 2, 3, 4]  # no more than the epochs
    assert candidate_epochs(500, 10, window=30) == [480, 490, 500]


def test_silhouette_prefers_the_true_partition():
    from scrcl.clustering.selection import silhouette

    x, truth = _directions(seed=3)
    shuffled = np.random.default_rng(0).permutation(truth)
    assert silhouette(x, truth) > 0.8 > silhouette(x, shuffled)
    assert silhouette(x, np.zeros_like(truth)) == -1.0


def test_metrics_agree_with_the_benchmarks_independent_implementation():
    """bench/_common.py computes the same metrics its own way (written separately)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    import _common

    rng = np.random.default_rng(0)
    for n_classes, n_clusters in [(5, 5), (4, 7), (8, 3)]:
        truth = rng.integers(0, n_classes, 300)
        pred = np.where(rng.random(300) < 0.6, truth % n_clusters, rng.integers(0, n_clusters, 300))
        ours = metrics.evaluate(truth, pred)
        theirs = _common.all_metrics(truth, pred)
        assert ours["acc"] == pytest.approx(theirs["ACC"])
        assert ours["nmi"] == pytest.approx(theirs["NMI"])
        assert ours["ari"] == pytest.approx(theirs["ARI"])
        assert ours["f1"] == pytest.approx(theirs["F1"])


def test_indicator_matrix_gives_the_co_association_matrix():
    from scrcl.clustering.consensus import indicator_matrix

    parts = [np.array([0, 0, 1, 1, 2]), np.array([5, 5, 5, 7, 7]), np.array([1, 0, 1, 0, 1])]
    h = indicator_matrix(parts).toarray()
    assert h.shape == (5, 3 + 2 + 2) and (h.sum(1) == 3).all()
    dense = np.array([[np.mean([p[i] == p[j] for p in parts]) for j in range(5)]
                      for i in range(5)])
    np.testing.assert_allclose(h @ h.T / 3, dense)


def test_consensus_takes_the_majority_of_the_partitions():
    from scrcl.clustering.consensus import consensus_partition

    truth = np.repeat([0, 1, 2], 20)
    rng = np.random.default_rng(0)
    parts = []
    for s in range(5):  # each partition relabelled and with 4 cells moved at random
        p = (truth + s) % 3
        moved = rng.choice(truth.size, 4, replace=False)
        p[moved] = rng.integers(0, 3, 4)
        parts.append(p)
    assert all(metrics.ari(truth, p) < 1 for p in parts)
    for method in ("average", "kmeans"):
        assert metrics.ari(truth, consensus_partition(parts, 3, method=method)) == 1.0
    with pytest.raises(ValueError):
        consensus_partition([np.zeros(3), np.zeros(4)], 2)
    with pytest.raises(ValueError, match="unknown consensus method"):
        consensus_partition(parts, 3, method="ward")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_average_linkage_of_weighted_points_matches_scipy_on_the_cells(seed):
    """The fragment-level agglomeration against scipy's average linkage of the cells
    themselves (each fragment repeated by its weight, distance 0 inside a fragment)."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    from scrcl.clustering.consensus import average_linkage_cut

    rng = np.random.default_rng(seed)
    f = 25
    points = rng.normal(size=(f, 3))
    dist = np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1))  # no ties
    weights = rng.integers(1, 6, f)
    cells = np.repeat(np.arange(f), weights)
    cell_dist = dist[cells][:, cells]
    tree = linkage(squareform(cell_dist, checks=False), "average")
    for k in (1, 2, 4, 7, 25):
        theirs = fcluster(tree, k, "maxclust")
        ours = average_linkage_cut(dist, weights, k)
        assert len(np.unique(ours)) == k
        assert metrics.ari(theirs, ours[cells]) == 1.0


def test_many_fragments_fall_back_to_kmeans_in_the_pipeline(monkeypatch):
    """Seeds that split the cells into more groups than average linkage takes (memory
    O(F^2)) get the k-means consensus, and the result says which was used."""
    from scrcl.clustering import consensus
    from scrcl.config import ScrclConfig
    from scrcl.pipeline import RunResult, SeedRun, add_consensus

    truth = np.repeat([0, 1, 2], 20)
    rng = np.random.default_rng(0)
    parts = [np.where(rng.random(60) < 0.1, rng.integers(0, 3, 60), truth) for _ in range(3)]
    runs = [SeedRun(s, p, np.zeros((60, 2)), 10, 1.0) for s, p in enumerate(parts)]
    assert consensus.consensus_method_for(parts) == "average"
    result = RunResult("final", 3, ScrclConfig(), runs, "cpu")
    add_consensus(result, truth)
    assert result.consensus_method == "average" and result.consensus_scores["ari"] > 0.75
    n_groups = consensus.fragments(parts)[0].shape[0]
    monkeypatch.setattr(consensus, "MAX_FRAGMENTS", n_groups - 1)
    with pytest.raises(ValueError, match="use method='kmeans'"):
        consensus.consensus_partition(parts, 3)
    result = RunResult("final", 3, ScrclConfig(), runs, "cpu")
    add_consensus(result, truth)
    assert result.consensus_method == "kmeans" and result.consensus_scores["ari"] > 0.75
    np.testing.assert_array_equal(result.consensus,
                                  consensus.consensus_partition(parts, 3, method="kmeans"))
    monkeypatch.setattr(consensus, "MAX_KMEANS_BYTES", 10)  # nor k-means: no consensus
    result = RunResult("final", 3, ScrclConfig(), runs, "cpu")
    add_consensus(result, truth)
    assert result.consensus is None and result.consensus_method is None


def test_consensus_only_from_three_label_free_seeds():
    from scrcl.config import ScrclConfig
    from scrcl.pipeline import RunResult, SeedRun, add_consensus

    parts = [np.repeat([0, 1], 5), np.repeat([1, 0], 5), np.repeat([0, 1], 5)]
    runs = [SeedRun(s, p, np.zeros((10, 2)), 10, 1.0) for s, p in enumerate(parts)]
    for protocol, n_runs, made in (("final", 3, True), ("final", 2, False),
                                   ("oracle", 3, False)):
        result = RunResult(protocol, 2, ScrclConfig(), runs[:n_runs], "cpu")
        add_consensus(result)
        assert (result.consensus is not None) == made, (protocol, n_runs)


def test_consensus_ignores_the_order_and_numbering_of_the_partitions():
    """Ties are broken by the cells' order, not by the partitions': the same consensus
    whatever the order of the seeds and the numbering of their clusters."""
    from scrcl.clustering.consensus import consensus_partition

    rng = np.random.default_rng(3)
    truth = rng.integers(0, 6, 400)
    parts = [np.where(rng.random(400) < 0.3, rng.integers(0, 6, 400), truth)
             for _ in range(5)]
    reference = consensus_partition(parts, 6)
    for trial in range(4):
        order = rng.permutation(5)
        shuffled = [rng.permutation(6)[parts[i]] for i in order]
        np.testing.assert_array_equal(consensus_partition(shuffled, 6), reference)


def test_light_clusters_do_not_count_towards_k():
    """Two groups of 4 points and one far outlier: cut at 2 clusters, the outlier would be
    one of them; with a floor of 2 points the cut keeps both groups and labels it -1,
    and the consensus joins such a cluster to its nearest group."""
    from scrcl.clustering.consensus import average_linkage_cut, consensus_partition

    x = np.array([0, 0.1, 0.2, 0.3, 5, 5.1, 5.2, 5.3, 50.0])
    dist = np.abs(x[:, None] - x[None])
    ones = np.ones(9)
    np.testing.assert_array_equal(average_linkage_cut(dist, ones, 2), [0] * 8 + [1])
    np.testing.assert_array_equal(average_linkage_cut(dist, ones, 2, min_size=2),
                                  [0] * 4 + [1] * 4 + [-1])
    # five partitions of 40 cells: cells 1-19 (A) and 20-39 (B), together in two of the
    # partitions (distance 3/5), and cell 0 alone in every one (distance 1 to all)
    parts = []
    for s in range(5):
        p = np.repeat([1, 2], 20)
        if s < 2:
            p[20:] = 1
        p[0] = 0
        parts.append(p)
    plain = consensus_partition(parts, 2, min_size=1)
    assert np.bincount(plain).min() == 1  # the usual cut isolates cell 0
    floored = consensus_partition(parts, 2)
    np.testing.assert_array_equal(floored, np.repeat([0, 1], 20))


def test_average_linkage_consensus_by_hand():
    """Three partitions of six cells: fragments {0,1}, {2}, {3}, {4,5}. Co-association
    distances: d({0,1},{2}) = 1/3, d({3},{4,5}) = 1/3, every other pair >= 2/3, so the
    two-cluster cut is {0,1,2} | {3,4,5}, and with one more merge all cells are together."""
    from scrcl.clustering.consensus import consensus_partition, coassociation_distance, fragments

    parts = [np.array([0, 0, 0, 1, 1, 1]), np.array([0, 0, 1, 1, 2, 2]),
             np.array([3, 3, 3, 4, 4, 4])]
    tuples, member = fragments(parts)
    assert tuples.shape[0] == 4 and member[0] == member[1] and member[4] == member[5]
    d = coassociation_distance(tuples)
    assert d[member[0], member[2]] == pytest.approx(1 / 3)
    assert d[member[3], member[4]] == pytest.approx(1 / 3)
    assert d[member[0], member[4]] == pytest.approx(1.0)
    np.testing.assert_array_equal(consensus_partition(parts, 2), [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(consensus_partition(parts, 1), np.zeros(6))
    np.testing.assert_array_equal(consensus_partition(parts[:1], 2), [0, 0, 0, 1, 1, 1])
