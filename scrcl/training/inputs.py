"""The model's inputs as tensors on one device: the two views, the gene encoder's input
and the normalised cell and gene graphs (``Inputs``), made from ``PreparedData``."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Optional

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from .. import graphs
from ..data.preprocess import PreparedData
from ..nn import ScrclModule, ViewInput


def _to_tensor(x, device: torch.device) -> Tensor:
    """Dense numpy -> dense tensor; scipy sparse -> torch sparse CSR (float32)."""
    if sp.issparse(x):
        x = sp.csr_matrix(x, dtype=np.float32)
        with warnings.catch_warnings():  # torch's notice that CSR support is 'beta'
            warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta",
                                    UserWarning)
            # scipy built a valid CSR: no invariant check needed
            return torch.sparse_csr_tensor(torch.from_numpy(x.indptr).long(),
                                           torch.from_numpy(x.indices).long(),
                                           torch.from_numpy(x.data), size=x.shape,
                                           check_invariants=False).to(device)
    return torch.as_tensor(np.asarray(x, dtype=np.float32)).to(device)


def _sparse_tensor(adj: sp.spmatrix, device: torch.device) -> Tensor:
    """A scipy sparse matrix as a torch sparse CSR float32 tensor."""
    return _to_tensor(sp.csr_matrix(adj, dtype=np.float32), device)


#: X (N, G) with at most this many entries is given to the views dense (1 GiB in float32)
DENSE_INPUT_LIMIT = 1 << 28
@dataclass
class Inputs:
    """The model inputs on one device."""

    view1: ViewInput  # MLP view: X (sparse, smoothed inside the model) or S^t1 X
    view2: ViewInput  # GCN view, likewise
    gene_x: Tensor  # (G, N) X1^T, the gene encoder's input
    gene_x_t: Optional[Tensor]  # (N, G) X1 when gene_x is sparse, else None
    cell_adj: Tensor  # (N, N) S = D^-1/2 (A + I) D^-1/2 of the cell graph
    gene_adj: Tensor  # (G, G) the same for the gene graph
    loss_adj: Tensor  # (N, N) the binary cell graph A, as the losses use it

    @classmethod
    def from_prepared(cls, data: PreparedData, device: torch.device,
                      dense: Optional[bool] = None, precision: str = "fp32") -> "Inputs":
        """The tensors of ``data`` on ``device``. ``dense``: give the views their inputs as
        dense S^t X, computed once (None: whenever X has at most DENSE_INPUT_LIMIT entries);
        else sparse counts stay sparse and the smoothing runs inside the model, S^t (X W),
        each epoch. The two give the same values; dense is faster (no propagation of
        (N, H) activations, and bf16 products), sparse needs less memory.
        ``precision`` (resolved, ``scrcl.precision``): with 'bf16' the dense view inputs are
        stored in bfloat16, the values bf16 autocast would give the dense layers each epoch
        (no per-epoch cast, half the memory); the gene encoder keeps X1 in float32. Such
        inputs serve only bf16 training and embedding."""
        x = data.features
        if dense is None:
            dense = x.shape[0] * x.shape[1] <= DENSE_INPUT_LIMIT
        if dense and sp.issparse(x):
            x = x.toarray()
        sparse_x = _to_tensor(x, device) if sp.issparse(x) else None
        sparse_x_t = _to_tensor(x.T.tocsr(), device) if sp.issparse(x) else None

        def view(steps: int, conv_hop: bool = False) -> ViewInput:
            if sparse_x is not None:  # S^t (X W) inside the model: no dense S^t X
                return ViewInput(sparse_x, sparse_x_t, steps)
            # dense constant input: every propagation done once here, (N, G) wide
            smoothed = graphs.smooth(x, data.cell_adj, steps + conv_hop)
            return ViewInput(_to_tensor(smoothed, device), conv_hop_applied=conv_hop)

        half = precision == "bf16" and sparse_x is None
        view1 = view(data.tms[0])
        if view1.x.layout == torch.strided:  # X1 = S^t1 X is there already: its transpose
            gene_x, gene_x_t = view1.x.T, None  # as a view, no second (N, G) copy
            if half:
                view1 = view1._replace(x=view1.x.to(torch.bfloat16))
        else:
            x1 = data.x1
            gene_x = _to_tensor(x1.T.tocsr() if sp.issparse(x1) else np.ascontiguousarray(x1.T),
                                device)
            gene_x_t = _to_tensor(x1, device) if sp.issparse(x1) else None
        view2 = view(data.tms[1], conv_hop=True)
        if half:
            view2 = view2._replace(x=view2.x.to(torch.bfloat16))
        return cls(
            view1=view1,
            view2=view2,
            gene_x=gene_x,
            gene_x_t=gene_x_t,
            cell_adj=_sparse_tensor(graphs.normalized_adjacency(data.cell_adj), device),
            gene_adj=_sparse_tensor(graphs.normalized_adjacency(data.gene_adj), device),
            loss_adj=_sparse_tensor(data.cell_adj, device),
        )

    @property
    def input_dtype(self) -> torch.dtype:
        """The dtype of the views' inputs (bfloat16 for inputs made for bf16 only)."""
        return self.view2.x.dtype

    def check_precision(self, precision: str) -> None:
        if self.input_dtype == torch.bfloat16 and precision != "bf16":
            raise ValueError(f"these inputs were made for bf16 (bfloat16 view inputs); "
                             f"make them with precision={precision!r} for {precision}")

    @property
    def n_cells(self) -> int:
        return self.gene_x.shape[1]

    @property
    def n_genes(self) -> int:
        return self.gene_x.shape[0]

    @property
    def device(self) -> torch.device:
        return self.gene_x.device

    def forward(self, model: ScrclModule, normalized: bool = True) -> dict[str, Tensor]:
        return model(self.view1, self.view2, self.cell_adj, self.gene_x, self.gene_adj,
                     self.gene_x_t, normalized)
