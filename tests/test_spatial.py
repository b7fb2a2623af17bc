"""Spatial pieces with answers known by hand: hexagonal grid, drawn refinement layout, the
tiny real Visium folder, both positions formats, the EEE mixture, Leiden, preparation."""
import shutil

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.metrics import adjusted_rand_score

from scrcl import graphs
from scrcl.data import spatial as st
from scrcl.errors import ScrclInputError
from scrcl.clustering.leiden import leiden_k
from scrcl.clustering.mixture import gmm_eee
from scrcl.clustering.spatial_smoothing import majority_vote, neighbour_table, refine_labels

from _shared_data import shared_file


def hex_grid(rows: int, cols: int):
    """Visium layout: array_col has the parity of array_row; x = col, y = row * sqrt(3), so
    the six ring-one neighbours are all at distance 2 and the next ring at 2 sqrt(3)."""
    rc = np.array([(r, c) for r in range(rows) for c in range(2 * cols) if (r + c) % 2 == 0])
    return rc, np.column_stack([rc[:, 1], rc[:, 0] * np.sqrt(3)])


def test_hex_grid_interior_spots_have_six_neighbours():
    rc, xy = hex_grid(16, 16)
    adj = graphs.spatial_graph(xy, 6)
    assert (adj != adj.T).nnz == 0 and adj.diagonal().sum() == 0
    index = {tuple(p): i for i, p in enumerate(rc)}
    ring = [(0, -2), (0, 2), (-1, -1), (-1, 1), (1, -1), (1, 1)]
    # edge spots borrow second-ring neighbours, which can reach 3 rows / 4 columns inward
    interior = [i for i, (r, c) in enumerate(rc) if 3 <= r <= 12 and 5 <= c <= 26]
    assert len(interior) > 100
    for i in interior:
        r, c = rc[i]
        assert set(adj[i].indices) == {index[(r + dr, c + dc)] for dr, dc in ring}
    assert np.all(np.diff(adj.indptr)[interior] == 6)


def test_refinement_flips_exactly_the_expected_spots():
    # three far-apart squares of 4 spots; radius 3 = the other 3 spots of the own square
    square = np.array([(0, 0), (1, 0), (0, 1), (1, 1)], dtype=float)
    coords = np.concatenate([square, square + (10, 0), square + (0, 10)])
    labels = np.array([0, 0, 0, 1,   # lone 1 among 0s: flips to 0
                       1, 1, 0, 0,   # each spot sees two of the other label: all four swap
                       2, 2, 2, 2])  # uniform: unchanged
    before = labels.copy()
    refined = refine_labels(labels, coords, 3)
    assert refined.tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 2, 2]
    assert np.array_equal(labels, before)  # the input is not modified
    assert np.array_equal(refine_labels(labels, coords, 0), labels)


def test_refinement_excludes_the_spot_itself_and_keeps_own_label_on_ties():
    coords = np.array([[0.0], [1.0], [2.0]])
    table = neighbour_table(np.column_stack([coords, np.zeros(3)]), 2)
    assert all(i not in row for i, row in enumerate(table))
    # spot 1 sees labels 0 and 2 (tie, own label 1 not among them): the smallest, 0;
    # spot 2 sees 1 and 0 (tie): 0; spot 0 sees 1 and 2 (tie): 1
    assert majority_vote(np.array([0, 1, 2]), table).tolist() == [1, 0, 0]


def test_refinement_on_hex_grid_removes_salt():
    rc, xy = hex_grid(12, 12)
    labels = (xy[:, 0] >= 12).astype(int)  # left 0, right 1
    index = {tuple(p): i for i, p in enumerate(rc)}
    salt = [index[(6, 4)], index[(5, 19)]]
    labels[salt] = 1 - labels[salt]
    refined = refine_labels(labels, xy, 6)
    changed = np.flatnonzero(refined != labels)
    # edge spots take second-ring neighbours chosen among ties; look away from the edges
    inner = [i for i, (r, c) in enumerate(rc) if 2 <= r <= 9 and 3 <= c <= 20]
    assert sorted(set(changed) & set(inner)) == sorted(salt)


