"""The catalogue of bad inputs: every case gives one line ``error: ...`` on stderr, exit code 2,
no traceback, no warning and no results folder.

``CATALOGUE`` is the one list: the README's table (section "Bad input") is rendered from it
and ``test_readme_table_is_the_catalogue`` fails when the two differ, printing the table to
paste. The cases run the scripts' ``main(argv)`` in this process (fast); one test runs two
of them as real processes.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from _shared_data import REPO, shared_file
from scrcl.cli import sc as sc_cli
from scrcl.cli import st as st_cli

FAST = ["--epochs", "2", "--hid-dim", "16", "--seeds", "5", "--quiet"]
CATALOGUE_PAGE = REPO / "docs" / "bad-input.md"  # the documentation page of the table
TABLE_START = "<!-- bad-input catalogue: rendered from tests/test_bad_inputs.py -->"
TABLE_END = "<!-- end of the catalogue -->"


# ----------------------------------------------------------------------------- input files

def _adata(n: int = 60, genes: int = 150) -> ad.AnnData:
    """Poisson counts of 3 types (20 marker genes each); every gene expressed somewhere."""
    rng = np.random.default_rng(1)
    types = np.arange(n) % 3
    means = np.full((3, genes), 0.5)
    for t in range(3):
        means[t, t * 20:(t + 1) * 20] = 5.0
    x = rng.poisson(means[types]).astype(np.float32)
    x[np.arange(genes) % n, np.arange(genes)] += 1
    obs = pd.DataFrame({"cell_type1": pd.Categorical([f"type{t}" for t in types])},
                       index=[f"cell{i}" for i in range(n)])
    return ad.AnnData(sp.csr_matrix(x), obs=obs, var=pd.DataFrame(index=[f"g{j}" for j in
                                                                         range(genes)]))


def _write(tmp: Path, adata: ad.AnnData, name: str = "data.h5ad") -> Path:
    path = tmp / name
    adata.write_h5ad(path)
    return path


def counts(edit: Optional[Callable[[ad.AnnData], Optional[ad.AnnData]]] = None,
           name: str = "data.h5ad") -> Callable[[Path], Path]:
    """A builder of a small labelled count file, changed by ``edit``."""
    def build(tmp: Path) -> Path:
        adata = _adata()
        if edit is not None:
            adata = edit(adata) or adata
        return _write(tmp, adata, name)
    return build


def spatial(edit: Optional[Callable[[ad.AnnData], Optional[ad.AnnData]]] = None
            ) -> Callable[[Path], Path]:
    """A builder of a small labelled spatial count file (60 spots on a grid)."""
    def with_coords(adata: ad.AnnData) -> ad.AnnData:
        grid = np.stack(np.meshgrid(np.arange(10), np.arange(6)), -1).reshape(-1, 2)
        adata.obsm["spatial"] = grid.astype(np.float64) * 100
        adata.obs["ground_truth"] = adata.obs["cell_type1"]
        return (edit(adata) or adata) if edit is not None else adata
    return counts(with_coords, "spots.h5ad")


def _dense_edit(change: Callable[[np.ndarray], None]):
    def edit(adata: ad.AnnData) -> None:
        x = adata.X.toarray()
        change(x)
        adata.X = sp.csr_matrix(x)
    return edit


def _set(i, j, value):
    def change(x: np.ndarray) -> None:
        x[i, j] = value
    return _dense_edit(change)


def _obs(column: str, values):
    def edit(adata: ad.AnnData) -> None:
        adata.obs[column] = values(adata) if callable(values) else values
    return edit


def _unlabelled(adata: ad.AnnData) -> None:
    del adata.obs["cell_type1"]


def _rename(axis: str):
    def edit(adata: ad.AnnData) -> None:
        names = list(getattr(adata, axis))
        names[1] = names[0]
        setattr(adata, axis, names)
    return edit


def text_file(tmp: Path) -> Path:
    path = tmp / "data.h5ad"
    path.write_text("cell,gene0,gene1\ncell0,1,2\ncell1,0,3\n")
    return path


def cut(source: Callable[[Path], Path], name: str, keep: float = 0.5
        ) -> Callable[[Path], Path]:
    """A builder of the first ``keep`` of the bytes of the file ``source`` builds."""
    def build(tmp: Path) -> Path:
        whole = source(tmp).read_bytes()
        path = tmp / name
        path.write_bytes(whole[: int(len(whole) * keep)])
        return path
    return build


def plain_hdf5(name: str) -> Callable[[Path], Path]:
    """A builder of an HDF5 file holding one array, neither AnnData nor 10x."""
    def build(tmp: Path) -> Path:
        path = tmp / name
        with h5py.File(path, "w") as fh:
            fh["matrix"] = np.ones((4, 3))
        return path
    return build


truncated = cut(counts(), "cut.h5ad")


def empty_matrix(tmp: Path) -> Path:
    return _write(tmp, ad.AnnData(sp.csr_matrix((0, 5), dtype=np.float32)))


def short_coordinates(tmp: Path) -> Path:
    """obsm['spatial'] with fewer rows than spots (written past anndata's own check)."""
    path = spatial()(tmp)
    with h5py.File(path, "a") as fh:
        attrs = dict(fh["obsm/spatial"].attrs)
        rows = fh["obsm/spatial"][:40]
        del fh["obsm/spatial"]
        fh["obsm/spatial"] = rows
        fh["obsm/spatial"].attrs.update(attrs)
    return path


def visium_without_matching_positions(tmp: Path) -> Path:
    folder = tmp / "visium"
    shutil.copytree(shared_file("formats/visium_tiny"), folder)
    positions = folder / "spatial" / "tissue_positions_list.csv"
    table = pd.read_csv(positions, header=None)
    table[0] = [f"NOPE{i}-1" for i in range(len(table))]
    table.to_csv(positions, header=False, index=False)
    return folder


def empty_folder(tmp: Path) -> Path:
    folder = tmp / "folder"
    folder.mkdir()
    return folder


def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def under_a_file(tmp: Path) -> Path:
    (tmp / "a_file").write_text("not a folder")
    return tmp / "a_file" / "out"


def existing_file(tmp: Path) -> Path:
    path = tmp / "out"
    path.write_text("a file where the results folder should go")
    return path


def _lognorm_x(adata: ad.AnnData) -> ad.AnnData:
    """X log-normalised as scanpy's tutorials leave it (normalize_total 1e4, log1p)."""
    x = adata.X.toarray()
    x = np.log1p(x / x.sum(axis=1, keepdims=True) * 1e4)
    adata.X = sp.csr_matrix(x.astype(np.float32))
    return adata


def _scaled_x(adata: ad.AnnData) -> None:
    """X centred and scaled per gene, as sc.pp.scale leaves it; no counts kept."""
    x = _lognorm_x(adata).X.toarray()
    adata.X = ((x - x.mean(0)) / (x.std(0) + 1e-6)).astype(np.float32)


def _pca_x(adata: ad.AnnData) -> ad.AnnData:
    """X replaced by 10 principal components (columns PC1..PC10); no counts kept."""
    x = adata.X.toarray()
    x = x - x.mean(0)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    pcs = (u[:, :10] * s[:10]).astype(np.float32)
    return ad.AnnData(pcs, obs=adata.obs, var=pd.DataFrame(index=[f"PC{i + 1}" for i in
                                                                  range(10)]))


def _layer(name: str, change: Optional[Callable[[np.ndarray], None]] = None):
    """X log-normalised, the counts (changed by ``change``) in layers[name]."""
    def edit(adata: ad.AnnData) -> None:
        x = adata.X.toarray()
        if change is not None:
            change(x)
        _lognorm_x(adata)
        adata.layers[name] = sp.csr_matrix(x)
    return edit


def _coords(values: Callable[[np.ndarray], np.ndarray]):
    def edit(adata: ad.AnnData) -> None:
        adata.obsm["spatial"] = values(np.asarray(adata.obsm["spatial"], dtype=np.float64))
    return edit


def _one_place(c: np.ndarray) -> np.ndarray:
    return np.tile(c[:1], (c.shape[0], 1))


def _on_a_line(c: np.ndarray) -> np.ndarray:
    c = c.copy()
    c[:, 1] = 7.0
    return c


def _stacked(c: np.ndarray) -> np.ndarray:
    return np.repeat(c[::6], 6, axis=0)  # 60 spots on 10 positions


def mtx_without_barcodes(tmp: Path) -> Path:
    import scipy.io

    folder = tmp / "filtered_feature_bc_matrix"
    folder.mkdir()
    scipy.io.mmwrite(folder / "matrix.mtx", _adata().X.T.tocoo())
    pd.DataFrame({"id": [f"g{j}" for j in range(150)], "name": [f"g{j}" for j in range(150)],
                  "type": "Gene Expression"}).to_csv(folder / "features.tsv", sep="\t",
                                                     header=False, index=False)
    return folder


def named(name: str, text: str = "x") -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        path = tmp / name
        path.write_text(text)
        return path
    return build


def some_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


# ----------------------------------------------------------------------------- the catalogue

@dataclass(frozen=True)
class Case:
    """One bad input: what it is (README), a part of its error line, how to make it."""

    input: str  # the README's "input" column
    message: str  # a part of the error line (the README's "message" column)
    data: Optional[Callable[[Path], Path]]  # builds the --dataset file or folder (None: no file)
    options: tuple = ()  # further options (after the fast defaults, so they win)
    script: str = "runSC.py"
    out: Optional[Callable[[Path], Path]] = None  # its own --out (default tmp/out)
    patch: Optional[Callable[[pytest.MonkeyPatch], None]] = None

    @property
    def row(self) -> str:
        return f"| {self.input} | `{self.message}` | 2 |"


ST = "runST.py"
CATALOGUE: list[Case] = [
    Case("`--dataset` file that does not exist", "file not found", lambda t: t / "nope.h5ad"),
    Case("`--dataset` name that is neither a file nor a benchmark", "unknown data set 'no_such_set'",
         None, ("--dataset", "no_such_set")),
    Case("benchmark name whose file is not in `--data-dir`",
         "benchmark data set Quake_Smart-seq2_Diaphragm not found", None,
         ("--dataset", "Diaphragm", "--data-dir", "{tmp}")),
    Case("spatial benchmark name whose files are not in `--data-dir` (runST.py)",
         "filtered_feature_bc_matrix.h5 not found", None,
         ("--dataset", "151507", "--data-dir", "{tmp}"), script=ST),
    Case("a folder without a 10x matrix given to runSC.py",
         "is a folder without matrix.mtx.gz; runSC.py needs an .h5ad file", empty_folder),
    Case("a folder without Visium files given to runST.py",
         "is a folder without filtered_feature_bc_matrix.h5", empty_folder, script=ST),
    Case("a CSV (text) file named `.h5ad`", "is not an HDF5/.h5ad file", text_file),
    Case("a truncated (corrupt) `.h5ad`", "the HDF5 file is truncated or corrupt", truncated),
    Case("an HDF5 file that is not AnnData", "is an HDF5 file but not AnnData",
         plain_hdf5("plain.h5ad")),
    Case("empty matrix (0 cells)", "the expression matrix X is empty", empty_matrix),
    Case("every count zero", "every value of the expression matrix X is zero",
         counts(_dense_edit(lambda x: x.fill(0)))),
    Case("fewer than 3 cells with any count", "only 2 cells have expressed genes",
         counts(_dense_edit(lambda x: x.__setitem__(slice(2, None), 0)))),
    Case("NaN in X", "contains NaN or infinite values", counts(_set(0, 0, np.nan))),
    Case("infinity in X", "contains NaN or infinite values", counts(_set(3, 2, np.inf))),
    Case("negative counts", "has negative values but counts are expected",
         counts(_set(1, 1, -3))),
    Case("X of complex numbers (integer counts of any width work)", "not numbers",
         counts(lambda a: ad.AnnData(a.X.toarray().astype(np.complex64), obs=a.obs))),
    Case("repeated cell ids", "cell ids (obs_names) are repeated", counts(_rename("obs_names"))),
    Case("repeated gene names", "gene names (var_names) are repeated",
         counts(_rename("var_names"))),
    Case("`--label-key` column missing", "no label column obs['celltype']", counts(),
         ("--label-key", "celltype")),
    Case("label column with no label at all", "holds no label (all 60 are missing)",
         counts(_obs("cell_type1", np.nan))),
    Case("label column with a single class", "holds a single class ('A')",
         counts(_obs("cell_type1", "A"))),
    Case("label column with some labels missing (runSC.py; runST.py drops those spots)",
         "has 1 missing labels; drop those cells",
         counts(_obs("cell_type1", lambda a: a.obs["cell_type1"].astype(object)
                     .where(np.arange(a.n_obs) != 0)))),
    Case("`--n-clusters 1`", "needs at least 2 clusters, got 1", counts(),
         ("--n-clusters", "1")),
    Case("`--n-clusters` not a number", "expected a whole number or 'auto', got 'many'",
         counts(), ("--n-clusters", "many")),
    Case("`--n-clusters` above the number of cells",
         "500 clusters asked for but the data has only 60 cells", counts(),
         ("--n-clusters", "500")),
    Case("`--seeds` with no value", "argument --seeds: expected at least one argument",
         counts(), ("--seeds",)),
    Case("`--seeds` repeated", "--seeds has repeated values (5 5)", counts(),
         ("--seeds", "5", "5")),
    Case("`--epochs 0`", "--epochs must be positive, got 0", counts(), ("--epochs", "0")),
    Case("`--dropout 1`", "--dropout must be in [0, 1), got 1.0", counts(), ("--dropout", "1")),
    Case("`--batch-size` negative", "--batch-size must be 0 (whole data set) or positive, "
         "got -5", counts(), ("--batch-size", "-5")),
    Case("`--hvg` above the expressed genes", "--hvg 100000 is more than the number of "
         "expressed genes (150)", counts(), ("--hvg", "100000")),
    Case("`--k` above the cells", "--k 500 is more than the neighbours the 60 cells allow (59)",
         counts(), ("--k", "500")),
    Case("`--gene-k` above the genes kept", "--gene-k 400 is more than the number of genes "
         "kept (150)", counts(), ("--gene-k", "400")),
    Case("`--preset` unknown (runST.py)", "unknown --preset 'Zeisel'", spatial(),
         ("--preset", "Zeisel"), script=ST),
    Case("`--device` unknown", "unknown device 'tpu'", counts(), ("--device", "tpu")),
    Case("`--device cuda` where no GPU is visible", "no CUDA GPU is visible", counts(),
         ("--device", "cuda"), patch=no_gpu),
    Case("`--threads 0`", "--threads must be at least 1, got 0", counts(), ("--threads", "0")),
    Case("`--protocol oracle` on data without labels", "--protocol oracle scores every epoch",
         counts(_unlabelled), ("--protocol", "oracle", "--n-clusters", "3")),
    Case("`--resume` with `--protocol oracle`", "--resume works with --protocol final only",
         counts(), ("--resume", "--protocol", "oracle")),
    Case("spatial coordinates missing (runST.py)", "has no spot coordinates obsm['spatial']",
         counts(), script=ST),
    Case("spatial coordinates with NaN (runST.py)", "has NaN or infinite coordinates for 1 spots",
         spatial(lambda a: a.obsm["spatial"].__setitem__((4, 0), np.nan)), script=ST),
    Case("spatial coordinates with fewer rows than spots (runST.py)",
         "has 40 rows but the data has 60 cells", short_coordinates, script=ST),
    Case("Visium folder whose positions match no barcode (runST.py)",
         "have no position in", visium_without_matching_positions, script=ST),
    Case("`--radius` above the spots (runST.py)",
         "--radius 60 is more than the neighbours the 60 spots allow (59)", spatial(),
         ("--radius", "60"), script=ST),
    Case("`--radius` negative (runST.py)", "--radius must be 0 (off) or positive", spatial(),
         ("--radius", "-1"), script=ST),
    Case("`--out` inside a file (a folder that cannot be written)",
         "cannot write the results folder", counts(), out=under_a_file),
    Case("`--out` is an existing file", "is a file, not a folder; choose another --out",
         counts(), out=existing_file),
    Case("loss turns non-finite in training (here `--lr 1e30`)",
         "training diverged: the model's output became non-finite after epoch 1; lower --lr",
         counts(), ("--lr", "1e30")),
    Case("unknown option", "unrecognized arguments: --nope", counts(), ("--nope",)),
    # files as users have them: what X holds, where the counts are, other formats
    Case("X scaled (negative values) and no counts in a layer or `adata.raw`",
         "X holds scaled or centred values", counts(_scaled_x)),
    Case("X holds PCA scores and no counts", "X holds reduced features (PCA scores)",
         counts(_pca_x)),
    Case("`--layer` that the file does not have", "--layer spliced: the file has no such "
         "matrix (it has: X, counts)", counts(_layer("counts")), ("--layer", "spliced")),
    Case("`--layer raw` where the file has no `adata.raw`", "--layer raw: the file has no such "
         "matrix", counts(), ("--layer", "raw")),
    Case("`--layer` holding scaled values", "layers['scaled'] holds scaled or centred values",
         counts(lambda a: a.layers.__setitem__("scaled", np.where(a.X.toarray() > 2, 1.5,
                                                                  -0.5).astype(np.float32))),
         ("--layer", "scaled")),
    Case("counts layer with NaN", "the expression matrix layers['counts'] contains NaN",
         counts(_layer("counts", lambda x: x.__setitem__((0, 0), np.nan)))),
    Case("counts layer with negative counts", "has negative values but counts are expected",
         counts(_layer("counts", lambda x: x.__setitem__((2, 2), -1))), ("--layer", "counts")),
    Case("`--features counts` where X is scaled and no counts exist",
         "X holds scaled or centred values", counts(_scaled_x), ("--features", "counts")),
    Case("an R object (`.rds`)", "is an R object: write it as .h5ad", named("data.rds")),
    Case("a loom file", "is a loom file: convert it", named("data.loom")),
    Case("a CSV table", "is a text table: convert it", named("data.csv", "a,b\n1,2\n")),
    Case("a lone Matrix Market file", "is a lone Matrix Market file", named("matrix.mtx")),
    Case("10x matrix folder without barcodes", "10x matrix folder without barcodes.tsv.gz",
         mtx_without_barcodes),
    Case("an HDF5 `.h5` that is neither AnnData nor 10x", "neither AnnData nor a 10x Genomics "
         "matrix", plain_hdf5("matrix.h5")),
    Case("a truncated 10x `.h5`", "the HDF5 file is truncated or corrupt",
         cut(lambda t: shared_file("formats/visium_tiny/filtered_feature_bc_matrix.h5"),
             "cut.h5", keep=1 / 3)),
    Case("all spots at one position (runST.py)", "all 60 spots of", spatial(_coords(_one_place)),
         script=ST),
    Case("a constant coordinate: spots on a line (runST.py)", "so they lie on a line",
         spatial(_coords(_on_a_line)), script=ST),
    Case("most spots stacked on others (runST.py)", "50 of the 60 spots",
         spatial(_coords(_stacked)), script=ST),
    Case("coordinates of one column (runST.py)", "must be an (N, 2) array",
         spatial(_coords(lambda c: c[:, :1])), script=ST),
    Case("`--n-clusters 0`", "needs at least 2 clusters, got 0", counts(), ("--n-clusters", "0")),
    Case("`--seeds` negative", "--seeds must be 0 or positive, got -1", counts(),
         ("--seeds", "-1")),
    Case("`--select-first` negative", "--select-first must be 0 or more, got -2", counts(),
         ("--select-first", "-2")),
    Case("`--tms` negative", "--tms must be non-negative", counts(), ("--tms", "-1", "0")),
    Case("`--lr 0`", "--lr must be positive, got 0.0", counts(), ("--lr", "0")),
    Case("`--hid-dim 0`", "--hid-dim must be positive, got 0", counts(), ("--hid-dim", "0")),
    Case("`--batch-size` with `--ddp`", "--batch-size and --ddp do not combine", counts(),
         ("--batch-size", "100", "--ddp")),
    Case("`--device cuda:3` beyond the visible GPUs", "only 1 CUDA GPUs are visible", counts(),
         ("--device", "cuda:3"), patch=some_gpus),
]


def _argv(case: Case, tmp: Path) -> tuple[list[str], Path]:
    out = case.out(tmp) if case.out else tmp / "out"
    data = ["--dataset", str(case.data(tmp))] if case.data else []
    options = [o.replace("{tmp}", str(tmp)) for o in case.options]
    return [*FAST, *data, *options, "--out", str(out)], out


def run_in_process(case: Case, tmp: Path, capsys, monkeypatch) -> tuple[int, str, Path, list]:
    """(exit code, stderr, --out, warnings raised) of one case run by the script's main."""
    monkeypatch.chdir(tmp)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    if case.patch:
        case.patch(monkeypatch)
    argv, out = _argv(case, tmp)
    main = sc_cli.main if case.script == "runSC.py" else st_cli.main
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse errors
            code = exc.code
    return code, capsys.readouterr().err, out, caught


def _is_clean_error(code: int, err: str, case: Case) -> None:
    lines = err.strip().splitlines()
    assert code == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert case.message in lines[0], lines[0]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.input) for c in CATALOGUE])
