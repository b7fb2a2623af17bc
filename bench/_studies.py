"""The study suites on stored runs: the consensus of the seeds, the label-free selection
rules on stored candidates, and the early epochs trained again."""
from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import _data
import _selection
from _results import Key
from _suites import CONSENSUS_MEMBERS, CONSENSUS_METHODS
from _members import consensus_members, early_candidate_rows, early_member, selection_member
from _entries import scores_fields, store
from _training import out_of_time, scrcl_inputs, train_protocols

if TYPE_CHECKING:  # annotations only
    from _plan import Context, Unit


def run_consensus(ctx: Context, unit: Unit, pending: list[Key]) -> None:
    """The consensus of the seeds' label-free partitions (scrcl.clustering.consensus),
    scored: what one partition from a default run's five models would give."""
    import numpy as np

    from scrcl.clustering.consensus import consensus_method_for, consensus_partition
    from scrcl.data.preprocess import as_csr, filter_empty
    from scrcl.pipeline import MIN_CONSENSUS_SEEDS

    truth = None
    for key in pending:
        members = consensus_members(ctx, unit, CONSENSUS_MEMBERS[key.method])
        if len(members) < MIN_CONSENSUS_SEEDS:
            print(f"[consensus] {unit.spec.name} {key.method}: {len(members)} stored "
                  f"partition(s) with labels; needs {MIN_CONSENSUS_SEEDS} or more")
            continue
        if truth is None:
            adata, label_key = _data.read(unit.spec)
            truth = np.asarray(adata.obs[label_key].astype(str))
            if unit.spec.kind == "sc":  # the cells the preparation kept, in its order
                truth = truth[filter_empty(as_csr(adata.X))[0]]
        k = members[0]["n_clusters"]
        start = time.perf_counter()
        partitions = [np.asarray(e["labels"]) for e in members]
        method = CONSENSUS_METHODS[key.method]
        if method == "pipeline":
            method = consensus_method_for(partitions)
        labels = consensus_partition(partitions, k, seed=0, method=method)
        store(ctx, unit, key, {
            "epochs": members[0]["epochs"], "n_clusters": k, "n_cells": int(truth.size),
            **scores_fields(truth, labels), "epoch_used": None, "s_per_epoch": None,
            "wall_s": time.perf_counter() - start, "precision": members[0]["precision"],
            "features": members[0].get("features"),
            "consensus": method,
            "member_seeds": [e["seed"] for e in members],
            "member_ari": [e["ari"] for e in members], "labels": labels.astype(int).tolist()})



def run_selection(ctx: Context, unit: Unit, pending: list[Key]) -> None:
    """Every selection rule of bench/_selection.py applied to one stored run's candidate
    epochs, each choice scored (the truth reads no part of any rule)."""
    import numpy as np

    from _results import unpack_labels

    if out_of_time(ctx, pending):
        return
    member = selection_member(ctx, unit.spec, unit.seed)
    cfg = ctx.config(unit.spec)
    inputs = scrcl_inputs(ctx, unit, cfg)
    sil = {t[0]: t[3] for t in member["trace"]}
    early = early_candidate_rows(member)

    def candidates(rows: list) -> _selection.Candidates:
        return _selection.Candidates(
            epochs=[r[0] for r in rows], partitions=[unpack_labels(r[3]) for r in rows],
            silhouette=[sil.get(r[0]) for r in rows], calinski_harabasz=[r[1] for r in rows],
            davies_bouldin=[r[2] for r in rows], graph=inputs.prepared.cell_adj,
            n_clusters=member["n_clusters"])

    stride = candidates([r for r in member["candidates"] if r not in early])
    every = candidates(sorted(member["candidates"], key=lambda r: r[0])) if early else stride
    if stride.partitions[0].size != inputs.truth.size:
        raise SystemExit(f"{unit.spec.name} seed {unit.seed}: the stored partitions cover "
                         f"{stride.partitions[0].size} cells, the data {inputs.truth.size}")
    scored = {id(found): [scores_fields(inputs.truth, p) for p in found.partitions]
              for found in (stride, every)}
    for key in pending:
        start = time.perf_counter()
        found = every if key.method in _selection.EARLY_METHODS else stride
        scores = scored[id(found)]
        if key.method in (_selection.CEILING, _selection.CEILING_EARLY):
            # the answer key's pick: a ceiling, not a rule
            index = int(np.argmax([s["ari"] for s in scores]))
            labels, fields = found.partitions[index], scores[index]
        else:
            rule = {**_selection.RULES, **_selection.EARLY_RULES}[key.method]
            labels = rule(found)
            same = [i for i, p in enumerate(found.partitions) if np.array_equal(p, labels)]
            index = same[-1] if same else None
            fields = scores[index] if same else scores_fields(inputs.truth, labels)
        store(ctx, unit, key, {
            "epochs": member["epochs"], "n_clusters": member["n_clusters"],
            "n_cells": int(labels.size), **fields,
            "epoch_used": None if index is None else found.epochs[index],
            "s_per_epoch": None, "wall_s": time.perf_counter() - start,
            "precision": member["precision"], "features": member.get("features"),
            "member_ari": member["ari"], "member_epoch": member["epoch_used"]})



