"""--features counts|lognorm|auto: what the network is fed, decided without labels."""
import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp

from scrcl.config import ScrclConfig
from scrcl.config import default_config
from scrcl.data.content import READS_MAX_ONES, READS_MIN_MEAN, READS_MIN_MEDIAN
from scrcl.data.preprocess import (as_csr, counts_scale, fraction_of_ones, log_normalize,
                                   prepare_sc, prepare_sc_with, resolve_features)

from _shared_data import shared_file  # tests/ is on sys.path under pytest


def test_fraction_of_ones_by_hand():
    counts = sp.csr_matrix(np.array([[1, 0, 3], [1, 2, 0]], dtype=np.float32))
    assert fraction_of_ones(counts) == 0.5
    assert fraction_of_ones(sp.csr_matrix((2, 3), dtype=np.float32)) == 1.0


@pytest.mark.parametrize("name, expected", [("Darmanis_brain", "lognorm"),
                                            ("Baron_mouse1", "counts"),
                                            ("MCA_mouse_bladder_select2100", "counts"),
                                            ("CITE_CBMC_top2000", "counts")])
def test_auto_takes_read_counts_as_lognorm_and_umi_counts_as_counts(name, expected):
    """Darmanis (Fluidigm C1 read counts) gets log-normalised values, the droplet (UMI)
    stand-ins their raw counts; the choice reads X only, so a label column changes nothing."""
    adata = ad.read_h5ad(shared_file(f"substitutes/scdata/{name}.h5ad"))
    counts = as_csr(adata.X)
    kind, why = resolve_features("auto", counts)
    assert kind == expected, why
    values = counts.data[counts.data != 0]
    votes = (int(fraction_of_ones(counts) < READS_MAX_ONES)
             + int(np.median(values) >= READS_MIN_MEDIAN) + int(values.mean() >= READS_MIN_MEAN))
    assert votes in (0, 3)  # not a borderline call on any stand-in: all signatures agree
    unlabelled = ad.AnnData(adata.X.copy())
    assert resolve_features("auto", as_csr(unlabelled.X))[0] == kind


def test_counts_scale_by_hand():
    """sum(counts) / sum(lognorm): two cells of counts [[1, 0, 3], [1, 2, 0]] (sum 7), log
    values [[1, 0, 2], [0.5, 0.5, 0]] (sum 4) -> 7 / 4; empty inputs leave the scale at 1."""
    counts = sp.csr_matrix(np.array([[1, 0, 3], [1, 2, 0]], dtype=np.float32))
    logs = sp.csr_matrix(np.array([[1, 0, 2], [0.5, 0.5, 0]], dtype=np.float32))
    assert counts_scale(logs, counts) == pytest.approx(7 / 4)
    assert counts_scale(sp.csr_matrix((2, 3), dtype=np.float32), counts) == 1.0


def test_default_is_auto():
    assert default_config("SC").features == "auto"


def test_lognorm_feeds_the_log_normalised_selected_genes():
    rng = np.random.default_rng(0)
    x = rng.negative_binomial(2, 0.01, size=(60, 40)).astype(np.float32)  # read-like counts
    adata = ad.AnnData(sp.csr_matrix(x))
    cfg = ScrclConfig(hvg=20, k=5, tms=(0, 0), features="auto")
    prepared = prepare_sc_with(adata, cfg)
    assert prepared.input_kind == "lognorm"
    chosen = [int(g) for g in prepared.genes]
    logs = log_normalize(sp.csr_matrix(x))[:, chosen].toarray()
    scale = x[:, chosen].sum() / logs.sum()  # to the mean of the raw counts
    np.testing.assert_allclose(prepared.features.toarray(), logs * scale, rtol=1e-5)
    assert prepared.features.toarray().mean() == pytest.approx(x[:, chosen].mean(), rel=1e-5)
    raw = prepare_sc(adata, 20, 5, (0, 0), features="counts")
    assert raw.input_kind == "counts"
    np.testing.assert_array_equal(raw.features.toarray(), x[:, chosen])
    with pytest.raises(ValueError):
        resolve_features("tpm", sp.csr_matrix(x))
