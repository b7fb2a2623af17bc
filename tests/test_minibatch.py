"""Mini-batch training (scrcl.training.minibatch): the batching rule, the batches, their inputs, and
training runs with them."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from scrcl import graphs
from scrcl.config import ScrclConfig
from scrcl.data.preprocess import prepare_sc
from scrcl.data.synthetic import synthetic_counts
from scrcl.training.minibatch import (FULL_BATCH_MAX_CELLS, MINIBATCH_CELLS, BatchPlan, batch_plan,
                             resolve_batch_size)
from scrcl.pipeline import run_protocols
from scrcl.training.train import Inputs, train

CPU = torch.device("cpu")
CFG = ScrclConfig(hvg=60, k=8, tms=(2, 1), hid_dim=32, epochs=4, dropout=0.3, lr=1e-2,
                  weight_decay=1e-3, lambda1=1.0, lambda2=1.0, temperature=0.5,
                  kmeans_n_init=3, select_stride=2, precision="fp32")


@pytest.fixture(scope="module")
def data():
    return prepare_sc(synthetic_counts(n_cells=240, n_genes=90, n_types=4, seed=2), CFG.hvg,
                      CFG.k, CFG.tms, CFG.gene_k)


def test_batch_size_rule():
    assert resolve_batch_size(None, 8_617) is None  # every shared data set: full batch
    assert resolve_batch_size(None, FULL_BATCH_MAX_CELLS) is None
    assert resolve_batch_size(None, FULL_BATCH_MAX_CELLS + 1) == MINIBATCH_CELLS
    assert resolve_batch_size(0, 10**6) is None
    assert resolve_batch_size(500, 400) is None  # a batch as large as the data: full batch
    assert resolve_batch_size(64, 400) == 64
    with pytest.raises(ValueError):
        resolve_batch_size(-1, 400)


def test_batches_cover_every_cell_once_and_keep_neighbours(data):
    plan = batch_plan(data, 60, seed=0)
    assert plan.n_batches == 4
    for epoch in (1, 2):
        batches = plan.batches(epoch)
        joined = np.sort(np.concatenate(batches))
        np.testing.assert_array_equal(joined, np.arange(data.n_cells))
        sizes = [b.size for b in batches]
        assert max(sizes) <= 2 * np.mean(sizes)
        assert all(np.all(np.diff(b) > 0) for b in batches)
    assert [b.tolist() for b in plan.batches(1)] == [b.tolist() for b in plan.batches(1)]
    assert [b.tolist() for b in plan.batches(1)] != [b.tolist() for b in plan.batches(2)]
    # parts follow the graph: more edges inside batches than a random split keeps (~1/4)
    assert plan.edges_kept() > 0.4


def test_batch_inputs_are_the_rows_and_the_induced_normalised_subgraph(data):
    plan = batch_plan(data, 60, seed=0)
    full = Inputs.from_prepared(data, CPU, dense=True)
    idx = plan.batches(1)[0]
    part = plan.inputs(full, idx)
    torch.testing.assert_close(part.view1.x, full.view1.x[idx])
    torch.testing.assert_close(part.view2.x, full.view2.x[idx])
    assert part.gene_x is full.gene_x  # the gene encoder sees every cell
    a = data.cell_adj.toarray()[np.ix_(idx, idx)]  # dense reference, by hand
    a_hat = a + np.eye(idx.size)
    d = a_hat.sum(1)
    expected = a_hat / np.sqrt(d[:, None] * d[None, :])
    np.testing.assert_allclose(part.cell_adj.to_dense().numpy(), expected, rtol=1e-6)
    np.testing.assert_array_equal(part.loss_adj.to_dense().numpy(), a)


def test_training_with_mini_batches(data):
    plan = batch_plan(data, 60, seed=0)
    inputs = Inputs.from_prepared(data, CPU)
    first = train(inputs, CFG, 4, seed=5, progress=False, batches=plan)
    again = train(inputs, CFG, 4, seed=5, progress=False, batches=plan)
    full = train(inputs, CFG, 4, seed=5, progress=False)
    assert len(first.losses) == CFG.epochs and np.all(np.isfinite(first.losses))
    assert first.losses == again.losses  # deterministic
    assert first.losses != full.losses
    moved = [not torch.equal(a, b) for a, b in
             zip(first.model.parameters(), train(inputs, CFG.replace(epochs=1), 4, seed=5,
                                                 progress=False).model.parameters())]
    assert all(moved)  # every parameter (the gene encoder's (N, C) weight too) trained


def test_pipeline_with_batch_size(data):
    truth = np.asarray(synthetic_counts(n_cells=240, n_genes=90, n_types=4, seed=2)
                       .obs["cell_type1"].cat.codes)
    res = run_protocols(data, CFG.replace(batch_size=60), 4, seeds=[5], truth=truth,
                        protocols=("final",), progress=False)["final"]
    assert res.runs[0].labels.shape == (data.n_cells,)
    assert len(np.unique(res.runs[0].labels)) == 4
    # a batch as large as the data set is the full-batch run, bit for bit
    big = run_protocols(data, CFG.replace(batch_size=10_000), 4, seeds=[5], truth=truth,
                        protocols=("final",), progress=False)["final"]
    full = run_protocols(data, CFG, 4, seeds=[5], truth=truth, protocols=("final",),
                         progress=False)["final"]
    assert big.runs[0].losses == full.runs[0].losses


@pytest.mark.slow
def test_compiled_loss_is_compiled_once_for_every_batch_size(data, monkeypatch):
    """Batches differ in size from step to step: the compiled losses take any size (dynamic
    shapes), where fixed-size compilation compiled once per size until torch's limit of 8
    (32 graphs and a warning on this data before the fix, 4 graphs after it)."""
    from torch._dynamo.utils import counters

    monkeypatch.setenv("SCRCL_COMPILE", "yes")
    torch._dynamo.reset()
    counters.clear()
    plan = batch_plan(data, 30)
    sizes = {idx.size for epoch in range(1, 5) for idx in plan.batches(epoch)}
    assert len(sizes) > 8  # more sizes than fixed-size compilation would take
    inputs = Inputs.from_prepared(data, CPU, dense=True)
    result = train(inputs, CFG, 4, 5, progress=False, batches=plan)
    assert np.isfinite(result.losses).all()
    assert 0 < counters["stats"]["unique_graphs"] <= 6
