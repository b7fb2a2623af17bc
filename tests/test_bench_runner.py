"""bench/run.py and bench/report.py on the synthetic demo (no shared data is read): each
entry is stored once, a rerun computes nothing, a changed configuration is recomputed, and
the report renders the stored entries and notices when a generated block is out of date."""
from __future__ import annotations

import importlib
import json
import shutil
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
#: '--set embedding=z': the published protocol (oracle) clusters the published [z1, z2]
DEMO_RUN = ["sc", "--datasets", "demo", "--seeds", "1", "2", "--methods", "scrcl",
            "--epochs", "3", "--set", "hid_dim=16", "--set", "embedding=z", "--threads", "1"]
#: a variant: settings changed from the defaults
FOLDER = "scrcl__embedding-z__epochs-3__hid_dim-16"


@pytest.fixture(scope="module")
def bench():
    """The runner and report modules (bench/ is not a package)."""
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("run"), importlib.import_module("report")
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture(autouse=True)
def no_shared_data(monkeypatch, tmp_path_factory):
    """Point the shared data at an empty folder, and restore the thread variables the
    runner sets."""
    monkeypatch.setenv("SCRCL_SHARED_DATA", str(tmp_path_factory.mktemp("no_shared_data")))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMBA_NUM_THREADS"):
        monkeypatch.setenv(var, "1")


@pytest.fixture(scope="module")
def first_run(bench, tmp_path_factory):
    """Two (data set, seed) units of 3 epochs, each stored under both protocols."""
    out = tmp_path_factory.mktemp("results")
    counts = bench[0].execute(DEMO_RUN + ["--results", str(out)])
    return out, counts


#: the runner's parts (bench/run.py and the modules it is split into)
RUNNER_MODULES = ("run", "_plan", "_entries", "_training", "_units", "_studies", "_derived")


def patch_runner(monkeypatch, name: str, value) -> None:
    """Replace ``name`` in every part of the runner that holds it."""
    for module in (sys.modules[m] for m in RUNNER_MODULES):
        if hasattr(module, name):
            monkeypatch.setattr(module, name, value)


def entry_files(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns
            for p in sorted(root.glob("**/seed*.json"))}


def test_entries_are_stored_with_their_fields(first_run):
    root, counts = first_run
    assert counts["computed"] == 4 and counts["up_to_date"] == 0
    assert sorted(entry_files(root)) == [f"sc/demo/{FOLDER}/{p}/seed{s}.json"
                                         for p in ("final", "oracle") for s in (1, 2)]
    final = json.loads((root / f"sc/demo/{FOLDER}/final/seed1.json").read_text())
    oracle = json.loads((root / f"sc/demo/{FOLDER}/oracle/seed1.json").read_text())
    for entry in (final, oracle):
        assert entry["dataset"] == "demo" and entry["seed"] == 1 and entry["epochs"] == 3
        assert entry["n_clusters"] == 4 and entry["config"]["hid_dim"] == 16
        assert all(-1 <= entry[m] <= 1 for m in ("acc", "nmi", "ari", "f1"))
        assert 1 <= entry["epoch_used"] <= 3 and entry["epochs_run"] == 3
        assert entry["s_per_epoch"] > 0 and entry["wall_s"] >= entry["train_s"] > 0
        assert entry["peak_rss_mb"] > 0 and entry["precision"] in ("fp32", "bf16")
        assert entry["device"] == "cpu" and entry["threads"] == 1
        assert entry["machine"]["cores"] >= 1 and entry["versions"]["torch"]
        assert len(entry["input_hash"]) == 64
    # the label-free entry keeps a trace of every clustered epoch (for selection studies)
    assert [t[0] for t in final["trace"]] == [1, 2, 3] and oracle["trace"] is None
    assert final["trace"][-1][3] is not None  # the last epoch is a candidate: silhouette
    assert final["trace"][final["epoch_used"] - 1][1] == round(final["ari"], 4)
    # and the candidates' partitions, packed: the chosen one is the stored labels
    from _results import pack_labels, unpack_labels  # bench/ is on the path (fixture)

    chosen = {c[0]: c for c in final["candidates"]}[final["epoch_used"]]
    assert unpack_labels(chosen[3]).tolist() == final["labels"] and oracle["candidates"] is None
    big = list(range(300)) * 3
    assert unpack_labels(pack_labels(big)).tolist() == big  # more than 256 labels
    # the oracle picks the best NMI among all epochs, so it is at least the final's
    assert oracle["nmi"] >= final["nmi"] - 1e-12
    # one training run serves both protocols: their inputs differ only in what the label-free
    # choice reads (the early epochs as candidates; the oracle kept its hash without them)
    assert final["inputs"]["config"].pop("select_first") == 9
    assert final["inputs"] == oracle["inputs"] and final["input_hash"] != oracle["input_hash"]


def test_rerun_skips_and_a_changed_config_recomputes(bench, first_run, tmp_path,
                                                     monkeypatch):
    run = bench[0]
    root = tmp_path / "results"
    shutil.copytree(first_run[0], root)  # copy2 keeps the modification times
    before = entry_files(root)

    counts = run.execute(DEMO_RUN + ["--results", str(root)])
    assert counts["computed"] == 0 and counts["up_to_date"] == 4
    assert entry_files(root) == before

    # a changed default (as a code change would make it) recomputes the same entries
    base = run._data.base_config
    monkeypatch.setattr(run._data, "base_config", lambda spec: base(spec).replace(lr=2e-3))
    dry = run.execute(DEMO_RUN + ["--results", str(root), "--dry-run"])
    assert dry["computed"] == 0 and dry["up_to_date"] == 0
    assert entry_files(root) == before

    counts = run.execute(DEMO_RUN + ["--results", str(root)])
    assert counts["computed"] == 4 and counts["up_to_date"] == 0
    after = entry_files(root)
    assert after.keys() == before.keys() and all(after[k] != before[k] for k in after)
    entry = json.loads((root / f"sc/demo/{FOLDER}/final/seed2.json").read_text())
    assert entry["config"]["lr"] == 2e-3
    assert entry["input_hash"] != json.loads(
        (first_run[0] / f"sc/demo/{FOLDER}/final/seed2.json").read_text())["input_hash"]

    # a setting changed on the command line is a variant, stored beside the default's
    counts = run.execute(DEMO_RUN + ["--set", "hid_dim=24", "--results", str(root)])
    assert counts["computed"] == 4
    variant = json.loads((root / "sc/demo/scrcl__embedding-z__epochs-3__hid_dim-24/final/"
                               "seed2.json").read_text())
    assert variant["variant"] == "embedding-z__epochs-3__hid_dim-24"
    assert variant["config"]["hid_dim"] == 24
    assert entry_files(root).items() >= after.items()  # the others untouched


