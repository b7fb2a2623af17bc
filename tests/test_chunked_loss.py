"""The chunked L_EDA + lambda1 L_NCA against the plain losses (values and gradients)."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from scrcl.training.chunked_loss import alignment_value_and_grad, chunked_alignment_loss
from scrcl.graphs import adjacency_from_knn, knn_indices
from scrcl.losses import eda_loss, nca_loss


def _graph(n, k, seed, dtype):
    rng = np.random.default_rng(seed)
    adj = adjacency_from_knn(knn_indices(rng.normal(size=(n, 3)), k))
    return torch.sparse_csr_tensor(torch.from_numpy(adj.indptr).long(),
                                   torch.from_numpy(adj.indices).long(),
                                   torch.from_numpy(adj.data).to(dtype), size=adj.shape)


def _reference(h1, h2, adj, t, lam):
    """The plain autograd path of scrcl.losses, on e = norm(h)."""
    e1, e2 = F.normalize(h1, dim=1), F.normalize(h2, dim=1)
    return eda_loss(e1, e2, t) + lam * nca_loss(e1, e2, adj, t)


@pytest.mark.parametrize("rows", [1, 7, 23, 1000])  # chunk sizes that do and do not divide N
def test_value_and_gradient_equal_plain_autograd(rows):
    n, h, t, lam = 23, 9, 0.1, 0.37
    g = torch.Generator().manual_seed(3)
    h1 = (torch.randn(n, h, generator=g, dtype=torch.float64) * 2).requires_grad_()
    h2 = (torch.randn(n, h, generator=g, dtype=torch.float64) * 2).requires_grad_()
    adj = _graph(n, 4, 1, torch.float64)
    ref = _reference(h1, h2, adj, t, lam)
    r1, r2 = torch.autograd.grad(ref, [h1, h2])
    value, g1, g2 = alignment_value_and_grad(h1.detach(), h2.detach(), adj, t, lam, rows)
    assert value.item() == pytest.approx(ref.item(), rel=1e-12)
    torch.testing.assert_close(g1, r1, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(g2, r2, rtol=1e-9, atol=1e-12)
    assert g1.abs().max() > 1e-3 and g2.abs().max() > 1e-3  # not trivially zero


def test_autograd_function_in_float32_and_bfloat16_inputs():
    """As training uses it: float32 work on float32 or bfloat16 h, gradient scaled by the
    upstream gradient and returned in h's dtype."""
    n, h, t, lam = 300, 64, 0.1, 0.01
    g = torch.Generator().manual_seed(0)
    base1, base2 = torch.randn(n, h, generator=g), torch.randn(n, h, generator=g)
    adj = _graph(n, 10, 2, torch.float32)
    h1, h2 = base1.clone().requires_grad_(), base2.clone().requires_grad_()
    (3 * _reference(h1, h2, adj, t, lam)).backward()
    for dtype in (torch.float32, torch.bfloat16):
        c1 = base1.to(dtype).detach().requires_grad_()
        c2 = base2.to(dtype).detach().requires_grad_()
        loss = chunked_alignment_loss(c1, c2, adj, t, lam, rows=64)
        (3 * loss).backward()
        assert c1.grad.dtype == dtype
        tol = 1e-5 if dtype == torch.float32 else 3e-2
        torch.testing.assert_close(c1.grad.float(), h1.grad, rtol=tol, atol=tol * h1.grad.abs().max())
        torch.testing.assert_close(c2.grad.float(), h2.grad, rtol=tol, atol=tol * h2.grad.abs().max())


def test_training_with_the_chunked_loss_follows_the_plain_one(monkeypatch):
    """The size rule; the whole model's parameter gradients from both objectives; and a
    real training run with each (the same losses while Adam's sign-like first steps keep
    the parameters together: rounding differences in near-zero gradients are amplified to
    +-lr later, as with any change of summation order)."""
    from scrcl.training import train as training
    from scrcl.config import ScrclConfig
    from scrcl.data.preprocess import prepare_sc
    from scrcl.data.synthetic import synthetic_counts
    from scrcl.losses import scrcl_loss
    from scrcl.nn import ScrclModule

    assert not training.use_chunked_loss(11_000, 1500)
    assert training.use_chunked_loss(11_200, 1500)
    assert not training.use_chunked_loss(11_200, 1500, distributed=True)
    cfg = ScrclConfig(hvg=60, k=8, tms=(2, 1), hid_dim=32, epochs=6, dropout=0.3, lr=1e-2,
                      weight_decay=1e-3, lambda1=1.0, lambda2=1.0, temperature=0.5,
                      precision="fp32")
    data = prepare_sc(synthetic_counts(n_cells=150, n_genes=90, n_types=3, seed=2), cfg.hvg,
                      cfg.k, cfg.tms, cfg.gene_k)
    inputs = training.Inputs.from_prepared(data, torch.device("cpu"))
    grads = {}
    for chunked in (False, True):
        torch.manual_seed(0)
        model = ScrclModule(inputs.n_cells, inputs.n_genes, cfg.hid_dim, 3, cfg.dropout)
        out = inputs.forward(model, normalized=not chunked)
        args = (out["z1"], out["z2"], inputs.loss_adj, cfg.temperature, cfg.lambda1,
                cfg.lambda2)
        loss = (training._chunked_objective(out["h1"], out["h2"], *args) if chunked
                else scrcl_loss(out["e1"], out["e2"], *args))
        loss.backward()
        grads[chunked] = [p.grad.clone() for p in model.parameters()]
    for a, b in zip(grads[True], grads[False]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6 * b.abs().max() + 1e-12)
    losses = {}
    for setting in ("no", "yes"):
        monkeypatch.setenv("SCRCL_CHUNKED_LOSS", setting)
        losses[setting] = training.train(inputs, cfg, 3, seed=5, progress=False).losses
    np.testing.assert_allclose(losses["yes"][:4], losses["no"][:4], rtol=1e-5)
    np.testing.assert_allclose(losses["yes"], losses["no"], rtol=1e-2)
