#!/usr/bin/env python
"""The tables of BENCHMARKS.md (and README.md's measured figures), regenerated from the
stored results of bench/run.py.

A document holds generated blocks between ``<!-- report:NAME -->`` and ``<!-- /report -->``;
everything outside the markers is left as written. Every figure in a block comes from a
stored entry of the current results version (run.results_version); a missing entry shows as '—' with its seed
count (0), never a number.

    python bench/report.py            # rewrite the blocks
    python bench/report.py --check    # exit 1 when a block is out of date
    python bench/report.py --json     # the scRNA-seq and spatial entries as JSON rows

Where each table lives (the block names of the documents):

- ``_report_results.py``: what the tables share: :class:`Results` (the stored entries
  grouped), the machine ids, the method names and the cell formatting helpers;
- ``_report_accuracy.py``: sc-accuracy, sc-summary, sc-targets, st-accuracy, st-nmi,
  st-summary, peers-sc, peers-st, peers-st-summary, and the rows of --json;
- ``_report_settings.py``: variants, embedding (scrcl with changed settings);
- ``_report_studies.py``: consensus, consensus-heldout, selection, selection-gap,
  early-candidates, k-estimation, k-accuracy;
- ``_report_cost.py``: speed, vs-authors, costs, schedule-cost, default-cost, scaling,
  embedding-cost, gpu-check, machines;
- this file: the command line, the registry of blocks (``BLOCKS``) and the rewriting of
  the documents.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Callable, Optional

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [p for p in (str(BENCH), str(BENCH.parent)) if p not in sys.path]

from _report_accuracy import (json_rows, peers_st_summary, peers_table, sc_accuracy, sc_summary,  # noqa: E402
                              sc_targets, st_summary, st_table)
from _report_cost import (costs, default_cost, embedding_cost, gpu_check, schedule_cost,  # noqa: E402
                          machines, scaling, speed, vs_authors)
from _report_results import Results  # noqa: E402
from _report_settings import embedding, variants  # noqa: E402
from _report_studies import (consensus, consensus_heldout, early_candidates,  # noqa: E402
                             gap_scores, k_accuracy, k_estimation, selection, selection_gap)
from _results import RESULTS_DIR, iter_entries  # noqa: E402
from scrcl.io import atomic_path  # noqa: E402

#: the names other code uses (tests/test_bench_*.py); the tables are in the _report_* modules
__all__ = ["BLOCKS", "Results", "early_candidates", "gap_scores", "iter_entries", "json_rows",
           "main", "peers_table", "render", "selection", "stale_blocks"]

#: what --help prints: the docstring up to where each table lives
USAGE = __doc__.split("\nWhere each table lives", 1)[0]
DOCS = (BENCH.parent / "BENCHMARKS.md", BENCH.parent / "README.md")
BLOCK = re.compile(r"(<!-- report:([a-z0-9-]+) -->\n)(.*?)(<!-- /report -->)", re.DOTALL)

#: each block name of the documents and the function that renders it
BLOCKS: dict[str, Callable[[Results], str]] = {
    "sc-accuracy": sc_accuracy, "sc-summary": sc_summary, "sc-targets": sc_targets,
    "st-accuracy": st_table("ari"),
    "st-nmi": st_table("nmi"), "st-summary": st_summary, "speed": speed, "costs": costs,
    "schedule-cost": schedule_cost,
    "default-cost": default_cost,
    "k-estimation": k_estimation, "k-accuracy": k_accuracy, "selection": selection,
    "selection-gap": selection_gap, "early-candidates": early_candidates,
    "machines": machines, "variants": variants, "embedding": embedding,
    "consensus": consensus, "consensus-heldout": consensus_heldout, "vs-authors": vs_authors,
    "scaling": scaling, "embedding-cost": embedding_cost,
    "gpu-check": gpu_check, "peers-sc": peers_table("sc"), "peers-st": peers_table("st"),
    "peers-st-summary": peers_st_summary,
}


# ----------------------------------------------------------------------------- documents


def render(text: str, res: Results) -> str:
    """The document with every generated block rewritten."""
    def block(match: re.Match) -> str:
        name = match.group(2)
        if name not in BLOCKS:
            raise SystemExit(f"unknown report block {name!r}: choose from {', '.join(BLOCKS)}")
        return match.group(1) + BLOCKS[name](res) + "\n" + match.group(4)
    return BLOCK.sub(block, text)


def stale_blocks(text: str, res: Results) -> list[str]:
    """The names of the document's blocks whose text differs from what they render to."""
    new = dict((m.group(2), m.group(3)) for m in BLOCK.finditer(render(text, res)))
    return [m.group(2) for m in BLOCK.finditer(text) if new[m.group(2)] != m.group(3)]


def main(argv: Optional[list[str]] = None) -> int:
    """Rewrite (or --check, or print --json) the generated blocks; the exit status."""
    p = argparse.ArgumentParser(description=USAGE,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true",
                   help="change nothing; exit 1 when a generated block is out of date")
    p.add_argument("--results", type=Path, default=RESULTS_DIR, help="results folder")
    p.add_argument("--docs", type=Path, nargs="+", default=list(DOCS),
                   help="documents whose blocks are generated")
    p.add_argument("--json", action="store_true",
                   help="print the scRNA-seq and spatial entries as a JSON list of rows "
                        "(suite, dataset, method, protocol, ari_mean, ari_std, seeds, "
                        "wall_s_mean, peak_rss_mb, ...); change nothing")
    args = p.parse_args(argv)
    res = Results(iter_entries(args.results), args.results)
    if args.json:
        print(json.dumps(json_rows(res), indent=1))
        return 0
    out_of_date = []
    for doc in args.docs:
        text = doc.read_text()
        stale = stale_blocks(text, res)
        out_of_date += [f"{doc.name}: {name}" for name in stale]
        if stale and not args.check:
            with atomic_path(doc) as tmp:
                tmp.write_text(render(text, res))
    if args.check and out_of_date:
        print("out of date (run python bench/report.py): " + "; ".join(out_of_date))
        return 1
    print(("updated: " + "; ".join(out_of_date)) if out_of_date and not args.check
          else "every generated block is up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