def test_moved_entries_stay_current_under_their_new_variant(bench, tmp_path):
    """When a default changes, bench/move_variant.py turns the old default's entries into
    a variant: a run that names the old setting then finds them up to date. (The default
    scRNA-seq embedding, [e1, e2], gets label-free entries only: the oracle is the
    published protocol, on [z1, z2].)"""
    run, move_variant = bench[0], importlib.import_module("move_variant")
    root = tmp_path / "results"
    args = ["sc", "--datasets", "demo", "--seeds", "1", "2", "--methods", "scrcl",
            "--epochs", "3", "--set", "hid_dim=16", "--threads", "1", "--results", str(root)]
    assert run.execute(args)["computed"] == 2  # seeds 1, 2; no oracle of [e1, e2]
    old, renamed = "epochs-3__hid_dim-16", "embedding-h__epochs-3__hid_dim-16"
    assert sorted(entry_files(root)) == [f"sc/demo/scrcl__{old}/final/seed{s}.json"
                                         for s in (1, 2)]
    assert move_variant.move(root, ["demo"], old, renamed) == 2
    assert not (root / f"sc/demo/scrcl__{old}").exists()
    entry = json.loads((root / f"sc/demo/scrcl__{renamed}/final/seed1.json").read_text())
    assert entry["variant"] == renamed
    dry = run.execute(args + ["--set", "embedding=h", "--dry-run"])
    assert dry["computed"] == 0 and dry["up_to_date"] == 2
    # a move onto stored entries stops before it changes anything
    shutil.copytree(root / f"sc/demo/scrcl__{renamed}", root / f"sc/demo/scrcl__{old}")
    before = entry_files(root)
    with pytest.raises(ValueError, match="stored already"):
        move_variant.move(root, ["demo"], renamed, old)
    assert entry_files(root) == before


def test_report_renders_blocks_and_check_finds_stale_ones(bench, first_run, tmp_path):
    report = bench[1]
    root = tmp_path / "results"
    shutil.copytree(first_run[0], root)
    # the same entries stored once more as if they were the defaults' (variant '')
    for path in (root / "sc/demo" / FOLDER).glob("*/seed*.json"):
        target = root / "sc/demo/scrcl" / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps({**json.loads(path.read_text()), "variant": ""}))
    doc = tmp_path / "DOC.md"
    prose = "Written by hand: kept as it is.\n"
    doc.write_text(f"# Bench\n\n{prose}\n<!-- report:sc-accuracy -->\nold\n<!-- /report -->\n"
                   f"\n<!-- report:sc-summary -->\n<!-- /report -->\n\n{prose}"
                   f"\n<!-- report:variants -->\n<!-- /report -->\n")
    args = ["--results", str(root), "--docs", str(doc)]

    assert report.main(args + ["--check"]) == 1
    assert report.main(args) == 0
    text = doc.read_text()
    assert text.count(prose) == 2 and "old" not in text
    rows = [line for line in text.splitlines() if line.startswith("| demo |")]
    assert len(rows) == 6 + 1  # 6 method/protocol rows in sc-accuracy, 1 in sc-summary
    scrcl_final = next(r for r in rows if "| scrcl (k-means) | final |" in r).split(" | ")
    assert scrcl_final[1:3] == ["600", "4"] and scrcl_final[5:7] == ["[z1, z2]", "2"]
    # (cells, K; the embedding clustered, seeds)
    # data sets without stored results are listed with no figure
    assert "| Baron_mouse1 | — | — | scrcl (k-means) | final | — | 0 | — |" in text
    assert "| demo | — (0) | — (0) |" not in text
    # the variant beside the defaults, seed for seed (identical here: no difference)
    variant_row = next(r for r in text.splitlines()
                       if r.startswith("| sc | demo | final | embedding-z, epochs-3, hid_dim-16 |"))
    assert variant_row.rstrip(" |").split(" | ")[7:10] == ["2", "+0.000", "yes"]
    assert report.main(args + ["--check"]) == 0

    # a new result makes the block stale; --check says so and changes nothing
    path = root / "sc/demo/scrcl/final/seed1.json"
    entry = json.loads(path.read_text())
    path.write_text(json.dumps({**entry, "ari": entry["ari"] / 2}))
    assert report.main(args + ["--check"]) == 1
    assert doc.read_text() == text
    assert report.main(args) == 0 and doc.read_text() != text


def test_consensus_of_the_stored_partitions(bench, first_run, tmp_path):
    run, report = bench
    root = tmp_path / "results"
    shutil.copytree(first_run[0], root)
    args = ["consensus", "--datasets", "demo", "--epochs", "3", "--set", "hid_dim=16",
            "--set", "embedding=z", "--results", str(root)]
    assert run.execute(args)["computed"] == 0  # two seeds: too few for a consensus
    third = [a if a != "2" else "3" for a in DEMO_RUN]  # seeds 1 (stored) and 3
    run.execute(third + ["--results", str(root)])
    assert run.execute(args)["computed"] == 2  # average linkage (default) and k-means
    entry = json.loads((root / "consensus/demo/scrcl-consensus__embedding-z__epochs-3__hid_dim-16"
                                "/final/seed0.json").read_text())
    assert entry["consensus"] == "average"
    members = [json.loads((root / f"sc/demo/{FOLDER}/final/seed{s}.json").read_text())
               for s in (1, 2, 3)]
    assert entry["member_seeds"] == [1, 2, 3]
    assert entry["member_ari"] == [m["ari"] for m in members]
    assert len(entry["labels"]) == len(members[0]["labels"]) and -1 <= entry["ari"] <= 1
    assert run.execute(args)["up_to_date"] == 2  # same members: nothing to do


