"""What the scripts share before any data is read: options, their checks, the process
set-up (logging, threads, device) and the error boundary. What a run writes and prints
after training is in :mod:`scrcl.cli.report`."""
from __future__ import annotations

import argparse
import logging
import os
import platform
import re
import resource
import sys
from importlib import metadata
from pathlib import Path
from typing import Callable, Optional

import torch

from .. import __version__
from .._constants import DATA_DIR_ENV, DEFAULT_SEEDS, PROTOCOLS
from ..config import DEFAULT_SCHEDULE, EMBEDDINGS, SCHEDULES, ScrclConfig, with_schedule
from ..errors import ScrclInputError
from ..training.precision import PRECISIONS


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


def add_cluster_option(group) -> None:
    """--cluster, the clustering of the learnt embedding (runSC.py and runST.py)."""
    from ..pipeline import CLUSTERERS

    group.add_argument("--cluster", choices=CLUSTERERS, default="kmeans",
                       help="clustering of the embedding: cosine k-means (default, as "
                            "published), a Gaussian mixture with one shared full covariance "
                            "(mclust 'EEE'), Leiden on the embedding's 15-NN graph with "
                            "its resolution searched to give K clusters, or Ward's linkage on "
                            "the embedding's first 50 principal components, cut at K")


def add_layer_option(group) -> None:
    """--layer: the matrix of the file that holds the counts (runSC.py and runST.py)."""
    group.add_argument("--layer", metavar="NAME",
                       help="the matrix to read: 'X', 'raw' (adata.raw.X) or a layer name "
                            "(e.g. counts). Default: X when it holds counts, else the counts "
                            "found in layers['counts'] (or a similar name) or adata.raw; "
                            "what X holds and where the input came from are printed and "
                            "saved in metrics.json (input_matrix)")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Every hyper-parameter, default None = 'from the preset or the documented default'."""
    g = parser.add_argument_group(
        "hyper-parameters (default: the data set's published preset, else the documented "
        "defaults; the effective values are printed and saved)")
    g.add_argument("--schedule", choices=tuple(SCHEDULES), default=None,
                   help="how long the published or default configuration trains: "
                   "'published' (default) its epochs (500) and learning rate; 'fast' 1/5 of "
                   "its epochs at 5 times its learning rate, for a first look: on 17 "
                   "benchmark data sets 0.02 ARI lower on average and about 0.2 lower on "
                   "two DLPFC slices (docs/design/schedule.md). Not with --protocol oracle "
                   "(the published protocol) nor the demo; --epochs and --lr override either")
    g.add_argument("--lr", type=float, help="Adam learning rate (default: the schedule's)")
    g.add_argument("--epochs", type=int, help="training epochs per seed (default: the "
                   "schedule's: 500, or 100 with --schedule fast; the demo's 60; with "
                   "--stop auto the most it trains)")
    g.add_argument("--hvg", type=int, help="number of highly variable genes kept (G)")
    g.add_argument("--k", type=int, help="neighbours in the cell kNN graph, the cell itself "
                   "counted as scanpy does (on spots: the k nearest other spots)")
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


def add_data_dir_option(parser, holds: str = "the benchmark files") -> None:
    """``--data-dir``: where benchmark names are looked up (runSC.py, runST.py, draw_DEGs.py)."""
    parser.add_argument("--data-dir", metavar="DIR",
                        help=f"folder holding {holds} (default ${DATA_DIR_ENV}, else "
                             f"./datasets)")


def add_run_options(parser: argparse.ArgumentParser, task: str) -> None:
    add_data_dir_option(parser, "scdata/" if task == "SC" else "stdata/")
    parser.add_argument("--label-key", help="obs column with the true labels, used to score "
                        "the result and, unless --n-clusters is given, for K (the number of "
                        "classes); never for training or the choice of clustering")
    parser.add_argument("--n-clusters", type=n_clusters_arg, metavar="K|auto",
                        help="number of clusters K, or 'auto' to estimate it without labels "
                        "(Leiden, resolution 1, communities of 5+ cells, on the 15-NN "
                        "graph (15 other cells, binary, symmetric) of 50 principal components, close to "
                        "scanpy's defaults). "
                        "Default: the number of true classes when the data has labels (the "
                        "standard benchmark setting), else auto")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="final",
                        help="'final': train (at most --epochs, see --stop) and choose the "
                        "clustering without labels (see --select), no label read by "
                        "training, the stop or the choice; 'oracle': the "
                        "published protocol, which clusters [z1, z2] (unless --embedding "
                        "says otherwise) and scores "
                        "every epoch against the true labels and keeps the best epoch "
                        "(for comparison with the paper only)")
    parser.add_argument("--select", choices=("silhouette", "stable", "last"), default=None,
                        help="how 'final' picks its clustering, without labels. The model is "
                        "clustered every 10th epoch and after the last (and on the first N "
                        "epochs of --select-first); 'silhouette' (default) keeps the best-"
                        "separated partition (cosine silhouette on its embedding); 'stable' "
                        "the one that agrees best (mean ARI) with those of the 2 candidate "
                        "epochs before and after it; 'last' clusters the last epoch only")
    parser.add_argument("--stop", choices=("auto", "never"), default=None,
                        help="when a label-free run ends training: 'auto' (default) once "
                        "the selection score (the candidates' silhouette) has set no new "
                        "best for --stop-patience candidates in a row, so that --epochs is "
                        "the most it trains; 'never' trains all --epochs. The epoch and "
                        "the reason are logged and saved in metrics.json (stop). "
                        "--protocol oracle always trains all epochs "
                        "(docs/design/stopping.md)")
    parser.add_argument("--stop-patience", type=int, default=None, metavar="N",
                        help="with --stop auto: the candidates (one every 10 epochs) without "
                        "a new best silhouette after which training ends (default 25: on "
                        "the stand-ins the best-separated candidate often comes late, and "
                        "fewer cost up to 0.05 ARI on scRNA-seq and 0.28 on a slice)")
    parser.add_argument("--select-first", type=int, default=None, metavar="N",
                        help="also make each of the first N epochs a candidate of 'final' "
                        "with --select silhouette (ignored by 'stable' and 'last'; "
                        "default: 9 for scRNA-seq, 0 for spatial slices). On the scRNA-seq "
                        "stand-ins the barely trained model is often the best partition: with "
                        "N = 9 the silhouette rule picked one of them on 8 of 30 stored runs, "
                        "each time with a higher ARI, and never on a spatial slice "
                        "(BENCHMARKS.md, early candidates). 0 reproduces the stride only")
    parser.add_argument("--embedding", choices=tuple(EMBEDDINGS), default=None,
                        help="what each epoch's clustering is made of: 'h' the two views' "
                        "hidden layers [e1, e2] (unit rows, 2 x --hid-dim wide; default for "
                        "scRNA-seq: higher and steadier label-free ARI on all five stand-ins, "
                        "at 40-60%% more CPU time a run on 5,000-100,000 cells); 'z' the "
                        "refined representations [z1, z2], as published (default for "
                        "spatial slices, where 'h' loses, and for --protocol oracle). "
                        "The training is the same for both (BENCHMARKS.md, 'which embedding')")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS),
                        help="random seeds, one model each; with three or more, their "
                             "partitions are also combined into one (the consensus, "
                             "obs['scrcl']) under the label-free protocol. Three by default: "
                             "on the scRNA-seq stand-ins the consensus of five was within "
                             "0.004 ARI of the consensus of three")
    parser.add_argument("--device", default="auto", type=device_arg,
                        help="auto (CUDA when present), cpu, cuda or cuda:N")
    parser.add_argument("--precision", choices=PRECISIONS, default=None,
                        help="arithmetic of the dense layers: 'bf16' (bfloat16 forward and "
                        "backward, float32 weights, losses and optimiser), 'fp32', 'tf32' "
                        "(float32 with TensorFloat-32 products on a CUDA GPU; fp32 on a CPU), "
                        "or 'auto' (default): bf16 where the CPU or GPU computes it natively, "
                        "else fp32. The precision used is printed and saved in metrics.json")
    parser.add_argument("--batch-size", type=int, default=None, metavar="B",
                        help="cells per optimisation step (default: the whole data set up to "
                             "20,000 cells, mini-batches of 10,000 above; 0: always the whole "
                             "data set). Mini-batches need less memory and change the "
                             "optimisation: see scrcl/minibatch.py and BENCHMARKS.md")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="CPU threads of this process (default: $OMP_NUM_THREADS when "
                             "set, else the cores it may use; the demo: 1)")
    parser.add_argument("--out", help=f"results folder (default results/{task}/<dataset>)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or log lines")
    t = parser.add_argument_group("long runs")
    t.add_argument("--checkpoint-every", type=int, default=0, metavar="N",
                   help="save model, optimiser and random state every N epochs, one file per "
                        "seed (0: off); removed once the results are written")
    t.add_argument("--resume", action="store_true",
                   help="continue each seed from its checkpoint (a seed without one starts "
                        "over); the same weights as an uninterrupted run, and the same labels "
                        "with --select last (the other rules choose among the epochs "
                        "clustered after the resume)")
    t.add_argument("--checkpoint-dir", metavar="DIR",
                   help="checkpoint folder (default <out>/../.checkpoints/<dataset>)")
    t.add_argument("--ddp", action="store_true",
                   help="data-parallel training, one process per torchrun worker (gloo on "
                        "CPU, nccl on GPUs; implied under torchrun with more than one "
                        "process; whole-data steps at any size, since mini-batches do not "
                        "combine with it); exact, but not faster: see scrcl/distributed.py")


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


_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def device_arg(value: str) -> str:
    """--device: auto, cpu, cuda or cuda:N."""
    if not _DEVICE.match(value):
        raise argparse.ArgumentTypeError(f"unknown device {value!r}: choose auto, cpu, cuda or "
                                         f"cuda:N")
    return value


#: the config fields that have a command-line option of the same name
MODEL_OPTIONS = ("lr", "epochs", "hvg", "k", "tms", "dropout", "weight_decay", "lambda1",
                 "lambda2", "temperature", "hid_dim", "out_dim", "gene_k")


def config_from_args(base: ScrclConfig, args: argparse.Namespace) -> ScrclConfig:
    """The run's configuration: ``base`` with the options given. The published protocol
    (``--protocol oracle``) trains the published schedule and clusters the published
    [z1, z2] unless --schedule / --embedding say otherwise."""
    embedding = getattr(args, "embedding", None)
    stop = getattr(args, "stop", None)
    schedule = getattr(args, "schedule", None)
    if schedule is not None and base.schedule is None:
        raise ScrclInputError(f"--schedule applies to a published preset or the documented "
                              f"defaults; this run has its own configuration (epochs "
                              f"{base.epochs}, lr {base.lr}): set --epochs and --lr instead")
    if getattr(args, "protocol", None) == "oracle":
        if schedule == "fast":
            raise ScrclInputError("--protocol oracle is the published protocol and trains "
                                  "the published schedule: drop --schedule fast")
        embedding = embedding or "z"
        stop = "never"  # the published protocol trains every epoch
    base = with_schedule(base, "published" if getattr(args, "protocol", None) == "oracle"
                         else schedule or DEFAULT_SCHEDULE)
    return base.replace(lr=args.lr, epochs=args.epochs, hvg=args.hvg, k=args.k,
                        tms=tuple(args.tms) if args.tms else None, dropout=args.dropout,
                        weight_decay=args.weight_decay, lambda1=args.lambda1,
                        lambda2=args.lambda2, temperature=args.temperature,
                        hid_dim=args.hid_dim, out_dim=args.out_dim, gene_k=args.gene_k,
                        select=getattr(args, "select", None),
                        select_first=getattr(args, "select_first", None),
                        embedding=embedding, stop=stop,
                        stop_patience=getattr(args, "stop_patience", None),
                        precision=getattr(args, "precision", None),
                        batch_size=getattr(args, "batch_size", None),
                        features=getattr(args, "features", None),
                        radius=getattr(args, "radius", None))


def check_options(args: argparse.Namespace) -> None:
    """Impossible option values, caught before any work."""
    positive = ["lr", "epochs", "hvg", "k", "temperature", "hid_dim", "out_dim", "gene_k"]
    if getattr(args, "stop_patience", None) is not None and args.stop_patience < 1:
        raise ScrclInputError(f"--stop-patience must be 1 or more, got {args.stop_patience}")
    if getattr(args, "select_first", None) is not None and args.select_first < 0:
        raise ScrclInputError(f"--select-first must be 0 or more, got {args.select_first}")
    for name in positive:
        value = getattr(args, name, None)
        if value is not None and value <= 0:
            raise ScrclInputError(f"--{name.replace('_', '-')} must be positive, got {value}")
    if args.dropout is not None and not 0 <= args.dropout < 1:
        raise ScrclInputError(f"--dropout must be in [0, 1), got {args.dropout}")
    radius = getattr(args, "radius", None)
    if radius is not None and radius < 0:
        raise ScrclInputError(f"--radius must be 0 (off) or positive, got {radius}")
    batch = getattr(args, "batch_size", None)
    if batch is not None and batch < 0:
        raise ScrclInputError(f"--batch-size must be 0 (whole data set) or positive, got {batch}")
    from ..training.distributed import launched_by_torchrun

    ddp = getattr(args, "ddp", False) or (launched_by_torchrun()
                                          and int(os.environ["WORLD_SIZE"]) > 1)
    if batch and ddp:
        raise ScrclInputError("--batch-size and --ddp do not combine; use one of them")
    if ddp and hasattr(args, "batch_size"):
        args.batch_size = 0  # whole-data steps, split over the workers, at any size
    if args.tms is not None and min(args.tms) < 0:
        raise ScrclInputError(f"--tms must be non-negative, got {args.tms}")
    if len(set(args.seeds)) != len(args.seeds):
        raise ScrclInputError(f"--seeds has repeated values ({' '.join(map(str, args.seeds))}); "
                              f"give each seed once")
    if min(args.seeds) < 0:
        raise ScrclInputError(f"--seeds must be 0 or positive, got {min(args.seeds)}")


def check_device(device: str) -> None:
    """A CUDA device asked for must exist (checked before any data is read)."""
    if not device.startswith("cuda"):
        return
    if not torch.cuda.is_available():
        raise ScrclInputError(f"--device {device} was asked for but no CUDA GPU is visible; "
                              f"use --device cpu or auto")
    index = int(device.split(":")[1]) if ":" in device else 0
    if index >= torch.cuda.device_count():
        raise ScrclInputError(f"--device {device}: only {torch.cuda.device_count()} CUDA GPUs "
                              f"are visible; choose cuda:0 to cuda:{torch.cuda.device_count() - 1}")


def set_threads(requested: Optional[int], default: Optional[int] = None) -> int:
    """Torch threads of this process: ``--threads``, else $OMP_NUM_THREADS, else
    ``default``, else all the cores it may use."""
    from ..training.precision import set_threads as set_torch_threads

    if requested is None:
        env = os.environ.get("OMP_NUM_THREADS", "")
        requested = int(env) if env.isdigit() and int(env) > 0 else default
    try:
        return set_torch_threads(requested)
    except ValueError:
        raise ScrclInputError(f"--threads must be at least 1, got {requested}") from None


def check_writable(out: Path, option: str = "--out") -> None:
    """Fail before any work when the results folder ``out`` cannot be created or replaced."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ScrclInputError(f"{option} {out} is a file, not a folder; choose another {option}")
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ScrclInputError(f"cannot write the results folder {out}: {parent} is a file, "
                              f"not a folder; choose another {option}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ScrclInputError(f"cannot write the results folder {out}: no permission to write "
                              f"in {parent}; choose another {option}")


def setup(args: argparse.Namespace, default_threads: Optional[int] = None) -> None:
    """Logging, threads, option checks and the device: everything checked before reading."""
    setup_logging(args.quiet)
    set_threads(args.threads, default_threads)
    check_options(args)
    check_device(args.device)


def setup_logging(quiet: bool) -> None:
    """scrcl's log lines on stderr (none but warnings with ``quiet``; other libraries'
    warnings only)."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr,
                        force=True)  # other libraries: warnings only
    logging.getLogger("scrcl").setLevel(logging.WARNING if quiet else logging.INFO)


def guarded(main: Callable[[], int]) -> int:
    """Run ``main``; bad input becomes one line on stderr and exit code 2."""
    try:
        return main()
    except ScrclInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FloatingPointError as exc:  # raised by scrcl.training.train when the loss is not finite
        print(f"error: training diverged: {exc}; no results were written", file=sys.stderr)
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


#: distributions whose versions metrics.json records
LIBRARIES = ("torch", "torch_geometric", "scanpy", "anndata", "numpy", "scikit-learn")


def versions() -> dict[str, str]:
    """Versions of scrcl, Python and the libraries it runs on (from the installed metadata)."""
    out = {"scrcl": __version__, "python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
