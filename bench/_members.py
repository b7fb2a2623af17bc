"""The stored entries a study unit reads (consensus, selection, early epochs)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import _data
import _selection
from _results import Key, read_entry
from _suites import RESULTS_VERSION

if TYPE_CHECKING:  # annotations only
    from _plan import Context, Unit


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
