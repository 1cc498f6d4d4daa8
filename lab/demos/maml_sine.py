"""The MAML sinusoid lesson: adapt three starting points to one task and record every inner step.

Finn, Abbeel & Levine (ICML 2017), section 5.1 / figure 2: after meta-training, MAML's initialisation fits
a new sinusoid from a handful of points in one or a few gradient steps, where a network pretrained on all
tasks jointly (which learns the average task, one fixed wave of about -1.6 cos x) and a random
initialisation do not.

:func:`maml_sine_demo` is pure: given the two trained parameter dicts and the page's inputs it returns a
:class:`SineDemo` with the fitted curve, the losses and the parameters at every step for each start, and
the loss landscape around MAML's path. A start whose inner loop diverges keeps the steps it managed and an
error message; the others are unaffected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lab.checkpoint import build_sine_net, load_sine_model
from lab.compute import ComputeOutOfMemory, guarded, make_generator
from lab.learners.landscape import Landscape, path_landscape
from lab.learners.maml import LOSSES, AdaptationDiverged, adapt
from lab.nets import Params, SineMLP, parameters_of, random_init
from lab.tasks.sinusoid import (
    AMPLITUDE_RANGE,
    PHASE_RANGE,
    SinusoidFamily,
    curve_x,
    sine_targets,
)

STARTS = ("maml", "pretrained", "random")
N_QUERY = 100  # query points per task: enough for a smooth MSE estimate
CHECKPOINTS = {"maml": ("maml_sine", "maml_sine"), "pretrained": ("pretrained_sine", "pretrained_sine")}


@dataclass
class StartTrace:
    """One starting point's inner loop: arrays with one row per completed step (0 = before any update).

    ``predictions`` is ``[steps_done + 1, CURVE_POINTS]``; ``params`` is ``[steps_done + 1, P]``; ``error`` says
    why the loop stopped early (a diverging inner learning rate), else ``None``.
    """

    name: str
    predictions: np.ndarray
    support_loss: np.ndarray
    query_loss: np.ndarray
    params: np.ndarray
    error: str | None = None


@dataclass
class SineDemo:
    """Everything the MAML page draws for one set of inputs."""

    amplitude: float
    phase: float
    k_shot: int
    steps: int
    inner_lr: float
    x_grid: np.ndarray  # [CURVE_POINTS]
    y_true: np.ndarray  # [CURVE_POINTS]
    support_x: np.ndarray  # [k_shot]
    support_y: np.ndarray  # [k_shot]
    starts: dict[str, StartTrace] = field(default_factory=dict)
    landscape: Landscape | None = None


def _net_for(params: Params) -> SineMLP:
    """Return an uninitialised :class:`SineMLP` shaped like ``params`` (a SineMLP state dict), for
    ``functional_call``; it draws nothing from torch's global generator.

    A fresh one per call, not a cached one: ``functional_call`` swaps the parameters on the module while it
    runs, so concurrent app sessions must not share a module.
    """
    weights = [v for k, v in params.items() if k.endswith("weight")]
    if len(weights) < 2 or weights[0].shape[1] != 1 or weights[-1].shape[0] != 1:
        raise ValueError(f"expected the parameters of a 1-input 1-output SineMLP, got {list(params)}")
    return build_sine_net({"net": {"hidden": int(weights[0].shape[0]), "layers": len(weights) - 1}})


RANDOM_TASK_DRAWS = 2**20  # draws per seed before random_task repeats itself


def random_task(seed: int, draw: int) -> tuple[float, float]:
    """Return the ``draw``-th random (amplitude, phase) for ``seed``, rounded to the page's slider steps.

    Each (seed, draw) pair with ``draw < 2**20`` seeds its own generator, so no two pairs share a task
    stream (``seed * 1000 + draw`` made seed 0's 1000th draw seed 1's 0th).
    """
    gen = make_generator(seed * RANDOM_TASK_DRAWS + draw % RANDOM_TASK_DRAWS)
    u = torch.rand(2, generator=gen)
    amplitude = AMPLITUDE_RANGE[0] + float(u[0]) * (AMPLITUDE_RANGE[1] - AMPLITUDE_RANGE[0])
    phase = PHASE_RANGE[0] + float(u[1]) * (PHASE_RANGE[1] - PHASE_RANGE[0])
    return round(amplitude, 1), round(phase, 2)


def _run_start(name: str, net: nn.Module, params: Params, task, steps: int, inner_lr: float,
               x_grid: torch.Tensor) -> StartTrace:
    args = (task.support_x[0], task.support_y[0])
    kwargs = dict(query_x=task.query_x[0], query_y=task.query_y[0], eval_x=x_grid)
    error = None
    try:
        trace = adapt(net, params, *args, steps, inner_lr, **kwargs).trace
    except AdaptationDiverged as exc:
        error, trace = str(exc), exc.trace  # keep the steps before the blow-up
    if not trace:
        return StartTrace(name, np.zeros((0, len(x_grid))), np.zeros(0), np.zeros(0), np.zeros((0, 0)), error)
    return StartTrace(
        name,
        predictions=torch.stack([s.predictions.reshape(-1) for s in trace]).numpy(),
        support_loss=np.array([s.support_loss for s in trace]),
        query_loss=np.array([s.query_loss for s in trace]),
        params=torch.stack([s.params for s in trace]).numpy(),
        error=error,
    )


@guarded("cpu", lower="K shots or inner steps")
def maml_sine_demo(maml_params: Params, pretrained_params: Params, amplitude: float, phase: float,
                   k_shot: int, steps: int, inner_lr: float, seed: int, landscape_resolution: int = 41
                   ) -> SineDemo:
    """Adapt MAML's, the pretrained and a random initialisation to the sinusoid ``amplitude``/``phase``.

    The ``k_shot`` support points (and ``N_QUERY`` query points, which do not move when ``k_shot`` does) are
    drawn with ``seed``; the random initialisation is :func:`lab.nets.random_init` of ``seed``, the same as
    ``python -m lab eval maml-sine --seed`` uses. Nothing is drawn from torch's global generator. Returns a :class:`SineDemo`. Raises ``ValueError`` for inputs out of range.
    """
    if not 1 <= k_shot <= 1000:
        raise ValueError(f"k_shot={k_shot} must be between 1 and 1000")
    if not 0 <= steps <= 100:
        raise ValueError(f"steps={steps} must be between 0 and 100")
    if not (math.isfinite(inner_lr) and inner_lr > 0):
        raise ValueError(f"inner_lr={inner_lr} must be a positive number")
    if not (math.isfinite(amplitude) and math.isfinite(phase)):
        raise ValueError(f"amplitude={amplitude} and phase={phase} must be finite numbers")
    net = _net_for(maml_params)
    task = SinusoidFamily(k_shot=k_shot, n_query=N_QUERY).task(amplitude, phase, make_generator(seed))
    x_grid = curve_x().unsqueeze(-1)
    starts = {"maml": maml_params, "pretrained": pretrained_params, "random": random_init(maml_params, seed)}
    demo = SineDemo(
        amplitude, phase, k_shot, steps, inner_lr,
        x_grid=x_grid.squeeze(-1).numpy(), y_true=sine_targets(x_grid, amplitude, phase).squeeze(-1).numpy(),
        support_x=task.support_x[0, :, 0].numpy(), support_y=task.support_y[0, :, 0].numpy(),
    )
    for name, params in starts.items():
        params = {k: v.detach().float().cpu() for k, v in params.items()}
        demo.starts[name] = _run_start(name, net, params, task, steps, inner_lr, x_grid)
    maml = demo.starts["maml"]
    if len(maml.params):
        like = {k: v.detach().float().cpu() for k, v in maml_params.items()}
        demo.landscape = path_landscape(net, like, torch.from_numpy(maml.params), task.support_x[0],
                                        task.support_y[0], LOSSES["mse"], resolution=landscape_resolution,
                                        seed=seed)
    return demo


def warm_up(maml_params: Params, pretrained_params: Params) -> None:
    """Run a tiny demo once: the first ``torch.func`` transform in a process costs ~1 s, later ones do not.

    Best effort: if it fails (out of memory, say), the user's own request fails the same way and is reported.
    """
    try:
        maml_sine_demo(maml_params, pretrained_params, 1.0, 0.0, 5, 2, 0.01, 0, landscape_resolution=3)
    except ComputeOutOfMemory:
        pass


def load_sine_starts(assets: Path) -> tuple[Params, Params, dict[str, dict]]:
    """Return ``(maml_params, pretrained_params, cards)`` read from ``assets/{maml,pretrained}_sine``.

    Raises ``lab.checkpoint.CheckpointError`` (a ``ValueError``) when a checkpoint is missing or unusable.
    """
    loaded, cards = {}, {}
    for name, (stem, kind) in CHECKPOINTS.items():
        net, meta = load_sine_model(Path(assets) / stem, kind=kind)
        loaded[name], cards[name] = parameters_of(net), meta
    return loaded["maml"], loaded["pretrained"], cards
