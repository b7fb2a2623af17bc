"""The memory model (scrcl/memory.py): arithmetic, fit, the committed records, refusal."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scrcl.training import memory
from scrcl.errors import ScrclInputError

REPO = Path(__file__).resolve().parent.parent
RECORDS = REPO / "bench" / "results" / "scaling"


def test_prediction_by_hand():
    coef = (500.0, 0.02, 0.1, 0.3, 900.0, 0.01)
    # training, chunked loss (6,000 x 3,000 >= 2^24): 500 + 0.02 * 10,000 * 4,000 / 2,000
    # + 0.1 * 6,000 * 3,000 / 1,500 = 500 + 400 + 1,200; evaluation 900 + 200
    assert memory.predict_mb(10_000, 4000, 3000, 6000, coef) == pytest.approx(2100.0)
    # plain loss below 2^24 activation entries (1,000 x 1,500): training 500 + 200 + 300,
    # less than evaluation 900 + 0.01 * 10,000 = 1,000 + 100 -> the evaluation counts
    assert memory.predict_mb(10_000, 2000, 1500, 1000, coef) == pytest.approx(1000.0)
    assert memory.predict_mb(10_000, 2000, 1500, 500, coef) == pytest.approx(1000.0)
    # full batch: B = N (20,000 x 1,500 >= 2^24)
    assert memory.predict_mb(20_000, 2000, 1500, None, coef) == pytest.approx(
        500 + 400 + 0.1 * 20_000)


def test_the_wide_embedding_adds_its_copies_to_both_stages(monkeypatch):
    """[e1, e2] (2H wide): 2 copies x 4 bytes x 3,000 x 10,000 cells = 228.9 MB on top of
    either stage; [z1, z2] (width 0 here: the fit includes it) adds nothing. Where even
    that does not fit, the refusal names --embedding z."""
    coef = (500.0, 0.02, 0.1, 0.3, 900.0, 0.01)
    extra = 2 * 4 * 3000 * 10_000 / 2**20
    assert memory.embedding_mb(10_000, 3000) == pytest.approx(extra) == pytest.approx(228.88,
                                                                                    abs=0.01)
    for batch in (6000, 1000, None):
        assert memory.predict_mb(10_000, 2000, 1500, batch, coef, embedding_width=3000) == (
            pytest.approx(memory.predict_mb(10_000, 2000, 1500, batch, coef) + extra))
    need = memory.predict_mb(1000, 2000, 1500, None, embedding_width=3000)
    monkeypatch.setenv(memory.LIMIT_ENV, str(need / 2))
    with pytest.raises(ScrclInputError, match="use --embedding z"):
        memory.check(1000, 2000, 1500, None, embedding_width=3000)


def test_fit_recovers_known_coefficients():
    truth = (650.0, 0.03, 0.09, 0.2, 1200.0, 0.05)
    recs = []
    for n, b in [(1000, 1000), (5000, 5000), (20_000, 20_000), (50_000, 20_000),
                 (50_000, 5000), (100_000, 20_000)]:
        train = memory.predict_mb(n, 2000, 1500, b, truth[:4] + (0.0, 0.0))
        evaluation = truth[4] + truth[5] * n
        recs.append({"n_cells": n, "n_genes": 2000, "batch_cells": b,
                     "rss_after_train_mb": train, "peak_rss_mb": evaluation})
    assert memory.fit(recs) == pytest.approx(truth, rel=1e-6)


def _records():
    recs = [json.loads(f.read_text()) for f in sorted(RECORDS.glob("*.json"))]
    if not recs:
        if os.environ.get("CI") == "true":
            pytest.fail(f"no scaling records in {RECORDS}")
        pytest.skip("no scaling records")
    return recs


def test_constants_describe_the_committed_records():
    """No record of bench/scaling.py more than 20% above the model's prediction (a refusal
    must not come too late), none far below it (at most twice the record plus 1.5 GB: the
    model's fixed part is fitted to large runs), and the constants close to a fresh fit."""
    recs = _records()
    for r in recs:
        predicted = memory.predict_mb(r["n_cells"], r["n_genes"], 1500, r["batch_cells"])
        assert 0.8 * r["peak_rss_mb"] <= predicted <= 2 * r["peak_rss_mb"] + 1500, r
    fresh = memory.fit(recs)
    assert fresh == pytest.approx(memory.coefficients(), rel=0.15)


def test_refusal_names_a_batch_size_that_fits(monkeypatch):
    n = 100_000
    floor = memory.predict_mb(n, 2000, 1500, 1000)  # what no batch size lowers
    assert memory.predict_mb(n, 2000, 1500, None) > floor + 1000  # full batch: more
    limit = (floor + 1000) / memory.HEADROOM  # room for some batch size, not for all cells
    monkeypatch.setenv(memory.LIMIT_ENV, str(limit))
    if memory.available_mb() < limit:
        pytest.skip("this machine has less memory free than the test's limit")
    with pytest.raises(ScrclInputError, match=r"use --batch-size (\d+)") as err:
        memory.check(n, 2000, 1500, None)
    size = int(err.value.args[0].split("--batch-size ")[1].split()[0])
    fits = lambda b: memory.predict_mb(n, 2000, 1500, b) <= memory.HEADROOM * limit
    assert fits(size) and not fits(size + 1000)  # the largest multiple of 1,000 that fits
    assert "needed, " in memory.check(n, 2000, 1500, size)  # and it passes the check
    monkeypatch.setenv(memory.LIMIT_ENV, str(floor / 2))  # not even the floor fits
    with pytest.raises(ScrclInputError, match="--hvg"):
        memory.check(n, 2000, 1500, None)


def test_script_refuses_before_training(tmp_path):
    """runSC.py with too little memory: one error line, exit 2, no results folder."""
    out = tmp_path / "out"
    env = dict(os.environ, **{memory.LIMIT_ENV: "300"})
    proc = subprocess.run([sys.executable, str(REPO / "runSC.py"), "--dataset", "demo",
                           "--epochs", "2", "--seeds", "5", "--out", str(out)],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 2
    errors = [l for l in proc.stderr.splitlines() + proc.stdout.splitlines()
              if l.startswith("error:")]
    assert len(errors) == 1 and "of memory but only 0.3 GB is available" in errors[0]
    assert "Traceback" not in proc.stderr
    assert not out.exists()