def test_visium_tiny_reads_100_spots_100_genes_with_coordinates():
    folder = shared_file("formats/visium_tiny")
    adata = st.read_visium(folder)
    assert adata.shape == (100, 100)
    xy = adata.obsm["spatial"]
    assert xy.shape == (100, 2) and np.all(np.isfinite(xy))
    i = list(adata.obs_names).index("AAACAAGTATCTCCCA-1")
    assert xy[i].tolist() == [9811, 8513]  # (pxl_col, pxl_row) of its positions row
    lib = next(iter(adata.uns["spatial"].values()))
    assert lib["images"]["lowres"].ndim == 3
    assert lib["scalefactors"]["tissue_lowres_scalef"] == pytest.approx(0.045004502)
    assert not st.is_processed(adata.X)


def test_spaceranger_1_and_2_positions_files_agree(tmp_path):
    src = shared_file("formats/visium_tiny")
    v1 = st.read_positions(src / "spatial")
    folder = tmp_path / "v2"
    (folder / "spatial").mkdir(parents=True)
    shutil.copy(src / "filtered_feature_bc_matrix.h5", folder)
    text = (src / "spatial" / "tissue_positions_list.csv").read_text()
    header = "barcode," + ",".join(st.POSITION_COLUMNS) + "\n"
    (folder / "spatial" / "tissue_positions.csv").write_text(header + text)
    v2 = st.read_positions(folder / "spatial")
    pd.testing.assert_frame_equal(v1, v2)
    assert len(v1) == 4992 and v1.loc["AAACAAGTATCTCCCA-1", "array_col"] == 102
    a1, a2 = st.read_visium(src), st.read_visium(folder)
    assert np.array_equal(a1.obsm["spatial"], a2.obsm["spatial"])


def test_missing_positions_is_a_clean_error(tmp_path):
    (tmp_path / "spatial").mkdir()
    with pytest.raises(ScrclInputError, match="tissue_positions"):
        st.read_positions(tmp_path / "spatial")


def test_gmm_recovers_three_separated_blobs_exactly():
    rng = np.random.default_rng(0)
    shared = np.array([[1.0, 0.6], [0.6, 0.5]])  # one full covariance, as EEE assumes
    centres = np.array([[0, 0], [12, 0], [0, 12]])
    x = np.concatenate([rng.multivariate_normal(c, shared, 150) for c in centres])
    truth = np.repeat([0, 1, 2], 150)
    labels = gmm_eee(x, 3, seed=5)
    assert adjusted_rand_score(truth, labels) == 1.0
    assert np.array_equal(labels, gmm_eee(x, 3, seed=5))  # deterministic per seed


def test_tied_mixture_is_scikit_learns_bit_for_bit():
    """The E-step that forms x L once gives scikit-learn's log-densities, fit and labels
    exactly (many components, as on Mouse_Brain_Anterior: K = 52 there)."""
    from sklearn.mixture import GaussianMixture

    from scrcl.clustering.mixture import TiedGaussianMixture

    assert "_estimate_log_prob" in vars(GaussianMixture)  # the hook the faster E-step uses
    rng = np.random.default_rng(3)
    x = rng.normal(size=(12, 20))[rng.integers(0, 12, 600)] + rng.normal(size=(600, 20))
    settings = dict(max_iter=200, reg_covar=1e-6, init_params="kmeans", random_state=5)
    ours = TiedGaussianMixture(12, **settings)
    theirs = GaussianMixture(12, covariance_type="tied", **settings)
    assert np.array_equal(ours.fit_predict(x), theirs.fit_predict(x))
    assert ours.n_iter_ == theirs.n_iter_ > 1 and ours.lower_bound_ == theirs.lower_bound_
    assert np.array_equal(ours.means_, theirs.means_)
    assert np.array_equal(ours._estimate_log_prob(x), theirs._estimate_log_prob(x))
    assert np.array_equal(ours.predict_proba(x), theirs.predict_proba(x))


