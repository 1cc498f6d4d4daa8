"""Channels-last (NHWC) helpers for Conv4 passes that are differentiated once (see :func:`lab.compute.conv_layout`).

On a CPU, PyTorch's batch-norm, max-pool and convolution kernels run 1.1-3x faster on channels_last tensors than
on NCHW ones. One of them is not precise enough to use as it is: channels_last ``F.batch_norm`` in training mode
sums its statistics over N*H*W in one running float32 sum, so on 75 glyph images (many identical background
pixels) its variance was 3e-4 off in relative terms and MAML's meta-gradient 7e-4 off, against 1e-6 for NCHW
(float64 reference). :func:`batch_stats_norm` computes the statistics with PyTorch's cascaded sums instead and
normalises with the fast kernel; :func:`norm_pool` does the same and max-pools before the per-channel affine map
(they commute when every scale is positive), so the full-size normalised map is never written and the backward
pass needs no full-size reduction.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.function import FunctionCtx, once_differentiable


def to_nhwc(t: torch.Tensor) -> torch.Tensor:
    """Return ``t [N, C, H, W]`` in channels_last memory, with NHWC strides even for C = 1 (where
    ``.contiguous(memory_format=torch.channels_last)`` keeps NCHW strides, and a convolution then stays NCHW)."""
    n, c, h, w = t.shape
    if c == 1:  # .contiguous() ignores a size-1 dim's stride; a permuted view sets it
        return t.reshape(n, h, w, 1).permute(0, 3, 1, 2)
    return t.contiguous(memory_format=torch.channels_last)


def _rows(h: torch.Tensor) -> torch.Tensor:
    """Return channels_last ``h [N, C, H, W]`` as the view ``[N*H*W, C]``."""
    return h.permute(0, 2, 3, 1).reshape(-1, h.shape[1])


def _stats(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the per-channel mean and biased variance of channels_last ``h`` (cascaded sums, two passes)."""
    rows = _rows(h)
    mean = rows.sum(0) / rows.shape[0]
    return mean, (rows - mean).square_().sum(0) / rows.shape[0]


class _BatchStatsNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx: FunctionCtx, h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float
                ) -> torch.Tensor:
        mean, var = _stats(h)
        ctx.eps = eps
        ctx.save_for_backward(h, weight, mean, torch.rsqrt(var + eps))
        return torch.batch_norm(h, weight, bias, mean, var, False, 0.0, eps, False)

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, None]:
        h, weight, mean, invstd = ctx.saved_tensors
        dh, dweight, dbias = torch.ops.aten.native_batch_norm_backward(
            grad, h, weight, None, None, mean, invstd, True, ctx.eps, [True, True, True])
        return dh, dweight, dbias, None


def batch_stats_norm(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Return ``F.batch_norm(h, None, None, weight, bias, training=True, eps=eps)`` for a channels_last ``h``:
    the same numbers (statistics summed as precisely as the NCHW kernel's), at channels_last speed.

    Differentiable once: a second derivative through it raises (PyTorch's ``once_differentiable``).
    """
    return _BatchStatsNorm.apply(h, weight, bias, eps)


class _NormPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx: FunctionCtx, h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float
                ) -> torch.Tensor:
        mean, var = _stats(h)
        invstd = torch.rsqrt(var + eps)
        scale = weight * invstd
        pooled, index = torch.ops.aten.max_pool2d_with_indices(h, [2, 2], [2, 2])
        ctx.save_for_backward(h, index, pooled, mean, invstd, scale)
        shift = bias - mean * scale
        return torch.addcmul(shift.view(1, -1, 1, 1), pooled, scale.view(1, -1, 1, 1))

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, None]:
        h, index, pooled, mean, invstd, scale = ctx.saved_tensors
        count = h.numel() // h.shape[1]
        dbias = grad.sum((0, 2, 3))
        dweight = (grad * (pooled - mean.view(1, -1, 1, 1))).sum((0, 2, 3)) * invstd
        # d/dh of the statistics: a per-channel affine function of h; the pooled term goes to the maxima only.
        slope = -scale * invstd * dweight / count
        offset = -scale * dbias / count - slope * mean
        dh = torch.ops.aten.max_pool2d_with_indices_backward(grad * scale.view(1, -1, 1, 1), h, [2, 2], [2, 2],
                                                             [0, 0], [1, 1], False, index)
        dh.addcmul_(h, slope.view(1, -1, 1, 1)).add_(offset.view(1, -1, 1, 1))
        return dh, dweight, dbias, None


def norm_pool(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Return ``F.max_pool2d(F.batch_norm(h, None, None, weight, bias, training=True, eps=eps), 2)`` for a
    channels_last ``h``: the same numbers at channels_last speed, precise statistics as in :func:`batch_stats_norm`.

    The pool runs on ``h`` and the affine map after it, which is the same only when every ``weight`` is positive;
    otherwise it normalises first (:func:`batch_stats_norm`). Differentiable once.
    """
    if bool((weight > 0).all()):
        return _NormPool.apply(h, weight, bias, eps)
    return F.max_pool2d(batch_stats_norm(h, weight, bias, eps), 2)
