"""Meta-training of the learned optimizer (:mod:`lab.learners.learned_optimizer`) by truncated BPTT.

Andrychowicz et al. 2016, section 3: for every *run*, draw a fresh batch of problems, optimize them for
``steps`` steps with the LSTM, and after every ``unroll`` steps take one Adam step on the LSTM's weights
down the gradient of the summed losses of that window; the parameters and LSTM states then carry on, cut
from the graph (truncated backprop through time). Paper values: 100-step runs, 20-step truncations.

``meta_loss`` says what a window's losses add up to. ``"sum"`` is the paper's: ``f`` summed over the steps,
averaged over the batch's problems; a run's first steps (losses 100x those at its end) then decide the
meta-gradient, and Adam's step-size statistics, nearly alone. ``"log-mean"`` sums ``log`` of the batch's mean
loss at every step: every step's *relative* progress counts the same, while within a step the problems keep
the weight they have in the evaluated mean (a hard problem still counts more than an easy one).
``"log"`` sums ``log f`` per problem (every problem counts the same; Metz et al.'s later recipe).
``"log-final"`` is ``log`` of the batch's mean loss at the window's last step only: with ``unroll == steps``
that is exactly the evaluated quantity (the mean final loss), seen through the whole run.

Before training, the hand-made baselines' learning rates are tuned on training problems
(:func:`lab.learners.hand_optimizers.tune_learning_rates`) and stored in the checkpoint card, so that the
evaluation and the page race them with the rates tuned here. Every ``eval_every`` runs the mean final loss on
a fixed set of *validation* problems (a stream apart from the test problems of ``eval l2o``) joins the curve
``(run, wall_s, loss)``. With ``keep_best`` the saved model is the one with the lowest validation loss (the
paper's early stopping); otherwise the last one.
Resumable: a state goes to ``run_dir`` every ``checkpoint_every`` runs (see :mod:`lab.resumable`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from lab.checkpoint import save_checkpoint
from lab.compute import derive_seed, make_generator
from lab.learners.hand_optimizers import tune_learning_rates
from lab.learners.learned_optimizer import (
    LSTMOptimizer,
    LSTMOptimizerConfig,
    detach_state,
    run_learned,
    unroll,
)
from lab.nets import load_params_, random_init
from lab.resumable import cosine_lr, load_state, resume_key, save_state, state_paths
from lab.tasks.base import check_positive
from lab.tasks.optimizees import make_family, validation_rng

PROBLEMS = ("quadratic", "mlp", "mlp-relu")
META_LOSSES = ("sum", "log-mean", "log", "log-final")


@dataclass
class L2OTrainConfig:
    """What :func:`train_l2o` trains; every field is stored in the checkpoint card."""

    problem: str = "quadratic"  # "quadratic", "mlp" (sigmoid) or "mlp-relu"
    runs: int = 1000  # 100-step optimization runs, each on a fresh batch of problems
    batch: int = 128  # problems optimized side by side in one run
    steps: int = 100  # length of a run (paper: 100)
    unroll: int = 20  # truncation of backprop through time (paper: 20)
    meta_lr: float = 3e-3  # Adam on the LSTM's weights, cosine-decayed to meta_lr / 10
    clip: float = 1.0  # meta-gradient norm clip (not in the paper; keeps early meta-steps sane)
    output_scale: float = 0.1  # the LSTM's output times this is the update (paper: 0.1)
    meta_loss: str = "sum"  # "sum" (paper), "log-mean", "log" or "log-final": see the module docstring
    seed: int = 0
    eval_problems: int = 100  # validation problems of each progress check
    eval_every: int = 50
    keep_best: bool = False  # save the optimizer with the lowest validation loss (early stopping)
    checkpoint_every: int = 20

    def __post_init__(self) -> None:
        if self.problem not in PROBLEMS:
            raise ValueError(f"problem={self.problem!r}; choose one of {', '.join(PROBLEMS)}")
        for name in ("runs", "batch", "steps", "unroll", "eval_problems", "eval_every", "checkpoint_every"):
            check_positive(name, getattr(self, name))
        check_positive("seed", self.seed, minimum=0)
        if self.meta_loss not in META_LOSSES:
            raise ValueError(f"meta_loss={self.meta_loss!r}; choose one of {', '.join(META_LOSSES)}")
        for name in ("meta_lr", "output_scale"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}={getattr(self, name)} must be > 0")

    @property
    def kind(self) -> str:
        """Return the checkpoint kind, e.g. ``"l2o_quadratic"``."""
        return "l2o_" + self.problem.replace("-", "_")

    def card(self) -> dict[str, Any]:
        """Return the JSON config stored with the checkpoint."""
        return {"net": self.net_config().to_dict(), "train": asdict(self)}

    def net_config(self) -> LSTMOptimizerConfig:
        """Return the shape of the LSTM this config trains (the paper's, with this ``output_scale``)."""
        return LSTMOptimizerConfig(output_scale=self.output_scale)


# The shipped recipes (python -m lab pretrain --only l2o-quadratic|l2o-mlp); wall times in the issue-5 note.
RECIPES: dict[str, dict[str, Any]] = {
    "quadratic": dict(runs=3000, batch=128, meta_loss="log-mean", eval_problems=500, eval_every=50, keep_best=True,
                      checkpoint_every=50),
    "mlp": dict(runs=800, batch=8, meta_loss="log-mean", eval_problems=50, eval_every=50, keep_best=True,
                checkpoint_every=5),
    "mlp-relu": dict(runs=150, batch=8, eval_problems=20, eval_every=25, checkpoint_every=5),
}


def recipe(problem: str, seed: int = 0, **changes: Any) -> L2OTrainConfig:
    """Return the shipped training config for ``problem`` with ``changes`` applied."""
    if problem not in RECIPES:
        raise ValueError(f"problem={problem!r}; choose one of {', '.join(RECIPES)}")
    return L2OTrainConfig(problem=problem, seed=seed, **{**RECIPES[problem], **changes})


@dataclass
class L2OProgress:
    """A progress report after a run: runs done, the run's mean meta-loss, seconds, a validation check if any."""

    run: int
    total: int
    meta_loss: float
    elapsed_s: float
    held_out: float | None = None


@dataclass
class L2OTrainResult:
    """The trained optimizer, the validation curve ``[(run, wall_s, mean final loss)]`` and facts of the run."""

    optimizer: LSTMOptimizer
    curve: list[tuple[float, float, float]]
    runs: int
    wall_s: float
    stopped: bool
    baseline_lrs: dict[str, float]
    paths: tuple[Path, Path] | None = None


def tuning_problems(config: L2OTrainConfig, n: int = 32) -> tuple[Callable, Callable]:
    """Return ``(make_problems, make_rng)`` of the training problems the baselines are tuned on."""
    family = make_family(config.problem)
    return (lambda: family.sample(make_generator(config.seed + 17), n),
            lambda: make_generator(config.seed + 18))


def validation_score(opt: LSTMOptimizer, config: L2OTrainConfig) -> float:
    """Return the mean final loss of ``opt`` on ``config.eval_problems`` fixed validation problems."""
    rng = validation_rng(config.seed)
    problems = make_family(config.problem).sample(rng, config.eval_problems)
    return float(run_learned(opt, problems, config.steps, make_generator(derive_seed(rng))).final.mean())


def window_objective(losses: torch.Tensor, meta_loss: str) -> torch.Tensor:
    """Return the scalar meta-objective of one unroll window from its losses ``[steps, problems]``."""
    if meta_loss == "log-mean":
        return losses.mean(1).clamp_min(1e-12).log().mean()
    if meta_loss == "log":
        return losses.clamp_min(1e-12).log().mean()
    if meta_loss == "log-final":
        return losses[-1].mean().clamp_min(1e-12).log()
    return losses.mean()


def meta_train_run(opt: LSTMOptimizer, meta_optimizer: torch.optim.Optimizer, problems, config: L2OTrainConfig,
                   rng: torch.Generator | None) -> float:
    """Optimize ``problems`` for ``config.steps`` steps, one meta-update per ``config.unroll``; return the
    mean meta-loss per step."""
    theta = problems.init()
    state = opt.initial_state(theta.numel())
    total, done = 0.0, 0
    while done < config.steps:
        window = min(config.unroll, config.steps - done)
        theta, state, losses = unroll(opt, problems, theta, state, window, rng, per_step=True)
        loss = window_objective(losses, config.meta_loss)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"meta-loss became {loss.item()} with meta_lr {config.meta_lr:g}; lower meta_lr "
                                     f"(e.g. {config.meta_lr / 10:g})")
        meta_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(opt.parameters(), config.clip)
        meta_optimizer.step()
        theta, state = theta.detach(), detach_state(state)
        total += float(losses.detach().mean())
        done += window
    return total / -(-config.steps // config.unroll)


def train_l2o(config: L2OTrainConfig, out: Path | str | None = None, run_dir: Path | str | None = "runs",
              on_progress: Callable[[L2OProgress], bool | None] | None = None) -> L2OTrainResult:
    """Meta-train a learned optimizer; save ``<out>.{pt,json}`` if ``out`` (a stem) is given; return the result.

    ``on_progress`` is called after every run; returning ``False`` stops (the resumable state is saved, the
    final checkpoint is not).
    """
    rng = make_generator(config.seed)
    opt = LSTMOptimizer(config.net_config())
    load_params_(opt, random_init(opt, derive_seed(rng)))
    meta_optimizer = torch.optim.Adam(opt.parameters(), lr=config.meta_lr)
    family = make_family(config.problem)
    key = resume_key(config.card())
    paths = state_paths(run_dir, f"{config.kind}_seed{config.seed}", key) if run_dir else None
    start, curve, wall_before, lrs = 0, [], 0.0, None
    best: dict[str, Any] = {"score": float("inf"), "run": 0, "model": None}
    saved = load_state(paths, key) if paths else None
    if saved is not None:
        opt.load_state_dict(saved["model"])
        meta_optimizer.load_state_dict(saved["optimizer"])
        rng.set_state(saved["rng"])
        start, wall_before = int(saved["run"]), float(saved["wall_s"])
        curve = [tuple(float(v) for v in row) for row in saved["curve"].tolist()]
        lrs = {k: float(v) for k, v in zip(saved["lr_names"].split(","), saved["lrs"].tolist(), strict=True)}
        if "best_model" in saved:
            best.update(score=float(saved["best_score"]), run=int(saved["best_run"]), model=saved["best_model"])
    t0 = time.perf_counter()

    def wall() -> float:
        return wall_before + time.perf_counter() - t0

    if lrs is None:
        lrs = tune_learning_rates(*tuning_problems(config), config.steps)

    def snapshot(run: int) -> None:
        if paths is not None:
            save_state(paths, key, {"model": opt.state_dict(), "optimizer": meta_optimizer.state_dict(),
                                    "rng": rng.get_state(), "run": run, "wall_s": wall(),
                                    "curve": torch.tensor(curve, dtype=torch.float64).view(-1, 3),
                                    "lr_names": ",".join(lrs), "lrs": torch.tensor(list(lrs.values()), dtype=torch.float64),
                                    **({"best_model": best["model"], "best_run": best["run"], "best_score": best["score"]}
                                       if best["model"] is not None else {})})

    if start == 0 and not curve:
        curve.append((0, round(wall(), 2), validation_score(opt, config)))
    stopped, run = False, start
    for run in range(start + 1, config.runs + 1):
        for group in meta_optimizer.param_groups:
            group["lr"] = cosine_lr(config.meta_lr, config.meta_lr / 10, run - 1, config.runs)
        problems = family.sample(rng, config.batch)
        minibatches = make_generator(derive_seed(rng)) if config.problem != "quadratic" else None
        meta = meta_train_run(opt, meta_optimizer, problems, config, minibatches)
        held = None
        if run % config.eval_every == 0 or run == config.runs:
            held = validation_score(opt, config)
            curve.append((run, round(wall(), 2), held))
            if config.keep_best and held < best["score"]:
                best.update(score=held, run=run, model={k: v.clone() for k, v in opt.state_dict().items()})
        if on_progress is not None and on_progress(L2OProgress(run, config.runs, meta, wall(), held)) is False:
            stopped = True
        if stopped or run % config.checkpoint_every == 0:
            snapshot(run)
        if stopped:
            break
    if config.keep_best and best["model"] is not None and not stopped:
        opt.load_state_dict(best["model"])
    result = L2OTrainResult(opt, curve, run, wall(), stopped, lrs)
    if out is not None and not stopped:
        extra = {"runs": run, "wall_s": round(wall(), 1), "validation_curve": [list(r) for r in curve],
                 "selected_run": best["run"] if config.keep_best else run,
                 "baseline_lrs": lrs, "baseline_lrs_tuned_on": "32 training problems, mean final loss after "
                 f"{config.steps} steps, grid 1e-4..31.6 in half decades", "threads": torch.get_num_threads()}
        result.paths = save_checkpoint(out, opt.state_dict(), config.card(), config.kind, extra)
    return result
