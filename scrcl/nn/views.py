"""The two cell encoders (views) of scRCL."""
from __future__ import annotations

import torch.nn.functional as F
from typing import Optional

from torch import Tensor, nn

from .activations import bias_leaky_relu
from .dropout import Dropout
from .gcn import GCNLayer
from .sparse import linear, propagate


class MLPView(nn.Module):
    """h1 = ReLU(Linear(G -> H)(X1)) with X1 = S^steps X.

    x: (N, G) dense, or sparse CSR with its transpose x_t. With ``steps`` > 0 the smoothing
    is applied after the linear map, S^t (X W^T) + b, the same value without a dense X1.
    adj_norm: the normalised cell graph S (needed when steps > 0). Returns (N, H).
    """

    def __init__(self, in_dim: int, hid_dim: int) -> None:
        super().__init__()
        self.lin = nn.Linear(in_dim, hid_dim)

    def forward(self, x: Tensor, x_t: Optional[Tensor] = None, adj_norm: Optional[Tensor] = None,
                steps: int = 0) -> Tensor:
        h = propagate(linear(x, self.lin.weight, None, x_t), adj_norm, steps)
        return bias_leaky_relu(h, self.lin.bias, 0.0)  # ReLU(h + b)


class GCNView(nn.Module):
    """h2 = LeakyReLU(Linear(H -> H)(Dropout(LeakyReLU(GCN(H -> H)(LeakyReLU(GCN(G -> H)(X2))))))).

    GCN is the Kipf & Welling convolution D^-1/2 (A + I) D^-1/2 X W (a torch_geometric
    ``GCNConv``), on the cell graph, and X2 = S^steps X. x: (N, G) dense, or sparse CSR with
    its transpose x_t; adj_norm: the normalised cell graph, sparse (N, N). ``hops``: the
    propagations of the first convolution, S^hops (x W): 1 + steps for x = X, fewer when
    the caller has applied some to a constant x already. Returns (N, H).
    """

    def __init__(self, in_dim: int, hid_dim: int, dropout: float) -> None:
        super().__init__()
        self.conv1 = GCNLayer(in_dim, hid_dim)
        self.conv2 = GCNLayer(hid_dim, hid_dim)
        self.dropout = Dropout(dropout)
        self.lin = nn.Linear(hid_dim, hid_dim)

    def forward(self, x: Tensor, adj_norm: Tensor, x_t: Optional[Tensor] = None,
                hops: int = 1) -> Tensor:
        h = bias_leaky_relu(self.conv1(x, adj_norm, x_t, hops=hops, add_bias=False),
                            self.conv1.bias)
        h = bias_leaky_relu(self.conv2(h, adj_norm, add_bias=False), self.conv2.bias)
        return F.leaky_relu(self.lin(self.dropout(h)))
