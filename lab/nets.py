"""Backbones, written as ordinary ``nn.Module``s and used functionally through
``torch.func.functional_call(net, params, (x,))`` so that learners can treat weights as plain tensors.

* :class:`SineMLP` — MAML's regression net: 1 -> 40 -> 40 -> 1 with ReLU (Finn et al. 2017).
* :class:`Conv4` — the standard 4-block convolutional embedding for few-shot image tasks
  (Vinyals et al. 2016; Snell et al. 2017): conv3x3-BN-ReLU-maxpool, ``channels`` filters per block.

Random weights never come from torch's global generator: :func:`skeleton` builds a net without
initialising it, and :func:`random_init` draws PyTorch's default initialisation from a seeded
:func:`lab.compute.make_generator` stream, so the same seed gives the same weights everywhere (CLI, pages,
training) whatever else ran before in the process.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from lab.compute import derive_seed, make_generator

Params = dict[str, torch.Tensor]
M = TypeVar("M", bound=nn.Module)


class SineMLP(nn.Module):
    """Fully connected regression net ``in_dim -> hidden x layers -> out_dim``; returns ``[..., out_dim]``."""

    def __init__(self, hidden: int = 40, layers: int = 2, in_dim: int = 1, out_dim: int = 1,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        if hidden < 1 or layers < 1:
            raise ValueError(f"hidden={hidden} and layers={layers} must both be >= 1")
        dims = [in_dim] + [hidden] * layers
        blocks: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:], strict=True):
            blocks += [nn.Linear(a, b, device=device), nn.ReLU()]
        blocks.append(nn.Linear(dims[-1], out_dim, device=device))
        self.body = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


NORMS = ("batch", "running", "group", "none")


class BatchStatNorm2d(nn.Module):
    """BatchNorm on the statistics of the batch at hand, always (``nn.BatchNorm2d(track_running_stats=False)``
    in training mode), written out as mean and variance.

    Why not ``nn.BatchNorm2d``: under ``torch.func.vmap`` its batching rule gave second-order MAML
    meta-gradients that differ from a per-task loop and from finite differences by up to ~1% (torch 2.13,
    measured in tests/learners/test_maml_images.py); plain tensor operations vectorize exactly. The
    parameters are named ``weight`` and ``bias`` as in ``nn.BatchNorm2d``.
    """

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        var = (x - mean).pow(2).mean(dim=(0, 2, 3), keepdim=True)
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


def norm_layer(kind: str, channels: int) -> nn.Module:
    """Return the normalisation layer ``kind`` for ``channels`` feature maps.

    ``"batch"``: BatchNorm on the statistics of the batch at hand, in training and testing alike (MAML's
    reference code; under ``vmap`` that is per task). ``"running"``: ordinary BatchNorm with running
    statistics for testing (ProtoNet, Relation Net: a query's embedding then never depends on the other
    images). ``"group"``: GroupNorm with 8 groups, per image. ``"none"``: identity.
    """
    if kind == "batch":
        return BatchStatNorm2d(channels)
    if kind == "running":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(min(8, channels), channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm={kind!r}; choose one of {NORMS}")


def max_pool2x2(x: torch.Tensor) -> torch.Tensor:
    """Return ``F.max_pool2d(x, 2)`` of ``x [..., H, W]``: the max of each 2x2 window (an odd last row or
    column is dropped), NaN where a window holds one.

    On the CPU with no gradient to track, it is the maximum of four strided views: the same numbers, 10-20x
    faster than PyTorch's NCHW max-pool kernel there (which costs as much as the convolutions in a Conv4
    forward). With a gradient, or on another device, it is ``F.max_pool2d`` itself (its backward is faster).
    """
    if x.device.type != "cpu" or (torch.is_grad_enabled() and x.requires_grad):
        return F.max_pool2d(x, 2)
    h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
    top = torch.maximum(x[..., 0:h:2, 0:w:2], x[..., 0:h:2, 1:w:2])
    return torch.maximum(top, torch.maximum(x[..., 1:h:2, 0:w:2], x[..., 1:h:2, 1:w:2]))


class MaxPool2x2(nn.Module):
    """``nn.MaxPool2d(2)`` computed by :func:`max_pool2x2` (no parameters, so checkpoints are unchanged)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return max_pool2x2(x)


