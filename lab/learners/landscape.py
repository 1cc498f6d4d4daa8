"""Loss landscapes around an optimisation path: a 2-D plane through parameter space and the loss on it.

The picture of Li et al., "Visualizing the Loss Landscape of Neural Nets" (NeurIPS 2018), restricted to
the plane that best shows one path: the first axis points from the path's start to its end, the second is
the path's main direction of spread orthogonal to it (first principal component of what the first axis
leaves unexplained). When the path cannot define an axis (zero or one step, a straight line) a seeded
random direction stands in, so the plane is always defined.

Simplification: unlike Li et al. the directions are not filter-normalised; the plane's coordinates are
plain Euclidean distances in parameter space, the same units on both axes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, vmap

from lab.compute import make_generator
from lab.learners.maml import LossFn
from lab.nets import Params, unflatten_params

_EPS = 1e-8


@dataclass
class Landscape:
    """A loss surface on a plane and a path projected onto it.

    ``loss[j, i]`` is the loss at ``origin + alphas[i] * directions[0] + betas[j] * directions[1]``;
    ``path`` holds the ``[steps + 1, 2]`` plane coordinates of the path; ``residual`` is the largest
    distance of any path point from the plane (0 when the plane contains the whole path).
    """

    alphas: torch.Tensor
    betas: torch.Tensor
    loss: torch.Tensor
    path: torch.Tensor
    directions: torch.Tensor
    origin: torch.Tensor
    residual: float


def _random_unit(n: int, seed: int, orthogonal_to: list[torch.Tensor]) -> torch.Tensor:
    v = torch.randn(n, generator=make_generator(seed), dtype=torch.float32)
    for u in orthogonal_to:
        v = v - (v @ u) * u
    return v / v.norm().clamp_min(_EPS)


def plane_directions(path: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Return two orthonormal directions ``[2, P]`` spanning the plane that best shows ``path`` ``[S, P]``."""
    start, n = path[0], path.shape[1]
    d1 = path[-1] - start
    if d1.norm() > _EPS:
        d1 = d1 / d1.norm()
    else:
        d1 = _random_unit(n, seed, [])
    rel = path - start
    rest = rel - (rel @ d1)[:, None] * d1[None, :]
    rest = rest - rest.mean(dim=0, keepdim=True)
    d2 = None
    if path.shape[0] > 2:
        _, s, vh = torch.linalg.svd(rest, full_matrices=False)
        if s[0] > 1e-6 * max(float(rel.norm()), _EPS):
            d2 = vh[0] - (vh[0] @ d1) * d1
            d2 = d2 / d2.norm().clamp_min(_EPS)
    if d2 is None:
        d2 = _random_unit(n, seed + 1, [d1])
    return torch.stack([d1, d2])


def loss_on_plane(net: nn.Module, like: Params, origin: torch.Tensor, directions: torch.Tensor,
                  alphas: torch.Tensor, betas: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                  loss_fn: LossFn) -> torch.Tensor:
    """Return the loss ``[len(betas), len(alphas)]`` of ``net`` on ``(x, y)`` over the plane's grid.

    Every grid point's parameters are evaluated at once with ``torch.func.vmap`` over ``functional_call``.
    """
    b, a = torch.meshgrid(betas, alphas, indexing="ij")
    coords = torch.stack([a.reshape(-1), b.reshape(-1)], dim=1)

    def one(c: torch.Tensor) -> torch.Tensor:
        flat = origin + c @ directions
        return loss_fn(functional_call(net, unflatten_params(flat, like), (x,)), y)

    with torch.no_grad():
        return vmap(one)(coords).reshape(len(betas), len(alphas))


def path_landscape(net: nn.Module, like: Params, path: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                   loss_fn: LossFn, resolution: int = 41, margin: float = 1.0, still_half_width: float = 0.5,
                   seed: int = 0) -> Landscape:
    """Return the :class:`Landscape` of ``loss_fn`` on ``(x, y)`` around ``path`` ``[steps + 1, P]``.

    The plane passes through the path's start; the grid is square (same scale on both axes) and covers the
    projected path with ``margin`` times its span to spare on each side, so the basin around it shows. A
    path that does not move (zero steps) gets a grid ``still_half_width`` wide each way.
    """
    if path.dim() != 2 or path.shape[0] < 1:
        raise ValueError(f"path must be [steps + 1, P] with at least one point, got {tuple(path.shape)}")
    if resolution < 2:
        raise ValueError(f"resolution={resolution} must be >= 2")
    path = path.float()
    directions = plane_directions(path, seed)
    origin = path[0]
    rel = path - origin
    coords = rel @ directions.T
    residual = float((rel - coords @ directions).norm(dim=1).max())
    lo, hi = coords.min(dim=0).values, coords.max(dim=0).values
    center = (lo + hi) / 2
    span = float((hi - lo).max())
    half = span / 2 + span * margin if span > 1e-6 else still_half_width
    alphas = torch.linspace(float(center[0]) - half, float(center[0]) + half, resolution)
    betas = torch.linspace(float(center[1]) - half, float(center[1]) + half, resolution)
    loss = loss_on_plane(net, like, origin, directions, alphas, betas, x, y, loss_fn)
    return Landscape(alphas, betas, loss, coords, directions, origin, residual)
