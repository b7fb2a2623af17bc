"""Where each benchmark data set lives on disk, its short aliases and its public source."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from .._constants import DATA_DIR_ENV
from ..errors import ScrclInputError

CELL_BLAST = "Cell BLAST (https://cblast.gao-lab.org/download)"
HEMBERG = "the Hemberg lab scRNA-seq collection (https://hemberg-lab.github.io/scRNA.seq.datasets/)"
SPATIAL_LIBD = "spatialLIBD (http://spatial.libd.org/spatialLIBD/)"
TENX = "10x Genomics datasets (https://www.10xgenomics.com/datasets)"
MOSTA = "the MOSTA atlas (https://db.cngb.org/stomics/mosta/)"

#: scRNA-seq benchmark: full name -> public source of its file.
SC_SOURCES: dict[str, str] = {
    "Quake_Smart-seq2_Diaphragm": CELL_BLAST,
    "Quake_Smart-seq2_Lung": CELL_BLAST,
    "Quake_Smart-seq2_Trachea": CELL_BLAST,
    "Quake_10x_Bladder": CELL_BLAST,
    "Quake_10x_Limb_Muscle": CELL_BLAST,
    "Quake_10x_Spleen": CELL_BLAST,
    "Baron_human": CELL_BLAST,
    "li_tumor": HEMBERG,
    "human_ESC": HEMBERG,
    "Zeisel": HEMBERG,
}

SC_ALIASES: dict[str, str] = {
    "Diaphragm": "Quake_Smart-seq2_Diaphragm",
    "Lung": "Quake_Smart-seq2_Lung",
    "Trachea": "Quake_Smart-seq2_Trachea",
    "Bladder": "Quake_10x_Bladder",
    "Limb_Muscle": "Quake_10x_Limb_Muscle",
    "Spleen": "Quake_10x_Spleen",
    "Tumor": "li_tumor",
    "Human_ESC": "human_ESC",
}

DLPFC_SLICES = ("151507", "151508", "151509", "151510", "151669", "151670",
                "151671", "151672", "151673", "151674", "151675", "151676")

#: spatial benchmark: name -> (path relative to <data-dir>/stdata, label column, source)
ST_DATASETS: dict[str, tuple[str, str, str]] = {
    **{s: (f"DLPFC/{s}", "layer_guess", SPATIAL_LIBD) for s in DLPFC_SLICES},
    "Human_Breast_Cancer": ("Human_Breast_Cancer", "ground_truth", TENX),
    "Mouse_Brain_Anterior": ("Mouse_Brain_Anterior", "ground_truth", TENX),
    "Mouse_Embryo_E9.5": ("Mouse_Embryo_E9.5/E9.5_E1S1.MOSTA.h5ad", "annotation", MOSTA),
}


@dataclass(frozen=True)
class DatasetRef:
    """A resolved data set: the name results are filed under and the path to read."""

    name: str  # full benchmark name, or the file stem for an arbitrary path
    path: Optional[Path]  # None for the built-in demo
    benchmark: bool  # True when the name is one of the published benchmark sets
    label_key: Optional[str] = None  # the benchmark's label column, when known


def data_dir(explicit: Union[str, Path, None] = None) -> Path:
    """``--data-dir`` if given, else ``$SCRCL_DATA_DIR``, else ``./datasets``."""
    if explicit:
        return Path(explicit)
    return Path(os.environ.get(DATA_DIR_ENV) or "datasets")


def canonical_sc_name(name: str) -> Optional[str]:
    """Full benchmark name for a full name or an alias (case-insensitive), else None."""
    lowered = {n.lower(): n for n in SC_SOURCES}
    lowered.update({a.lower(): n for a, n in SC_ALIASES.items()})
    return lowered.get(name.lower())


def _looks_like_path(name: str) -> bool:
    return os.sep in name or name.endswith((".h5ad", ".h5")) or Path(name).exists()


def resolve_sc(name: str, data_dir_: Union[str, Path, None] = None) -> DatasetRef:
    """Resolve ``--dataset`` of runSC.py: ``demo``, a benchmark name or alias, or a path.

    Raises ScrclInputError with where to put the file and where to get it when a
    benchmark file is missing, or when a path does not exist.
    """
    if name == "demo":
        return DatasetRef("demo", None, benchmark=False)
    full = canonical_sc_name(name)
    if full is not None and not Path(name).exists():
        path = data_dir(data_dir_) / "scdata" / f"{full}.h5ad"
        if not path.is_file():
            raise ScrclInputError(
                f"benchmark data set {full} not found at {path}: download it from "
                f"{SC_SOURCES[full]}, save it as {path} (AnnData .h5ad with counts in X and "
                f"labels in obs['cell_type1']), or point --data-dir / ${DATA_DIR_ENV} at the "
                f"folder that holds scdata/")
        return DatasetRef(full, path, benchmark=True, label_key="cell_type1")
    if _looks_like_path(name):
        from .read import is_mtx_folder

        path = Path(name)
        if not path.exists():
            raise ScrclInputError(f"file not found: {path}; give a path to an existing .h5ad "
                                  f"file or a benchmark name (see datasets/README.md)")
        if path.is_dir():
            if not is_mtx_folder(path):
                raise ScrclInputError(f"{path} is a folder without matrix.mtx.gz; runSC.py "
                                      f"needs an .h5ad file, a 10x .h5 file or a 10x matrix "
                                      f"folder")
            return DatasetRef(path.resolve().name, path, benchmark=False)
        return DatasetRef(path.stem, path, benchmark=False)
    known = ", ".join(list(SC_SOURCES) + list(SC_ALIASES))
    raise ScrclInputError(f"unknown data set '{name}': give a path to an .h5ad file, 'demo', "
                          f"or one of {known}")
