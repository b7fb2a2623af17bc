"""Precision (fp32 / bf16 / auto), dense vs sparse inputs, determinism, and no CUDA on CPU."""
import numpy as np
import pytest
import torch

from scrcl.training import precision
from scrcl.config import ScrclConfig
from scrcl.data.preprocess import prepare_sc
from scrcl.data.synthetic import synthetic_counts
from scrcl.losses import total_loss
from scrcl.nn import ScrclModule
from scrcl.pipeline import run_protocols, run_seeds
from scrcl.training.train import Inputs, embed, set_seed, train

CPU = torch.device("cpu")
CFG = ScrclConfig(hvg=60, k=8, tms=(2, 1), hid_dim=32, epochs=6, dropout=0.3, lr=1e-2,
                  weight_decay=1e-3, lambda1=1.0, lambda2=1.0, temperature=0.5,
                  kmeans_n_init=3, select_stride=2, select_first=0)


@pytest.fixture(scope="module")
def data():
    return prepare_sc(synthetic_counts(n_cells=150, n_genes=90, n_types=3, seed=2), CFG.hvg,
                      CFG.k, CFG.tms, CFG.gene_k)


def test_auto_follows_the_cpu_flags(monkeypatch):
    monkeypatch.setattr(precision, "_cpu_flags", lambda: frozenset({"avx512f"}))
    assert precision.resolve_precision("auto", CPU) == "fp32"
    monkeypatch.setattr(precision, "_cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16"}))
    assert precision.resolve_precision("auto", CPU) == "bf16"
    monkeypatch.setattr(precision, "_cpu_flags", lambda: frozenset({"amx_bf16"}))
    assert precision.resolve_precision("auto", CPU) == "bf16"
    assert precision.resolve_precision("fp32", CPU) == "fp32"
    assert precision.resolve_precision("tf32", CPU) == "fp32"  # TF32 is a CUDA format
    with pytest.raises(ValueError):
        precision.resolve_precision("fp16", CPU)


def test_set_threads():
    before = torch.get_num_threads()
    try:
        assert precision.set_threads(1) == 1 and torch.get_num_threads() == 1
        assert precision.set_threads() == precision.available_cores()
        with pytest.raises(ValueError):
            precision.set_threads(0)
    finally:
        torch.set_num_threads(before)


def _outputs(inputs, prec):
    set_seed(0)
    model = ScrclModule(inputs.n_cells, inputs.n_genes, CFG.hid_dim, 3, CFG.dropout)
    return embed(model, inputs, prec)


@pytest.mark.parametrize("dense", [False, True])
def test_bf16_forward_is_close_to_fp32_and_returns_float32(data, dense):
    inputs = Inputs.from_prepared(data, CPU, dense=dense)
    ref, low = _outputs(inputs, "fp32"), _outputs(inputs, "bf16")
    for key in ("h1", "h2", "e1", "e2", "z1", "z2"):
        assert low[key].dtype == torch.float32  # losses see float32
        err = (low[key] - ref[key]).norm() / ref[key].norm()
        assert err < 3e-2, (key, err)
        # bf16 was used: always in the GCN view's dense layers; in the MLP view only with
        # dense inputs (sparse products stay float32)
        if key[1] == "2" or dense:
            assert err > 0, key
    loss_ref, _ = total_loss(ref, inputs.loss_adj, 0.5, 1.0, 1.0)
    loss_low, _ = total_loss(low, inputs.loss_adj, 0.5, 1.0, 1.0)
    assert abs(loss_low.item() - loss_ref.item()) < 2e-2 * abs(loss_ref.item())


def test_dense_and_sparse_inputs_give_the_same_model(data):
    """S^t X computed once (dense) == S^t (X W) in the model (sparse), full forward pass."""
    dense = _outputs(Inputs.from_prepared(data, CPU, dense=True), "fp32")
    sparse = _outputs(Inputs.from_prepared(data, CPU, dense=False), "fp32")
    for key in dense:
        assert torch.allclose(dense[key], sparse[key], atol=1e-4), key


