"""Defaults that fit the data: small real matrices run to a result with no option but a short
training, each size-dependent default lowered with one line saying so; explicit options
stay strict (their errors are in test_bad_inputs.py)."""
from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pytest

from _shared_data import shared_file
from scrcl.cli import sc as sc_cli
from scrcl.cli import st as st_cli
from scrcl.config import ScrclConfig, default_config
from scrcl.data.adapt import DataSize, adapt_config
from scrcl.errors import ScrclInputError

SHORT = ["--epochs", "2", "--seeds", "5", "--quiet", "--threads", "1"]


# ----------------------------------------------------------------------------- the rules

def test_defaults_are_lowered_to_the_data_and_say_so():
    cfg, notes = adapt_config(default_config("SC"), (), DataSize(12, 326, True))
    assert (cfg.hvg, cfg.k, cfg.gene_k) == (326, 11, 5)
    assert len(notes) == 2
    assert notes[0].startswith("hvg = 326 (the default 2000 is more than the number of "
                               "expressed genes (326)")
    assert notes[1].startswith("k = 11 ")


def test_gene_k_follows_the_genes_kept_and_radius_the_spots():
    base = ScrclConfig(hvg=3000, k=15, gene_k=5, radius=50, preset="151507")
    cfg, notes = adapt_config(base, (), DataSize(60, 4, True))
    assert (cfg.hvg, cfg.gene_k, cfg.radius) == (4, 4, 3)  # 5% of 60 spots
    assert any(n.startswith("radius = 3 (the 151507 preset's 50") for n in notes)
    tiny, _ = adapt_config(base, (), DataSize(19, 100, True))
    assert tiny.radius == 0  # below 20 spots the refinement is off


def test_processed_features_are_all_used_without_a_note():
    cfg, notes = adapt_config(default_config("ST"), (), DataSize(4839, 33, False))
    assert cfg.hvg == 33 and cfg.radius == 50 and notes == []


def test_explicit_values_are_kept_or_refused():
    base = default_config("SC")
    cfg, notes = adapt_config(base.replace(hvg=100), {"hvg"}, DataSize(12, 326, True))
    assert cfg.hvg == 100 and notes[0].startswith("k = ")  # k was not given
    with pytest.raises(ScrclInputError, match="--hvg 2000 is more than the number of "
                                               "expressed genes \\(326\\)"):
        adapt_config(base, {"hvg"}, DataSize(50, 326, True))
    with pytest.raises(ScrclInputError, match="--radius 50 is more than the neighbours"):
        adapt_config(default_config("ST"), {"radius"}, DataSize(40, 326, True))


def test_defaults_that_fit_are_untouched():
    base = default_config("SC")
    cfg, notes = adapt_config(base, (), DataSize(822, 14878, True))
    assert cfg == base and notes == []


# ----------------------------------------------------------------------------- real matrices

def _run(main, argv, capsys) -> tuple[dict, str]:
    assert main(argv) == 0
    out = capsys.readouterr().out
    record = json.loads((_out(argv) / "metrics.json").read_text())
    return record, out


def _out(argv):
    from pathlib import Path

    return Path(argv[argv.index("--out") + 1])


@pytest.mark.slow
def test_a_300_gene_panel_runs_with_the_defaults(tmp_path, capsys):
    """Baron mouse 1 cut to its 300 most-counted genes (a typical targeted panel)."""
    adata = ad.read_h5ad(shared_file("substitutes/scdata/Baron_mouse1.h5ad"))
    totals = np.asarray(adata.X.sum(axis=0)).ravel()
    panel = adata[:, np.sort(np.argsort(-totals)[:300])].copy()
    path = tmp_path / "panel.h5ad"
    panel.write_h5ad(path)
    record, out = _run(sc_cli.main, ["--dataset", str(path), "--out", str(tmp_path / "r"),
                                     *SHORT], capsys)
    assert "adapted to the data: hvg = 300 (the default 2000" in out
    assert record["config"]["hvg"] == 300 and record["n_genes"] == 300
    assert record["n_clusters"] == 13 and 0 < record["mean"]["ari"] <= 1
    assert record["data_size"]["silhouette_sample"] == 822


@pytest.mark.slow
def test_2000_genes_with_unexpressed_ones_run_with_the_defaults(tmp_path, capsys):
    """1,000 CITE-seq cells of a top-2000 file, with three genes zeroed on top of the ones
    that no sampled cell expresses."""
    adata = ad.read_h5ad(shared_file("substitutes/scdata/CITE_CBMC_top2000.h5ad"))
    adata = adata[np.random.default_rng(0).choice(adata.n_obs, 1000, replace=False)].copy()
    x = adata.X.tolil()
    x[:, [3, 500, 1999]] = 0
    adata.X = x.tocsr()
    expressed = int((np.asarray((adata.X > 0).sum(axis=0)).ravel() > 0).sum())
    assert expressed < 2000
    path = tmp_path / "cite.h5ad"
    adata.write_h5ad(path)
    record, out = _run(sc_cli.main, ["--dataset", str(path), "--out", str(tmp_path / "r"),
                                     *SHORT], capsys)
    assert f"hvg = {expressed} (the default 2000 is more than the number of expressed genes" \
        in out
    assert record["config"]["hvg"] == expressed == record["n_genes"]
    assert 0 < record["mean"]["ari"] <= 1


@pytest.mark.slow
def test_osmfish_33_genes_runs_with_the_defaults(tmp_path, capsys):
    """osmFISH: 4,839 cells x 33 genes of normalised values, coordinates, no default label
    column: every feature used, K estimated, refinement radius within the spots."""
    path = shared_file("substitutes/stdata/osmFISH/osmfish.h5ad")
    record, out = _run(st_cli.main, ["--dataset", str(path), "--out", str(tmp_path / "r"),
                                     *SHORT], capsys)
    assert record["n_cells"] == 4839 and record["n_genes"] == 33
    assert record["config"]["hvg"] == 33 and record["config"]["radius"] == 50
    assert record["n_clusters"] >= 2 and record["mean"] is None
    labels = ad.read_h5ad(tmp_path / "r" / "scrcl.h5ad").obs["scrcl"]
    assert labels.notna().all()
