"""The Optimizer lesson: a learned optimizer races the hand-made ones; Meta-SGD's learned learning rates.

* :func:`race_2d` - from one start on a 2-D landscape (:data:`lab.tasks.optimizees.SURFACES`), the learned
  optimizer and SGD, momentum, RMSprop and Adam each take ``steps`` steps; every path and loss is recorded.
  The baselines' rates are tuned by the grid on random starts of the same landscape (:func:`tuned_rates_2d`),
  times the page's multiplier; a path that diverges stops where it left the finite numbers and says so.
* :func:`race_mlp` - the same race on one small classifier (loss curves only: 1210 parameters do not draw).
* :func:`meta_sgd_demo` - the learned per-parameter rates of Meta-SGD by layer, and Meta-SGD against its
  MAML control adapting to the same sinusoid task from the same 5 points.

Pure functions of the loaded models and the page's inputs; nothing here imports Streamlit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from lab.compute import make_generator
from lab.l2o_eval import load_l2o
from lab.learners.hand_optimizers import OPTIMIZERS, run_hand, tune_learning_rates
from lab.learners.learned_optimizer import LSTMOptimizer, OptimizerRun, run_learned
from lab.learners.meta_sgd import MetaSGDModel, adapt_meta_sgd
from lab.meta_sgd_training import KINDS as META_SGD_KINDS
from lab.meta_sgd_training import load_meta_sgd
from lab.tasks.optimizees import SURFACES, Function2D, MLPFamily, held_out_rng, random_starts
from lab.tasks.sinusoid import SinusoidFamily, curve_x, sine_targets

METHODS = ("learned", *OPTIMIZERS)
L2O_CHECKPOINTS = {"quadratic": "l2o_quadratic", "mlp": "l2o_mlp"}
GRID = 160  # landscape picture resolution per axis (a PNG of a few tens of KB)


@dataclass
class Path2D:
    """One optimizer's race: ``path [done + 1, 2]``, ``losses [done + 1]``, its rate (None when learned) and the
    step at which it diverged (None if it did not)."""

    name: str
    path: np.ndarray
    losses: np.ndarray
    lr: float | None
    diverged_at: int | None


@dataclass
class Race:
    """Everything the 2-D race draws: the landscape grid, the start, and one :class:`Path2D` per optimizer."""

    landscape: str
    start: tuple[float, float]
    steps: int
    xs: np.ndarray
    ys: np.ndarray
    z: np.ndarray  # f on the grid, [len(ys), len(xs)]
    paths: dict[str, Path2D] = field(default_factory=dict)

    def until(self, steps: int) -> Race:
        """Return this race cut after ``steps`` steps: what :func:`race_2d` returns for ``steps`` from the same
        inputs, since every optimizer's path (and the noise it draws) is a prefix of any longer run's."""
        if not 0 < steps <= self.steps:
            raise ValueError(f"steps={steps}: a race of {self.steps} steps can be cut after 1..{self.steps}")
        cut = {name: Path2D(name, p.path[: steps + 1], p.losses[: steps + 1], p.lr,
                            p.diverged_at if p.diverged_at is not None and p.diverged_at <= steps else None)
               for name, p in self.paths.items()}
        return Race(self.landscape, self.start, steps, self.xs, self.ys, self.z, cut)


RACE_HORIZONS = (100, 200, 300)  # the page computes a race this long and shows its first ``steps``


def race_horizon(steps: int) -> int:
    """Return the race length to compute for ``steps`` shown: the first of :data:`RACE_HORIZONS` that covers it
    (``steps`` itself beyond them), so moving the steps slider within a horizon only cuts a cached race."""
    return next((h for h in RACE_HORIZONS if h >= steps), steps)


def load_optimizers(folder: Path) -> dict[str, LSTMOptimizer]:
    """Return the shipped learned optimizers ``{"quadratic": ..., "mlp": ...}`` of ``folder``."""
    return {name: load_l2o(folder / stem, stem)[0] for name, stem in L2O_CHECKPOINTS.items()}


def landscape_grid(name: str, resolution: int = GRID) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(xs, ys, z)`` of landscape ``name`` on its drawing box, ``z [resolution, resolution]``."""
    s = SURFACES[name]
    xs, ys = torch.linspace(*s.x_range, resolution), torch.linspace(*s.y_range, resolution)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    z = s.fn(torch.stack([gx, gy], -1))
    return xs.numpy(), ys.numpy(), z.numpy()


@lru_cache(maxsize=8)
def tuned_rates_2d(name: str, steps: int = 100) -> dict[str, float]:
    """Return each baseline's grid-tuned rate on landscape ``name``: mean final loss from 32 random starts.

    The starts fill the middle half of the box: at Beale's corners the gradient is ~1e6, so a rate that
    works anywhere else would be tuned away by them.
    """
    starts = random_starts(name, make_generator(11), 32, spread=0.5)
    return tune_learning_rates(lambda: Function2D(name, starts), lambda: make_generator(12), steps)