@pytest.mark.parametrize("prec", ["fp32", "bf16"])
def test_same_seed_same_precision_gives_identical_labels(data, prec):
    cfg = CFG.replace(precision=prec)
    first = run_seeds(data, cfg, 3, [5], device="cpu", progress=False)
    again = run_seeds(data, cfg, 3, [5], device="cpu", progress=False)
    assert first.precision == prec
    np.testing.assert_array_equal(first.runs[0].labels, again.runs[0].labels)
    assert first.runs[0].losses == again.runs[0].losses


@pytest.mark.slow
def test_same_seed_gives_identical_labels_with_compiled_losses(data, monkeypatch):
    """The compiled losses (what 500-epoch runs from 2.5 M activation entries take) keep
    two runs of the same seed identical, loss for loss."""
    monkeypatch.setenv(precision.COMPILE_ENV, "yes")
    from scrcl.training.train import loss_kind

    assert loss_kind(data.n_cells, CFG.hid_dim, CFG.epochs) == "compiled"
    cfg = CFG.replace(precision="bf16")
    first = run_seeds(data, cfg, 3, [5], device="cpu", progress=False)
    again = run_seeds(data, cfg, 3, [5], device="cpu", progress=False)
    np.testing.assert_array_equal(first.runs[0].labels, again.runs[0].labels)
    assert first.runs[0].losses == again.runs[0].losses


def test_bf16_changes_the_training_only_slightly(data):
    fp32 = train(Inputs.from_prepared(data, CPU), CFG.replace(precision="fp32"), 3, 5,
                 progress=False)
    bf16 = train(Inputs.from_prepared(data, CPU), CFG.replace(precision="bf16"), 3, 5,
                 progress=False)
    assert fp32.losses != bf16.losses
    np.testing.assert_allclose(bf16.losses, fp32.losses, rtol=2e-2)


def test_both_protocols_from_one_run_equal_separate_runs(data):
    truth = np.asarray(synthetic_counts(n_cells=150, n_genes=90, n_types=3, seed=2)
                       .obs["cell_type1"].astype(str))[data.cells]
    both = run_protocols(data, CFG, 3, [5], ("final", "oracle"), truth=truth, device="cpu",
                         progress=False)
    for proto in ("final", "oracle"):
        alone = run_seeds(data, CFG, 3, [5], protocol=proto, truth=truth, device="cpu",
                          progress=False)
        np.testing.assert_array_equal(both[proto].runs[0].labels, alone.runs[0].labels)
        assert both[proto].runs[0].epoch_used == alone.runs[0].epoch_used


def test_a_clusterer_kept_from_the_oracle_gives_the_same_result_with_fewer_calls(data):
    """protocols_of: a clusterer wanted for the label-free protocol alone is run on the
    candidate epochs only, and gives what it gives when it also serves the oracle."""
    from scrcl.pipeline import kmeans_clusterer

    truth = np.asarray(synthetic_counts(n_cells=150, n_genes=90, n_types=3, seed=2)
                       .obs["cell_type1"].astype(str))[data.cells]
    calls: dict[str, list[int]] = {}

    def hook(seed, name, epoch, labels, emb):
        calls.setdefault(name, []).append(epoch)

    named = {"a": None, "b": kmeans_clusterer(2)}
    kwargs = dict(truth=truth, device="cpu", progress=False, clusterers=named)
    every = run_protocols(data, CFG, 3, [5], ("final", "oracle"), **kwargs)
    some = run_protocols(data, CFG, 3, [5], ("final", "oracle"), epoch_hook=hook,
                         protocols_of={"b": ["final"]}, **kwargs)
    assert sorted(some["a"]) == ["final", "oracle"] and list(some["b"]) == ["final"]
    assert calls["a"] == [1, 2, 3, 4, 5, 6] and calls["b"] == [2, 4, 6]  # stride 2
    for name, proto in (("a", "final"), ("a", "oracle"), ("b", "final")):
        np.testing.assert_array_equal(some[name][proto].runs[0].labels,
                                      every[name][proto].runs[0].labels)
        assert some[name][proto].runs[0].epoch_used == every[name][proto].runs[0].epoch_used