def _cliques(sizes: list[int]):
    """The 0/1 adjacency of disjoint cliques joined in a ring by one edge each."""
    import numpy as np
    import scipy.sparse as sp

    n = sum(sizes)
    a = np.zeros((n, n))
    starts = np.cumsum([0] + sizes)
    for lo, hi in zip(starts[:-1], starts[1:]):
        a[lo:hi, lo:hi] = 1
    for i in range(len(sizes)):  # a weak ring: one edge from each clique to the next
        j = starts[(i + 1) % len(sizes)]
        a[starts[i], j] = a[j, starts[i]] = 1
    np.fill_diagonal(a, 0)
    return sp.csr_matrix(a)


def test_studied_k_rules_find_planted_cliques(bench):
    """Both studied K rules recover 4 planted communities of a hand-built graph: the
    eigengap (4 eigenvalues near 1, then a drop) and the most stable Leiden resolution."""
    sys.path.insert(0, str(BENCH))
    try:
        methods = importlib.import_module("_methods")
    finally:
        sys.path.remove(str(BENCH))
    graph = _cliques([30, 25, 20, 35])
    assert methods.eigengap_k(graph)["estimated_k"] == 4
    # (at resolution 3 Leiden cuts these small cliques into pieces under 5 cells, which
    # are not counted: the grid here stops at 2)
    found = methods.stability_k(graph, resolutions=(0.5, 1.0, 2.0))
    assert found["estimated_k"] == 4 and found["stability"] == pytest.approx(1.0)


def test_estimated_k_runs_label_free_with_the_k_of_n_clusters_auto(bench, tmp_path,
                                                                     monkeypatch):
    """scrcl-autok clusters into the K that --n-clusters auto estimates (no label read):
    its own training run where out_dim is K, the same run as scrcl where the configuration
    fixes out_dim (the spatial presets); stored for the label-free protocol only."""
    run, _ = bench
    from scrcl.clustering.estimate_k import estimate_n_clusters
    from scrcl.tl import expression_graph

    base = ["sc", "--datasets", "demo", "--seeds", "1", "--epochs", "3", "--threads", "1",
            "--methods", "scrcl", "scrcl-autok", "--results", str(tmp_path),
            "--set", "hid_dim=16", "--set", "embedding=z"]
    no_out_dim = base + ["--set", "out_dim=0"]  # 0: K (the demo's config fixes out_dim)

    def context(argv):
        args = run.build_parser().parse_args(argv)
        return run.Context(args, argv, run.parse_overrides(args.set), 0.0)

    separate, shared = run.plan(context(no_out_dim)), run.plan(context(base))
    assert [[k.method for k in u.keys] for u in separate] == [["scrcl", "scrcl"],
                                                              ["scrcl-autok"]]
    assert [[(k.method, k.protocol) for k in u.keys] for u in shared] == [
        [("scrcl", "final"), ("scrcl", "oracle"), ("scrcl-autok", "final")]]

    assert run.execute(no_out_dim)["computed"] == 3
    folder = tmp_path / "sc/demo"
    entry = json.loads(next(folder.glob("scrcl-autok__*/final/seed1.json")).read_text())
    truth_k = json.loads(next(folder.glob("scrcl__*/final/seed1.json")).read_text())
    from _data import dataset_spec, scrcl_inputs  # bench/ is on the path (fixture)

    spec = dataset_spec("demo")
    cfg = context(no_out_dim).config(spec)
    inputs = scrcl_inputs(spec, cfg)
    est = estimate_n_clusters(expression_graph(inputs.prepared))
    assert entry["estimated_k"] == entry["n_clusters"] == est.k  # (the demo's K: 4)
    assert entry["true_k"] == truth_k["n_clusters"] == inputs.n_clusters
    assert entry["inputs"]["n_clusters"].startswith("estimated") and entry["epoch_used"]
    assert entry["input_hash"] != truth_k["input_hash"]

    # an estimate that differs from the truth reaches the model (out_dim) and k-means
    from scrcl.clustering.estimate_k import KEstimate

    seen = {}
    real_train = run.train_protocols

    def spy(*args, **kwargs):  # (ctx, inputs, cfg, seed, methods, protocols, ...)
        seen[tuple(args[4])] = kwargs["clustering"][0]
        return real_train(*args, **kwargs)

    patch_runner(monkeypatch, "estimated_k", lambda *a: KEstimate(3, 1.0, 1.0))
    patch_runner(monkeypatch, "train_protocols", spy)
    other = tmp_path / "other"
    assert run.execute(no_out_dim + ["--results", str(other)])["computed"] == 3  # last wins
    three = json.loads(next((other / "sc/demo").glob("scrcl-autok__*/final/seed1.json"))
                       .read_text())
    assert seen == {("scrcl",): inputs.n_clusters, ("scrcl-autok",): 3}
    assert three["n_clusters"] == 3 and len(set(three["labels"])) == 3


