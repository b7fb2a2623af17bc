"""Reading AnnData files, with one clear error line for every way that can fail."""
from __future__ import annotations

from pathlib import Path

import anndata as ad

from ..errors import ScrclInputError


def read_h5ad(path: str | Path) -> ad.AnnData:
    """Read an ``.h5ad`` file; ScrclInputError if it is missing, unreadable or not AnnData."""
    path = Path(path)
    if not path.is_file():
        raise ScrclInputError(f"file not found: {path}; check the path or --data-dir")
    try:
        adata = ad.read_h5ad(path)
    except Exception as exc:  # h5py / anndata raise many kinds
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ScrclInputError(f"cannot read {path} as AnnData ({reason[:120]}); give an .h5ad "
                              f"file written by anndata/scanpy") from None
    return adata
