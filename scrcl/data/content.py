"""What an expression matrix holds, read from its values alone (never from a label).

Files as users have them rarely hold raw counts in ``X``: a scanpy workflow leaves
log-normalised values there (the counts in ``layers['counts']``), CELLxGENE and
Seurat-converted files keep the counts in ``adata.raw``, and some files hold scaled values
or principal components. :func:`describe_matrix` tells these apart by several signatures
rather than one cut:

=============  ==============================================================================
kind           signature
=============  ==============================================================================
counts         non-negative integers. UMI counts vs read counts of full-length protocols by
               a vote of three signatures of the non-zero values (:func:`count_type`)
normalized     non-negative, not all integers, and each cell's values are whole multiples
               of its smallest non-zero value (counts divided by a size factor, or times a
               constant), or each cell sums to the same total (CPM, ``normalize_total``)
lognorm        non-negative, not integers, and ``expm1`` of each cell is a whole multiple
               of its smallest non-zero value or sums to one total (log1p of normalised
               counts, scanpy's ``normalize_total`` + ``log1p``); or, weaker, every value
               under :data:`LOG_MAX` (log scale) without those exact signatures
scaled         negative values over many columns (genes centred or z-scored)
reduced        negative values in at most :data:`REDUCED_MAX_COLUMNS` columns named like
               components (PC1, ...) or whose variances fall column after column (PCA scores)
=============  ==============================================================================

Large matrices are judged on a fixed sample of :data:`SAMPLE_CELLS` cells (the negative and
integer checks read every value).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import scipy.sparse as sp

#: cells read for the per-cell signatures of a large matrix (a fixed, evenly spaced sample)
SAMPLE_CELLS = 2000
#: log1p of a normalised count rarely exceeds this (log1p(1e6) = 13.8)
LOG_MAX = 16.0
#: principal components come in tens to a few hundred columns
REDUCED_MAX_COLUMNS = 500
#: a ratio counts as a whole number within this relative tolerance (float32 values)
WHOLE_TOL = 2e-3
#: fraction of sampled cells whose signature must hold
CELL_SHARE = 0.9

#: count-type signatures: (name, test on the non-zero values, threshold). In UMI counts
#: most non-zero entries are single molecules (59-71% in the shared droplet stand-ins,
#: median 1, mean 2-7); in read counts of full-length protocols few are (13% in the
#: Fluidigm C1 stand-in, median 27, mean 137; a full-length panel seen elsewhere: 33%,
#: median 16, mean 585).
READS_MAX_ONES = 0.40  # reads: under 40% of the non-zero counts are 1
READS_MIN_MEDIAN = 4.0  # reads: the median non-zero count is 4 or more
READS_MIN_MEAN = 30.0  # reads: the mean non-zero count is 30 or more


@dataclass(frozen=True)
class MatrixContent:
    """What a matrix holds: ``kind`` (see the module table), ``count_type`` ('umi' or
    'reads' for counts, else None) and ``evidence``, one line a user can check."""

    kind: str
    evidence: str
    count_type: Optional[str] = None

    @property
    def is_counts(self) -> bool:
        return self.kind == "counts"

    def describe(self) -> str:
        """A short phrase: 'raw counts (UMI)', 'log-normalised values', ..."""
        names = {"counts": "raw counts", "lognorm": "log-normalised values",
                 "normalized": "normalised values (not log-transformed)",
                 "scaled": "scaled or centred values", "reduced": "reduced features (PCA "
                 "scores)"}
        text = names[self.kind]
        return f"{text} ({self.count_type_name})" if self.count_type else text

    @property
    def count_type_name(self) -> str:
        return {"umi": "UMI-like", "reads": "read counts"}.get(self.count_type or "", "")


def _nonzero_values(x) -> np.ndarray:
    if sp.issparse(x):
        values = np.asarray(x.data)
    else:
        values = np.asarray(x).ravel()
    return values[values != 0]


def _sample_rows(x, n: int = SAMPLE_CELLS):
    """Up to ``n`` evenly spaced rows of x (N, G), as CSR."""
    rows = x.shape[0]
    idx = np.unique(np.linspace(0, rows - 1, min(n, rows)).astype(int)) if rows else []
    sub = x[idx] if sp.issparse(x) else np.asarray(x)[idx]
    return sp.csr_matrix(sub, dtype=np.float64)


def count_type(values: np.ndarray) -> tuple[str, str]:
    """('umi' or 'reads', evidence) from the non-zero counts: reads when at least two of
    three signatures say so (few ones, a high median, a high mean); reads no label."""
    values = values[values != 0]
    if values.size == 0:
        return "umi", "no non-zero value"
    ones = float(np.mean(values == 1))
    median, mean = float(np.median(values)), float(np.mean(values))
    votes = int(ones < READS_MAX_ONES) + int(median >= READS_MIN_MEDIAN) + int(mean >= READS_MIN_MEAN)
    kind = "reads" if votes >= 2 else "umi"
    return kind, (f"{ones:.0%} of the non-zero counts are 1, median {median:g}, mean "
                  f"{mean:.3g}: {votes} of 3 signatures of read counts")


def _whole_multiples(rows: sp.csr_matrix) -> float:
    """Share of the non-empty rows whose values are whole multiples of the row's smallest
    non-zero value (all but 1% of them, within WHOLE_TOL)."""
    good = total = 0
    for i in range(rows.shape[0]):
        values = rows.data[rows.indptr[i]:rows.indptr[i + 1]]
        values = values[values > 0]
        if values.size < 2:
            continue
        total += 1
        ratio = values / values.min()
        off = np.abs(ratio - np.round(ratio)) <= WHOLE_TOL * np.maximum(1.0, ratio)
        good += bool(np.mean(off) >= 0.99)
    return good / total if total else 0.0


def _equal_sums(rows: sp.csr_matrix) -> Optional[float]:
    """The common row total when every non-empty row sums to it (relative spread 1e-3)."""
    sums = np.asarray(rows.sum(axis=1)).ravel()
    sums = sums[sums > 0]
    if sums.size < 2:
        return None
    return float(np.median(sums)) if (sums.max() - sums.min()) <= 1e-3 * sums.max() else None


_COMPONENT = re.compile(r"^(pc|pca|comp|component|dim|x_pca)[_ ]?\d+$", re.IGNORECASE)


def _looks_reduced(x, names: Optional[Sequence[str]]) -> Optional[str]:
    if x.shape[1] > REDUCED_MAX_COLUMNS:
        return None
    if names is not None and len(names) and all(_COMPONENT.match(str(n)) for n in names):
        return f"{x.shape[1]} columns named like components ({names[0]}, ...)"
    dense = _sample_rows(x, 10 * SAMPLE_CELLS).toarray()
    var = dense.var(axis=0)
    if var.size >= 5 and np.mean(np.diff(var) <= 0) >= 0.8 and \
            np.all(np.abs(dense.mean(axis=0)) <= 0.1 * np.sqrt(var.max()) + 1e-12):
        return (f"{x.shape[1]} centred columns whose variances fall column after column, as "
                f"PCA scores")
    return None


def describe_matrix(x, names: Optional[Sequence[str]] = None) -> MatrixContent:
    """What x (N, G) holds, from its values (and, for PCA scores, its column ``names``).

    The matrix must be finite (checked elsewhere); an empty or all-zero matrix is 'counts'.
    """
    values = _nonzero_values(x)
    if values.size == 0:
        return MatrixContent("counts", "no non-zero value", "umi")
    whole = np.abs(values - np.round(values)) <= 1e-6 * np.maximum(1.0, np.abs(values))
    if values.min() < 0:
        negative = float(np.mean(values < 0))
        if whole.all() and negative < 0.05:  # counts with a few corrupt entries
            return MatrixContent("counts", f"integers, but {int(np.sum(values < 0))} of "
                                           f"them negative", count_type(values[values > 0])[0])
        reduced = _looks_reduced(x, names)
        if reduced:
            return MatrixContent("reduced", f"negative values; {reduced}")
        return MatrixContent("scaled", f"{negative:.0%} of the non-zero values are negative, "
                                       f"as in centred or z-scored genes")
    whole = np.abs(values - np.round(values)) <= 1e-6 * np.maximum(1.0, np.abs(values))
    if whole.all():
        kind, why = count_type(values)
        return MatrixContent("counts", f"non-negative integers; {why}", kind)
    rows = _sample_rows(x)
    for kind, step, what in (("normalized", "", "normalised per cell, not log-transformed"),
                             ("lognorm", "after expm1, ", "log1p of normalised counts")):
        if step:
            rows.data = np.expm1(rows.data)
        share = _whole_multiples(rows)
        if share >= CELL_SHARE:
            return MatrixContent(kind, f"not integers; {step}in {share:.0%} of the cells every "
                                       f"value is a whole multiple of the cell's smallest one "
                                       f"({what})")
        total = _equal_sums(rows)
        if total is not None:
            return MatrixContent(kind, f"not integers; {step}every cell sums to {total:.4g} "
                                       f"({what})")
    if values.max() <= LOG_MAX:
        return MatrixContent("lognorm", f"not integers, all values in 0-{values.max():.3g} "
                                        f"(the range of log1p of normalised counts)")
    return MatrixContent("normalized", f"not integers, values up to {values.max():.4g}: "
                                       f"normalised or transformed counts of unknown kind")


def recover_counts(x, logged: bool) -> Optional[sp.csr_matrix]:
    """The counts behind normalised values, when every cell allows it, else None.

    A cell's values (after ``expm1`` when ``logged``) are its counts times one factor (the
    size factor, or normalize_total's target over its library); divided by the cell's
    smallest non-zero value they are its counts, provided the cell has a count of 1 (in
    droplet and full-length data nearly every cell has). Returned only when in every cell
    every ratio is a whole number (within WHOLE_TOL); x: (N, G), non-negative, finite.
    """
    rows = sp.csr_matrix(x, dtype=np.float64, copy=True)
    rows.eliminate_zeros()
    if logged:
        rows.data = np.expm1(rows.data)
    lengths = np.diff(rows.indptr)
    if rows.nnz == 0:
        return None
    minima = np.minimum.reduceat(rows.data, rows.indptr[:-1][lengths > 0])
    per_row = np.zeros(rows.shape[0])
    per_row[lengths > 0] = minima
    ratio = rows.data / np.repeat(per_row, lengths)
    whole = np.round(ratio)
    if np.any(np.abs(ratio - whole) > WHOLE_TOL * np.maximum(1.0, ratio)):
        return None
    rows.data = whole.astype(np.float32)
    return rows.astype(np.float32)
