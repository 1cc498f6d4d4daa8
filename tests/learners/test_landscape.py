"""The loss-landscape plane: orthonormal directions, exact start/end, vmapped grid == per-point loop."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.func import functional_call

from lab.learners.landscape import loss_on_plane, path_landscape, plane_directions
from lab.learners.maml import adapt
from lab.nets import SineMLP, flatten_params, parameters_of, unflatten_params


def _setup(steps: int = 4):
    torch.manual_seed(0)
    net = SineMLP(hidden=8)
    params = parameters_of(net)
    x = torch.linspace(-5, 5, 12).unsqueeze(-1)
    y = 2 * torch.sin(x - 0.3)
    trace = adapt(net, params, x, y, steps, 0.05).trace
    return net, params, x, y, torch.stack([s.params for s in trace])


def test_directions_are_orthonormal_and_contain_start_to_end() -> None:
    *_, path = _setup()
    d = plane_directions(path)
    assert torch.allclose(d @ d.T, torch.eye(2), atol=1e-5)
    end = path[-1] - path[0]
    assert torch.allclose((end @ d.T) @ d, end, atol=1e-4)


def test_grid_matches_a_per_point_loop() -> None:
    net, params, x, y, path = _setup()
    land = path_landscape(net, params, path, x, y, F.mse_loss, resolution=5)
    for j, b in enumerate(land.betas):
        for i, a in enumerate(land.alphas):
            flat = land.origin + a * land.directions[0] + b * land.directions[1]
            expected = F.mse_loss(functional_call(net, unflatten_params(flat, params), (x,)), y)
            assert torch.isclose(land.loss[j, i], expected, rtol=1e-4, atol=1e-6)


def test_start_and_end_project_exactly_and_lie_on_the_grid() -> None:
    net, params, x, y, path = _setup()
    land = path_landscape(net, params, path, x, y, F.mse_loss, resolution=7)
    assert torch.allclose(land.path[0], torch.zeros(2))
    assert land.path.shape == (5, 2)
    for point in land.path:
        assert land.alphas[0] <= point[0] <= land.alphas[-1] and land.betas[0] <= point[1] <= land.betas[-1]
    start_loss = loss_on_plane(net, params, land.origin, land.directions, torch.zeros(1), torch.zeros(1), x, y,
                               F.mse_loss)
    assert torch.isclose(start_loss[0, 0], F.mse_loss(functional_call(net, params, (x,)), y), rtol=1e-5)


def test_zero_steps_still_gives_a_plane() -> None:
    net, params, x, y, _ = _setup()
    path = flatten_params(params).unsqueeze(0)
    land = path_landscape(net, params, path, x, y, F.mse_loss, resolution=4, still_half_width=0.5)
    assert land.loss.shape == (4, 4) and torch.isfinite(land.loss).all()
    assert torch.isclose(land.alphas[-1] - land.alphas[0], torch.tensor(1.0))
