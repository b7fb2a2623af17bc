"""scanpy-style entry point: AnnData in, clusters and embedding written into it."""
from __future__ import annotations

import logging
from typing import Optional, Sequence, Union

import anndata as ad
import numpy as np
import pandas as pd

from . import __version__
from ._constants import DEFAULT_SEEDS, EMBEDDING_KEY, KEY_ADDED, SEED_KEY, SPATIAL_KEY
from .training.checkpoint import CheckpointPlan
from .config import DEFAULT_SCHEDULE, ScrclConfig, default_config, with_schedule
from .data.adapt import adapt_config, measure
from .data.checks import check_anndata, true_labels
from .data.preprocess import PreparedData, prepare_sc_with
from .data.source import choose_matrix
from .training.distributed import DistContext
from .errors import ScrclInputError
from .pipeline import ClusterFn, PostprocessFn, Protocol, RunResult, clusterer, run_seeds

log = logging.getLogger(__name__)


def choose_n_clusters(n_clusters: Union[int, str, None], truth: Optional[np.ndarray],
                      n_cells: int, cell_adj=None) -> tuple[int, str]:
    """K and where it came from: 'given', 'estimated' (``n_clusters='auto'``: Leiden on
    ``cell_adj``, the 15-NN graph of 50 PCs of the expression from ``expression_graph``; no
    label read) or 'number of true classes' (benchmark setting; without labels, give
    ``n_clusters`` as an integer or 'auto')."""
    if n_clusters == "auto":
        from .clustering.estimate_k import estimate_n_clusters

        est = estimate_n_clusters(cell_adj)
        k, source = est.k, (f"estimated without labels: Leiden resolution {est.resolution:g} "
                            f"on the 15-NN graph of 50 principal components, stability "
                            f"{est.stability:.2f}")
    elif n_clusters is not None:
        k, source = int(n_clusters), "given"
    elif truth is not None:
        k, source = int(np.unique(truth).size), "number of true classes"
    else:
        raise ScrclInputError("the data has no labels, so the number of clusters is unknown; "
                              "give it (--n-clusters K or auto; n_clusters= in Python)")
    if k < 2:
        raise ScrclInputError(f"the number of clusters must be at least 2, got {k}")
    if k > n_cells:
        raise ScrclInputError(f"{k} clusters asked for but the data has only {n_cells} cells; "
                              f"give a smaller --n-clusters")
    return k, source


#: the graph K is estimated on (``--n-clusters auto``): scanpy's defaults
K_GRAPH = {"n_pcs": 50, "n_neighbors": 15}


def expression_graph(prepared: PreparedData, n_neighbors: int = K_GRAPH["n_neighbors"],
                     n_pcs: int = K_GRAPH["n_pcs"]):
    """The graph ``--n-clusters auto`` runs Leiden on: the binary symmetric Euclidean kNN
    graph (15 other cells) of 50 principal components of the expression, close to the one
    scanpy's defaults build (``pp.pca``, ``pp.neighbors``, which count the cell itself and
    weight the edges), whatever the model's own cell graph
    (whose k is a preset hyper-parameter, 3 to 15, and which joins neighbouring spots on
    spatial data). The expression: the log-normalised selected genes of scRNA-seq (already
    50 PCs above 10,000 cells), the processed features of spatial data. (N, N) sparse."""
    from . import graphs
    from .data.preprocess import pca

    graph_in = prepared.graph_features
    if graph_in is None or graph_in.shape[1] <= 3:  # spatial: the graph came from coordinates
        graph_in = prepared.features
    if graph_in.shape[1] > n_pcs:
        x = pca(graph_in, n_pcs)
    else:
        x = graph_in.toarray() if hasattr(graph_in, "toarray") else graph_in
    k = min(n_neighbors, x.shape[0] - 1)
    return graphs.adjacency_from_knn(graphs.knn_indices(np.asarray(x), k, metric="euclidean"))


