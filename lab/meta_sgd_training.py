"""Meta-training of Meta-SGD on sinusoids, and of its MAML control by the very same loop.

Li et al. 2017, section 4.1: the MAML sinusoid set-up (a 1-40-40-1 ReLU net, amplitude 0.1-5, phase 0-pi),
one inner step, trained separately for each K. The shipped checkpoint is trained for K=5, the number of
shots of the comparison it is evaluated on (``python -m lab eval meta-sgd``).

``learn_rates=False`` trains plain MAML (rates frozen at ``inner_lr``) with everything else identical:
tasks, seed, iterations, meta-batch. That is the fair control, since the lab's shipped MAML
(``assets/maml_sine``) was trained through 5 inner steps on 10 shots. Resumable through :mod:`lab.resumable`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from lab.checkpoint import (
    CheckpointError,
    build_sine_net,
    check_state_matches,
    load_checkpoint,
    save_checkpoint,
)
from lab.compute import derive_seed, make_generator
from lab.learners.meta_sgd import MetaSGD, MetaSGDConfig, MetaSGDModel
from lab.nets import load_params_, random_init
from lab.resumable import load_state, resume_key, save_state, state_paths
from lab.tasks.base import check_positive
from lab.tasks.sinusoid import SinusoidFamily

KINDS = ("meta_sgd_sine", "maml_sine_k5")  # the learned-rates model and its MAML control


@dataclass
class MetaSGDTrainConfig:
    """What :func:`train_meta_sgd` trains; every field is stored in the checkpoint card."""

    learn_rates: bool = True  # False: the MAML control (rates frozen at inner_lr)
    iterations: int = 20_000  # meta-updates (paper: not stated for sinusoids; MAML's was 70k)
    k_shot: int = 5  # training shots = the evaluation's (the paper trains one model per K)
    n_query: int = 10
    inner_lr: float = 0.01  # MAML's alpha; the control's fixed rate
    meta_batch: int = 25
    meta_lr: float = 1e-3
    seed: int = 0
    checkpoint_every: int = 1_000

    def __post_init__(self) -> None:
        for name in ("iterations", "k_shot", "n_query", "meta_batch", "checkpoint_every"):
            check_positive(name, getattr(self, name))
        check_positive("seed", self.seed, minimum=0)

    @property
    def kind(self) -> str:
        """Return ``"meta_sgd_sine"`` or, for the MAML control, ``"maml_sine_k5"``."""
        return KINDS[0] if self.learn_rates else KINDS[1]

    def learner_config(self) -> MetaSGDConfig:
        """Return the :class:`MetaSGDConfig` of this run."""
        rate_init = (0.005, 0.1) if self.learn_rates else (self.inner_lr, self.inner_lr)
        return MetaSGDConfig(rate_init=rate_init, meta_lr=self.meta_lr, meta_batch=self.meta_batch,
                             learn_rates=self.learn_rates)

    def card(self) -> dict[str, Any]:
        """Return the JSON config stored with the checkpoint."""
        return {"net": {"name": "SineMLP", "hidden": 40, "layers": 2}, "train": asdict(self),
                "meta_sgd": self.learner_config().to_dict()}


def build_model(card: dict[str, Any]) -> MetaSGDModel:
    """Return an uninitialised :class:`MetaSGDModel` shaped as ``card["net"]`` says."""
    return MetaSGDModel(build_sine_net(card))


def load_meta_sgd(path: Path | str, kind: str = KINDS[0]) -> tuple[MetaSGDModel, dict[str, Any]]:
    """Return ``(model, meta)`` of the checkpoint ``path`` (a stem); raises :class:`CheckpointError`."""
    if kind not in KINDS:
        raise CheckpointError(f"kind={kind!r}; Meta-SGD checkpoints are {KINDS}")
    state, meta = load_checkpoint(path, kind)
    model = build_model(meta["config"])
    check_state_matches(model, state, path)
    model.load_state_dict(state)
    return model, meta


@dataclass
class MetaSGDTrainResult:
    """The trained model, its loss curve (mean meta-loss per 500 iterations) and facts of the run."""

    model: MetaSGDModel
    curve: list[float]
    iterations: int
    wall_s: float
    stopped: bool
    paths: tuple[Path, Path] | None = None


def train_meta_sgd(config: MetaSGDTrainConfig, out: Path | str | None = None, run_dir: Path | str | None = "runs",
                   on_progress: Callable[[int, float, float], bool | None] | None = None, log_every: int = 500
                   ) -> MetaSGDTrainResult:
    """Train Meta-SGD (or its MAML control); save ``<out>.{pt,json}`` if ``out`` (a stem) is given.

    ``on_progress(iteration, mean meta-loss, seconds)`` is called every ``log_every`` iterations; returning
    ``False`` stops (the resumable state is saved, the final checkpoint is not).
    """
    rng = make_generator(config.seed)
    model = build_model(config.card())
    # Same seed, same initial net as the control: only the rates differ between the two runs.
    load_params_(model.net, random_init(model.net, derive_seed(rng)))
    lo, hi = config.learner_config().rate_init
    model.fill_rates_(make_generator(derive_seed(rng)), lo, hi)
    learner = MetaSGD(model, config.learner_config())
    family = SinusoidFamily(k_shot=config.k_shot, n_query=config.n_query)
    key = resume_key(config.card())
    paths = state_paths(run_dir, f"{config.kind}_seed{config.seed}", key) if run_dir else None
    start, curve, wall_before = 0, [], 0.0
    saved = load_state(paths, key) if paths else None
    if saved is not None:
        model.load_state_dict(saved["model"])
        learner.optimizer.load_state_dict(saved["optimizer"])
        rng.set_state(saved["rng"])
        start, wall_before, curve = int(saved["iteration"]), float(saved["wall_s"]), saved["curve"].tolist()
    t0, window, stopped, it = time.perf_counter(), [], False, start

    def wall() -> float:
        return wall_before + time.perf_counter() - t0

    for it in range(start + 1, config.iterations + 1):
        window.append(learner.meta_step(family.sample(rng, config.meta_batch))["meta_loss"])
        if it % log_every == 0 or it == config.iterations:
            curve.append(sum(window) / len(window))
            window.clear()
            stopped = on_progress is not None and on_progress(it, curve[-1], wall()) is False
        if paths is not None and (stopped or it % config.checkpoint_every == 0):
            save_state(paths, key, {"model": model.state_dict(), "optimizer": learner.optimizer.state_dict(),
                                    "rng": rng.get_state(), "iteration": it, "wall_s": wall(),
                                    "curve": torch.tensor(curve, dtype=torch.float64)})
        if stopped:
            break
    result = MetaSGDTrainResult(model, curve, it, wall(), stopped)
    if out is not None and not stopped:
        extra = {"iterations": it, "wall_s": round(wall(), 1), "loss_curve_every": log_every,
                 "loss_curve": [round(v, 5) for v in curve], "threads": torch.get_num_threads()}
        result.paths = save_checkpoint(out, model.state_dict(), config.card(), config.kind, extra)
    return result
