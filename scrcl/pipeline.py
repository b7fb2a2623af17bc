"""One scRCL run over several seeds: train, embed, cluster, (optionally) score.

Labels enter in exactly two places, both explicit: the final scoring, and the published
'oracle' protocol, which scores every evaluated epoch and keeps the best one. Under the
default 'final' protocol nothing here reads a label before training and clustering are done.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Literal, Optional, Sequence

import numpy as np
import torch

from .checkpoint import CheckpointPlan
from .clustering.kmeans import kmeans_cosine
from .config import ScrclConfig
from .data.preprocess import PreparedData
from .distributed import DistContext
from .metrics import evaluate
from .clustering.selection import candidate_epochs, most_stable_partition, silhouette
from .train import Inputs, embed, resolve_device, train

log = logging.getLogger(__name__)

Protocol = Literal["final", "oracle"]
#: embedding (N, d) tensor, K, seed -> labels (N,)
ClusterFn = Callable[[torch.Tensor, int, int], np.ndarray]
#: labels (N,) -> labels (N,), e.g. spatial refinement
PostprocessFn = Callable[[np.ndarray], np.ndarray]

METRICS = ("acc", "nmi", "ari", "f1")


@dataclass
class SeedRun:
    seed: int
    labels: np.ndarray  # (N,) predicted clusters
    embedding: np.ndarray  # (N, 2C) the clustering input [z1, z2]
    epoch_used: int
    wall_s: float
    losses: list[float] = field(default_factory=list)
    scores: Optional[dict[str, float]] = None  # against true labels, when they exist


@dataclass
class RunResult:
    protocol: Protocol
    n_clusters: int
    config: ScrclConfig
    runs: list[SeedRun]
    device: str

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


def clustering_input(outputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """[z1, z2] (N, 2C): what is clustered."""
    return torch.cat([outputs["z1"], outputs["z2"]], dim=1)


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
    'silhouette', 'stable' or 'last', see scrcl.selection); 'oracle' (the published
    protocol) needs it and keeps, per seed, the evaluated epoch with the best
    ``oracle_metric``. A resumed run chooses among the epochs clustered after the resume.
    checkpoint, distributed: passed to ``scrcl.train.train``.
    """
    if protocol == "oracle" and truth is None:
        raise ValueError("the oracle protocol needs true labels")
    dev = resolve_device(device)
    inputs = Inputs.from_prepared(data, dev)
    out_dim = cfg.out_dim or n_clusters
    cluster_fn = cluster_fn or kmeans_clusterer(cfg.kmeans_n_init)
    finish = postprocess or (lambda labels: labels)
    runs = []
    for seed in seeds:
        start = time.perf_counter()
        best: dict = {}

        def oracle(epoch: int, outputs: dict[str, torch.Tensor]) -> None:
            emb = clustering_input(outputs)
            labels = finish(cluster_fn(emb, n_clusters, seed))
            scores = evaluate(truth, labels)
            if not best or scores[oracle_metric] > best["scores"][oracle_metric]:
                best.update(epoch=epoch, labels=labels, scores=scores,
                            embedding=emb.cpu().numpy())

        candidates: list[tuple[int, np.ndarray, np.ndarray]] = []
        wanted = set(candidate_epochs(cfg.epochs, cfg.select_stride)
                     if cfg.select in ("silhouette", "stable") else [cfg.epochs])
        best_sil = [-np.inf]

        def collect(epoch: int, outputs: dict[str, torch.Tensor]) -> None:
            if epoch not in wanted:
                return
            # label-free: cluster now, choose after training
            emb_t = clustering_input(outputs)
            labels = finish(cluster_fn(emb_t, n_clusters, seed))
            emb = emb_t.cpu().numpy()
            if cfg.select == "silhouette":  # keep only the best so far: memory O(N)
                score = silhouette(emb, labels)
                if score >= best_sil[0]:  # ties: the later epoch
                    best_sil[0] = score
                    candidates[:] = [(epoch, labels, emb)]
            else:
                candidates.append((epoch, labels, emb))

        trained = train(inputs, cfg, out_dim, seed,
                        on_epoch=oracle if protocol == "oracle" else collect,
                        eval_every=eval_every if protocol == "oracle" else cfg.select_stride,
                        progress=progress, desc=f"seed {seed}",
                        checkpoint=checkpoint, distributed=distributed)
        if protocol == "oracle":
            run = SeedRun(seed, best["labels"], best["embedding"], best["epoch"], 0.0,
                          trained.losses, best["scores"])
        else:
            chosen = (most_stable_partition([labels for _, labels, _ in candidates])
                      if cfg.select == "stable" else len(candidates) - 1)
            epoch, labels, emb = candidates[chosen]
            run = SeedRun(seed, labels, emb, epoch, 0.0, trained.losses)
            if truth is not None:
                run.scores = evaluate(truth, labels)
        run.wall_s = time.perf_counter() - start
        runs.append(run)
        log.info("seed %d: %s (%.1f s)", seed, _format_scores(run.scores), run.wall_s)
    return RunResult(protocol, n_clusters, cfg, runs, str(dev))


def _format_scores(scores: Optional[dict[str, float]]) -> str:
    if scores is None:
        return "no labels, not scored"
    return " ".join(f"{m.upper()}={scores[m]:.4f}" for m in METRICS)
