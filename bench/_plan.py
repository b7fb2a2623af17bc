"""The runner's plan: the units of work of a suite and the hash of every input that changes
an entry's result (bench/run.py)."""
from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _data
import _peers
import _selection
from _results import Key, input_hash, is_current
from _suites import (results_version, AUTOK, BASELINES, CONSENSUS_MEMBERS, CONSENSUS_METHODS,
                     CONSENSUS_VERSION, DEFAULT_SEEDS, EARLY_VERSION, EPOCH1,
                     EPOCH1_SETTINGS, FINAL_ONLY, K_RULE, K_SCORED, K_SETTINGS, LEIDEN,
                     ORACLE_EMBEDDING, ORACLE_SCHEDULE, SCRCL_METHODS, SPEED_PRECISIONS, WARD,
                     SPEED_PROTOCOLS, SUITES)
from _members import consensus_members, early_candidate_rows, early_member, selection_member


@dataclass
class Unit:
    """Work done in one go: one training run (scrcl, or its 1-epoch control), one
    clustering (a baseline), one peer's training (GraphST, scVI), one timing (speed) or one
    estimate of K (k), producing one or more entries."""

    kind: str  # 'scrcl', 'epoch1', 'baseline', 'peer', 'speed', 'k' or a study's suite
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
        if self.args.epochs is not None:
            changed["epochs"] = self.args.epochs
        return "__".join(f"{k}-{_slug(v)}" for k, v in sorted(changed.items()))

    def config(self, spec: _data.DatasetSpec):
        """What runSC.py / runST.py would train with these settings: the base configuration
        on the default schedule (``--set schedule=fast``: the fast one), then the other
        settings and ``--epochs``."""
        from scrcl.config import DEFAULT_SCHEDULE, with_schedule

        overrides = dict(self.overrides)
        schedule = overrides.pop("schedule", DEFAULT_SCHEDULE)
        base = _data.base_config(spec)
        if "schedule" in self.overrides and base.schedule is None:
            raise SystemExit(f"--set schedule: {spec.name} has its own configuration "
                             f"(epochs {base.epochs}, lr {base.lr}), not a published one; "
                             f"set epochs and lr instead")
        cfg = with_schedule(base, schedule).replace(**overrides)
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
    from scrcl.training.precision import resolve_precision
    from scrcl.training.train import resolve_device

    return resolve_precision(requested, resolve_device(device))



#: the size from which the losses were compiled when the mini-batch entries were first
#: stored (scrcl.training.precision.COMPILE_MIN_ENTRIES then); fixed here so that their hash holds
_COMPILE_MIN_ENTRIES_BEFORE_NOV_2026 = 4_000_000



def trains_every_epoch(ctx) -> bool:
    """Whether this runner trains every epoch of its scrcl units: when it computes the
    oracle protocol (which needs every epoch), one training serves both protocols, so the
    label-free entries are the all-epochs choice (``--stop never``) whatever is pending.
    Not on the fast schedule, which stores no oracle entry (:func:`oracle_config`)."""
    from scrcl.config import DEFAULT_SCHEDULE

    schedule = ctx.overrides.get("schedule", DEFAULT_SCHEDULE)
    return "oracle" in ctx.args.protocols and schedule == ORACLE_SCHEDULE


def hashed_config(cfg, spec, label_free: bool = True, stops: bool = True) -> dict:
    """The configuration as hashed: 'features' as the data resolve it, and left out where
    that is the published input (raw counts, or a slice's processed features), so that
    entries stored before the option existed keep their hash. ``select_first`` is left
    out where it is 0 (entries stored before it existed keep their hash) and where
    nothing label-free is computed (``label_free`` False: the oracle, K estimates and
    timings do not read it, so they kept their hash when it became 9 for scRNA-seq).
    ``embedding`` is left out where it is the published 'z'. ``schedule`` is left out:
    the epochs and learning rate it sets are hashed (the fast schedule's entries keep the
    hash of the variant that studied it, ``--epochs 100 --set lr=...``, and the
    published one the hash the defaults had before the option existed). ``stop`` is left out where
    every epoch is trained (``stops`` False: a runner computing the oracle protocol trains
    every epoch of every unit, :func:`trains_every_epoch`)."""
    config = cfg.to_dict()
    config.pop("schedule", None)
    if not config.get("select_first") or not label_free:
        config.pop("select_first", None)
    if config.get("stop", "never") == "never" or not label_free or not stops:  # all epochs:
        config.pop("stop", None)  # before the option existed: those entries keep their hash
        config.pop("stop_patience", None)
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
    if key.method == WARD:
        settings["cluster"] = "ward: 50 principal components, exact up to 10,000 cells"
    return {**base, "config": hashed_config(cfg, unit.spec, key.protocol == "final",
                                            stops=not trains_every_epoch(ctx)),
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
        units += [Unit("speed", s, seed, [Key(suite, s.name, "scrcl",
                                              SPEED_PROTOCOLS[args.device], seed, variant)])
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
                            if p != "oracle" or oracle_config(cfg)]
                    if keys:
                        units.append(Unit("scrcl", s, seed, keys))
    for unit in units:
        for key in unit.keys:
            unit.inputs[key] = hash_inputs(ctx, unit, key)
            unit.hashes[key] = input_hash(unit.inputs[key])
    return units



def oracle_config(cfg) -> bool:
    """Whether a configuration is the published protocol's (published [z1, z2] and
    schedule; a hand-made one, the demo's, has no schedule): only then are its oracle
    entries stored."""
    return cfg.embedding == ORACLE_EMBEDDING and cfg.schedule in (None, ORACLE_SCHEDULE)



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
