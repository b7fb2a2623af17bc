"""Graph construction against brute-force references and hand-checked layouts."""
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import pairwise_distances

from scrcl import graphs


def _brute_knn(x, k, metric):
    d = pairwise_distances(x, metric=metric)
    np.fill_diagonal(d, np.inf)
    return np.argsort(d, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("dim,metric", [(3, "euclidean"), (40, "euclidean"), (40, "cosine")])
def test_knn_matches_brute_force(dim, metric):
    x = np.random.default_rng(0).normal(size=(300, dim))
    got = graphs.knn_indices(x, 7, metric)
    want = _brute_knn(x, 7, metric)
    assert np.array_equal(np.sort(got, 1), np.sort(want, 1))


def test_knn_blocks_give_the_same_answer(monkeypatch):
    x = np.random.default_rng(1).normal(size=(257, 30))
    full = graphs.knn_indices(x, 5)
    monkeypatch.setattr(graphs, "_BLOCK_BYTES", 8 * 257 * 10)  # 10 rows per block
    assert np.array_equal(graphs.knn_indices(x, 5), full)


def test_adjacency_is_binary_symmetric_without_self_loops():
    x = np.random.default_rng(2).normal(size=(100, 5))
    a = graphs.cell_graph(x, 15)
    assert sp.issparse(a)
    assert (a != a.T).nnz == 0
    assert a.diagonal().sum() == 0
    assert set(np.unique(a.data)) == {1.0}
    # each cell keeps its 14 nearest others (scanpy counts the cell itself among 15)
    assert np.asarray(a.sum(1)).min() >= 14


def test_normalized_adjacency_on_a_path():
    a = sp.csr_matrix(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=float))
    s = graphs.normalized_adjacency(a).toarray()
    d = np.array([2, 3, 2])  # degrees of A + I
    want = (a.toarray() + np.eye(3)) / np.sqrt(np.outer(d, d))
    assert np.allclose(s, want)


def test_smooth_applies_the_operator_t_times():
    rng = np.random.default_rng(3)
    x = rng.random((50, 6)).astype(np.float32)
    a = graphs.spatial_graph(rng.random((50, 2)), 4)
    s = graphs.normalized_adjacency(a).toarray()
    assert np.allclose(graphs.smooth(x, a, 3), s @ s @ s @ x, atol=1e-5)
    assert graphs.smooth(x, a, 0) is x


def test_hexagonal_grid_has_six_neighbours_inside():
    rows, cols = np.meshgrid(np.arange(12), np.arange(12), indexing="ij")
    xy = np.c_[cols.ravel() + 0.5 * (rows.ravel() % 2), rows.ravel() * np.sqrt(3) / 2]
    a = graphs.spatial_graph(xy, 6)
    deg = np.asarray(a.sum(1)).ravel()
    # border spots reach two rings in for their 6th neighbour; away from them, exactly 6
    r, c = rows.ravel(), cols.ravel()
    interior = (r >= 3) & (r <= 8) & (c >= 3) & (c <= 8)
    assert np.all(deg[interior] == 6)


def test_gene_graph_counts_the_gene_itself():
    profiles = np.random.default_rng(4).random((40, 25))
    b = graphs.gene_graph(profiles, k=5)  # 4 nearest other genes, then symmetrised
    assert np.asarray(b.sum(1)).min() >= 4
    assert b.diagonal().sum() == 0


def test_gene_graph_from_the_gram_matrix_equals_the_dense_search():
    """On real counts (Baron_mouse1, 2,000 variable genes): the same gene graph from the
    sparse Gram matrix as from the dense (G, N) profiles."""
    import anndata as ad

    from _shared_data import shared_file
    from scrcl.data.preprocess import log_normalize, select_hvg

    counts = sp.csr_matrix(ad.read_h5ad(shared_file("substitutes/scdata/Baron_mouse1.h5ad")).X,
                           dtype=np.float32)
    counts = counts[:, np.bincount(counts.indices, minlength=counts.shape[1]) > 0]
    x = counts[:, select_hvg(log_normalize(counts), 2000)].tocsr()
    for k in (5, 10):
        dense = graphs.gene_graph(x.T.toarray(), k)
        sparse = graphs.gene_graph_sparse(x, k)
        assert (dense != sparse).nnz == 0 and dense.nnz > 0


@pytest.mark.slow
def test_graphs_and_batches_at_22000_real_cells():
    """Preparation above the sizes where scanpy's neighbours broke and where the sparse
    gene graph and the default mini-batches start: 22,000 CITE-seq cells resampled with
    replacement, counts thinned so that no two are copies."""
    import anndata as ad

    from _shared_data import shared_file
    from scrcl.data.preprocess import SPARSE_GENE_GRAPH_MIN_CELLS, prepare_sc
    from scrcl.training.minibatch import MINIBATCH_CELLS, batch_plan

    src = ad.read_h5ad(shared_file("substitutes/scdata/CITE_CBMC_top2000.h5ad"))
    rng = np.random.default_rng(0)
    x = sp.csr_matrix(src.X, dtype=np.float32)[rng.integers(0, src.n_obs, 22_000)]
    x.data = rng.binomial(x.data.astype(np.int64), 0.9).astype(np.float32)
    x.eliminate_zeros()
    data = prepare_sc(ad.AnnData(x), hvg=1500, k=15, tms=(5, 0))
    n = data.n_cells
    assert n >= SPARSE_GENE_GRAPH_MIN_CELLS
    a = data.cell_adj
    assert (a != a.T).nnz == 0 and a.diagonal().sum() == 0
    assert np.diff(a.indptr).min() >= 14  # k - 1 nearest others, plus those who chose it
    assert data.graph_features.shape == (n, 50)  # the graph is built on 50 PCs here
    g = data.gene_adj
    assert g.shape == (1500, 1500) and (g != g.T).nnz == 0 and np.diff(g.indptr).min() >= 4
    plan = batch_plan(data, None)
    assert plan is not None and plan.n_batches == -(-n // MINIBATCH_CELLS)
    assert plan.edges_kept() > 0.6
