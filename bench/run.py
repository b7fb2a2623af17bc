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

The input hash covers the data file's bytes, the effective configuration, the method, the
run settings, epochs, precision (requested and resolved) and RESULTS_VERSION, which must be
raised whenever a code change alters results. Device and threads are recorded, not hashed
(except by the speed suite, whose result is a timing).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [p for p in (str(BENCH), str(BENCH.parent)) if p not in sys.path]

import _data  # noqa: E402
import _env  # noqa: E402
import _methods  # noqa: E402
import _peers  # noqa: E402
import _selection  # noqa: E402
from _results import (RESULTS_DIR, Key, input_hash, is_current, iter_entries,  # noqa: E402
                      pack_labels, read_entry, write_entry)

#: raise when a code change alters results: every stored entry is then recomputed
RESULTS_VERSION = 2  # 2: fast CPU dropout mask (scrcl.nn.dropout)
#: the same for the baselines, which run no scrcl code: raise when bench/_methods.py changes
BASELINES_VERSION = 1
#: the same for the peers (bench/_peers.py: GraphST, scVI): raise when their use changes
PEERS_VERSION = 1

DEFAULT_EPOCHS = 500  # the published protocol

AUTOK = "scrcl-autok"  # K estimated as --n-clusters auto does (label-free protocol only)
LEIDEN = "scrcl-leiden"  # the embedding clustered by Leiden, resolution bisected to K
SCRCL_METHODS = ("scrcl", "scrcl-gmm", LEIDEN, AUTOK)
FINAL_ONLY = (LEIDEN, AUTOK)  # studies of issue 13: the label-free protocol only
#: scrcl's own control: the same pipeline after one epoch ('--epochs 1 --select last'),
#: label-free, k-means at the true K: what training adds
EPOCH1 = "scrcl-epoch1"
EPOCH1_SETTINGS = {"epochs": 1, "select": "last"}
#: the published protocol (the epoch with the best score against the truth) clusters the
#: published [z1, z2]; a configuration that clusters another embedding (the scRNA-seq
#: default 'h') is benchmarked label-free only: '--set embedding=z' stores its oracle
ORACLE_EMBEDDING = "z"
PROTOCOLS = ("final", "oracle")
DEFAULT_SEEDS = (5, 15, 25, 35, 45)
SPEED_DATASETS = ("Baron_mouse1", "Baron_mouse2", "MCA_mouse_bladder_select2100",
                  "CITE_CBMC_top2000", "151507")
SPEED_PRECISIONS = ("fp32", "bf16")
SPEED_PROTOCOL = "epoch_time"
#: the speed suite's protocol per device: CUDA timings are stored beside the CPU ones
SPEED_PROTOCOLS = {"cpu": SPEED_PROTOCOL, "cuda": SPEED_PROTOCOL + "_cuda"}
#: consensus suite methods -> scrcl.clustering.consensus method ("scrcl-consensus": what
#: the pipeline makes, scrcl.clustering.consensus.consensus_method_for: average linkage
#: since Nov 2026, k-means on the profiles before)
CONSENSUS_METHODS = {"scrcl-consensus": "pipeline", "scrcl-consensus-kmeans": "kmeans",
                     "scrcl-autok-consensus": "pipeline"}
#: whose stored partitions each consensus method combines (the estimated-K runs for the
#: consensus a user without labels gets)
CONSENSUS_MEMBERS = {"scrcl-consensus": "scrcl", "scrcl-consensus-kmeans": "scrcl",
                     "scrcl-autok-consensus": AUTOK}
#: raise when scrcl.clustering.consensus changes its partitions (2: float32 distances,
#: 3: ties by the cells' order, at least 3 seeds; 4: clusters under 5 cells do not count)
CONSENSUS_VERSION = 4
SUITES = {
    "sc": {"datasets": _data.SC_DATASETS,
           "methods": ("scrcl", LEIDEN, AUTOK, "pca_kmeans", "leiden", EPOCH1,
                       *_peers.PEERS["sc"])},
    "st": {"datasets": _data.ST_DATASETS,
           "methods": ("scrcl", "scrcl-gmm", LEIDEN, AUTOK, "pca_kmeans", "smooth_kmeans",
                       "gmm", EPOCH1, *_peers.PEERS["st"])},
    "speed": {"datasets": SPEED_DATASETS, "methods": ("scrcl",)},
    "k": {"datasets": _data.SC_DATASETS + _data.ST_DATASETS, "methods": _methods.K_RULES},
    "consensus": {"datasets": _data.SC_DATASETS + _data.ST_DATASETS,
                  "methods": tuple(CONSENSUS_METHODS)},
    "selection": {"datasets": _data.SC_DATASETS + _data.ST_DATASETS,
                  "methods": (*_selection.RULES, _selection.CEILING,
                              *_selection.EARLY_METHODS)},
    "early": {"datasets": _data.SC_DATASETS + _data.ST_DATASETS, "methods": ("scrcl",)},
}
#: raise when the early suite's reconstruction or its rule changes (2: keeps the early
#: epochs' partitions, packed, so that label-free entries can be rebuilt with them)
EARLY_VERSION = 2
BASELINES = {"sc": ("pca_kmeans", "leiden"), "st": ("pca_kmeans", "smooth_kmeans", "gmm")}


def results_version(method: str) -> int:
    """The results version an entry of ``method`` is computed and shown under."""
    if method in _peers.PEERS["sc"] + _peers.PEERS["st"]:
        return PEERS_VERSION
    return BASELINES_VERSION if method in BASELINES["sc"] + BASELINES["st"] else RESULTS_VERSION


#: what --n-clusters auto runs (scrcl.tl.fit), with the package's defaults
K_SETTINGS = {"rule": "estimate_n_clusters(expression_graph(prepared)): 15-NN of 50 PCs"}
K_RULE = K_SETTINGS["rule"]
#: since Nov 2026 the default rule's entries also score its Leiden partition
K_SCORED = {"scored": "ARI/NMI of the Leiden partition of the first seed"}


# ----------------------------------------------------------------------------- options


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
                        "clustered is the published [z1, z2]: on scRNA-seq (default [e1, e2]) "
                        "with --set embedding=z")
    p.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS,
                   help="training epochs (published: 500)")
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
    from scrcl.config import ScrclConfig

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
    return out


# ----------------------------------------------------------------------------- planning


@dataclass
class Unit:
    """Work done in one go: one training run (scrcl), one clustering (a baseline), one
    timing (speed) or one estimate of K (k), producing one or more entries."""

    kind: str  # 'scrcl', 'baseline', 'speed' or 'k'
    spec: _data.DatasetSpec
    seed: int
    keys: list[Key]
    hashes: dict[Key, str] = field(default_factory=dict)
    inputs: dict[Key, dict] = field(default_factory=dict)

    def pending(self, root: Path) -> list[Key]:
        return [k for k in self.keys if not is_current(k, root, self.hashes[k])]


@dataclass
class Context:
    args: argparse.Namespace
    argv: list[str]
    overrides: dict[str, Any]
    started: float
    cache: dict = field(default_factory=dict)  # the current data set's inputs
    probes: dict[tuple, float] = field(default_factory=dict)  # unit kind -> probed s
    counts: dict = field(default_factory=lambda: {"computed": 0, "up_to_date": 0,
                                                  "over_budget": 0})

    @property
    def variant(self) -> str:
        """The settings changed from the defaults, as a folder-safe name ('' for none)."""
        changed = dict(self.overrides)
        if self.args.precision != "auto":
            changed["precision"] = self.args.precision
        if self.args.epochs != DEFAULT_EPOCHS:
            changed["epochs"] = self.args.epochs
        return "__".join(f"{k}-{_slug(v)}" for k, v in sorted(changed.items()))

    def config(self, spec: _data.DatasetSpec):
        cfg = _data.base_config(spec).replace(**self.overrides)
        return cfg.replace(epochs=self.args.epochs, precision=self.args.precision)

    def epoch1_config(self, spec: _data.DatasetSpec):
        """The configuration of ``scrcl-epoch1``: this one after one epoch, the last."""
        return self.config(spec).replace(**EPOCH1_SETTINGS)

    def remaining_s(self) -> float:
        if self.args.budget_min is None:
            return math.inf
        return self.args.budget_min * 60 - (time.monotonic() - self.started)


