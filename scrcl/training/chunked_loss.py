"""L_EDA + lambda1 L_NCA in row chunks: the same value and gradient, a fraction of the memory.

Autograd through :func:`scrcl.losses.scrcl_loss` keeps about fifteen (N, H) float32
intermediates (normalised embeddings, row and global log-softmaxes, their exponentials,
products) for the backward pass: at H = 1,500 that is about 90 KB per cell, the largest
part of a training step's peak memory on large data. Every one of these intermediates is
a row-local function of h1, h2 (N, H), except for a few *statistics* that sum over rows:

* the global log-sum-exps of L_EDA's global part, lse(e1 / t) and lse(e2 / t) (scalars),
* L_NCA's column sums sum_j log Q_j, sum_j Q_j (H,) and sum_j b_j (scalar),
* L_NCA's neighbour sums A log Q, A Q (N, H) and A b (N,).

So the loss is L = sum_i l_i(h1_i, h2_i, stats) with stats = sum_j g(h1_j, h2_j) (the
neighbour sums being A-weighted), and dL/dh_k = dl_k/dh_k + (sum_i dl_i/dstats) dg_k/dh_k.
Three passes over row chunks compute it exactly: (1) the statistics, no gradient; (2) per
chunk, the loss and its gradient with the statistics as leaves (dl/dh and dl/dstats);
(3) per chunk, the gradient of <dL/dstats, g(h_chunk)>, which adds the second term (for
the neighbour sums, dL/dstats is first multiplied by A, which is symmetric).

Memory: the two gradients (N, H), the neighbour sums (N, H) x 2, whose storage is reused
for their gradients, and chunk temporaries: about 4 (N, H) float32 instead of 15. Time: the
row-local work is done three times, in chunks that stay in cache. The values agree with
:func:`scrcl.losses.scrcl_loss` to float32 rounding (``tests/test_chunked_loss.py``).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from ..losses import degrees

#: rows per chunk are chosen so that one (rows, H) float32 block is about this many bytes
CHUNK_BYTES = 4 * 2**20


def chunk_rows(n_cols: int, chunk_bytes: int = CHUNK_BYTES) -> int:
    return max(1, chunk_bytes // (4 * n_cols))


def _row_terms(h: Tensor, temperature: float) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """For a chunk h (c, H): u = norm(h) / t, log P (row log-softmax of u), P, and
    a = sum_h P log P (c,)."""
    u = F.normalize(h, dim=1) / temperature
    log_p = torch.log_softmax(u, 1)
    p = log_p.exp()
    return u, log_p, p, (p * log_p).sum(1)


class _Stats:
    """The row sums the per-cell terms depend on (see the module docstring)."""

    def __init__(self, h1: Tensor, h2: Tensor, adj: Tensor, temperature: float,
                 rows: int) -> None:
        n, width = h1.shape
        self.dtype = dt = _work_dtype(h1)
        kw = {"device": h1.device, "dtype": dt}
        lse_u = torch.tensor(float("-inf"), **kw)
        lse_v = torch.tensor(float("-inf"), **kw)
        self.slq = torch.zeros(width, **kw)
        self.sq = torch.zeros(width, **kw)
        b = torch.empty(n, **kw)
        buf = torch.empty(n, width, **kw)  # log Q, then Q: one (N, H) buffer
        for s in range(0, n, rows):
            u, _, _, _ = _row_terms(h1[s:s + rows].to(self.dtype), temperature)
            v, log_q, q, b_c = _row_terms(h2[s:s + rows].to(self.dtype), temperature)
            lse_u = torch.logaddexp(lse_u, torch.logsumexp(u.reshape(-1), 0))
            lse_v = torch.logaddexp(lse_v, torch.logsumexp(v.reshape(-1), 0))
            self.slq += log_q.sum(0)
            self.sq += q.sum(0)
            b[s:s + rows] = b_c
            buf[s:s + rows] = log_q
        self.lse_u, self.lse_v, self.sb = lse_u, lse_v, b.sum()
        self.alq = adj @ buf  # A log Q
        for s in range(0, n, rows):
            buf[s:s + rows] = _row_terms(h2[s:s + rows].to(self.dtype), temperature)[2]
        self.aq = adj @ buf  # A Q
        del buf
        self.nb = (adj @ b.unsqueeze(1)).squeeze(1)  # A b


def _chunk_loss(h1: Tensor, h2: Tensor, lse_u: Tensor, lse_v: Tensor, slq: Tensor,
                sq: Tensor, sb: Tensor, alq: Tensor, aq: Tensor, nb: Tensor, deg: Tensor,
                n: int, temperature: float, lambda1: float) -> Tensor:
    """The chunk's share of L_EDA + lambda1 L_NCA, given the statistics. h1, h2 (c, H);
    alq, aq (c, H) and nb, deg (c,) the chunk's rows of A log Q, A Q, A b and the degrees."""
    u, log_p, p, a = _row_terms(h1, temperature)
    v, log_q, q, b = _row_terms(h2, temperature)
    lpg, lqg = u - lse_u, v - lse_v  # global log-softmax entries
    glob = ((lpg.exp() - lqg.exp()) * (lpg - lqg)).sum()
    cell = ((p - q) * (log_p - log_q)).sum() / (2 * n)
    total = n * a + sb - p @ slq - log_p @ sq
    self_d = a + b - (p * log_q).sum(1) - (q * log_p).sum(1)
    neigh = deg * a + nb - (p * alq).sum(1) - (log_p * aq).sum(1) + self_d
    ratios = (neigh / (deg + 1)) / ((total - self_d) / (n - 1))
    return glob + cell + lambda1 * ratios.sum() / n


