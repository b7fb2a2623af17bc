#!/usr/bin/env python
"""The benchmark runner: every entry (suite, dataset, method, protocol, seed) is computed once
and stored as a small JSON file under bench/results/ (committed); a rerun skips every entry
whose input hash matches, so a run that is cut off loses at most the entry in progress.

    python bench/run.py sc                       # scRNA-seq stand-ins, every method, 5 seeds
    python bench/run.py st --seeds 5 15 25       # the 13 spatial slices
    python bench/run.py speed                    # s/epoch, fp32 and bf16 interleaved
    python bench/run.py k                        # K estimated by --n-clusters auto
    python bench/run.py selection                # label-free selection rules, stored runs
    python bench/run.py sc --methods pca_kmeans leiden        # the cheap baselines only
    python bench/run.py st --device cuda --budget-min 9       # one chunk on a GPU machine
    python bench/run.py sc --dry-run             # what would run, and what is up to date
    python bench/report.py                       # the tables of BENCHMARKS.md from the results

Suites: sc (substitutes/scdata stand-ins, label obs['cell_type1'], documented defaults),
st (stdata_pca slices, preset per slice, processed features, labelled spots), speed
(seconds per training epoch of scrcl in fp32 and bf16, interleaved in one process), k (the
number of clusters that --n-clusters auto estimates without labels, beside the true one),
consensus (one partition from the stored seeds) and selection (the rules of
bench/_selection.py on the stored candidate epochs of the label-free runs).
The data set name 'demo' (synthetic counts) works in sc and speed, for tests.

Methods: scrcl (k-means, the package default), scrcl-gmm (spatial only; the same trained
models clustered by the EEE mixture), scrcl-autok (label-free protocol with the K that
--n-clusters auto estimates: the same models where the preset fixes out_dim, as on the
spatial slices, else a run of its own), and the baselines of bench/_methods.py. One training
run per (data set, seed) serves both protocols and both clusterers: 'final' (label-free, the
default of runSC.py/runST.py) and 'oracle' (the published protocol: the epoch with the best
NMI (sc) / ARI (st) against the true labels; it uses the answer key), which clusters the
published [z1, z2]: on scRNA-seq, whose default clusters [e1, e2], the oracle entries are
those of '--set embedding=z'. K = true classes. Baselines are label-free and stored under
protocol 'final'.

The runner's parts, one concern each: _suites.py (suites, methods, versions), _plan.py (the
units of a suite and their input hashes), _entries.py (storing an entry), _training.py
(scrcl's training runs and the time budget), _units.py (what a unit of sc, st, speed and k
computes), _members.py, _studies.py and _derived.py (the studies on stored runs), and
_data.py, _methods.py (baselines), _peers.py (GraphST, scVI), _results.py (the store).

The input hash covers the data file's bytes, the effective configuration, the method, the
run settings, epochs, precision (requested and resolved) and RESULTS_VERSION, which must be
raised whenever a code change alters results. Device and threads are recorded, not hashed
(except by the speed suite, whose result is a timing).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Optional

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [p for p in (str(BENCH), str(BENCH.parent)) if p not in sys.path]

# the runner's parts, one concern each (their names are re-exported here: tests and
# bench/report.py read them from the runner)
import _data  # noqa: E402,F401
import _env  # noqa: E402
import _selection  # noqa: E402,F401
from _derived import derive_autok, derive_final  # noqa: E402,F401
from _entries import environment, store  # noqa: E402,F401
from _members import consensus_members, early_member, selection_member  # noqa: E402,F401
from _plan import Context, Unit, hash_inputs, hashed_config, plan  # noqa: E402,F401
from _results import RESULTS_DIR, Key, iter_entries, write_entry  # noqa: E402,F401
from _studies import run_consensus, run_early, run_selection  # noqa: E402
from _suites import (PROTOCOLS, RESULTS_VERSION, SCRCL_METHODS,  # noqa: E402,F401
                     SUITES, results_version)
from _training import (PROBE_EPOCHS, clustered_epochs, fit_run_cost,  # noqa: E402,F401
                       probe_unit_s, stored_s_per_epoch, train_protocols)
from _units import (run_baseline, run_epoch1, run_k, run_peer, run_scrcl,  # noqa: E402
                    run_speed)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench/run.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("suite", choices=tuple(SUITES))
    p.add_argument("--datasets", nargs="+", help="default: every data set of the suite")
    p.add_argument("--seeds", type=int, nargs="+",
                   help="default 5 15 25 35 45 (speed: 5; k: 0, its Leiden seeds are fixed)")
    p.add_argument("--methods", nargs="+", help="default: every method of the suite")
    p.add_argument("--protocols", nargs="+", choices=PROTOCOLS, default=list(PROTOCOLS),
                   help="of scrcl and scrcl-gmm (baselines are label-free: 'final'). "
                        "'oracle', the published protocol, is run where the embedding "
                        "clustered is the published [z1, z2] and the schedule the published "
                        "one (not with --set schedule=fast): on scRNA-seq (default [e1, e2]) "
                        "with --set embedding=z")
    p.add_argument("--epochs", type=int, default=None,
                   help="training epochs (default: the schedule's, 500 as published, "
                        "100 with --set schedule=fast)")
    p.add_argument("--peer-epochs", type=int,
                   help="training epochs of the peers (GraphST, scVI); default: each one's "
                        "own (stored as a variant 'epochs-N' when given)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="dense layers of scrcl (the speed suite always times fp32 and bf16)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="change a configuration field of scrcl, e.g. hid_dim=64 or "
                        "tms=[5,0] (JSON values); repeatable")
    p.add_argument("--budget-min", type=float,
                   help="start no entry that would not finish within this many minutes of "
                        "the runner's start (estimated from stored timings of the data set "
                        "on this device, of label-free or oracle runs as the unit is, "
                        "else from short probe runs of the unit)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads (torch, BLAS, OpenMP); default 1, for background runs")
    p.add_argument("--warmup", type=int, default=2, help="speed: warm-up epochs per block")
    p.add_argument("--timed-epochs", type=int, default=10,
                   help="speed: timed epochs per precision, in two alternating blocks")
    p.add_argument("--results", type=Path, default=RESULTS_DIR, help="results folder")
    p.add_argument("--dry-run", action="store_true",
                   help="list the entries to compute and those up to date; compute nothing")
    return p



def parse_overrides(items: list[str]) -> dict[str, Any]:
    """{'hid_dim': 64, ...} from KEY=VALUE strings (JSON values, else strings)."""
    from scrcl.config import SCHEDULES, ScrclConfig

    fields = set(ScrclConfig.__dataclass_fields__)
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in fields:
            raise SystemExit(f"--set {item!r}: expected KEY=VALUE with KEY one of "
                             f"{', '.join(sorted(fields))}")
        try:
            out[name] = json.loads(value)
        except ValueError:
            out[name] = value
    if "schedule" in out and out["schedule"] not in SCHEDULES:
        raise SystemExit(f"--set schedule={out['schedule']}: choose one of "
                         f"{', '.join(SCHEDULES)}")
    return out



RUNNERS = {"scrcl": run_scrcl, "baseline": run_baseline, "epoch1": run_epoch1,
           "peer": run_peer, "speed": run_speed, "k": run_k,
           "consensus": run_consensus, "selection": run_selection, "early": run_early}



def execute(argv: Optional[list[str]] = None) -> dict:
    """Run (or list, with --dry-run) the suite; returns the counts of entries computed, up
    to date and left out for the budget."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    if args.threads < 1:
        raise SystemExit("--threads must be at least 1")
    _env.limit_threads_env(args.threads)
    quiet_library_warnings()
    started = time.monotonic()
    _env.limit_threads(args.threads)
    ctx = Context(args, argv, parse_overrides(args.set), started)
    if not args.dry_run:  # where and with what the entries run, taken now (cached): the
        environment(ctx)  # commit the runs started from, and no import left for storing
    for unit in plan(ctx):
        pending = unit.pending(args.results)
        ctx.counts["up_to_date"] += len(unit.keys) - len(pending)
        if not pending:
            continue
        if args.dry_run:
            for key in pending:
                print(f"to compute: {key.suite} {key.dataset} {key.folder}/{key.protocol} "
                      f"seed {key.seed}")
            continue
        RUNNERS[unit.kind](ctx, unit, pending)
    counts = ctx.counts
    print(f"{counts['computed']} entries computed, {counts['up_to_date']} up to date, "
          f"{counts['over_budget']} left for the budget ({time.monotonic() - started:.0f} s)",
          flush=True)
    return counts



def quiet_library_warnings() -> None:
    """Hide the libraries' deprecation and beta notices (they say nothing about results)."""
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*[Ss]parse.*")
    warnings.filterwarnings("ignore", message="`n_top_genes` > number")



def main(argv: Optional[list[str]] = None) -> int:
    execute(argv)
    return 0



if __name__ == "__main__":
    raise SystemExit(main())
