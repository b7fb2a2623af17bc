"""Gene names as a biologist reads them: symbols, where a file names genes by Ensembl id.

CELLxGENE files name genes by Ensembl id (``var_names``) and keep the symbols in
``var['feature_name']``; 10x files read by scanpy keep the ids in ``var['gene_ids']`` and
use symbols already. Marker tables and plots show the symbols.
"""
from __future__ import annotations

import re
from typing import Optional

import anndata as ad
import pandas as pd

#: var columns that hold gene symbols, in order of preference (CELLxGENE, scanpy, Seurat)
SYMBOL_COLUMNS = ("feature_name", "gene_symbols", "gene_symbol", "gene_name", "symbol",
                  "gene_names")
_ENSEMBL = re.compile(r"^ENS[A-Z]*G\d{6,}(\.\d+)?$")
#: var_names count as ids when at least this share of them are Ensembl gene ids
ID_SHARE = 0.5


def looks_like_ids(names) -> bool:
    """True when most names are Ensembl gene ids (ENSG..., ENSMUSG..., with a version)."""
    names = [str(n) for n in names]
    return bool(names) and sum(bool(_ENSEMBL.match(n)) for n in names) >= ID_SHARE * len(names)


def symbol_names(var: pd.DataFrame) -> Optional[pd.Index]:
    """Unique gene symbols for display (ids where a symbol is missing), or None when the
    var_names are not Ensembl ids or no symbol column exists."""
    if not looks_like_ids(var.index):
        return None
    column = next((c for c in SYMBOL_COLUMNS if c in var.columns), None)
    if column is None:
        return None
    symbols = var[column].astype(str).to_numpy()
    ids = var.index.astype(str).to_numpy()
    blank = pd.Series(symbols).isin(["", "nan", "None"]).to_numpy()
    names = pd.Index([i if b else s for s, i, b in zip(symbols, ids, blank)])
    return pd.Index(ad.utils.make_index_unique(names))


def with_symbols(adata: ad.AnnData) -> tuple[ad.AnnData, Optional[str]]:
    """``adata`` with symbols as var_names (ids kept in ``var['gene_ids']``) when
    :func:`symbol_names` finds them, and the column they came from; else unchanged, None."""
    names = symbol_names(adata.var)
    if names is None:
        return adata, None
    column = next(c for c in SYMBOL_COLUMNS if c in adata.var.columns)
    if "gene_ids" not in adata.var:
        adata.var["gene_ids"] = adata.var_names.astype(str)
    adata.var_names = names
    return adata, column
