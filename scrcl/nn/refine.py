"""The refinement module: cell-gene associations learnt on the gene-gene graph."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .dropout import Dropout
from .gcn import GCNLayer


class GeneEncoder(nn.Module):
    """W = ReLU(GCN(N -> C, B)(X1^T)): each gene embedded from its expression across cells.

    xt: (G, N) the MLP view's input transposed (dense, or sparse CSR with its transpose x);
    adj_norm: the normalised gene graph, sparse (G, G). Returns (G, C). The input width is N, so the model is
    transductive, as published.
    """

    def __init__(self, n_cells: int, out_dim: int) -> None:
        super().__init__()
        self.conv = GCNLayer(n_cells, out_dim)

    def forward(self, xt: Tensor, adj_norm: Tensor, x: Optional[Tensor] = None) -> Tensor:
        return F.relu(self.conv(xt, adj_norm, x))


class Refinement(nn.Module):
    """z = norm(P(Dropout(h)) W): cells mapped to gene space by the shared projector
    P = Linear(H -> G), then to C dimensions through the gene embedding W (G, C).

    P(h) W = h (P_w^T W) + P_b W exactly, so the (N, G) product is never formed: the
    cost is O(H G C + N H C) instead of O(N H G). ``fused=False`` computes the literal
    order (used by the tests to check the two agree).
    """

    def __init__(self, hid_dim: int, n_genes: int, n_cells: int, out_dim: int,
                 dropout: float) -> None:
        super().__init__()
        self.projector = nn.Linear(hid_dim, n_genes)
        self.gene_encoder = GeneEncoder(n_cells, out_dim)
        self.dropout = Dropout(dropout)

    def forward(self, h1: Tensor, h2: Tensor, xt: Tensor, gene_adj: Tensor,
                x: Optional[Tensor] = None, fused: bool = True) -> tuple[Tensor, Tensor]:
        w = self.gene_encoder(xt, gene_adj, x)  # (G, C)
        h1, h2 = self.dropout(h1), self.dropout(h2)
        if fused:
            m = self.projector.weight.T @ w  # (H, C)
            c = self.projector.bias @ w  # (C,)
            r1, r2 = torch.addmm(c, h1, m), torch.addmm(c, h2, m)
        else:
            r1, r2 = self.projector(h1) @ w, self.projector(h2) @ w
        return F.normalize(r1, dim=1), F.normalize(r2, dim=1)
