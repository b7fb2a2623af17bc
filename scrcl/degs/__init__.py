"""Marker genes (DEGs) of clusters, as the published ``draw_DEGs.py`` finds them.

* ``ranking``: log-normalisation, ``rank_genes_groups``, the published filter, the DEG
  table and the top markers (AnnData in, values out; no files).
* ``files``: the published label files (``pred_label_dict_<dataset>.mat``) and the run
  folders of ``runSC.py`` / ``runST.py``.
* ``analysis``: the whole analysis of ``draw_DEGs.py``: inputs located and checked, genes
  ranked, table and figures written atomically.
"""
from .files import (ANNDATA_FILE, LABEL_FILE_PREFIX, LABELS_FILE, METRICS_FILE, TASKS, Run,
                    dataset_from_label_file, find_runs, open_run, read_embedding,
                    read_label_mat, read_run_labels, write_label_mat)
from .ranking import (DEG_COLUMNS, FILTERED_KEY, METHODS, NORMALISE_TARGET, RANK_KEY,
                      DegFilter, Method, check_groups, degs_table, filter_ranking,
                      log_normalise, rank_genes, top_markers)

__all__ = ["ANNDATA_FILE", "DEG_COLUMNS", "FILTERED_KEY", "LABEL_FILE_PREFIX", "LABELS_FILE",
           "METHODS", "METRICS_FILE", "NORMALISE_TARGET", "RANK_KEY", "TASKS", "DegFilter",
           "Method", "Run", "check_groups", "dataset_from_label_file", "degs_table",
           "filter_ranking", "find_runs", "log_normalise", "open_run", "rank_genes",
           "read_embedding", "read_label_mat", "read_run_labels", "top_markers",
           "write_label_mat"]
