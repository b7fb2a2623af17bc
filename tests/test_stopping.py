"""The label-free stopping rule (scrcl.clustering.stopping): where it stops on hand-made
sequences, that it reads no label, that the oracle and --stop never train every epoch."""
import json

import numpy as np
import pytest

from scrcl.clustering.selection import silhouette
from scrcl.clustering.stopping import Plateau, StopRule, stop_index
from scrcl.config import ScrclConfig
from scrcl.data.preprocess import prepare_sc
from scrcl.data.synthetic import synthetic_counts
from scrcl.pipeline import run_protocols, stop_rule

EPOCHS = list(range(10, 210, 10))  # the stride's candidates of a 200-epoch run


def test_stops_after_patience_candidates_without_a_new_best():
    scores = [0.1, 0.2, 0.3, 0.5] + [0.4] * 16  # best at epoch 40, then flat below it
    i = stop_index(EPOCHS, scores, StopRule(patience=3))
    assert EPOCHS[i] == 70  # 50, 60, 70: three candidates without a new best
    # a new best resets the wait
    scores = [0.1, 0.5, 0.4, 0.4, 0.6, 0.4, 0.4, 0.4, 0.4] + [0.1] * 11
    assert EPOCHS[stop_index(EPOCHS, scores, StopRule(patience=3))] == 80


def test_rising_score_never_stops_and_ties_do_not_count_as_progress():
    rising = np.linspace(0, 1, len(EPOCHS))
    assert stop_index(EPOCHS, rising, StopRule(patience=2)) == len(EPOCHS) - 1
    flat = [0.3] * len(EPOCHS)  # equal scores: no new best after the first
    assert EPOCHS[stop_index(EPOCHS, flat, StopRule(patience=2))] == 30
    # a rise smaller than min_delta is no progress
    creeping = 0.3 + 1e-4 * np.arange(len(EPOCHS))
    assert EPOCHS[stop_index(EPOCHS, creeping, StopRule(patience=2, min_delta=1e-3))] == 30
    assert stop_index(EPOCHS, creeping, StopRule(patience=2)) == len(EPOCHS) - 1


def test_early_candidates_count_for_the_best_not_for_the_wait():
    epochs = [1, 2, 3, 10, 20, 30, 40]
    scores = [0.9, 0.1, 0.1, 0.2, 0.2, 0.2, 0.2]  # epoch 1 is best, never beaten
    assert epochs[stop_index(epochs, scores, StopRule(patience=3))] == 30
    assert epochs[stop_index(epochs, scores, StopRule(patience=3, min_epoch=40))] == 40


def test_decision_says_why_and_max_epochs_is_no_plateau():
    plateau = Plateau(StopRule(patience=2), max_epochs=30)
    assert not plateau.update(10, 0.5)
    assert not plateau.update(20, 0.4)
    assert not plateau.update(30, 0.3)  # the last epoch: training ends anyway
    decision = plateau.finish(30)
    assert decision.signal == "max_epochs" and decision.best_epoch == 10
    plateau = Plateau(StopRule(patience=2), max_epochs=500)
    assert [plateau.update(e, s) for e, s in [(10, 0.5), (20, 0.4), (30, 0.3)]] == [
        False, False, True]
    d = plateau.decision
    assert (d.epoch, d.signal, d.best_epoch, d.since_best) == (30, "plateau", 10, 2)
    assert "epoch 30" in d.describe() and json.dumps(d.as_dict())


def test_hand_made_partitions_stop_once_the_clusters_fall_apart():
    """Three well separated groups; the candidates' partitions find them by epoch 30 and
    then degrade (more and more cells moved at random): the silhouette of each partition
    peaks at 30, and the rule stops ``patience`` candidates later."""
    rng = np.random.default_rng(0)
    centres = np.eye(3) * 10
    truth = np.repeat(np.arange(3), 40)
    emb = centres[truth] + rng.normal(size=(120, 3))
    moved = [60, 30, 0, 10, 20, 30, 40, 50, 60, 70, 80, 90]  # cells relabelled at random
    parts = []
    for n in moved:
        p = truth.copy()
        idx = rng.choice(120, n, replace=False)
        p[idx] = rng.integers(0, 3, n)
        parts.append(p)
    epochs = [10 * (i + 1) for i in range(len(parts))]
    scores = [silhouette(emb, p) for p in parts]
    assert int(np.argmax(scores)) == 2
    assert epochs[stop_index(epochs, scores, StopRule(patience=4))] == 70