def test_an_estimated_k_equal_to_the_truth_reuses_the_true_k_run_exactly(bench, tmp_path,
                                                                          monkeypatch):
    """Where out_dim is K and the estimate equals the true K, the estimated-K entry is
    derived from the stored true-K run (no training) and equals the entry of a run trained
    for it: same partition, scores and epoch."""
    run, _ = bench
    from scrcl.clustering.estimate_k import KEstimate

    common = ["sc", "--datasets", "demo", "--seeds", "1", "--epochs", "3", "--threads", "1",
              "--set", "hid_dim=16", "--set", "embedding=z", "--set", "out_dim=0", "--results"]
    derived_root, trained_root = tmp_path / "derived", tmp_path / "trained"
    patch_runner(monkeypatch, "estimated_k", lambda ctx, spec, inputs, cfg:
                        KEstimate(inputs.n_clusters, 1.0, 0.9))
    run.execute([*common, str(derived_root), "--methods", "scrcl"])
    with monkeypatch.context() as m:
        patch_runner(m, "train_protocols", lambda *a, **k: pytest.fail("trained again"))
        counts = run.execute([*common, str(derived_root), "--methods", "scrcl-autok"])
    assert counts["computed"] == 1
    with monkeypatch.context() as m:
        patch_runner(m, "derive_autok", lambda *a: False)
        run.execute([*common, str(trained_root), "--methods", "scrcl-autok"])
    path = next((derived_root / "sc/demo").glob("scrcl-autok__*/final/seed1.json"))
    derived = json.loads(path.read_text())
    trained = json.loads((trained_root / path.relative_to(derived_root)).read_text())
    twin = json.loads(next((derived_root / "sc/demo").glob("scrcl__*/final/seed1.json"))
                      .read_text())
    assert derived["derived"]["from"] == twin["input_hash"]
    for field in ("input_hash", "labels", "acc", "nmi", "ari", "f1", "epoch_used",
                  "n_clusters", "estimated_k", "true_k", "k_stability", "trace"):
        assert derived[field] == trained[field], field
    assert derived["train_s"] == twin["train_s"]  # the run's timings

    # an estimate that differs from the truth trains
    patch_runner(monkeypatch, "estimated_k", lambda ctx, spec, inputs, cfg:
                        KEstimate(inputs.n_clusters - 1, 1.0, 0.9))
    path.unlink()
    with monkeypatch.context() as m:
        patch_runner(m, "train_protocols", lambda *a, **k: pytest.fail("trained"))
        with pytest.raises(pytest.fail.Exception, match="trained"):
            run.execute([*common, str(derived_root), "--methods", "scrcl-autok"])


def test_modularity_of_two_triangles_by_hand(bench):
    """Two triangles joined by one edge (m = 7), split into the triangles: each holds 3
    edges (6/14 counted both ways) and degree 7 of 14, so Q = 2 (6/14 - 1/4) = 5/14."""
    from _selection import modularity  # bench/ is on the path (fixture)
    import numpy as np
    import scipy.sparse as sp

    edges = [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5), (2, 3)]
    a = np.zeros((6, 6))
    for i, j in edges:
        a[i, j] = a[j, i] = 1
    assert modularity(sp.csr_matrix(a), np.array([0, 0, 0, 1, 1, 1])) == pytest.approx(5 / 14)
    assert modularity(sp.csr_matrix(a), np.zeros(6, int)) == pytest.approx(0.0)


def test_selection_rules_on_stored_candidates(bench, tmp_path):
    """The selection study reads a stored run's candidate partitions: its silhouette rule
    picks what the run itself picked, and no rule that picks a candidate beats the answer
    key's pick among the same candidates."""
    run, report = bench
    common = ["--datasets", "demo", "--seeds", "1", "--epochs", "6", "--threads", "1",
              "--set", "hid_dim=16", "--set", "embedding=z",
              "--set", "select_stride=2", "--set", "select_first=0",
              "--results", str(tmp_path)]
    run.execute(["sc", "--methods", "scrcl", "--protocols", "final", *common])
    n_rules = len(run._selection.RULES) + 1  # and the answer key's ceiling
    assert run.execute(["selection", *common])["computed"] == n_rules
    folder = tmp_path / "selection/demo"
    member = json.loads(next((tmp_path / "sc/demo").glob("scrcl__*/final/seed1.json"))
                        .read_text())
    assert [c[0] for c in member["candidates"]] == [2, 4, 6]
    got = {p.parts[-3].split("__")[0]: json.loads(p.read_text())
           for p in folder.glob("*/final/seed1.json")}
    assert got["silhouette"]["epoch_used"] == member["epoch_used"]
    assert got["silhouette"]["ari"] == pytest.approx(member["ari"])
    assert got["last"]["epoch_used"] == 6
    for rule, entry in got.items():
        if entry["epoch_used"] is not None:
            assert entry["ari"] <= got["best_candidate"]["ari"] + 1e-12, rule
    assert run.execute(["selection", *common])["up_to_date"] == n_rules
    assert "best candidate (answer key)" in report.selection(
        report.Results(run.iter_entries(tmp_path)))


def test_selection_study_keeps_early_candidates_where_every_epoch_is_clustered(bench,
                                                                               tmp_path):
    """A run with the oracle clusters every epoch: its label-free entry also keeps the
    candidates of the early epochs that the stride skips, the stride's rules ignore them,
    and the early rules and ceiling see them all."""
    run, report = bench
    common = ["--datasets", "demo", "--seeds", "1", "--epochs", "6", "--threads", "1",
              "--set", "hid_dim=16", "--set", "embedding=z",
              "--set", "select_stride=4", "--set", "select_first=0",
              "--results", str(tmp_path)]
    run.execute(["sc", "--methods", "scrcl", *common])
    member = json.loads(next((tmp_path / "sc/demo").glob("scrcl__*/final/seed1.json"))
                        .read_text())
    assert [c[0] for c in member["candidates"]] == [1, 2, 3, 4, 5, 6]
    assert all(t[3] is not None for t in member["trace"])  # every one has its silhouette
    n_rules = len(run._selection.RULES) + 1 + len(run._selection.EARLY_METHODS)
    assert run.execute(["selection", *common])["computed"] == n_rules
    got = {p.parts[-3].split("__")[0]: json.loads(p.read_text())
           for p in (tmp_path / "selection/demo").glob("*/final/seed1.json")}
    assert got["silhouette"]["epoch_used"] == member["epoch_used"] in (4, 6)
    assert got["last"]["epoch_used"] == 6
    sil = {t[0]: t[3] for t in member["trace"]}
    assert got["silhouette_early"]["epoch_used"] == max(sil, key=lambda e: (sil[e], e))
    assert got["best_candidate_early"]["ari"] >= got["best_candidate"]["ari"]
    # every epoch is a candidate here: the ceiling is the trace's best ARI (4 decimals)
    assert got["best_candidate_early"]["ari"] == pytest.approx(
        max(t[1] for t in member["trace"]), abs=1e-4)
    assert run.execute(["selection", *common])["up_to_date"] == n_rules
    assert "silhouette, epochs 1-9 too" in report.selection(
        report.Results(run.iter_entries(tmp_path)))