def _slug(value: Any) -> str:
    """A value as letters, digits, '.', '_' and '-' (folder names that travel anywhere)."""
    text = json.dumps(value) if not isinstance(value, str) else value
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text).strip("_")


def resolved_precision(requested: str, device: str) -> str:
    from scrcl.precision import resolve_precision
    from scrcl.train import resolve_device

    return resolve_precision(requested, resolve_device(device))


#: the size from which the losses were compiled when the mini-batch entries were first
#: stored (scrcl.precision.COMPILE_MIN_ENTRIES then); fixed here so that their hash holds
_COMPILE_MIN_ENTRIES_BEFORE_NOV_2026 = 4_000_000


def hashed_config(cfg, spec, label_free: bool = True) -> dict:
    """The configuration as hashed: 'features' as the data resolve it, and left out where
    that is the published input (raw counts, or a slice's processed features), so that
    entries stored before the option existed keep their hash. ``select_first`` is left
    out where it is 0 (entries stored before it existed keep their hash) and where
    nothing label-free is computed (``label_free`` False: the oracle, K estimates and
    timings do not read it, so they kept their hash when it became 9 for scRNA-seq).
    ``embedding`` is left out where it is the published 'z'."""
    config = cfg.to_dict()
    if not config.get("select_first") or not label_free:
        config.pop("select_first", None)
    if config.get("embedding", "z") == "z":  # the published [z1, z2]: entries stored
        config.pop("embedding", None)  # before the option existed keep their hash
    if config.get("batch_size") is None:  # the default: full batches at these sizes
        config.pop("batch_size", None)
    elif config["batch_size"] > 0 and (_data.n_obs(spec) * config["hid_dim"]
                                       >= _COMPILE_MIN_ENTRIES_BEFORE_NOV_2026):
        # where the losses were compiled for every batch size (on the data's size, before
        # Nov 2026), the compilation is now decided on the batch size, for any size
        config["minibatch_loss"] = "compiled on the batch size, dynamic shapes"
    kind = _data.resolved_features(spec, config.pop("features"))
    if kind not in ("counts", "processed"):
        config["features"] = kind
    if kind == "lognorm":  # scaled to the counts' mean since Nov 2026; unscaled before
        config["lognorm_scale"] = "mean of the selected counts"
    return config


def hash_inputs(ctx: Context, unit: Unit, key: Key, cfg=None) -> dict:
    """Everything that changes the result of ``key`` (``cfg``: the unit's configuration
    unless given)."""
    base = {"results_version": results_version(key.method), "suite": key.suite,
            "dataset": key.dataset,
            "data_sha256": _data.data_sha256(unit.spec), "method": key.method,
            "seed": key.seed, "n_clusters": ("estimated: " + K_RULE if key.method == AUTOK
                                             else "number of true classes")}
    if unit.kind == "baseline":
        from _methods import PARAMS

        return {**base, "params": PARAMS[unit.spec.kind]}
    if unit.kind == "peer":
        return {**base, "params": _peers.PARAMS[unit.spec.kind],
                "epochs": ctx.args.peer_epochs or "default"}
    if unit.kind == "consensus":
        return {**base, "consensus": CONSENSUS_METHODS[key.method],
                "consensus_version": CONSENSUS_VERSION,
                "members": sorted(e["input_hash"] for e in consensus_members(
                    ctx, unit, CONSENSUS_MEMBERS[key.method]))}
    if unit.kind == "selection":
        return {**base, "selection_version": _selection.SELECTION_VERSION,
                "member": selection_member(ctx, unit.spec, unit.seed)["input_hash"]}
    if unit.kind == "early":
        return {**base, "early_version": EARLY_VERSION,
                "member": early_member(ctx, unit.spec, unit.seed)["input_hash"]}
    cfg = cfg or (ctx.epoch1_config(unit.spec) if unit.kind == "epoch1"
                  else ctx.config(unit.spec))
    device = ctx.args.device
    untrained = {**hashed_config(cfg.replace(embedding="z"), unit.spec, label_free=False),
                 "epochs": 0, "precision": "fp32"}  # what no training or clustering reads
    if unit.kind == "k":
        extra = {"leiden_k": K_SCORED}
        return {**base, "config": untrained,
                "settings": {**K_SETTINGS, **extra.get(key.method, {})}}
    if unit.kind == "speed":
        return {**base, "config": untrained,
                "warmup": ctx.args.warmup, "timed_epochs": ctx.args.timed_epochs,
                "precisions": {p: resolved_precision(p, device) for p in SPEED_PRECISIONS},
                "device": device, "threads": ctx.args.threads}
    settings = {"eval_every": 1, "oracle_metric": "nmi" if unit.spec.kind == "sc" else "ari"}
    if unit.spec.kind == "st":
        settings.update(preprocessed="yes", radius=cfg.radius or 0,
                        cluster="gmm" if key.method == "scrcl-gmm" else "kmeans")
    if key.method == LEIDEN:
        settings["cluster"] = "leiden: 15-NN graph, resolution bisected to K"
    return {**base, "config": hashed_config(cfg, unit.spec, key.protocol == "final"),
            "epochs": cfg.epochs,
            "precision_requested": cfg.precision,
            "precision": resolved_precision(cfg.precision, device), "settings": settings}


def plan(ctx: Context) -> list[Unit]:
    """The units of the suite: baselines first (cheap, data set by data set), then scrcl
    seed by seed (so that a budget spreads the first seeds over every data set)."""
    args, suite = ctx.args, ctx.args.suite
    datasets = args.datasets or SUITES[suite]["datasets"]
    methods = args.methods or SUITES[suite]["methods"]
    seeds = args.seeds or {"speed": (5,), "k": (0,)}.get(suite, DEFAULT_SEEDS)
    specs = [_data.dataset_spec(name) for name in datasets]
    check_methods(suite, specs, methods)
    units: list[Unit] = []
    variant = ctx.variant  # baselines read no scrcl setting: they have none
    if suite == "speed":
        units += [Unit("speed", s, seed, [Key(suite, s.name, "scrcl", SPEED_PROTOCOLS[args.device], seed,
                                              variant)])
                  for seed in seeds for s in specs]
    elif suite == "consensus":
        units += [Unit("consensus", s, 0, [Key(suite, s.name, m, "final", 0, variant)
                                           for m in methods]) for s in specs]
    elif suite == "selection":
        for seed in seeds:
            for s in specs:
                member = selection_member(ctx, s, seed)
                if member is not None:
                    early = bool(early_candidate_rows(member))
                    units.append(Unit("selection", s, seed, [
                        Key(suite, s.name, m, "final", seed, variant) for m in methods
                        if early or m not in _selection.EARLY_METHODS]))
    elif suite == "early":
        units += [Unit("early", s, seed, [Key(suite, s.name, "scrcl", "final", seed, variant)])
                  for seed in seeds for s in specs if early_member(ctx, s, seed) is not None]
    elif suite == "k":
        units += [Unit("k", s, seed, [Key(suite, s.name, m, "final", seed, variant)])
                  for seed in seeds for s in specs for m in methods]
    else:
        units += [Unit("baseline", s, seed, [Key(suite, s.name, m, "final", seed)])
                  for s in specs for m in methods if m in BASELINES[suite] for seed in seeds]
        if EPOCH1 in methods:  # cheap: every data set of a seed, then the next seed
            units += [Unit("epoch1", s, seed, [Key(suite, s.name, EPOCH1, "final", seed,
                                                   variant)])
                      for seed in seeds for s in specs]
        peers = [m for m in _peers.PEERS[suite] if m in methods]
        if peers and peers_installed(peers):  # one training serves every clustering
            pv = f"epochs-{args.peer_epochs}" if args.peer_epochs else ""
            units += [Unit("peer", s, seed, [Key(suite, s.name, m, "final", seed, pv)
                                             for m in peers])
                      for seed in seeds for s in specs]
        wanted = [m for m in SCRCL_METHODS if m in methods]
        for seed in seeds:
            for s in specs:
                cfg = ctx.config(s)
                for group in training_groups(wanted, bool(cfg.out_dim)):
                    keys = [Key(suite, s.name, m, p, seed, variant) for m in group
                            for p in args.protocols if m not in FINAL_ONLY or p == "final"
                            if p != "oracle" or cfg.embedding == ORACLE_EMBEDDING]
                    if keys:
                        units.append(Unit("scrcl", s, seed, keys))
    for unit in units:
        for key in unit.keys:
            unit.inputs[key] = hash_inputs(ctx, unit, key)
            unit.hashes[key] = input_hash(unit.inputs[key])
    return units


