"""Checks of the input AnnData, done once, up front: each failure is a ScrclInputError
whose message names the problem and the fix (the scripts print it as one ``error:`` line).
"""
from __future__ import annotations

from typing import Optional

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import ScrclInputError


def check_matrix(x, what: str = "X", counts: bool = True) -> None:
    """Raise ScrclInputError for an empty or non-numeric matrix, NaN/inf, negative counts
    (``counts=True``) or a matrix without a single non-zero value.

    Integer, unsigned, boolean and float dtypes are all accepted (integer counts are the
    usual case); x: (N, G) dense or sparse.
    """
    if x is None:
        raise ScrclInputError(f"the data has no expression matrix {what}; give an AnnData with "
                              f"counts in X")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ScrclInputError(f"the expression matrix {what} is empty ({x.shape[0]} cells x "
                              f"{x.shape[1]} genes); give a file with cells and genes")
    dtype = np.dtype(x.dtype)
    if dtype.kind not in "biuf":
        raise ScrclInputError(f"the expression matrix {what} has dtype {dtype}, not numbers; "
                              f"give counts as integers or floats")
    values = x.data if sp.issparse(x) else np.asarray(x)
    if dtype.kind == "f" and not np.all(np.isfinite(values)):
        raise ScrclInputError(f"the expression matrix {what} contains NaN or infinite values; "
                              f"remove or impute them before running scrcl")
    if counts and values.size and values.min() < 0:
        raise ScrclInputError(f"the expression matrix {what} has negative values but counts are "
                              f"expected; give raw counts (for example from adata.raw or a "
                              f"'counts' layer)")
    if not values.size or not np.any(values):
        raise ScrclInputError(f"every value of the expression matrix {what} is zero "
                              f"({x.shape[0]} cells x {x.shape[1]} genes); give the counts")


MIN_CELLS = 3  # fewer cells with counts than this cannot be clustered


def check_enough_cells(n_cells: int, what: str = "cells") -> None:
    """Raise ScrclInputError when fewer than MIN_CELLS cells (spots) have any count."""
    if n_cells < MIN_CELLS:
        raise ScrclInputError(f"only {n_cells} {what} have expressed genes; scrcl needs at "
                              f"least {MIN_CELLS}")


def check_at_most(name: str, value: int, limit: int, what: str) -> None:
    """Raise ScrclInputError when the option ``--name`` is above what the data allows."""
    if value > limit:
        option = f"--{name.replace('_', '-')}"
        raise ScrclInputError(f"{option} {value} is more than {what} ({limit}); choose "
                              f"{option} {limit} or fewer")


def check_names(adata: ad.AnnData) -> None:
    """Raise ScrclInputError when cell ids or gene names repeat: results are written per cell
    id and marker genes per gene name, so both must be unique."""
    for names, what, fix in ((adata.obs_names, "cell ids (obs_names)", "obs_names_make_unique"),
                             (adata.var_names, "gene names (var_names)",
                              "var_names_make_unique")):
        dup = names[names.duplicated()]
        if len(dup):
            raise ScrclInputError(f"{len(dup)} {what} are repeated (e.g. '{dup[0]}'); make them "
                                  f"unique, e.g. adata.{fix}(), and write the file again")


def true_labels(adata: ad.AnnData, label_key: str, missing_ok: bool = False) -> pd.Series:
    """The label column, checked: present, not all missing, with at least two classes, and
    (unless ``missing_ok``) without missing values."""
    if label_key not in adata.obs:
        raise ScrclInputError(f"no label column obs['{label_key}'] in the data (columns: "
                              f"{', '.join(map(str, adata.obs.columns[:10])) or 'none'}); "
                              f"choose one with --label-key or give --n-clusters to run "
                              f"without labels")
    labels = adata.obs[label_key]
    missing = int(labels.isna().sum())
    if missing == len(labels):
        raise ScrclInputError(f"obs['{label_key}'] holds no label (all {missing} are missing); "
                              f"choose another --label-key, or give --n-clusters to run "
                              f"without labels")
    if missing and not missing_ok:
        raise ScrclInputError(f"obs['{label_key}'] has {missing} missing labels; drop those "
                              f"cells or choose another --label-key")
    classes = labels.dropna().unique()
    if len(classes) < 2:
        raise ScrclInputError(f"obs['{label_key}'] holds a single class ('{classes[0]}'), so "
                              f"it can neither give K nor score a clustering; choose another "
                              f"--label-key, or give --n-clusters to run without labels")
    return labels


def check_anndata(adata: ad.AnnData, label_key: Optional[str] = None,
                  counts: bool = True, missing_labels_ok: bool = False) -> None:
    """All the checks of an input AnnData: its matrix, its names and its label column."""
    check_matrix(adata.X, counts=counts)
    check_names(adata)
    if label_key is not None:
        true_labels(adata, label_key, missing_ok=missing_labels_ok)
