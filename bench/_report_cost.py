"""The cost tables of bench/report.py: training speed by precision (speed, vs-authors),
time and memory of every stored run (costs), the memory model's scaling records (scaling),
the cost of the embedding clustered (embedding-cost), the GPU checks (gpu-check), the
machines the entries came from (machines) and a default run before and after the
label-free stop (default-cost)."""
from __future__ import annotations

import json
import statistics
from collections import defaultdict
from typing import Optional

from _report_results import (DASH, METHOD_NAMES, SHOWN_UNTIL_RECOMPUTED, Results, distinct,
                             machine_label, mean_std, table)
from _data import DLPFC_SLICES, SC_DATASETS, ST_DATASETS
from _suites import RESULTS_VERSION, SPEED_DATASETS, SPEED_PROTOCOL, SPEED_PROTOCOLS

#: records of bench/gpu_check.sh, in the results folder
GPU_CHECKS = "gpu_check"
#: the authors' code per issue 9 (idle 2-core AMD EPYC with native bf16, 2 threads):
#: (training, per-epoch evaluation their protocol needs) seconds per epoch, their cells, and
#: the target speed-up of issue 9. Quoted: their code is not on this machine. CITE: 10,000
#: resampled cells there, the 8,617-cell stand-in here.
AUTHORS = {"Baron_mouse1": (1.04, 0.38, 822, None),
           "MCA_mouse_bladder_select2100": (3.35, 1.06, 2100, 8),
           "CITE_CBMC_top2000": (34.0, 5.3, 10000, 10)}


def vs_authors(res: Results) -> str:
    """scrcl's training epoch (speed suite, default precision) against the authors' figures;
    where their run had more cells, the speed-up with scrcl's time scaled up to their cells
    in proportion (exact if scrcl's epoch grows linearly with the cells, optimistic if
    faster) is the one the target is judged on."""
    rows = []
    for ds, (train, evaluation, cells, target) in AUTHORS.items():
        runs = [e for e in res.get("speed", ds, "scrcl", SPEED_PROTOCOL)]
        ours = {p: t["s_per_epoch"] for e in runs for p, t in e["by_precision"].items()}
        n = runs[0].get("n_cells", cells) if runs else cells
        ratio = {p: (train + evaluation) / v for p, v in ours.items()}
        equal = {p: r * n / cells for p, r in ratio.items()}
        rows.append([ds, f"{train:.2f} + {evaluation:.2f}", f"{cells:,} / {n:,}",
                     *(f"{ours[p]:.3f} ({ratio[p]:.1f}x)" if p in ours else DASH
                       for p in ("fp32", "bf16")),
                     f"{equal['bf16']:.1f}x" if "bf16" in equal else DASH,
                     f"{target}x" if target else DASH,
                     DASH if not target or "bf16" not in equal
                     else ("met" if equal["bf16"] >= target else "not met"),
                     res.machine_of(runs)])
    return table(["data set", "authors' train + eval s / epoch (issue 9)",
                  "cells: authors' / scrcl's",
                  "scrcl fp32 s / epoch (speed-up)", "scrcl bf16 s / epoch (speed-up)",
                  "bf16 speed-up at equal cells", "target (bf16, issue 9)", "",
                  "machine"], rows)


def speed(res: Results) -> str:
    """fp32 against bf16 seconds per training epoch, timed in one process (CPU, then CUDA
    where a GPU run is stored)."""
    rows = []
    for device, protocol in SPEED_PROTOCOLS.items():
        for ds in res.datasets("speed", SPEED_DATASETS if device == "cpu" else []):
            runs = res.get("speed", ds, "scrcl", protocol)
            if not runs and device != "cpu":
                continue
            if not runs:
                rows.append([ds, DASH, device, DASH, 0, DASH, DASH, DASH, DASH, DASH, DASH,
                             DASH])
                continue
            for e in runs:
                fp32, bf16 = e["by_precision"]["fp32"], e["by_precision"]["bf16"]
                gpu = [t.get("peak_gpu_mb") for t in (fp32, bf16)]
                rows.append([ds, f"{e['n_cells']} × {e['n_features']}", e["device"],
                             e["threads"], e["epochs"], f"{fp32['s_per_epoch']:.4f}",
                             f"{bf16['s_per_epoch']:.4f} ({bf16['precision']})",
                             f"{e['bf16_over_fp32']:.2f}", f"{fp32['s_per_epoch'] * 500:.0f}",
                             f"{e['peak_rss_mb']:.0f}",
                             DASH if None in gpu else f"{gpu[0]:.0f} / {gpu[1]:.0f}",
                             res.machine_of([e])])
    return table(["data set", "cells × features", "device", "threads",
                  "timed epochs each", "fp32 s / epoch", "bf16 s / epoch (ran as)",
                  "bf16 / fp32", "fp32 s / 500 epochs", "peak RSS (MB)",
                  "peak GPU MB (fp32 / bf16)", "machine"], rows)


