"""Storing a finished entry with the record of where and how it ran (bench/run.py)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Optional

import _data
import _env
from _results import Key, write_entry
from _suites import results_version

if TYPE_CHECKING:  # annotations only
    from _plan import Context, Unit


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



def dataset_inputs(ctx: Context, spec: _data.DatasetSpec, build: Callable[[], Any],
                   what: str) -> Any:
    """``build()`` once per data set and ``what`` (only the current data set is kept)."""
    if ctx.cache.get("dataset") != spec.name:
        ctx.cache.clear()
        ctx.cache["dataset"] = spec.name
    if what not in ctx.cache:
        ctx.cache[what] = build()
    return ctx.cache[what]
