"""runSC.py as a user runs it: the output contract, the honesty of 'final' (bad input:
test_bad_inputs.py)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import anndata as ad
import pandas as pd
import pytest

from _shared_data import shared_file
from scrcl.clustering.consensus import consensus_partition
from scrcl.data.synthetic import synthetic_counts

REPO = Path(__file__).resolve().parents[1]
FAST = ["--epochs", "3", "--hid-dim", "32", "--hvg", "100", "--seeds", "5", "--quiet"]


def run_sc(*args, cwd=None, env_extra=None):
    env = dict(os.environ, OMP_NUM_THREADS="1", **(env_extra or {}))
    return subprocess.run([sys.executable, str(REPO / "runSC.py"), *map(str, args)],
                          capture_output=True, text=True, cwd=cwd or REPO, env=env, timeout=600)


def _write(tmp_path, adata, name="data.h5ad"):
    path = tmp_path / name
    adata.write_h5ad(path)
    return path


def _small(n=60, genes=150, seed=0):
    return synthetic_counts(n_cells=n, n_genes=genes, n_types=3, seed=seed)


def test_help_explains_every_option():
    proc = run_sc("--help")
    assert proc.returncode == 0
    for opt in ["--lr", "--epochs", "--hvg", "--k", "--tms", "--dropout", "--weight-decay",
                "--lambda1", "--lambda2", "--temperature", "--hid-dim", "--out-dim",
                "--protocol", "--seeds", "--device", "--n-clusters", "--label-key",
                "--data-dir", "--out", "--quiet", "--cluster", "--embedding"]:
        assert opt in proc.stdout


def test_unlabelled_data_estimates_k_or_takes_it_and_prints_no_metrics(tmp_path):
    adata = _small()
    del adata.obs["cell_type1"]
    path = _write(tmp_path, adata)
    auto = run_sc("--dataset", path, "--out", tmp_path / "auto", *FAST)
    assert auto.returncode == 0, auto.stderr
    assert "estimated without labels" in auto.stdout
    record = json.loads((tmp_path / "auto" / "metrics.json").read_text())
    assert record["n_clusters"] >= 2 and record["mean"] is None
    proc = run_sc("--dataset", path, "--out", tmp_path / "o", "--n-clusters", "3", *FAST)
    assert proc.returncode == 0, proc.stderr
    assert "not scored" in proc.stdout and "ARI" not in proc.stdout
    record = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert record["mean"] is None and record["n_clusters_source"] == "given"


def test_final_protocol_never_reads_labels(tmp_path):
    """Same data with and without a label column: identical clusters, every seed's and
    the seeds' consensus."""
    adata = _small(seed=3)
    with_labels = _write(tmp_path, adata, "with.h5ad")
    del adata.obs["cell_type1"]
    without = _write(tmp_path, adata, "without.h5ad")
    three = [*FAST[:FAST.index("--seeds")], "--seeds", "5", "15", "25", "--quiet"]
    a = run_sc("--dataset", with_labels, "--out", tmp_path / "a", *three)
    b = run_sc("--dataset", without, "--out", tmp_path / "b", "--n-clusters", "3", *three)
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    la = pd.read_csv(tmp_path / "a" / "labels.csv", index_col=0)
    lb = pd.read_csv(tmp_path / "b" / "labels.csv", index_col=0)
    assert "consensus" in la.columns and la.equals(lb)
    assert "K=3 (number of true classes)" in a.stdout


