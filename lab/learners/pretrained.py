"""The "pretrained" baseline of the MAML paper: one network regressed on all tasks at once.

Finn, Abbeel & Levine, "Model-Agnostic Meta-Learning for Fast Adaptation of Deep Networks", ICML 2017,
section 5.1: "pretraining on all of the tasks, which entails training the network to regress to random
sinusoid functions and then, at test-time, fine-tuning with gradient descent on the K provided points".

Because every task's sinusoid is mixed into one regression problem, the net learns the *mean* function
over tasks, "the average task": a fixed wave, not zero. Phases are drawn from [0, pi] only, so they do not
cancel: the MSE-optimal prediction is E[A] * E[sin(x - phase)] = 2.55 * (-(2/pi) cos x) ~ -1.6 cos x.
Whatever the task, it starts from that one wave: a poor starting point for a few gradient steps, which is
the lesson of the comparison. At test time it is fine-tuned by exactly the same
inner SGD as MAML — :func:`lab.learners.maml.evaluate_init` — so the two are measured by the same code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lab.tasks.base import TaskFamily, check_positive


@dataclass
class PretrainConfig:
    """Hyper-parameters of joint pretraining; defaults mirror MAML's sinusoid set-up for a fair comparison."""

    lr: float = 1e-3  # Adam step size, the same as MAML's meta_lr (paper: baselines "likewise trained with Adam")
    tasks_per_batch: int = 25  # tasks mixed into one regression batch, the same as MAML's meta_batch

    def __post_init__(self) -> None:
        check_positive("tasks_per_batch", self.tasks_per_batch)
        if not self.lr > 0:
            raise ValueError(f"lr={self.lr} must be > 0")

    def to_dict(self) -> dict:
        """Return the config as a JSON-ready dict."""
        return asdict(self)


def joint_batch_loss(net: nn.Module, family: TaskFamily, rng: torch.Generator, tasks: int,
                     device: torch.device | str = "cpu") -> torch.Tensor:
    """Return the MSE of ``net`` on support and query points of ``tasks`` fresh tasks pooled together."""
    batch = family.sample(rng, tasks).to(device)
    x = torch.cat([batch.support_x, batch.query_x], dim=1).reshape(-1, batch.support_x.shape[-1])
    y = torch.cat([batch.support_y, batch.query_y], dim=1).reshape(-1, batch.support_y.shape[-1])
    return F.mse_loss(net(x), y)


def pretrain_joint(net: nn.Module, family: TaskFamily, iterations: int, rng: torch.Generator,
                   config: PretrainConfig | None = None, optimizer: torch.optim.Optimizer | None = None,
                   start: int = 0, on_step: Callable[[int, float], bool | None] | None = None) -> list[float]:
    """Train ``net`` in place by Adam on pooled tasks from ``iteration=start`` up to ``iterations``.

    Returns the loss history (one float per iteration run). ``on_step(iteration, loss)`` is called after
    each step (1-based iteration); returning ``False`` stops early. Pass ``optimizer`` to resume training.
    Raises ``FloatingPointError`` if the loss becomes NaN or infinite.
    """
    config = config or PretrainConfig()
    check_positive("iterations", iterations, minimum=0)
    device = next(net.parameters()).device
    optimizer = optimizer or torch.optim.Adam(net.parameters(), lr=config.lr)
    history: list[float] = []
    for it in range(start, iterations):
        optimizer.zero_grad(set_to_none=True)
        loss = joint_batch_loss(net, family, rng, config.tasks_per_batch, device)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"pretraining loss became {loss.item()} at iteration {it + 1} with lr {config.lr:g}; "
                                     f"lower lr (e.g. {config.lr / 10:g})")
        loss.backward()
        optimizer.step()
        history.append(loss.item())
        if on_step is not None and on_step(it + 1, history[-1]) is False:
            break
    return history
