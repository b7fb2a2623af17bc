"""A small synthetic count matrix with known cell types, for the demo and the tests."""
from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp


def synthetic_counts(n_cells: int = 600, n_genes: int = 400, n_types: int = 4,
                     markers_per_type: int = 40, seed: int = 0) -> ad.AnnData:
    """Negative-binomial counts of ``n_types`` cell types, each with its own marker genes
    (``markers_per_type`` genes drawn at random, 4 to 10 times their base mean).

    The defaults are the demo (``runSC.py --dataset demo``): 600 cells x 400 genes, 4 types
    of 40 markers each. Returns AnnData with CSR float32 counts in X and the type in
    ``obs['cell_type1']``.
    """
    rng = np.random.default_rng(seed)
    types = rng.integers(0, n_types, size=n_cells)
    base = rng.gamma(shape=0.6, scale=1.0, size=n_genes)  # mean expression per gene
    means = np.tile(base, (n_types, 1))
    for t in range(n_types):
        genes = rng.choice(n_genes, size=markers_per_type, replace=False)
        means[t, genes] *= rng.uniform(4.0, 10.0, size=markers_per_type)
    library = rng.lognormal(mean=0.0, sigma=0.3, size=n_cells)[:, None]
    mu = means[types] * library
    dispersion = 2.0
    counts = rng.negative_binomial(dispersion, dispersion / (dispersion + mu))
    obs = pd.DataFrame({"cell_type1": pd.Categorical([f"type{t}" for t in types])},
                       index=[f"cell{i}" for i in range(n_cells)])
    var = pd.DataFrame(index=[f"gene{j}" for j in range(n_genes)])
    return ad.AnnData(sp.csr_matrix(counts.astype(np.float32)), obs=obs, var=var)
