"""bench/gpu_summary.py: the record of a GPU check keeps each step's outcome and only the
runs of the steps that succeeded."""
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _summary():
    sys.path.insert(0, str(BENCH))
    try:
        import gpu_summary
    finally:
        sys.path.remove(str(BENCH))
    return gpu_summary


def _metrics(folder: Path, ari) -> None:
    folder.mkdir()
    (folder / "metrics.json").write_text(json.dumps({
        "dataset": "Baron_mouse1", "device": "cuda", "precision": "bf16", "protocol": "final",
        "config": {"epochs": 500}, "memory": {"peak_rss_mb": 2000.0, "peak_gpu_mb": 380.0},
        "per_seed": [{"seed": 5, "ari": ari, "epoch_used": 50, "wall_s": 10.5}]}))


def test_steps_and_runs(tmp_path, capsys):
    summary = _summary()
    log = ("NVIDIA H100 80GB HBM3, 81559 MiB, 580\n"
           "=== runSC_bf16: python runSC.py --device cuda\n    ok (28 s)\n"
           "=== runSC_fp32: python runSC.py --device cuda --precision fp32\n"
           "    FAILED (3 s): tail of /tmp/runSC_fp32.log\nTraceback ...\n")
    (tmp_path / "check.log").write_text(log)
    _metrics(tmp_path / "runSC_bf16", 0.788)
    _metrics(tmp_path / "runSC_fp32", 0.5)  # left by an earlier call: its step failed now
    assert summary.main([str(tmp_path), str(tmp_path / "check.log"), "--commit", "abc"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["gpu"] == "NVIDIA H100 80GB HBM3" and record["commit"] == "abc"
    assert [(s["name"], s["ok"], s["s"]) for s in record["steps"]] == [
        ("runSC_bf16", True, 28), ("runSC_fp32", False, 3)]
    assert [(r["run"], r["ari"], r["peak_gpu_mb"]) for r in record["runs"]] == [
        ("runSC_bf16", 0.788, 380.0)]
