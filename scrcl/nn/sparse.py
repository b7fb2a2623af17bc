"""Sparse products with hand-written backward passes, always in float32.

Autograd through ``torch.sparse.mm`` transposes the sparse operand on every backward pass
(a sort of its indices). Every sparse matrix here is either symmetric (the normalised
graphs) or has its transpose at hand (the features and their transpose are both inputs of
the model), so the backward pass reuses them instead.

Under bfloat16 autocast (``scrcl.training.precision``) the dense operand is cast up and the product
is taken in float32 (MKL has no bfloat16 CSR kernel); the result stays float32, and the
gradient goes back in the dense operand's dtype.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor


def _spmm(a: Tensor, x: Tensor) -> Tensor:
    """a @ x for sparse a and dense x, in float32 whatever autocast says."""
    with torch.autocast(x.device.type, enabled=False):
        return a @ x.to(a.dtype)


class _SymmetricSpMM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, adj: Tensor, x: Tensor) -> Tensor:
        ctx.save_for_backward(adj)
        ctx.x_dtype = x.dtype
        return _spmm(adj, x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (adj,) = ctx.saved_tensors
        return None, _spmm(adj, grad).to(ctx.x_dtype)


def sym_spmm(adj: Tensor, x: Tensor) -> Tensor:
    """adj @ x for a symmetric sparse adj (N, N) and dense x (N, d); gradient for x only."""
    return _SymmetricSpMM.apply(adj, x)


def propagate(x: Tensor, adj: Optional[Tensor], steps: int) -> Tensor:
    """S^steps x for a symmetric sparse S (N, N) and dense x (N, d)."""
    for _ in range(steps):
        x = sym_spmm(adj, x)
    return x


class _SparseInputLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, x_t: Tensor, weight: Tensor) -> Tensor:
        ctx.save_for_backward(x_t)
        ctx.w_dtype = weight.dtype
        return _spmm(x, weight.t())

    @staticmethod
    def backward(ctx, grad: Tensor):
        (x_t,) = ctx.saved_tensors
        return None, None, _spmm(x_t, grad).t().to(ctx.w_dtype)


def linear(x: Tensor, weight: Tensor, bias: Optional[Tensor] = None,
           x_t: Optional[Tensor] = None) -> Tensor:
    """x W^T + b where x (n, d) may be a sparse constant input, whose transpose x_t (d, n)
    then serves the weight gradient. Dense x goes through ``torch.nn.functional.linear``."""
    if x.layout == torch.strided:
        return torch.nn.functional.linear(x, weight, bias)
    if x_t is None:
        raise ValueError("a sparse input needs its transpose x_t")
    out = _SparseInputLinear.apply(x, x_t, weight)
    return out if bias is None else out + bias