def peers_installed(methods: list[str]) -> bool:
    """Whether the peers' packages are installed; if not, one line says how to install
    them (the runner goes on without them)."""
    missing = _peers.missing_modules(methods)
    if missing:
        print(f"peers {', '.join(methods)} skipped: {', '.join(missing)} not installed "
              f"({_peers.INSTALL_HINT})", flush=True)
    return not missing


def training_groups(methods: list[str], out_dim_fixed: bool) -> list[list[str]]:
    """The scrcl methods that share one training run. With the preset's own ``out_dim``
    (the spatial presets) training does not read K, so the estimated-K clustering comes
    from the same models; otherwise (out_dim = K) it needs its own run."""
    if out_dim_fixed or AUTOK not in methods:
        return [methods] if methods else []
    rest = [m for m in methods if m != AUTOK]
    return ([rest] if rest else []) + [[AUTOK]]


def check_methods(suite: str, specs: list[_data.DatasetSpec], methods: list[str]) -> None:
    allowed = SUITES[suite]["methods"]
    unknown = [m for m in methods if m not in allowed]
    if unknown:
        raise SystemExit(f"methods {unknown} are not in suite {suite}: choose from {allowed}")
    wrong = [s.name for s in specs if suite in ("sc", "st") and s.kind != suite]
    if wrong:
        raise SystemExit(f"data sets {wrong} do not belong to suite {suite}")


# ----------------------------------------------------------------------------- entries


def environment(ctx: Context) -> dict:
    """The fields that say where and how an entry was computed."""
    return {"device": ctx.args.device, "threads": ctx.args.threads,
            "machine": _env.machine(ctx.args.device), "versions": _env.versions(),
            "git": _env.git_state(),
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join(["bench/run.py", *ctx.argv])}


#: the fields of an entry that say where and how it ran (``environment``, without the commit,
#: time and command of the runner that stored it)
RUN_FIELDS = ("device", "threads", "machine", "versions")


def store(ctx: Context, unit: Unit, key: Key, fields: dict,
          ran: Optional[dict] = None) -> None:
    """Write one finished entry and say so (``ran``: the entry whose run produced the
    timings, when that was not this runner: its device, threads, machine and versions)."""
    env = environment(ctx)
    if ran is not None:
        env.update({f: ran.get(f) for f in RUN_FIELDS})
    entry = {"suite": key.suite, "dataset": key.dataset, "method": key.method,
             "variant": key.variant, "protocol": key.protocol, "seed": key.seed, **fields,
             **env, "results_version": results_version(key.method),
             "input_hash": unit.hashes[key], "inputs": unit.inputs[key]}
    write_entry(key, ctx.args.results, entry)
    ctx.counts["computed"] += 1
    print(f"[{key.suite}] {key.dataset} seed {key.seed} {key.folder}/{key.protocol}: "
          f"{describe(entry)} ({entry['wall_s']:.1f} s)", flush=True)


def describe(entry: dict) -> str:
    """The entry's result in a few words."""
    if "estimated_k" in entry and entry.get("ari") is not None:
        return (f"ARI {entry['ari']:.4f} NMI {entry['nmi']:.4f} with K "
                f"{entry['estimated_k']} estimated")
    if "estimated_k" in entry:
        return f"K {entry['estimated_k']} estimated, {entry['n_clusters']} true"
    if "by_precision" in entry:
        return ", ".join(f"{p} {t['s_per_epoch']:.3f} s/epoch"
                         for p, t in entry["by_precision"].items())
    return f"ARI {entry['ari']:.4f} NMI {entry['nmi']:.4f}"


def scores_fields(truth, labels) -> dict:
    import numpy as np

    from scrcl.metrics import evaluate

    return {**evaluate(truth, labels), "n_clusters_found": int(np.unique(labels).size)}


# ----------------------------------------------------------------------------- scrcl


def dataset_inputs(ctx: Context, spec: _data.DatasetSpec, build: Callable[[], Any],
                   what: str) -> Any:
    """``build()`` once per data set and ``what`` (only the current data set is kept)."""
    if ctx.cache.get("dataset") != spec.name:
        ctx.cache.clear()
        ctx.cache["dataset"] = spec.name
    if what not in ctx.cache:
        ctx.cache[what] = build()
    return ctx.cache[what]


def estimated_k(ctx: Context, spec: _data.DatasetSpec, inputs: _data.ScrclInputs, cfg):
    """K as --n-clusters auto estimates it (no label read), once per data set."""
    from scrcl.clustering.estimate_k import estimate_n_clusters
    from scrcl.tl import expression_graph

    return dataset_inputs(ctx, spec, lambda: estimate_n_clusters(
        expression_graph(inputs.prepared)), "k_estimate")


def fixed_k(fn: Optional[Callable], k: int, n_init: int) -> Callable:
    """A clusterer that makes ``k`` clusters whatever K it is asked for."""
    from scrcl.pipeline import kmeans_clusterer

    base = fn or kmeans_clusterer(n_init)
    return lambda embedding, _k, seed: base(embedding, k, seed)


def unit_clustering(ctx: Context, unit: Unit, inputs: _data.ScrclInputs, cfg,
                    methods: list[str]) -> tuple[int, dict, Optional[Any]]:
    """(K that training and clustering get, {method: cluster_fn}, the K estimate or None).
    K is the number of true classes, except for a training run of the estimated-K method
    alone whose out_dim is K (then the estimate)."""
    named = {m: inputs.clusterers.get(m) for m in methods if m != AUTOK}
    if AUTOK not in methods:
        return inputs.n_clusters, named, None
    est = estimated_k(ctx, unit.spec, inputs, cfg)
    named[AUTOK] = fixed_k(None, est.k, cfg.kmeans_n_init)
    alone = not cfg.out_dim  # out_dim = K
    return (est.k if alone else inputs.n_clusters), named, est


def candidate_stats(emb, labels) -> list:
    """Label-free statistics of a candidate partition for later studies of selection rules:
    [Calinski-Harabasz, Davies-Bouldin] on the unit-normalised embedding, and the partition
    itself (packed), from which graph- and stability-based rules can be computed."""
    import numpy as np
    from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score

    unit = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    scorable = 2 <= np.unique(labels).size < labels.size
    return [round(float(calinski_harabasz_score(unit, labels)), 3) if scorable else None,
            round(float(davies_bouldin_score(unit, labels)), 4) if scorable else None,
            pack_labels(labels)]


