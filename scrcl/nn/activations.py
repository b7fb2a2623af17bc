"""Bias + (leaky) ReLU in one autograd node that keeps the low-precision input.

y = LeakyReLU(x + b), with x (N, H) the output of a dense layer, possibly bfloat16 under
autocast, and b (H,) a float32 bias: x + b is float32, and autograd through the two plain
operations keeps that float32 sum (N, H) for the activation's backward pass. This node
keeps x itself (half the bytes when x is bfloat16) and recomputes the sign of x + b in
the backward pass. Values and gradients are bit-identical to the plain operations
(``tests/test_nn.py``); only the memory differs. ``slope`` 0 gives ReLU.

The recomputation costs time (about 7% of a bf16 epoch at 2,100 cells, H 1,500, measured
against the plain operations in one run, session 7), so :func:`bias_leaky_relu` takes this
node only where the memory matters: a low-precision x of at least ``LOW_MEMORY_MIN``
entries (the size from which training also takes the chunked loss). Elsewhere it runs the
plain operations, which give the same bits.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor


class _BiasLeakyReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, bias: Tensor, slope: float) -> Tensor:
        ctx.save_for_backward(x, bias)
        ctx.slope = slope
        y = x + bias
        return F.relu(y) if slope == 0 else F.leaky_relu(y, slope)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, bias = ctx.saved_tensors
        positive = (x + bias) > 0
        g = torch.where(positive, grad, grad * ctx.slope) if ctx.slope else \
            torch.where(positive, grad, 0)
        return g.to(x.dtype), g.sum(0).to(bias.dtype), None


#: x with at least this many entries, in a lower precision than the bias, takes the
#: memory-light node (``scrcl.training.train.CHUNKED_LOSS_MIN``: N >= 11,185 at H = 1,500)
LOW_MEMORY_MIN = 1 << 24


def bias_leaky_relu(x: Tensor, bias: Tensor, slope: float = 0.01,
                    low_memory: Optional[bool] = None) -> Tensor:
    """LeakyReLU(x + bias) (ReLU for ``slope`` 0). x: (N, H) any float dtype; bias: (H,).
    Returns (N, H) in the promoted dtype of x and bias. ``low_memory``: take the node that
    keeps x instead of x + bias for the backward pass (None: where x is in a lower
    precision than the bias and has at least LOW_MEMORY_MIN entries); same values."""
    if low_memory is None:
        low_memory = x.element_size() < bias.element_size() and x.numel() >= LOW_MEMORY_MIN
    if low_memory:
        return _BiasLeakyReLU.apply(x, bias, slope)
    y = x + bias
    return F.relu(y) if slope == 0 else F.leaky_relu(y, slope)
