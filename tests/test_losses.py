"""The linear-memory losses against dense N x N references computed here."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from scrcl.graphs import adjacency_from_knn, knn_indices
from scrcl.losses import cvc_loss, eda_loss, nca_loss



@pytest.fixture(autouse=True)
def float64():
    """Double precision for the comparisons, restored afterwards for the other tests."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _graph(n, k, seed):
    rng = np.random.default_rng(seed)
    adj = adjacency_from_knn(knn_indices(rng.normal(size=(n, 3)), k))
    coo = adj.tocoo()
    t = torch.sparse_coo_tensor(np.vstack([coo.row, coo.col]), coo.data.astype(np.float64),
                                adj.shape).coalesce().to_sparse_csr()
    return adj.toarray().astype(np.float64), t


def _inputs(n=23, h=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    e1 = F.normalize(torch.randn(n, h, generator=g), dim=1).requires_grad_()
    e2 = F.normalize(torch.randn(n, h, generator=g), dim=1).requires_grad_()
    return e1, e2


def _kl_rows(log_a, log_b):
    """(N, N) matrix KL(a_i || b_j)."""
    a = log_a.exp()
    return (a * log_a).sum(1, keepdim=True) - a @ log_b.T


def dense_nca(e1, e2, a_dense, t):
    n = e1.shape[0]
    lp, lq = torch.log_softmax(e1 / t, 1), torch.log_softmax(e2 / t, 1)
    d = _kl_rows(lp, lq) + _kl_rows(lq, lp).T  # D_ij = KL(P_i||Q_j) + KL(Q_j||P_i)
    m = torch.tensor(a_dense) + torch.eye(n)
    num = (d * m).sum(1) / m.sum(1)
    den = (d * (1 - torch.eye(n))).sum(1) / (n - 1)
    return (num / den).mean()


def dense_cvc(z1, z2, a_dense):
    n = z1.shape[0]
    cos = F.cosine_similarity(z1[:, None, :], z2[None, :, :], dim=2)
    return ((cos - (torch.tensor(a_dense) + torch.eye(n))) ** 2).mean()


def dense_eda(e1, e2, t):
    def kl(lp, lq):
        return (lp.exp() * (lp - lq)).sum()
    gp, gq = torch.log_softmax(e1.flatten() / t, 0), torch.log_softmax(e2.flatten() / t, 0)
    cp, cq = torch.log_softmax(e1 / t, 1), torch.log_softmax(e2 / t, 1)
    n = e1.shape[0]
    return kl(gp, gq) + kl(gq, gp) + (kl(cp, cq) / n + kl(cq, cp) / n) / 2


def _check(fast, dense, params):
    gf = torch.autograd.grad(fast, params)
    gd = torch.autograd.grad(dense, params)
    assert torch.allclose(fast, dense, rtol=1e-5, atol=0), (fast.item(), dense.item())
    for a, b in zip(gf, gd):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-12 * b.abs().max().item())


@pytest.mark.parametrize("seed,t", [(0, 0.1), (1, 1.0), (2, 0.5)])
def test_nca_matches_dense(seed, t):
    a_dense, adj = _graph(23, 4, seed)
    e1, e2 = _inputs(seed=seed)
    _check(nca_loss(e1, e2, adj, t), dense_nca(e1, e2, a_dense, t), [e1, e2])


@pytest.mark.parametrize("seed", [0, 3])
def test_cvc_matches_dense(seed):
    a_dense, adj = _graph(31, 5, seed)
    g = torch.Generator().manual_seed(seed)
    r1, r2 = (torch.randn(31, 4, generator=g).requires_grad_() for _ in range(2))
    z1, z2 = F.normalize(r1, dim=1), F.normalize(r2, dim=1)  # as the model makes them
    _check(cvc_loss(z1, z2, adj), dense_cvc(r1, r2, a_dense), [r1, r2])


def test_eda_matches_dense():
    e1, e2 = _inputs(seed=5)
    _check(eda_loss(e1, e2, 0.1), dense_eda(e1, e2, 0.1), [e1, e2])


def test_losses_vanish_or_not_as_they_should():
    e1, _ = _inputs(seed=7)
    assert eda_loss(e1, e1, 0.1).item() == pytest.approx(0.0, abs=1e-12)
    a_dense, adj = _graph(23, 4, 7)
    # identical views: z1 = z2, so the only error is where cos != M
    z = e1.detach()
    assert cvc_loss(z, z, adj).item() == pytest.approx(dense_cvc(z, z, a_dense).item(), rel=1e-10)
    assert cvc_loss(z, z, adj).item() > 0
