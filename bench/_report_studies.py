"""The study tables of bench/report.py, made from stored runs: the consensus of the seeds
(consensus, consensus-heldout), the label-free selection rules (selection, selection-gap,
early-candidates) and the estimated number of clusters (k-estimation, k-accuracy)."""
from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Optional

from _data import DLPFC_SLICES, SC_DATASETS, ST_DATASETS
from _report_results import (AUTOK_CONSENSUS, DASH, ORACLE_VARIANT, Results, consensus_cell,
                             distinct, first, mean_std, table, with_count)

#: the data sets whose stored seeds chose the consensus rule (2026-11-22, true K): every
#: other consensus, and every estimated-K one, is a partition outside that choice
CONSENSUS_CHOSEN_ON = ("Baron_mouse1", "Baron_mouse2", "MCA_mouse_bladder_select2100",
                       "Darmanis_brain", "151507", "151669", "151674")


def consensus(res: Results) -> str:
    """One partition from the seeds' label-free partitions, beside the seeds themselves:
    the package's consensus (average linkage) and k-means on the co-association profiles."""
    rows = []
    for ds in res.datasets("consensus", []):
        for e in res.get("consensus", ds, "scrcl-consensus", "final"):
            other = [o for o in res.get("consensus", ds, "scrcl-consensus-kmeans", "final")
                     if o.get("variant") == e.get("variant")]
            rows.append([ds, len(e["member_seeds"]), mean_std(e["member_ari"]),
                         f"**{e['ari']:.3f}**", f"{e['nmi']:.3f}",
                         f"{other[0]['ari']:.3f}" if other else DASH,
                         e["precision"], e.get("features") or DASH])
    return table(["data set", "seeds", "ARI of the seeds (mean ± std)",
                  "consensus ARI (average linkage, default)", "consensus NMI",
                  "consensus ARI (k-means on profiles)", "precision", "features"], rows)


def consensus_heldout(res: Results) -> str:
    """The consensus on the partitions that took no part in its choice, against the mean
    of the seeds it was made from, and the count of those above. An estimated-K consensus
    of the same partitions as the true-K one (estimate = truth) is counted once."""
    rows, above = [], 0
    for method, k_kind in (("scrcl-consensus", "true"), (AUTOK_CONSENSUS, "estimated")):
        for ds in res.datasets("consensus", []):
            if method == "scrcl-consensus" and ds in CONSENSUS_CHOSEN_ON:
                continue
            same = [(t["member_ari"], t["ari"])
                    for t in res.get("consensus", ds, "scrcl-consensus", "final")]
            for e in res.get("consensus", ds, method, "final"):
                if method == AUTOK_CONSENSUS and (e["member_ari"], e["ari"]) in same:
                    continue
                mean = statistics.fmean(e["member_ari"])
                above += e["ari"] > mean
                rows.append([ds, k_kind, len(e["member_seeds"]), mean_std(e["member_ari"]),
                             f"{e['ari']:.3f}", f"{e['ari'] - mean:+.3f}",
                             "above" if e["ari"] > mean else "below"])
    rows.append([f"**above the seeds' mean on {above} of {len(rows)}**", "", "", "", "",
                 "", ""])
    return table(["data set", "K", "seeds", "ARI of the seeds (mean ± std)",
                  "consensus ARI", "consensus - mean", ""], rows)


#: the selection rules, in the columns' order
SELECTION_RULES = ("silhouette", "calinski_harabasz", "davies_bouldin", "modularity",
                   "stable", "last", "epoch_consensus", "epoch_linkage", "best_candidate",
                   "silhouette_same_seeds", "silhouette_early", "best_candidate_early")
#: columns of runs that clustered every epoch only (since session 7): with their seed count
SELECTION_EARLY = ("silhouette_same_seeds", "silhouette_early", "best_candidate_early")
SELECTION_HEADERS = {"best_candidate": "best candidate (answer key)",
                     "silhouette_same_seeds": "silhouette, seeds with epochs 1-9",
                     "silhouette_early": "silhouette, epochs 1-9 too",
                     "best_candidate_early": "best candidate, epochs 1-9 too (answer key)"}