def test_gmm_fits_on_one_thread_whatever_the_process_allows(monkeypatch):
    """The mixture's BLAS and OpenMP run on one thread inside gmm_eee (faster for its small
    products and the same partition at any thread count), and the labels are those of
    scikit-learn's tied mixture fitted on one thread."""
    from sklearn.mixture import GaussianMixture
    from threadpoolctl import threadpool_info, threadpool_limits

    from scrcl.clustering import mixture

    seen = []
    fit_predict = mixture.TiedGaussianMixture.fit_predict

    def spy(self, x, y=None):
        seen.extend(lib["num_threads"] for lib in threadpool_info())
        return fit_predict(self, x, y)

    monkeypatch.setattr(mixture.TiedGaussianMixture, "fit_predict", spy)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(6, 30))[rng.integers(0, 6, 400)] + rng.normal(size=(400, 30))
    with threadpool_limits(limits=2):
        before = [lib["num_threads"] for lib in threadpool_info()]
        labels = gmm_eee(x, 6, seed=2)
        after = [lib["num_threads"] for lib in threadpool_info()]
    assert seen and set(seen) == {1}
    assert after == before  # the caller's setting is given back
    with threadpool_limits(limits=1):
        theirs = GaussianMixture(6, covariance_type="tied", reg_covar=1e-6, max_iter=500,
                                 init_params="kmeans", random_state=2).fit_predict(x)
    assert adjusted_rand_score(theirs, labels) == 1.0
    assert np.array_equal(labels, gmm_eee(x, 6, seed=2))


def test_leiden_search_hits_k():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(c, 0.3, size=(80, 4)) for c in (0, 4, 8)])
    labels = leiden_k(x, 3, seed=0)
    assert adjusted_rand_score(np.repeat([0, 1, 2], 80), labels) == 1.0


def test_processed_detection():
    assert st.is_processed(np.array([[0.5, 1.0]]))
    assert st.is_processed(np.array([[-1.0, 2.0]]))
    assert not st.is_processed(sp.csr_matrix(np.array([[0.0, 3.0], [1.0, 0.0]])))


def test_seurat_v3_picks_overdispersed_genes():
    rng = np.random.default_rng(2)
    means = np.exp(rng.uniform(-1, 2, size=60))
    counts = rng.poisson(means, size=(400, 60)).astype(np.float32)
    wild = [7, 21, 42]  # negative binomial, much more variable than Poisson at their mean
    counts[:, wild] = rng.negative_binomial(0.3, 0.3 / (0.3 + 3.0), size=(400, 3))
    selected = st.seurat_v3_hvg(sp.csr_matrix(counts), 3)
    assert selected.tolist() == wild


def test_prepare_st_on_counts_and_on_processed_values():
    adata = st.read_visium(shared_file("formats/visium_tiny"))
    prep = st.prepare_st(adata, hvg=20, k=6, tms=(0, 1))
    assert prep.x1.shape == (100, 20) and prep.cell_adj.shape == (100, 100)
    assert 0 <= prep.x1.min() and prep.x1.max() <= 10
    assert prep.gene_adj.shape == (20, 20)
    pcs = ad.AnnData(np.random.default_rng(3).normal(size=(100, 8)).astype(np.float32),
                     obsm={"spatial": adata.obsm["spatial"]})
    prep = st.prepare_st(pcs, hvg=3000, k=6, tms=(0, 2))
    assert np.array_equal(prep.x1, pcs.X)  # used as it is
    assert prep.n_genes == 8
    assert not np.allclose(prep.x2, pcs.X)  # smoothed on the spatial graph


def test_benchmark_missing_file_names_where_and_source(tmp_path):
    with pytest.raises(ScrclInputError) as err:
        st.resolve_st("151507", tmp_path)
    msg = str(err.value)
    assert "\n" not in msg
    assert str(tmp_path / "stdata" / "DLPFC" / "151507" / "filtered_feature_bc_matrix.h5") in msg
    assert "spatialLIBD" in msg
    with pytest.raises(ScrclInputError, match="MOSTA"):
        st.resolve_st("Mouse_Embryo_E9.5", tmp_path)
