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


def test_clustering_input_by_hand():
    """'z' concatenates z1, z2 as they are; 'h' normalises each view's hidden rows to unit
    length first (checked on rows whose norms are easy: 3-4-5)."""
    import torch

    from scrcl.pipeline import clustering_input

    out = {"z1": torch.tensor([[1.0, 0.0]]), "z2": torch.tensor([[0.0, 1.0]]),
           "h1": torch.tensor([[3.0, 4.0, 0.0]]), "h2": torch.tensor([[0.0, 0.0, -2.0]])}
    assert clustering_input(out).tolist() == [[1.0, 0.0, 0.0, 1.0]]
    h = clustering_input(out, "h")
    assert torch.allclose(h, torch.tensor([[0.6, 0.8, 0.0, 0.0, 0.0, -1.0]]))
    # written in place, bit for bit the concatenation of the normalised views (bf16 too)
    gen = torch.Generator().manual_seed(0)
    big = {"h1": torch.randn(50, 7, generator=gen).bfloat16(),
           "h2": torch.randn(50, 5, generator=gen)}
    reference = torch.cat([torch.nn.functional.normalize(big[v].float(), dim=1)
                           for v in ("h1", "h2")], dim=1)
    assert torch.equal(clustering_input(big, "h"), reference)
    with pytest.raises(ValueError, match="unknown embedding"):
        clustering_input(out, "e")


def test_the_hidden_embedding_is_clustered_from_the_same_training():
    """embedding='h' changes what is clustered, not the model: same losses, seed for seed,
    and the embedding written is [e1, e2] (2 x hid_dim wide, unit rows per view)."""
    runs = {}
    for embedding in ("z", "h"):
        adata = synthetic_counts(n_cells=90, n_genes=150, n_types=3, seed=1)
        result = scrcl.tl.cluster_cells(adata, n_clusters=3, seeds=[5],
                                        config=SMALL.replace(embedding=embedding),
                                        progress=False)
        runs[embedding] = (result, adata.obsm["X_scrcl"])
    (rz, ez), (rh, eh) = runs["z"], runs["h"]
    assert rz.runs[0].losses == rh.runs[0].losses
    assert ez.shape == (90, 6) and eh.shape == (90, 2 * SMALL.hid_dim)
    norms = np.linalg.norm(eh.reshape(90, 2, SMALL.hid_dim), axis=2)
    assert np.allclose(norms, 1.0, atol=1e-5)
    assert rh.config.embedding == "h" and rh.runs[0].labels.shape == (90,)


def test_only_the_first_seed_keeps_its_embedding_and_it_is_the_one_written():
    """[e1, e2] is 2H wide: a run keeps the chosen embedding of its first seed (written to
    obsm['X_scrcl']) and none of the others; their partitions are all kept."""
    adata = synthetic_counts(n_cells=90, n_genes=150, n_types=3, seed=1)
    result = scrcl.tl.cluster_cells(adata, n_clusters=3, seeds=[5, 6, 7], config=SMALL,
                                    progress=False)
    first, *others = result.runs
    assert first.embedding.shape == (90, 2 * SMALL.hid_dim)
    assert np.array_equal(adata.obsm["X_scrcl"], first.embedding)
    assert all(r.embedding is None and r.labels.shape == (90,) for r in others)
    alone = synthetic_counts(n_cells=90, n_genes=150, n_types=3, seed=1)
    scrcl.tl.cluster_cells(alone, n_clusters=3, seeds=[5], config=SMALL, progress=False)
    assert np.array_equal(alone.obsm["X_scrcl"], first.embedding)  # seed 5's, as if alone
