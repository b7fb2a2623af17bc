"""What runSC.py and runST.py share: options, logging, the error boundary, the outputs."""
from __future__ import annotations

import argparse
import logging
import platform
import resource
import sys
from pathlib import Path
from typing import Callable, Optional

import anndata as ad
import numpy as np
import pandas as pd
import torch

from .. import __version__
from .._constants import DEFAULT_SEEDS, PROTOCOLS
from ..config import ScrclConfig
from ..errors import ScrclInputError
from ..io import atomic_dir, write_json
from ..pipeline import METRICS, RunResult


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``error: ...``, exit 2) like every other."""

    def error(self, message: str):  # type: ignore[override]
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's layout; shows a default only where there is one to show."""

    def _get_help_string(self, action):
        help_ = action.help or ""
        if ("%(default)" not in help_ and "default" not in help_ and action.default is not None
                and action.default is not argparse.SUPPRESS and action.default is not False):
            help_ += " (default: %(default)s)"
        return help_


def script_parser(prog: str, description: str, task: str, dataset_help: str) -> ArgumentParser:
    """The parser that runSC.py and runST.py share: --dataset and the run options."""
    p = ArgumentParser(prog=prog, description=description, formatter_class=HelpFormatter)
    p.add_argument("--dataset", required=True, help=dataset_help)
    add_run_options(p, task)
    return p


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Every hyper-parameter, default None = 'from the preset or the documented default'."""
    g = parser.add_argument_group(
        "hyper-parameters (default: the data set's published preset, else the documented "
        "defaults; the effective values are printed and saved)")
    g.add_argument("--lr", type=float, help="Adam learning rate")
    g.add_argument("--epochs", type=int, help="training epochs per seed")
    g.add_argument("--hvg", type=int, help="number of highly variable genes kept (G)")
    g.add_argument("--k", type=int, help="neighbours in the cell (or spot) kNN graph")
    g.add_argument("--tms", type=int, nargs=2, metavar=("T1", "T2"),
                   help="graph smoothing steps of the MLP view and of the GCN view")
    g.add_argument("--dropout", type=float, help="dropout rate")
    g.add_argument("--weight-decay", type=float, help="Adam weight decay")
    g.add_argument("--lambda1", type=float, help="weight of the neighbourhood contrastive loss")
    g.add_argument("--lambda2", type=float, help="weight of the cross-view consistency loss")
    g.add_argument("--temperature", type=float, help="softmax temperature t")
    g.add_argument("--hid-dim", type=int, help="hidden width H of both encoders")
    g.add_argument("--out-dim", type=int,
                   help="width C of the refined representation (default: number of clusters)")
    g.add_argument("--gene-k", type=int, help="neighbours of each gene in the gene graph "
                                              "(itself included)")


def add_run_options(parser: argparse.ArgumentParser, task: str) -> None:
    parser.add_argument("--data-dir", help="folder holding the benchmark files (default "
                        "$SCRCL_DATA_DIR, else ./datasets)")
    parser.add_argument("--label-key", help="obs column with the true labels, used only to "
                        "score the result")
    parser.add_argument("--n-clusters", type=n_clusters_arg, metavar="K|auto",
                        help="number of clusters K, or 'auto' to estimate it without labels "
                        "(Leiden, resolution 1, on the cell graph). Default: the number of "
                        "true classes when the data has labels (the standard benchmark "
                        "setting), else auto")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="final",
                        help="'final': train all epochs and choose the clustering without "
                        "labels (see --select), no label read before scoring; 'oracle': the published protocol, which clusters and scores "
                        "every epoch against the true labels and keeps the best epoch "
                        "(for comparison with the paper only)")
    parser.add_argument("--select", choices=("silhouette", "stable", "last"), default=None,
                        help="how 'final' picks its clustering, without labels. The model is "
                        "clustered every 10th epoch; 'silhouette' (default) keeps the best-"
                        "separated partition (cosine silhouette on its embedding); 'stable' "
                        "the one that agrees best (mean ARI) with those of the 2 candidate "
                        "epochs before and after it; 'last' clusters the last epoch only")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS),
                        help="random seeds, one model each")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), default=None,
                        help="arithmetic of the dense layers: 'bf16' (bfloat16 forward and "
                        "backward, float32 weights, losses and optimiser), 'fp32', or 'auto' "
                        "(default): bf16 where the CPU or GPU computes it natively, else fp32. "
                        "The precision used is printed and saved in metrics.json")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="CPU threads of this process (default: the cores it may use)")
    parser.add_argument("--out", help=f"results folder (default results/{task}/<dataset>)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or log lines")
    t = parser.add_argument_group("long runs")
    t.add_argument("--checkpoint-every", type=int, default=0, metavar="N",
                   help="save model, optimiser and random state every N epochs, one file per "
                        "seed (0: off); removed once the results are written")
    t.add_argument("--resume", action="store_true",
                   help="continue each seed from its checkpoint (a seed without one starts "
                        "over); gives the results of an uninterrupted run (--protocol final)")
    t.add_argument("--checkpoint-dir", metavar="DIR",
                   help="checkpoint folder (default <out>/../.checkpoints/<dataset>)")
    t.add_argument("--ddp", action="store_true",
                   help="data-parallel training, one process per torchrun worker (gloo on "
                        "CPU, nccl on GPUs; implied under torchrun with more than one "
                        "process); exact, but not faster: see scrcl/distributed.py")


def n_clusters_arg(value: str):
    """--n-clusters: a positive integer or 'auto'."""
    if value == "auto":
        return value
    try:
        k = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number or 'auto', got {value!r}")
    if k < 2:
        raise argparse.ArgumentTypeError(f"needs at least 2 clusters, got {k}")
    return k


def config_from_args(base: ScrclConfig, args: argparse.Namespace) -> ScrclConfig:
    return base.replace(lr=args.lr, epochs=args.epochs, hvg=args.hvg, k=args.k,
                        tms=tuple(args.tms) if args.tms else None, dropout=args.dropout,
                        weight_decay=args.weight_decay, lambda1=args.lambda1,
                        lambda2=args.lambda2, temperature=args.temperature,
                        hid_dim=args.hid_dim, out_dim=args.out_dim, gene_k=args.gene_k,
                        select=getattr(args, "select", None),
                        precision=getattr(args, "precision", None))


def check_options(args: argparse.Namespace) -> None:
    """Impossible option values, caught before any work."""
    positive = ["lr", "epochs", "hvg", "k", "temperature", "hid_dim", "out_dim", "gene_k"]
    for name in positive:
        value = getattr(args, name, None)
        if value is not None and value <= 0:
            raise ScrclInputError(f"--{name.replace('_', '-')} must be positive, got {value}")
    if args.dropout is not None and not 0 <= args.dropout < 1:
        raise ScrclInputError(f"--dropout must be in [0, 1), got {args.dropout}")
    if args.tms is not None and min(args.tms) < 0:
        raise ScrclInputError(f"--tms must be non-negative, got {args.tms}")
    if len(set(args.seeds)) != len(args.seeds):
        raise ScrclInputError(f"--seeds has repeated values: {args.seeds}")


def setup_logging(quiet: bool) -> None:
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO,
                        format="%(message)s", stream=sys.stderr, force=True)
    import warnings

    warnings.filterwarnings("ignore", message=".*Sparse.*")


def guarded(main: Callable[[], int]) -> int:
    """Run ``main``; bad input becomes one line on stderr and exit code 2."""
    try:
        return main()
    except ScrclInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; no results were written", file=sys.stderr)
        return 130


def peak_memory_mb() -> dict[str, float]:
    """Peak resident memory of this process (and of the GPU when one was used), in MB."""
    out = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def versions() -> dict[str, str]:
    import scanpy
    import sklearn
    import torch_geometric

    return {"scrcl": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "torch_geometric": torch_geometric.__version__, "scanpy": scanpy.__version__,
            "anndata": ad.__version__, "numpy": np.__version__, "scikit-learn": sklearn.__version__}


def run_record(dataset: str, result: RunResult, n_cells: int, n_genes: int,
               label_key: Optional[str], extra: Optional[dict] = None) -> dict:
    """The content of metrics.json."""
    per_seed = [{"seed": r.seed, **(r.scores or {}), "epoch_used": r.epoch_used,
                 "wall_s": round(r.wall_s, 3)} for r in result.runs]
    summary = result.summary()
    return {
        "dataset": dataset,
        "protocol": result.protocol,
        "protocol_note": PROTOCOL_NOTES[result.protocol],
        "seeds": result.seeds,
        "config": result.config.to_dict(),
        "n_cells": n_cells,
        "n_genes": n_genes,
        "n_clusters": result.n_clusters,
        "n_clusters_source": getattr(result, "k_source", "given"),
        "label_key": label_key,
        "per_seed": per_seed,
        "mean": summary.get("mean"),
        "std": summary.get("std"),
        "device": result.device,
        "memory": peak_memory_mb(),
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "torch_threads": torch.get_num_threads()},
        "versions": versions(),
        **(extra or {}),
    }


PROTOCOL_NOTES = {
    "final": "label-free: all epochs trained; the clustering is chosen without labels "
             "(config 'select'); labels used only for the final scores",
    "oracle": "published protocol: best epoch chosen by the true labels (answer key); for "
              "comparison with the paper only",
}


def write_outputs(out_dir: Path, adata: ad.AnnData, record: dict, result: RunResult,
                  cells: np.ndarray) -> None:
    """metrics.json, labels.csv and scrcl.h5ad, all or nothing."""
    labels = pd.DataFrame(index=pd.Index(adata.obs_names, name="cell"))
    for run in result.runs:
        col = np.full(adata.n_obs, -1, dtype=np.int64)
        col[cells] = run.labels
        labels[f"seed{run.seed}"] = pd.array(np.where(col >= 0, col, None), dtype="Int64")
    with atomic_dir(out_dir) as tmp:
        write_json(tmp / "metrics.json", record)
        labels.to_csv(tmp / "labels.csv")
        adata.write_h5ad(tmp / "scrcl.h5ad")


def print_summary(record: dict, stream=sys.stdout) -> None:
    """The human-readable result, always naming the protocol."""
    head = (f"{record['dataset']}: {record['n_cells']} cells, {record['n_genes']} genes, "
            f"K={record['n_clusters']} ({record['n_clusters_source']})")
    print(head, file=stream)
    print(f"protocol: {record['protocol']} ({record['protocol_note']})", file=stream)
    if record["mean"] is None:
        print("no true labels: not scored", file=stream)
    else:
        for r in record["per_seed"]:
            print(f"  seed {r['seed']:>4}: " + "  ".join(f"{m.upper()} {r[m]:.4f}" for m in METRICS)
                  + f"  epoch {r['epoch_used']}  {r['wall_s']:.1f}s", file=stream)
        print(f"[{record['protocol']}] mean +- std over {len(record['seeds'])} seeds: "
              + "  ".join(f"{m.upper()} {record['mean'][m]:.4f} +- {record['std'][m]:.4f}"
                          for m in METRICS), file=stream)
