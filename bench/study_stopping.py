"""Study: a label-free stopping rule and the choice of the final partition, on the stored
candidate partitions of the label-free runs (no training).

For each stand-in and seed, the stored ``scrcl/final`` entry (or, where that one kept no
candidates, its ``precision-fp32`` twin) holds the partition of every candidate epoch
(every 10th epoch and the last; on scRNA-seq epochs 1-9 too). Each rule here sees only
those partitions, the input features and the cell graph; the truth scores the rules'
choices and nothing else.

    python bench/study_stopping.py features   # per candidate: signals (cached in /tmp)
    python bench/study_stopping.py rules      # the rules on every stand-in -> JSON
    python bench/study_stopping.py seeds      # consensus of 1 / 3 / 5 seeds -> JSON

Results: ``bench/results/study_stopping/*.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _data  # noqa: E402
from _results import RESULTS_DIR, read_entry, unpack_labels  # noqa: E402

OUT = RESULTS_DIR / "study_stopping"
CACHE = Path("/tmp/study_stopping_cache")
#: chosen on these (scRNA-seq stand-ins and the first six DLPFC slices); the rest are held out
CHOOSE_ON = ("Baron_mouse1", "Baron_mouse2", "MCA_mouse_bladder_select2100",
             "CITE_CBMC_top2000", "Darmanis_brain",
             "151507", "151508", "151509", "151510", "151669", "151670")
HELD_OUT = ("151671", "151672", "151674", "151675", "151676", "Human_Breast_Cancer",
            "Mouse_Brain_Anterior")


def stored_entries(name: str) -> list[dict]:
    """The label-free entries of a stand-in with candidates, one per seed."""
    spec = _data.dataset_spec(name)
    out = []
    for seed in (5, 15, 25, 35, 45):
        for folder in ("scrcl", "scrcl__precision-fp32"):
            path = RESULTS_DIR / spec.kind / name / folder / "final" / f"seed{seed}.json"
            entry = read_entry(path)
            if entry and entry.get("candidates"):
                entry["_folder"] = folder
                out.append(entry)
                break
    return out


def fixed_space(prepared, n_pcs: int = 50) -> np.ndarray:
    """(N, n_pcs) principal components of the model's input, the same space for every
    candidate: log1p of counts per 10,000 for count input, the features as given else."""
    import scipy.sparse as sp
    from sklearn.decomposition import PCA

    x = prepared.features
    x = x.toarray() if sp.issparse(x) else np.asarray(x)
    x = x.astype(np.float64)
    if prepared.input_kind == "counts":
        x = np.log1p(x / np.maximum(x.sum(1, keepdims=True), 1) * 1e4)
    n = min(n_pcs, min(x.shape) - 1)
    return PCA(n, random_state=0).fit_transform(x).astype(np.float32)


def candidate_signals(name: str) -> dict:
    """Per seed: epochs, true ARI, own-embedding silhouette (stored), silhouette in the
    fixed space, modularity on the cell graph, the candidates' pairwise ARI."""
    from sklearn.metrics import adjusted_rand_score as ari

    from _selection import modularity

    path = CACHE / f"{name}.npz"
    if path.exists():
        return dict(np.load(path, allow_pickle=True))["data"].item()
    entries = stored_entries(name)
    spec = _data.dataset_spec(name)
    cfg = _data.base_config(spec)
    inputs = _data.scrcl_inputs(spec, cfg)
    space = fixed_space(inputs.prepared)
    graph = inputs.prepared.cell_adj
    seeds = {}
    for e in entries:
        rows = sorted(e["candidates"], key=lambda r: r[0])
        parts = [unpack_labels(r[3]) for r in rows]
        own = {t[0]: t[3] for t in e["trace"]}
        m = len(parts)
        pair = np.eye(m)
        for i in range(m):
            for j in range(i + 1, m):
                pair[i, j] = pair[j, i] = ari(parts[i], parts[j])
        seeds[e["seed"]] = {
            "folder": e["_folder"], "ari_final": e["ari"], "epoch_final": e["epoch_used"],
            "wall_s": e["wall_s"], "train_s": e["train_s"], "s_per_epoch": e["s_per_epoch"],
            "threads": e.get("threads"),
            "epochs": np.array([r[0] for r in rows]),
            "true": np.array([ari(inputs.truth, p) for p in parts]),
            "sil_own": np.array([np.nan if own.get(r[0]) is None else own[r[0]] for r in rows]),
            "sil_fixed": np.array([_sil_euclid(space, p) for p in parts]),
            "modularity": np.array([modularity(graph, p) for p in parts]),
            "pair": pair, "labels": np.stack(parts), "final_labels": np.array(e["labels"]),
        }
    data = {"name": name, "kind": spec.kind, "n_clusters": inputs.n_clusters,
            "truth": inputs.truth, "seeds": seeds}
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, data=np.array(data, dtype=object))
    return data


