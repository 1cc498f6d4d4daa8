"""The GPU-facing helpers of lab.compute: episode copies to the device and bf16 autocast.

What a CPU can check runs everywhere (bf16 autocast exists on the CPU too); the CUDA checks run where a
CUDA GPU is visible and say so when skipped.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lab.compute import PRECISION_ENV, autocast, make_generator, to_device
from lab.learners.maml import meta_loss
from lab.learners.maml_images import MAMLClassifier, MAMLImageConfig
from lab.nets import SineMLP, load_params_, random_init, skeleton
from lab.tasks import FewShotFamily, GlyphAlphabets, SinusoidFamily

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU visible")


def _sine():
    net = skeleton(SineMLP)
    load_params_(net, random_init(net, 0))
    batch = SinusoidFamily(k_shot=10, n_query=10).sample(make_generator(0), 25)
    return net, batch


def test_to_device_on_cpu_is_the_same_batch() -> None:
    _, batch = _sine()
    moved = to_device(batch, "cpu")
    assert torch.equal(moved.support_x, batch.support_x) and torch.equal(moved.query_y, batch.query_y)


def test_bf16_autocast_keeps_the_sine_meta_gradient(monkeypatch: pytest.MonkeyPatch) -> None:
    """bf16 (8 bits of mantissa): the W1 meta-loss within 2 % and the meta-gradient's direction kept."""
    net, batch = _sine()
    params = dict(net.named_parameters())
    exact = meta_loss(net, params, batch, 1, 0.01, F.mse_loss).mean()
    g_exact = torch.cat([g.flatten() for g in torch.autograd.grad(exact, list(params.values()))])
    monkeypatch.setenv(PRECISION_ENV, "bf16")
    with autocast("cpu"):
        low = meta_loss(net, params, batch, 1, 0.01, F.mse_loss).mean()
    g_low = torch.cat([g.flatten().float() for g in torch.autograd.grad(low, list(params.values()))])
    low, exact = float(low.detach()), float(exact.detach())
    assert abs(low - exact) <= 0.02 * exact
    assert float(F.cosine_similarity(g_low, g_exact, dim=0)) > 0.99
    assert low != exact  # it did run in bf16


def test_autocast_refuses_an_unknown_precision() -> None:
    with pytest.raises(ValueError, match="choose fp32 or bf16"):
        autocast("cpu", "fp8")


@needs_cuda
def test_cuda_copy_is_pinned_and_exact() -> None:
    _, batch = _sine()
    moved = to_device(batch, "cuda")
    assert moved.support_x.is_cuda and torch.equal(moved.support_x.cpu(), batch.support_x)


@needs_cuda
def test_cuda_conv_maml_bf16_within_tolerance_of_fp32() -> None:
    model = MAMLClassifier(MAMLImageConfig(channels=16)).cuda()
    load_params_(model, random_init(model, 0))
    batch = to_device(FewShotFamily(GlyphAlphabets(), 5, 1, 5).sample(make_generator(0), 8), "cuda")
    exact, _ = model.loss(batch)
    with autocast("cuda", "bf16"):
        low, _ = model.loss(batch)
    assert abs(float(low.detach()) - float(exact.detach())) <= 0.02 * float(exact.detach())
