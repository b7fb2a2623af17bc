"""The whole scRCL network: two views, their embeddings, and the refinement module."""
from __future__ import annotations

from typing import NamedTuple, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .refine import Refinement
from .views import GCNView, MLPView


class ViewInput(NamedTuple):
    """One view's input S^steps x: x (N, G) dense or sparse, x_t (G, N) its transpose when
    sparse, and the smoothing steps still to apply (0 when x is already smoothed).

    ``conv_hop_applied`` (GCN view only): x already includes the propagation of the view's
    first graph convolution, S (S^t X) W = (S^(t+1) X) W, computed once before training
    for a constant dense input, so that no (N, H) propagation is left in that layer.
    """

    x: Tensor
    x_t: Optional[Tensor] = None
    steps: int = 0
    conv_hop_applied: bool = False


class ScrclModule(nn.Module):
    """Plain ``nn.Module``: tensors in, tensors out; knows nothing of AnnData.

    forward(view1, view2: ViewInput; cell_adj (N, N) normalised sparse S; gene_x (G, N) the
    gene encoder's input X1^T (gene_x_t its transpose when sparse); gene_adj (G, G)
    normalised sparse) returns {'h1', 'h2': (N, H); 'e1', 'e2': (N, H) unit rows;
    'z1', 'z2': (N, C) unit rows}, all in the weights' dtype ('e1', 'e2' left out when
    ``normalized`` is False). Under bfloat16 autocast
    (``scrcl.training.precision``) the views' dense layers run in bfloat16; the refinement module
    and everything after the views stay float32.
    """

    def __init__(self, n_cells: int, n_genes: int, hid_dim: int, out_dim: int,
                 dropout: float) -> None:
        super().__init__()
        self.mlp_view = MLPView(n_genes, hid_dim)
        self.gcn_view = GCNView(n_genes, hid_dim, dropout)
        self.refine = Refinement(hid_dim, n_genes, n_cells, out_dim, dropout)

    def forward(self, view1: ViewInput, view2: ViewInput, cell_adj: Tensor, gene_x: Tensor,
                gene_adj: Tensor, gene_x_t: Optional[Tensor] = None,
                normalized: bool = True) -> dict[str, Tensor]:
        dtype = self.refine.projector.weight.dtype  # the weights' (float32 under bf16)
        h1 = self.mlp_view(view1.x, view1.x_t, cell_adj, view1.steps).to(dtype)
        h2 = self.gcn_view(view2.x, cell_adj, view2.x_t,
                           view2.steps + (0 if view2.conv_hop_applied else 1)).to(dtype)
        with torch.autocast(h1.device.type, enabled=False):  # small: float32 under bf16
            z1, z2 = self.refine(h1, h2, gene_x, gene_adj, gene_x_t)
        out = {"h1": h1, "h2": h2, "z1": z1, "z2": z2}
        if normalized:  # training with the chunked loss normalises inside it, chunk by chunk
            out.update(e1=F.normalize(h1, dim=1), e2=F.normalize(h2, dim=1))
        return out
