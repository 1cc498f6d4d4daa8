"""The learning-to-optimize part of the command line (issue 5), wired into :mod:`lab.cli`:

    python -m lab train l2o --problem quadratic|mlp|mlp-relu [--iterations RUNS] [--meta-batch N] [--seed S]
    python -m lab train meta-sgd [--iterations N] [--seed S] [--maml-control]
    python -m lab eval l2o --problem quadratic|mlp|mlp-relu --steps 100 --runs 100 [--lr X] [--json]
    python -m lab eval meta-sgd --shots 5 [--steps 1] [--episodes 1000] [--json]
    python -m lab pretrain --only l2o-quadratic|l2o-mlp|meta-sgd-sine

``train l2o`` and ``train meta-sgd`` share the ``train`` subcommand with the few-shot learners (its seed,
threads, name, out and runs options); ``--iterations`` counts 100-step runs for ``l2o`` and meta-updates for
``meta-sgd``, ``--meta-batch`` problems per run or tasks per update.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from lab.home import ensure_dir, models_dir
from lab.l2o_eval import evaluate_l2o, evaluate_meta_sgd_sine
from lab.l2o_training import PROBLEMS, L2OProgress, recipe, train_l2o
from lab.meta_sgd_training import MetaSGDTrainConfig, train_meta_sgd

LEARNERS = ("l2o", "meta-sgd")
PRETRAIN_NAMES = ("l2o-quadratic", "l2o-mlp", "meta-sgd-sine")
EVAL_HELP = {"l2o": "learned LSTM optimizer (Andrychowicz et al. 2016) vs tuned SGD, momentum, RMSprop, Adam",
             "meta-sgd": "Meta-SGD (Li et al. 2017) vs MAML on K-shot sinusoids, same tasks"}


def add_eval_arguments(name: str, p: argparse.ArgumentParser, positive_int: Callable, seed_int: Callable,
                       positive_float: Callable) -> None:
    """Add the options of ``eval l2o`` or ``eval meta-sgd`` (``name``) to ``p``."""
    if name == "l2o":
        p.add_argument("--problem", choices=PROBLEMS, default="quadratic",
                       help="held-out problems (mlp-relu: the sigmoid-trained optimizer on ReLU nets)")
        p.add_argument("--steps", type=positive_int, default=100, help="optimization steps (trained: 100)")
        p.add_argument("--runs", type=positive_int, default=100, help="held-out problems (at least 2)")
        p.add_argument("--lr", type=positive_float, default=None,
                       help="one learning rate for every baseline instead of the tuned ones")
        p.add_argument("--checkpoint", default=None, help="learned optimizer checkpoint stem (default: shipped)")
    else:
        p.add_argument("--shots", type=positive_int, default=5, help="support points per test task (K)")
        p.add_argument("--steps", type=_steps, default=[1], help="adaptation step counts, e.g. 1 or 1,5")
        p.add_argument("--episodes", type=positive_int, default=1000, help="test tasks (at least 2)")
        p.add_argument("--checkpoint-dir", default=None, help="folder with meta_sgd_sine, maml_sine_k5, maml_sine")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the test problems (same for every method)")


def _steps(text: str) -> list[int]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or not all(p.isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r} must be whole numbers >= 0 separated by commas, e.g. 1,5")
    return [int(p) for p in parts]


def run_eval(name: str, a: argparse.Namespace) -> dict[str, Any]:
    """Return the report of ``eval l2o`` or ``eval meta-sgd`` for parsed options ``a``."""
    torch.set_num_threads(1)  # tiny nets: one thread is fastest and leaves the other cores alone
    if name == "l2o":
        return evaluate_l2o(a.problem, a.steps, a.runs, a.seed, a.checkpoint, a.lr)
    return evaluate_meta_sgd_sine(a.checkpoint_dir, a.shots, a.steps, a.episodes, a.seed)


def extend_train_parser(p: argparse.ArgumentParser, positive_float: Callable) -> None:
    """Add ``l2o`` and ``meta-sgd`` to the learners of the ``train`` parser ``p``, with their own options."""
    for action in p._actions:  # argparse has no public way to extend a positional's choices
        if action.dest == "learner":
            action.choices = (*action.choices, *LEARNERS)
    g = p.add_argument_group("l2o / meta-sgd", "options of `train l2o` and `train meta-sgd` (see lab.cli_l2o)")
    g.add_argument("--problem", choices=PROBLEMS, default="quadratic", help="l2o: the problems it learns on")
    g.add_argument("--meta-lr", type=positive_float, default=None, help="l2o / meta-sgd: Adam step size")
    g.add_argument("--maml-control", action="store_true",
                   help="meta-sgd: freeze the rates at 0.01 (MAML trained by the same loop)")


def _printer(label: str, every_s: float = 10.0) -> Callable[[L2OProgress], None]:
    last = [-every_s]

    def report(p: L2OProgress) -> None:
        if p.held_out is not None or p.elapsed_s - last[0] >= every_s or p.run == p.total:
            last[0] = p.elapsed_s
            held = f"  validation final loss {p.held_out:.4g}" if p.held_out is not None else ""
            print(f"[{label}] run {p.run}/{p.total} meta-loss {p.meta_loss:.4g} {p.elapsed_s:.0f}s{held}",
                  file=sys.stderr, flush=True)

    return report


def _meta_sgd_printer(label: str) -> Callable[[int, float, float], None]:
    def report(iteration: int, loss: float, seconds: float) -> None:
        print(f"[{label}] {iteration} meta-loss {loss:.4f} {seconds:.0f}s", file=sys.stderr, flush=True)

    return report


def _train(learner: str, problem: str, seed: int, out: Path, runs: Path, iterations: int | None = None,
           batch: int | None = None, meta_lr: float | None = None, maml_control: bool = False) -> str:
    """Train one model into the stem ``out``; return a one-line summary (raise KeyboardInterrupt if stopped)."""
    changes = {k: v for k, v in (("meta_lr", meta_lr),) if v is not None}
    if learner == "l2o":
        changes |= {k: v for k, v in (("runs", iterations), ("batch", batch)) if v is not None}
        config = recipe(problem, seed, **changes)
        result = train_l2o(config, out=out, run_dir=runs, on_progress=_printer(f"l2o {problem}"))
        if result.paths is None:
            raise KeyboardInterrupt
        return (f"l2o {problem}: {result.runs} runs in {result.wall_s:.0f}s, validation final loss "
                f"{result.curve[-1][2]:.4g} -> {result.paths[0]}")
    changes |= {k: v for k, v in (("iterations", iterations), ("meta_batch", batch)) if v is not None}
    config = replace(MetaSGDTrainConfig(seed=seed, learn_rates=not maml_control), **changes)
    result = train_meta_sgd(config, out=out, run_dir=runs, on_progress=_meta_sgd_printer(config.kind))
    if result.paths is None:
        raise KeyboardInterrupt
    return f"{config.kind}: {result.iterations} iterations in {result.wall_s:.0f}s -> {result.paths[0]}"


def run_train(a: argparse.Namespace) -> int:
    """Run ``train l2o`` or ``train meta-sgd``: save into the lab folder (or ``--out``), print where it went."""
    torch.set_num_threads(a.threads)
    out_dir = ensure_dir(Path(a.out).expanduser() if a.out else models_dir())
    kind = f"l2o_{a.problem.replace('-', '_')}" if a.learner == "l2o" else (
        "maml_sine_k5" if a.maml_control else "meta_sgd_sine")
    name = a.name or f"{kind}_seed{a.seed}"
    runs = Path(a.runs).expanduser() if a.runs else out_dir.parent / "runs"
    print(_train(a.learner, a.problem, a.seed, out_dir / name, runs, a.iterations, a.meta_batch, a.meta_lr,
                 a.maml_control))
    return 0


def pretrain(name: str, out: Path, runs: Path, seed: int) -> str:
    """Train the shipped checkpoint(s) ``name`` (one of :data:`PRETRAIN_NAMES`) into ``out``; return a summary.

    ``meta-sgd-sine`` makes two: Meta-SGD and its MAML control (the same loop with frozen rates).
    """
    if name == "meta-sgd-sine":
        return "\n".join(_train("meta-sgd", "", seed, out / kind, runs, maml_control=control)
                         for kind, control in (("meta_sgd_sine", False), ("maml_sine_k5", True)))
    problem = name.removeprefix("l2o-")
    return _train("l2o", problem, seed, out / f"l2o_{problem}", runs)