def conv_block(in_channels: int, out_channels: int, norm: str = "batch", pool: bool = True) -> nn.Sequential:
    """Return conv3x3 -> normalisation (see :func:`norm_layer`) -> ReLU -> 2x2 max-pool (if ``pool``)."""
    layers = [nn.Conv2d(in_channels, out_channels, 3, padding=1), norm_layer(norm, out_channels), nn.ReLU()]
    if pool:
        layers.append(MaxPool2x2())
    return nn.Sequential(*layers)


class Conv4(nn.Module):
    """Four conv blocks then flatten; for 28x28x1 input returns ``[batch, channels]`` (28 -> 14 -> 7 -> 3 -> 1).

    With ``last_pool=False`` the fourth block keeps its 3x3 map and the embedding has ``9 * channels``
    dimensions (same weights, no extra parameters). With ``n_out`` set, a linear head maps the embedding to
    ``n_out`` logits (MAML's classifier).
    """

    def __init__(self, in_channels: int = 1, channels: int = 64, n_out: int | None = None,
                 norm: str = "batch", last_pool: bool = True) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            conv_block(in_channels, channels, norm), conv_block(channels, channels, norm),
            conv_block(channels, channels, norm), conv_block(channels, channels, norm, pool=last_pool),
            nn.Flatten(),
        )
        self.head = nn.Linear(channels, n_out) if n_out is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.encoder(x)
        return self.head(z) if self.head is not None else z


def skeleton(module_cls: type[M], *args: object, **kwargs: object) -> M:
    """Return ``module_cls(*args, **kwargs)`` with uninitialised weights, built without any random draw.

    For nets used functionally (``functional_call`` with other weights) or about to be loaded or filled by
    :func:`random_init`. The class must accept a ``device`` argument (``torch.nn.utils.skip_init``).
    """
    return torch.nn.utils.skip_init(module_cls, *args, **kwargs)


def random_init(net_or_like: nn.Module | Params, seed: int) -> Params:
    """Return fresh parameters shaped like ``net_or_like`` (a net or a name -> tensor dict), drawn from ``seed``.

    The distribution is PyTorch's default for ``nn.Linear``/``nn.Conv*``: kaiming-uniform with a=sqrt(5) for
    weights, i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the same bound for the matching bias; 1-D weights
    (normalisation layers) start at 1 and their biases at 0. The draws come from a child of
    ``make_generator(seed)``, so they do not coincide with a task stream seeded with the same number.
    Tensors are float32 on the CPU, in the order of ``net_or_like``.
    """
    like = dict(net_or_like.named_parameters()) if isinstance(net_or_like, nn.Module) else net_or_like
    gen = make_generator(derive_seed(make_generator(seed)))
    out: Params = {}
    for name, p in like.items():
        prefix, _, leaf = name.rpartition(".")
        weight = like.get(f"{prefix}.weight" if prefix else "weight") if leaf == "bias" else p
        if weight is None or weight.dim() < 2:  # normalisation layers: scale 1, shift 0
            out[name] = torch.ones(p.shape) if leaf == "weight" else torch.zeros(p.shape)
            continue
        bound = 1.0 / math.sqrt(math.prod(weight.shape[1:]))
        out[name] = (torch.rand(p.shape, generator=gen) * 2 - 1) * bound
    return out


@contextmanager
def test_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Run the block with ``module`` in eval mode and without autograd, then restore its previous mode."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            yield module
    finally:
        module.train(was_training)


def load_params_(net: nn.Module, params: Params) -> nn.Module:
    """Copy ``params`` into ``net``'s parameters in place (names must match); return ``net``."""
    with torch.no_grad():
        for name, p in net.named_parameters():
            p.copy_(params[name])
    return net


def parameters_of(net: nn.Module) -> Params:
    """Return a detached copy of ``net``'s parameters as a name -> tensor dict (for functional use)."""
    return {name: p.detach().clone() for name, p in net.named_parameters()}


def flatten_params(params: Params) -> torch.Tensor:
    """Return all parameters concatenated into one vector (in the dict's order)."""
    return torch.cat([p.reshape(-1) for p in params.values()])


def unflatten_params(vector: torch.Tensor, like: Params) -> Params:
    """Return a params dict shaped like ``like`` filled from the flat ``vector``."""
    out: Params = {}
    offset = 0
    for name, p in like.items():
        n = p.numel()
        out[name] = vector[offset:offset + n].view_as(p)
        offset += n
    if offset != vector.numel():
        raise ValueError(f"vector has {vector.numel()} values but the parameters need {offset}")
    return out
