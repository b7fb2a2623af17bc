"""The runner's suites, methods, protocols and results versions (bench/run.py)."""
from __future__ import annotations


import _data
import _methods
import _peers
import _selection


#: raise when a code change alters results: every stored entry is then recomputed
RESULTS_VERSION = 3  # 2: fast CPU dropout mask (scrcl.nn.dropout); 3: k-means with greedy
# k-means++ seeding and exact convergence (scrcl.clustering.kmeans), label-free stop (--stop)
#: the same for the baselines, which run no scrcl code: raise when bench/_methods.py changes
BASELINES_VERSION = 1
#: the same for the peers (bench/_peers.py: GraphST, scVI): raise when their use changes
PEERS_VERSION = 1

AUTOK = "scrcl-autok"  # K estimated as --n-clusters auto does (label-free protocol only)
LEIDEN = "scrcl-leiden"  # the embedding clustered by Leiden, resolution bisected to K
#: the embedding clustered by Ward's linkage on its first 50 principal components
#: (scrcl.clustering.ward; bench/clustering_probe.py): a study of the scRNA-seq label-free
#: default, decided: its rule failed on Baron_mouse1 (BENCHMARKS.md); kept for its tables
WARD = "scrcl-ward"
SCRCL_METHODS = ("scrcl", "scrcl-gmm", LEIDEN, AUTOK, WARD)
FINAL_ONLY = (LEIDEN, AUTOK, WARD)  # studies: the label-free protocol only
#: scrcl's own control: the same pipeline after one epoch ('--epochs 1 --select last'),
#: label-free, k-means at the true K: what training adds
EPOCH1 = "scrcl-epoch1"
EPOCH1_SETTINGS = {"epochs": 1, "select": "last"}
#: the published protocol (the epoch with the best score against the truth) clusters the
#: published [z1, z2]; a configuration that clusters another embedding (the scRNA-seq
#: default 'h') is benchmarked label-free only: '--set embedding=z' stores its oracle.
#: It trains the published schedule: the fast one ('--set schedule=fast') is benchmarked
#: label-free only (ORACLE_SCHEDULE)
ORACLE_EMBEDDING = "z"
ORACLE_SCHEDULE = "published"
PROTOCOLS = ("final", "oracle")
DEFAULT_SEEDS = (5, 15, 25, 35, 45)
SPEED_DATASETS = ("Baron_mouse1", "Baron_mouse2", "MCA_mouse_bladder_select2100",
                  "CITE_CBMC_top2000", "151507")
SPEED_PRECISIONS = ("fp32", "bf16")
SPEED_PROTOCOL = "epoch_time"
#: the speed suite's protocol per device: CUDA timings are stored beside the CPU ones
SPEED_PROTOCOLS = {"cpu": SPEED_PROTOCOL, "cuda": SPEED_PROTOCOL + "_cuda"}
#: consensus suite methods -> scrcl.clustering.consensus method ("scrcl-consensus": what
#: the pipeline makes, scrcl.clustering.consensus.consensus_method_for: average linkage
#: since Nov 2026, k-means on the profiles before)
CONSENSUS_METHODS = {"scrcl-consensus": "pipeline", "scrcl-consensus-kmeans": "kmeans",
                     "scrcl-autok-consensus": "pipeline"}
#: whose stored partitions each consensus method combines (the estimated-K runs for the
#: consensus a user without labels gets)
CONSENSUS_MEMBERS = {"scrcl-consensus": "scrcl", "scrcl-consensus-kmeans": "scrcl",
                     "scrcl-autok-consensus": AUTOK}
#: raise when scrcl.clustering.consensus changes its partitions (2: float32 distances,
#: 3: ties by the cells' order, at least 3 seeds; 4: clusters under 5 cells do not count)
CONSENSUS_VERSION = 4
SUITES = {
    "sc": {"datasets": _data.SC_DATASETS,
           "methods": ("scrcl", LEIDEN, AUTOK, WARD, "pca_kmeans", "leiden", EPOCH1,
                       *_peers.PEERS["sc"])},
    "st": {"datasets": _data.ST_DATASETS,
           "methods": ("scrcl", "scrcl-gmm", LEIDEN, AUTOK, "pca_kmeans", "smooth_kmeans",
                       "gmm", EPOCH1, *_peers.PEERS["st"])},
    "speed": {"datasets": SPEED_DATASETS, "methods": ("scrcl",)},
    "k": {"datasets": _data.SC_DATASETS + _data.ST_DATASETS, "methods": _methods.K_RULES},
    "consensus": {"datasets": _data.SC_DATASETS + _data.ST_DATASETS,
                  "methods": tuple(CONSENSUS_METHODS)},
    "selection": {"datasets": _data.SC_DATASETS + _data.ST_DATASETS,
                  "methods": (*_selection.RULES, _selection.CEILING,
                              *_selection.EARLY_METHODS)},
    "early": {"datasets": _data.SC_DATASETS + _data.ST_DATASETS, "methods": ("scrcl",)},
}
#: raise when the early suite's reconstruction or its rule changes (2: keeps the early
#: epochs' partitions, packed, so that label-free entries can be rebuilt with them)
EARLY_VERSION = 2
BASELINES = {"sc": ("pca_kmeans", "leiden"), "st": ("pca_kmeans", "smooth_kmeans", "gmm")}


def results_version(method: str) -> int:
    """The results version an entry of ``method`` is computed and shown under."""
    if method in _peers.PEERS["sc"] + _peers.PEERS["st"]:
        return PEERS_VERSION
    return BASELINES_VERSION if method in BASELINES["sc"] + BASELINES["st"] else RESULTS_VERSION


#: what --n-clusters auto runs (scrcl.tl.fit), with the package's defaults
K_SETTINGS = {"rule": "estimate_n_clusters(expression_graph(prepared)): 15-NN of 50 PCs"}
K_RULE = K_SETTINGS["rule"]
#: since Nov 2026 the default rule's entries also score its Leiden partition
K_SCORED = {"scored": "ARI/NMI of the Leiden partition of the first seed"}