def fit(adata: ad.AnnData, prepared: PreparedData, *,
        n_clusters: Union[int, str, None] = None,
        label_key: Optional[str] = None, config: Optional[ScrclConfig] = None,
        seeds: Sequence[int] = DEFAULT_SEEDS, protocol: Protocol = "final",
        device: str = "auto", progress: bool = True, cluster_fn: Optional[ClusterFn] = None,
        postprocess: Optional[PostprocessFn] = None, oracle_metric: str = "nmi",
        key_added: str = KEY_ADDED, checkpoint: Optional[CheckpointPlan] = None,
        distributed: Optional[DistContext] = None) -> RunResult:
    """Train and cluster prepared data, then write the results into ``adata``.

    Writes ``obs[key_added]`` (the consensus of the seeds' partitions, categorical, made
    with three or more seeds under the label-free protocol; else the first seed's clusters), ``obs['<key>_seed<S>']`` for every seed,
    ``obsm['X_<key>']`` (first seed's clustering embedding) and
    ``uns[key_added]`` (config, protocol, K and its source, scores). Cells dropped during
    preparation (no expressed gene) get missing values. ``checkpoint`` and ``distributed``
    are passed to ``scrcl.training.train.train`` (``scrcl.training.checkpoint``,
    ``scrcl.training.distributed``).
    """
    cfg = config or default_config("SC")
    truth = None
    if label_key is not None:
        truth = np.asarray(true_labels(adata, label_key).astype(str))[prepared.cells]
    k, k_source = choose_n_clusters(n_clusters, truth, prepared.n_cells,
                                    expression_graph(prepared) if n_clusters == "auto" else None)
    if protocol == "oracle" and truth is None:
        raise ScrclInputError("--protocol oracle scores every epoch against true labels, and "
                              "the data has none; use --protocol final or give --label-key")
    if k_source == "number of true classes":
        log.info("K = %d = the number of true classes (standard benchmark setting)", k)
    result = run_seeds(prepared, cfg, k, seeds, protocol=protocol, truth=truth, device=device,
                       progress=progress, cluster_fn=cluster_fn, postprocess=postprocess,
                       oracle_metric=oracle_metric, checkpoint=checkpoint,
                       distributed=distributed)
    result.k_source = k_source  # type: ignore[attr-defined]
    write_into(adata, prepared.cells, result, key_added, label_key)
    return result


def scheduled(base: ScrclConfig, protocol: Protocol,
              schedule: Optional[str] = None) -> ScrclConfig:
    """``base`` on ``schedule`` (None: ``scrcl.config.DEFAULT_SCHEDULE``), as the command
    line does: 'oracle', the published protocol, trains the published schedule only."""
    if protocol == "oracle" and schedule == "fast":
        raise ScrclInputError("protocol='oracle' is the published protocol and trains the "
                              "published schedule: leave schedule out")
    try:
        return with_schedule(base, "published" if protocol == "oracle"
                             else schedule or DEFAULT_SCHEDULE)
    except ValueError as err:
        raise ScrclInputError(str(err)) from None


def given_once(config: Optional[ScrclConfig], schedule: Optional[str]) -> None:
    """A schedule applies to the defaults or a preset, not to a given configuration."""
    if config is not None and schedule is not None:
        raise ScrclInputError("schedule applies to the defaults or a preset; a given config "
                              "is used as it is: pass one or the other (for a config on the "
                              "fast schedule: scrcl.config.with_schedule)")