def member_losses(member: dict) -> str:
    """How the member's training took the losses: recorded since session 7; before, the
    rule of its commit (compiled from 4 M activation entries and 100 epochs)."""
    if member.get("losses"):
        return member["losses"]
    from scrcl.training.train import use_chunked_loss

    cfg = member["config"]
    if use_chunked_loss(member["n_cells"], cfg["hid_dim"]):
        return "chunked"
    return ("compiled" if member["n_cells"] * cfg["hid_dim"] >= 4_000_000
            and member["epochs"] >= 100 else "eager")



def silhouette_with_early(member: dict, early: list) -> tuple[int, float, float]:
    """The label-free choice among the member's stride candidates (their silhouettes in
    its trace) and the early epochs (``early``: [[epoch, ARI, NMI, silhouette], ...]):
    the best silhouette, ties to the later epoch, as the package's rule. Returns (epoch,
    ARI, NMI) of the choice, the scores read from the member's full trace."""
    sil = {t[0]: t[3] for t in member["trace"] if t[3] is not None}
    sil.update({t[0]: t[3] for t in early if t[3] is not None})
    epoch = max(sil, key=lambda e: (sil[e], e))
    if epoch == member["epoch_used"]:  # the run's own choice: its unrounded scores
        return epoch, member["ari"], member["nmi"]
    at = {t[0]: t for t in member["trace"]}[epoch]
    return epoch, at[1], at[2]



def run_early(ctx: Context, unit: Unit, pending: list[Key]) -> None:
    """Epochs 1-9 of a stored run trained again (the same seed, precision, threads and
    loss kind: the same numbers, checked against the stored trace) and clustered, for
    their silhouettes: what the label-free rule would pick were they candidates."""
    import torch

    from scrcl.training.precision import COMPILE_ENV

    if out_of_time(ctx, pending):
        return
    member = early_member(ctx, unit.spec, unit.seed)
    cfg = ctx.config(unit.spec)
    inputs = scrcl_inputs(ctx, unit, cfg)
    losses = member_losses(member)
    before = os.environ.get(COMPILE_ENV)
    os.environ[COMPILE_ENV] = "yes" if losses == "compiled" else "no"
    threads = torch.get_num_threads()  # the run's own: another count rounds differently
    torch.set_num_threads(int(member.get("threads") or threads))
    start = time.perf_counter()
    trace: dict = {}
    candidates: dict = {}
    try:
        train_protocols(ctx, inputs, cfg.replace(epochs=max(_selection.EARLY_EPOCHS)),
                        unit.seed, ["scrcl"], ["oracle"], trace, candidates=candidates)
    finally:
        torch.set_num_threads(threads)
        if before is None:
            os.environ.pop(COMPILE_ENV, None)
        else:
            os.environ[COMPILE_ENV] = before
    early = [t for t in trace["scrcl"] if t[0] in _selection.EARLY_EPOCHS]
    stored = {t[0]: t[1] for t in member["trace"]}
    diff = max(abs(t[1] - stored[t[0]]) for t in early)
    epoch, ari, nmi = silhouette_with_early(member, early)
    store(ctx, unit, pending[0], {
        "epochs": member["epochs"], "n_clusters": member["n_clusters"],
        "n_cells": member["n_cells"], "acc": None, "nmi": nmi, "ari": ari, "f1": None,
        "epoch_used": epoch, "s_per_epoch": None, "wall_s": time.perf_counter() - start,
        "precision": member["precision"], "features": member.get("features"),
        "losses": losses, "early": early, "max_ari_diff": round(diff, 4),
        # [epoch, Calinski-Harabasz, Davies-Bouldin, packed partition] of epochs 1-9
        "candidates": [r for r in candidates["scrcl"] if r[0] in _selection.EARLY_EPOCHS],
        "reproduced": diff <= 1e-4, "member_ari": member["ari"],
        "member_epoch": member["epoch_used"],
        "trained_with_threads": int(member.get("threads") or threads)})
