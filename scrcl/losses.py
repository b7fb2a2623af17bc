"""The three scRCL losses, in exact forms whose memory is linear in the number of cells.

Notation (METHOD.md): e1, e2 (N, H) row-normalised cell embeddings of the two views,
t the temperature, P = softmax_rows(e1 / t), Q = softmax_rows(e2 / t), A the binary
symmetric cell graph without self loops as a torch sparse (N, N) matrix, z1, z2 (N, C) the
row-normalised refined representations.

The reference implementation builds N x N matrices for L_NCA and L_CVC. Here the sums
over all pairs are expanded so that only per-view column sums, per-edge terms and a
C x C Gram matrix are needed: O(N H + E H) time and memory for L_NCA, O(N C^2 + E C) for
L_CVC. Sums over edges are sparse-dense products A @ (N, d), never gathers of (E, d).
``tests/test_losses.py`` checks values and gradients against dense references.
"""
from __future__ import annotations

import torch
from torch import Tensor


def _sym_kl(log_p: Tensor, log_q: Tensor) -> Tensor:
    """KL(p||q) + KL(q||p) = sum (p - q)(log p - log q), summed over all entries."""
    return ((log_p.exp() - log_q.exp()) * (log_p - log_q)).sum()


def eda_loss(e1: Tensor, e2: Tensor, temperature: float) -> Tensor:
    """Embedding distribution alignment L_EDA = global part + cell part.

    global: the N*H entries of each view as one distribution, p = softmax(vec(e1)/t),
    q likewise; KL(p||q) + KL(q||p).
    cell: (sum_i KL(P_i||Q_i) + sum_i KL(Q_i||P_i)) / (2 N).
    e1, e2: (N, H). Returns a scalar.
    """
    return _eda(e1, e2, *_row_log_softmax(e1, e2, temperature), temperature)


def _row_log_softmax(e1: Tensor, e2: Tensor, temperature: float) -> tuple[Tensor, Tensor]:
    """log P, log Q (N, H): the row-wise log-softmaxes that L_EDA and L_NCA share."""
    return torch.log_softmax(e1 / temperature, 1), torch.log_softmax(e2 / temperature, 1)


def _eda(e1: Tensor, e2: Tensor, log_p: Tensor, log_q: Tensor, temperature: float) -> Tensor:
    """L_EDA from the embeddings and their row-wise log-softmaxes."""
    n = e1.shape[0]
    glob = _sym_kl(torch.log_softmax((e1 / temperature).reshape(-1), 0),
                   torch.log_softmax((e2 / temperature).reshape(-1), 0))
    return glob + _sym_kl(log_p, log_q) / (2 * n)


def degrees(adj: Tensor) -> Tensor:
    """Row sums of a sparse (N, N) 0/1 matrix, as float. adj: CSR or COO."""
    if adj.layout == torch.sparse_csr:
        return adj.crow_indices().diff().to(adj.dtype)
    return torch.sparse.sum(adj, 1).to_dense()


def nca_loss(e1: Tensor, e2: Tensor, adj: Tensor, temperature: float) -> Tensor:
    """Neighbourhood contrastive alignment L_NCA, exact in O(N H + E H).

    D_ij = KL(P_i||Q_j) + KL(Q_j||P_i) = a_i + b_j - <P_i, log Q_j> - <Q_j, log P_i>
    with a_i = <P_i, log P_i>, b_j = <Q_j, log Q_j>. Then
    r_i = [sum_{j in N(i) + {i}} D_ij / (|N(i)| + 1)] / [sum_{j != i} D_ij / (N - 1)],
    L_NCA = mean_i r_i. Sums over all j factor into column sums; sums over N(i) are rows
    of A @ b, A @ log Q and A @ Q.
    e1, e2: (N, H); adj: sparse (N, N) binary symmetric, no self loops.
    """
    return _nca_ratios(*_row_log_softmax(e1, e2, temperature), adj).mean()


def _nca_ratios(log_p: Tensor, log_q: Tensor, adj: Tensor) -> Tensor:
    """The per-cell ratios r_i (N,) of L_NCA = mean_i r_i, from log P and log Q (N, H)."""
    n = log_p.shape[0]
    p, q = log_p.exp(), log_q.exp()
    a = (p * log_p).sum(1)  # (N,)
    b = (q * log_q).sum(1)  # (N,)
    # sum over every j (self included): N a_i + sum_j b_j - <P_i, sum_j log Q_j> - <sum_j Q_j, log P_i>
    total = n * a + b.sum() - p @ log_q.sum(0) - log_p @ q.sum(0)
    self_d = a + b - (p * log_q).sum(1) - (q * log_p).sum(1)  # D_ii
    deg = degrees(adj)
    neigh_b = (adj @ b.unsqueeze(1)).squeeze(1)
    neigh = (deg * a + neigh_b - (p * (adj @ log_q)).sum(1) - (log_p * (adj @ q)).sum(1)
             + self_d)
    return (neigh / (deg + 1)) / ((total - self_d) / (n - 1))


