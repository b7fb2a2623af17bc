"""Reading AnnData files, with one clear error line for every way that can fail."""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import anndata as ad

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