def train_protocols(ctx: Context, inputs: _data.ScrclInputs, cfg, seed: int,
                    methods: list[str], protocols: list[str],
                    trace: Optional[dict] = None,
                    clustering: Optional[tuple[int, dict]] = None,
                    candidates: Optional[dict] = None,
                    protocols_of: Optional[dict] = None) -> dict:
    """One training run serving every method and protocol (``clustering``: K and
    {method: cluster_fn}, by default the true K and the data set's clusterers).
    ``trace``: filled with
    {method: [[epoch, ARI, NMI, silhouette or None], ...]} of every clustered epoch (the
    silhouette on the label-free selection's candidate epochs and on the study's early
    epochs, ``_selection.EARLY_EPOCHS``, where they are clustered), ``candidates`` with
    {'scrcl': [[epoch, *candidate_stats], ...]} of the same epochs (the default
    clusterer only: about 100 KB an entry on a spatial slice), for later studies
    of label-free selection rules; neither reaches the method. ``protocols_of``:
    {method: the protocols wanted of it} (default: all of ``protocols``), so that a
    method stored for the label-free protocol alone is not clustered on every epoch that
    the oracle of another evaluates (the same results, less time)."""
    from scrcl.clustering.selection import candidate_epochs, silhouette
    from scrcl.metrics import evaluate
    from scrcl.pipeline import run_protocols

    from scrcl.pipeline import early_candidates

    chosen_from = set(candidate_epochs(cfg.epochs, cfg.select_stride,
                                       first=early_candidates(cfg)))
    studied = chosen_from | set(_selection.EARLY_EPOCHS)  # early: clustered by the oracle only

    def record(_seed, method, epoch, labels, emb) -> None:
        scores = evaluate(inputs.truth, labels)
        kept = chosen_from if method != "scrcl" else studied  # early: the study's clusterer
        sil = silhouette(emb, labels) if epoch in kept else None
        trace.setdefault(method, []).append(
            [epoch, round(scores["ari"], 4), round(scores["nmi"], 4),
             None if sil is None else round(sil, 4)])
        if candidates is not None and epoch in studied and method == "scrcl":
            candidates.setdefault(method, []).append([epoch, *candidate_stats(emb, labels)])

    n_clusters, named = clustering or (inputs.n_clusters,
                                       {m: inputs.clusterers[m] for m in methods})
    return run_protocols(inputs.prepared, cfg, n_clusters, [seed],
                         protocols=tuple(protocols), truth=inputs.truth,
                         device=ctx.args.device, progress=False,
                         clusterers=named,
                         postprocess=inputs.postprocess, oracle_metric=inputs.oracle_metric,
                         epoch_hook=record if trace is not None else None,
                         protocols_of=protocols_of)


def scrcl_inputs(ctx: Context, unit: Unit, cfg) -> _data.ScrclInputs:
    return dataset_inputs(ctx, unit.spec, lambda: _data.scrcl_inputs(unit.spec, cfg), "scrcl")


def run_scrcl(ctx: Context, unit: Unit, pending: list[Key]) -> None:
    pending = [key for key in pending
               if not derive_final(ctx, unit, key) and not derive_autok(ctx, unit, key)]
    if not pending:
        return
    cfg = ctx.config(unit.spec)
    methods = sorted({k.method for k in pending})
    protocols = [p for p in PROTOCOLS if any(k.protocol == p for k in pending)]
    protocols_of = {m: [p for p in protocols if any(k.method == m and k.protocol == p
                                                    for k in pending)] for m in methods}
    if not fits_budget(ctx, unit, lambda: probe_unit_s(
            ctx, unit, scrcl_inputs(ctx, unit, cfg), cfg, unit.seed, methods, protocols,
            protocols_of)):
        return
    inputs = scrcl_inputs(ctx, unit, cfg)
    n_clusters, named, est = unit_clustering(ctx, unit, inputs, cfg, methods)
    _env.reset_peak_memory()
    trace: dict = {}
    candidates: dict = {}
    results = train_protocols(ctx, inputs, cfg, unit.seed, methods, protocols, trace,
                              clustering=(n_clusters, named), candidates=candidates,
                              protocols_of=protocols_of)
    memory = _env.peak_memory()
    losses = losses_taken(inputs.prepared, cfg)
    for key in pending:
        result = results[key.method][key.protocol]
        run = result.runs[0]
        k_fields = ({"n_clusters": est.k, "estimated_k": est.k, "true_k": inputs.n_clusters,
                     "k_stability": est.stability} if key.method == AUTOK
                    else {"n_clusters": result.n_clusters})
        store(ctx, unit, key, {
            "epochs": cfg.epochs, **k_fields,
            "n_cells": inputs.prepared.n_cells, "n_features": inputs.prepared.n_genes,
            **scores_fields(inputs.truth, run.labels), "epoch_used": run.epoch_used,
            "s_per_epoch": run.train_s / max(run.epochs_run, 1), "train_s": run.train_s,
            "epochs_run": run.epochs_run, "wall_s": run.wall_s, "prep_s": inputs.prep_s,
            **memory, "precision": result.precision, "precision_requested": cfg.precision,
            "losses": losses,
            "features": inputs.prepared.input_kind, "config": cfg.to_dict(),
            # the partition itself (cells in prepared order), for label-free studies of
            # the seeds together (consensus) without training again
            "labels": run.labels.astype(int).tolist(),
            "trace": trace.get(key.method) if key.protocol == "final" else None,
            "candidates": candidates.get(key.method) if key.protocol == "final" else None})


def losses_taken(prepared, cfg) -> str:
    """How training took the losses ('eager', 'compiled', 'chunked': ``scrcl.train.
    loss_kind``), recorded with each entry (not hashed: it changes rounding, like the
    threads). Entries stored before session 7 lack it: they followed the rule of their
    commit (compiled from 4 M activation entries then)."""
    from scrcl.minibatch import batch_plan
    from scrcl.train import loss_kind

    plan = batch_plan(prepared, cfg.batch_size)
    step = prepared.n_cells if plan is None else max(idx.size for idx in plan.batches(1))
    return loss_kind(step, cfg.hid_dim, cfg.epochs)


#: epochs of the probe's timed runs (after a 1-epoch warm-up): three runs whose epoch and
#: clustering counts differ independently for every protocol and selection setting
PROBE_EPOCHS = (1, 3, 12)


def clustered_epochs(cfg, epochs: int, protocols: Sequence[str]) -> int:
    """How many epochs a run of ``epochs`` clusters: every one for the oracle protocol,
    else the label-free candidates (``scrcl.clustering.selection.candidate_epochs``)."""
    from scrcl.clustering.selection import candidate_epochs
    from scrcl.pipeline import early_candidates

    if "oracle" in protocols:
        return epochs
    return len(candidate_epochs(epochs, cfg.select_stride, first=early_candidates(cfg)))


def fit_run_cost(runs: Sequence[tuple[int, int, float]]) -> Callable[[int, int], float]:
    """Seconds of a run as once + T epochs + K clusterings, least squares over ``runs``
    ((epochs, clusterings, seconds) each); returns (epochs, clusterings) -> seconds. The
    terms are floored at 0, and the time per epoch (with its clusterings) at a quarter of
    the longest run's average, so that timing noise cannot make a long run look free."""
    import numpy as np

    design = np.array([[1.0, e, c] for e, c, _ in runs])
    took = np.array([t for _, _, t in runs])
    once, per_epoch, per_clustering = np.clip(np.linalg.lstsq(design, took, rcond=None)[0],
                                              0, None)
    longest = max(runs)
    floor = 0.25 * longest[2] / longest[0]

    def cost(epochs: int, clusterings: int) -> float:
        return float(once + max(per_epoch * epochs + per_clustering * clusterings,
                                floor * epochs))
    return cost


def probe_unit_s(ctx: Context, unit: Unit, inputs: _data.ScrclInputs, cfg, seed: int,
                 methods: list[str], protocols: list[str],
                 protocols_of: Optional[dict] = None) -> float:
    """Expected seconds of the unit (training and clustering), from short runs of it: a
    1-epoch warm-up takes the process's one-off costs, then runs of PROBE_EPOCHS epochs give
    a run's once-only cost (final clustering, Leiden and mixture fits...), an epoch's and a
    clustering's (``fit_run_cost``). A short run clusters a larger share of its epochs than
    a long label-free one and carries the once-only cost on few epochs: dividing it by its
    epochs (as before) estimated a GPU unit at 5.6 s per epoch. The probe runs its losses
    eager; a long run may compile them (about a minute, not counted)."""
    n_clusters, named, _ = unit_clustering(ctx, unit, inputs, cfg, methods)
    runs = []
    for i, epochs in enumerate((1, *PROBE_EPOCHS)):
        start = time.perf_counter()
        train_protocols(ctx, inputs, cfg.replace(epochs=epochs), seed, methods, protocols,
                        clustering=(n_clusters, named), protocols_of=protocols_of)
        if i:  # the warm-up is not timed
            runs.append((epochs, clustered_epochs(cfg, epochs, protocols),
                         time.perf_counter() - start))
    epochs = unit_epochs(ctx, unit)
    return fit_run_cost(runs)(epochs, clustered_epochs(cfg, epochs, protocols))


