"""The whole scRCL network: two views, their embeddings, and the refinement module."""
from __future__ import annotations

from typing import Optional

import torch.nn.functional as F
from torch import Tensor, nn

from .refine import Refinement
from .views import GCNView, MLPView


class ScrclModule(nn.Module):
    """Plain ``nn.Module``: tensors in, tensors out; knows nothing of AnnData.

    forward(x1 (N, G), x2 (N, G), cell_adj (N, N) normalised sparse, x1_t (G, N),
    gene_adj (G, G) normalised sparse, x2_t (G, N) when x2 is sparse) returns
    {'h1', 'h2': (N, H); 'e1', 'e2': (N, H) unit rows; 'z1', 'z2': (N, C) unit rows}.
    x1_t is both the gene encoder's input and, when x1 is sparse, its transpose.
    """

    def __init__(self, n_cells: int, n_genes: int, hid_dim: int, out_dim: int,
                 dropout: float) -> None:
        super().__init__()
        self.mlp_view = MLPView(n_genes, hid_dim)
        self.gcn_view = GCNView(n_genes, hid_dim, dropout)
        self.refine = Refinement(hid_dim, n_genes, n_cells, out_dim, dropout)

    def forward(self, x1: Tensor, x2: Tensor, cell_adj: Tensor, x1_t: Tensor,
                gene_adj: Tensor, x2_t: Optional[Tensor] = None) -> dict[str, Tensor]:
        h1 = self.mlp_view(x1, x1_t)
        h2 = self.gcn_view(x2, cell_adj, x2_t)
        z1, z2 = self.refine(h1, h2, x1_t, gene_adj, x1)
        return {"h1": h1, "h2": h2, "e1": F.normalize(h1, dim=1), "e2": F.normalize(h2, dim=1),
                "z1": z1, "z2": z2}