def cluster_cells(adata: ad.AnnData, *, n_clusters: Union[int, str, None] = None,
                  label_key: Optional[str] = None, config: Optional[ScrclConfig] = None,
                  seeds: Sequence[int] = DEFAULT_SEEDS, protocol: Protocol = "final",
                  device: str = "auto", progress: bool = True,
                  key_added: str = KEY_ADDED, cluster: str = "kmeans",
                  layer: Optional[str] = None, schedule: Optional[str] = None) -> RunResult:
    """Cell types of scRNA-seq data by scRCL (prepare, train, cluster).

    The counts are read where they are: ``adata.X`` when it holds counts, else
    ``layers['counts']`` (or a similar name) or ``adata.raw``, as a scanpy, CELLxGENE or
    Seurat-converted file keeps them; ``layer`` names the matrix ('X', 'raw' or a layer).
    Without counts, log-normalised X is the log-normalised input (``scrcl.data.source``).

    label_key: obs column of true labels, used only to score (and, when ``n_clusters`` is
    None, for K = number of classes, the benchmark setting). ``n_clusters='auto'``
    estimates K without labels. Without ``config``, the defaults that depend on the data's
    size are fitted to it (``scrcl.data.adapt``); a given ``config`` is used as it is.
    ``cluster``: 'kmeans' (cosine, as published), 'gmm', 'leiden' (resolution searched
    to give K) or 'ward' (Ward's linkage on 50 principal components), as
    ``runSC.py --cluster``. Without ``config``, ``protocol='oracle'`` (the
    published protocol) clusters [z1, z2], as published, and 'final' the default [e1, e2].
    ``schedule``: 'published' (default: 500 epochs) or 'fast' (100 epochs at 5x the
    learning rate, for a first look; not with 'oracle'), as ``runSC.py --schedule``; for
    the defaults only (a given ``config`` is used as it is). See :func:`fit` for the fields
    written into ``adata``.
    """
    matrix = choose_matrix(adata, layer, None if config is None else config.features)
    log.info("%s", matrix.message())
    data = matrix.adata
    check_anndata(data, label_key)
    given_once(config, schedule)
    cfg = config
    if cfg is None:
        cfg, notes = adapt_config(scheduled(default_config("SC"), protocol, schedule), (),
                                  measure(data))
        for note in notes:
            log.info("adapted to the data: %s", note)
        if protocol == "oracle":  # the published protocol clusters the published [z1, z2]
            cfg = cfg.replace(embedding="z")
    prepared = prepare_sc_with(data, cfg, matrix.kind)
    return fit(adata, prepared, n_clusters=n_clusters, label_key=label_key, config=cfg,
               seeds=seeds, protocol=protocol, device=device, progress=progress,
               key_added=key_added, cluster_fn=clusterer(cluster, cfg.kmeans_n_init))