# ----------------------------------------------------------------------------- budget


#: how many of a data set's latest stored training runs estimate its time per epoch
RECENT_UNITS = 3


def stored_s_per_epoch(ctx: Context, spec: _data.DatasetSpec,
                       oracle: Optional[bool] = None) -> Optional[float]:
    """Median wall seconds per epoch (training and clustering) of the last
    ``RECENT_UNITS`` training runs stored for this data set on this device (the code
    gets faster: older runs overestimate), else of its stored speed timings; None if
    neither. ``oracle``: whether the unit clusters every epoch (an oracle protocol) or
    only its candidates; runs of the same kind are preferred when there are any (a
    label-free run of 151507 took 328 s, a run with the oracle protocols about 1,970)."""
    root = ctx.args.results
    walls: dict[tuple, tuple[str, float]] = {}  # one per training run (its entries share it)
    oracle_runs: set[tuple] = set()
    speeds = []
    folders = [root / suite / spec.name for suite in SUITES]
    for e in (e for folder in folders if folder.is_dir() for e in iter_entries(folder)):
        if e.get("device") != ctx.args.device:
            continue
        if e.get("protocol") in SPEED_PROTOCOLS.values():
            speeds += [t["s_per_epoch"] for t in e["by_precision"].values()]
        elif (e.get("method") in SCRCL_METHODS and e.get("epochs_run")
              and "derived" not in e):
            run = (e["variant"], e["seed"], e["wall_s"])
            walls[run] = (e.get("finished", ""), e["wall_s"] / e["epochs_run"])
            if e.get("protocol") == "oracle":
                oracle_runs.add(run)
    alike = {r: w for r, w in walls.items() if oracle is None or (r in oracle_runs) == oracle}
    walls = alike or walls
    if walls:
        recent = sorted(walls.values())[-RECENT_UNITS:]
        return statistics.median(w for _, w in recent)
    if speeds and ctx.args.device == "cpu":  # clustering and scoring on top: on a CPU,
        return 1.3 * max(speeds)  # training is most of a run; on a GPU it is not (probe)
    return None


def out_of_time(ctx: Context, pending: list[Key]) -> bool:
    """True (and counted) when the budget is spent: for the cheap units, not estimated."""
    if ctx.remaining_s() > 0:
        return False
    ctx.counts["over_budget"] += len(pending)
    return True


def unit_epochs(ctx: Context, unit: Unit) -> int:
    if unit.kind == "speed":
        return 2 * (ctx.args.warmup * 2 + ctx.args.timed_epochs)
    return ctx.args.epochs


def fits_budget(ctx: Context, unit: Unit, probe: Callable[[], float]) -> bool:
    """Whether the unit is expected to finish within the budget: from the stored runs of
    its data set on this device, else from a probe (``probe``: the unit's expected seconds,
    measured once per data set, methods and protocols); a unit left out is counted and
    named."""
    if ctx.args.budget_min is None:
        return True
    stored = stored_s_per_epoch(ctx, unit.spec,
                                oracle=any(k.protocol == "oracle" for k in unit.keys))
    probe_key = (unit.spec.name, *(unit.keys[0].suite, *sorted({(k.method, k.protocol)
                                                                  for k in unit.keys})))
    needed = (stored * unit_epochs(ctx, unit) if stored is not None
              else ctx.probes.get(probe_key))
    if needed is None and ctx.remaining_s() > 0:
        needed = ctx.probes[probe_key] = probe()
    if needed is None:
        needed = math.inf
    if needed <= ctx.remaining_s():
        return True
    ctx.counts["over_budget"] += len(unit.keys)
    print(f"[{unit.keys[0].suite}] {unit.spec.name} seed {unit.seed}: not started, needs about "
          f"{needed:.0f} s and {max(ctx.remaining_s(), 0):.0f} s are left", flush=True)
    return False


# ----------------------------------------------------------------------------- baselines


def run_baseline(ctx: Context, unit: Unit, pending: list[Key]) -> None:
    import numpy as np

    import _methods

    if out_of_time(ctx, pending):
        return
    kind = unit.spec.kind
    if kind == "sc":
        import scanpy  # noqa: F401  (loaded before the preparation is timed)
    adata, label_key = dataset_inputs(ctx, unit.spec, lambda: _data.read(unit.spec), "adata")
    truth = np.asarray(adata.obs[label_key].astype(str))
    for key in pending:
        what = _methods.FEATURES[kind, key.method]

        def build() -> tuple[Any, float]:
            start = time.perf_counter()
            return _methods.features(kind, key.method, adata), time.perf_counter() - start

        feats, prep_s = dataset_inputs(ctx, unit.spec, build, what)
        k = int(np.unique(truth).size)
        _env.reset_peak_memory()
        start = time.perf_counter()
        labels = _methods.cluster(kind, key.method, feats, k, key.seed)
        wall = time.perf_counter() - start
        store(ctx, unit, key, {
            "epochs": None, "n_clusters": k, "n_cells": int(adata.n_obs),
            "n_features": int(adata.n_vars), **scores_fields(truth, labels),
            "epoch_used": None, "s_per_epoch": None, "wall_s": wall, "prep_s": prep_s,
            **_env.peak_memory(), "precision": None, "precision_requested": None})


# ----------------------------------------------------------------------------- scrcl-epoch1


def run_epoch1(ctx: Context, unit: Unit, pending: list[Key]) -> None:
    """scrcl's pipeline after one epoch, its last clustered (``scrcl-epoch1``): the inputs,
    clusterer (k-means at the true K), spatial refinement and seed of ``scrcl``."""
    if out_of_time(ctx, pending):
        return
    cfg = ctx.epoch1_config(unit.spec)
    inputs = scrcl_inputs(ctx, unit, ctx.config(unit.spec))
    _env.reset_peak_memory()
    results = train_protocols(ctx, inputs, cfg, unit.seed, [EPOCH1], ["final"],
                              clustering=(inputs.n_clusters, {EPOCH1: None}))
    memory = _env.peak_memory()
    result = results[EPOCH1]["final"]
    run = result.runs[0]
    store(ctx, unit, pending[0], {
        "epochs": cfg.epochs, "n_clusters": result.n_clusters,
        "n_cells": inputs.prepared.n_cells, "n_features": inputs.prepared.n_genes,
        **scores_fields(inputs.truth, run.labels), "epoch_used": run.epoch_used,
        "s_per_epoch": run.train_s / max(run.epochs_run, 1), "train_s": run.train_s,
        "epochs_run": run.epochs_run, "wall_s": run.wall_s, "prep_s": inputs.prep_s,
        **memory, "precision": result.precision, "precision_requested": cfg.precision,
        "losses": losses_taken(inputs.prepared, cfg),
        "features": inputs.prepared.input_kind, "config": cfg.to_dict(),
        "labels": run.labels.astype(int).tolist()})


# ----------------------------------------------------------------------------- peers


def run_peer(ctx: Context, unit: Unit, pending: list[Key]) -> None:
    """One peer trained for the unit's seed (GraphST on a slice, scVI on counts) and
    clustered for each pending method (bench/_peers.py); labels are read only to score."""
    import numpy as np

    if out_of_time(ctx, pending):
        return
    kind = unit.spec.kind
    adata, label_key = dataset_inputs(ctx, unit.spec, lambda: _data.read(unit.spec), "adata")
    truth = np.asarray(adata.obs[label_key].astype(str))
    k = int(np.unique(truth).size)
    _env.reset_peak_memory()
    found = _peers.run_peer(kind, adata, [key.method for key in pending], k, unit.seed,
                            epochs=ctx.args.peer_epochs, device=ctx.args.device)
    memory = _env.peak_memory()
    for key in pending:
        out = found[key.method]
        store(ctx, unit, key, {
            "epochs": out["epochs"], "n_clusters": k, "n_cells": int(adata.n_obs),
            "n_features": out["n_features"], **scores_fields(truth, out["labels"]),
            "epoch_used": out["epochs"], "s_per_epoch": None, "train_s": out["train_s"],
            "cluster_s": out["cluster_s"], "wall_s": out["train_s"] + out["cluster_s"],
            "prep_s": out["prep_s"], **memory, "precision": "fp32",
            "precision_requested": None, "peer_versions": _peers.package_versions(kind),
            "labels": out["labels"].astype(int).tolist()})