def _sil_euclid(space: np.ndarray, labels: np.ndarray, sample: int = 3000) -> float:
    """Euclidean silhouette on a fixed sample of at most ``sample`` cells."""
    from sklearn.metrics import silhouette_score

    idx = np.random.default_rng(0).permutation(space.shape[0])[:sample]
    if np.unique(labels[idx]).size < 2:
        return -1.0
    return float(silhouette_score(space[idx], labels[idx]))


def seed_consensus(name: str) -> dict:
    """What the consensus of 3 and 5 seeds buys over one seed: ARI of every subset's
    consensus (average linkage, the pipeline's), from the stored final partitions."""
    from itertools import combinations

    from sklearn.metrics import adjusted_rand_score as ari

    from scrcl.clustering.consensus import consensus_method_for, consensus_partition

    data = candidate_signals(name)
    spec = _data.dataset_spec(name)
    entries = {}
    for seed in (5, 15, 25, 35, 45):
        entry = read_entry(RESULTS_DIR / spec.kind / name / "scrcl" / "final" / f"seed{seed}.json")
        if entry and entry.get("labels"):
            entries[seed] = np.asarray(entry["labels"])
    truth = data["truth"]
    out = {"dataset": name, "seeds": sorted(entries),
           "one": {str(s): round(ari(truth, p), 4) for s, p in entries.items()}}
    for size in (3, 5):
        if len(entries) < size:
            continue
        scores = {}
        for subset in combinations(sorted(entries), size):
            parts = [entries[s] for s in subset]
            method = consensus_method_for(parts)
            labels = consensus_partition(parts, data["n_clusters"], method=method)
            scores[",".join(map(str, subset))] = round(ari(truth, labels), 4)
        out[f"consensus_{size}"] = scores
    one = list(out["one"].values())
    out["summary"] = {"one_mean": round(float(np.mean(one)), 4),
                      "one_min": round(float(np.min(one)), 4),
                      "one_std": round(float(np.std(one)), 4)}
    for size in (3, 5):
        if f"consensus_{size}" in out:
            v = list(out[f"consensus_{size}"].values())
            out["summary"][f"consensus_{size}_mean"] = round(float(np.mean(v)), 4)
            out["summary"][f"consensus_{size}_min"] = round(float(np.min(v)), 4)
            out["summary"][f"consensus_{size}_std"] = round(float(np.std(v)), 4)
    return out


# ----------------------------------------------------------------------------- rules
# A stop returns the index of the candidate after which training ends; a choice, the index
# of the candidate returned among those up to the stop. Both see only label-free signals.

def stop_never(sd: dict) -> int:
    return len(sd["epochs"]) - 1


def stop_cap(sd: dict, cap: int) -> int:
    """Train at most ``cap`` epochs."""
    return int(np.flatnonzero(sd["epochs"] <= cap)[-1])


def stop_plateau(sd: dict, signal: str, patience: int, min_delta: float = 0.0) -> int:
    """The package's rule (``scrcl.clustering.stopping``) on the stored scores."""
    from scrcl.clustering.stopping import StopRule, stop_index

    ep, v = sd["epochs"], sd[signal]
    keep = ~np.isnan(v)
    idx = np.flatnonzero(keep)
    i = stop_index(ep[keep].tolist(), v[keep].tolist(), StopRule(patience, 0, min_delta),
                   max_epochs=int(ep[-1]))
    return int(idx[i])


def stop_agree(sd: dict, tau: float, m: int) -> int:
    """Stop once ``m`` successive pairs of stride candidates agree (ARI >= ``tau``)."""
    ep, pair = sd["epochs"], sd["pair"]
    stride = [i for i in range(len(ep)) if ep[i] % 10 == 0]
    run = 0
    for a, b in zip(stride, stride[1:]):
        run = run + 1 if pair[a, b] >= tau else 0
        if run >= m:
            return b
    return len(ep) - 1


def _last_argmax(values: np.ndarray, ids: np.ndarray) -> int:
    """ids[argmax(values)], ties to the later candidate (NaN never chosen)."""
    v = np.where(np.isnan(values), -np.inf, values)
    return int(ids[len(ids) - 1 - int(np.argmax(v[::-1]))])