def test_leiden_clustering_of_the_same_models(bench, tmp_path):
    """scrcl-leiden clusters the models that scrcl trains (one run) by Leiden with the
    resolution bisected to K, for the label-free protocol only."""
    run, _ = bench
    args = ["sc", "--datasets", "demo", "--seeds", "1", "--epochs", "3", "--threads", "1",
            "--methods", "scrcl", "scrcl-leiden", "--set", "hid_dim=16", "--set", "embedding=z",
            "--results", str(tmp_path)]
    assert run.execute(args)["computed"] == 3  # scrcl final + oracle, scrcl-leiden final
    folder = tmp_path / "sc/demo"
    leiden = json.loads(next(folder.glob("scrcl-leiden__*/final/seed1.json")).read_text())
    kmeans = json.loads(next(folder.glob("scrcl__*/final/seed1.json")).read_text())
    assert not list(folder.glob("scrcl-leiden__*/oracle"))
    assert leiden["n_clusters_found"] == leiden["n_clusters"] == 4  # the demo's 4 groups
    assert leiden["train_s"] == kmeans["train_s"]  # the same training run
    assert leiden["inputs"]["settings"]["cluster"].startswith("leiden")


def test_ward_clustering_of_the_same_models(bench, tmp_path):
    """scrcl-ward clusters the models that scrcl trains (one run) by Ward's linkage, for the
    label-free protocol only, and finds the demo's groups."""
    run, _ = bench
    args = ["sc", "--datasets", "demo", "--seeds", "1", "--epochs", "3", "--threads", "1",
            "--methods", "scrcl", "scrcl-ward", "--protocols", "final", "--set", "hid_dim=16",
            "--results", str(tmp_path)]
    assert run.execute(args)["computed"] == 2  # scrcl final, scrcl-ward final
    folder = tmp_path / "sc/demo"
    ward = json.loads(next(folder.glob("scrcl-ward__*/final/seed1.json")).read_text())
    kmeans = json.loads(next(folder.glob("scrcl__*/final/seed1.json")).read_text())
    assert ward["n_clusters_found"] == ward["n_clusters"] == 4  # the demo's 4 groups
    assert ward["train_s"] == kmeans["train_s"]  # the same training run
    assert ward["inputs"]["settings"]["cluster"].startswith("ward")


def test_selection_gap_reads_the_answer_key_picks_from_a_full_trace(bench):
    """A hand-made trace of 20 epochs, stride 10: the best stride candidate is among
    epochs 10 and 20, the early best among 1-9, and a trace that skips epochs is none."""
    _, report = bench
    ari = {e: 0.1 for e in range(1, 21)}
    ari.update({3: 0.7, 10: 0.5, 15: 0.9, 20: 0.4})
    entry = {"epochs": 20, "ari": 0.4, "config": {"select_stride": 10},
             "trace": [[e, a, 0.0, None] for e, a in ari.items()]}
    assert report.gap_scores(entry) == {"final": 0.4, "candidates": 0.5, "stride": 0.5,
                                        "early": 0.7, "all": 0.9}
    entry["config"]["select_first"] = 9  # epochs 1-9 are the run's candidates too
    assert report.gap_scores(entry)["candidates"] == 0.7
    entry["trace"] = entry["trace"][9::10]  # a label-free run alone: candidates only
    assert report.gap_scores(entry) is None


def test_early_suite_reproduces_the_first_epochs_of_a_stored_run(bench, tmp_path):
    """The early suite trains epochs 1-9 of a stored run again: their ARI and silhouettes
    are the ones the run itself recorded (it keeps early candidates since session 7), and
    the rule's pick over stride and early candidates is the best silhouette among them.
    A run made with two threads is trained again with two, whatever the early suite's."""
    run, report = bench
    common = ["--datasets", "demo", "--seeds", "1", "--epochs", "12", "--threads", "1",
              "--set", "hid_dim=16", "--set", "embedding=z",
              "--set", "select_first=0", "--results", str(tmp_path)]
    run.execute(["sc", "--methods", "scrcl", *common, "--threads", "2"])
    assert run.execute(["early", *common])["computed"] == 1
    member = json.loads(next((tmp_path / "sc/demo").glob("scrcl__*/final/seed1.json"))
                        .read_text())
    got = json.loads(next((tmp_path / "early/demo").glob("scrcl__*/final/seed1.json"))
                     .read_text())
    assert got["reproduced"] and got["max_ari_diff"] == 0
    assert member["threads"] == got["trained_with_threads"] == 2
    assert got["early"] == [t for t in member["trace"] if t[0] <= 9]  # silhouettes too
    assert got["candidates"] == [c for c in member["candidates"] if c[0] <= 9]  # partitions
    sil = {t[0]: t[3] for t in member["trace"] if t[3] is not None}  # 1-9, 10, 12
    assert sorted(sil) == [*range(1, 11), 12]
    best = max(sil, key=lambda e: (sil[e], e))
    assert got["epoch_used"] == best and got["member_ari"] == member["ari"]
    assert got["ari"] == {t[0]: t[1] for t in member["trace"]}[best]
    assert run.execute(["early", *common])["up_to_date"] == 1
    assert "silhouette, epochs 1-9 too" in report.early_candidates(
        report.Results(run.iter_entries(tmp_path)))


@pytest.mark.parametrize("seed,source", [(1, "own"), (1, "early suite"), (3, "own"),
                                         (1, "early suite, no candidates")])
