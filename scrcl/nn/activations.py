"""Bias + (leaky) ReLU in one autograd node that keeps the low-precision input.

y = LeakyReLU(x + b), with x (N, H) the output of a dense layer, possibly bfloat16 under
autocast, and b (H,) a float32 bias: x + b is float32, and autograd through the two plain
operations keeps that float32 sum (N, H) for the activation's backward pass. This node
keeps x itself (half the bytes when x is bfloat16) and recomputes the sign of x + b in
the backward pass. Values and gradients are bit-identical to the plain operations
(``tests/test_nn.py``); only the memory differs. ``slope`` 0 gives ReLU.
"""
from __future__ import annotations

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


def bias_leaky_relu(x: Tensor, bias: Tensor, slope: float = 0.01) -> Tensor:
    """LeakyReLU(x + bias) (ReLU for ``slope`` 0). x: (N, H) any float dtype; bias: (H,).
    Returns (N, H) in the promoted dtype of x and bias."""
    return _BiasLeakyReLU.apply(x, bias, slope)
