"""Files as users have them: what X holds (scrcl.data.content), where the counts are taken
from (scrcl.data.source), 10x files, gene symbols, and runs on processed copies of every
scRNA-seq stand-in giving the labels of the counts file."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.io
import scipy.sparse as sp

from _shared_data import REPO, shared_file
from scrcl.cli import sc as sc_cli
from scrcl.data.content import count_type, describe_matrix, recover_counts
from scrcl.data.genes import symbol_names, with_symbols
from scrcl.data.preprocess import resolve_features
from scrcl.data.read import read_expression
from scrcl.data.source import choose_matrix, spatial_input
from scrcl.errors import ScrclInputError

SC_STAND_INS = ("Baron_mouse1", "Baron_mouse2", "MCA_mouse_bladder_select2100",
                "CITE_CBMC_top2000", "Darmanis_brain")


# ----------------------------------------------------------------------------- synthetic data

def umi_counts(n: int = 300, g: int = 400, seed: int = 0) -> sp.csr_matrix:
    """Droplet-like counts: negative binomial with small means (most non-zeros are 1)."""
    rng = np.random.default_rng(seed)
    means = rng.gamma(0.3, 1.0, size=g)
    return sp.csr_matrix(rng.negative_binomial(2, 2 / (2 + means[None, :] * np.ones((n, 1))))
                         .astype(np.float32))


def read_panel(ones: float, median: float, mean: float, n: int = 300, g: int = 500,
               density: float = 0.3, seed: int = 0) -> sp.csr_matrix:
    """Full-length-like read counts whose non-zero values have the given share of ones,
    median and mean: ones, else 2 + a log-normal whose quantile (0.5 - ones) / (1 - ones)
    is the median and whose mean gives the overall mean."""
    from scipy.stats import norm

    rng = np.random.default_rng(seed)
    nnz = int(n * g * density)
    q = norm.ppf((0.5 - ones) / (1 - ones))
    rest_mean = (mean - ones) / (1 - ones)
    # log-normal: exp(mu + q s) = median, exp(mu + s^2 / 2) = rest_mean
    b = np.log(rest_mean) - np.log(median)
    s = q + np.sqrt(q * q + 2 * b) if b > 0 else 0.5
    mu = np.log(median) - q * s
    values = np.where(rng.random(nnz) < ones, 1.0,
                      np.maximum(2.0, np.round(np.exp(rng.normal(mu, s, nnz)))))
    flat = rng.choice(n * g, nnz, replace=False)  # distinct entries: no sums of values
    return sp.csr_matrix((values, (flat // g, flat % g)), shape=(n, g), dtype=np.float64)


def lognorm(counts: sp.csr_matrix, target: float = 1e4) -> sp.csr_matrix:
    x = counts.toarray().astype(np.float64)
    totals = x.sum(axis=1, keepdims=True)
    return sp.csr_matrix(np.log1p(x / np.where(totals > 0, totals, 1) * target)
                         .astype(np.float32))


# ----------------------------------------------------------------------------- what X holds

def test_a_read_panel_with_one_third_ones_is_read_counts():
    """The panel that fooled the old single cut (33% ones, median 16, mean 585)."""
    x = read_panel(1 / 3, 16, 585)
    values = x.data
    assert abs(np.mean(values == 1) - 1 / 3) < 0.02
    assert 12 <= np.median(values) <= 20 and 350 <= values.mean() <= 900
    content = describe_matrix(x)
    assert (content.kind, content.count_type) == ("counts", "reads"), content.evidence
    assert resolve_features("auto", x.tocsr())[0] == "lognorm"


@pytest.mark.parametrize("ones, median, mean", [(0.13, 27, 137), (0.25, 30, 1000),
                                                (0.38, 10, 300), (0.45, 6, 120),
                                                (0.45, 16, 40)])
def test_read_panels_beyond_that_shape_are_read_counts(ones, median, mean):
    kind, why = count_type(read_panel(ones, median, mean).data)
    assert kind == "reads", why


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_droplet_counts_are_umi(seed):
    x = umi_counts(seed=seed)
    content = describe_matrix(x)
    assert (content.kind, content.count_type) == ("counts", "umi"), content.evidence
    deep = read_panel(0.45, 2, 8, seed=seed)  # deep droplet data: fewer ones, low values
    assert count_type(deep.data)[0] == "umi"


def test_each_kind_of_matrix_is_named():
    counts = umi_counts()
    logged = lognorm(counts)
    dense = logged.toarray()
    scaled = (dense - dense.mean(0)) / (dense.std(0) + 1e-6)
    u, s, _ = np.linalg.svd(scaled - scaled.mean(0), full_matrices=False)
    pcs = u[:, :30] * s[:30]
    cases = {
        "counts": counts,
        "lognorm": logged,
        "normalized": counts * 0.37,  # counts times a constant
        "scaled": scaled,
        "reduced": pcs,
    }
    for expected, x in cases.items():
        assert describe_matrix(x).kind == expected, (expected, describe_matrix(x).evidence)
    cpm = sp.diags(1e6 / np.asarray(counts.sum(1)).ravel()) @ counts
    assert describe_matrix(cpm).kind == "normalized"
    assert describe_matrix(pcs, [f"PC{i + 1}" for i in range(30)]).evidence.endswith(
        "named like components (PC1, ...)")
    hvg_subset = logged[:, :100]  # log-normalised on all genes, then a subset kept
    assert describe_matrix(hvg_subset).kind == "lognorm"


def test_counts_are_recovered_exactly_or_not_at_all():
    counts = umi_counts()
    np.testing.assert_array_equal(recover_counts(lognorm(counts), logged=True).toarray(),
                                  counts.toarray())
    np.testing.assert_array_equal(recover_counts(counts * 0.37, logged=False).toarray(),
                                  counts.toarray())
    # a cell whose smallest count is 2 and another odd count cannot be recovered: None
    odd = sp.csr_matrix(np.array([[2, 3, 0], [1, 4, 1]], dtype=np.float32))
    assert recover_counts(lognorm(odd), logged=True) is None


# ----------------------------------------------------------------------------- which matrix

def _processed(counts_adata: ad.AnnData, style: str) -> ad.AnnData:
    """A copy as a user has it: 'scanpy' (X log-normalised, counts in layers['counts']),
    'cellxgene' (X log-normalised, counts in raw, Ensembl ids, symbols in
    var['feature_name']), 'seurat' (X log-normalised, counts in raw, symbols as names)."""
    x = counts_adata.X
    out = ad.AnnData(lognorm(sp.csr_matrix(x)), obs=counts_adata.obs.copy(),
                     var=counts_adata.var.copy(), obsm=dict(counts_adata.obsm))
    if style == "scanpy":
        out.layers["counts"] = x.copy()
        return out
    raw = ad.AnnData(x.copy(), obs=counts_adata.obs.copy(), var=counts_adata.var.copy())
    if style == "cellxgene":
        ids = [f"ENSMUSG{j:011d}" for j in range(counts_adata.n_vars)]
        out.var["feature_name"] = counts_adata.var_names.astype(str)
        out.var_names = ids
        raw.var_names = ids
    out.raw = raw
    return out


@pytest.mark.parametrize("style, source", [("scanpy", "layers['counts']"),
                                           ("cellxgene", "raw.X"), ("seurat", "raw.X")])
def test_the_counts_are_found_where_they_are_kept(style, source):
    counts = ad.AnnData(umi_counts(), obs=pd.DataFrame(index=[f"c{i}" for i in range(300)]),
                        var=pd.DataFrame(index=[f"Gene{j}" for j in range(400)]))
    matrix = choose_matrix(_processed(counts, style))
    assert (matrix.source, matrix.kind) == (source, "counts")
    np.testing.assert_array_equal(sp.csr_matrix(matrix.adata.X).toarray(), counts.X.toarray())
    assert "X holds log-normalised values" in matrix.message()
    assert source in matrix.message()
    if style == "cellxgene":
        assert list(symbol_names(matrix.adata.var)[:2]) == ["Gene0", "Gene1"]


def test_without_counts_lognorm_is_the_input_and_scaled_is_refused():
    odd = sp.csr_matrix(np.array([[2, 3, 0, 5], [1, 4, 1, 0], [3, 0, 5, 7]],
                                 dtype=np.float32))
    matrix = choose_matrix(ad.AnnData(lognorm(odd)))
    assert (matrix.kind, matrix.source) == ("lognorm", "X")  # not normalised twice
    with pytest.raises(ScrclInputError, match="--features counts needs raw counts"):
        choose_matrix(ad.AnnData(lognorm(odd)), features="counts")
    dense = lognorm(umi_counts()).toarray()
    with pytest.raises(ScrclInputError, match="X holds scaled or centred values"):
        choose_matrix(ad.AnnData(dense - dense.mean(0)))
    with pytest.raises(ScrclInputError, match="no such matrix"):
        choose_matrix(ad.AnnData(umi_counts()), layer="counts")


def test_spatial_processed_features_stay_processed_and_counts_are_found():
    pcs = ad.read_h5ad(shared_file("stdata_pca/151669.h5ad"))
    data, preprocessed, matrix = spatial_input(pcs)
    assert preprocessed == "yes" and matrix.x_content.kind == "reduced" and data.n_vars == 200
    counts = ad.AnnData(umi_counts(), obsm={"spatial": np.random.default_rng(0).random((300,
                                                                                          2))})
    data, preprocessed, matrix = spatial_input(_processed(counts, "scanpy"))
    assert (preprocessed, matrix.source) == ("no", "layers['counts']")
    assert "spatial" in data.obsm


def test_every_stand_in_gives_the_same_run_matrix_from_its_processed_copies():
    """For every scRNA-seq stand-in: the counts file, its scanpy-processed copy, its
    CELLxGENE-style copy and X log-normalised with no counts kept all give the counts."""
    for name in SC_STAND_INS:
        counts = ad.read_h5ad(shared_file(f"substitutes/scdata/{name}.h5ad"))
        expected = sp.csr_matrix(counts.X)
        for style in ("scanpy", "cellxgene"):
            got = choose_matrix(_processed(counts, style)).adata.X
            assert (sp.csr_matrix(got) != expected).nnz == 0, (name, style)
        only_log = ad.AnnData(lognorm(expected))
        matrix = choose_matrix(only_log)
        assert matrix.kind == "counts" and "recovered" in matrix.source, (name, matrix.use)
        assert (sp.csr_matrix(matrix.adata.X) != expected).nnz == 0, name


# ----------------------------------------------------------------------------- 10x files, symbols

def test_a_10x_h5_and_its_matrix_folder_read_alike(tmp_path):
    h5 = shared_file("formats/visium_tiny/filtered_feature_bc_matrix.h5")
    from_h5 = read_expression(h5)
    folder = tmp_path / "filtered_feature_bc_matrix"
    folder.mkdir()
    scipy.io.mmwrite(folder / "matrix.mtx", sp.csr_matrix(from_h5.X).T.tocoo())
    pd.Series(from_h5.obs_names).to_csv(folder / "barcodes.tsv", header=False, index=False)
    pd.DataFrame({"id": from_h5.var["gene_ids"], "name": from_h5.var_names,
                  "type": "Gene Expression"}).to_csv(folder / "features.tsv", sep="\t",
                                                     header=False, index=False)
    from_mtx = read_expression(folder)
    assert from_mtx.shape == from_h5.shape == (100, 100)
    np.testing.assert_array_equal(sp.csr_matrix(from_mtx.X).toarray(),
                                  sp.csr_matrix(from_h5.X).toarray())
    assert list(from_mtx.obs_names) == list(from_h5.obs_names)


def test_runsc_reads_a_10x_h5(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    h5 = shared_file("formats/visium_tiny/filtered_feature_bc_matrix.h5")
    code = sc_cli.main(["--dataset", str(h5), "--n-clusters", "3", "--epochs", "2",
                        "--hid-dim", "16", "--seeds", "5", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "input: X holds raw counts" in err
    record = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert record["input_matrix"]["source"] == "X"
    assert len(pd.read_csv(tmp_path / "out" / "labels.csv")) == 100


def test_symbols_replace_ensembl_ids_for_display():
    var = pd.DataFrame({"feature_name": ["Ins1", "Gcg", "", "Ins1"]},
                       index=["ENSMUSG00000035804", "ENSMUSG00000000394",
                              "ENSMUSG00000000001", "ENSMUSG00000000002"])
    assert list(symbol_names(var)) == ["Ins1", "Gcg", "ENSMUSG00000000001", "Ins1-1"]
    assert symbol_names(pd.DataFrame({"feature_name": ["a"]}, index=["Ins1"])) is None
    adata, column = with_symbols(ad.AnnData(np.ones((2, 4)), var=var))
    assert column == "feature_name" and adata.var["gene_ids"].iloc[0] == "ENSMUSG00000035804"


# ----------------------------------------------------------------------------- end to end

@pytest.mark.slow
@pytest.mark.parametrize("name", SC_STAND_INS)
def test_processed_copies_give_the_labels_of_the_counts_file(name, tmp_path):
    """runSC.py on the counts file, on its scanpy-processed copy and on its CELLxGENE-style
    copy: the same labels (same seed, same settings); the log says where the counts came
    from."""
    counts = ad.read_h5ad(shared_file(f"substitutes/scdata/{name}.h5ad"))
    files = {"counts": shared_file(f"substitutes/scdata/{name}.h5ad")}
    for style in ("scanpy", "cellxgene"):
        files[style] = tmp_path / f"{style}.h5ad"
        _processed(counts, style).write_h5ad(files[style])
    labels, logs = {}, {}
    for style, path in files.items():
        out = tmp_path / f"out_{style}"
        run = subprocess.run(
            [sys.executable, str(REPO / "runSC.py"), "--dataset", str(path), "--epochs", "2",
             "--hid-dim", "16", "--hvg", "1000", "--seeds", "5", "--select", "last",
             "--out", str(out)],
            capture_output=True, text=True, cwd=tmp_path, timeout=900,
            env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO)))
        assert run.returncode == 0, run.stderr[-2000:]
        labels[style] = pd.read_csv(out / "labels.csv", index_col=0)["seed5"].to_numpy()
        logs[style] = run.stderr
    np.testing.assert_array_equal(labels["scanpy"], labels["counts"])
    np.testing.assert_array_equal(labels["cellxgene"], labels["counts"])
    assert "the counts are taken from layers['counts']" in logs["scanpy"]
    assert "the counts are taken from raw.X" in logs["cellxgene"]