def cvc_loss(z1: Tensor, z2: Tensor, adj: Tensor) -> Tensor:
    """Cross-view consistency L_CVC = mean_{i,j} (cos(z1_i, z2_j) - (A + I)_ij)^2, exact.

    With z rows of unit norm, cos(z1_i, z2_j) = z1_i . z2_j = c_ij and
    sum_ij (c_ij - M_ij)^2 = ||Z1^T Z1 * Z2^T Z2||_sum - 2 sum_{M_ij = 1} c_ij + nnz(M),
    the first term from two C x C Gram matrices. z1, z2: (N, C) unit rows;
    adj: sparse (N, N) binary symmetric, no self loops.
    """
    n = z1.shape[0]
    sq_sum = ((z1.T @ z1) * (z2.T @ z2)).sum()
    on_graph = (z1 * z2).sum() + (z1 * (adj @ z2)).sum()
    nnz = n + degrees(adj).sum()
    return (sq_sum - 2 * on_graph + nnz) / (n * n)


def _parts(e1: Tensor, e2: Tensor, z1: Tensor, z2: Tensor, adj: Tensor,
           temperature: float) -> tuple[Tensor, Tensor, Tensor]:
    """L_EDA, L_NCA and L_CVC, sharing the row-wise log-softmaxes."""
    log_p, log_q = _row_log_softmax(e1, e2, temperature)
    return (_eda(e1, e2, log_p, log_q, temperature), _nca_ratios(log_p, log_q, adj).mean(),
            cvc_loss(z1, z2, adj))


def scrcl_loss(e1: Tensor, e2: Tensor, z1: Tensor, z2: Tensor, adj: Tensor,
               temperature: float, lambda1: float, lambda2: float) -> Tensor:
    """L = L_EDA + lambda1 L_NCA + lambda2 L_CVC as one tensor function (what training
    differentiates, and what ``torch.compile`` may fuse). Shapes as in the parts."""
    eda, nca, cvc = _parts(e1, e2, z1, z2, adj, temperature)
    return eda + lambda1 * nca + lambda2 * cvc


def total_loss(out: dict[str, Tensor], adj: Tensor, temperature: float,
               lambda1: float, lambda2: float) -> tuple[Tensor, dict[str, float]]:
    """L = L_EDA + lambda1 L_NCA + lambda2 L_CVC, and the parts as floats for logging."""
    eda, nca, cvc = _parts(out["e1"], out["e2"], out["z1"], out["z2"], adj, temperature)
    loss = eda + lambda1 * nca + lambda2 * cvc
    return loss, {"eda": eda.item(), "nca": nca.item(), "cvc": cvc.item()}


def per_cell_loss(out: dict[str, Tensor], adj: Tensor, temperature: float, lambda1: float,
                  lambda2: float) -> Tensor:
    """The total loss split into one term per cell: (N,) whose sum is ``total_loss``.

    Every global quantity (the softmax normaliser of L_EDA's global part, the column sums
    of L_NCA, the Gram matrix of L_CVC) is computed over all N cells, so a sum over any
    subset of cells is that subset's exact share, and its gradient flows into every cell's
    embedding. Used by data-parallel training (``scrcl.training.distributed``), where each process
    sums its own shard. With c_ij = z1_i . z2_j, sum_j c_ij^2 = z1_i^T (Z2^T Z2) z1_i.
    """
    e1, e2, z1, z2 = out["e1"], out["e2"], out["z1"], out["z2"]
    n = e1.shape[0]
    t = temperature
    log_p = torch.log_softmax((e1 / t).reshape(-1), 0).view_as(e1)
    log_q = torch.log_softmax((e2 / t).reshape(-1), 0).view_as(e2)
    eda_glob = ((log_p.exp() - log_q.exp()) * (log_p - log_q)).sum(1)
    lp, lq = _row_log_softmax(e1, e2, t)
    eda_cell = ((lp.exp() - lq.exp()) * (lp - lq)).sum(1) / (2 * n)
    nca = _nca_ratios(lp, lq, adj) / n
    deg = degrees(adj)
    sq = ((z1 @ (z2.T @ z2)) * z1).sum(1)
    on_graph = (z1 * z2).sum(1) + (z1 * (adj @ z2)).sum(1)
    cvc = (sq - 2 * on_graph + 1 + deg) / (n * n)
    return eda_glob + eda_cell + lambda1 * nca + lambda2 * cvc
