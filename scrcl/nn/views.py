"""The two cell encoders (views) of scRCL."""
from __future__ import annotations

import torch.nn.functional as F
from typing import Optional

from torch import Tensor, nn

from .gcn import GCNLayer
from .sparse import linear


class MLPView(nn.Module):
    """h1 = ReLU(Linear(G -> H)(X1)).

    x: (N, G) dense, or sparse CSR with its transpose x_t (the MLP view's input). Returns (N, H).
    """

    def __init__(self, in_dim: int, hid_dim: int) -> None:
        super().__init__()
        self.lin = nn.Linear(in_dim, hid_dim)

    def forward(self, x: Tensor, x_t: Optional[Tensor] = None) -> Tensor:
        return F.relu(linear(x, self.lin.weight, self.lin.bias, x_t))


class GCNView(nn.Module):
    """h2 = LeakyReLU(Linear(H -> H)(Dropout(LeakyReLU(GCN(H -> H)(LeakyReLU(GCN(G -> H)(X2))))))).

    GCN is the Kipf & Welling convolution D^-1/2 (A + I) D^-1/2 X W (a torch_geometric
    ``GCNConv``), on the cell graph. x: (N, G) dense, or sparse CSR with its transpose
    x_t; adj_norm: the normalised cell graph, sparse (N, N). Returns (N, H).
    """

    def __init__(self, in_dim: int, hid_dim: int, dropout: float) -> None:
        super().__init__()
        self.conv1 = GCNLayer(in_dim, hid_dim)
        self.conv2 = GCNLayer(hid_dim, hid_dim)
        self.dropout = nn.Dropout(dropout)
        self.lin = nn.Linear(hid_dim, hid_dim)

    def forward(self, x: Tensor, adj_norm: Tensor, x_t: Optional[Tensor] = None) -> Tensor:
        h = F.leaky_relu(self.conv1(x, adj_norm, x_t))
        h = F.leaky_relu(self.conv2(h, adj_norm))
        return F.leaky_relu(self.lin(self.dropout(h)))