def choose(sd: dict, upto: int, how: str) -> int:
    ids = np.arange(upto + 1)
    if how == "last":
        return upto
    if how in ("sil_own", "sil_fixed", "modularity"):
        return _last_argmax(sd[how][ids], ids)
    if how == "medoid":  # the candidate agreeing best (mean ARI) with all the others
        pair = sd["pair"][np.ix_(ids, ids)]
        return _last_argmax((pair.sum(1) - 1) / max(len(ids) - 1, 1), ids)
    raise ValueError(how)


STOPS = {"never": stop_never, "cap100": lambda sd: stop_cap(sd, 100),
         "cap200": lambda sd: stop_cap(sd, 200), "cap300": lambda sd: stop_cap(sd, 300),
         "agree0.9x3": lambda sd: stop_agree(sd, 0.9, 3),
         "agree0.95x5": lambda sd: stop_agree(sd, 0.95, 5)}
for _sig in ("sil_own", "sil_fixed"):
    for _p in (5, 10, 15, 20, 25):
        STOPS[f"plateau_{_sig}_p{_p}"] = (lambda s, p: lambda sd: stop_plateau(sd, s, p))(_sig, _p)
CHOICES = ("sil_own", "sil_fixed", "modularity", "medoid", "last")
#: the rule chosen, written down before the fresh runs: the package's selection score
#: (each candidate's silhouette on its own embedding) both stops and chooses; the patience
#: is the smallest of PATIENCES that costs no stand-in of CHOOSE_ON more than MAX_LOSS ARI
#: against today's stored result (the criterion was fixed before the held-out ones were
#: looked at, see docs/design/stopping.md)
PATIENCES = (5, 10, 15, 20, 25)
MAX_LOSS = 0.01
CHOSEN = ("plateau_sil_own_p25", "sil_own")


def smallest_patience(study: dict, kind: str) -> Optional[int]:
    """The criterion above, applied to the study's numbers for one kind of data."""
    for p in PATIENCES:
        rows = [study["datasets"][n] for n in CHOOSE_ON if study["datasets"][n]["kind"] == kind]
        if all(r["rules"][f"plateau_sil_own_p{p}|sil_own"]["ari"] - r["today_ari"] >= -MAX_LOSS
               for r in rows):
            return p
    return None


def rules() -> dict:
    """Every (stop, choice) on every stand-in: mean true ARI over seeds and the epoch of
    the stop, against today's stored label-free result."""
    out = {"note": ("true ARI used only to score; 'today' is the stored label-free entry "
                    "the candidates come from (its folder per seed in 'folders')"),
           "choose_on": list(CHOOSE_ON), "held_out": list(HELD_OUT), "chosen": CHOSEN,
           "datasets": {}}
    for name in CHOOSE_ON + HELD_OUT:
        data = candidate_signals(name)
        seeds = data["seeds"]
        row = {"kind": data["kind"], "seeds": sorted(seeds),
               "folders": {str(s): v["folder"] for s, v in seeds.items()},
               "today_ari": round(float(np.mean([v["ari_final"] for v in seeds.values()])), 4),
               "today_epoch": [int(v["epoch_final"]) for v in seeds.values()],
               "ceiling_ari": round(float(np.mean([v["true"].max() for v in seeds.values()])), 4),
               "s_per_epoch": round(float(np.mean([v["s_per_epoch"] for v in seeds.values()])), 3),
               "rules": {}}
        for sn, stop in STOPS.items():
            for how in CHOICES:
                aris, stops = [], []
                for v in seeds.values():
                    u = stop(v)
                    aris.append(float(v["true"][choose(v, u, how)]))
                    stops.append(int(v["epochs"][u]))
                row["rules"][f"{sn}|{how}"] = {"ari": round(float(np.mean(aris)), 4),
                                               "per_seed": [round(a, 4) for a in aris],
                                               "stop_epochs": stops}
        out["datasets"][name] = row
    out["summary"] = summarise(out)
    out["criterion"] = {kind: smallest_patience(out, kind) for kind in ("sc", "st")}
    return out


def summarise(study: dict) -> dict:
    """Per rule, over the choose-on and the held-out stand-ins: the mean and the worst
    difference to today, and the mean epoch of the stop."""
    table = {}
    rules_ = next(iter(study["datasets"].values()))["rules"]
    for rule in rules_:
        entry = {}
        for part, names in (("choose_on", CHOOSE_ON), ("held_out", HELD_OUT)):
            for kind in ("sc", "st"):
                rows = [study["datasets"][n] for n in names
                        if n in study["datasets"] and study["datasets"][n]["kind"] == kind]
                if not rows:
                    continue
                d = [r["rules"][rule]["ari"] - r["today_ari"] for r in rows]
                ep = [np.mean(r["rules"][rule]["stop_epochs"]) for r in rows]
                entry[f"{part}_{kind}"] = {"mean_diff": round(float(np.mean(d)), 4),
                                           "worst_diff": round(float(np.min(d)), 4),
                                           "mean_stop_epoch": round(float(np.mean(ep)), 1)}
        table[rule] = entry
    return table