def test_bad_input_is_one_error_line_exit_2_and_no_results(case, tmp_path, capsys,
                                                           monkeypatch):
    code, err, out, caught = run_in_process(case, tmp_path, capsys, monkeypatch)
    _is_clean_error(code, err, case)
    assert not [str(w.message) for w in caught]
    if not (case.out is existing_file):
        assert not out.exists()
    else:
        assert out.is_file()  # left as it was
    assert not list(tmp_path.glob(".*.tmp")) and not list(tmp_path.glob("**/.*.tmp"))
    assert not (tmp_path / "results").exists()


def test_catalogue_is_large_and_inputs_are_unique():
    assert len(CATALOGUE) >= 60
    assert len({c.input for c in CATALOGUE}) == len(CATALOGUE)
    assert not [c for c in CATALOGUE if "|" in c.input + c.message]  # markdown-safe


def test_readme_table_is_the_catalogue():
    text = CATALOGUE_PAGE.read_text()
    assert TABLE_START in text and TABLE_END in text
    block = text.split(TABLE_START, 1)[1].split(TABLE_END, 1)[0]
    rows = [line for line in block.strip().splitlines() if line.startswith("| ")][1:]
    expected = [c.row for c in CATALOGUE]
    assert rows == expected, ("docs/bad-input.md differs from CATALOGUE; the table is:\n"
                              "| input | message (part of the `error:` line) | exit code |\n"
                              "|---|---|---|\n" + "\n".join(expected))


@pytest.mark.parametrize("index", [0, 5])
def test_a_real_process_prints_one_line_and_exits_2(index, tmp_path):
    case = CATALOGUE[index]
    argv, out = _argv(case, tmp_path)
    proc = subprocess.run([sys.executable, str(REPO / case.script), *argv], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    _is_clean_error(proc.returncode, proc.stderr, case)
    assert not out.exists()


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint16, np.float64])
def test_integer_and_other_numeric_counts_work(dtype, tmp_path, capsys, monkeypatch):
    """Integer counts are the normal case: every numeric dtype runs, dense or sparse."""
    adata = _adata()
    dense = adata.X.toarray().astype(dtype)
    adata.X = dense if dtype in (np.int64, np.uint16) else sp.csr_matrix(dense)
    case = Case("-", "-", lambda t: _write(t, adata))
    code, err, out, _ = run_in_process(case, tmp_path, capsys, monkeypatch)
    assert code == 0, err
    assert (out / "labels.csv").is_file()
