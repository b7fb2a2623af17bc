"""Checkpoints: an interrupted and resumed run is the uninterrupted run, bit for bit."""
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from scrcl.training import checkpoint as ckpt
from scrcl.training.checkpoint import CheckpointPlan
from scrcl.clustering.kmeans import kmeans_cosine
from scrcl.config import ScrclConfig
from scrcl.data.preprocess import prepare_sc, prepare_sc_with
from scrcl.data.synthetic import synthetic_counts
from scrcl.errors import ScrclInputError
from scrcl.pipeline import clustering_input
from scrcl.training.train import Inputs, embed, train

# dropout > 0 so that the torch RNG matters; a large lr so that the weights move
CFG = ScrclConfig(hvg=60, k=8, tms=(1, 0), hid_dim=16, epochs=8, dropout=0.3, lr=1e-2,
                  weight_decay=1e-3, lambda1=1.0, lambda2=1.0, temperature=0.5)
SEED = 5


class Interrupt(Exception):
    pass


@pytest.fixture(scope="module")
def inputs():
    data = prepare_sc(synthetic_counts(n_cells=120, n_genes=80, n_types=3, seed=1), CFG.hvg,
                      CFG.k, CFG.tms, CFG.gene_k)
    return Inputs.from_prepared(data, torch.device("cpu"))


def _labels(model, inputs):
    return kmeans_cosine(clustering_input(embed(model, inputs)), 3, n_init=3, seed=SEED).labels


def _scramble_global_rng():
    torch.manual_seed(12345)
    np.random.seed(54321)
    random.seed(999)


def _interrupt_after(k):
    def on_epoch(epoch, outputs):
        if epoch == k:
            raise Interrupt
    return on_epoch


@pytest.fixture(scope="module")
def uninterrupted(inputs):
    res = train(inputs, CFG, 3, SEED, progress=False)
    return res, _labels(res.model, inputs)


def test_interrupted_then_resumed_equals_uninterrupted(inputs, uninterrupted, tmp_path):
    full, full_labels = uninterrupted
    plan = CheckpointPlan(tmp_path, every=3)
    with pytest.raises(Interrupt):  # killed during epoch 5: the last checkpoint is epoch 3
        train(inputs, CFG, 3, SEED, progress=False, checkpoint=plan,
              on_epoch=_interrupt_after(5))
    assert torch.load(plan.path(SEED), weights_only=False)["epoch"] == 3
    _scramble_global_rng()  # a new process would start from other random states
    resumed = train(inputs, CFG, 3, SEED, progress=False,
                    checkpoint=CheckpointPlan(tmp_path, every=3, resume=True))
    assert resumed.start_epoch == 3 and len(resumed.epoch_s) == CFG.epochs - 3
    assert resumed.losses == full.losses  # the history, restored and continued
    want, got = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(want[k], got[k]) for k in want)
    assert np.array_equal(_labels(resumed.model, inputs), full_labels)
    assert ckpt.load(plan.path(SEED), ckpt.identity(CFG.to_dict(), 3, inputs.n_cells,
                                                    inputs.n_genes, SEED),
                     torch.device("cpu"))["epoch"] == CFG.epochs  # saved after the last epoch


def test_shorter_run_extended_by_resume(inputs, uninterrupted, tmp_path):
    """Train 4 epochs, then resume with the full 8: the same as 8 in one go."""
    full, _ = uninterrupted
    train(inputs, CFG.replace(epochs=4), 3, SEED, progress=False,
          checkpoint=CheckpointPlan(tmp_path, every=100))  # saved after its last epoch
    resumed = train(inputs, CFG, 3, SEED, progress=False,
                    checkpoint=CheckpointPlan(tmp_path, resume=True))
    assert resumed.start_epoch == 4
    assert all(torch.equal(a, b) for a, b in zip(full.model.parameters(),
                                                  resumed.model.parameters()))


def test_the_random_state_matters(inputs, uninterrupted, tmp_path):
    """Control: resuming with the RNG state left scrambled gives other weights (dropout), so
    the equality above is owed to the restored random state."""
    full, _ = uninterrupted
    train(inputs, CFG.replace(epochs=4), 3, SEED, progress=False,
          checkpoint=CheckpointPlan(tmp_path, every=4))
    payload = torch.load(tmp_path / f"seed{SEED}.pt", weights_only=False)
    _scramble_global_rng()
    payload["rng"] = ckpt.rng_state()
    torch.save(payload, tmp_path / f"seed{SEED}.pt")
    resumed = train(inputs, CFG, 3, SEED, progress=False,
                    checkpoint=CheckpointPlan(tmp_path, resume=True))
    assert not all(torch.equal(a, b) for a, b in zip(full.model.parameters(),
                                                      resumed.model.parameters()))


def test_settings_of_the_label_free_choice_may_differ_on_resume(inputs, uninterrupted,
                                                                 tmp_path):
    """select, select_stride and select_first do not change training: a checkpoint written
    before the scRNA-seq default became select_first 9 (its identity still holding the
    old value) resumes under the new default to the same weights."""
    full, _ = uninterrupted
    train(inputs, CFG.replace(epochs=4, select_first=0), 3, SEED, progress=False,
          checkpoint=CheckpointPlan(tmp_path, every=100))
    payload = torch.load(tmp_path / f"seed{SEED}.pt", weights_only=False)
    payload["identity"]["config"]["select_first"] = 0  # as written by the older identity
    torch.save(payload, tmp_path / f"seed{SEED}.pt")
    resumed = train(inputs, CFG.replace(select_first=9, select="stable"), 3, SEED,
                    progress=False, checkpoint=CheckpointPlan(tmp_path, resume=True))
    assert resumed.start_epoch == 4
    assert all(torch.equal(a, b) for a, b in zip(full.model.parameters(),
                                                  resumed.model.parameters()))