# ----------------------------------------------------------------------------- speed


def time_precisions(ctx: Context, inputs: _data.ScrclInputs, cfg, seed: int) -> dict:
    """Seconds per training epoch in fp32 and bf16, in alternating blocks in this process
    (fp32 bf16, then bf16 fp32), each block ``warmup`` untimed epochs then timed ones."""
    from scrcl.train import Inputs, resolve_device, train

    from scrcl.precision import COMPILE_ENV, resolve_compile

    args = ctx.args
    device = resolve_device(args.device)
    tensors = Inputs.from_prepared(inputs.prepared, device)
    # compile the losses as a full run would (the short timing runs would not by themselves)
    os.environ[COMPILE_ENV] = "yes" if resolve_compile(tensors.n_cells, cfg.hid_dim,
                                                        cfg.epochs) else "no"
    out_dim = cfg.out_dim or inputs.n_clusters
    per_block = math.ceil(args.timed_epochs / 2)
    out = {p: {"epoch_s": [], "peak_rss_mb": 0.0, "peak_gpu_mb": None} for p in SPEED_PRECISIONS}
    for order in (SPEED_PRECISIONS, SPEED_PRECISIONS[::-1]):
        for precision in order:
            _env.reset_peak_memory()
            trained = train(tensors, cfg.replace(epochs=args.warmup + per_block,
                                                 precision=precision), out_dim, seed,
                            progress=False)
            memory = _env.peak_memory()
            slot = out[precision]
            slot["epoch_s"] += trained.epoch_s[args.warmup:]
            slot["peak_rss_mb"] = max(slot["peak_rss_mb"], memory["peak_rss_mb"])
            if memory["peak_gpu_mb"] is not None:
                slot["peak_gpu_mb"] = max(slot["peak_gpu_mb"] or 0.0, memory["peak_gpu_mb"])
    for precision, slot in out.items():
        slot["s_per_epoch"] = statistics.mean(slot["epoch_s"])
        slot["s_per_epoch_median"] = statistics.median(slot["epoch_s"])
        slot["precision"] = resolved_precision(precision, args.device)
    return out


def run_speed(ctx: Context, unit: Unit, pending: list[Key]) -> None:
    cfg = ctx.config(unit.spec)
    if not fits_budget(ctx, unit, lambda: probe_unit_s(
            ctx, unit, scrcl_inputs(ctx, unit, cfg), cfg, unit.seed, ["scrcl"], ["final"])):
        return
    inputs = scrcl_inputs(ctx, unit, cfg)
    start = time.perf_counter()
    timings = time_precisions(ctx, inputs, cfg, unit.seed)
    key = pending[0]
    store(ctx, unit, key, {
        "epochs": len(timings["fp32"]["epoch_s"]), "warmup": ctx.args.warmup,
        "n_clusters": inputs.n_clusters, "n_cells": inputs.prepared.n_cells,
        "n_features": inputs.prepared.n_genes, "wall_s": time.perf_counter() - start,
        "prep_s": inputs.prep_s, "by_precision": timings,
        "bf16_over_fp32": timings["bf16"]["s_per_epoch"] / timings["fp32"]["s_per_epoch"],
        "peak_rss_mb": max(t["peak_rss_mb"] for t in timings.values()),
        "peak_gpu_mb": max((t["peak_gpu_mb"] for t in timings.values()
                            if t["peak_gpu_mb"] is not None), default=None),
        "precision": "+".join(SPEED_PRECISIONS), "losses": losses_taken(inputs.prepared, cfg),
        "config": cfg.to_dict()})


# ----------------------------------------------------------------------------- K


def run_k(ctx: Context, unit: Unit, pending: list[Key]) -> None:
    """K as ``--n-clusters auto`` estimates it ('leiden_k', before training, no label read),
    or as one of the studied rules of ``_methods.K_RULES`` does on the same graph."""
    from scrcl.clustering.estimate_k import estimate_n_clusters
    from scrcl.tl import expression_graph

    if out_of_time(ctx, pending):
        return
    cfg = ctx.config(unit.spec)
    inputs = scrcl_inputs(ctx, unit, cfg)
    _env.reset_peak_memory()
    start = time.perf_counter()
    method = pending[0].method
    prepared = inputs.prepared
    if method == "model_graph_k":  # the rule before Nov 2026, on the model's own graph
        found = _methods.model_graph_k(prepared, cfg.k)
    elif method == "leiden_k":
        est = estimate_n_clusters(expression_graph(prepared))
        found = {"estimated_k": est.k, "stability": est.stability,
                 "resolution": est.resolution,  # Leiden at resolution 1 as a clustering:
                 **scores_fields(inputs.truth, est.labels)}
    else:
        found = getattr(_methods, method)(expression_graph(prepared))
    store(ctx, unit, pending[0], {
        "epochs": None, "n_clusters": inputs.n_clusters, **found,
        "n_cells": inputs.prepared.n_cells,
        "n_features": inputs.prepared.n_genes, "wall_s": time.perf_counter() - start,
        "prep_s": inputs.prep_s, **_env.peak_memory(), "precision": None,
        "config": cfg.to_dict()})


# ----------------------------------------------------------------------------- main

# ----------------------------------------------------------------------------- consensus


def consensus_members(ctx: Context, unit: Unit, method: str = "scrcl") -> list[dict]:
    """The stored label-free partitions of ``method`` ('scrcl': k-means at the true K;
    'scrcl-autok': at the estimated K) of the data set ('final', this variant, current
    results version) that keep their labels: one per seed, in seed order."""
    key = Key(unit.spec.kind, unit.spec.name, method, "final", 0, ctx.variant)
    folder = ctx.args.results / key.suite / key.dataset / key.folder / "final"
    first = ctx.config(unit.spec).select_first
    found = [e for e in (read_entry(p) for p in folder.glob("seed*.json"))
             if e and e.get("labels") and e.get("results_version") == RESULTS_VERSION
             and e["config"].get("select_first", 0) == first]  # the current choice's
    return sorted(found, key=lambda e: e["seed"])  # the pipeline's order


def run_consensus(ctx: Context, unit: Unit, pending: list[Key]) -> None:
    """The consensus of the seeds' label-free partitions (scrcl.clustering.consensus),
    scored: what one partition from a default run's five models would give."""
    import numpy as np

    from scrcl.clustering.consensus import consensus_method_for, consensus_partition
    from scrcl.data.preprocess import as_csr, filter_empty
    from scrcl.pipeline import MIN_CONSENSUS_SEEDS

    truth = None
    for key in pending:
        members = consensus_members(ctx, unit, CONSENSUS_MEMBERS[key.method])
        if len(members) < MIN_CONSENSUS_SEEDS:
            print(f"[consensus] {unit.spec.name} {key.method}: {len(members)} stored "
                  f"partition(s) with labels; needs {MIN_CONSENSUS_SEEDS} or more")
            continue
        if truth is None:
            adata, label_key = _data.read(unit.spec)
            truth = np.asarray(adata.obs[label_key].astype(str))
            if unit.spec.kind == "sc":  # the cells the preparation kept, in its order
                truth = truth[filter_empty(as_csr(adata.X))[0]]
        k = members[0]["n_clusters"]
        start = time.perf_counter()
        partitions = [np.asarray(e["labels"]) for e in members]
        method = CONSENSUS_METHODS[key.method]
        if method == "pipeline":
            method = consensus_method_for(partitions)
        labels = consensus_partition(partitions, k, seed=0, method=method)
        store(ctx, unit, key, {
            "epochs": members[0]["epochs"], "n_clusters": k, "n_cells": int(truth.size),
            **scores_fields(truth, labels), "epoch_used": None, "s_per_epoch": None,
            "wall_s": time.perf_counter() - start, "precision": members[0]["precision"],
            "features": members[0].get("features"),
            "consensus": method,
            "member_seeds": [e["seed"] for e in members],
            "member_ari": [e["ari"] for e in members], "labels": labels.astype(int).tolist()})