def test_a_label_free_entry_with_early_candidates_is_derived_exactly(bench, tmp_path,
                                                                     monkeypatch, seed,
                                                                     source):
    """When the early epochs became candidates (select_first 9), a stored run with the
    stride alone and its early partitions (its own, or the early suite's) give the new
    label-free entry without training, equal to the entry of a run trained with them:
    seed 1 picks an early epoch (5), seed 3 keeps its stride pick (12). A run stored
    before candidates were kept gives an entry without candidates (not early ones alone)."""
    run, _ = bench
    from scrcl.cli import sc

    common = ["sc", "--methods", "scrcl", "--datasets", "demo", "--seeds", str(seed),
              "--epochs", "12", "--threads", "1", "--set", "hid_dim=16", "--set", "embedding=z",
              "--results"]
    old, fresh = tmp_path / "old", tmp_path / "fresh"
    path = f"sc/demo/scrcl__embedding-z__epochs-12__hid_dim-16/final/seed{seed}.json"
    with monkeypatch.context() as m:  # the entries stored before the default changed
        m.setattr(sc, "DEMO_CONFIG", sc.DEMO_CONFIG.replace(select_first=0))
        run.execute([*common, str(old)])
    stored = json.loads((old / path).read_text())
    assert stored["config"]["select_first"] == 0
    if source != "own":  # as the entries stored before session 7: no early partitions
        stored["trace"] = [[*t[:3], None] if t[0] < 10 else t for t in stored["trace"]]
        stored["candidates"] = ([c for c in stored["candidates"] if c[0] >= 10]
                                if source == "early suite" else None)
        (old / path).write_text(json.dumps(stored))
        assert run.execute(["early", *common[3:], str(old)])["computed"] == 1
    with monkeypatch.context() as m:
        patch_runner(m, "train_protocols", lambda *a, **k: pytest.fail("trained again"))
        counts = run.execute([*common, str(old)])
    assert (counts["computed"], counts["up_to_date"]) == (1, 1)  # the oracle kept its hash
    derived = json.loads((old / path).read_text())
    run.execute([*common, str(fresh)])
    trained = json.loads((fresh / path).read_text())
    assert derived["derived"]["from"] == stored["input_hash"]
    assert (derived["derived"]["early"] is not None) == (source != "own")
    assert derived["epoch_used"] == trained["epoch_used"] == {1: 5, 3: 12}[seed]
    for field in ("input_hash", "labels", "acc", "nmi", "ari", "f1", "trace", "config",
                  "n_clusters_found", "losses"):
        assert derived[field] == trained[field], field
    if source.endswith("no candidates"):
        assert derived["candidates"] is None
    else:
        assert derived["candidates"] == trained["candidates"]
    assert derived["train_s"] == stored["train_s"]  # the run's timings, not the derivation's
    assert run.execute([*common, str(old)])["up_to_date"] == 2


def test_no_derived_entry_from_an_early_entry_that_did_not_reproduce_its_run(bench, tmp_path,
                                                                             monkeypatch):
    """An early suite entry whose ARI differs from the run's trace is not used: the unit
    trains instead."""
    run, _ = bench
    from scrcl.cli import sc

    common = ["sc", "--methods", "scrcl", "--datasets", "demo", "--seeds", "1",
              "--epochs", "12", "--threads", "1", "--set", "hid_dim=16", "--set", "embedding=z",
              "--results",
              str(tmp_path)]
    path = tmp_path / "sc/demo/scrcl__embedding-z__epochs-12__hid_dim-16/final/seed1.json"
    with monkeypatch.context() as m:
        m.setattr(sc, "DEMO_CONFIG", sc.DEMO_CONFIG.replace(select_first=0))
        run.execute(common)
    stored = json.loads(path.read_text())
    stored["trace"] = [[*t[:3], None] if t[0] < 10 else t for t in stored["trace"]]
    stored["candidates"] = [c for c in stored["candidates"] if c[0] >= 10]
    path.write_text(json.dumps(stored))
    assert run.execute(["early", *common[3:]])["computed"] == 1
    early = next((tmp_path / "early/demo").glob("*/final/seed1.json"))
    entry = json.loads(early.read_text())
    early.write_text(json.dumps({**entry, "max_ari_diff": 0.0001}))
    run.execute(common)
    assert "derived" not in json.loads(path.read_text())  # trained


def test_time_estimate_follows_the_latest_training_runs(bench, tmp_path):
    """The budget's seconds per epoch: the median of the latest 3 training runs of the data
    set (the entries of one run count once), not of older, slower code."""
    run, _ = bench
    args = run.build_parser().parse_args(["sc", "--results", str(tmp_path)])
    ctx = run.Context(args, [], {}, 0.0)
    runs = [("2026-11-01", 9.0), ("2026-11-02", 9.0), ("2026-11-20", 1.0),
            ("2026-11-21", 2.0), ("2026-11-22", 3.0)]
    for seed, (day, per_epoch) in enumerate(runs):
        for protocol in ("final", "oracle"):  # one run, two entries
            key = run.Key("sc", "demo", "scrcl", protocol, seed)
            run.write_entry(key, tmp_path, {
                "suite": "sc", "dataset": "demo", "method": "scrcl", "variant": "",
                "protocol": protocol, "seed": seed, "device": args.device, "epochs_run": 10,
                "wall_s": per_epoch * 10, "finished": f"{day}T00:00:00+00:00"})
    assert run.stored_s_per_epoch(ctx, run._data.dataset_spec("demo")) == 2.0


def test_time_estimate_prefers_runs_of_the_same_kind(bench, tmp_path):
    """A label-free unit (clustering every 10th epoch) is estimated from label-free runs,
    an oracle unit (clustering every epoch) from oracle runs; either falls back to all."""
    run, _ = bench
    args = run.build_parser().parse_args(["st", "--results", str(tmp_path)])
    ctx = run.Context(args, [], {}, 0.0)
    spec = run._data.dataset_spec("demo")

    def store(seed, day, per_epoch, protocols, method="scrcl"):
        for protocol in protocols:
            key = run.Key("st", "demo", method, protocol, seed)
            run.write_entry(key, tmp_path, {
                "suite": "st", "dataset": "demo", "method": method, "variant": "",
                "protocol": protocol, "seed": seed, "device": args.device, "epochs_run": 10,
                "wall_s": per_epoch * 10, "finished": f"{day}T00:00:00+00:00"})

    store(1, "2026-11-01", 4.0, ("final", "oracle"))
    assert run.stored_s_per_epoch(ctx, spec, oracle=False) == 4.0  # nothing alike: all
    store(2, "2026-11-02", 0.5, ("final",), method="scrcl-autok")
    store(3, "2026-11-03", 3.0, ("final", "oracle"))
    assert run.stored_s_per_epoch(ctx, spec, oracle=False) == 0.5
    assert run.stored_s_per_epoch(ctx, spec, oracle=True) == 3.5
    assert run.stored_s_per_epoch(ctx, spec) == 3.0  # the median of all three


