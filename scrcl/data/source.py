"""Which matrix of an AnnData a run reads, and why: the counts wherever scanpy, CELLxGENE or
a Seurat conversion kept them, never a matrix normalised twice.

Order of the search (``layer=None``): ``X`` when it holds counts; else the first layer named
like counts (:data:`COUNT_LAYERS`, any case) that holds counts; else ``adata.raw`` when it
holds counts; else any other layer of counts. Without counts anywhere, log-normalised ``X``
is used as the log-normalised input, normalised ``X`` is log-transformed first (per-cell
normalisation removes any size factor, so this equals the log-normalised counts), and
scaled or reduced ``X`` is refused for scRNA-seq (the caller decides for spatial data).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

import anndata as ad
import scipy.sparse as sp

from ..errors import ScrclInputError
from .checks import check_matrix
from .content import MatrixContent, describe_matrix, recover_counts

log = logging.getLogger(__name__)

#: layer names that hold counts by convention (scanpy / scvi-tools tutorials, Seurat
#: conversions, CELLxGENE exports), searched in this order, case-insensitively
COUNT_LAYERS = ("counts", "raw_counts", "count", "umi_counts", "umis", "raw")
#: the --layer values that name adata.X and adata.raw rather than a layer
X_NAME, RAW_NAME = "X", "raw"


@dataclass
class RunMatrix:
    """The matrix a run prepares. adata: the input's cells (obs, obsm) with ``X`` the chosen
    matrix and ``var`` its genes; ``kind``: 'counts', 'lognorm' (already log-normalised) or
    'processed' (spatial features used as they are); ``source``: where it came from ('X',
    "layers['counts']", 'raw.X'); ``x_content``: what the input's own X holds; ``use``: how
    the run uses it, in words."""

    adata: ad.AnnData
    kind: str
    source: str
    x_content: MatrixContent
    use: str

    def record(self) -> dict:
        """For metrics.json (``input_matrix``)."""
        return {"source": self.source, "used_as": self.kind,
                "X_holds": self.x_content.describe(), "X_evidence": self.x_content.evidence,
                "how": self.use}

    def message(self) -> str:
        """One log line that says what X holds and where the run's input came from."""
        return (f"input: X holds {self.x_content.describe()} ({self.x_content.evidence}); "
                f"{self.use}")


def _where(name: str) -> str:
    return "raw.X" if name == RAW_NAME else ("X" if name == X_NAME else f"layers['{name}']")


def _matrix(adata: ad.AnnData, name: str):
    if name == X_NAME:
        return adata.X
    if name == RAW_NAME:
        return adata.raw.X
    return adata.layers[name]


def _with_matrix(adata: ad.AnnData, name: str, x) -> ad.AnnData:
    """A light AnnData of the input's cells holding ``x`` (the input is not changed)."""
    var = adata.raw.var if name == RAW_NAME else adata.var
    out = ad.AnnData(x, obs=adata.obs, var=var.copy())
    for key in adata.obsm.keys():
        out.obsm[key] = adata.obsm[key]
    if "feature_name" not in out.var and name == RAW_NAME and "feature_name" in adata.var:
        symbols = adata.var["feature_name"].astype(str)  # CELLxGENE keeps symbols in var
        out.var["feature_name"] = symbols.reindex(out.var_names).fillna("").to_numpy()
    return out


def available(adata: ad.AnnData) -> list[str]:
    """The matrices a user may name with --layer."""
    names = [X_NAME, *map(str, adata.layers.keys())]
    return names + ([RAW_NAME] if adata.raw is not None else [])


def _candidates(adata: ad.AnnData) -> list[str]:
    """Places counts are searched in, in order (after X)."""
    layers = list(map(str, adata.layers.keys()))
    by_case = {name.lower(): name for name in layers}
    named = [by_case[c] for c in COUNT_LAYERS if c in by_case]
    raw = [RAW_NAME] if adata.raw is not None and RAW_NAME not in by_case else []
    rest = [name for name in layers if name not in named]
    return named + raw + rest


def _lognorm(x) -> sp.csr_matrix:
    from .preprocess import as_csr, log_normalize

    return log_normalize(as_csr(x))


