"""Finding and choosing clusters on a learnt embedding (scanpy's ``tl`` layer for scrcl).

* ``kmeans``: cosine k-means (k-means++, restarts), the published clusterer.
* ``mixture``: Gaussian mixture with one shared full covariance (mclust 'EEE').
* ``leiden``: Leiden on a kNN graph, with the resolution searched to give K.
* ``ward``: Ward's agglomerative clustering of the embedding's principal components.
* ``selection``: the label-free choice of the final clustering among epochs.
* ``estimate_k``: the number of clusters without labels.
* ``spatial_smoothing``: spatial label refinement (majority vote of the nearest spots).
"""
from .kmeans import KMeansResult, kmeans_cosine

__all__ = ["KMeansResult", "kmeans_cosine"]