def _data():
    adata = synthetic_counts(n_cells=90, n_genes=80, n_types=3, seed=4)
    truth = np.asarray(adata.obs["cell_type1"].astype(str))
    cfg = ScrclConfig(hvg=60, k=5, tms=(1, 0), hid_dim=16, epochs=160, lr=1e-3,
                      kmeans_n_init=2, select_first=3)
    return prepare_sc(adata, cfg.hvg, cfg.k, cfg.tms, cfg.gene_k), truth, cfg


def test_oracle_and_stop_never_train_every_epoch_and_oracle_is_unchanged():
    data, truth, cfg = _data()
    auto = run_protocols(data, cfg, 3, [5], ("oracle",), truth=truth, progress=False,
                         eval_every=20)["oracle"].runs[0]
    never = run_protocols(data, cfg.replace(stop="never"), 3, [5], ("oracle",), truth=truth,
                          progress=False, eval_every=20)["oracle"].runs[0]
    assert auto.epochs_run == never.epochs_run == cfg.epochs
    assert auto.stop is None and never.stop is None
    assert auto.losses == never.losses and auto.epoch_used == never.epoch_used
    assert (auto.labels == never.labels).all()
    # a run of both protocols keeps the oracle's epochs: the label-free choice then sees
    # every candidate too
    both = run_protocols(data, cfg, 3, [5], ("final", "oracle"), truth=truth,
                         progress=False, eval_every=20)
    assert both["final"].runs[0].epochs_run == cfg.epochs
    assert both["oracle"].runs[0].losses == never.losses


def test_label_free_run_stops_reads_no_label_and_matches_a_truncated_run():
    data, truth, cfg = _data()
    assert stop_rule(cfg) is not None and stop_rule(cfg.replace(stop="never")) is None
    assert stop_rule(cfg.replace(select="last")) is None
    small = cfg.replace(epochs=400)
    stopped = run_protocols(data, small, 3, [5], truth=truth, progress=False)["final"].runs[0]
    unlabelled = run_protocols(data, small, 3, [5], progress=False)["final"].runs[0]
    assert stopped.stop == unlabelled.stop and (stopped.labels == unlabelled.labels).all()
    d = stopped.stop
    assert d["signal"] == "plateau" and d["epoch"] == stopped.epochs_run < small.epochs
    assert d["epoch"] - d["best_epoch"] >= d["patience"] * small.select_stride - 9
    assert stopped.epoch_used == d["best_epoch"]
    # the same seed trained to the stop epoch with --stop never: the same losses, and the
    # same choice among the same candidates
    full = run_protocols(data, small.replace(stop="never", epochs=d["epoch"]), 3, [5],
                         progress=False)["final"].runs[0]
    assert full.losses == stopped.losses and full.epoch_used == stopped.epoch_used
    assert (full.labels == stopped.labels).all()


def test_run_sc_records_the_stop_in_metrics_json(tmp_path):
    """runSC.py end to end: --stop auto ends early and says so; --stop never and the oracle
    train every epoch (metrics.json 'stop' and per-seed 'epochs_trained')."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    path = tmp_path / "data.h5ad"
    synthetic_counts(n_cells=90, n_genes=80, n_types=3, seed=4).write_h5ad(path)
    common = ["--dataset", path, "--epochs", "200", "--hid-dim", "16", "--hvg", "60",
              "--lr", "1e-3", "--seeds", "5", "--quiet"]

    def run(name, *extra):
        proc = subprocess.run([sys.executable, str(repo / "runSC.py"), *map(str, common),
                               "--out", str(tmp_path / name), *extra], capture_output=True,
                              text=True, env=dict(os.environ, OMP_NUM_THREADS="1"),
                              timeout=600)
        assert proc.returncode == 0, proc.stderr
        return json.loads((tmp_path / name / "metrics.json").read_text())

    auto = run("auto", "--stop-patience", "3")
    seed = auto["per_seed"][0]
    stop = auto["stop"]
    assert stop["setting"] == "auto" and stop["active"] and stop["max_epochs"] == 200
    assert stop["per_seed"][0]["signal"] == "plateau" and stop["per_seed"][0]["patience"] == 3
    assert stop["per_seed"][0]["epoch"] == seed["epochs_trained"] < 200
    assert seed["epoch_used"] == stop["per_seed"][0]["best_epoch"]
    never = run("never", "--stop", "never")
    assert never["per_seed"][0]["epochs_trained"] == 200 and not never["stop"]["active"]
    oracle = run("oracle", "--protocol", "oracle", "--epochs", "30")
    assert oracle["config"]["stop"] == "never" and oracle["per_seed"][0]["epochs_trained"] == 30
