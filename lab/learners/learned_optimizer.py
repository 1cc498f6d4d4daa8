"""A learned optimizer: a coordinate-wise LSTM that reads gradients and writes parameter updates.

Andrychowicz, Denil, Gomez, Hoffman, Pfau, Schaul, Shillingford & de Freitas, "Learning to learn by gradient
descent by gradient descent", NeurIPS 2016.

* :func:`preprocess_gradients` - the paper's appendix A: each gradient coordinate becomes two inputs,
  ``(log|g| / p, sign g)`` when ``|g| >= e^-p`` and ``(-1, e^p g)`` otherwise, with ``p = 10``; gradients
  spanning many orders of magnitude then all reach the LSTM at a usable scale.
* :class:`LSTMOptimizer` - two LSTM layers of 20 units and a linear output times 0.1, shared across
  coordinates: every parameter of the optimizee is a row of one big batch with its own hidden state, so one
  small net optimizes problems of any size.
* :func:`unroll` - runs it for some steps on a batch of problems and returns the meta-loss, the sum of the
  optimizee's losses along the way (the paper's ``w_t = 1``). Meta-training (:mod:`lab.l2o_training`)
  backpropagates through 20-step unrolls of 100-step runs (truncated BPTT). As in the paper the gradient fed
  to the LSTM is treated as a constant (no second derivatives); ``second_order=True`` keeps them, which
  makes the meta-gradient the exact derivative of the unrolled meta-loss (tested against finite differences).
* :func:`run_learned` - the display and evaluation path: no meta-gradient, the loss at every step.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from lab.tasks.optimizees import Problems

State = list[tuple[torch.Tensor, torch.Tensor]]  # (h, c) per LSTM layer, each [coordinates, hidden]


@dataclass
class LSTMOptimizerConfig:
    """Shape of the learned optimizer; defaults are the paper's."""

    hidden: int = 20  # units per LSTM layer
    layers: int = 2
    p: float = 10.0  # preprocessing threshold e^-p and scale 1/p
    output_scale: float = 0.1  # the LSTM's output times this is the update

    def to_dict(self) -> dict:
        """Return the config as a JSON-ready dict."""
        return asdict(self)


def preprocess_gradients(grad: torch.Tensor, p: float = 10.0) -> torch.Tensor:
    """Return the two LSTM inputs per gradient coordinate, ``[..., 2]`` for ``grad [...]`` (paper, appendix A)."""
    magnitude = grad.abs()
    big = magnitude >= math.exp(-p)
    first = torch.where(big, magnitude.clamp_min(math.exp(-p)).log() / p, torch.full_like(grad, -1.0))
    second = torch.where(big, torch.sign(grad), math.exp(p) * grad)
    return torch.stack([first, second], dim=-1)