def costs(res: Results) -> str:
    """Time and memory: per data set for scrcl's training runs (shared by both protocols and
    clusterers), per suite and method for everything else."""
    rows = []
    for (suite, ds, method, protocol), runs in sorted(res.groups.items()):
        if suite == "early":  # a study of stored runs: not a training run of its own
            continue
        if method == "scrcl" and protocol == first_protocol(res, suite, ds):
            rows.append(cost_row(res, suite, ds, "scrcl (training + clustering)", runs))
    others: dict[tuple, list[dict]] = defaultdict(list)
    for (suite, ds, method, _), runs in res.groups.items():
        shared_run = method in ("scrcl", "scrcl-gmm", "scrcl-leiden", "scrcl-ward")  # scrcl's training
        if not shared_run and suite not in ("speed", "consensus", "selection", "early"):
            others[suite, method] += runs
    for (suite, method), runs in sorted(others.items()):
        n_sets = len({e["dataset"] for e in runs})
        rows.append(cost_row(res, suite, f"all {n_sets}", METHOD_NAMES.get(method, method),
                             runs))
    return table(["suite", "data set", "method", "entries", "device", "threads", "precision",
                  "s / training epoch", "wall s / entry", "prep s", "peak RSS (MB)",
                  "peak GPU (MB)", "machine"], rows)


def cost_row(res: Results, suite: str, ds: str, what: str, runs: list[dict]) -> list:
    """One row of the costs table: time and memory over the runs."""
    per_epoch = [e["s_per_epoch"] for e in runs if e.get("s_per_epoch") is not None]
    gpu = [e["peak_gpu_mb"] for e in runs if e.get("peak_gpu_mb") is not None]
    return [suite, ds, what, len(runs), distinct(runs, "device"), distinct(runs, "threads"),
            distinct(runs, "precision"), mean_std(per_epoch),
            mean_std([e["wall_s"] for e in runs], 1), mean_std([e["prep_s"] for e in runs], 1),
            f"{max(e['peak_rss_mb'] for e in runs):.0f}", f"{max(gpu):.0f}" if gpu else DASH,
            res.machine_of(runs)]


def first_protocol(res: Results, suite: str, ds: str) -> Optional[str]:
    """The protocol whose scrcl entries stand for the shared training runs."""
    return next((p for p in ("final", "oracle") if res.get(suite, ds, "scrcl", p)), None)