def choose_matrix(adata: ad.AnnData, layer: Optional[str] = None,
                  features: Optional[str] = None, task: str = "SC") -> RunMatrix:
    """The matrix the run prepares (see the module docstring); reads no label.

    layer: 'X', 'raw' or a layer name (``--layer``), checked and used as given (counts, or
    log-normalised / normalised values); None searches. features: the ``--features``
    setting; 'counts' needs counts. task 'ST': without counts, X is returned as it is (the
    caller treats it as processed features) instead of refused.
    """
    if layer is not None:
        if layer not in available(adata):
            raise ScrclInputError(f"--layer {layer}: the file has no such matrix (it has: "
                                  f"{', '.join(available(adata))}); choose one of them")
        return _given(adata, layer, features, task)
    x_content = _describe(adata, X_NAME)
    if x_content.is_counts:
        return RunMatrix(adata, "counts", X_NAME, x_content, "X is used as the counts")
    for name in _candidates(adata):
        content = _describe(adata, name)
        if content.is_counts:
            return RunMatrix(_with_matrix(adata, name, _matrix(adata, name)), "counts",
                             _where(name), x_content,
                             f"the counts are taken from {_where(name)}, which holds "
                             f"{content.describe()}")
    return _without_counts(adata, x_content, features, task)


def _describe(adata: ad.AnnData, name: str) -> MatrixContent:
    x = _matrix(adata, name)
    check_matrix(x, what=_where(name), counts=False)
    names = adata.var_names if name != RAW_NAME else adata.raw.var_names
    return describe_matrix(x, list(names[:50]))


def _given(adata: ad.AnnData, layer: str, features: Optional[str], task: str) -> RunMatrix:
    content = _describe(adata, layer)
    x_content = content if layer == X_NAME else _describe(adata, X_NAME)
    where = _where(layer)
    if content.is_counts:
        return RunMatrix(_with_matrix(adata, layer, _matrix(adata, layer)), "counts", where,
                         x_content, f"the counts are taken from {where} (--layer), which "
                                    f"holds {content.describe()}")
    if task == "ST":
        return RunMatrix(_with_matrix(adata, layer, _matrix(adata, layer)), "processed",
                         where, x_content, f"{where} (--layer), which holds "
                                           f"{content.describe()}, is used as processed "
                                           f"features")
    return _not_counts(adata, layer, content, x_content, features, where, "")


def _without_counts(adata: ad.AnnData, x_content: MatrixContent, features: Optional[str],
                    task: str) -> RunMatrix:
    searched = ", ".join(_where(n) for n in _candidates(adata)) or "no layer, no adata.raw"
    if task == "ST":
        return RunMatrix(adata, "processed", X_NAME, x_content,
                         f"no counts found ({searched} searched): X is used as processed "
                         f"features")
    return _not_counts(adata, X_NAME, x_content, x_content, features, "X",
                       f" and none was found ({searched} searched)")


def _not_counts(adata: ad.AnnData, name: str, content: MatrixContent,
                x_content: MatrixContent, features: Optional[str], where: str,
                looked: str) -> RunMatrix:
    """Log-normalised or normalised values as the run's log-normalised input, or an error."""
    fix = ("give the counts: keep them in layers['counts'] or adata.raw, or name them with "
           "--layer NAME")
    if content.kind in ("scaled", "reduced"):
        raise ScrclInputError(f"{where} holds {content.describe()} ({content.evidence}), not "
                              f"counts{looked}; cell types need raw or log-normalised counts: "
                              f"{fix}")
    if features == "counts":
        raise ScrclInputError(f"--features counts needs raw counts, but {where} holds "
                              f"{content.describe()}{looked}; {fix}, or use --features auto")
    x = _matrix(adata, name)
    if content.kind in ("lognorm", "normalized"):
        counts = recover_counts(x, logged=content.kind == "lognorm")
        if counts is not None:
            how = "expm1, then " if content.kind == "lognorm" else ""
            return RunMatrix(_with_matrix(adata, name, counts), "counts", f"{where} (recovered)",
                             x_content, f"no raw counts found: the counts were recovered from "
                             f"{where} ({how}each cell divided by its smallest value gives "
                             f"whole numbers in every cell)")
    use = f"no raw counts found: {where} is used as the log-normalised input"
    if content.kind == "normalized":
        x = _lognorm(x)
        use = (f"no raw counts found: {where} is normalised per cell to 1e4 and log1p-"
               f"transformed, then used as the log-normalised input")
    return RunMatrix(_with_matrix(adata, name, x), "lognorm", where, x_content, use)


def spatial_input(adata: ad.AnnData, layer: Optional[str] = None, preprocessed: str = "auto"
                  ) -> tuple[ad.AnnData, str, Optional[RunMatrix]]:
    """(AnnData to prepare, 'yes' or 'no' for ``prepare_st``'s ``preprocessed``, the
    RunMatrix or None) of spatial data. ``preprocessed`` 'yes'/'no' without ``layer``: X as
    it is, as asked. Otherwise the counts wherever they are, else X as processed features."""
    if preprocessed != "auto" and layer is None:
        return adata, preprocessed, None
    matrix = choose_matrix(adata, layer, task="ST")
    if preprocessed != "auto":
        return matrix.adata, preprocessed, matrix
    return matrix.adata, "no" if matrix.kind == "counts" else "yes", matrix