def test_a_checkpoint_of_another_run_is_refused(inputs, tmp_path):
    train(inputs, CFG.replace(epochs=2), 3, SEED, progress=False,
          checkpoint=CheckpointPlan(tmp_path, every=1))
    with pytest.raises(ScrclInputError, match="hid_dim"):
        train(inputs, CFG.replace(hid_dim=8), 3, SEED, progress=False,
              checkpoint=CheckpointPlan(tmp_path, resume=True))
    with pytest.raises(ScrclInputError, match="beyond --epochs 1"):
        train(inputs, CFG.replace(epochs=1), 3, SEED, progress=False,
              checkpoint=CheckpointPlan(tmp_path, resume=True))
    (tmp_path / f"seed{SEED}.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ScrclInputError, match="cannot read"):
        train(inputs, CFG, 3, SEED, progress=False,
              checkpoint=CheckpointPlan(tmp_path, resume=True))


def test_saving_leaves_only_the_final_file(inputs, tmp_path):
    res = train(inputs, CFG.replace(epochs=3), 3, SEED, progress=False,
                checkpoint=CheckpointPlan(tmp_path / "ck", every=2))
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == [f"seed{SEED}.pt"]
    payload = torch.load(tmp_path / "ck" / f"seed{SEED}.pt", weights_only=False)
    assert payload["epoch"] == 3 and payload["losses"] == res.losses
    assert set(payload["rng"]) >= {"torch", "numpy", "python"}
    assert set(payload["optimizer"]["state"])  # Adam moments are saved


def test_default_folder_beside_the_results():
    plan = CheckpointPlan.for_run(Path("results/SC/Baron"), "Baron", 10, False)
    assert plan.folder == Path("results/SC/.checkpoints/Baron")
    assert plan.path(15) == Path("results/SC/.checkpoints/Baron/seed15.pt")
    assert CheckpointPlan.for_run(Path("o"), "x", 0, False) is None
    assert [e for e in range(1, 11) if plan.due(e, 25)] == [10]
    assert plan.due(25, 25)  # always after the last epoch


def test_cli_resumes_a_checkpoint_and_cleans_up(tmp_path, capsys):
    """runSC.py --resume continues a checkpoint of the same run (here left by 2 epochs of
    the Python API with runSC's configuration) to the labels of an uninterrupted run."""
    from scrcl.cli.sc import main
    from scrcl.config import default_config

    adata = synthetic_counts(n_cells=80, n_genes=100, n_types=3, seed=2)
    data = tmp_path / "cells.h5ad"
    adata.write_h5ad(data)
    args = ["--dataset", str(data), "--epochs", "4", "--hid-dim", "16", "--hvg", "50",
            "--lr", "0.01", "--seeds", "5"]
    cfg = default_config("SC").replace(epochs=2, hid_dim=16, hvg=50, lr=0.01)
    prepared = prepare_sc_with(adata, cfg)
    ck = tmp_path / "ck"
    train(Inputs.from_prepared(prepared, torch.device("cpu")), cfg, 3, 5, progress=False,
          checkpoint=CheckpointPlan(ck, every=2))
    assert main([*args, "--quiet", "--out", str(tmp_path / "plain")]) == 0
    assert main([*args, "--out", str(tmp_path / "resumed"), "--resume",
                 "--checkpoint-dir", str(ck), "--checkpoint-every", "1"]) == 0
    assert "at epoch 2" in capsys.readouterr().err  # it did resume
    assert not ck.exists()  # removed once the results are written
    plain = pd.read_csv(tmp_path / "plain" / "labels.csv", index_col=0)
    assert plain.equals(pd.read_csv(tmp_path / "resumed" / "labels.csv", index_col=0))


@pytest.mark.parametrize("extra,words", [
    (["--checkpoint-every", "-2"], ["--checkpoint-every", "positive"]),
    (["--resume", "--protocol", "oracle"], ["--resume", "final"]),
    (["--checkpoint-dir", "x"], ["--checkpoint-dir", "--checkpoint-every"]),
    (["--ddp"], ["torchrun"]),
])
def test_cli_bad_options_give_one_line(tmp_path, capsys, extra, words):
    from scrcl.cli.sc import main

    assert main(["--dataset", "demo", "--out", str(tmp_path / "o"), "--quiet", *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    assert all(w in err[0] for w in words), err[0]
    assert not (tmp_path / "o").exists()


def test_ddp_takes_whole_data_steps_at_any_size(monkeypatch):
    """--ddp (or torchrun with several workers) and mini-batches do not combine: without
    --batch-size the steps are the whole data set (0), so that data above 20,000 cells,
    where mini-batches would start, do not fail inside training; with it, one error line."""
    from scrcl.cli.common import check_options
    from scrcl.cli.sc import build_parser

    args = build_parser().parse_args(["--dataset", "demo", "--ddp"])
    check_options(args)
    assert args.batch_size == 0
    for var, value in (("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "2"),
                       ("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", "29500")):
        monkeypatch.setenv(var, value)
    args = build_parser().parse_args(["--dataset", "demo"])
    check_options(args)
    assert args.batch_size == 0
    with pytest.raises(ScrclInputError, match="do not combine"):
        check_options(build_parser().parse_args(["--dataset", "demo", "--batch-size", "64"]))