class LSTMOptimizer(nn.Module):
    """Maps each coordinate's preprocessed gradient and its own LSTM state to an update for that coordinate."""

    def __init__(self, config: LSTMOptimizerConfig | None = None) -> None:
        super().__init__()
        self.config = config or LSTMOptimizerConfig()
        c = self.config
        self.cells = nn.ModuleList(nn.LSTMCell(2 if i == 0 else c.hidden, c.hidden) for i in range(c.layers))
        self.head = nn.Linear(c.hidden, 1)

    def initial_state(self, n_coordinates: int, device: torch.device | str = "cpu") -> State:
        """Return zero ``(h, c)`` states for ``n_coordinates`` coordinates, one pair per layer."""
        zeros = torch.zeros(n_coordinates, self.config.hidden, device=device, dtype=self.head.weight.dtype)
        return [(zeros, zeros) for _ in self.cells]

    def forward(self, grad: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """Return ``(update [N], new state)`` for flat gradients ``grad [N]``; add the update to the parameters."""
        x = preprocess_gradients(grad, self.config.p)
        new_state = []
        for cell, (h, c) in zip(self.cells, state, strict=True):
            h, c = cell(x, (h, c))
            new_state.append((h, c))
            x = h
        return self.head(x).squeeze(-1) * self.config.output_scale, new_state


def detach_state(state: State) -> State:
    """Return ``state`` cut from the graph (the truncation point of truncated BPTT)."""
    return [(h.detach(), c.detach()) for h, c in state]


def gradients(problems: Problems, theta: torch.Tensor, rng: torch.Generator | None,
              create_graph: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(losses [problems], gradients [problems, dim])`` of ``problems.loss`` at ``theta``."""
    with torch.enable_grad():
        in_graph = theta.requires_grad
        if not in_graph:
            theta = theta.detach().requires_grad_(True)
        losses = problems.loss(theta, rng)
        # retain: when theta hangs off the meta-graph, the losses are also part of the meta-loss; with
        # create_graph the gradient's own graph reads the values saved by this forward pass
        (grad,) = torch.autograd.grad(losses.sum(), theta, create_graph=create_graph,
                                      retain_graph=in_graph or create_graph)
    return losses, grad


def unroll(optimizer: LSTMOptimizer, problems: Problems, theta: torch.Tensor, state: State, steps: int,
           rng: torch.Generator | None = None, second_order: bool = False, per_step: bool = False
           ) -> tuple[torch.Tensor, State, torch.Tensor]:
    """Take ``steps`` learned updates from ``theta [problems, dim]``; return ``(theta, state, meta_loss)``.

    ``meta_loss [problems]`` sums the loss at the ``steps`` points reached (``f(theta_1) .. f(theta_T)``) and is
    differentiable with respect to the optimizer's weights; with ``per_step`` it is those losses unsummed,
    ``[steps, problems]``. The loss at a point and the gradient taken there share one draw (minibatch or
    noise) of ``rng``.
    """
    reached = []
    for t in range(steps + 1):
        if t > 0 and t == steps:
            reached.append(problems.loss(theta, rng))  # the last point: its loss, no step from it
            break
        losses, grad = gradients(problems, theta, rng, create_graph=second_order)
        if t > 0:
            reached.append(losses)
        if not second_order:
            grad = grad.detach()  # the paper's simplification: no derivative through the gradient
        update, state = optimizer(grad.reshape(-1), state)
        theta = theta + update.view_as(theta)
    table = torch.stack(reached) if reached else torch.zeros(0, theta.shape[0], device=theta.device)
    return theta, state, table if per_step else table.sum(0)


@dataclass
class OptimizerRun:
    """One optimizer on a batch of problems: ``losses [steps + 1, problems]`` (reported loss, step 0 = start),
    ``path [steps + 1, problems, dim]`` when recorded, and the steps at which a problem's loss stopped being
    finite (``-1`` where it never did)."""

    losses: torch.Tensor
    path: torch.Tensor | None
    diverged_at: torch.Tensor

    @property
    def final(self) -> torch.Tensor:
        """Return the loss after the last step ``[problems]``."""
        return self.losses[-1]


def finish_run(losses: list[torch.Tensor], path: list[torch.Tensor] | None) -> OptimizerRun:
    """Return an :class:`OptimizerRun` from per-step losses (and points), marking the first non-finite step."""
    table = torch.stack(losses)
    bad = ~torch.isfinite(table)
    first_bad = torch.where(bad.any(0), bad.float().argmax(0), torch.full_like(table[0], -1).long())
    return OptimizerRun(table, torch.stack(path) if path is not None else None, first_bad.long())


@torch.no_grad()
def run_learned(optimizer: LSTMOptimizer, problems: Problems, steps: int, rng: torch.Generator | None = None,
                record_path: bool = False) -> OptimizerRun:
    """Run the learned optimizer ``steps`` steps from ``problems.init()``; return an :class:`OptimizerRun`."""
    theta = problems.init()
    state = optimizer.initial_state(theta.numel(), theta.device)
    losses, path = [problems.full_loss(theta)], [theta.clone()] if record_path else None
    for _ in range(steps):
        _, grad = gradients(problems, theta, rng)
        update, state = optimizer(grad.reshape(-1), state)
        theta = theta + update.view_as(theta)
        losses.append(problems.full_loss(theta))
        if path is not None:
            path.append(theta.clone())
    return finish_run(losses, path)
