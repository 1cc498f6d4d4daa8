"""The hand-made optimizers a learned one races: SGD, momentum, RMSprop and Adam, each with a tuned step size.

They are ``torch.optim``'s own, run on one ``[problems, dim]`` tensor: all four act coordinate by coordinate,
so one optimizer over the stacked parameters is exactly one independent optimizer per problem.
:func:`tune_learning_rates` picks each one's learning rate from a grid by the mean final loss on training
problems (Andrychowicz et al. 2016 tuned their baselines the same way); a rate that diverges scores ``inf``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from lab.learners.learned_optimizer import OptimizerRun, finish_run, gradients
from lab.tasks.optimizees import Problems

OPTIMIZERS: dict[str, Callable[[list[torch.Tensor], float], torch.optim.Optimizer]] = {
    "sgd": lambda p, lr: torch.optim.SGD(p, lr=lr),
    "momentum": lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9),
    "rmsprop": lambda p, lr: torch.optim.RMSprop(p, lr=lr),
    "adam": lambda p, lr: torch.optim.Adam(p, lr=lr),
}
LR_GRID = tuple(round(10 ** (e / 2), 6) for e in range(-8, 4))  # 1e-4, 3.2e-4, ..., 10, 31.6: half decades


def run_hand(name: str, lr: float, problems: Problems, steps: int, rng: torch.Generator | None = None,
             record_path: bool = False) -> OptimizerRun:
    """Run optimizer ``name`` with step size ``lr`` for ``steps`` steps from ``problems.init()``.

    Returns an :class:`~lab.learners.learned_optimizer.OptimizerRun`. A problem whose parameters stop being
    finite keeps a non-finite loss from then on (``diverged_at`` says when).
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer={name!r}; choose one of {', '.join(OPTIMIZERS)}")
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"learning rate {lr} for {name} must be a finite number > 0")
    theta = problems.init().requires_grad_(True)
    opt = OPTIMIZERS[name]([theta], lr)
    losses = [problems.full_loss(theta).detach()]
    path = [theta.detach().clone()] if record_path else None
    for _ in range(steps):
        _, theta.grad = gradients(problems, theta, rng)
        opt.step()
        with torch.no_grad():
            losses.append(problems.full_loss(theta))
        if path is not None:
            path.append(theta.detach().clone())
    return finish_run(losses, path)


def score(run: OptimizerRun) -> float:
    """Return the mean final loss of ``run``, ``inf`` if any problem diverged (a tuning score)."""
    final = run.final
    return float(final.mean()) if bool(torch.isfinite(final).all()) else math.inf


def tune_learning_rates(make_problems: Callable[[], Problems], make_rng: Callable[[], torch.Generator | None], steps: int,
                        names: tuple[str, ...] = tuple(OPTIMIZERS), grid: tuple[float, ...] = LR_GRID
                        ) -> dict[str, float]:
    """Return ``{optimizer: best learning rate}`` on the grid, by mean final loss after ``steps`` steps.

    ``make_problems()`` gives the (training) problems afresh for every try and ``make_rng()`` the generator of
    their minibatches or noise, so every rate sees the same draws. Raises ``FloatingPointError`` if every
    rate of an optimizer diverges.
    """
    best: dict[str, float] = {}
    for name in names:
        scores = {lr: score(run_hand(name, lr, make_problems(), steps, make_rng())) for lr in grid}
        lr = min(scores, key=scores.get)
        if not math.isfinite(scores[lr]):
            raise FloatingPointError(f"{name} diverges at every learning rate of {grid}")
        best[name] = lr
    return best
