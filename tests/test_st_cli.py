"""runST.py end to end: the output contract, error lines, labels never steering the result."""
import json
import subprocess
import sys

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from _shared_data import REPO, shared_file
from scrcl.cli import st as st_cli

FAST = ["--epochs", "3", "--seeds", "5", "--hid-dim", "64", "--quiet"]


@pytest.mark.slow
def test_runst_on_a_dlpfc_stand_in_writes_the_contract(tmp_path):
    path = shared_file("stdata_pca/151507.h5ad")
    proc = subprocess.run([sys.executable, str(REPO / "runST.py"), "--dataset", str(path),
                           *FAST], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = tmp_path / "results" / "ST" / "151507"
    record = json.loads((out / "metrics.json").read_text())
    assert record["protocol"] == "final" and record["n_cells"] == 4221
    assert record["n_clusters"] == 7 and record["config"]["radius"] == 50
    assert record["config"]["preset"] == "151507" and record["cluster"] == "kmeans"
    assert 0.0 < record["mean"]["ari"] <= 1.0
    labels = pd.read_csv(out / "labels.csv", index_col=0)
    assert list(labels.columns) == ["seed5"] and len(labels) == 4221
    assert labels["seed5"].nunique() <= 7
    result = ad.read_h5ad(out / "scrcl.h5ad")
    source = ad.read_h5ad(path)
    assert np.array_equal(result.obsm["spatial"], source.obsm["spatial"])
    assert result.obsm["X_scrcl"].shape == (4221, 14)
    assert result.obs["scrcl"].astype(int).tolist() == labels["seed5"].tolist()
    assert "[final]" in proc.stdout


def _subset(tmp_path, n=600, labels=True):
    src = ad.read_h5ad(shared_file("stdata_pca/151507.h5ad"))
    sub = src[:n].copy()
    if not labels:
        del sub.obs["ground_truth"]
    path = tmp_path / ("lab.h5ad" if labels else "nolab.h5ad")
    sub.write_h5ad(path)
    return path, sub.obs["ground_truth"].nunique() if labels else None


def test_final_protocol_result_does_not_depend_on_labels(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with_labels, k = _subset(tmp_path)
    without, _ = _subset(tmp_path, labels=False)
    opts = FAST + ["--preset", "151507", "--radius", "10"]
    assert st_cli.main(["--dataset", str(with_labels), "--out", "a", *opts]) == 0
    assert st_cli.main(["--dataset", str(without), "--n-clusters", str(k), "--out", "b",
                        *opts]) == 0
    a = pd.read_csv(tmp_path / "a" / "labels.csv", index_col=0)
    b = pd.read_csv(tmp_path / "b" / "labels.csv", index_col=0)
    assert a.equals(b)
    assert json.loads((tmp_path / "b" / "metrics.json").read_text())["mean"] is None


def test_unlabelled_slice_estimates_k_from_the_expression(tmp_path, monkeypatch):
    """No labels, no --n-clusters: K from Leiden on the 15-NN graph of 50 PCs of the spots'
    features (not of their coordinates), said in metrics.json."""
    from scrcl.clustering.estimate_k import estimate_n_clusters
    from scrcl.data.spatial import prepare_st
    from scrcl.tl import expression_graph

    monkeypatch.chdir(tmp_path)
    without, _ = _subset(tmp_path, labels=False)
    assert st_cli.main(["--dataset", str(without), "--preset", "151507", "--radius", "0",
                        *FAST]) == 0
    record = json.loads((tmp_path / "results" / "ST" / "nolab" / "metrics.json").read_text())
    assert "50 principal components" in record["n_clusters_source"] and record["mean"] is None
    adata = ad.read_h5ad(without)
    prepared = prepare_st(adata, 3000, 15, (10, 8), 5, "yes")
    assert record["n_clusters"] == estimate_n_clusters(expression_graph(prepared)).k >= 2
    labels = pd.read_csv(tmp_path / "results" / "ST" / "nolab" / "labels.csv", index_col=0)
    assert labels["seed5"].nunique() <= record["n_clusters"]


@pytest.mark.parametrize("cluster", ["gmm", "leiden", "ward"])
def test_other_backends_and_oracle(tmp_path, monkeypatch, cluster):
    monkeypatch.chdir(tmp_path)
    path, k = _subset(tmp_path)
    assert st_cli.main(["--dataset", str(path), "--cluster", cluster, "--protocol", "oracle",
                        "--radius", "0", *FAST]) == 0
    record = json.loads((tmp_path / "results" / "ST" / "lab" / "metrics.json").read_text())
    assert record["protocol"] == "oracle" and record["cluster"] == cluster
    assert record["per_seed"][0]["epoch_used"] in (1, 2, 3)
    assert record["radius"] == 0
    labels = pd.read_csv(tmp_path / "results" / "ST" / "lab" / "labels.csv", index_col=0)
    assert labels["seed5"].nunique() == k


@pytest.mark.slow
def test_plots_on_the_tiny_visium_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = shared_file("formats/visium_tiny")
    assert st_cli.main(["--dataset", str(folder), "--n-clusters", "3", "--k", "6",
                        "--radius", "6", "--plot", "--paga", *FAST]) == 0
    figures = tmp_path / "figures" / "ST" / "visium_tiny"
    for name in ("spatial_domains.png", "umap.png", "paga.png"):
        assert (figures / name).stat().st_size > 10_000
    result = ad.read_h5ad(tmp_path / "results" / "ST" / "visium_tiny" / "scrcl.h5ad")
    assert result.obsm["spatial"].shape == (100, 2)


def test_mini_batches_on_a_dlpfc_stand_in(tmp_path, monkeypatch):
    """--batch-size on real spots: parts cut on the coordinates, every spot labelled, the
    setting saved in metrics.json, and the same labels with or without the label column."""
    monkeypatch.chdir(tmp_path)
    with_labels, k = _subset(tmp_path, n=1200)
    without, _ = _subset(tmp_path, n=1200, labels=False)
    opts = FAST + ["--preset", "151507", "--radius", "10", "--batch-size", "300"]
    assert st_cli.main(["--dataset", str(with_labels), "--out", "a", *opts]) == 0
    assert st_cli.main(["--dataset", str(without), "--n-clusters", str(k), "--out", "b",
                        *opts]) == 0
    record = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert record["config"]["batch_size"] == 300
    a = pd.read_csv(tmp_path / "a" / "labels.csv", index_col=0)
    assert len(a) == 1200 and a["seed5"].nunique() >= 2
    assert a.equals(pd.read_csv(tmp_path / "b" / "labels.csv", index_col=0))


def test_spatial_domains_api_gives_what_runst_gives(tmp_path, monkeypatch):
    """scrcl.tl.spatial_domains (the Python API) on the same spots and settings writes the
    labels runST.py writes, and its consensus of three seeds into obs['scrcl']."""
    import scrcl.tl
    from scrcl.clustering.consensus import consensus_partition
    from scrcl.config import get_preset

    monkeypatch.chdir(tmp_path)
    path, k = _subset(tmp_path)
    opts = ["--epochs", "3", "--seeds", "5", "15", "25", "--hid-dim", "64", "--quiet",
            "--preset", "151507", "--radius", "10"]
    assert st_cli.main(["--dataset", str(path), "--out", "cli", *opts]) == 0
    cli = pd.read_csv(tmp_path / "cli" / "labels.csv", index_col=0)
    adata = ad.read_h5ad(path)
    cfg = get_preset("151507").replace(epochs=3, hid_dim=64)
    result = scrcl.tl.spatial_domains(adata, config=cfg, seeds=[5, 15, 25], radius=10,
                                      label_key="ground_truth", progress=False)
    assert result.n_clusters == k
    for seed in (5, 15, 25):
        assert adata.obs[f"scrcl_seed{seed}"].astype(int).tolist() == cli[f"seed{seed}"].tolist()
    assert adata.obs["scrcl"].astype(int).tolist() == cli["consensus"].tolist()
    assert (cli["consensus"].to_numpy() == consensus_partition(
        [cli[f"seed{s}"].to_numpy() for s in (5, 15, 25)], k)).all()
    assert adata.uns["scrcl"]["consensus_method"] == "average"
    del adata.obsm["spatial"]
    with pytest.raises(scrcl.errors.ScrclInputError, match="no spot coordinates"):
        scrcl.tl.spatial_domains(adata, config=cfg, seeds=[5], progress=False)