def test_select_first_adds_the_first_epochs_to_the_label_free_candidates(data):
    """select_first = 3 (stride 2, 6 epochs): epochs 1, 2, 3, 4, 6 are clustered and the
    final choice is the best silhouette among them; the training is the same."""
    from scrcl.clustering.selection import silhouette

    seen: dict[int, float] = {}

    def hook(seed, name, epoch, labels, emb):
        seen[epoch] = silhouette(emb, labels)

    plain = run_protocols(data, CFG, 3, [5], ("final",), device="cpu", progress=False)
    early = run_protocols(data, CFG.replace(select_first=3), 3, [5], ("final",),
                          device="cpu", progress=False, epoch_hook=hook)
    assert sorted(seen) == [1, 2, 3, 4, 6]
    best = max(seen, key=lambda e: (seen[e], e))
    assert early["final"].runs[0].epoch_used == best
    assert early["final"].runs[0].losses == plain["final"].runs[0].losses
    seen.clear()  # measured for the silhouette rule alone: 'stable' keeps the stride
    run_protocols(data, CFG.replace(select_first=3, select="stable"), 3, [5], ("final",),
                  device="cpu", progress=False, epoch_hook=hook)
    assert sorted(seen) == [2, 4, 6]


def test_no_cuda_call_on_a_machine_without_cuda(data, monkeypatch):
    """With no GPU visible, the whole pipeline ('auto' device and precision) never
    initialises CUDA: every CUDA entry point goes through torch.cuda._lazy_init."""
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")

    def no_cuda(*args, **kwargs):
        raise AssertionError("a CUDA call was made")

    monkeypatch.setattr(torch.cuda, "_lazy_init", no_cuda)
    monkeypatch.setattr(torch.cuda, "synchronize", no_cuda)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", no_cuda)
    result = run_seeds(data, CFG.replace(precision="auto"), 3, [5], device="auto",
                       progress=False)
    assert result.device == "cpu"


def test_compile_rule(monkeypatch):
    monkeypatch.delenv(precision.COMPILE_ENV, raising=False)
    monkeypatch.setattr("shutil.which", lambda name: "/usr/bin/" + name)
    assert precision.resolve_compile(4221, 1500, 500)  # a DLPFC slice, 500 epochs
    assert not precision.resolve_compile(822, 1500, 500)  # small: compiling costs more
    assert not precision.resolve_compile(4221, 1500, 20)  # short
    from scrcl.training.train import loss_kind

    assert loss_kind(2100, 1500, 500) == "compiled"  # MCA's size, since session 7
    assert loss_kind(822, 1500, 500) == "eager"
    assert loss_kind(20000, 1500, 500) == "chunked"
    assert loss_kind(20000, 1500, 500, distributed=True) == "compiled"
    monkeypatch.setenv(precision.COMPILE_ENV, "no")
    assert not precision.resolve_compile(4221, 1500, 500)
    monkeypatch.setenv(precision.COMPILE_ENV, "yes")
    assert precision.resolve_compile(10, 16, 1)
    monkeypatch.setattr("shutil.which", lambda name: None)
    assert not precision.resolve_compile(4221, 1500, 500, "auto")  # no C++ compiler
    with pytest.raises(ValueError):
        precision.resolve_compile(10, 16, 1, "maybe")


@pytest.mark.slow
def test_compiled_losses_equal_the_plain_ones(data, monkeypatch):
    """torch.compile of the losses (what long runs use) gives the same value and
    gradients as the plain functions."""
    from scrcl.losses import scrcl_loss
    from scrcl.training.train import _objective, loss_kind

    monkeypatch.setenv(precision.COMPILE_ENV, "yes")
    inputs = Inputs.from_prepared(data, CPU)
    assert loss_kind(inputs.n_cells, CFG.hid_dim, CFG.epochs) == "compiled"
    objective = _objective(True)
    assert objective is not scrcl_loss
    values, grads = [], []
    for fn in (scrcl_loss, objective):
        out = _outputs(inputs, "fp32")
        leaves = [out[k].detach().requires_grad_() for k in ("e1", "e2", "z1", "z2")]
        loss = fn(*leaves, inputs.loss_adj, 0.5, 1.0, 1.0)
        values.append(loss.item())
        grads.append(torch.autograd.grad(loss, leaves))
    assert values[1] == pytest.approx(values[0], rel=1e-5)
    for plain, fused in zip(*grads):
        assert torch.allclose(plain, fused, rtol=1e-4, atol=1e-7)
