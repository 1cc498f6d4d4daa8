"""Sinusoid regression tasks, as in MAML (Finn, Abbeel & Levine 2017, section 5.1).

Each task is ``y = amplitude * sin(x - phase)`` with amplitude in [0.1, 5.0], phase in [0, pi] and inputs
drawn uniformly from [-5, 5]. Support has ``k_shot`` points, query ``n_query``. Ranges are parameters so
that pages can show out-of-distribution tasks (e.g. amplitudes above 5).

Each task's query and support inputs come from two child generators seeded by one draw each from the
caller's generator. So the number of draws per task does not depend on ``k_shot``: the held-out query
points stay put when K changes, and ``eval --shots 5`` and ``--shots 10`` see the same amplitudes and
phases for every task.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from lab.compute import derive_seed, make_generator
from lab.tasks.base import EpisodeBatch, check_positive

AMPLITUDE_RANGE = (0.1, 5.0)
PHASE_RANGE = (0.0, math.pi)
X_RANGE = (-5.0, 5.0)


CURVE_POINTS = 200  # points on which curves are drawn: smooth at any screen width, cheap to send


def curve_x(n: int = CURVE_POINTS) -> torch.Tensor:
    """Return ``n`` evenly spaced inputs ``[n]`` across :data:`X_RANGE`, for drawing curves."""
    return torch.linspace(*X_RANGE, n)


def sine_targets(x: torch.Tensor, amplitude: torch.Tensor | float, phase: torch.Tensor | float) -> torch.Tensor:
    """Return ``amplitude * sin(x - phase)``; tensor arguments broadcast over a leading task axis."""
    if isinstance(amplitude, torch.Tensor) and amplitude.dim() == 1:
        amplitude = amplitude.view(-1, *([1] * (x.dim() - 1)))
    if isinstance(phase, torch.Tensor) and phase.dim() == 1:
        phase = phase.view(-1, *([1] * (x.dim() - 1)))
    return amplitude * torch.sin(x - phase)


@dataclass
class SinusoidFamily:
    """Draws sinusoid regression tasks; ``sample`` returns x and y shaped ``[tasks, points, 1]``."""

    k_shot: int = 10
    n_query: int = 10
    amplitude_range: tuple[float, float] = AMPLITUDE_RANGE
    phase_range: tuple[float, float] = PHASE_RANGE
    x_range: tuple[float, float] = X_RANGE
    name: str = "sinusoid"

    def __post_init__(self) -> None:
        check_positive("k_shot", self.k_shot)
        check_positive("n_query", self.n_query)
        for label, (lo, hi) in (("amplitude_range", self.amplitude_range), ("phase_range", self.phase_range),
                                ("x_range", self.x_range)):
            if not lo <= hi:
                raise ValueError(f"{label}={(lo, hi)} must have low <= high")

    def _uniform(self, rng: torch.Generator, shape: tuple[int, ...], bounds: tuple[float, float]) -> torch.Tensor:
        lo, hi = bounds
        return lo + (hi - lo) * torch.rand(shape, generator=rng, device=rng.device)

    def sample(self, rng: torch.Generator, n_tasks: int) -> EpisodeBatch:
        """Return ``n_tasks`` random sinusoid tasks; ``meta`` has ``amplitude`` and ``phase`` ([tasks])."""
        check_positive("n_tasks", n_tasks)
        amplitude = self._uniform(rng, (n_tasks,), self.amplitude_range)
        phase = self._uniform(rng, (n_tasks,), self.phase_range)
        return self.tasks_for(amplitude, phase, rng)

    def tasks_for(self, amplitude: torch.Tensor, phase: torch.Tensor, rng: torch.Generator) -> EpisodeBatch:
        """Return tasks with the given ``amplitude`` and ``phase`` ([tasks]); only x positions are random.

        Takes exactly two draws from ``rng`` (the seeds of the query and the support inputs), whatever
        ``k_shot`` and ``n_query`` are.
        """
        n_tasks = int(amplitude.shape[0])
        query_rng = make_generator(derive_seed(rng), rng.device)
        support_rng = make_generator(derive_seed(rng), rng.device)
        query_x = self._uniform(query_rng, (n_tasks, self.n_query, 1), self.x_range)
        support_x = self._uniform(support_rng, (n_tasks, self.k_shot, 1), self.x_range)
        return EpisodeBatch(
            support_x, sine_targets(support_x, amplitude, phase),
            query_x, sine_targets(query_x, amplitude, phase),
            {"amplitude": amplitude, "phase": phase},
        )

    def task(self, amplitude: float, phase: float, rng: torch.Generator) -> EpisodeBatch:
        """Return one task with the given amplitude and phase (a batch with a task axis of length 1)."""
        device = rng.device
        return self.tasks_for(torch.tensor([float(amplitude)], device=device),
                              torch.tensor([float(phase)], device=device), rng)
