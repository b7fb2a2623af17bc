"""Gaussian mixture with one shared full covariance: mclust's 'EEE' model, in Python.

mclust's EEE (ellipsoidal, equal volume, shape and orientation) is a mixture whose
components share one full covariance matrix, with free means and mixing proportions:
scikit-learn's ``GaussianMixture(covariance_type='tied')`` is exactly that model, fitted by
EM. It replaces the R/rpy2 ``mclust`` call of the reference code.
"""
from __future__ import annotations

import numpy as np


def gmm_eee(x, k: int, seed: int = 0, n_init: int = 1, max_iter: int = 500,
            reg_covar: float = 1e-6) -> np.ndarray:
    """Labels (N,) in 0..k-1 of an EEE Gaussian mixture fitted to ``x: (N, d) float``.

    Initialised from k-means (seeded), so the result is deterministic for a given seed.
    """
    from sklearn.mixture import GaussianMixture

    x = np.asarray(x, dtype=np.float64)
    if not 1 <= k <= x.shape[0]:
        raise ValueError(f"k must be between 1 and the number of points ({x.shape[0]}), got {k}")
    model = GaussianMixture(k, covariance_type="tied", n_init=n_init, max_iter=max_iter,
                            reg_covar=reg_covar, init_params="kmeans", random_state=seed)
    labels = model.fit_predict(x)
    _, first = np.unique(labels, return_index=True)
    order = labels[np.sort(first)]
    mapping = np.zeros(k, dtype=np.int64)
    mapping[order] = np.arange(order.size)
    return mapping[labels]
