"""Backbones, written as ordinary ``nn.Module``s and used functionally through
``torch.func.functional_call(net, params, (x,))`` so that learners can treat weights as plain tensors.

* :class:`SineMLP` — MAML's regression net: 1 -> 40 -> 40 -> 1 with ReLU (Finn et al. 2017).
* :class:`Conv4` — the standard 4-block convolutional embedding for few-shot image tasks
  (Vinyals et al. 2016; Snell et al. 2017): conv3x3-BN-ReLU-maxpool, ``channels`` filters per block.
"""

from __future__ import annotations

import torch
from torch import nn

Params = dict[str, torch.Tensor]


class SineMLP(nn.Module):
    """Fully connected regression net ``in_dim -> hidden x layers -> out_dim``; returns ``[..., out_dim]``."""

    def __init__(self, hidden: int = 40, layers: int = 2, in_dim: int = 1, out_dim: int = 1) -> None:
        super().__init__()
        if hidden < 1 or layers < 1:
            raise ValueError(f"hidden={hidden} and layers={layers} must both be >= 1")
        dims = [in_dim] + [hidden] * layers
        blocks: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:], strict=True):
            blocks += [nn.Linear(a, b), nn.ReLU()]
        blocks.append(nn.Linear(dims[-1], out_dim))
        self.body = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Return conv3x3 -> BatchNorm -> ReLU -> 2x2 max-pool."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1),
        # track_running_stats=False: batch statistics in train and test, as MAML's reference code does.
        nn.BatchNorm2d(out_channels, track_running_stats=False),
        nn.ReLU(),
        nn.MaxPool2d(2),
    )


class Conv4(nn.Module):
    """Four conv blocks then flatten; for 28x28x1 input returns ``[batch, channels]`` (28 -> 14 -> 7 -> 3 -> 1).

    With ``n_out`` set, a linear head maps the embedding to ``n_out`` logits (MAML's classifier).
    """

    def __init__(self, in_channels: int = 1, channels: int = 64, n_out: int | None = None) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            conv_block(in_channels, channels), conv_block(channels, channels),
            conv_block(channels, channels), conv_block(channels, channels), nn.Flatten(),
        )
        self.head = nn.Linear(channels, n_out) if n_out is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.encoder(x)
        return self.head(z) if self.head is not None else z


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
