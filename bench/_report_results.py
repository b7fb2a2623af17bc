"""What every table of bench/report.py shares: the stored entries grouped for the tables
(:class:`Results`, with the machine ids), the method names and the '—' of a missing
figure, and the cell formatting helpers (mean ± std, seed counts, markdown tables)."""
from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path
from typing import Iterable

from _results import RESULTS_DIR
from _suites import RESULTS_VERSION, SCRCL_METHODS, results_version
from scrcl.config import SELECT_FIRST

DASH = "—"  # a figure without a stored entry
METHOD_NAMES = {"scrcl": "scrcl (k-means)", "scrcl-gmm": "scrcl (gmm)",
                "scrcl-autok": "scrcl (k-means, estimated K)",
                "scrcl-leiden": "scrcl (Leiden at K)", "scrcl-ward": "scrcl (Ward)",
                "pca_kmeans": "PCA + k-means", "leiden": "Leiden (res 1)",
                "smooth_kmeans": "smoothing + k-means", "gmm": "Gaussian mixture",
                "scrcl-epoch1": "scrcl after 1 epoch", "graphst": "GraphST",
                "scvi-kmeans": "scVI + k-means", "scvi-leiden": "scVI + Leiden (res 1)"}
#: the published protocol (oracle) clusters the published [z1, z2]: where a suite's default
#: clusters [e1, e2] (scRNA-seq), its oracle entries are stored as this variant
#: (bench/_suites.py ORACLE_EMBEDDING), and the tables read them there
ORACLE_VARIANT = {"sc": "embedding-z"}
#: the consensus of the seeds run with the estimated K
AUTOK_CONSENSUS = "scrcl-autok-consensus"


# ----------------------------------------------------------------------------- results


def of_older_default(e: dict) -> bool:
    """A label-free scrcl entry whose candidate epochs are not its task's default
    (``scrcl.config.SELECT_FIRST``: epochs 1-9 on scRNA-seq since Nov 2026), unless its
    variant chose them: it is not what a user now gets, so no table shows it."""
    if (e["suite"] not in ("sc", "st") or e["method"] not in SCRCL_METHODS
            or e["protocol"] != "final" or "select_first-" in (e.get("variant") or "")):
        return False
    return e["config"].get("select_first", 0) != SELECT_FIRST[e["suite"].upper()]


#: results versions whose scrcl entries the tables still show, until the runner recomputes
#: them (a recomputed entry replaces its file), with what changed since
SHOWN_UNTIL_RECOMPUTED = {
    2: "the candidates' k-means seeding (greedy k-means++, run to convergence) and the "
       "label-free stop came after them; on cached embeddings the new k-means gives the same "
       "partitions to ARI 0.96-1.0 and moves ARI against the truth by at most 0.012",
}


class Results:
    """The stored entries of the current results version (and of the versions in
    SHOWN_UNTIL_RECOMPUTED, counted in ``previous``), grouped for the tables."""

    def __init__(self, entries: Iterable[dict], root: Path = RESULTS_DIR) -> None:
        self.root = Path(root)  # the results folder (records beside the entries)
        self.groups: dict[tuple, list[dict]] = defaultdict(list)  # the defaults' entries
        self.variants: dict[tuple, list[dict]] = defaultdict(list)  # + changed settings
        self.stale = 0  # of an older results version
        self.previous: dict[int, int] = defaultdict(int)  # shown until recomputed, by version
        self.older_default = 0  # label-free entries made before a default changed
        for e in entries:
            version = e.get("results_version")
            if version != results_version(e["method"]):
                if (version in SHOWN_UNTIL_RECOMPUTED
                        and results_version(e["method"]) == RESULTS_VERSION):
                    self.previous[version] += 1
                else:
                    self.stale += 1
                    continue
            if of_older_default(e):
                self.older_default += 1
                continue
            key = (e["suite"], e["dataset"], e["method"], e["protocol"])
            (self.variants[(*key, e["variant"])] if e.get("variant")
             else self.groups[key]).append(e)
        for runs in (*self.groups.values(), *self.variants.values()):
            runs.sort(key=lambda e: e["seed"])
        self.machines = machine_ids(e for runs in (*self.groups.values(),
                                                   *self.variants.values()) for e in runs)

    def get(self, suite: str, dataset: str, method: str, protocol: str) -> list[dict]:
        """The defaults' entries; for the oracle protocol of a suite whose default clusters
        another embedding than the published one, the entries of ``ORACLE_VARIANT``."""
        found = self.groups.get((suite, dataset, method, protocol), [])
        if not found and protocol == "oracle" and suite in ORACLE_VARIANT:
            found = self.variants.get((suite, dataset, method, protocol,
                                       ORACLE_VARIANT[suite]), [])
        return found

    def datasets(self, suite: str, known: Iterable[str]) -> list[str]:
        """The suite's known data sets, then any other one that has results (e.g. demo)."""
        seen = {d for s, d, _, _ in self.groups if s == suite}
        known = list(known)
        return known + sorted(seen - set(known))

    def machine_of(self, runs: list[dict]) -> str:
        """The ids of the machines the runs came from, '—' for none."""
        return ", ".join(sorted({self.machines[machine_label(e)] for e in runs})) or DASH


def machine_label(e: dict) -> str:
    """The machine an entry ran on, in words: CPU, cores, memory and any GPU."""
    m = e.get("machine") or {}
    text = f"{m.get('cpu_model')}, {m.get('cores')} cores, {m.get('mem_total_gb')} GB"
    return text + (f", GPU {m['gpu']}" if m.get("gpu") else "")


def machine_ids(entries: Iterable[dict]) -> dict[str, str]:
    """An id (M1, M2, ...) for each machine the entries ran on, in the order of the labels."""
    labels = sorted({machine_label(e) for e in entries})
    return {label: f"M{i + 1}" for i, label in enumerate(labels)}


# ----------------------------------------------------------------------------- formatting


def mean_std(values: list[float], digits: int = 3) -> str:
    """'m ± s' (population std) of the values, or '—' when there are none."""
    if not values:
        return DASH
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.fmean(values):.{digits}f} ± {statistics.pstdev(values):.{digits}f}"


def with_count(runs: list[dict], metric: str) -> str:
    """'m ± s (n)' of a metric over seeds, '— (0)' without results."""
    return f"{mean_std([e[metric] for e in runs])} ({len(runs)})"


def distinct(runs: list[dict], field: str) -> str:
    """The distinct values of a field over the runs, sorted as text, or '—'."""
    values = sorted({str(e.get(field)) for e in runs if e.get(field) is not None})
    return ", ".join(values) or DASH


def span(values: list[int]) -> str:
    """'lo–hi' of the values (one value where they agree), or '—'."""
    if not values:
        return DASH
    lo, hi = min(values), max(values)
    return str(lo) if lo == hi else f"{lo}–{hi}"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table of the rows under the header."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(map(str, r)) + " |" for r in rows])


def first(runs: list[dict], field: str) -> str:
    """The field of the first run, as text, or '—' without runs."""
    return str(runs[0][field]) if runs else DASH


def consensus_cell(res: Results, ds: str, metric: str,
                   method: str = "scrcl-consensus") -> str:
    """The stored consensus of a data set's label-free seeds (the default's one partition,
    ``scrcl-consensus``; ``scrcl-autok-consensus`` with the estimated K): '<value> (S
    seeds)', or '—'."""
    found = res.get("consensus", ds, method, "final")
    if not found:
        return f"{DASH} (0)"
    return f"{found[0][metric]:.3f} ({len(found[0]['member_seeds'])} seeds)"
