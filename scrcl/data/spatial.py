"""Spatial data: reading Visium folders and spatial .h5ad files, benchmark look-up, labels,
and the spatial preparation of METHOD.md section 1 (``prepare_st``).

Coordinates always end up in ``obsm['spatial']`` as ``(x, y)`` = (pixel column, pixel row)
in full resolution, the scanpy convention; the low-resolution image and the scale factors,
when present, in ``uns['spatial'][<library>]`` as ``scanpy.read_visium`` stores them.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional, Union

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .. import graphs
from .._constants import DATA_DIR_ENV, SPATIAL_KEY
from ..errors import ScrclInputError
from .checks import check_at_most, check_matrix, true_labels
from .preprocess import PreparedData, as_csr, filter_empty
from .read import read_h5ad
from .registry import ST_DATASETS, data_dir

log = logging.getLogger(__name__)

Preprocessed = Literal["auto", "yes", "no"]

COUNTS_FILE = "filtered_feature_bc_matrix.h5"
POSITIONS_V1 = "tissue_positions_list.csv"  # spaceranger 1.x, no header
POSITIONS_V2 = "tissue_positions.csv"  # spaceranger 2.x, header line
POSITION_COLUMNS = ["in_tissue", "array_row", "array_col", "pxl_row_in_fullres",
                    "pxl_col_in_fullres"]
METADATA_FILE = "metadata.tsv"
#: label columns tried, in order, when --label-key is not given
ST_LABEL_KEYS = ("ground_truth", "layer_guess", "annotation")


@dataclass(frozen=True)
class SpatialRef:
    """A resolved spatial data set."""

    name: str  # benchmark name or file/folder stem (results are filed under it)
    path: Path  # Visium folder or .h5ad file
    benchmark: bool
    label_key: Optional[str] = None  # the benchmark's label column


# ----------------------------------------------------------------------------- reading


def read_positions(spatial_dir: Union[str, Path]) -> pd.DataFrame:
    """Spot positions of a Visium ``spatial/`` folder, indexed by barcode.

    Reads spaceranger 2.x ``tissue_positions.csv`` (header line) or 1.x
    ``tissue_positions_list.csv`` (no header); columns are :data:`POSITION_COLUMNS`.
    """
    spatial_dir = Path(spatial_dir)
    v2, v1 = spatial_dir / POSITIONS_V2, spatial_dir / POSITIONS_V1
    path = v2 if v2.is_file() else v1
    if not path.is_file():
        raise ScrclInputError(f"no spot positions in {spatial_dir}: expected {POSITIONS_V2} "
                              f"(spaceranger 2.x) or {POSITIONS_V1} (1.x) there")
    with open(path) as fh:
        first = fh.readline().split(",")
    has_header = len(first) > 1 and not first[1].strip().lstrip("-").isdigit()
    try:
        table = pd.read_csv(path, header=0 if has_header else None, index_col=0)
    except Exception as exc:
        raise ScrclInputError(f"cannot parse {path} ({str(exc).splitlines()[0][:100]}); "
                              f"expected barcode,{','.join(POSITION_COLUMNS)}") from None
    if table.shape[1] != len(POSITION_COLUMNS):
        raise ScrclInputError(f"{path} has {table.shape[1] + 1} columns, expected "
                              f"{len(POSITION_COLUMNS) + 1}: barcode,{','.join(POSITION_COLUMNS)}")
    table.columns = POSITION_COLUMNS
    table.index = table.index.astype(str)
    table.index.name = "barcode"
    return table


def _read_image(path: Path) -> Optional[np.ndarray]:
    if not path.is_file():
        return None
    import matplotlib.image as mpimg

    return np.asarray(mpimg.imread(path))


def read_visium(folder: Union[str, Path], library_id: Optional[str] = None) -> ad.AnnData:
    """A 10x Visium folder (``filtered_feature_bc_matrix.h5`` + ``spatial/``) as AnnData.

    Keeps the in-tissue spots of the count file; ``obsm['spatial']`` = (pxl_col, pxl_row) in
    full resolution; ``obs['array_row'/'array_col']``; ``uns['spatial'][library_id]`` with the
    low-resolution image (when present) and the scale factors.
    """
    import scanpy as sc

    folder = Path(folder)
    counts = folder / COUNTS_FILE
    if not counts.is_file():
        raise ScrclInputError(f"no count matrix {counts}: a Visium folder needs {COUNTS_FILE} "
                              f"(spaceranger output) beside spatial/")
    try:
        adata = sc.read_10x_h5(counts)
    except Exception as exc:
        raise ScrclInputError(f"cannot read {counts} as a 10x HDF5 matrix "
                              f"({str(exc).splitlines()[0][:100]})") from None
    adata.var_names_make_unique()
    positions = read_positions(folder / "spatial")
    missing = ~adata.obs_names.isin(positions.index)
    if missing.any():
        raise ScrclInputError(f"{int(missing.sum())} barcodes of {counts} (e.g. "
                              f"{adata.obs_names[missing][0]}) have no position in "
                              f"{folder / 'spatial'}; the two files do not belong together")
    pos = positions.loc[adata.obs_names]
    adata.obs["in_tissue"] = pos["in_tissue"].to_numpy()
    adata.obs["array_row"] = pos["array_row"].to_numpy()
    adata.obs["array_col"] = pos["array_col"].to_numpy()
    adata.obsm[SPATIAL_KEY] = pos[["pxl_col_in_fullres", "pxl_row_in_fullres"]].to_numpy(
        dtype=np.float64)
    library_id = library_id or folder.name
    entry: dict = {"images": {}, "scalefactors": {}}
    scalefactors = folder / "spatial" / "scalefactors_json.json"
    if scalefactors.is_file():
        entry["scalefactors"] = json.loads(scalefactors.read_text())
    for res in ("lowres", "hires"):
        image = _read_image(folder / "spatial" / f"tissue_{res}_image.png")
        if image is not None:
            entry["images"][res] = image
    adata.uns["spatial"] = {library_id: entry}
    return adata


def read_spatial(path: Union[str, Path]) -> ad.AnnData:
    """A Visium folder or an ``.h5ad`` file with coordinates in ``obsm['spatial']``."""
    path = Path(path)
    if path.is_dir():
        return read_visium(path)
    adata = read_h5ad(path)
    if SPATIAL_KEY not in adata.obsm:
        raise ScrclInputError(f"{path} has no spot coordinates obsm['{SPATIAL_KEY}'] (obsm keys: "
                              f"{', '.join(adata.obsm.keys()) or 'none'}); runST.py needs them")
    check_coordinates(adata, str(path))
    return adata


def check_coordinates(adata: ad.AnnData, where: str = "the data") -> None:
    """Raise ScrclInputError unless ``obsm['spatial']`` is an (N, 2+) array of finite numbers."""
    coords = np.asarray(adata.obsm[SPATIAL_KEY])
    if coords.ndim != 2 or coords.shape[1] < 2 or coords.dtype.kind not in "iuf":
        raise ScrclInputError(f"obsm['{SPATIAL_KEY}'] of {where} must be an (N, 2) array of "
                              f"numbers, got shape {coords.shape} and dtype {coords.dtype}")
    bad = ~np.isfinite(coords[:, :2]).all(axis=1)
    if bad.any():
        raise ScrclInputError(f"obsm['{SPATIAL_KEY}'] of {where} has NaN or infinite "
                              f"coordinates for {int(bad.sum())} spots (e.g. "
                              f"{adata.obs_names[bad][0]}); drop those spots or fix the "
                              f"coordinates")
    check_layout(coords[:, :2].astype(np.float64), where)


#: more than this share of spots sharing their position with another spot is refused
MAX_SHARED_POSITIONS = 0.5


def check_layout(coords: np.ndarray, where: str = "the data") -> None:
    """Raise ScrclInputError for a layout no spatial graph can use: every spot at one
    position, a constant coordinate (spots on a line), or most spots stacked on others
    (e.g. a column of cluster ids stored as coordinates). coords: (N, 2) finite."""
    n = coords.shape[0]
    if n < 2:
        return
    key = f"obsm['{SPATIAL_KEY}']"
    distinct = np.unique(coords, axis=0).shape[0]
    if distinct == 1:
        raise ScrclInputError(f"all {n} spots of {where} are at one position in {key} "
                              f"({coords[0, 0]:g}, {coords[0, 1]:g}); give each spot its own "
                              f"coordinates")
    for axis, name in ((0, "x (column 0)"), (1, "y (column 1)")):
        if np.all(coords[:, axis] == coords[0, axis]):
            raise ScrclInputError(f"the {name} coordinate of {key} of {where} is the same for "
                                  f"all {n} spots, so they lie on a line; give 2-D coordinates "
                                  f"(e.g. Visium pxl_col_in_fullres, pxl_row_in_fullres)")
    stacked = n - distinct
    if stacked > MAX_SHARED_POSITIONS * n:
        raise ScrclInputError(f"{stacked} of the {n} spots of {where} share their position in "
                              f"{key} with another spot (only {distinct} distinct positions); "
                              f"give each spot its own coordinates")


def attach_metadata(adata: ad.AnnData, metadata: Union[str, Path], column: str) -> None:
    """Copy ``column`` of a ``metadata.tsv`` into ``adata.obs[column]``.

    Rows are matched by barcode when the first column holds the spots' barcodes; otherwise
    by position (the reference's convention), which needs equal row counts.
    """
    metadata = Path(metadata)
    table = pd.read_csv(metadata, sep="\t", index_col=0, low_memory=False)
    if column not in table.columns:
        raise ScrclInputError(f"{metadata} has no column '{column}' (columns: "
                              f"{', '.join(map(str, table.columns[:8]))}, ...)")
    table.index = table.index.astype(str)
    if adata.obs_names.isin(table.index).all():
        values = table.loc[adata.obs_names, column]
    elif len(table) == adata.n_obs:
        log.info("%s: barcodes do not match, labels assigned by row order", metadata)
        values = table[column]
    else:
        raise ScrclInputError(f"{metadata} has {len(table)} rows whose barcodes do not match "
                              f"the {adata.n_obs} spots of the count matrix")
    adata.obs[column] = pd.Categorical(values.to_numpy())


def default_label_key(adata: ad.AnnData) -> Optional[str]:
    """The first of :data:`ST_LABEL_KEYS` present in ``obs``, else None."""
    return next((key for key in ST_LABEL_KEYS if key in adata.obs), None)


def drop_unlabelled(adata: ad.AnnData, label_key: str) -> ad.AnnData:
    """The spots whose label is present (the reference drops the others before anything
    else; only presence is read, not the label values)."""
    if label_key not in adata.obs:
        raise ScrclInputError(f"no label column obs['{label_key}'] (columns: "
                              f"{', '.join(map(str, adata.obs.columns[:10])) or 'none'}); "
                              f"choose one with --label-key or give --n-clusters")
    true_labels(adata, label_key, missing_ok=True)
    labelled = adata.obs[label_key].notna().to_numpy()
    if not labelled.all():
        log.info("dropped %d spots without a label in obs['%s']", int((~labelled).sum()),
                 label_key)
        adata = adata[labelled].copy()
    return adata


# ----------------------------------------------------------------------------- look-up


def _where_to_put(name: str, root: Path, target: Path, what: str) -> ScrclInputError:
    stand_in = root / "stdata_pca" / f"{name}.h5ad"
    hint = (f" (a feature-level stand-in without counts exists: --dataset {stand_in})"
            if stand_in.is_file() else "")
    return ScrclInputError(f"benchmark data set {name}: {what} not found at {target}; download "
                           f"it from {ST_DATASETS[name][2]} and put it there, or point "
                           f"--data-dir / ${DATA_DIR_ENV} at the folder that holds stdata/{hint}")


def resolve_st(name: str, data_dir_: Union[str, Path, None] = None) -> SpatialRef:
    """Resolve ``--dataset`` of runST.py: a benchmark name, a Visium folder or an .h5ad file.

    Raises ScrclInputError naming the missing file, where it goes and its public source.
    """
    if name in ST_DATASETS and not Path(name).exists():
        rel, label_key, _ = ST_DATASETS[name]
        root = data_dir(data_dir_)
        path = root / "stdata" / rel
        if rel.endswith(".h5ad"):
            if not path.is_file():
                raise _where_to_put(name, root, path, "the .h5ad file")
            return SpatialRef(name, path, True, label_key)
        for needed, what in ((path / COUNTS_FILE, f"the count matrix {COUNTS_FILE}"),
                             (path / METADATA_FILE, f"the labels {METADATA_FILE}")):
            if not needed.is_file():
                raise _where_to_put(name, root, needed, what)
        if not ((path / "spatial" / POSITIONS_V1).is_file()
                or (path / "spatial" / POSITIONS_V2).is_file()):
            raise _where_to_put(name, root, path / "spatial" / POSITIONS_V1,
                                   "the spot positions")
        return SpatialRef(name, path, True, label_key)
    path = Path(name)
    if path.is_dir():
        if not (path / COUNTS_FILE).is_file():
            raise ScrclInputError(f"{path} is a folder without {COUNTS_FILE}; give a 10x Visium "
                                  f"folder (count matrix + spatial/) or an .h5ad file")
        return SpatialRef(path.name, path, False)
    if path.is_file():
        return SpatialRef(path.stem, path, False)
    if path.suffix or "/" in name:
        raise ScrclInputError(f"file not found: {path}; give an existing .h5ad file or Visium "
                              f"folder, or a benchmark name")
    raise ScrclInputError(f"unknown data set '{name}': give a Visium folder, an .h5ad file with "
                          f"obsm['spatial'], or one of {', '.join(ST_DATASETS)}")


def load_st(ref: SpatialRef, label_key: Optional[str] = None) -> tuple[ad.AnnData, Optional[str]]:
    """Read a resolved data set; attach benchmark labels; return (adata, label column or None).

    ``label_key`` (``--label-key``) wins; otherwise the benchmark's column, else the first
    of :data:`ST_LABEL_KEYS` present.
    """
    adata = read_spatial(ref.path)
    if ref.benchmark and ref.path.is_dir():
        attach_metadata(adata, ref.path / METADATA_FILE, ref.label_key)
    key = label_key or (ref.label_key if ref.label_key in adata.obs else None) \
        or default_label_key(adata)
    return adata, key


# ----------------------------------------------------------------------------- preparation


def uses_counts(x, preprocessed: Preprocessed = "auto") -> bool:
    """Whether X (N, G) is prepared as counts: ``preprocessed='no'``, or 'auto' and X has
    no negative or non-integer value."""
    return preprocessed == "no" or (preprocessed == "auto" and not is_processed(x))


def is_processed(x) -> bool:
    """True when x cannot be counts: a negative or a non-integer value."""
    values = x.data if sp.issparse(x) else np.asarray(x).ravel()
    if values.size == 0:
        return False
    return bool(values.min() < 0 or np.any(values != np.round(values)))


def _loess_fit(x: np.ndarray, y: np.ndarray, span: float = 0.3, n_anchor: int = 400
               ) -> np.ndarray:
    """Local quadratic regression (tricube weights over the ``span`` fraction of nearest
    points), evaluated at up to ``n_anchor`` quantiles of x and interpolated linearly, as the
    'interpolate' surface of R's loess does; numpy only. x, y: (G,) -> fitted (G,)."""
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order]
    g = xs.size
    q = max(3, int(np.ceil(span * g)))
    anchors = np.unique(np.quantile(xs, np.linspace(0, 1, min(n_anchor, g))))
    fitted = np.empty(anchors.size)
    for i, a in enumerate(anchors):
        d = np.abs(xs - a)
        idx = np.argpartition(d, min(q, g) - 1)[:q]
        h = d[idx].max() or 1.0
        w = (1 - (d[idx] / (h * (1 + 1e-9))) ** 3) ** 3
        design = np.vander(xs[idx] - a, 3, increasing=True)
        sw = np.sqrt(w)[:, None]
        coef = np.linalg.lstsq(design * sw, ys[idx] * sw[:, 0], rcond=None)[0]
        fitted[i] = coef[0]
    out = np.empty(g)
    out[order] = np.interp(xs, anchors, fitted)
    return out