def test_same_seed_same_labels_and_oracle_is_named(tmp_path):
    path = _write(tmp_path, _small(seed=4))
    runs = [run_sc("--dataset", path, "--out", tmp_path / f"r{i}", *FAST) for i in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr
    first, second = (pd.read_csv(tmp_path / f"r{i}" / "labels.csv") for i in range(2))
    assert first.equals(second)
    oracle = run_sc("--dataset", path, "--out", tmp_path / "o", "--protocol", "oracle", *FAST)
    assert oracle.returncode == 0, oracle.stderr
    assert "[oracle]" in oracle.stdout and "answer key" in oracle.stdout
    record = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert record["protocol"] == "oracle"
    assert 1 <= record["per_seed"][0]["epoch_used"] <= 3
    # the published protocol clusters the published [z1, z2]; the label-free default, [e1, e2]
    assert record["config"]["embedding"] == "z"
    default = json.loads((tmp_path / "r0" / "metrics.json").read_text())
    assert default["config"]["embedding"] == "h"


def test_the_clustered_embedding_is_an_option_and_is_saved(tmp_path):
    path = _write(tmp_path, _small(seed=5))
    proc = run_sc("--dataset", path, "--out", tmp_path / "o", "--embedding", "z", *FAST)
    assert proc.returncode == 0, proc.stderr
    record = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert record["config"]["embedding"] == "z"  # the published [z1, z2], 2C wide
    adata = ad.read_h5ad(tmp_path / "o" / "scrcl.h5ad")
    assert adata.obsm["X_scrcl"].shape[1] == 2 * record["n_clusters"]
    bad = run_sc("--dataset", path, "--out", tmp_path / "b", "--embedding", "x", *FAST)
    assert bad.returncode != 0 and "invalid choice: 'x'" in bad.stderr


@pytest.mark.parametrize("cluster", ["gmm", "leiden", "ward"])
def test_other_clusterings_make_k_clusters_and_are_saved(tmp_path, cluster):
    path = _write(tmp_path, _small(seed=5))
    proc = run_sc("--dataset", path, "--out", tmp_path / "o", "--cluster", cluster, *FAST)
    assert proc.returncode == 0, proc.stderr
    record = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert record["cluster"] == cluster and record["n_clusters"] == 3
    labels = pd.read_csv(tmp_path / "o" / "labels.csv", index_col=0)
    assert labels["seed5"].nunique() == 3


def test_demo_seeds_agree_and_a_normal_run_prints_no_warning(tmp_path):
    """The demo as a newcomer runs it (3 default seeds, no option): every seed finds the
    planted types and agrees with the others (ARI within 0.05); nothing on stderr is a
    warning."""
    proc = run_sc("--dataset", "demo", "--out", tmp_path / "demo")
    assert proc.returncode == 0, proc.stderr
    assert "[final]" in proc.stdout
    assert "Warning" not in proc.stderr and "warn" not in proc.stderr.lower(), proc.stderr
    record = json.loads((tmp_path / "demo" / "metrics.json").read_text())
    aris = [r["ari"] for r in record["per_seed"]]
    assert len(aris) == 3 and max(aris) - min(aris) <= 0.05, aris
    assert min(aris) > 0.9
    assert record["consensus"]["scores"]["ari"] > 0.9
    assert "consensus of the 3 seeds' partitions" in proc.stdout
    assert "seeds: 3 trained (5 15 25; the default" in proc.stdout


def check_contract(out: Path, n_cells: int, seeds: list[int], protocol: str) -> dict:
    assert sorted(p.name for p in out.iterdir()) == ["labels.csv", "metrics.json", "scrcl.h5ad"]
    record = json.loads((out / "metrics.json").read_text())
    for key in ["dataset", "protocol", "seeds", "config", "n_cells", "n_genes", "n_clusters",
                "per_seed", "mean", "std", "memory", "versions"]:
        assert key in record
    assert record["protocol"] == protocol and record["seeds"] == seeds
    for entry in record["per_seed"]:
        assert set(entry) >= {"seed", "acc", "nmi", "ari", "f1", "epoch_used", "wall_s"}
    labels = pd.read_csv(out / "labels.csv", index_col=0)
    # three seeds or more under the label-free protocol: one partition from theirs as well
    several = len(seeds) >= 3 and protocol == "final"
    assert list(labels.columns) == [f"seed{s}" for s in seeds] + ["consensus"] * several
    assert len(labels) == n_cells
    adata = ad.read_h5ad(out / "scrcl.h5ad")
    assert adata.n_obs == n_cells
    assert isinstance(adata.obs["scrcl"].dtype, pd.CategoricalDtype)
    shown = adata.obs["scrcl"].astype(int).to_numpy()
    if several:
        cols = [labels[f"seed{s}"].to_numpy() for s in seeds]
        assert (labels["consensus"].to_numpy() == consensus_partition(cols, record["n_clusters"])).all()
        assert (shown == labels["consensus"].to_numpy()).all()
        assert record["consensus"]["seeds"] == seeds
        assert set(record["consensus"]["scores"]) == {"acc", "nmi", "ari", "f1"}
    else:
        assert record["consensus"] is None and (shown == labels[f"seed{seeds[0]}"]).all()
    for s in seeds:
        assert f"scrcl_seed{s}" in adata.obs
    cfg = record["config"]  # [e1, e2] (2 x hid_dim wide, the default) or [z1, z2] (2C)
    width = cfg["hid_dim"] if cfg["embedding"] == "h" else cfg["out_dim"] or record["n_clusters"]
    assert adata.obsm["X_scrcl"].shape == (n_cells, 2 * width)
    assert adata.uns["scrcl"]["protocol"] == protocol
    assert not list(out.parent.glob(".*.tmp"))  # no temporary leftovers
    return record


@pytest.mark.slow
def test_end_to_end_on_baron_mouse1(tmp_path):
    path = shared_file("substitutes/scdata/Baron_mouse1.h5ad")
    out = tmp_path / "baron"
    proc = run_sc("--dataset", path, "--out", out, "--epochs", "5", "--seeds", "5", "15",
                  "--quiet")
    assert proc.returncode == 0, proc.stderr
    record = check_contract(out, 822, [5, 15], "final")
    assert record["n_clusters"] == 13 and record["n_genes"] == 2000
    assert 0.0 < record["mean"]["ari"] <= 1.0
    assert "[final]" in proc.stdout


@pytest.mark.slow
def test_benchmark_name_resolves_in_data_dir(tmp_path):
    src = shared_file("substitutes/scdata/Baron_mouse2.h5ad")
    (tmp_path / "scdata").mkdir()
    os.symlink(src, tmp_path / "scdata" / "Baron_human.h5ad")  # stands in for the real file
    out = tmp_path / "bh"
    proc = run_sc("--dataset", "Baron_human", "--out", out, "--epochs", "2", "--seeds", "5",
                  "--hid-dim", "32", "--quiet", env_extra={"SCRCL_DATA_DIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    record = check_contract(out, 1064, [5], "final")
    assert record["config"]["preset"] == "Baron_human" and record["config"]["hvg"] == 2000
