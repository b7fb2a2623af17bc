"""Reading AnnData files, with one clear error line for every way that can fail."""
from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Optional

import anndata as ad
import numpy as np

from ..errors import ScrclInputError

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_BAD_SHAPE = re.compile(r"Value passed for key '([^']+)' is of incorrect shape.*?"
                        r"Value had shape \((\d+),?.*?\) while it should have had \((\d+),?",
                        re.DOTALL)
#: anndata warnings whose cause is checked (and reported as an error) by scrcl itself
_HANDLED_WARNINGS = ("names are not unique", "without encoding metadata")


def _is_hdf5(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE


def read_h5ad(path: str | Path) -> ad.AnnData:
    """Read an ``.h5ad`` file; ScrclInputError if it is missing, not HDF5 (e.g. a CSV file),
    truncated or corrupt, not AnnData, or has ``obsm`` entries of the wrong length."""
    path = Path(path)
    if path.is_dir():
        raise ScrclInputError(f"{path} is a folder; give an .h5ad file")
    if not path.is_file():
        raise ScrclInputError(f"file not found: {path}; check the path or --data-dir")
    if not _is_hdf5(path):
        raise ScrclInputError(f"{path} is not an HDF5/.h5ad file (a text file such as CSV?); "
                              f"convert it, e.g. anndata.read_csv(path).write_h5ad('x.h5ad')")
    adata, error = None, None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            adata = ad.read_h5ad(path)
        except Exception as exc:  # h5py / anndata raise many kinds
            error = exc
    if any("without encoding metadata" in str(w.message) for w in caught):
        raise ScrclInputError(f"{path} is an HDF5 file but not AnnData (no anndata encoding); "
                              f"give an .h5ad file written by anndata/scanpy (a 10x .h5: "
                              f"scanpy.read_10x_h5(path).write_h5ad('x.h5ad'))")
    if error is not None:
        raise _read_error(path, error) from None
    for w in caught:  # pass on what scrcl does not check itself
        if not any(text in str(w.message) for text in _HANDLED_WARNINGS):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return adata


#: the files of a 10x Genomics matrix folder (Cell Ranger 3+; v2 names in brackets)
MTX_FILES = (("matrix.mtx.gz", "matrix.mtx"), ("barcodes.tsv.gz", "barcodes.tsv"),
             ("features.tsv.gz", "features.tsv", "genes.tsv.gz", "genes.tsv"))
#: file types users bring that scrcl does not read, and how to convert them
CONVERT = {
    ".rds": "an R object: write it as .h5ad (Seurat: SeuratDisk's SaveH5Seurat + Convert, or "
            "sceasy; SingleCellExperiment: zellkonverter::writeH5AD)",
    ".rdata": "an R workspace: save the object as .h5ad (SeuratDisk or zellkonverter)",
    ".loom": "a loom file: convert it, e.g. scanpy.read_loom(path).write_h5ad('x.h5ad')",
    ".csv": "a text table: convert it, e.g. anndata.read_csv(path).write_h5ad('x.h5ad') "
            "(cells as rows)",
    ".tsv": "a text table: convert it, e.g. anndata.read_csv(path, delimiter='\\t')"
            ".write_h5ad('x.h5ad')",
    ".txt": "a text table: convert it, e.g. anndata.read_text(path).write_h5ad('x.h5ad')",
    ".mtx": "a lone Matrix Market file: give the folder that holds it with barcodes.tsv.gz and "
            "features.tsv.gz (the 10x layout)",
}


def _suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def is_mtx_folder(path: Path) -> bool:
    """True for a folder holding a 10x Matrix Market matrix (matrix.mtx or matrix.mtx.gz)."""
    return path.is_dir() and any((path / name).is_file() for name in MTX_FILES[0])


def _first(folder: Path, names: tuple) -> Optional[Path]:
    return next((folder / n for n in names if (folder / n).is_file()), None)


def read_10x_mtx(folder: Path) -> ad.AnnData:
    """A 10x matrix folder (matrix.mtx, barcodes.tsv, features.tsv, each gzipped or not;
    Cell Ranger 2's genes.tsv too): cells x genes of the gene-expression features, gene
    symbols as var_names (made unique), Ensembl ids in ``var['gene_ids']``."""
    import pandas as pd
    import scipy.io
    import scipy.sparse as sp

    files = []
    for names in MTX_FILES:
        found = _first(folder, names)
        if found is None:
            raise ScrclInputError(f"{folder} is a 10x matrix folder without {names[0]} (or "
                                  f"{names[1]}); copy the whole filtered_feature_bc_matrix "
                                  f"folder")
        files.append(found)
    try:
        x = sp.csr_matrix(scipy.io.mmread(files[0]).T, dtype=np.float32)
        barcodes = pd.read_csv(files[1], header=None, sep="\t", dtype=str)[0]
        features = pd.read_csv(files[2], header=None, sep="\t", dtype=str)
    except Exception as exc:  # scipy / pandas / gzip raise many kinds
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
        raise ScrclInputError(f"cannot read the 10x matrix folder {folder} ({reason}); copy "
                              f"its files again") from None
    if x.shape != (len(barcodes), len(features)):
        raise ScrclInputError(f"{folder}: the matrix is {x.shape[1]} x {x.shape[0]} but there "
                              f"are {len(features)} features and {len(barcodes)} barcodes; "
                              f"copy the three files of one folder")
    names = features[1] if features.shape[1] > 1 else features[0]
    types = features[2] if features.shape[1] > 2 else pd.Series("Gene Expression",
                                                                 index=features.index)
    keep = (types == "Gene Expression").to_numpy()
    var = pd.DataFrame({"gene_ids": features[0].to_numpy()[keep],
                        "feature_types": types.to_numpy()[keep]},
                       index=pd.Index(names.to_numpy()[keep].astype(str)))
    adata = ad.AnnData(x[:, keep], obs=pd.DataFrame(index=pd.Index(barcodes.astype(str))),
                       var=var)
    adata.var_names_make_unique()
    return adata


def read_10x_h5(path: Path) -> ad.AnnData:
    """A 10x ``filtered_feature_bc_matrix.h5``: the gene-expression features, gene symbols as
    var_names (made unique), Ensembl ids in ``var['gene_ids']``."""
    import scanpy as sc

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            adata = sc.read_10x_h5(path)
    except Exception as exc:
        if isinstance(exc, OSError):
            raise ScrclInputError(f"cannot read {path}: the HDF5 file is truncated or "
                                  f"corrupt; write it or copy it again") from None
        raise ScrclInputError(f"{path} is an HDF5 file but neither AnnData nor a 10x Genomics "
                              f"matrix (.h5); give an .h5ad file, a 10x .h5 file or a 10x "
                              f"matrix folder") from None
    adata.var_names_make_unique()
    return adata


def _has_anndata_encoding(path: Path) -> bool:
    import h5py

    try:
        with h5py.File(path, "r") as fh:
            return "encoding-type" in fh.attrs or "obs" in fh
    except OSError:
        return True  # let read_h5ad report the corrupt file


def read_expression(path: str | Path) -> ad.AnnData:
    """An expression file as users have it: ``.h5ad`` (scanpy, CELLxGENE, Seurat converted),
    a 10x ``.h5`` or a 10x matrix folder; ScrclInputError with the fix for anything else."""
    path = Path(path)
    if path.is_dir():
        if is_mtx_folder(path):
            return read_10x_mtx(path)
        raise ScrclInputError(f"{path} is a folder without matrix.mtx.gz; give an .h5ad file, a "
                              f"10x .h5 file or a 10x matrix folder")
    if not path.is_file():
        raise ScrclInputError(f"file not found: {path}; check the path or --data-dir")
    kind = _suffix(path)
    if kind in CONVERT:
        raise ScrclInputError(f"{path} is {CONVERT[kind]}")
    if kind == ".h5" and _is_hdf5(path) and not _has_anndata_encoding(path):
        return read_10x_h5(path)
    return read_h5ad(path)


def _read_error(path: Path, exc: Exception) -> ScrclInputError:
    text = str(exc)
    shape = _BAD_SHAPE.search(text)
    if shape is not None:
        key, rows, cells = shape.groups()
        return ScrclInputError(f"obsm['{key}'] of {path} has {rows} rows but the data has "
                               f"{cells} cells; give one row per cell")
    if isinstance(exc, OSError):
        return ScrclInputError(f"cannot read {path}: the HDF5 file is truncated or corrupt; "
                               f"write it or copy it again")
    reason = text.splitlines()[0] if text else type(exc).__name__
    return ScrclInputError(f"cannot read {path} as AnnData ({reason[:120]}); give an .h5ad "
                           f"file written by anndata/scanpy")