def seurat_v3_hvg(counts: sp.csr_matrix, n_top: int) -> np.ndarray:
    """Indices of the ``n_top`` most variable genes by the 'seurat_v3' recipe on counts.

    The variance of each gene is standardised by the loess trend of log10 variance on log10
    mean (span 0.3, degree 2), with values clipped at mean + sqrt(N) * expected std, as
    scanpy's ``highly_variable_genes(flavor='seurat_v3')``. counts: (N, G) CSR.
    """
    n, g = counts.shape
    if n_top >= g:
        return np.arange(g)
    x = counts.astype(np.float64)
    mean = np.asarray(x.mean(axis=0)).ravel()
    sq = np.asarray(x.multiply(x).mean(axis=0)).ravel()
    var = (sq - mean ** 2) * n / max(n - 1, 1)
    not_const = var > 0
    expected = np.zeros(g)
    expected[not_const] = _loess_fit(np.log10(mean[not_const]), np.log10(var[not_const]))
    reg_std = np.sqrt(10 ** expected)
    clip = reg_std * np.sqrt(n) + mean
    clipped = x.tocoo()
    clipped.data = np.minimum(clipped.data, clip[clipped.col])
    s1 = np.asarray(clipped.tocsr().sum(axis=0)).ravel()
    s2 = np.bincount(clipped.col, weights=clipped.data ** 2, minlength=g)
    norm_var = (n * mean ** 2 + s2 - 2 * s1 * mean) / ((n - 1) * reg_std ** 2)
    norm_var[~not_const] = -np.inf
    return np.sort(np.argsort(-norm_var, kind="stable")[:n_top])