def selection(res: Results) -> str:
    """Label-free selection rules applied to the stored candidate epochs of each run (mean
    ARI over seeds), beside the answer key's pick among the same candidates."""
    groups: dict[tuple, dict[str, list[dict]]] = defaultdict(dict)
    for (suite, ds, method, _, *variant), runs in [*res.groups.items(), *res.variants.items()]:
        if suite == "selection":
            groups[ds, variant[0] if variant else ""][method] = runs
    rows = []
    for (ds, variant), by_rule in sorted(groups.items()):
        seeds = sorted({e["seed"] for runs in by_rule.values() for e in runs})
        early = {e["seed"] for e in by_rule.get("silhouette_early", [])}  # paired with it:
        by_rule["silhouette_same_seeds"] = [e for e in by_rule.get("silhouette", [])
                                            if e["seed"] in early]
        rows.append([ds, variant.replace("__", ", ") or "defaults", len(seeds),
                     *(mean_std([e["ari"] for e in by_rule.get(r, [])]) if r not in
                       SELECTION_EARLY else with_count(by_rule.get(r, []), "ari")
                       for r in SELECTION_RULES)])
    return table(["data set", "settings", "seeds",
                  *(SELECTION_HEADERS.get(r, r.replace("_", " ")) for r in SELECTION_RULES)],
                 rows)


def gap_scores(entry: dict) -> Optional[dict[str, float]]:
    """For a label-free scrcl entry whose trace covers every epoch (a run with the oracle):
    its ARI and the best ARI among its own candidate epochs, among the stride's alone,
    among epochs 1-9 and among all epochs (the answer key's picks, from the trace); None
    otherwise."""
    from scrcl.clustering.selection import candidate_epochs

    trace = entry.get("trace") or []
    ari = {t[0]: t[1] for t in trace}
    epochs = entry["epochs"]
    if len(ari) != epochs or epochs < 10:
        return None
    config = entry.get("config") or {}
    stride = config.get("select_stride", 10)
    own = candidate_epochs(epochs, stride, first=config.get("select_first", 0))
    return {"final": entry["ari"], "candidates": max(ari[e] for e in own),
            "stride": max(ari[e] for e in candidate_epochs(epochs, stride)),
            "early": max(ari[e] for e in range(1, 10)), "all": max(ari.values())}


def selection_gap(res: Results) -> str:
    """Where the label-free result stands between what its candidates could give and what
    the answer key finds (mean ARI over the seeds whose trace covers every epoch)."""
    rows, dlpfc = [], []
    for suite, names in (("sc", SC_DATASETS), ("st", ST_DATASETS)):
        for ds in res.datasets(suite, names):
            gaps = [g for g in map(gap_scores, res.get(suite, ds, "scrcl", "final")) if g]
            if not gaps and suite in ORACLE_VARIANT:  # traces of every epoch: oracle runs
                gaps = [g for g in map(gap_scores, res.variants.get(
                    (suite, ds, "scrcl", "final", ORACLE_VARIANT[suite]), [])) if g]
                ds = f"{ds} ({ORACLE_VARIANT[suite]})"
            if not gaps:
                continue
            mean = {k: statistics.fmean(g[k] for g in gaps) for k in gaps[0]}
            if ds in DLPFC_SLICES:
                dlpfc.append(mean)
            rows.append([ds, len(gaps), f"{mean['final']:.3f}", f"{mean['candidates']:.3f}",
                         f"{mean['candidates'] - mean['final']:+.3f}", f"{mean['early']:.3f}",
                         f"{mean['all']:.3f}",
                         f"{sum(g['early'] > g['stride'] for g in gaps)} of {len(gaps)}"])
    if dlpfc:  # the slices' means, as the DLPFC target of issue 13 is stated
        mean = {k: statistics.fmean(m[k] for m in dlpfc) for k in dlpfc[0]}
        rows.append([f"**DLPFC mean ({len(dlpfc)} of {len(DLPFC_SLICES)} slices)**", "",
                     f"**{mean['final']:.3f}**", f"**{mean['candidates']:.3f}**",
                     f"{mean['candidates'] - mean['final']:+.3f}", f"{mean['early']:.3f}",
                     f"{mean['all']:.3f}", ""])
    return table(["data set", "seeds", "label-free (silhouette)",
                  "best candidate (answer key)", "lost by the rule",
                  "best of epochs 1-9 (answer key)", "best epoch (oracle)",
                  "seeds where epochs 1-9 beat every stride candidate"], rows)