def spatial_domains(adata: ad.AnnData, *, n_clusters: Union[int, str, None] = None,
                    label_key: Optional[str] = None, config: Optional[ScrclConfig] = None,
                    preset: Optional[str] = None, seeds: Sequence[int] = DEFAULT_SEEDS,
                    protocol: Protocol = "final", device: str = "auto", progress: bool = True,
                    key_added: str = KEY_ADDED, cluster: str = "kmeans",
                    radius: Optional[int] = None, preprocessed: str = "auto",
                    layer: Optional[str] = None, schedule: Optional[str] = None) -> RunResult:
    """Spatial domains of spots by scRCL, as ``runST.py``: counts or processed features
    (e.g. PCA scores) in ``adata.X``, coordinates in ``obsm['spatial']``.

    ``config`` is used as it is; without it, the published ``preset`` of a data set (e.g.
    '151507'), else the documented spatial defaults fitted to the data's size, on
    ``schedule`` (as :func:`cluster_cells`). ``radius``:
    each spot takes the majority domain of its ``radius`` nearest spots (None: the
    configuration's, 50 in the presets; 0: off). ``preprocessed``: 'auto' (the counts in X,
    ``layers['counts']`` or ``adata.raw``; without counts, X as processed features), 'yes'
    (X as processed features) or 'no' (X as counts). ``layer``: the matrix to read, as
    ``runST.py --layer``. label_key, n_clusters, cluster and
    what is written into ``adata`` as in :func:`cluster_cells` / :func:`fit`.
    """
    from .clustering.spatial_smoothing import refiner
    from .config import get_preset, preset_names
    from .data.source import spatial_input
    from .data.spatial import check_coordinates, prepare_st

    if SPATIAL_KEY not in adata.obsm:
        raise ScrclInputError(f"no spot coordinates: put them in adata.obsm['{SPATIAL_KEY}'] "
                              f"as an (N, 2) array")
    check_coordinates(adata)
    data, preprocessed, matrix = spatial_input(adata, layer, preprocessed)
    if matrix is not None:
        log.info("%s", matrix.message())
    counts = preprocessed == "no"
    check_anndata(data, label_key, counts=counts)
    given_once(config, schedule)
    cfg = config
    if cfg is None:
        if preset is not None and preset not in preset_names("ST"):
            raise ScrclInputError(f"unknown preset '{preset}': choose one of "
                                  f"{', '.join(preset_names('ST'))}")
        base = get_preset(preset) if preset is not None else default_config("ST")
        cfg, notes = adapt_config(scheduled(base, protocol, schedule), (),
                                  measure(data, counts))
        for note in notes:
            log.info("adapted to the data: %s", note)
    prepared = prepare_st(data, cfg.hvg, cfg.k, cfg.tms, cfg.gene_k, preprocessed)
    refine = (cfg.radius or 0) if radius is None else radius
    if refine < 0:
        raise ScrclInputError(f"radius must be 0 (off) or positive, got {refine}")
    coords = np.asarray(adata.obsm[SPATIAL_KEY])[prepared.cells]
    return fit(adata, prepared, n_clusters=n_clusters, label_key=label_key, config=cfg,
               seeds=seeds, protocol=protocol, device=device, progress=progress,
               key_added=key_added, cluster_fn=clusterer(cluster, cfg.kmeans_n_init),
               postprocess=refiner(coords, refine) if refine else None, oracle_metric="ari")


def _h5ad_safe(value):
    """Drop None (h5ad cannot store it) from nested dicts."""
    if isinstance(value, dict):
        return {k: _h5ad_safe(v) for k, v in value.items() if v is not None}
    return value


def write_into(adata: ad.AnnData, cells: np.ndarray, result: RunResult, key: str,
               label_key: Optional[str]) -> None:
    n = adata.n_obs
    for i, run in enumerate(result.runs):
        full = np.full(n, -1, dtype=np.int64)
        full[cells] = run.labels
        col = pd.Categorical(np.where(full >= 0, full.astype(str), None),
                             categories=[str(c) for c in range(result.n_clusters)
                                         if c in set(run.labels.tolist())])
        if i == 0:
            adata.obs[key] = col
            emb = np.full((n, run.embedding.shape[1]), np.nan, dtype=np.float32)
            emb[cells] = run.embedding
            adata.obsm[EMBEDDING_KEY if key == KEY_ADDED else f"X_{key}"] = emb
        adata.obs[SEED_KEY.format(seed=run.seed) if key == KEY_ADDED
                  else f"{key}_seed{run.seed}"] = col
    if result.consensus is not None:
        full = np.full(n, -1, dtype=np.int64)
        full[cells] = result.consensus
        adata.obs[key] = pd.Categorical(
            np.where(full >= 0, full.astype(str), None),
            categories=[str(c) for c in range(result.n_clusters)
                        if c in set(result.consensus.tolist())])
    summary = result.summary()
    adata.uns[key] = _h5ad_safe({
        "params": result.config.to_dict(),
        "protocol": result.protocol,
        "seeds": np.array(result.seeds),
        "n_clusters": result.n_clusters,
        "n_clusters_source": getattr(result, "k_source", "given"),
        "label_key": label_key,
        "epoch_used": np.array([r.epoch_used for r in result.runs]),
        "scores": ({m: np.array([r.scores[m] for r in result.runs]) for m in summary["mean"]}
                   if summary else None),
        "mean": summary.get("mean"),
        "std": summary.get("std"),
        "consensus_method": result.consensus_method,
        "consensus_scores": result.consensus_scores,
        "version": __version__,
    })