def scale_no_centre(x: sp.csr_matrix, max_value: float = 10.0) -> np.ndarray:
    """Each gene divided by its standard deviation (ddof 1; none for constant genes), then
    clipped at ``max_value``, as ``sc.pp.scale(zero_center=False, max_value=10)``."""
    dense = x.toarray() if sp.issparse(x) else np.asarray(x, dtype=np.float64)
    std = dense.std(axis=0, ddof=1)
    std[std == 0] = 1.0
    return np.minimum(dense / std, max_value).astype(np.float32)


def prepare_st(adata: ad.AnnData, hvg: int, k: int, tms: tuple[int, int], gene_k: int = 5,
               preprocessed: Preprocessed = "auto") -> PreparedData:
    """Spatial preparation (METHOD.md 1, spatial): counts or processed features in ``X``,
    coordinates in ``obsm['spatial']``. Reads no labels.

    Counts: drop empty spots and genes, select ``hvg`` genes ('seurat_v3' on counts),
    normalise each spot to 1e4, log1p, scale without centring, clip at 10. Processed data
    (negative or non-integer values, or ``preprocessed='yes'``) is used as it is. The spot
    graph links each spot to its k nearest spots; the gene graph is built from X transposed.
    """
    coords = np.asarray(adata.obsm[SPATIAL_KEY], dtype=np.float64)[:, :2]
    x = adata.X
    check_matrix(x, counts=False)
    if not uses_counts(x, preprocessed):
        if preprocessed == "auto":
            log.warning("X holds processed values (negative or non-integer), not counts: "
                        "normalisation, log1p and HVG selection are skipped and all %d "
                        "features are used (--preprocessed no forces them)", x.shape[1])
        features = (x.toarray() if sp.issparse(x) else np.asarray(x)).astype(np.float32)
        spots = np.ones(adata.n_obs, dtype=bool)
        genes = np.asarray(adata.var_names)
    else:
        counts = as_csr(x)
        check_matrix(counts, counts=True)
        spots, expressed = filter_empty(counts)
        if not spots.all():
            log.info("dropped %d spots with no counts", int((~spots).sum()))
        counts = counts[spots][:, expressed]
        check_at_most("hvg", hvg, counts.shape[1], "the number of expressed genes")
        selected = seurat_v3_hvg(counts, hvg)
        totals = np.asarray(counts.sum(axis=1)).ravel()
        lognorm = (sp.diags((1e4 / totals).astype(np.float32)) @ counts)[:, selected].tocsr()
        lognorm.data = np.log1p(lognorm.data)
        features = scale_no_centre(lognorm)
        genes = np.asarray(adata.var_names[expressed][selected])
        coords = coords[spots]
    n = features.shape[0]
    check_at_most("k", k, n - 1, f"the neighbours the {n} spots allow")
    return PreparedData.build(features, tms, graphs.spatial_graph(coords, k), gene_k, spots,
                              genes, coords, input_kind="processed")
