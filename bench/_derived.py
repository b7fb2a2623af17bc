"""Entries made exactly from stored runs without training: the label-free entry with the
early candidates, and the estimated-K entry where the estimate is the true K."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import _selection
from _results import Key, input_hash, read_entry
from _suites import AUTOK, RESULTS_VERSION
from _plan import hash_inputs
from _entries import scores_fields, store, RUN_FIELDS
from _training import estimated_k, scrcl_inputs
from _studies import member_losses

if TYPE_CHECKING:  # annotations only
    from _plan import Context, Unit


#: rounded silhouettes (4 digits) closer than this cannot be ordered as the run would
SILHOUETTE_TIE = 1.5e-4



def early_rows(ctx: Context, key: Key, member: dict,
               first: int) -> Optional[tuple[list, list, Optional[str]]]:
    """The [epoch, ARI, NMI, silhouette] and [epoch, CH, DB, packed partition] rows of
    epochs 1..``first`` of the member's run, and the hash of the early entry they come
    from (None: the member's own, which it keeps since session 7); None if neither has
    them (or the early entry did not reproduce the run)."""
    wanted = set(range(1, first + 1))

    def complete(trace: list, candidates: list) -> Optional[tuple[list, list]]:
        t = [r for r in trace if r[0] in wanted and r[3] is not None]
        c = [r for r in candidates if r[0] in wanted]
        return (t, c) if {r[0] for r in t} == wanted == {r[0] for r in c} else None

    own = complete(member["trace"] or [], member.get("candidates") or [])
    if own:
        return (*own, None)
    early = read_entry(Key("early", key.dataset, "scrcl", "final", key.seed,
                           key.variant).path(ctx.args.results))
    if (early is None or early.get("max_ari_diff") != 0 or early.get("results_version")
            != RESULTS_VERSION or early["inputs"].get("member") != member["input_hash"]):
        return None  # none, or not this run's, or its ARI not identical to the trace's
    found = complete(early["early"], early["candidates"])
    return (*found, early["input_hash"]) if found else None



def silhouette_pick(member: dict, early: list) -> Optional[int]:
    """The epoch the silhouette rule picks among the member's own pick (the best of the
    stride's candidates) and the early epochs, ties to the later epoch as the package's
    rule; None where the two best rounded silhouettes are too close to order."""
    sil = {t[0]: t[3] for t in member["trace"] if t[3] is not None}
    ranked = sorted([(t[3], t[0]) for t in early] + [(sil[member["epoch_used"]],
                                                      member["epoch_used"])], reverse=True)
    return ranked[0][1] if ranked[0][0] - ranked[1][0] > SILHOUETTE_TIE else None



def derive_final(ctx: Context, unit: Unit, key: Key) -> bool:
    """Store the label-free entry ``key``, whose candidates include epochs
    1..``select_first``, without training, where it can be made exactly: from the stored
    entry of the same run with the stride's candidates alone (same seed and settings,
    ``select_first`` 0) and the silhouettes and partitions of its early epochs (its own,
    or the early suite's, which trained them again and reproduced them). The silhouette
    rule is the best of the two picks; the run's timings and memory are the member's
    (it clustered every epoch for its oracle, so they cover the early epochs), and the
    entry says where it came from (``derived``). Returns False, storing nothing, where
    that cannot be done (then the unit trains)."""
    import numpy as np

    from _results import unpack_labels
    from scrcl.clustering.selection import candidate_epochs

    cfg = ctx.config(unit.spec)
    if (key.method != "scrcl" or key.protocol != "final" or cfg.select != "silhouette"
            or not 0 < cfg.select_first <= max(_selection.EARLY_EPOCHS)):
        return False
    member = read_entry(key.path(ctx.args.results))
    if (member is None or member.get("epoch_used") is None or member["input_hash"]
            != input_hash(hash_inputs(ctx, unit, key, cfg.replace(select_first=0)))
            or not any(t[0] == member["epoch_used"] and t[3] is not None
                       for t in member.get("trace") or [])):  # stored before traces
        return False
    rows = early_rows(ctx, key, member, cfg.select_first)
    epoch = silhouette_pick(member, rows[0]) if rows else None
    if epoch is None:
        return False
    early_t, early_c, early_hash = rows
    inputs = scrcl_inputs(ctx, unit, cfg)
    labels = (np.asarray(member["labels"]) if epoch == member["epoch_used"]
              else unpack_labels({r[0]: r[3] for r in early_c}[epoch]))
    if labels.size != inputs.truth.size:
        raise SystemExit(f"{unit.spec.name} seed {unit.seed}: the stored partitions cover "
                         f"{labels.size} cells, the data {inputs.truth.size}")
    by_epoch = {r[0]: r for r in member["trace"]}
    by_epoch.update({r[0]: r for r in early_t})
    candidates = {r[0]: r for r in member.get("candidates") or []}
    candidates.update({r[0]: r for r in early_c})
    if not set(candidate_epochs(cfg.epochs, cfg.select_stride)) <= set(candidates):
        candidates = {}  # a run stored before candidates were kept: none, as it had
    meta = {"suite", "dataset", "method", "variant", "protocol", "seed", "results_version",
            "input_hash", "inputs", "git", "finished", "command", *RUN_FIELDS}
    fields = {f: v for f, v in member.items() if f not in meta}
    fields.update(scores_fields(inputs.truth, labels), epoch_used=epoch,
                  labels=labels.astype(int).tolist(), config=cfg.to_dict(),
                  trace=[by_epoch[e] for e in sorted(by_epoch)],
                  candidates=[candidates[e] for e in sorted(candidates)] or None,
                  losses=member.get("losses") or member_losses(member),
                  derived={"from": member["input_hash"], "early": early_hash,
                           "from_epoch_used": member["epoch_used"],
                           "from_ari": member["ari"], "run_git": member.get("git"),
                           "run_finished": member.get("finished"),
                           "run_command": member.get("command")})
    store(ctx, unit, key, fields, ran=member)
    return True



def derive_autok(ctx: Context, unit: Unit, key: Key) -> bool:
    """Store the estimated-K entry ``key`` without training where its run is one already
    stored: where the output width is K (scRNA-seq) and the estimate equals the number of
    true classes, the estimated-K run trains with the same K, seed and settings and clusters
    with the same k-means as the stored true-K label-free run, so its partition is that
    run's (same seed, same labels: tested). The entry keeps the estimate's fields and says
    where it came from (``derived``). Returns False, storing nothing, where that does not
    hold (then the unit trains)."""
    cfg = ctx.config(unit.spec)
    if key.method != AUTOK or key.protocol != "final" or cfg.out_dim:
        return False
    twin = Key(key.suite, key.dataset, "scrcl", "final", key.seed, key.variant)
    member = read_entry(twin.path(ctx.args.results))
    if member is None or member.get("input_hash") != input_hash(
            hash_inputs(ctx, unit, twin)):
        return False
    inputs = scrcl_inputs(ctx, unit, cfg)
    est = estimated_k(ctx, unit.spec, inputs, cfg)
    if est.k != inputs.n_clusters:
        return False
    meta = {"suite", "dataset", "method", "variant", "protocol", "seed", "results_version",
            "input_hash", "inputs", "git", "finished", "command", "derived", *RUN_FIELDS}
    fields = {f: v for f, v in member.items() if f not in meta}
    fields.update(n_clusters=est.k, estimated_k=est.k, true_k=inputs.n_clusters,
                  k_stability=est.stability,
                  derived={"from": member["input_hash"], "why": "estimated K = true K",
                           "from_derived": member.get("derived"),
                           "run_git": member.get("git"),
                           "run_finished": member.get("finished"),
                           "run_command": member.get("command")})
    store(ctx, unit, key, fields, ran=member)
    return True
