#!/usr/bin/env python
"""The record of one ``bench/gpu_check.sh`` call: each step's outcome and seconds (from its
log) and, per script run, the device, precision, ARI, epoch used, wall seconds and peak GPU
and resident memory (from the run's metrics.json). Stored under bench/results/gpu_check/
and tabled by ``bench/report.py`` (block gpu-check).

    python bench/gpu_summary.py OUT_DIR CHECK_LOG [--commit SHA] > record.json
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

STEP = re.compile(r"^=== (\S+): (.*)$")
DONE = re.compile(r"^\s+(ok|FAILED) \((\d+) s\)")


def steps(log: str) -> list[dict]:
    """[{name, command, ok, s}] in the order the script ran them."""
    out: list[dict] = []
    for line in log.splitlines():
        if m := STEP.match(line):
            out.append({"name": m.group(1), "command": m.group(2)})
        elif (m := DONE.match(line)) and out and "ok" not in out[-1]:
            out[-1].update(ok=m.group(1) == "ok", s=int(m.group(2)))
    return out


def runs(out_dir: Path, ok: set[str]) -> list[dict]:
    """The seeds of the runs whose step succeeded (``ok``: their folder names)."""
    rows = []
    for path in sorted(out_dir.glob("*/metrics.json")):
        if path.parent.name not in ok:
            continue
        d = json.loads(path.read_text())
        for s in d["per_seed"]:
            rows.append({"run": path.parent.name, "dataset": d["dataset"],
                         "device": d.get("device"), "precision": d.get("precision"),
                         "protocol": d.get("protocol"), "epochs": d["config"].get("epochs"),
                         "seed": s["seed"], "ari": s.get("ari"), "epoch_used": s["epoch_used"],
                         "wall_s": s["wall_s"], **(d.get("memory") or {}),
                         "versions": d.get("versions")})
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out_dir", type=Path)
    p.add_argument("check_log", type=Path)
    p.add_argument("--commit", default=None)
    p.add_argument("--gpu", default=None, help="the GPU's name (else read from the log)")
    args = p.parse_args(argv)
    log = args.check_log.read_text()
    gpu = args.gpu or next((line.split(",")[0] for line in log.splitlines()
                            if line.startswith("NVIDIA")), None)
    done = steps(log)
    ok = {s["name"] for s in done if s.get("ok")}  # each step writes to $OUT/<its name>
    json.dump({"gpu": gpu, "commit": args.commit or None, "steps": done,
               "runs": runs(args.out_dir, ok)}, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
