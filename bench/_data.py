"""The benchmark's data sets: names, files, content hashes, and scrcl's inputs built from them
the way runSC.py / runST.py build them.

Heavy modules (numpy, anndata, torch, scrcl) are imported inside the functions, so that the
runner can set its thread count before anything loads them.
"""
from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA_ENV = "SCRCL_SHARED_DATA"

SC_DATASETS = ("Baron_mouse1", "Baron_mouse2", "MCA_mouse_bladder_select2100",
               "CITE_CBMC_top2000", "Darmanis_brain")
DLPFC_SLICES = ("151507", "151508", "151509", "151510", "151669", "151670", "151671",
                "151672", "151674", "151675", "151676")
ST_DATASETS = DLPFC_SLICES + ("Human_Breast_Cancer", "Mouse_Brain_Anterior")
DEMO = "demo"  # synthetic counts (scrcl.data.synthetic), for the runner's own test
SC_LABEL_KEY = "cell_type1"


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    kind: str  # 'sc' (counts) or 'st' (spatial, processed features)
    path: Optional[Path]  # None for the synthetic demo


def shared_data_dir() -> Path:
    """``$SCRCL_SHARED_DATA``, else ``<repo>/../shared/data``."""
    return Path(os.environ.get(SHARED_DATA_ENV) or REPO.parent / "shared" / "data")


def dataset_spec(name: str) -> DatasetSpec:
    """Where a benchmark data set lives and what kind it is."""
    root = shared_data_dir()
    if name == DEMO:
        return DatasetSpec(name, "sc", None)
    if name in SC_DATASETS:
        return DatasetSpec(name, "sc", root / "substitutes" / "scdata" / f"{name}.h5ad")
    if name in ST_DATASETS:
        return DatasetSpec(name, "st", root / "stdata_pca" / f"{name}.h5ad")
    raise SystemExit(f"unknown data set {name!r}: choose {DEMO}, "
                     f"{', '.join(SC_DATASETS)} or {', '.join(ST_DATASETS)}")


@functools.lru_cache(maxsize=None)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def data_sha256(spec: DatasetSpec) -> str:
    """sha256 of the data file's bytes (cached per file, size and mtime), or of the demo's
    generated counts and labels."""
    if spec.path is None:
        adata = _demo()
        digest = hashlib.sha256()
        for part in (adata.X.data, adata.X.indices, adata.X.indptr):
            digest.update(part.tobytes())
        digest.update("\n".join(adata.obs[SC_LABEL_KEY].astype(str)).encode())
        return digest.hexdigest()
    if not spec.path.is_file():
        raise SystemExit(f"data file not found: {spec.path} (set ${SHARED_DATA_ENV})")
    stat = spec.path.stat()
    return _file_sha256(str(spec.path), stat.st_size, stat.st_mtime_ns)


def _demo():
    from scrcl.data.synthetic import synthetic_counts

    return synthetic_counts()


def read(spec: DatasetSpec) -> tuple[Any, str]:
    """(AnnData, label column); spatial slices keep their labelled spots only."""
    if spec.path is None:
        return _demo(), SC_LABEL_KEY
    if spec.kind == "sc":
        import anndata as ad

        return ad.read_h5ad(spec.path), SC_LABEL_KEY
    from scrcl.data.spatial import drop_unlabelled, load_st, resolve_st

    adata, key = load_st(resolve_st(str(spec.path)))
    if key is None:
        raise SystemExit(f"{spec.path}: no label column")
    return drop_unlabelled(adata, key), key


@functools.lru_cache(maxsize=None)
def _n_obs(path: str) -> int:
    if path == "demo":
        return _demo().n_obs
    import anndata as ad

    backed = ad.read_h5ad(path, backed="r")
    try:
        return backed.n_obs
    finally:
        backed.file.close()


def n_obs(spec: DatasetSpec) -> int:
    """Rows of the data set's file (cells or spots, before any is dropped)."""
    return _n_obs(str(spec.path) if spec.path else "demo")


def resolved_features(spec: DatasetSpec, setting: str) -> str:
    """What the network is fed for ``--features setting``: 'counts' or 'lognorm'
    (scRNA-seq, decided on the data as prepare_sc does), 'processed' (spatial slices)."""
    if spec.kind != "sc":
        return "processed"
    if setting != "auto":
        return setting
    return _auto_features(str(spec.path) if spec.path else "demo")


@functools.lru_cache(maxsize=None)
def _auto_features(path: str) -> str:
    from scrcl.data.preprocess import as_csr, resolve_features

    adata = _demo() if path == "demo" else __import__("anndata").read_h5ad(path)
    return resolve_features("auto", as_csr(adata.X))[0]


def base_config(spec: DatasetSpec):
    """The configuration runSC.py / runST.py would use: the demo's, the documented scRNA-seq
    defaults (the stand-ins have no preset), or the slice's published preset."""
    from scrcl.config import default_config

    if spec.path is None:
        from scrcl.cli.sc import DEMO_CONFIG

        return DEMO_CONFIG
    if spec.kind == "sc":
        return default_config("SC")
    from scrcl.cli.st import choose_preset

    return choose_preset(spec.name, None)


@dataclass
class ScrclInputs:
    """What scrcl.pipeline.run_protocols needs for one data set."""

    prepared: Any  # scrcl PreparedData
    truth: Any  # (N,) str labels of the prepared cells
    n_clusters: int
    clusterers: dict[str, Optional[Callable]]  # method name -> cluster_fn (None: k-means)
    #  (scrcl, scrcl-leiden, scrcl-ward; on slices also scrcl-gmm)
    postprocess: Optional[Callable]
    oracle_metric: str
    prep_s: float


def scrcl_inputs(spec: DatasetSpec, cfg) -> ScrclInputs:
    """Read and prepare a data set as runSC.py (counts) or runST.py (processed features,
    labelled spots, spatial refinement of the preset's radius) do; K = true classes."""
    import time

    import numpy as np

    from scrcl.pipeline import clusterer

    start = time.perf_counter()
    adata, key = read(spec)
    if spec.kind == "sc":
        from scrcl.data.preprocess import prepare_sc_with

        prepared = prepare_sc_with(adata, cfg)
        clusterers = {"scrcl": None, "scrcl-leiden": clusterer("leiden", cfg.kmeans_n_init),
                      "scrcl-ward": clusterer("ward", cfg.kmeans_n_init)}
        post, metric = None, "nmi"
    else:
        from scrcl.clustering.spatial_smoothing import refiner
        from scrcl.data.spatial import prepare_st

        prepared = prepare_st(adata, cfg.hvg, cfg.k, cfg.tms, cfg.gene_k, "yes")
        coords = np.asarray(adata.obsm["spatial"])[prepared.cells]
        radius = cfg.radius or 0
        clusterers = {"scrcl": None, "scrcl-gmm": clusterer("gmm", cfg.kmeans_n_init),
                      "scrcl-leiden": clusterer("leiden", cfg.kmeans_n_init),
                      "scrcl-ward": clusterer("ward", cfg.kmeans_n_init)}
        post, metric = (refiner(coords, radius) if radius else None), "ari"
    truth = np.asarray(adata.obs[key].astype(str))[prepared.cells]
    return ScrclInputs(prepared, truth, int(np.unique(truth).size), clusterers, post, metric,
                       time.perf_counter() - start)