# ----------------------------------------------------------------------------- selection


def selection_member(ctx: Context, spec: _data.DatasetSpec, seed: int) -> Optional[dict]:
    """The stored label-free scrcl entry (k-means, this variant, current results version)
    of a data set and seed that keeps its candidate partitions, else None."""
    from scrcl.clustering.selection import candidate_epochs

    key = Key(spec.kind, spec.name, "scrcl", "final", seed, ctx.variant)
    entry = read_entry(key.path(ctx.args.results))
    if entry and entry.get("candidates") and entry.get("results_version") == RESULTS_VERSION:
        config = entry["config"]
        wanted = candidate_epochs(entry["epochs"], config["select_stride"],
                                  first=config.get("select_first", 0))
        if set(wanted) <= {r[0] for r in entry["candidates"]}:
            return entry
    return None


def early_candidate_rows(member: dict) -> list:
    """The member's candidate rows of the study's early epochs (``_selection.EARLY_EPOCHS``)
    that are not candidates of the label-free selection itself (with the stride the run
    used; [] for runs that did not cluster them)."""
    from scrcl.clustering.selection import candidate_epochs

    stride = set(candidate_epochs(member["epochs"], member["config"]["select_stride"],
                                  first=member["config"].get("select_first", 0)))
    return [r for r in member["candidates"]
            if r[0] in _selection.EARLY_EPOCHS and r[0] not in stride]


def run_selection(ctx: Context, unit: Unit, pending: list[Key]) -> None:
    """Every selection rule of bench/_selection.py applied to one stored run's candidate
    epochs, each choice scored (the truth reads no part of any rule)."""
    import numpy as np

    from _results import unpack_labels

    if out_of_time(ctx, pending):
        return
    member = selection_member(ctx, unit.spec, unit.seed)
    cfg = ctx.config(unit.spec)
    inputs = scrcl_inputs(ctx, unit, cfg)
    sil = {t[0]: t[3] for t in member["trace"]}
    early = early_candidate_rows(member)

    def candidates(rows: list) -> _selection.Candidates:
        return _selection.Candidates(
            epochs=[r[0] for r in rows], partitions=[unpack_labels(r[3]) for r in rows],
            silhouette=[sil.get(r[0]) for r in rows], calinski_harabasz=[r[1] for r in rows],
            davies_bouldin=[r[2] for r in rows], graph=inputs.prepared.cell_adj,
            n_clusters=member["n_clusters"])

    stride = candidates([r for r in member["candidates"] if r not in early])
    every = candidates(sorted(member["candidates"], key=lambda r: r[0])) if early else stride
    if stride.partitions[0].size != inputs.truth.size:
        raise SystemExit(f"{unit.spec.name} seed {unit.seed}: the stored partitions cover "
                         f"{stride.partitions[0].size} cells, the data {inputs.truth.size}")
    scored = {id(found): [scores_fields(inputs.truth, p) for p in found.partitions]
              for found in (stride, every)}
    for key in pending:
        start = time.perf_counter()
        found = every if key.method in _selection.EARLY_METHODS else stride
        scores = scored[id(found)]
        if key.method in (_selection.CEILING, _selection.CEILING_EARLY):
            # the answer key's pick: a ceiling, not a rule
            index = int(np.argmax([s["ari"] for s in scores]))
            labels, fields = found.partitions[index], scores[index]
        else:
            rule = {**_selection.RULES, **_selection.EARLY_RULES}[key.method]
            labels = rule(found)
            same = [i for i, p in enumerate(found.partitions) if np.array_equal(p, labels)]
            index = same[-1] if same else None
            fields = scores[index] if same else scores_fields(inputs.truth, labels)
        store(ctx, unit, key, {
            "epochs": member["epochs"], "n_clusters": member["n_clusters"],
            "n_cells": int(labels.size), **fields,
            "epoch_used": None if index is None else found.epochs[index],
            "s_per_epoch": None, "wall_s": time.perf_counter() - start,
            "precision": member["precision"], "features": member.get("features"),
            "member_ari": member["ari"], "member_epoch": member["epoch_used"]})


# ----------------------------------------------------------------------------- early


def early_member(ctx: Context, spec: _data.DatasetSpec, seed: int) -> Optional[dict]:
    """The stored label-free scrcl entry (k-means, this variant, current results version)
    whose trace covers every epoch (a run with the oracle), else None."""
    key = Key(spec.kind, spec.name, "scrcl", "final", seed, ctx.variant)
    entry = read_entry(key.path(ctx.args.results))
    if (entry and entry.get("results_version") == RESULTS_VERSION and entry["epochs"] >= 10
            and len(entry.get("trace") or []) == entry["epochs"]
            and entry["config"].get("select_first", 0) < max(_selection.EARLY_EPOCHS)):
        return entry
    return None  # none, or one whose own candidates were the early epochs already


def member_losses(member: dict) -> str:
    """How the member's training took the losses: recorded since session 7; before, the
    rule of its commit (compiled from 4 M activation entries and 100 epochs)."""
    if member.get("losses"):
        return member["losses"]
    from scrcl.train import use_chunked_loss

    cfg = member["config"]
    if use_chunked_loss(member["n_cells"], cfg["hid_dim"]):
        return "chunked"
    return ("compiled" if member["n_cells"] * cfg["hid_dim"] >= 4_000_000
            and member["epochs"] >= 100 else "eager")


def silhouette_with_early(member: dict, early: list) -> tuple[int, float, float]:
    """The label-free choice among the member's stride candidates (their silhouettes in
    its trace) and the early epochs (``early``: [[epoch, ARI, NMI, silhouette], ...]):
    the best silhouette, ties to the later epoch, as the package's rule. Returns (epoch,
    ARI, NMI) of the choice, the scores read from the member's full trace."""
    sil = {t[0]: t[3] for t in member["trace"] if t[3] is not None}
    sil.update({t[0]: t[3] for t in early if t[3] is not None})
    epoch = max(sil, key=lambda e: (sil[e], e))
    if epoch == member["epoch_used"]:  # the run's own choice: its unrounded scores
        return epoch, member["ari"], member["nmi"]
    at = {t[0]: t for t in member["trace"]}[epoch]
    return epoch, at[1], at[2]


def run_early(ctx: Context, unit: Unit, pending: list[Key]) -> None:
    """Epochs 1-9 of a stored run trained again (the same seed, precision, threads and
    loss kind: the same numbers, checked against the stored trace) and clustered, for
    their silhouettes: what the label-free rule would pick were they candidates."""
    import torch

    from scrcl.precision import COMPILE_ENV

    if out_of_time(ctx, pending):
        return
    member = early_member(ctx, unit.spec, unit.seed)
    cfg = ctx.config(unit.spec)
    inputs = scrcl_inputs(ctx, unit, cfg)
    losses = member_losses(member)
    before = os.environ.get(COMPILE_ENV)
    os.environ[COMPILE_ENV] = "yes" if losses == "compiled" else "no"
    threads = torch.get_num_threads()  # the run's own: another count rounds differently
    torch.set_num_threads(int(member.get("threads") or threads))
    start = time.perf_counter()
    trace: dict = {}
    candidates: dict = {}
    try:
        train_protocols(ctx, inputs, cfg.replace(epochs=max(_selection.EARLY_EPOCHS)),
                        unit.seed, ["scrcl"], ["oracle"], trace, candidates=candidates)
    finally:
        torch.set_num_threads(threads)
        if before is None:
            os.environ.pop(COMPILE_ENV, None)
        else:
            os.environ[COMPILE_ENV] = before
    early = [t for t in trace["scrcl"] if t[0] in _selection.EARLY_EPOCHS]
    stored = {t[0]: t[1] for t in member["trace"]}
    diff = max(abs(t[1] - stored[t[0]]) for t in early)
    epoch, ari, nmi = silhouette_with_early(member, early)
    store(ctx, unit, pending[0], {
        "epochs": member["epochs"], "n_clusters": member["n_clusters"],
        "n_cells": member["n_cells"], "acc": None, "nmi": nmi, "ari": ari, "f1": None,
        "epoch_used": epoch, "s_per_epoch": None, "wall_s": time.perf_counter() - start,
        "precision": member["precision"], "features": member.get("features"),
        "losses": losses, "early": early, "max_ari_diff": round(diff, 4),
        # [epoch, Calinski-Harabasz, Davies-Bouldin, packed partition] of epochs 1-9
        "candidates": [r for r in candidates["scrcl"] if r[0] in _selection.EARLY_EPOCHS],
        "reproduced": diff <= 1e-4, "member_ari": member["ari"],
        "member_epoch": member["epoch_used"],
        "trained_with_threads": int(member.get("threads") or threads)})