def _work_dtype(h: Tensor) -> torch.dtype:
    """float32 for 16- and 32-bit inputs, float64 for float64 (the tests)."""
    return torch.promote_types(h.dtype, torch.float32)


def _leaf(x: Tensor) -> Tensor:
    return x.detach().requires_grad_(True)


def alignment_value_and_grad(h1: Tensor, h2: Tensor, adj: Tensor, temperature: float,
                             lambda1: float, rows: Optional[int] = None
                             ) -> tuple[Tensor, Tensor, Tensor]:
    """L_EDA(e1, e2) + lambda1 L_NCA(e1, e2) with e = norm(h), and its gradients.

    h1, h2: (N, H) the views' outputs before normalisation (any float dtype; the work is
    float32); adj: sparse (N, N) binary symmetric, no self loops; ``rows`` per chunk
    (default: about CHUNK_BYTES per block). Returns (value, dL/dh1, dL/dh2), float32.
    """
    n, width = h1.shape
    rows = rows or chunk_rows(width)
    dt = _work_dtype(h1)
    kw = {"device": h1.device, "dtype": dt}
    deg = degrees(adj).to(dt)
    with torch.no_grad():
        st = _Stats(h1, h2, adj, temperature, rows)
    stats = [_leaf(x) for x in (st.lse_u, st.lse_v, st.slq, st.sq, st.sb)]
    d_stats = [torch.zeros_like(x) for x in stats]
    g1, g2 = torch.empty(n, width, **kw), torch.empty(n, width, **kw)
    d_nb = torch.empty(n, **kw)
    value = torch.zeros((), **kw)
    # pass 2: the loss per chunk; the neighbour sums' gradients overwrite the sums
    for s in range(0, n, rows):
        sl = slice(s, s + rows)
        x1, x2 = _leaf(h1[sl].to(dt)), _leaf(h2[sl].to(dt))
        alq, aq, nb = _leaf(st.alq[sl]), _leaf(st.aq[sl]), _leaf(st.nb[sl])
        with torch.enable_grad():
            part = _chunk_loss(x1, x2, *stats, alq, aq, nb, deg[sl], n, temperature, lambda1)
            grads = torch.autograd.grad(part, [x1, x2, *stats, alq, aq, nb])
        value += part.detach()
        g1[sl], g2[sl] = grads[0], grads[1]
        for acc, g in zip(d_stats, grads[2:7]):
            acc += g
        st.alq[sl], st.aq[sl], d_nb[sl] = grads[7], grads[8], grads[9]
    # the neighbour sums' gradients reach row j through A (symmetric): (A dL/dY)_j
    m_lq = adj @ st.alq
    del st.alq
    m_q = adj @ st.aq
    del st.aq
    m_b = (adj @ d_nb.unsqueeze(1)).squeeze(1)
    d_lse_u, d_lse_v, d_slq, d_sq, d_sb = d_stats
    lse_u, lse_v = st.lse_u, st.lse_v
    # pass 3: the statistics' share of each row's gradient
    for s in range(0, n, rows):
        sl = slice(s, s + rows)
        x1, x2 = _leaf(h1[sl].to(dt)), _leaf(h2[sl].to(dt))
        with torch.enable_grad():
            u = _row_terms(x1, temperature)[0]
            v, log_q, q, b = _row_terms(x2, temperature)
            surrogate = (d_lse_u * (u - lse_u).exp().sum() + d_lse_v * (v - lse_v).exp().sum()
                         + (log_q.sum(0) @ d_slq) + (q.sum(0) @ d_sq) + d_sb * b.sum()
                         + (m_lq[sl] * log_q).sum() + (m_q[sl] * q).sum() + (m_b[sl] * b).sum())
            a1, a2 = torch.autograd.grad(surrogate, [x1, x2])
        g1[sl] += a1
        g2[sl] += a2
    return value, g1, g2


class _ChunkedAlignment(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h1: Tensor, h2: Tensor, adj: Tensor, temperature: float,
                lambda1: float, rows: Optional[int]) -> Tensor:
        value, g1, g2 = alignment_value_and_grad(h1, h2, adj, temperature, lambda1, rows)
        ctx.grads = (g1, g2)
        ctx.dtypes = (h1.dtype, h2.dtype)
        return value

    @staticmethod
    def backward(ctx, grad: Tensor):
        g1, g2 = ctx.grads
        del ctx.grads
        return (g1.mul_(grad).to(ctx.dtypes[0]), g2.mul_(grad).to(ctx.dtypes[1]),
                None, None, None, None)


def chunked_alignment_loss(h1: Tensor, h2: Tensor, adj: Tensor, temperature: float,
                           lambda1: float, rows: Optional[int] = None) -> Tensor:
    """L_EDA + lambda1 L_NCA of e = norm(h) (``scrcl.losses``), differentiable in h1, h2
    (N, H), with about 4 (N, H) float32 blocks of memory instead of 15 (module docstring).
    Computes its gradient during the forward call, so call it only when you will
    backpropagate (training)."""
    return _ChunkedAlignment.apply(h1, h2, adj, temperature, lambda1, rows)
