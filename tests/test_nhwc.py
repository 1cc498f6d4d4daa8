"""lab.nhwc: channels_last batch-statistics norm (and norm + max-pool) against F.batch_norm / F.max_pool2d in NCHW."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lab.compute import make_generator
from lab.nhwc import batch_stats_norm, norm_pool, to_nhwc


def reference(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, pool: bool) -> torch.Tensor:
    out = F.batch_norm(h.contiguous(), None, None, weight, bias, training=True, eps=1e-5)
    return F.max_pool2d(out, 2) if pool else out


def values_and_grads(fn, h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> list[torch.Tensor]:
    leaves = [t.detach().clone().requires_grad_() for t in (h, weight, bias)]
    out = fn(*leaves)
    upstream = torch.randn(out.shape, generator=make_generator(5), dtype=torch.float64).to(out.dtype)
    return [out.detach(), *torch.autograd.grad((out * upstream).sum(), leaves)]


@pytest.mark.parametrize("size", [8, 7, 3])
@pytest.mark.parametrize("signs", ["positive", "mixed"])
@pytest.mark.parametrize("pool", [True, False])
def test_norms_match_batch_norm_in_float64(size: int, signs: str, pool: bool) -> None:
    rng = make_generator(0)
    h = torch.randn(6, 4, size, size, generator=rng, dtype=torch.float64) * 2 + 1
    weight = torch.rand(4, generator=rng, dtype=torch.float64) + 0.5
    if signs == "mixed":
        weight = weight * torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=torch.float64)
    bias = torch.randn(4, generator=rng, dtype=torch.float64)
    ours = norm_pool if pool else batch_stats_norm
    got = values_and_grads(lambda a, w, b: ours(to_nhwc(a), w, b), h, weight, bias)
    want = values_and_grads(lambda a, w, b: reference(a, w, b, pool), h, weight, bias)
    for g, w in zip(got, want, strict=True):
        assert torch.allclose(g, w, rtol=1e-10, atol=1e-12)


def test_statistics_stay_precise_in_float32_on_images_with_many_equal_pixels() -> None:
    """Binary images give long runs of equal values, the worst case for one running float32 sum."""
    rng = make_generator(1)
    x = (torch.rand(75, 1, 28, 28, generator=rng) > 0.8).float()
    h = F.conv2d(x, torch.randn(16, 1, 3, 3, generator=rng), padding=1)
    weight, bias = torch.rand(16, generator=rng) + 0.5, torch.randn(16, generator=rng)
    want = values_and_grads(lambda a, w, b: reference(a, w, b, True), h.double(), weight.double(), bias.double())
    got = values_and_grads(lambda a, w, b: norm_pool(to_nhwc(a), w, b), h, weight, bias)
    for g, w in zip(got, want, strict=True):
        assert float((g.double() - w).norm() / w.norm()) < 1e-5


def test_to_nhwc_makes_a_one_channel_convolution_channels_last() -> None:
    x = torch.rand(2, 1, 6, 6)
    assert x.contiguous(memory_format=torch.channels_last).stride() == x.stride()  # what to_nhwc works around
    out = F.conv2d(to_nhwc(x), to_nhwc(torch.rand(5, 1, 3, 3)), padding=1)
    assert out.is_contiguous(memory_format=torch.channels_last) and not out.is_contiguous()
    assert torch.equal(to_nhwc(x), x)


def test_a_second_derivative_through_the_norm_raises() -> None:
    h = to_nhwc(torch.randn(4, 3, 4, 4, dtype=torch.float64)).requires_grad_()
    weight, bias = torch.ones(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    out = norm_pool(h, weight, bias)
    (grad,) = torch.autograd.grad((out ** 3).sum(), h, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        grad.sum().backward()
