"""Keep the "before" of the cost-of-a-default-run table (bench/report.py, block
``default-cost``): the label-free default's stored entries (``scrcl``, protocol ``final``,
both suites) as they were at a given commit, reduced to what the table needs, in
``bench/results/default_cost/before.json``.

The runner replaces an entry's file when it recomputes it, so the entries of an older
default survive only in git; this script reads them from there once and keeps them beside
the results (a record, not an entry: the tables never mix it with the current ones).

    python bench/default_cost.py                 # the default: commit d5042ee
    python bench/default_cost.py --commit <sha>  # another "before"

d5042ee is the last commit whose default entries are all of results version 2: 500 epochs
trained without a stop, the candidates clustered by scikit-learn's k-means. Results
version 3 (the default since) stops once the silhouette has set no new best for 25
candidates and clusters the candidates with scrcl's own k-means.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [p for p in (str(BENCH), str(BENCH.parent)) if p not in sys.path]
from _results import RESULTS_DIR  # noqa: E402

DEFAULT_COMMIT = "d5042ee"
BEFORE = RESULTS_DIR / "default_cost" / "before.json"
KEPT = ("suite", "dataset", "seed", "results_version", "epochs_run", "train_s", "wall_s",
        "ari", "nmi", "threads", "precision", "device", "machine", "finished", "command")


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=BENCH.parent, check=True, capture_output=True,
                          text=True).stdout


def label_free_only(entry: dict) -> bool:
    """Whether the run trained for the label-free protocol alone: the runner's spatial units
    compute both protocols from one training unless told ``--protocols final``, and then
    cluster every epoch for the oracle, which a default run does not."""
    command = entry.get("command") or ""
    return "--protocols final" in command or "--protocols" not in command and \
        entry["suite"] == "sc"


def snapshot(commit: str) -> dict:
    """The default's label-free entries at ``commit``, one record per (suite, data set, seed)."""
    full = _git("rev-parse", commit).strip()
    paths = [p for p in _git("ls-tree", "-r", "--name-only", full, "bench/results/sc",
                             "bench/results/st").splitlines()
             if p.split("/")[-3:-1] == ["scrcl", "final"]]
    records = []
    for path in paths:
        entry = json.loads(_git("show", f"{full}:{path}"))
        if entry.get("variant") or entry.get("method") != "scrcl":
            continue
        record = {k: entry.get(k) for k in KEPT}
        record["epochs_run"] = record["epochs_run"] or entry.get("epochs")
        record["label_free_only"] = label_free_only(entry)
        records.append(record)
    return {"commit": full, "what": "scrcl final entries (the label-free default) at this "
            "commit", "records": records}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--commit", default=DEFAULT_COMMIT, help="the 'before' commit")
    ap.add_argument("--out", type=Path, default=BEFORE, help="where to write the record")
    args = ap.parse_args(argv)
    from scrcl.io import write_json

    data = snapshot(args.commit)
    write_json(args.out, data)
    print(f"{len(data['records'])} entries of {data['commit'][:7]} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