def early_candidates(res: Results) -> str:
    """The silhouette rule with epochs 1-9 among its candidates, from the early suite's
    reconstruction of stored runs, beside the rule as it is (the stored label-free ARI)."""
    rows = []
    groups = [(ds, "", res.get("early", ds, "scrcl", "final"))
              for ds in res.datasets("early", SC_DATASETS + ST_DATASETS)]
    groups += [(ds, variant, runs) for (suite, ds, _, _, variant), runs
               in sorted(res.variants.items()) if suite == "early"]
    for ds, variant, runs in groups:
        if not runs:
            continue
        before = [e["member_ari"] for e in runs]
        after = [e["ari"] for e in runs]
        worse = sum(a < b - 1e-12 for a, b in zip(after, before))
        rows.append([ds, variant.replace("__", ", ") or "defaults", len(runs),
                     mean_std(before), mean_std(after),
                     f"{statistics.fmean(after) - statistics.fmean(before):+.3f}",
                     f"{sum(e['epoch_used'] <= 9 for e in runs)} of {len(runs)} "
                     f"({worse} lower)",
                     f"{sum(bool(e['reproduced']) for e in runs)} of {len(runs)} "
                     f"(max {max(e['max_ari_diff'] for e in runs):.4f})"])
    return table(["data set", "settings", "seeds",
                  "silhouette over every 10th epoch (the stride alone)",
                  "silhouette, epochs 1-9 too", "Δ ARI",
                  "seeds whose pick moved to 1-9 (of them, lower ARI)",
                  "epochs 1-9 reproduced (ARI within 1e-4 of the stored trace)"], rows)


#: the rules that estimate K, with their names in the table
K_RULE_NAMES = {"leiden_k": "default (Leiden, res 1, 15-NN of 50 PCs)",
                "model_graph_k": "Leiden, res 1, model's graph (before Nov 2026)",
                "eigengap_k": "eigengap", "stability_k": "most stable resolution"}


def k_estimation(res: Results) -> str:
    """K from ``--n-clusters auto`` (no label read) and the studied rules, beside the number
    of true classes, with how many data sets each rule gets within 25% of the truth."""
    rows, hits, counted = [], {m: 0 for m in K_RULE_NAMES}, {m: 0 for m in K_RULE_NAMES}
    for ds in res.datasets("k", SC_DATASETS + ST_DATASETS):
        found = {m: res.get("k", ds, m, "final") for m in K_RULE_NAMES}
        default = found["leiden_k"]
        truth = next((runs[0]["n_clusters"] for runs in found.values() if runs), None)
        cells = []
        for m, runs in found.items():
            if not runs:
                cells.append(DASH)
                continue
            k = runs[0]["estimated_k"]
            counted[m] += 1
            hits[m] += abs(k - truth) <= 0.25 * truth
            cells.append(f"{k}" if m != "stability_k" else f"{k} (res {runs[0]['resolution']})")
        rows.append([ds, truth if truth is not None else DASH, *cells,
                     f"{default[0]['stability']:.2f}" if default else DASH,
                     res.machine_of(default)])
    rows.append(["**within 25% of the true K**", "",
                 *[f"**{hits[m]} of {counted[m]}**" for m in K_RULE_NAMES], "", ""])
    return table(["data set", "true K", *[f"K, {n}" for n in K_RULE_NAMES.values()],
                  "default's Leiden stability (mean ARI of 3 seeds)", "machine"], rows)


def k_accuracy(res: Results) -> str:
    """What a user without labels gets: label-free scrcl with the K that --n-clusters auto
    estimates, beside the same with the true K and beside Leiden at resolution 1 (the
    partition the estimate counts, on the same graph) used as the clustering itself."""
    rows, above, compared = [], 0, 0
    for ds in res.datasets("k", SC_DATASETS + ST_DATASETS):
        suite = "sc" if ds in SC_DATASETS else "st"
        leiden = res.get("k", ds, "leiden_k", "final")
        scored = [e for e in leiden if e.get("ari") is not None]
        auto = res.get(suite, ds, "scrcl-autok", "final")
        known = res.get(suite, ds, "scrcl", "final")
        if scored and auto:
            compared += 1
            above += statistics.fmean(e["ari"] for e in auto) > scored[0]["ari"]
        truth = first(leiden, "n_clusters") if leiden else first(known, "n_clusters")
        rows.append([ds, truth, distinct(leiden + auto, "estimated_k"),
                     f"{scored[0]['ari']:.3f} ({scored[0]['n_clusters_found']} clusters)"
                     if scored else DASH,
                     with_count(auto, "ari"), consensus_cell(res, ds, "ari", AUTOK_CONSENSUS),
                     with_count(known, "ari"), res.machine_of(leiden + auto)])
    rows.append([f"**estimated K: scrcl above Leiden res 1 on {above} of {compared}**", "",
                 "", "", "", "", "", ""])
    return table(["data set", "true K", "estimated K", "Leiden res 1: ARI (clusters)",
                  "scrcl final, estimated K: ARI (seeds)",
                  "scrcl final, estimated K: consensus of the seeds (default output)",
                  "scrcl final, true K: ARI (seeds)", "machine"], rows)
