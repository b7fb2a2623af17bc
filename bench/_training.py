"""scrcl's training runs for the runner: inputs, clusterers, the candidate statistics kept
for later studies, and the time budget (stored timings, else probe runs)."""
from __future__ import annotations

import math
import statistics
import time
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

import _data
import _selection
from _results import Key, iter_entries, pack_labels
from _suites import AUTOK, SCRCL_METHODS, SPEED_PROTOCOLS, SUITES
from _entries import dataset_inputs

if TYPE_CHECKING:  # annotations only
    from _plan import Context, Unit


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



def losses_taken(prepared, cfg) -> str:
    """How training took the losses ('eager', 'compiled', 'chunked': ``scrcl.training.train.
    loss_kind``), recorded with each entry (not hashed: it changes rounding, like the
    threads). Entries stored before session 7 lack it: they followed the rule of their
    commit (compiled from 4 M activation entries then)."""
    from scrcl.training.minibatch import batch_plan
    from scrcl.training.train import loss_kind

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
    """The epochs a unit trains: its configuration's (the schedule's unless --epochs)."""
    if unit.kind == "speed":
        return 2 * (ctx.args.warmup * 2 + ctx.args.timed_epochs)
    return (ctx.epoch1_config if unit.kind == "epoch1" else ctx.config)(unit.spec).epochs



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