def _path(name: str, run: OptimizerRun, lr: float | None) -> Path2D:
    first_bad = int(run.diverged_at[0])
    keep = slice(None) if first_bad < 0 else slice(0, first_bad)
    return Path2D(name, run.path[keep, 0].numpy(), run.losses[keep, 0].numpy(), lr,
                  None if first_bad < 0 else first_bad)


def race_2d(optimizer: LSTMOptimizer, landscape: str, start: tuple[float, float], steps: int,
            lr_scale: float = 1.0, seed: int = 0) -> Race:
    """Return the :class:`Race` of the learned optimizer and the tuned baselines from ``start`` on ``landscape``.

    ``lr_scale`` multiplies every tuned rate (a teaching knob: too large diverges). ``seed`` draws the
    gradient noise of the noisy bowl, the same draws for every optimizer. Raises ``ValueError`` for a
    landscape that does not exist, a non-positive number of steps or multiplier.
    """
    if landscape not in SURFACES:
        raise ValueError(f"landscape={landscape!r}; choose one of {', '.join(SURFACES)}")
    if steps < 1 or not lr_scale > 0:
        raise ValueError(f"steps={steps} must be >= 1 and the rate multiplier {lr_scale} > 0")
    problem = Function2D(landscape, torch.tensor([start], dtype=torch.float32))
    race = Race(landscape, start, steps, *landscape_grid(landscape))
    race.paths["learned"] = _path("learned", run_learned(optimizer, problem, steps, make_generator(seed),
                                                         record_path=True), None)
    for name, lr in tuned_rates_2d(landscape).items():
        run = run_hand(name, lr * lr_scale, problem, steps, make_generator(seed), record_path=True)
        race.paths[name] = _path(name, run, lr * lr_scale)
    return race


def race_mlp(optimizer: LSTMOptimizer, rates: dict[str, float], steps: int, seed: int = 0,
             activation: str = "sigmoid") -> dict[str, np.ndarray]:
    """Return ``{optimizer: full-data loss [steps + 1]}`` on one held-out classifier (same minibatches for all)."""
    problem = MLPFamily(activation=activation).sample(held_out_rng(seed), 1)
    out = {"learned": run_learned(optimizer, problem, steps, make_generator(seed)).losses[:, 0].numpy()}
    for name, lr in rates.items():
        out[name] = run_hand(name, lr, problem, steps, make_generator(seed)).losses[:, 0].numpy()
    return out


@dataclass
class MetaSGDDemo:
    """The learned rates by parameter tensor and one task adapted by Meta-SGD and by its MAML control."""

    rates: dict[str, np.ndarray]  # name -> flat rates
    x_grid: np.ndarray
    y_true: np.ndarray
    support_x: np.ndarray
    support_y: np.ndarray
    fits: dict[str, np.ndarray]  # "meta-sgd" / "maml" -> predictions [steps + 1, len(x_grid)]
    query_mse: dict[str, np.ndarray]  # -> [steps + 1] on the curve points


def load_meta_sgd_pair(folder: Path) -> dict[str, MetaSGDModel]:
    """Return ``{"meta-sgd": ..., "maml": ...}``: the shipped Meta-SGD model and its MAML control."""
    return {label: load_meta_sgd(folder / kind, kind)[0] for label, kind in zip(("meta-sgd", "maml"), META_SGD_KINDS,
                                                                                  strict=True)}


def meta_sgd_demo(models: dict[str, MetaSGDModel], amplitude: float, phase: float, steps: int = 1,
                  k_shot: int = 5, seed: int = 0) -> MetaSGDDemo:
    """Return the :class:`MetaSGDDemo` for one task (``amplitude``, ``phase``) with ``k_shot`` points."""
    task = SinusoidFamily(k_shot=k_shot, n_query=1).task(amplitude, phase, make_generator(seed))
    x = curve_x()[:, None]
    y = sine_targets(x, amplitude, phase)
    fits, mse = {}, {}
    for label, model in models.items():
        adaptation = adapt_meta_sgd(model, task.support_x[0], task.support_y[0], steps, x, y, x)
        fits[label] = np.stack([s.predictions[:, 0].numpy() for s in adaptation.trace])
        mse[label] = np.array([s.query_loss for s in adaptation.trace])
    rates = {name: r.detach().flatten().numpy() for name, r in models["meta-sgd"].rate_dict().items()}
    return MetaSGDDemo(rates, x[:, 0].numpy(), y[:, 0].numpy(), task.support_x[0, :, 0].numpy(),
                       task.support_y[0, :, 0].numpy(), fits, mse)
