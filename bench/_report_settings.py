"""The tables of bench/report.py that set scrcl with changed settings beside its defaults:
precision and feature input (variants) and the embedding clustered (embedding)."""
from __future__ import annotations

import statistics

from _data import SC_DATASETS, ST_DATASETS
from _report_results import DASH, METHOD_NAMES, Results, distinct, table, with_count
from scrcl.config import DEFAULT_EMBEDDING

#: the stored variant of each embedding where it is not the suite's default
EMBEDDING_VARIANTS = {"z": "embedding-z", "h": "embedding-h"}


def base_variant(variant: str) -> str:
    """What a variant is compared with: the defaults, or, for a setting changed beside
    another embedding than the default ('embedding-z__features-lognorm', stored before the
    scRNA-seq default became [e1, e2]), that embedding's variant ('embedding-z') where it
    is stored."""
    parts = variant.split("__")
    embedding = [p for p in parts if p.startswith("embedding-")]
    return embedding[0] if embedding and len(parts) > 1 else ""


def variants(res: Results) -> str:
    """scrcl with changed settings (``--precision``, ``--set``) beside the defaults, data set
    by data set and seed for seed: the precision parity and the feature-input tables.
    'shared seeds' compares only seeds that both have; |Δ| within one std of the seeds is
    the parity criterion of issue 9 (or |Δ mean| <= 0.02)."""
    rows = []
    for suite, ds, method, protocol, variant in sorted(res.variants):
        if method != "scrcl" or suite not in ("sc", "st"):  # the early suite: its own block
            continue
        runs = res.variants[suite, ds, method, protocol, variant]
        of = base_variant(variant)
        if (suite, ds, method, protocol, of) not in res.variants:  # not stored: the defaults
            of = ""
        base = {e["seed"]: e for e in (res.variants.get((suite, ds, method, protocol, of), [])
                                       if of else res.groups.get((suite, ds, method, protocol),
                                                                 []))}
        if not base:  # e.g. the oracle of [z1, z2]: the scRNA-seq default has none
            continue
        shared = [e for e in runs if e["seed"] in base]
        delta = [e["ari"] - base[e["seed"]]["ari"] for e in shared]
        spread = statistics.pstdev([base[e["seed"]]["ari"] for e in shared]) if shared else 0
        mean_delta = statistics.fmean(delta) if delta else None
        verdict = (DASH if mean_delta is None else
                   "yes" if abs(mean_delta) <= max(0.02, spread) else "no")
        rows.append([suite, ds, protocol, of.replace("__", ", ") or "defaults",
                     distinct(list(base.values()), "precision"),
                     distinct(list(base.values()), "features"),
                     with_count(list(base.values()), "ari"), DASH, DASH, DASH])
        rows.append([suite, ds, protocol, variant.replace("__", ", "),
                     distinct(runs, "precision"), distinct(runs, "features"),
                     with_count(runs, "ari"), len(shared),
                     DASH if mean_delta is None else f"{mean_delta:+.3f}", verdict])
    return table(["suite", "data set", "protocol", "settings", "precision", "features",
                  "ARI mean ± std (seeds)", "shared seeds", "Δ ARI (shared)",
                  "within max(0.02, std)"], rows)


def embedding_runs(res: Results, suite: str, ds: str, which: str) -> list[dict]:
    """Label-free scrcl entries clustering ``which`` ('z' or 'h'): the defaults' where it
    is the suite's default embedding (``DEFAULT_EMBEDDING``), else its variant's."""
    if DEFAULT_EMBEDDING[suite.upper()] == which:
        return res.get(suite, ds, "scrcl", "final")
    return res.variants.get((suite, ds, "scrcl", "final", EMBEDDING_VARIANTS[which]), [])


def embedding(res: Results) -> str:
    """Label-free scrcl clustering [e1, e2] (``--embedding h``) against the published
    [z1, z2], data set by data set, whichever is the default; the rule written down
    before the runs (BENCHMARKS.md, "Which embedding is clustered"): 'h' stays no worse
    than z's mean less the std of z's seeds. Beside them the better plain baseline (sc:
    PCA + k-means or Leiden; st: smoothing + k-means)."""
    rows = []
    for suite, datasets in (("sc", SC_DATASETS), ("st", ST_DATASETS)):
        default = DEFAULT_EMBEDDING[suite.upper()]
        for ds in res.datasets(suite, datasets):
            h = embedding_runs(res, suite, ds, "h")
            z = embedding_runs(res, suite, ds, "z")
            if not h or not z:
                continue
            base = {e["seed"]: e["ari"] for e in z}
            delta = [e["ari"] - base[e["seed"]] for e in h if e["seed"] in base]
            floor = (statistics.fmean(base.values()) - statistics.pstdev(base.values())
                     if len(base) > 1 else None)
            mean_h = statistics.fmean(e["ari"] for e in h)
            verdict = DASH if floor is None or len(h) < 3 else (
                "yes" if mean_h >= floor else "no")
            plain = ["pca_kmeans", "leiden"] if suite == "sc" else ["smooth_kmeans"]
            best = max(((statistics.fmean(e["ari"] for e in res.get(suite, ds, m, "final")),
                         METHOD_NAMES.get(m, m)) for m in plain
                        if res.get(suite, ds, m, "final")), default=None)
            rows.append([suite, ds, f"[{default}1, {default}2]".replace("h", "e"),
                         with_count(z, "ari"), with_count(h, "ari"),
                         DASH if not delta else f"{statistics.fmean(delta):+.3f} ({len(delta)})",
                         verdict, DASH if best is None else f"{best[0]:.3f} ({best[1]})"])
    return table(["suite", "data set", "default", "[z1, z2] (published): ARI (seeds)",
                  "[e1, e2] (--embedding h): ARI (seeds)", "Δ ARI (shared seeds)",
                  "h at least z's mean - std (3+ seeds)", "better plain baseline"], rows)