def test_the_probe_leaves_out_the_one_off_costs(bench, monkeypatch):
    """The budget's probe: a first call that compiles (here 0.5 s extra) enters nothing; a
    run's once-only cost (0.2 s), its epochs (0.01 s) and its clusterings (0.03 s) are
    separated, so that a 500-epoch label-free unit, which clusters 50 epochs (spatial) or
    59 (scRNA-seq), and an oracle unit, which clusters all 500, are each estimated."""
    run, _ = bench
    calls = []
    clock = [0.0]  # a fake clock: the runs' costs are exact, whatever the machine's load

    class FakeTime:
        @staticmethod
        def perf_counter() -> float:
            return clock[0]

    def fake_train(ctx, inputs, cfg, seed, methods, protocols, *args, **kwargs):
        clusterings = run.clustered_epochs(cfg, cfg.epochs, protocols)
        clock[0] += (0.5 if not calls else 0.0) + 0.2 + 0.01 * cfg.epochs + 0.03 * clusterings
        calls.append(cfg.epochs)

    monkeypatch.setattr(sys.modules["_training"], "time", FakeTime)
    patch_runner(monkeypatch, "train_protocols", fake_train)
    patch_runner(monkeypatch, "unit_clustering", lambda *a: (3, {}, None))
    patch_runner(monkeypatch, "unit_epochs", lambda ctx, unit: 500)
    from scrcl.config import ScrclConfig

    for select_first, protocols, clusterings in ((0, ["final"], 50), (9, ["final"], 59),
                                                 (0, ["final", "oracle"], 500)):
        calls.clear()
        cfg = ScrclConfig(select_first=select_first)
        assert run.clustered_epochs(cfg, 500, protocols) == clusterings
        needed = run.probe_unit_s(None, None, None, cfg, 5, ["scrcl"], protocols)
        assert calls == [1, *run.PROBE_EPOCHS]
        truth = 0.2 + 0.01 * 500 + 0.03 * clusterings
        # (the floor per epoch of fit_run_cost may bind by a hair: 0.01% here)
        assert abs(needed - truth) < 0.01 * truth, (select_first, protocols, needed, truth)


def test_the_cost_fit_is_never_free(bench):
    """Noise that makes a longer run look no dearer leaves a floor per epoch."""
    run, _ = bench
    cost = run.fit_run_cost([(1, 1, 1.0), (3, 1, 0.9), (12, 2, 1.0)])
    assert cost(500, 50) >= 0.25 * 1.0 / 12 * 500


def test_the_published_embedding_is_not_hashed_and_another_is(bench):
    """Entries stored before --embedding existed keep their hash; 'h' (the scRNA-seq
    default) changes the hash of the trained entries and of nothing that does not cluster."""
    run = bench[0]
    spec = run._data.dataset_spec("demo")
    cfg = run._data.base_config(spec).replace(embedding="z")
    assert "embedding" not in run.hashed_config(cfg, spec)
    assert run.hashed_config(run._data.base_config(spec), spec)["embedding"] == "h"
    assert run.hashed_config(cfg.replace(embedding="h"), spec)["embedding"] == "h"
    assert run.hashed_config(cfg.replace(embedding="h"), spec, label_free=False)[
        "embedding"] == "h"  # the oracle clusters the same embedding


def test_the_runner_schedules_keep_the_hashes_of_their_stored_entries(bench):
    """The default configuration of a slice is the published schedule, hashed as the
    defaults were before the option existed ('--epochs 500' then); '--set schedule=fast'
    (100 epochs at 5x the rate) is hashed as the variant that studied it ('--epochs 100
    --set lr=0.0005'), so the stored entries of both stay valid; only the published
    schedule stores oracle entries."""
    run, _ = bench
    import _data
    import _plan

    spec = _data.DatasetSpec("151507", "st", Path("unused.h5ad"))

    def context(*argv):
        args = run.build_parser().parse_args(["st", *argv])
        return _plan.Context(args, list(argv), run.parse_overrides(args.set), 0.0)

    default = context()
    pcfg = default.config(spec)
    assert (pcfg.epochs, pcfg.lr, pcfg.schedule) == (500, 1e-4, "published")
    assert default.variant == "" and _plan.oracle_config(pcfg)
    # a committed default entry (trained for both protocols: every epoch, no stop)
    stored = json.loads((BENCH / "results/st/151507/scrcl/oracle/seed5.json").read_text())
    assert stored["inputs"]["config"] == _plan.hashed_config(pcfg, spec, stops=False)
    fast = context("--set", "schedule=fast")
    cfg = fast.config(spec)
    assert (cfg.epochs, cfg.lr, cfg.schedule) == (100, 5e-4, "fast")
    assert fast.variant == "schedule-fast" and not _plan.oracle_config(cfg)
    studied = context("--epochs", "100", "--set", "lr=0.0005")
    assert studied.variant == "epochs-100__lr-0.0005"
    assert (_plan.hashed_config(studied.config(spec), spec)
            == _plan.hashed_config(cfg, spec))
    # the committed entry of the study was hashed with this configuration
    stored = BENCH / "results/st/151507/scrcl__schedule-fast/final/seed5.json"
    assert json.loads(stored.read_text())["inputs"]["config"] == _plan.hashed_config(cfg, spec)


