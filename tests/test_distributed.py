"""Data-parallel training: two gloo processes on CPU reproduce a single-process run.

The comparison runs in float64. In float32 the gradients of the refinement branch are
tiny (~1e-6 here) and carry a few per cent of rounding noise (L_CVC is a difference of
O(N^2) terms); Adam divides each gradient by its own magnitude, so any change of summation
order (such as DDP's gradient average) turns that noise into steps of size lr, and two
float32 runs that are equal up to rounding drift apart by ~lr in those weights.
"""
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from scrcl.config import ScrclConfig
from scrcl.data.preprocess import prepare_sc
from scrcl.data.synthetic import synthetic_counts
from scrcl.training.distributed import DistContext
from scrcl.losses import per_cell_loss, total_loss
from scrcl.nn import ScrclModule
from scrcl.training.train import Inputs, set_seed, train

REPO = Path(__file__).resolve().parents[1]
CFG = ScrclConfig(hvg=60, k=8, tms=(2, 0), hid_dim=16, epochs=4, dropout=0.3, lr=1e-2,
                  weight_decay=1e-3, lambda1=1.0, lambda2=1.0, temperature=0.5)
SEED = 15
WORLD = 2


def _inputs() -> Inputs:
    """The small data set's inputs, in float64 (see the module docstring)."""
    data = prepare_sc(synthetic_counts(n_cells=101, n_genes=80, n_types=3, seed=3), CFG.hvg,
                      CFG.k, CFG.tms, CFG.gene_k)
    inputs = Inputs.from_prepared(data, torch.device("cpu"))

    def f64(t):
        return None if t is None else t.to(torch.float64)

    return Inputs(inputs.view1._replace(x=f64(inputs.view1.x), x_t=f64(inputs.view1.x_t)),
                  inputs.view2._replace(x=f64(inputs.view2.x), x_t=f64(inputs.view2.x_t)),
                  f64(inputs.gene_x), f64(inputs.gene_x_t), f64(inputs.cell_adj),
                  f64(inputs.gene_adj), f64(inputs.loss_adj))


@pytest.fixture(autouse=True, scope="module")
def float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, port: int, out_dir: str) -> None:
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        ctx = DistContext(rank, WORLD)
        inputs = _inputs()
        res = train(inputs, CFG, 3, SEED, progress=False, distributed=ctx)
        # this rank's own share of the loss at the initial weights
        set_seed(SEED)
        model = ScrclModule(inputs.n_cells, inputs.n_genes, CFG.hid_dim, 3, CFG.dropout)
        terms = per_cell_loss(inputs.forward(model), inputs.loss_adj, CFG.temperature,
                              CFG.lambda1, CFG.lambda2)
        torch.save({"losses": res.losses, "state": res.model.state_dict(),
                    "shard": ctx.shard(inputs.n_cells),
                    "share": terms[ctx.shard(inputs.n_cells)].sum().item()},
                   Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def single():
    return train(_inputs(), CFG, 3, SEED, progress=False)


def test_two_gloo_processes_match_one(single, tmp_path):
    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]
    # each process summed only its own cells: 101 = 51 + 50, and the shares add up
    assert ranks[0]["shard"] == slice(0, 51) and ranks[1]["shard"] == slice(51, 101)
    assert abs(ranks[0]["share"] + ranks[1]["share"] - single.losses[0]) < 1e-5
    assert abs(ranks[0]["share"] - ranks[1]["share"]) > 1e-4  # the shares are not copies
    want = single.model.state_dict()
    for r in ranks:
        assert np.allclose(r["losses"], single.losses, rtol=0, atol=1e-5)
        for name, value in want.items():
            assert r["state"][name].dtype == torch.float64
            assert torch.allclose(r["state"][name], value, rtol=0, atol=1e-5), name
    # the weights moved: the comparison is not between two initial states
    set_seed(SEED)
    init = ScrclModule(101, CFG.hvg, CFG.hid_dim, 3, CFG.dropout).state_dict()
    assert (want["mlp_view.lin.weight"] - init["mlp_view.lin.weight"]).abs().max() > 1e-3


def test_per_cell_terms_add_up_to_the_loss():
    """Every cell's term, summed over any split, is the loss; so are the gradients."""
    inputs = _inputs()
    set_seed(0)
    model = ScrclModule(inputs.n_cells, inputs.n_genes, 16, 3, 0.0)
    out = inputs.forward(model)
    loss, _ = total_loss(out, inputs.loss_adj, 0.5, 0.7, 1.3)
    terms = per_cell_loss(out, inputs.loss_adj, 0.5, 0.7, 1.3)
    assert terms.shape == (inputs.n_cells,)
    assert torch.allclose(terms.sum(), loss, rtol=1e-12)
    params = list(model.parameters())
    g_full = torch.autograd.grad(loss, params, retain_graph=True)
    halves = [torch.autograd.grad(terms[s].sum(), params, retain_graph=True)
              for s in (DistContext(0, 2).shard(inputs.n_cells),
                        DistContext(1, 2).shard(inputs.n_cells))]
    for g, a, b in zip(g_full, *halves):
        assert torch.allclose(a + b, g, rtol=1e-9, atol=1e-14)


def test_shards_cover_every_cell_once():
    for n in (1, 7, 100, 101):
        for world in (1, 2, 3, 8):
            idx = np.concatenate([np.arange(n)[DistContext(r, world).shard(n)]
                                  for r in range(world)])
            assert np.array_equal(idx, np.arange(n))


@pytest.mark.slow
def test_runsc_under_torchrun_matches_one_process(tmp_path):
    """runSC.py launched by torchrun (2 CPU processes) writes the labels of a plain run."""
    data = tmp_path / "cells.h5ad"
    synthetic_counts(n_cells=90, n_genes=100, n_types=3, seed=4).write_h5ad(data)
    args = ["--dataset", str(data), "--epochs", "5", "--hid-dim", "16", "--hvg", "50",
            "--lr", "0.01", "--seeds", "5", "--quiet", "--device", "cpu"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    plain = subprocess.run([sys.executable, "runSC.py", *args, "--out", str(tmp_path / "a")],
                           cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert plain.returncode == 0, plain.stderr
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node",
                          "2", "--master-port", str(_free_port()), "runSC.py", *args,
                          "--ddp", "--out", str(tmp_path / "b")],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert ddp.returncode == 0, ddp.stderr
    a = pd.read_csv(tmp_path / "a" / "labels.csv", index_col=0)
    b = pd.read_csv(tmp_path / "b" / "labels.csv", index_col=0)
    assert a.equals(b)