def scaling(res: Results) -> str:
    """bench/scaling.py's committed records, and the memory model fitted to them."""
    from scaling import load_records

    from scrcl.training import memory

    recs = sorted(load_records(), key=lambda r: (r["source"], r["n_cells"],
                                                   r["batch_cells"]))
    if not recs:
        return "No scaling records stored yet (`python bench/scaling.py`)."
    rows = []
    for r in recs:
        mode = "full" if r["n_batches"] == 1 else f"{r['n_batches']} × ≤{r['batch_cells']}"
        rows.append([r["source"], f"{r['n_cells']:,}", r["batch_size_setting"] is None and
                     f"{mode} (default)" or mode, f"{r['edges_in_batch']:.0%}",
                     f"{r['prepare_s']:.0f}", f"{r['epoch_s']:.1f}", f"{r['cluster_s']:.0f}",
                     f"{r['rss_after_prepare_mb']:.0f}", f"{r['rss_after_train_mb']:.0f}",
                     f"{r['peak_rss_mb']:.0f}",
                     f"{memory.predict_mb(r['n_cells'], r['n_genes'], 1500, r['batch_cells']):.0f}",
                     r["precision"], r["threads"]])
    fitted = memory.fit(recs)
    t0, t_cell, t_batch, t_plain, e0, e_cell = fitted
    gpu = (t_cell * 1_000_000 + t_batch * 10_000) / 1024
    text = table(["source", "cells", "batches (cells each)", "graph edges inside a batch",
                  "prepare s", "s / epoch", "embed + k-means s", "RSS after prepare (MB)",
                  "RSS after training (MB)", "peak RSS (MB)", "model (MB)", "precision",
                  "threads"], rows)
    used = ", ".join(f"{c:g}" for c in memory.coefficients())
    return text + (
        f"\n\nLeast-squares fit to these records (`scrcl/memory.py`): training = {t0:.0f} + "
        f"{t_cell:.4f} N (G / 2000) + c B (H / 1500) MB with c = {t_batch:.4f} for the "
        f"chunked loss (B H >= 2^24) and {t_plain:.4f} below; evaluation (preparation, "
        f"embedding, clustering) = {e0:.0f} + {e_cell:.4f} N (G / 2000) MB; peak = training "
        f"for full batches, the larger of the two for mini-batches. N cells, B cells a step "
        f"(N for full batches). The package uses ({used}). "
        f"A prediction, not a measurement (not run on a GPU): 10^6 cells in 10,000-cell "
        f"mini-batches would need about {gpu:.0f} GB for the N and B terms of training on "
        f"a GPU (inputs and activations), within an 80 GB GPU.")


def embedding_cost(res: Results) -> str:
    """bench/embedding_cost.py's records: what clustering [e1, e2] instead of [z1, z2]
    costs a default scRNA-seq run per seed, as the cells grow."""
    folder = res.root / "embedding_cost"
    recs = sorted((json.loads(f.read_text()) for f in folder.glob("*.json")),
                  key=lambda r: (r["source"], r["n_cells"]))
    if not recs:
        return "No records stored yet (`python bench/embedding_cost.py`)."
    rows = []
    for r in recs:
        z, h = r["embeddings"]["z"], r["embeddings"]["h"]
        train = z["training_s_per_seed"]
        slower = (train + h["clustering_s_per_seed"]) / (train + z["clustering_s_per_seed"])
        rows.append([r["source"], f"{r['n_cells']:,}", f"{z['width']} / {h['width']}",
                     f"{z['candidate_s']:.2f} / {h['candidate_s']:.1f}",
                     f"{r['epoch_s']:.2f}", f"{train / 60:.0f}",
                     f"{z['clustering_s_per_seed'] / 60:.1f} / "
                     f"{h['clustering_s_per_seed'] / 60:.1f}",
                     f"{slower:.2f}",
                     f"{h['kept_mb_per_seed']:.0f}", r["threads"], r.get("note") or DASH])
    return table(["source", "cells", "width z / h", "s a candidate z / h (k-means + silhouette)",
                  "s / epoch", "training min a seed (500 epochs)",
                  f"clustering min a seed z / h ({recs[0]['candidates_per_seed']} candidates)",
                  "run time h / z", "MB of the kept h embedding", "threads", "note"], rows)


def gpu_check(res: Results) -> str:
    """The records of bench/gpu_check.sh (bench/results/gpu_check/*.json): the scripts on a
    GPU, both precisions, with the steps that ran."""
    recs = sorted((res.root / GPU_CHECKS).glob("*.json"))
    if not recs:
        return "No GPU check stored yet (`bash bench/gpu_check.sh` on a machine with a GPU)."
    rows, steps = [], []
    for path in recs:
        d = json.loads(path.read_text())
        torch_v = next((r["versions"].get("torch") for r in d["runs"] if r.get("versions")),
                       DASH)
        for r in d["runs"]:
            rows.append([path.stem, d["gpu"], r["run"].split("_")[0], r["dataset"],
                         r["device"], r["precision"], r["protocol"], r["epochs"],
                         DASH if r.get("ari") is None else f"{r['ari']:.3f}",
                         r["epoch_used"], f"{r['wall_s']:.1f}",
                         f"{r['wall_s'] / r['epochs']:.3f}",
                         f"{r['peak_gpu_mb']:.0f}" if r.get("peak_gpu_mb") else DASH,
                         f"{r['peak_rss_mb']:.0f}" if r.get("peak_rss_mb") else DASH, torch_v,
                         (d.get("commit") or DASH)[:7]])
        steps.append(f"{path.stem}: " + ", ".join(
            f"{s['name']} {'ok' if s.get('ok') else 'FAILED'} ({s.get('s', '?')} s)"
            for s in d["steps"]))
    return table(["date", "GPU", "script", "data set", "device", "precision", "protocol",
                  "epochs", "ARI", "epoch used", "wall s (training + selection)",
                  "wall s / epoch", "peak GPU MB", "peak RSS MB", "torch", "commit"], rows) + \
        "\n\nSteps (seconds include start-up and compilation): " + "; ".join(steps) + "."