def test_the_fast_schedule_plans_label_free_units_that_stop_and_budgets_its_epochs(bench):
    """'--set schedule=fast' with the default protocols plans no oracle entry, so its
    label-free entries keep their stop (their hash is that of '--protocols final', the
    stored one); the budget counts the schedule's epochs without --epochs; a data set with
    a configuration of its own (the demo) refuses a schedule in one line."""
    run, _ = bench
    import _data
    import _plan
    import _training

    spec = _data.DatasetSpec("151507", "st", Path("unused.h5ad"))

    def context(*argv):
        args = run.build_parser().parse_args(["st", *argv])
        return _plan.Context(args, list(argv), run.parse_overrides(args.set), 0.0)

    both, final = context("--set", "schedule=fast"), context("--set", "schedule=fast",
                                                              "--protocols", "final")
    assert not _plan.trains_every_epoch(both) and _plan.trains_every_epoch(context())
    assert _plan.hashed_config(both.config(spec), spec, stops=not _plan.trains_every_epoch(
        both)) == _plan.hashed_config(final.config(spec), spec)
    unit = _plan.Unit("scrcl", spec, 5, [])
    assert _training.unit_epochs(both, unit) == 100
    assert _training.unit_epochs(context(), unit) == 500
    assert _training.unit_epochs(context("--epochs", "7"), unit) == 7
    with pytest.raises(SystemExit, match="choose one of"):
        run.parse_overrides(["schedule=slow"])
    demo = _data.DatasetSpec("demo", "sc", None)
    with pytest.raises(SystemExit, match="demo has its own configuration"):
        _plan.Context(run.build_parser().parse_args(["sc", "--set", "schedule=fast"]), [],
                      {"schedule": "fast"}, 0.0).config(demo)


def test_default_cost_sets_the_kept_entries_beside_the_current_ones(bench, tmp_path):
    """The default-cost table: the kept 'before' records beside the current default's
    entries (results version 3 only), Δ ARI of the means, the spatial 'before' wall left
    out where the run also clustered for the oracle, and the seed target judged on the
    current wall time."""
    run, report = bench
    import _report_cost

    machine = {"cpu_model": "x", "cores": 2, "mem_total_gb": 1.0}
    before = [{"suite": "st", "dataset": "151507", "seed": s, "epochs_run": 500,
               "train_s": 500.0, "wall_s": 900.0, "ari": a, "threads": 1,
               "machine": machine, "label_free_only": False,
               "results_version": 2} for s, a in ((5, 0.30), (15, 0.40))]
    before.append({**before[0], "suite": "sc", "dataset": "Darmanis_brain",
                   "label_free_only": True, "wall_s": 80.0, "ari": 0.89})
    (tmp_path / "default_cost").mkdir()
    (tmp_path / "default_cost" / "before.json").write_text(json.dumps({"records": before}))
    for seed, ari, version in ((5, 0.50, 3), (15, 0.60, 3), (25, 0.99, 2)):
        run.write_entry(run.Key("st", "151507", "scrcl", "final", seed), tmp_path, {
            "suite": "st", "dataset": "151507", "method": "scrcl", "variant": "",
            "protocol": "final", "seed": seed, "epochs_run": 400, "train_s": 200.0,
            "wall_s": 170.0 + seed, "ari": ari, "threads": 1, "machine": machine,
            "results_version": version, "config": {"select_first": 0}})
    text = _report_cost.default_cost(report.Results(run.iter_entries(tmp_path), tmp_path))
    rows = {line.split(" | ")[1]: line.split(" | ") for line in text.splitlines()[2:]}
    st = rows["151507"]
    assert st[2] == "2 / 2"  # the version-2 entry of seed 25 is not an 'after'
    assert st[4:10] == ["500 ± 0", "400 ± 0", "1.00 ± 0.00", "0.50 ± 0.00", "—", "180 ± 5"]
    assert st[12] == "+0.200" and st[13].startswith("180 (yes)")
    sc = rows["Darmanis_brain"]
    assert sc[2] == "1 / 0" and sc[8] == "80" and sc[12] == "—"
    assert "mean over 1 stand-ins" in text


def test_default_cost_keeps_which_runs_were_label_free(bench):
    """A spatial unit without '--protocols final' also trained for the oracle."""
    import default_cost

    st = {"suite": "st", "command": "bench/run.py st --seeds 5"}
    assert not default_cost.label_free_only(st)
    assert default_cost.label_free_only({**st, "command": st["command"] + " --protocols final"})
    assert default_cost.label_free_only({"suite": "sc", "command": "bench/run.py sc"})


def test_spatial_peers_summary_averages_the_slice_means(bench, tmp_path):
    """The front page's spatial row: the mean over the 11 DLPFC slices of each slice's mean
    ARI, and the mean wall of an entry; '—' while a slice has no result."""
    run, report = bench
    import _data
    import _report_accuracy

    machine = {"cpu_model": "x", "cores": 2, "mem_total_gb": 1.0}
    slices = _data.DLPFC_SLICES
    for i, ds in enumerate(slices):
        for seed, shift in ((5, 0.0), (15, 0.1)):
            run.write_entry(run.Key("st", ds, "scrcl", "final", seed), tmp_path, {
                "suite": "st", "dataset": ds, "method": "scrcl", "variant": "",
                "protocol": "final", "seed": seed, "ari": i / 100 + shift, "wall_s": 20.0 + i,
                "machine": machine, "results_version": run.RESULTS_VERSION,
                "config": {"select_first": 0}})
    text = _report_accuracy.peers_st_summary(report.Results(run.iter_entries(tmp_path),
                                                             tmp_path))
    dlpfc = text.splitlines()[2].split(" | ")
    mean = sum(i / 100 + 0.05 for i in range(len(slices))) / len(slices)
    assert dlpfc[1] == f"{mean:.3f}, {20 + (len(slices) - 1) / 2:,.0f} s"
    assert dlpfc[3].startswith("—")  # no GraphST entry
    (tmp_path / "st" / slices[0] / "scrcl" / "final" / "seed5.json").unlink()
    (tmp_path / "st" / slices[0] / "scrcl" / "final" / "seed15.json").unlink()
    text = _report_accuracy.peers_st_summary(report.Results(run.iter_entries(tmp_path),
                                                             tmp_path))
    assert f"— ({len(slices) - 1}/{len(slices)} slices)" in text
