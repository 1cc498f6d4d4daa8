"""Training loops for the sinusoid checkpoints that ship in ``assets/``: MAML and the pretrained baseline.

Finn, Abbeel & Levine 2017, section 5.1: a 1-40-40-1 ReLU net, tasks ``A sin(x - phase)``, K=10 training
shots, one inner SGD step with alpha=0.01, meta-batch 25, Adam 1e-3, 70 000 meta-iterations.

One deliberate departure, the default ``inner_steps=5`` (paper: 1). An initialisation meta-trained for a
single step of alpha=0.01 is sharp: fine-tuned for 10 steps on 5 points, as the paper's evaluation does,
about 1 task in 7 000 diverges to an infinite loss (3 of 20 000 in our measurement), so a 600-episode mean
can be ``inf``. Training through 5 steps asks the initialisation to stay stable over several steps: no
divergence in 20 000 tasks up to 20 steps, and a lower 10-step MSE (measured here: ~0.22-0.25 vs ~0.31) after fewer iterations
(30 000 instead of 70 000, since each iteration costs ~4x more). ``python -m lab pretrain --inner-steps 1
--iterations 70000`` trains the paper's exact set-up.

:func:`train_sine` runs either method from a :class:`SineTrainConfig`, deterministically from its seed
(:func:`lab.nets.random_init` for the initial weights, from a seed drawn off the task stream's
:func:`lab.compute.make_generator`; torch's global generator is never used).
Every ``checkpoint_every`` iterations it writes a resumable state (weights, optimizer, generator state,
iteration) to ``run_dir``; started again with the same config it continues from there and gives the very
same weights as an uninterrupted run. ``on_progress`` receives a :class:`Progress` and may stop training
by returning ``False`` (the app's stop button).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from lab import resumable
from lab.checkpoint import build_sine_net, save_checkpoint
from lab.compute import derive_seed, make_generator
from lab.learners.maml import MAML, MAMLConfig
from lab.learners.pretrained import PretrainConfig, pretrain_joint
from lab.nets import SineMLP, load_params_, random_init
from lab.tasks.base import check_positive
from lab.tasks.sinusoid import SinusoidFamily

METHODS = ("maml", "pretrained")


@dataclass
class SineTrainConfig:
    """What :func:`train_sine` trains; every field is stored in the checkpoint card."""

    method: str = "maml"  # "maml" (meta-training) or "pretrained" (joint regression baseline)
    iterations: int = 30_000  # paper: 70k with 1 inner step; 30k with 5 steps reaches a lower MSE (see above)
    seed: int = 0  # seeds both the initial weights and the task stream
    k_shot: int = 10  # support points per training task (paper: K=10)
    n_query: int = 10  # query points per training task (the paper samples 2K points and splits them)
    hidden: int = 40  # paper: two hidden layers of 40 units
    layers: int = 2
    # Paper values except inner_steps=5 (paper: 1), which keeps 10-step fine-tuning stable (see above).
    maml: MAMLConfig = field(default_factory=lambda: MAMLConfig(inner_steps=5))
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    checkpoint_every: int = 2_000  # resumable state every ~6 s of training; a stop loses little

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method={self.method!r}; choose one of {', '.join(METHODS)}")
        check_positive("iterations", self.iterations)
        check_positive("seed", self.seed, minimum=0)
        check_positive("checkpoint_every", self.checkpoint_every)

    @property
    def kind(self) -> str:
        """Return the checkpoint kind: ``"maml_sine"`` or ``"pretrained_sine"``."""
        return f"{self.method}_sine"

    def card(self) -> dict[str, Any]:
        """Return the JSON config stored with the checkpoint (what rebuilds the net and what trained it)."""
        train = {k: v for k, v in asdict(self).items() if k not in ("maml", "pretrain", "hidden", "layers",
                                                                     "checkpoint_every")}
        out: dict[str, Any] = {"net": {"name": "SineMLP", "hidden": self.hidden, "layers": self.layers},
                               "task": {"family": "sinusoid", **{k: list(v) for k, v in (
                                   ("amplitude_range", SinusoidFamily.amplitude_range),
                                   ("phase_range", SinusoidFamily.phase_range),
                                   ("x_range", SinusoidFamily.x_range))}},
                               "train": train}
        out["maml" if self.method == "maml" else "pretrain"] = (
            self.maml.to_dict() if self.method == "maml" else self.pretrain.to_dict())
        if self.method == "maml" and self.maml.inner_steps != 1:
            out["notes"] = (f"inner_steps={self.maml.inner_steps} (paper: 1): an init trained for one step of "
                            f"inner_lr={self.maml.inner_lr} diverges (inf loss) on ~1 in 7000 5-shot tasks "
                            "when fine-tuned for 10 steps; training through several steps keeps it stable "
                            "and lowers the 10-step MSE. See lab/training.py.")
        return out


@dataclass
class Progress:
    """A progress report: iterations done of ``total``, recent mean loss, seconds since this call started."""

    iteration: int
    total: int
    loss: float
    elapsed_s: float
    start: int = 0  # the iteration this call resumed from (0 for a fresh run)


@dataclass
class TrainResult:
    """What :func:`train_sine` returns: the trained net, its loss curve (one mean per ``log_every``), and facts."""

    net: SineMLP
    curve: list[float]
    iterations: int
    resumed_from: int
    wall_s: float
    stopped: bool
    paths: tuple[Path, Path] | None = None


def _state_paths(run_dir: Path, config: SineTrainConfig) -> tuple[Path, Path]:
    stem = run_dir / f"{config.kind}_seed{config.seed}"
    return stem.with_name(stem.name + ".state.pt"), stem.with_name(stem.name + ".state.json")


def _resume_key(config: SineTrainConfig) -> str:
    """Everything that must match for a saved state to be continued (the iteration target may grow)."""
    card = config.card()
    card["train"].pop("iterations")
    card.pop("notes", None)  # documentation only
    return json.dumps(card, sort_keys=True)


def _load_state(paths: tuple[Path, Path], config: SineTrainConfig) -> dict[str, Any] | None:
    state = resumable.load_state(paths, _resume_key(config))
    return state if state is not None and int(state["iteration"]) <= config.iterations else None


def train_sine(config: SineTrainConfig, out: Path | str | None = None, run_dir: Path | str | None = "runs",
               on_progress: Callable[[Progress], bool | None] | None = None, log_every: int = 100
               ) -> TrainResult:
    """Train one sinusoid model; save it as ``<out>/<kind>.{pt,json}`` if ``out`` is given; return a TrainResult.

    With ``run_dir`` set, a resumable state is kept there and picked up on the next call with the same
    config. ``on_progress`` is called every ``log_every`` iterations; returning ``False`` stops (and saves
    the resumable state, but not the final checkpoint).
    """
    rng = make_generator(config.seed)
    # The same seed gives MAML and the pretrained baseline the same initial weights.
    net = build_sine_net(config.card())
    load_params_(net, random_init(net, derive_seed(rng)))
    family = SinusoidFamily(k_shot=config.k_shot, n_query=config.n_query)
    maml = MAML(net, config.maml) if config.method == "maml" else None
    optimizer = maml.optimizer if maml else torch.optim.Adam(net.parameters(), lr=config.pretrain.lr)
    paths = _state_paths(Path(run_dir), config) if run_dir is not None else None
    start, curve, wall_before = 0, [], 0.0
    saved = _load_state(paths, config) if paths else None
    if saved is not None:
        net.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        rng.set_state(saved["rng"])
        start, curve = int(saved["iteration"]), saved["curve"].tolist()
        wall_before = float(saved.get("wall_s", torch.tensor(0.0)))

    t0, window, stopped, it = time.perf_counter(), [], False, start

    def snapshot(iteration: int) -> None:
        if paths:
            resumable.save_state(paths, _resume_key(config), {"model": net.state_dict(), "optimizer": optimizer.state_dict(),
                                        "rng": rng.get_state(), "iteration": torch.tensor(iteration),
                                        "curve": torch.tensor(curve, dtype=torch.float64),
                                        "wall_s": torch.tensor(wall_before + time.perf_counter() - t0)})

    def step_done(iteration: int, loss: float) -> bool:
        nonlocal it
        it = iteration
        window.append(loss)
        if iteration % log_every == 0:
            curve.append(sum(window) / len(window))
            window.clear()
            if on_progress is not None and on_progress(
                    Progress(iteration, config.iterations, curve[-1], time.perf_counter() - t0, start)) is False:
                snapshot(iteration)
                return False
        if iteration % config.checkpoint_every == 0:
            snapshot(iteration)
        return True

    if maml is not None:
        for i in range(start, config.iterations):
            loss = maml.meta_step(family.sample(rng, config.maml.meta_batch))["meta_loss"]
            if not step_done(i + 1, loss):
                stopped = True
                break
    else:
        def on_step(i: int, loss: float) -> bool:
            nonlocal stopped
            stopped = not step_done(i, loss)
            return not stopped

        pretrain_joint(net, family, config.iterations, rng, config.pretrain, optimizer, start, on_step)

    if window and not stopped:  # the last partial logging window (e.g. --iterations 1) joins the curve
        curve.append(sum(window) / len(window))
        window.clear()
        if on_progress is not None:
            on_progress(Progress(it, config.iterations, curve[-1], time.perf_counter() - t0, start))
    wall = time.perf_counter() - t0
    result = TrainResult(net, curve, it, start, wall, stopped)
    if out is not None and not stopped:
        final = curve[-1] if curve else float("nan")
        extra = {"iterations": it, "seed": config.seed, "final_loss": final, "loss_curve_every": log_every,
                 "loss_curve": [round(v, 5) for v in curve[:: max(1, len(curve) // 100)]],
                 "wall_s": round(wall_before + wall, 1), "resumed_from": start}
        result.paths = save_checkpoint(Path(out) / config.kind, net.state_dict(), config.card(), config.kind, extra)
    return result