def machines(res: Results) -> str:
    """Which machine each stored entry came from."""
    by_machine: dict[str, list[dict]] = defaultdict(list)
    for runs in res.groups.values():
        for e in runs:
            by_machine[machine_label(e)].append(e)
    rows = []
    for label, entries in sorted(by_machine.items(), key=lambda kv: res.machines[kv[0]]):
        per_suite = defaultdict(int)
        for e in entries:
            per_suite[e["suite"]] += 1
        dates = sorted(e["finished"][:10] for e in entries)
        rows.append([res.machines[label], label,
                     ", ".join(f"{s} {n}" for s, n in sorted(per_suite.items())),
                     distinct(entries, "device"), distinct(entries, "threads"),
                     f"{dates[0]} to {dates[-1]}"])
    note = (f"\n\n{res.stale} stored entries of an older results version are not shown."
            if res.stale else "")
    for version, count in sorted(res.previous.items()):
        note += (f"\n\n{count} stored scrcl entries (runs and the studies made of them) are "
                 f"of results version "
                 f"{version}, shown until the runner recomputes them: "
                 f"{SHOWN_UNTIL_RECOMPUTED[version]}.")
    if res.older_default:
        note += (f"\n\n{res.older_default} stored label-free entries made before the "
                 "early epochs became candidates of the scRNA-seq default are not shown "
                 "(recomputed or derived as the runner reaches them).")
    return table(["id", "machine", "entries per suite", "device", "threads", "dates"],
                 rows) + note


#: the variant holding the fast schedule's entries (``--set schedule=fast``)
FAST_VARIANT = "schedule-fast"


def schedule_cost(res: Results) -> str:
    """The published schedule (the defaults' label-free entries, 500 epochs) beside the fast
    one (``--set schedule=fast``, 100 epochs at 5x the rate): per seed, epochs, training
    seconds, wall seconds and label-free ARI, on every stand-in with both. The published
    runs clustered every epoch for their oracle entries as well, so their wall time is more
    than a label-free run of theirs takes; training seconds compare like with like, where
    the machine's load was alike (the machine column, and the entries' records). Δ ARI is
    the difference of the means; 'shared seeds' the mean difference over the seeds both
    have."""
    rows, deltas, paired = [], [], []
    for suite in ("sc", "st"):
        for ds in sorted({d for s, d, m, p in res.groups if s == suite and m == "scrcl"}):
            before = res.groups.get((suite, ds, "scrcl", "final"), [])
            after = res.variants.get((suite, ds, "scrcl", "final", FAST_VARIANT), [])
            if not after or not before:
                continue
            a_ari = statistics.mean(e["ari"] for e in after)
            b_ari = statistics.mean(e["ari"] for e in before)
            deltas.append(a_ari - b_ari)
            published = {e["seed"]: e["ari"] for e in before}
            shared = [e["ari"] - published[e["seed"]] for e in after if e["seed"] in published]
            paired.append(statistics.mean(shared) if shared else None)
            rows.append([suite, ds, f"{len(before)} / {len(after)}",
                         distinct(before, "threads") + " / " + distinct(after, "threads"),
                         mean_std([e["epochs_run"] for e in before], 0),
                         mean_std([e["epochs_run"] for e in after], 0),
                         mean_std([e["train_s"] for e in before], 0),
                         mean_std([e["train_s"] for e in after], 0),
                         mean_std([e["wall_s"] for e in before], 0),
                         mean_std([e["wall_s"] for e in after], 0),
                         mean_std([e["ari"] for e in before]), mean_std([e["ari"] for e in after]),
                         f"{a_ari - b_ari:+.3f}",
                         f"{paired[-1]:+.3f} ({len(shared)})" if shared else DASH,
                         res.machine_of(before) + " / " + res.machine_of(after)])
    if deltas:
        known = [d for d in paired if d is not None]
        rows.append(["", f"**mean over {len(deltas)} stand-ins**", "", "", "", "", "", "", "",
                     "", "", "", f"**{statistics.mean(deltas):+.3f}**",
                     f"**{statistics.mean(known):+.3f}**" if known else DASH, ""])
    return table(["suite", "data set", "seeds (published / fast)", "threads",
                  "epochs, published", "epochs, fast", "training s / seed, published",
                  "training s / seed, fast", "wall s / seed, published",
                  "wall s / seed, fast", "ARI, published", "ARI, fast", "Δ ARI",
                  "Δ ARI, shared seeds (n)", "machine"],
                 rows)


