"""Random initialisation: PyTorch's default distribution, from a seed, never from torch's global generator."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats
from torch import nn

from lab.nets import Conv4, SineMLP, load_params_, max_pool2x2, parameters_of, random_init, skeleton


def test_random_init_matches_pytorchs_default_linear_init():
    # Reference: the weights PyTorch itself draws for nn.Linear (kaiming-uniform, a=sqrt(5)).
    torch.manual_seed(0)
    reference = nn.Linear(200, 300)
    ours = random_init(reference, seed=0)
    bound = 1 / math.sqrt(200)
    for name in ("weight", "bias"):
        mine, theirs = ours[name].flatten().numpy(), getattr(reference, name).detach().flatten().numpy()
        assert abs(mine).max() <= bound and abs(mine).max() > 0.95 * bound
        assert stats.ks_2samp(mine, theirs).pvalue > 1e-3, name


def test_random_init_bounds_per_layer_including_conv_and_batchnorm():
    params = random_init(Conv4(channels=8, n_out=5), seed=1)
    assert float(params["encoder.1.0.weight"].abs().max()) <= 1 / math.sqrt(8 * 3 * 3)
    assert float(params["encoder.1.0.bias"].abs().max()) <= 1 / math.sqrt(8 * 3 * 3)
    assert torch.equal(params["encoder.1.1.weight"], torch.ones(8))  # BatchNorm scale
    assert torch.equal(params["encoder.1.1.bias"], torch.zeros(8))
    assert float(params["head.bias"].abs().max()) <= 1 / math.sqrt(8)


def test_random_init_is_seeded_and_the_same_for_a_net_or_its_parameters():
    net = skeleton(SineMLP, hidden=40, layers=2)
    a, b, c = random_init(net, 3), random_init(parameters_of(load_params_(net, random_init(net, 9))), 3), \
        random_init(net, 4)
    assert list(a) == [n for n, _ in net.named_parameters()]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["body.0.weight"], c["body.0.weight"])


def test_skeleton_and_random_init_leave_the_global_generator_alone():
    before = torch.get_rng_state()
    net = skeleton(SineMLP, hidden=40, layers=3)
    load_params_(net, random_init(net, 0))
    assert torch.equal(torch.get_rng_state(), before)
    assert net(torch.zeros(2, 1)).shape == (2, 1)


def test_random_init_draws_differ_from_a_task_stream_with_the_same_seed():
    from lab.compute import make_generator

    first = random_init(skeleton(SineMLP), 0)["body.0.weight"].flatten()
    same_seed = torch.rand(40, generator=make_generator(0)) * 2 - 1
    assert not torch.allclose(first, same_seed)


@pytest.mark.parametrize("seed", [-1, 1.5])
def test_random_init_rejects_bad_seeds(seed):
    with pytest.raises(ValueError, match="non-negative integer"):
        random_init(skeleton(SineMLP), seed)


def test_batch_stat_norm_equals_torch_batchnorm_without_running_stats():
    from lab.nets import BatchStatNorm2d

    x = torch.randn(6, 4, 5, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ours = BatchStatNorm2d(4).double()
    with torch.no_grad():
        ours.weight.copy_(torch.tensor([1.0, 2.0, -1.0, 0.5]))
        ours.bias.copy_(torch.tensor([0.0, 1.0, 2.0, -3.0]))
    ref = torch.nn.BatchNorm2d(4, track_running_stats=False).double()
    ref.load_state_dict(ours.state_dict())
    assert torch.allclose(ours(x), ref(x), atol=1e-12)
    assert torch.allclose(ours.eval()(x), ref.eval()(x), atol=1e-12)  # batch statistics in test mode too


def test_conv4_without_the_last_pool_keeps_the_3x3_map_with_the_same_weights():
    from lab.nets import Conv4

    pooled, full = Conv4(channels=8), Conv4(channels=8, last_pool=False)
    full.load_state_dict(pooled.state_dict())  # same parameter names and shapes
    x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    pooled.eval(), full.eval()
    maps = full(x).view(3, 8, 3, 3)
    assert full(x).shape == (3, 72)
    assert torch.allclose(pooled(x), maps[:, :, :2, :2].amax(dim=(2, 3)))  # the 2x2 pool of the kept map


@pytest.mark.parametrize("shape", [(3, 5, 8, 8), (2, 4, 7, 9), (6, 1, 3, 3), (2, 3, 4, 5, 6)])
def test_fast_max_pool_equals_torch_max_pool_without_autograd(shape):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    x[0, 0, 0, 0] = float("nan")  # NaN propagates as in F.max_pool2d
    flat = x.reshape(-1, *shape[-3:])
    expected = torch.nn.functional.max_pool2d(flat, 2).reshape(*shape[:-2], shape[-2] // 2, shape[-1] // 2)
    with torch.no_grad():
        assert torch.allclose(max_pool2x2(x), expected, rtol=0, atol=0, equal_nan=True)


def test_conv4_gives_the_same_embedding_with_and_without_autograd():
    net = Conv4(channels=16)
    random_init(net, 0)
    x = torch.rand(10, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        fast = net(x)  # the four-view max
    slow = net(x.requires_grad_())  # F.max_pool2d (autograd)
    assert torch.equal(fast, slow.detach())
