"""The meta-RL part of the command line, wired into :mod:`lab.cli`:

    python -m lab train meta-rl --task bandit-independent|bandit-correlated|bandit-switching|harlow
                                [--updates N] [--batch N] [--gamma 0.9] [--lr 7e-4] [--seed S] ...
    python -m lab eval meta-rl --task bandit-correlated|bandit-independent|harlow --episodes 300 [--json]
    python -m lab pretrain --only meta-rl-bandit-independent|meta-rl-bandit-correlated|meta-rl-harlow

``train meta-rl`` shares the ``train`` subcommand with the few-shot learners (its seed, threads, name, out,
runs and lr options); the options below are added to it.
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
from lab.meta_rl_eval import EVAL_TASKS, evaluate_meta_rl
from lab.meta_rl_training import (
    META_RL_TASKS,
    RECIPES,
    MetaRLProgress,
    MetaRLTrainConfig,
    recipe,
    train_meta_rl,
)

LEARNER = "meta-rl"
PRETRAIN_NAMES = {f"meta-rl-{task}": task for task in RECIPES}  # pretrain --only names
EVAL_HELP = "meta-RL LSTM (Wang et al. 2018) vs UCB, Thompson, Bayes-optimal / win-stay-lose-shift"


def add_eval_arguments(p: argparse.ArgumentParser, positive_int: Callable, seed_int: Callable) -> None:
    """Add the options of ``eval meta-rl`` to ``p``."""
    # dest rl_task: `task` already names the eval subcommand (meta-rl)
    p.add_argument("--task", dest="rl_task", choices=EVAL_TASKS, required=True, help="which episodes the agent plays")
    p.add_argument("--episodes", type=positive_int, default=300, help="test episodes (at least 2)")
    p.add_argument("--trials", type=positive_int, default=None, help="trials per episode (default 100; Harlow 6)")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the test episodes (same for every method)")
    p.add_argument("--checkpoint", default=None, help="checkpoint stem (default: the shipped one for the task)")


def run_eval(a: argparse.Namespace) -> dict[str, Any]:
    """Return the report of ``eval meta-rl`` for parsed options ``a``."""
    return evaluate_meta_rl(a.rl_task, a.episodes, a.seed, a.checkpoint, a.trials)


def extend_train_parser(p: argparse.ArgumentParser, positive_int: Callable, positive_float: Callable) -> None:
    """Add ``meta-rl`` to the learners of the ``train`` parser ``p`` and its own options."""
    for action in p._actions:  # argparse has no public way to extend a positional's choices
        if action.dest == "learner":
            action.choices = (*action.choices, LEARNER)
        if action.dest == "threads":
            action.help = f"{action.help} (meta-rl: 1 is fastest, its LSTM is small)"
        if action.dest == "lr":
            action.help = f"{action.help}; meta-rl: RMSProp, default {MetaRLTrainConfig.lr}"
            action.default = None  # each learner fills in its own default
    g = p.add_argument_group("meta-rl", "options of `train meta-rl` (A2C across episodes, Wang et al. 2018)")
    g.add_argument("--task", choices=META_RL_TASKS, default="bandit-independent", help="the task distribution")
    g.add_argument("--updates", type=positive_int, default=None, help="A2C updates (default: the shipped recipe's)")
    g.add_argument("--batch", type=positive_int, default=None, help="episodes per update, played in parallel")
    g.add_argument("--gamma", type=float, default=None, help="discount (paper: 0.9)")
    g.add_argument("--entropy-final", type=float, default=None,
                   help="entropy cost at the last update (decays linearly from 0.05; 0.05 keeps it constant)")
    g.add_argument("--hidden", type=positive_int, default=None, help="LSTM units (default 48; Harlow 128)")


def train_config(a: argparse.Namespace) -> MetaRLTrainConfig:
    """Return the training config for parsed ``train meta-rl`` options: the shipped recipe, then the options."""
    base = recipe(a.task, a.seed) if a.task in RECIPES else MetaRLTrainConfig(task=a.task, seed=a.seed)
    changes = {k: v for k, v in (("updates", a.updates), ("batch", a.batch), ("gamma", a.gamma),
                                 ("entropy_final", a.entropy_final), ("lr", a.lr)) if v is not None}
    if a.hidden is not None:
        changes["net"] = {**base.net, "hidden": a.hidden}
    changes["eval_every"] = max(1, min(base.eval_every, changes.get("updates", base.updates)))
    return replace(base, **changes)


def _printer(label: str, every_s: float = 10.0) -> Callable[[MetaRLProgress], None]:
    last = [-every_s]

    def report(p: MetaRLProgress) -> None:
        if p.held_out is not None or p.elapsed_s - last[0] >= every_s or p.update == p.total:
            last[0] = p.elapsed_s
            held = f"  held-out {p.held_out:.3f}" if p.held_out is not None else ""
            print(f"[{label}] {p.update}/{p.total} reward/trial {p.reward:.3f} entropy {p.entropy:.3f} "
                  f"{p.elapsed_s:.0f}s{held}", file=sys.stderr, flush=True)

    return report


def _summary(task: str, result: Any) -> str:
    what = "trials 2+ accuracy" if task == "harlow" else "regret"
    return (f"meta-rl {task}: {result.updates} updates in {result.wall_s:.0f}s, held-out {what} "
            f"{result.curve[-1][2]:.3f} -> {result.paths[0]}")


def run_train(a: argparse.Namespace) -> int:
    """Run ``train meta-rl``: save the checkpoint into the lab folder (or ``--out``) and print where it went."""
    torch.set_num_threads(a.threads)
    config = train_config(a)
    out_dir = ensure_dir(Path(a.out).expanduser() if a.out else models_dir())
    name = a.name or f"meta_rl_{a.task.replace('-', '_')}_seed{a.seed}"
    runs = Path(a.runs).expanduser() if a.runs else out_dir.parent / "runs"
    result = train_meta_rl(config, out=out_dir / name, run_dir=runs, on_progress=_printer(a.task))
    if result.stopped or result.paths is None:
        print(f"stopped at update {result.updates}; run the same command again to resume", file=sys.stderr)
        return 130
    print(_summary(a.task, result))
    return 0


def pretrain(name: str, out: Path, runs: Path, seed: int) -> str:
    """Train the shipped checkpoint ``name`` (a key of :data:`PRETRAIN_NAMES`) into ``out``; return a summary."""
    task = PRETRAIN_NAMES[name]
    result = train_meta_rl(recipe(task, seed), out=out / f"meta_rl_{task.replace('-', '_')}", run_dir=runs,
                           on_progress=_printer(task))
    if result.paths is None:
        raise KeyboardInterrupt
    return _summary(task, result)