#: the "before" of the default-cost table, kept by bench/default_cost.py
DEFAULT_COST_BEFORE = "default_cost/before.json"
#: the most seconds a default seed may take on the 2-core CPU (the cost targets)
SEED_TARGET_S = {**{ds: 180 for ds in DLPFC_SLICES}, "CITE_CBMC_top2000": 360,
                 "MCA_mouse_bladder_select2100": 60}


def default_cost(res: Results) -> str:
    """A default run per seed before and after the label-free stop: the default's entries
    kept by ``bench/default_cost.py`` (results version 2: 500 epochs, no stop) beside the
    current ones of results version 3 (``--stop auto``), on every stand-in. The spatial
    'before' runs also clustered every epoch for the published protocol, so their wall time
    is not that of a default run ('—'). The training seconds per epoch show the machine's
    load: the model's epoch costs the same before and after, so where they differ the two
    runs did not share a load. A stand-in not yet recomputed shows '—' after."""
    path = res.root / DEFAULT_COST_BEFORE
    if not path.exists():
        return "No 'before' record: run `python bench/default_cost.py`."
    before: dict[tuple, list[dict]] = defaultdict(list)
    for r in json.loads(path.read_text())["records"]:
        before[(r["suite"], r["dataset"])].append(r)
    rows, deltas = [], []
    for suite, names in (("sc", SC_DATASETS), ("st", ST_DATASETS)):
        for ds in names:
            b = sorted(before.get((suite, ds), []), key=lambda r: r["seed"])
            a = [e for e in res.get(suite, ds, "scrcl", "final")
                 if e.get("results_version") == RESULTS_VERSION]
            if not b and not a:
                continue
            b_wall = [r["wall_s"] for r in b if r["label_free_only"]]
            delta = DASH
            if a and b:
                d = statistics.mean(e["ari"] for e in a) - statistics.mean(r["ari"] for r in b)
                deltas.append(d)
                delta = f"{d:+.3f}"
            target = SEED_TARGET_S.get(ds)
            met = DASH if target is None or not a else (
                "yes" if statistics.mean(e["wall_s"] for e in a) <= target else "no")
            rows.append([suite, ds, f"{len(b)} / {len(a)}",
                         distinct(b, "threads") + " / " + distinct(a, "threads"),
                         mean_std([r["epochs_run"] for r in b], 0),
                         mean_std([e["epochs_run"] for e in a], 0),
                         mean_std([r["train_s"] / r["epochs_run"] for r in b], 2),
                         mean_std([e["train_s"] / e["epochs_run"] for e in a], 2),
                         mean_std(b_wall, 0), mean_std([e["wall_s"] for e in a], 0),
                         mean_std([r["ari"] for r in b]), mean_std([e["ari"] for e in a]),
                         delta, DASH if target is None else f"{target} ({met})"])
    if deltas:
        rows.append(["", f"**mean over {len(deltas)} stand-ins with both**"] + [""] * 10
                    + [f"**{statistics.mean(deltas):+.3f}**", ""])
    return table(["suite", "data set", "seeds (before / after)", "threads",
                  "epochs, before", "epochs, after", "training s / epoch, before",
                  "training s / epoch, after", "wall s / seed, before",
                  "wall s / seed, after", "ARI, before", "ARI, after", "Δ ARI",
                  "target s / seed (met, after)"], rows)
