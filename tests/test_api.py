"""The Python API as the README shows it: AnnData in, clusters and embedding written into it."""
from __future__ import annotations

import numpy as np
import pytest

import scrcl.tl
from scrcl.config import default_config
from scrcl.data.synthetic import synthetic_counts

SMALL = default_config("SC").replace(hvg=100, hid_dim=32, epochs=3)


@pytest.mark.parametrize("cluster", ["kmeans", "leiden"])
def test_cluster_cells_writes_into_the_anndata(cluster):
    adata = synthetic_counts(n_cells=90, n_genes=150, n_types=3, seed=1)
    result = scrcl.tl.cluster_cells(adata, n_clusters=3, seeds=[5], config=SMALL,
                                    progress=False, cluster=cluster)
    assert result.n_clusters == 3 and result.protocol == "final"
    labels = adata.obs["scrcl"]
    assert labels.dtype == "category" and labels.notna().all()
    assert labels.nunique() == 3  # k-means and Leiden at K both give K clusters
    assert np.array_equal(adata.obs["scrcl_seed5"].astype(int), result.runs[0].labels)
    assert adata.obsm["X_scrcl"].shape[0] == adata.n_obs
    assert adata.uns["scrcl"]["n_clusters"] == 3


def test_cluster_cells_rejects_an_unknown_clustering():
    adata = synthetic_counts(n_cells=60, n_genes=150, n_types=3, seed=2)
    with pytest.raises(ValueError, match="unknown clustering 'dbscan'"):
        scrcl.tl.cluster_cells(adata, n_clusters=3, seeds=[5], config=SMALL, progress=False,
                               cluster="dbscan")


def test_n_clusters_auto_finds_the_planted_types_on_the_pca_graph():
    """--n-clusters auto: Leiden on the 15-NN graph of 50 PCs of the expression finds the
    demo's 4 planted types, and says where K came from."""
    adata = synthetic_counts(n_cells=300, n_genes=200, n_types=4, seed=3)
    del adata.obs["cell_type1"]
    result = scrcl.tl.cluster_cells(adata, n_clusters="auto", seeds=[5], config=SMALL,
                                    progress=False)
    assert result.n_clusters == 4
    assert "15-NN graph of 50 principal components" in result.k_source
