"""Files of marker-gene analysis: the published label format
(``pred_label_dict_<dataset>.mat``: one integer vector per seed, keyed by the seed) and the
run folders written by ``runSC.py`` / ``runST.py`` (labels.csv, metrics.json, scrcl.h5ad)."""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Union

import numpy as np
import pandas as pd

from ..errors import ScrclInputError
from ..io import atomic_path

logger = logging.getLogger(__name__)

LABEL_FILE_PREFIX = "pred_label_dict_"
_SEED_KEY = re.compile(r"^(?:seed_?)?(\d+)$")


def read_label_mat(path: Union[str, Path]) -> dict[int, np.ndarray]:
    """Read a published label file: ``{seed: (N,) int labels}``, sorted by seed.

    Keys may be the bare seed (``'5'``, as published) or ``'seed5'``; MATLAB header
    entries are ignored. Raises ScrclInputError when the file cannot be read or holds no
    seed-keyed vector.
    """
    from scipy.io import loadmat

    path = Path(path)
    if not path.is_file():
        raise ScrclInputError(f"label file not found: {path}; give the path to a "
                              f"{LABEL_FILE_PREFIX}<dataset>.mat file")
    try:
        content = loadmat(str(path))
    except Exception as exc:  # scipy raises several types for a file that is not .mat
        raise ScrclInputError(f"cannot read {path} as a MATLAB .mat file ({exc}); give a file "
                              f"written by scipy.io.savemat with one label vector per seed")
    labels: dict[int, np.ndarray] = {}
    for key, value in content.items():
        match = _SEED_KEY.match(key)
        if match is None or not isinstance(value, np.ndarray):
            continue
        vector = np.asarray(value).ravel()
        if vector.dtype.kind == "f" and np.all(vector == np.round(vector)):
            vector = vector.astype(np.int64)
        labels[int(match.group(1))] = vector
    if not labels:
        raise ScrclInputError(f"{path} holds no label vector keyed by a seed (keys: "
                              f"{', '.join(k for k in content if not k.startswith('__'))}); "
                              f"expected keys such as '5', '15'")
    return dict(sorted(labels.items()))


def write_label_mat(path: Union[str, Path], labels: Mapping[int, np.ndarray]) -> None:
    """Write ``{seed: labels}`` in the published format (keys are the seeds), atomically."""
    from scipy.io import savemat

    with atomic_path(Path(path)) as tmp:
        with open(tmp, "wb") as fh:
            savemat(fh, {str(int(seed)): np.asarray(v).ravel() for seed, v in labels.items()})


def dataset_from_label_file(path: Union[str, Path]) -> Optional[str]:
    """``Baron_human`` for ``pred_label_dict_Baron_human.mat``; None for other names."""
    stem = Path(path).stem
    if not stem.startswith(LABEL_FILE_PREFIX):
        return None
    return stem[len(LABEL_FILE_PREFIX):] or None


# ---------------------------------------------------------------------------------------
# run directories written by runSC.py / runST.py
# ---------------------------------------------------------------------------------------

LABELS_FILE = "labels.csv"
CONSENSUS_COLUMN = "consensus"  # labels.csv: one partition from the seeds' partitions
METRICS_FILE = "metrics.json"
ANNDATA_FILE = "scrcl.h5ad"
TASKS = ("SC", "ST")


@dataclass(frozen=True)
class Run:
    """A run directory: ``<results>/<task>/<dataset>/`` with labels.csv (and usually more)."""

    path: Path
    task: str  # "SC" or "ST" (the name of the parent folder), "SC" when unknown
    dataset: str  # metrics.json 'dataset', else the folder name
    seeds: tuple[int, ...]
    label_key: Optional[str]  # metrics.json 'label_key'
    input: Optional[Path] = None  # metrics.json 'input': the file runSC.py read, if a file
    has_consensus: bool = False  # labels.csv has the seeds' consensus column


    @property
    def anndata_path(self) -> Path:
        return self.path / ANNDATA_FILE


def _seed_columns(columns) -> dict[int, str]:
    seeds = {}
    for col in columns:
        match = _SEED_KEY.match(str(col))
        if match is not None:
            seeds[int(match.group(1))] = col
    return seeds


def open_run(path: Union[str, Path]) -> Run:
    """Describe the run in ``path``; raises ScrclInputError when it has no labels.csv."""
    path = Path(path)
    labels = path / LABELS_FILE
    if not labels.is_file():
        raise ScrclInputError(f"no {LABELS_FILE} in {path}: give the folder that runSC.py or "
                              f"runST.py wrote (results/SC/<dataset>/)")
    metrics: dict = {}
    if (path / METRICS_FILE).is_file():
        try:
            metrics = json.loads((path / METRICS_FILE).read_text())
        except (OSError, ValueError) as exc:
            logger.warning("cannot read %s: %s", path / METRICS_FILE, exc)
    header = pd.read_csv(labels, nrows=0).columns
    seeds = tuple(sorted(_seed_columns(header[1:])))
    if not seeds:
        raise ScrclInputError(f"{labels} has no seed<S> column of cluster labels; rerun runSC.py")
    task = path.parent.name if path.parent.name in TASKS else "SC"
    source = metrics.get("input")
    source = Path(source) if isinstance(source, str) and Path(source).is_file() else None
    return Run(path=path, task=task, dataset=str(metrics.get("dataset") or path.name),
               seeds=seeds, label_key=metrics.get("label_key"), input=source,
               has_consensus=CONSENSUS_COLUMN in header)


def read_run_labels(run: Run, seed: Optional[int]) -> pd.Series:
    """Cluster labels of one seed (None: the seeds' consensus), indexed by cell id (as
    strings)."""
    table = pd.read_csv(run.path / LABELS_FILE, index_col=0, dtype={0: str})
    table.index = table.index.astype(str)
    if seed is None:
        if CONSENSUS_COLUMN not in table.columns:
            raise ScrclInputError(f"{run.path / LABELS_FILE} has no '{CONSENSUS_COLUMN}' "
                                  f"column (a run of one seed); pick a seed with --seed")
        return table[CONSENSUS_COLUMN]
    columns = _seed_columns(table.columns)
    if seed not in columns:
        raise ScrclInputError(f"seed {seed} was not run in {run.path} (seeds: "
                              f"{', '.join(map(str, sorted(columns)))}); pick one with --seed")
    return table[columns[seed]].rename(f"seed{seed}")


def find_runs(results_root: Union[str, Path]) -> list[Run]:
    """Every run under ``results_root/{SC,ST}/*/``, most recent (labels.csv mtime) first."""
    root = Path(results_root)
    found = []
    for task in TASKS:
        for labels in (root / task).glob(f"*/{LABELS_FILE}"):
            try:
                found.append((labels.stat().st_mtime, open_run(labels.parent)))
            except ScrclInputError as exc:
                logger.warning("skipping %s: %s", labels.parent, exc)
    found.sort(key=lambda item: item[0], reverse=True)
    return [run for _, run in found]


def read_embedding(path: Union[str, Path], key: str) -> Optional[pd.DataFrame]:
    """``obsm[key]`` of an h5ad file as a (cells x dims) frame indexed by cell id, or None.

    Opens the file in backed mode so that X (the counts) is not loaded.
    """
    import anndata as ad

    path = Path(path)
    if not path.is_file():
        return None
    adata = ad.read_h5ad(path, backed="r")
    try:
        if key not in adata.obsm:
            return None
        return pd.DataFrame(np.asarray(adata.obsm[key]), index=adata.obs_names.astype(str))
    finally:
        adata.file.close()