# ----------------------------------------------------------------------------- derived


#: rounded silhouettes (4 digits) closer than this cannot be ordered as the run would
SILHOUETTE_TIE = 1.5e-4


def early_rows(ctx: Context, key: Key, member: dict,
               first: int) -> Optional[tuple[list, list, Optional[str]]]:
    """The [epoch, ARI, NMI, silhouette] and [epoch, CH, DB, packed partition] rows of
    epochs 1..``first`` of the member's run, and the hash of the early entry they come
    from (None: the member's own, which it keeps since session 7); None if neither has
    them (or the early entry did not reproduce the run)."""
    wanted = set(range(1, first + 1))

    def complete(trace: list, candidates: list) -> Optional[tuple[list, list]]:
        t = [r for r in trace if r[0] in wanted and r[3] is not None]
        c = [r for r in candidates if r[0] in wanted]
        return (t, c) if {r[0] for r in t} == wanted == {r[0] for r in c} else None

    own = complete(member["trace"] or [], member.get("candidates") or [])
    if own:
        return (*own, None)
    early = read_entry(Key("early", key.dataset, "scrcl", "final", key.seed,
                           key.variant).path(ctx.args.results))
    if (early is None or early.get("max_ari_diff") != 0 or early.get("results_version")
            != RESULTS_VERSION or early["inputs"].get("member") != member["input_hash"]):
        return None  # none, or not this run's, or its ARI not identical to the trace's
    found = complete(early["early"], early["candidates"])
    return (*found, early["input_hash"]) if found else None


def silhouette_pick(member: dict, early: list) -> Optional[int]:
    """The epoch the silhouette rule picks among the member's own pick (the best of the
    stride's candidates) and the early epochs, ties to the later epoch as the package's
    rule; None where the two best rounded silhouettes are too close to order."""
    sil = {t[0]: t[3] for t in member["trace"] if t[3] is not None}
    ranked = sorted([(t[3], t[0]) for t in early] + [(sil[member["epoch_used"]],
                                                      member["epoch_used"])], reverse=True)
    return ranked[0][1] if ranked[0][0] - ranked[1][0] > SILHOUETTE_TIE else None


def derive_final(ctx: Context, unit: Unit, key: Key) -> bool:
    """Store the label-free entry ``key``, whose candidates include epochs
    1..``select_first``, without training, where it can be made exactly: from the stored
    entry of the same run with the stride's candidates alone (same seed and settings,
    ``select_first`` 0) and the silhouettes and partitions of its early epochs (its own,
    or the early suite's, which trained them again and reproduced them). The silhouette
    rule is the best of the two picks; the run's timings and memory are the member's
    (it clustered every epoch for its oracle, so they cover the early epochs), and the
    entry says where it came from (``derived``). Returns False, storing nothing, where
    that cannot be done (then the unit trains)."""
    import numpy as np

    from _results import unpack_labels
    from scrcl.clustering.selection import candidate_epochs

    cfg = ctx.config(unit.spec)
    if (key.method != "scrcl" or key.protocol != "final" or cfg.select != "silhouette"
            or not 0 < cfg.select_first <= max(_selection.EARLY_EPOCHS)):
        return False
    member = read_entry(key.path(ctx.args.results))
    if (member is None or member.get("epoch_used") is None or member["input_hash"]
            != input_hash(hash_inputs(ctx, unit, key, cfg.replace(select_first=0)))
            or not any(t[0] == member["epoch_used"] and t[3] is not None
                       for t in member.get("trace") or [])):  # stored before traces
        return False
    rows = early_rows(ctx, key, member, cfg.select_first)
    epoch = silhouette_pick(member, rows[0]) if rows else None
    if epoch is None:
        return False
    early_t, early_c, early_hash = rows
    inputs = scrcl_inputs(ctx, unit, cfg)
    labels = (np.asarray(member["labels"]) if epoch == member["epoch_used"]
              else unpack_labels({r[0]: r[3] for r in early_c}[epoch]))
    if labels.size != inputs.truth.size:
        raise SystemExit(f"{unit.spec.name} seed {unit.seed}: the stored partitions cover "
                         f"{labels.size} cells, the data {inputs.truth.size}")
    by_epoch = {r[0]: r for r in member["trace"]}
    by_epoch.update({r[0]: r for r in early_t})
    candidates = {r[0]: r for r in member.get("candidates") or []}
    candidates.update({r[0]: r for r in early_c})
    if not set(candidate_epochs(cfg.epochs, cfg.select_stride)) <= set(candidates):
        candidates = {}  # a run stored before candidates were kept: none, as it had
    meta = {"suite", "dataset", "method", "variant", "protocol", "seed", "results_version",
            "input_hash", "inputs", "git", "finished", "command", *RUN_FIELDS}
    fields = {f: v for f, v in member.items() if f not in meta}
    fields.update(scores_fields(inputs.truth, labels), epoch_used=epoch,
                  labels=labels.astype(int).tolist(), config=cfg.to_dict(),
                  trace=[by_epoch[e] for e in sorted(by_epoch)],
                  candidates=[candidates[e] for e in sorted(candidates)] or None,
                  losses=member.get("losses") or member_losses(member),
                  derived={"from": member["input_hash"], "early": early_hash,
                           "from_epoch_used": member["epoch_used"],
                           "from_ari": member["ari"], "run_git": member.get("git"),
                           "run_finished": member.get("finished"),
                           "run_command": member.get("command")})
    store(ctx, unit, key, fields, ran=member)
    return True


def derive_autok(ctx: Context, unit: Unit, key: Key) -> bool:
    """Store the estimated-K entry ``key`` without training where its run is one already
    stored: where the output width is K (scRNA-seq) and the estimate equals the number of
    true classes, the estimated-K run trains with the same K, seed and settings and clusters
    with the same k-means as the stored true-K label-free run, so its partition is that
    run's (same seed, same labels: tested). The entry keeps the estimate's fields and says
    where it came from (``derived``). Returns False, storing nothing, where that does not
    hold (then the unit trains)."""
    cfg = ctx.config(unit.spec)
    if key.method != AUTOK or key.protocol != "final" or cfg.out_dim:
        return False
    twin = Key(key.suite, key.dataset, "scrcl", "final", key.seed, key.variant)
    member = read_entry(twin.path(ctx.args.results))
    if member is None or member.get("input_hash") != input_hash(
            hash_inputs(ctx, unit, twin)):
        return False
    inputs = scrcl_inputs(ctx, unit, cfg)
    est = estimated_k(ctx, unit.spec, inputs, cfg)
    if est.k != inputs.n_clusters:
        return False
    meta = {"suite", "dataset", "method", "variant", "protocol", "seed", "results_version",
            "input_hash", "inputs", "git", "finished", "command", "derived", *RUN_FIELDS}
    fields = {f: v for f, v in member.items() if f not in meta}
    fields.update(n_clusters=est.k, estimated_k=est.k, true_k=inputs.n_clusters,
                  k_stability=est.stability,
                  derived={"from": member["input_hash"], "why": "estimated K = true K",
                           "from_derived": member.get("derived"),
                           "run_git": member.get("git"),
                           "run_finished": member.get("finished"),
                           "run_command": member.get("command")})
    store(ctx, unit, key, fields, ran=member)
    return True


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
