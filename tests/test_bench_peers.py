"""The peers in bench/run.py (GraphST, scVI; bench/_peers.py), scrcl's 1-epoch control and
report.py --json, on the synthetic demo (no shared data read). The peers' own training is
replaced by a stand-in where the runner's plumbing is tested; their real calls are tested
on tiny inputs where the packages are installed."""
from __future__ import annotations

import importlib
import json
import statistics
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
DEMO = ["sc", "--datasets", "demo", "--seeds", "1", "2", "--threads", "1"]


@pytest.fixture(scope="module")
def bench():
    """The runner, report and peers modules (bench/ is not a package)."""
    sys.path.insert(0, str(BENCH))
    try:
        yield (importlib.import_module("run"), importlib.import_module("report"),
               importlib.import_module("_peers"))
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture(autouse=True)
def no_shared_data(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("SCRCL_SHARED_DATA", str(tmp_path_factory.mktemp("no_shared_data")))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMBA_NUM_THREADS"):
        monkeypatch.setenv(var, "1")


def entry(root: Path, method: str, seed: int, variant: str = "") -> dict:
    folder = f"{method}__{variant}" if variant else method
    return json.loads((root / "sc" / "demo" / folder / "final" / f"seed{seed}.json")
                      .read_text())


def pcs(adata, n: int = 10) -> np.ndarray:
    """A deterministic stand-in for a peer's latent space: PCs of log counts."""
    from sklearn.decomposition import PCA

    x = np.log1p(adata.X.toarray() if hasattr(adata.X, "toarray") else adata.X)
    return PCA(n_components=n, random_state=0).fit_transform(x)


def test_epoch1_is_the_pipeline_with_one_epoch_and_the_last_clustering(bench, tmp_path):
    run = bench[0]
    run.execute(DEMO + ["--methods", "scrcl-epoch1", "--set", "hid_dim=16",
                        "--results", str(tmp_path)])
    # the same pipeline asked for directly: the scrcl method with those settings
    run.execute(DEMO + ["--methods", "scrcl", "--protocols", "final", "--epochs", "1",
                        "--set", "select=last", "--set", "hid_dim=16",
                        "--results", str(tmp_path)])
    for seed in (1, 2):
        control = entry(tmp_path, "scrcl-epoch1", seed, "hid_dim-16")
        direct = entry(tmp_path, "scrcl", seed, "epochs-1__hid_dim-16__select-last")
        assert control["config"]["epochs"] == 1 and control["config"]["select"] == "last"
        assert control["epoch_used"] == 1 and control["epochs_run"] == 1
        assert control["labels"] == direct["labels"]
        assert control["ari"] == direct["ari"]
        assert control["wall_s"] > 0 and control["peak_rss_mb"] > 0
    # one epoch clusters differently from two: the control is not a longer run's answer
    run.execute(DEMO + ["--methods", "scrcl", "--protocols", "final", "--epochs", "2",
                        "--set", "select=last", "--set", "hid_dim=16",
                        "--results", str(tmp_path)])
    two = entry(tmp_path, "scrcl", 1, "epochs-2__hid_dim-16__select-last")
    assert two["epoch_used"] == 2


def test_missing_peers_are_skipped_with_the_install_hint(bench, tmp_path, monkeypatch,
                                                         capsys):
    run, _, peers = bench
    monkeypatch.setattr(peers.importlib.util, "find_spec",
                        lambda name: None if name == "scvi" else object())
    counts = run.execute(DEMO + ["--methods", "scvi-kmeans", "scvi-leiden", "pca_kmeans",
                                 "--results", str(tmp_path)])
    out = capsys.readouterr().out
    hint = [line for line in out.splitlines() if "pip install .[peers]" in line]
    assert len(hint) == 1 and "scvi" in hint[0]
    assert counts["computed"] == 2  # the baseline, two seeds: the runner went on
    assert not list(tmp_path.glob("**/scvi-*"))


def test_one_peer_training_serves_both_clusterings(bench, tmp_path, monkeypatch):
    """scvi-kmeans and scvi-leiden of a seed come from one training; k-means at the true K
    and Leiden of the latent, checked against scikit-learn and the Leiden baseline."""
    from sklearn.cluster import KMeans

    import _methods
    from scrcl.clustering.leiden import knn_graph

    run, _, peers = bench
    calls = []

    def fake_latent(adata, seed, max_epochs=None):
        calls.append((seed, adata.n_vars))
        return pcs(adata), {"epochs": 7}

    monkeypatch.setattr(peers, "scvi_latent", fake_latent)
    counts = run.execute(DEMO + ["--methods", "scvi-kmeans", "scvi-leiden",
                                 "--results", str(tmp_path)])
    assert counts["computed"] == 4 and sorted(calls) == [(1, calls[0][1]), (2, calls[0][1])]
    adata, key = run._data.read(run._data.dataset_spec("demo"))
    latent = pcs(peers.scvi_input(adata))
    k = adata.obs[key].nunique()
    for seed in (1, 2):
        km, ld = entry(tmp_path, "scvi-kmeans", seed), entry(tmp_path, "scvi-leiden", seed)
        expected = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(latent)
        assert km["labels"] == expected.tolist()
        assert ld["labels"] == _methods.leiden(knn_graph(latent, 15), seed).tolist()
        assert km["n_clusters"] == k and km["epochs"] == 7 and km["results_version"] == 1
        assert km["train_s"] == ld["train_s"] and km["wall_s"] >= km["train_s"]
        assert km["inputs"]["params"]["n_latent"] == 30
    again = run.execute(DEMO + ["--methods", "scvi-kmeans", "scvi-leiden",
                                "--results", str(tmp_path)])
    assert again["computed"] == 0 and again["up_to_date"] == 4 and len(calls) == 2


def test_scvi_input_drops_rare_genes_before_choosing_2000(bench):
    import anndata as ad
    import scipy.sparse as sp

    peers = bench[2]
    rng = np.random.default_rng(0)
    x = rng.poisson(1.0, size=(60, 3000)).astype(np.float32)
    x[:, :600] = 0
    x[:2, :600] = 1  # seen in 2 cells: dropped before the HVG fit
    prepared = peers.scvi_input(ad.AnnData(sp.csr_matrix(x)))
    assert prepared.n_vars == 2000
    kept = {int(name) for name in prepared.var_names}
    assert not kept & set(range(600))
    small = peers.scvi_input(ad.AnnData(sp.csr_matrix(x[:, 500:2000])))
    assert small.n_vars == 1400  # fewer than 2,000 left: every one kept


def test_graphst_input_and_its_clustering_step(bench):
    import anndata as ad
    from sklearn.metrics import adjusted_rand_score

    peers = bench[2]
    rng = np.random.default_rng(1)
    centres = rng.normal(0, 8, size=(3, 50))
    truth = np.repeat(np.arange(3), 40)
    x = centres[truth] + rng.normal(size=(120, 50))
    slice_ = ad.AnnData(x.astype(np.float32))
    slice_.obsm["spatial"] = rng.uniform(0, 100, size=(120, 3))
    given = peers.graphst_input(slice_)
    assert given.var["highly_variable"].all() and given.obsm["spatial"].shape == (120, 2)
    np.testing.assert_array_equal(given.X, x.astype(np.float32))
    labels = peers.graphst_labels(x, 3, seed=5)
    assert adjusted_rand_score(truth, labels) == 1.0


def test_graphst_runs_on_a_tiny_slice(bench):
    pytest.importorskip("GraphST")
    pytest.importorskip("ot")
    import anndata as ad

    peers = bench[2]
    rng = np.random.default_rng(2)
    slice_ = ad.AnnData(rng.normal(size=(80, 12)).astype(np.float32))
    slice_.obsm["spatial"] = rng.uniform(0, 50, size=(80, 2))
    first = peers.graphst_embedding(peers.graphst_input(slice_), seed=5, epochs=3)
    again = peers.graphst_embedding(peers.graphst_input(slice_), seed=5, epochs=3)
    assert first.shape == (80, 12) and np.isfinite(first).all()
    np.testing.assert_allclose(first, again)  # the seed fixes it


def test_report_json_rows_and_the_peers_table(bench, tmp_path, monkeypatch, capsys):
    run, report, peers = bench
    monkeypatch.setattr(peers, "scvi_latent",
                        lambda adata, seed, max_epochs=None: (pcs(adata), {"epochs": 3}))
    run.execute(DEMO + ["--methods", "scvi-kmeans", "pca_kmeans", "--results", str(tmp_path)])
    capsys.readouterr()  # the runner's lines
    assert report.main(["--json", "--results", str(tmp_path)]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_method = {r["method"]: r for r in rows}
    assert set(by_method) == {"scvi-kmeans", "pca_kmeans"}
    stored = [entry(tmp_path, "scvi-kmeans", s) for s in (1, 2)]
    row = by_method["scvi-kmeans"]
    assert row["seeds"] == 2 and row["suite"] == "sc" and row["protocol"] == "final"
    assert row["ari_mean"] == round(statistics.fmean(e["ari"] for e in stored), 4)
    assert row["ari_std"] == round(statistics.pstdev(e["ari"] for e in stored), 4)
    assert row["peak_rss_mb"] == max(e["peak_rss_mb"] for e in stored)
    for field in ("dataset", "ari_mean", "ari_std", "wall_s_mean", "peak_rss_mb"):
        assert field in row
    res = report.Results(report.iter_entries(tmp_path), tmp_path)
    text = report.peers_table("sc")(res)
    demo = next(line for line in text.splitlines() if line.startswith("| demo"))
    assert f"{row['ari_mean']:.3f} ± {row['ari_std']:.3f} (2)" in demo
    assert "— (0)" in demo  # scrcl itself was not run here