def collect_fresh(name: str, folder: Path, command: str, note: str, git: str) -> dict:
    """A fresh run of runSC.py / runST.py with the rule (``folder``: its --out, and
    ``folder``.log its log with /usr/bin/time -v) beside the stored default of the same
    seeds: label-free ARI, epochs trained, the stop, wall time; and where the study's
    replay of the rule on the stored candidates said that seed would stop."""
    import re

    record = json.loads((folder / "metrics.json").read_text())
    spec = _data.dataset_spec(name)
    replay = {}
    if (CACHE / f"{name}.npz").exists():
        for seed, sd in candidate_signals(name)["seeds"].items():
            u = stop_plateau(sd, "sil_own", record["config"]["stop_patience"])
            replay[seed] = {"stop_epoch": int(sd["epochs"][u]),
                            "ari": round(float(sd["true"][choose(sd, u, "sil_own")]), 4)}
    seeds = []
    for r, stop in zip(record["per_seed"], record["stop"]["per_seed"]):
        stored = read_entry(RESULTS_DIR / spec.kind / name / "scrcl" / "final"
                            / f"seed{r['seed']}.json") or {}
        seeds.append({
            "seed": r["seed"], "ari": round(r["ari"], 4), "epoch_used": r["epoch_used"],
            "epochs_trained": r["epochs_trained"], "stop_signal": stop.get("signal"),
            "wall_s": r["wall_s"],
            "stored_ari": stored.get("ari") and round(stored["ari"], 4),
            "stored_epoch_used": stored.get("epoch_used"),
            "stored_wall_s": stored.get("wall_s") and round(stored["wall_s"], 1),
            "stored_threads": stored.get("threads"),
            "replay": replay.get(r["seed"])})
    log = Path(str(folder) + ".log").read_text()
    cpu = [float(x) for x in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", log)]
    return {"dataset": name, "command": command, "note": note,
            "git": git, "threads": record["threads"],
            "precision": record["precision"], "stop_patience": record["config"]["stop_patience"],
            "cpu_s_whole_run": round(sum(cpu), 1) if cpu else None,
            "consensus_ari": (record.get("consensus") or {}).get("scores", {}) and
            round(record["consensus"]["scores"]["ari"], 4),
            "seeds": seeds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("features", "rules", "seeds", "fresh"))
    parser.add_argument("--datasets", nargs="*", default=list(CHOOSE_ON + HELD_OUT))
    parser.add_argument("--run", metavar="DIR", help="fresh: the run's --out folder")
    parser.add_argument("--command", default="", help="fresh: the command that made it")
    parser.add_argument("--note", default="", help="fresh: the machine's state")
    parser.add_argument("--git", default="", help="fresh: the commit that ran it")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if args.what == "features":
        for name in args.datasets:
            start = time.perf_counter()
            data = candidate_signals(name)
            print(f"{name}: {len(data['seeds'])} seeds ({time.perf_counter() - start:.0f} s)")
    elif args.what == "fresh":
        name = args.datasets[0]
        _write(OUT / f"fresh_{name}.json",
               collect_fresh(name, Path(args.run), args.command, args.note, args.git))
    elif args.what == "rules":
        _write(OUT / "rules.json", rules(), compact=True)
    else:
        _write(OUT / "seeds.json", {"note": "ARI of the consensus (average linkage) of every "
                                    "subset of 3 and 5 stored label-free seeds, and of each "
                                    "seed alone",
                                    "datasets": [seed_consensus(n) for n in args.datasets]})


def _write(path: Path, payload: dict, compact: bool = False) -> None:
    """JSON, one item a line (``compact``: one line a data set)."""
    if compact:  # {"key": ..., "datasets": {name: {...} on one line each}}
        head = {k: v for k, v in payload.items() if k != "datasets"}
        lines = [json.dumps(head, default=_plain)[:-1] + ', "datasets": {']
        items = list(payload["datasets"].items())
        lines += [f"{json.dumps(k)}: {json.dumps(v, default=_plain, separators=(',', ':'))}"
                  + ("," if i < len(items) - 1 else "") for i, (k, v) in enumerate(items)]
        path.write_text("\n".join(lines) + "}}\n")
        json.loads(path.read_text())  # still one JSON document
    else:
        path.write_text(json.dumps(payload, indent=1, default=_plain) + "\n")
    print(f"wrote {path}")


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(type(value))


if __name__ == "__main__":
    main()
