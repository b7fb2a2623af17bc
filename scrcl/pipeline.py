"""One scRCL run over several seeds: train, embed, cluster, (optionally) score.

Labels enter in exactly two places, both explicit: the final scoring, and the published
'oracle' protocol, which scores every evaluated epoch and keeps the best one. Under the
default 'final' protocol nothing here reads a label before training and clustering are done.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Literal, Mapping, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .training.checkpoint import CheckpointPlan
from .clustering.consensus import MAX_FRAGMENTS, consensus_method_for, consensus_partition
from .clustering.kmeans import kmeans_cosine
from .config import EMBEDDINGS, ScrclConfig
from .data.preprocess import PreparedData
from .training.distributed import DistContext
from .metrics import evaluate
from .training.minibatch import batch_plan
from .training import memory
from .clustering.selection import candidate_epochs, most_stable_partition, silhouette
from .clustering.stopping import Plateau, StopRule
from .training.precision import resolve_precision
from .training.train import Inputs, resolve_device, train

log = logging.getLogger(__name__)

Protocol = Literal["final", "oracle"]
#: embedding (N, d) tensor, K, seed -> labels (N,)
ClusterFn = Callable[[torch.Tensor, int, int], np.ndarray]
#: labels (N,) -> labels (N,), e.g. spatial refinement
PostprocessFn = Callable[[np.ndarray], np.ndarray]
#: seed, clusterer name, epoch, labels (N,), embedding (N, 2C) -> None
EpochHook = Callable[[int, str, int, np.ndarray, np.ndarray], None]

METRICS = ("acc", "nmi", "ari", "f1")
#: the fewest seeds whose partitions are combined into one (with two, ties decide)
MIN_CONSENSUS_SEEDS = 3
#: how RunResult.consensus is made (saved with the results), by consensus method
CONSENSUS_NOTES = {
    "average": ("average linkage (UPGMA) on the co-association of the seeds' partitions, "
                "cut at K; made from the partitions alone"),
    "kmeans": ("k-means on the cells' co-association profiles (the seeds' partitions split "
               "the cells into too many groups for average linkage); made from the "
               "partitions alone"),
}


@dataclass
class SeedRun:
    seed: int
    labels: np.ndarray  # (N,) predicted clusters
    #: (N, d) the clustering input of the chosen epoch ([e1, e2] 2H wide or [z1, z2] 2C wide)
    #: for the first seed, the one written to obsm['X_scrcl']; None for the others, whose
    #: 2H-wide copies would cost N x 12 kB each with the defaults
    embedding: Optional[np.ndarray]
    epoch_used: int
    wall_s: float
    losses: list[float] = field(default_factory=list)
    scores: Optional[dict[str, float]] = None  # against true labels, when they exist
    train_s: float = 0.0  # optimisation time alone (no clustering or scoring)
    epochs_run: int = 0  # epochs trained in this call (fewer than cfg.epochs after a resume)
    #: where and why training ended (``StopDecision.as_dict``) under the label-free
    #: protocol with ``stop='auto'``; None otherwise (all epochs trained)
    stop: Optional[dict] = None


@dataclass
class RunResult:
    protocol: Protocol
    n_clusters: int
    config: ScrclConfig
    runs: list[SeedRun]
    device: str
    precision: str = "fp32"  # the precision the dense layers ran in (resolved from 'auto')
    #: (N,) one partition from the seeds' partitions (label-free, three or more seeds), else None
    consensus: Optional[np.ndarray] = None
    consensus_scores: Optional[dict[str, float]] = None  # against true labels, when given
    consensus_method: Optional[str] = None  # a key of CONSENSUS_NOTES

    @property
    def seeds(self) -> list[int]:
        return [r.seed for r in self.runs]

    def summary(self) -> dict[str, dict[str, float]]:
        """{'mean': {metric: value}, 'std': {...}} over seeds (population std), or {}."""
        if not self.runs or self.runs[0].scores is None:
            return {}
        table = np.array([[r.scores[m] for m in METRICS] for r in self.runs])
        return {"mean": dict(zip(METRICS, table.mean(0).tolist())),
                "std": dict(zip(METRICS, table.std(0).tolist()))}


def kmeans_clusterer(n_init: int) -> ClusterFn:
    def fn(embedding: torch.Tensor, k: int, seed: int) -> np.ndarray:
        return kmeans_cosine(embedding, k, n_init=n_init, seed=seed).labels
    return fn


#: the clusterings of the embedding that the scripts offer (``--cluster``)
CLUSTERERS = ("kmeans", "gmm", "leiden", "ward")


def clusterer(kind: str, n_init: int) -> Optional[ClusterFn]:
    """The cluster_fn for ``--cluster``: None for cosine k-means with ``n_init`` restarts
    (the pipeline's default, as published), the EEE Gaussian mixture, Leiden on the
    embedding's 15-NN graph with the resolution bisected to give K, or Ward's linkage on the
    embedding's first 50 principal components cut at K (``scrcl.clustering.ward``)."""
    if kind == "kmeans":
        return None
    if kind == "gmm":
        from .clustering.mixture import gmm_eee

        return lambda emb, k, seed: gmm_eee(emb.cpu().numpy(), k, seed=seed)
    if kind == "leiden":
        from .clustering.leiden import leiden_k

        return lambda emb, k, seed: leiden_k(emb.cpu().numpy(), k, seed=seed)
    if kind == "ward":
        from .clustering.ward import ward

        return lambda emb, k, seed: ward(emb, k, seed=seed)
    raise ValueError(f"unknown clustering {kind!r}: choose one of {', '.join(CLUSTERERS)}")


def clustering_input(outputs: dict[str, torch.Tensor], embedding: str = "z") -> torch.Tensor:
    """What is clustered (``ScrclConfig.embedding``): 'z', [z1, z2] (N, 2C), as published;
    'h', [e1, e2] (N, 2H), each view's hidden layer h normalised to unit rows (so that
    both views weigh the same in the cosine k-means)."""
    if embedding == "z":
        return torch.cat([outputs["z1"], outputs["z2"]], dim=1)
    if embedding == "h":  # written in place: one (N, 2H) array, no concatenated copies
        h1, h2 = outputs["h1"], outputs["h2"]
        out = torch.empty(h1.shape[0], h1.shape[1] + h2.shape[1], device=h1.device)
        F.normalize(h1.float(), dim=1, out=out[:, :h1.shape[1]])
        F.normalize(h2.float(), dim=1, out=out[:, h1.shape[1]:])
        return out
    raise ValueError(f"unknown embedding {embedding!r}: choose one of {', '.join(EMBEDDINGS)}")


def run_seeds(data: PreparedData, cfg: ScrclConfig, n_clusters: int, seeds: Sequence[int],
              protocol: Protocol = "final", truth: Optional[np.ndarray] = None,
              device: str = "auto", progress: bool = True,
              cluster_fn: Optional[ClusterFn] = None,
              postprocess: Optional[PostprocessFn] = None,
              oracle_metric: str = "nmi", eval_every: int = 1,
              checkpoint: Optional[CheckpointPlan] = None,
              distributed: Optional[DistContext] = None) -> RunResult:
    """Train one model per seed and cluster its embedding into ``n_clusters`` groups.

    truth: (N,) true labels of the prepared cells, or None. Under 'final' it is used only
    to score the finished clustering, which is chosen without labels (``cfg.select``:
    'silhouette', 'stable' or 'last', see scrcl.clustering.selection); 'oracle' (the
    published protocol) needs it and keeps, per seed, the evaluated epoch with the best
    ``oracle_metric``. A resumed run chooses among the epochs clustered after the resume.
    checkpoint, distributed: passed to ``scrcl.training.train.train``.
    """
    return run_protocols(data, cfg, n_clusters, seeds, (protocol,), truth=truth,
                         device=device, progress=progress, cluster_fn=cluster_fn,
                         postprocess=postprocess, oracle_metric=oracle_metric,
                         eval_every=eval_every, checkpoint=checkpoint,
                         distributed=distributed)[protocol]


def stop_rule(cfg: ScrclConfig) -> Optional[StopRule]:
    """The label-free stopping rule of ``cfg`` (``scrcl.clustering.stopping``), or None:
    ``stop='never'``, or a selection other than 'silhouette' (the rule watches its score)."""
    if cfg.stop != "auto" or cfg.select != "silhouette":
        return None
    return StopRule(patience=cfg.stop_patience)


def early_candidates(cfg: ScrclConfig) -> int:
    """How many first epochs are candidates of the label-free choice: ``select_first`` for
    the silhouette rule (measured for it alone), none for 'stable' and 'last'."""
    return cfg.select_first if cfg.select == "silhouette" else 0


def _host(emb: torch.Tensor) -> np.ndarray:
    """(N, d) float32 numpy copy of an embedding (a view of it on the CPU)."""
    return emb.detach().cpu().numpy()


class _FinalChoice:
    """Label-free choice among the clusterings of the candidate epochs (``cfg.select``).
    ``keep_embedding`` False: the candidates' embeddings are not kept (None is chosen)."""

    def __init__(self, cfg: ScrclConfig, keep_embedding: bool = True) -> None:
        self.keep = keep_embedding
        self.select = cfg.select
        self.wanted = set(candidate_epochs(cfg.epochs, cfg.select_stride,
                                           first=early_candidates(cfg))
                          if cfg.select in ("silhouette", "stable") else [cfg.epochs])
        self.candidates: list[tuple[int, np.ndarray, np.ndarray]] = []
        self.best_sil = -np.inf
        self.last, self.stride = cfg.epochs, max(1, cfg.select_stride)
        rule = stop_rule(cfg)
        self.plateau = None if rule is None else Plateau(rule, cfg.epochs)
        self.stop_now = False  # the stopping rule says: no more epochs

    def wants(self, epoch: int) -> bool:
        return epoch in self.wanted

    def observe(self, epoch: int, labels: np.ndarray, emb: torch.Tensor) -> None:
        """emb: (N, d) on the training device; the silhouette runs there, and only an
        embedding that is kept is copied to the host."""
        if self.select == "silhouette":  # keep only the best so far: memory O(N)
            score = silhouette(emb, labels)
            if score >= self.best_sil:  # ties: the later epoch
                self.best_sil = score
                self.candidates[:] = [(epoch, labels, _host(emb) if self.keep else None)]
            if self.plateau is not None:
                stride = epoch % self.stride == 0 or epoch == self.last
                self.stop_now = self.plateau.update(epoch, score, stride) or self.stop_now
        else:
            self.candidates.append((epoch, labels, _host(emb) if self.keep else None))

    def chosen(self) -> tuple[int, np.ndarray, np.ndarray, Optional[dict]]:
        i = (most_stable_partition([labels for _, labels, _ in self.candidates])
             if self.select == "stable" else len(self.candidates) - 1)
        return (*self.candidates[i], None)


class _OracleChoice:
    """The published protocol: the evaluated epoch with the best score against the truth."""

    def __init__(self, truth: np.ndarray, metric: str, every: int, epochs: int,
                 keep_embedding: bool = True) -> None:
        self.truth, self.metric, self.every, self.epochs = truth, metric, every, epochs
        self.keep = keep_embedding
        self.best: Optional[tuple[int, np.ndarray, np.ndarray, dict]] = None

    def wants(self, epoch: int) -> bool:
        return epoch % self.every == 0 or epoch == self.epochs

    def observe(self, epoch: int, labels: np.ndarray, emb: torch.Tensor) -> None:
        scores = evaluate(self.truth, labels)
        if self.best is None or scores[self.metric] > self.best[3][self.metric]:
            self.best = (epoch, labels, _host(emb) if self.keep else None, scores)

    def chosen(self) -> tuple[int, np.ndarray, np.ndarray, Optional[dict]]:
        return self.best


def run_protocols(data: PreparedData, cfg: ScrclConfig, n_clusters: int,
                  seeds: Sequence[int], protocols: Sequence[Protocol] = ("final",),
                  truth: Optional[np.ndarray] = None, device: str = "auto",
                  progress: bool = True, cluster_fn: Optional[ClusterFn] = None,
                  postprocess: Optional[PostprocessFn] = None, oracle_metric: str = "nmi",
                  eval_every: int = 1, checkpoint: Optional[CheckpointPlan] = None,
                  distributed: Optional[DistContext] = None,
                  clusterers: Optional[Mapping[str, Optional[ClusterFn]]] = None,
                  epoch_hook: Optional[EpochHook] = None,
                  protocols_of: Optional[Mapping[str, Sequence[Protocol]]] = None) -> dict:
    """:func:`run_seeds` for several protocols (and clusterers) from the same training runs.

    An epoch wanted by both protocols is clustered once; the clustering of an epoch does not
    depend on which protocol asked for it (k-means is seeded by ``seed`` alone, and the
    evaluation draws nothing from the model's random stream), so each protocol's result is
    the one a run of that protocol alone gives. Returns {protocol: RunResult}; with
    ``clusterers`` ({name: cluster_fn or None for k-means}, instead of ``cluster_fn``),
    {name: {protocol: RunResult}}, every clusterer applied to the same trained models.
    ``epoch_hook(seed, clusterer name, epoch, labels, embedding)`` sees every clustering
    made (for benchmark traces; it changes nothing). ``protocols_of``: {clusterer name:
    its protocols}, a subset of ``protocols`` (default: all of them) so that a clusterer
    wanted for the label-free protocol alone is not run on every epoch the oracle
    evaluates; its results are those it would have with every protocol.
    """
    if "oracle" in protocols and truth is None:
        raise ValueError("the oracle protocol needs true labels")
    dev = resolve_device(device)
    precision = resolve_precision(cfg.precision, dev)
    plan = batch_plan(data, cfg.batch_size)
    if plan is not None:
        log.info("mini-batches: %d batches of about %d cells a step, %.0f%% of the graph's "
                 "edges inside a batch", plan.n_batches, -(-data.n_cells // plan.n_batches),
                 100 * plan.edges_kept())
    batch_cells = None if plan is None else max(idx.size for idx in plan.batches(1))
    log.info(memory.check(data.n_cells, data.n_genes, cfg.hid_dim, batch_cells, str(dev),
                          embedding_width=2 * cfg.hid_dim if cfg.embedding == "h" else 0))
    inputs = Inputs.from_prepared(data, dev, dense=True if plan is not None else None,
                                  precision=precision)
    out_dim = cfg.out_dim or n_clusters
    named = dict(clusterers) if clusterers is not None else {"": cluster_fn}
    fns = {m: fn or kmeans_clusterer(cfg.kmeans_n_init) for m, fn in named.items()}
    finish = postprocess or (lambda labels: labels)
    own = protocols_of or {}
    wanted = {m: [p for p in protocols if p in own.get(m, protocols)] for m in fns}
    runs: dict[tuple[str, str], list[SeedRun]] = {(m, p): [] for m in fns for p in wanted[m]}
    walls: list[float] = []
    for i_seed, seed in enumerate(seeds):
        start = time.perf_counter()
        keep = i_seed == 0  # only the first seed's embedding is kept (SeedRun.embedding)
        choices = {(m, p): (_OracleChoice(truth, oracle_metric, eval_every, cfg.epochs, keep)
                            if p == "oracle" else _FinalChoice(cfg, keep)) for m, p in runs}
        # training stops early only when every choice made from it is label-free and its
        # stopping rule says so; the oracle keeps the published epochs
        can_stop = all(isinstance(c, _FinalChoice) and c.plateau is not None
                       for c in choices.values())

        def on_epoch(epoch: int, outputs: dict[str, torch.Tensor]) -> bool:
            emb_t = None
            for m, fn in fns.items():
                wanting = [c for (cm, _), c in choices.items() if cm == m and c.wants(epoch)]
                if not wanting:
                    continue
                if emb_t is None:
                    emb_t = clustering_input(outputs, cfg.embedding).float()
                labels = finish(fn(emb_t, n_clusters, seed))
                for choice in wanting:
                    choice.observe(epoch, labels, emb_t)
                if epoch_hook is not None:
                    epoch_hook(seed, m, epoch, labels, _host(emb_t))
            return can_stop and all(c.stop_now for c in choices.values())

        every = (eval_every if any("oracle" in w for w in wanted.values())
                 else cfg.select_stride)
        trained = train(inputs, cfg, out_dim, seed, on_epoch=on_epoch, eval_every=every,
                        eval_first=early_candidates(cfg),
                        progress=progress, desc=f"seed {seed} ({i_seed + 1}/{len(seeds)})",
                        checkpoint=checkpoint, distributed=distributed, batches=plan)
        wall = time.perf_counter() - start
        walls.append(wall)
        last_epoch = trained.start_epoch + len(trained.epoch_s)
        for (m, p), choice in choices.items():
            epoch, labels, emb, scores = choice.chosen()
            if scores is None and truth is not None:
                scores = evaluate(truth, labels)
            stop = (choice.plateau.finish(last_epoch).as_dict()
                    if isinstance(choice, _FinalChoice) and choice.plateau is not None else None)
            run = SeedRun(seed, labels, emb, epoch, wall, trained.losses, scores,
                          train_s=float(sum(trained.epoch_s)), epochs_run=len(trained.epoch_s),
                          stop=stop)
            runs[m, p].append(run)
            log.info("seed %d [%s%s]: %s (%.1f s)", seed, f"{m} " if m else "", p,
                     _format_scores(run.scores), wall)
            if stop is not None and m == next(iter(fns)):
                log.info("seed %d: %s", seed, choice.plateau.decision.describe())
        left = len(seeds) - i_seed - 1
        if left:
            log.info("%d seed%s left, about %.0f s at %.0f s a seed", left,
                     "s" if left > 1 else "", left * float(np.mean(walls)),
                     float(np.mean(walls)))
    results = {}
    for (m, p), r in runs.items():
        results[m, p] = RunResult(p, n_clusters, cfg, r, str(dev), precision)
        add_consensus(results[m, p], truth)
    if clusterers is None:
        return {p: results["", p] for p in protocols}
    return {m: {p: results[m, p] for p in wanted[m]} for m in fns}


def add_consensus(result: RunResult, truth: Optional[np.ndarray] = None) -> None:
    """Set ``result.consensus`` (and its scores against ``truth``) for the label-free
    protocol with MIN_CONSENSUS_SEEDS or more seeds: one partition made from the seeds'
    partitions alone (scrcl.clustering.consensus: average linkage; k-means on the
    co-association profiles for large data whose seeds disagree on many cells; none when
    even that does not fit). The oracle's partitions were chosen with the labels: no
    consensus is made of them."""
    if result.protocol != "final" or len(result.runs) < MIN_CONSENSUS_SEEDS:
        return
    partitions = [r.labels for r in result.runs]
    result.consensus_method = consensus_method_for(partitions)
    if result.consensus_method is None:
        log.info("the seeds' partitions split the cells into too many groups for a "
                 "consensus in memory: obs['scrcl'] keeps the first seed's clusters")
        return
    if result.consensus_method != "average":
        log.info("the seeds' partitions split the cells into more than %d groups: their "
                 "consensus is made by k-means on the co-association profiles", MAX_FRAGMENTS)
    result.consensus = consensus_partition(partitions, result.n_clusters,
                                           method=result.consensus_method)
    if truth is not None:
        result.consensus_scores = evaluate(truth, result.consensus)
    log.info("consensus of %d seeds [%s]: %s", len(result.runs), result.protocol,
             _format_scores(result.consensus_scores))


def _format_scores(scores: Optional[dict[str, float]]) -> str:
    if scores is None:
        return "no labels, not scored"
    return " ".join(f"{m.upper()}={scores[m]:.4f}" for m in METRICS)
