"""The graph convolution of Kipf & Welling, on a pre-normalised sparse graph."""
from __future__ import annotations

from typing import Optional

from torch import Tensor
from torch_geometric.nn import GCNConv

from .sparse import linear, propagate


class GCNLayer(GCNConv):
    """X' = S^hops X W + b with S = D^-1/2 (A + I) D^-1/2 (D the degree of A + I); one hop
    is the Kipf & Welling layer, more hops fold the graph smoothing of its input into it
    (S^t (S X) W = S^(t+1) (X W): the same result without a dense S^t X).

    A ``torch_geometric.nn.GCNConv`` (same parameters, same result) whose graph is given
    already normalised, as a symmetric sparse (n, n) tensor ``adj_norm``, computed once
    (``scrcl.graphs.normalized_adjacency``), and whose input may be a sparse constant with
    its transpose ``x_t``. Shapes: x (n, in), adj_norm (n, n) -> (n, out).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, normalize=False, add_self_loops=False)

    def forward(self, x: Tensor, adj_norm: Tensor, x_t: Optional[Tensor] = None,  # type: ignore[override]
                hops: int = 1, add_bias: bool = True) -> Tensor:
        """``add_bias=False`` leaves the bias to the caller (who fuses it with the
        activation: ``scrcl.nn.activations``)."""
        out = propagate(linear(x, self.lin.weight, None, x_t), adj_norm, hops)
        return out + self.bias if self.bias is not None and add_bias else out
