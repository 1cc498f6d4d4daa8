"""The virtual-task part of the command line; :mod:`lab.cli` wires it in.

    python -m lab eval virtual --real-classes 20,50,100,all [--data glyphs,omniglot] [--episodes 600] [--json]
    python -m lab eval virtual --real-classes 50 --data omniglot --draws 1   # one draw of the budget: 3x faster
    python -m lab eval virtual --data omniglot --validate korean ...  # choose a recipe without test alphabets
    python -m lab pretrain --only virtual-glyphs      # the generator the Virtual tasks page ships

``eval virtual`` trains what it has not trained yet (both arms at every budget, resumable, into the lab
folder's ``models/virtual/``) and reuses what it has; see :mod:`lab.virtual_eval`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from lab.checkpoint import assets_dir
from lab.generator_training import GeneratorTrainConfig, train_generator
from lab.tasks.splits import DATA_SOURCES, VALIDATION
from lab.virtual_eval import DRAWS, evaluate_virtual

EVAL_HELP = "real-only vs real+virtual tasks (a learned generator of characters) at budgets of real classes"
PRETRAIN_NAME = "virtual-glyphs"
SHIPPED = "virtual_glyphs"  # assets/<SHIPPED>.{pt,json}: the generator of the Virtual tasks page
RESULTS = "virtual_eval.json"  # assets/<RESULTS>: the report of `eval virtual` the page draws


def budget_list(text: str) -> list[int]:
    """Return budgets from ``"20,50,all"`` (``all`` -> 0) for argparse; each a whole number >= 5 or ``all``."""
    parts = [p.strip().lower() for p in text.split(",") if p.strip()]
    if not parts or not all(p == "all" or (p.isdigit() and int(p) >= 5) for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r} must be whole numbers >= 5 or 'all', separated by commas, "
                                         "e.g. 20,50,100,all")
    return [0 if p == "all" else int(p) for p in parts]


def data_list(text: str) -> list[str]:
    """Return data sets from ``"glyphs,omniglot"`` for argparse."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or any(p not in DATA_SOURCES for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r}: choose from {', '.join(DATA_SOURCES)}, separated by commas")
    return list(dict.fromkeys(parts))


def add_eval_arguments(p: argparse.ArgumentParser, positive_int: Callable, seed_int: Callable) -> None:
    """Add the options of ``eval virtual`` to ``p``."""
    p.add_argument("--real-classes", type=budget_list, default=[20, 50, 100, 0],
                   help="budgets of real training characters, e.g. 20,50,100,all")
    p.add_argument("--data", type=data_list, default=list(DATA_SOURCES),
                   help="glyphs, omniglot or glyphs,omniglot (the default: both)")
    p.add_argument("--omniglot", default=None, help="Omniglot archives or folder (default: the copy found)")
    p.add_argument("--episodes", type=positive_int, default=600, help="5-way 1-shot test episodes per row")
    p.add_argument("--seed", type=seed_int, default=0, help="training seed; test episodes use seed + 1")
    p.add_argument("--draws", type=positive_int, default=DRAWS,
                   help="repeats averaged per row, each with its own budget of real characters and training seed "
                        "(repeat d: budget seed d, training seed seed + d)")
    p.add_argument("--iterations", type=positive_int, default=None,
                   help="training iterations per arm (default: lab.virtual_eval.ITERATIONS)")
    p.add_argument("--warmup", type=int, default=None,
                   help="generator-only steps before the alternating phase (default: the recipe's)")
    p.add_argument("--channels", type=positive_int, default=None, help="ProtoNet Conv4 width (default: the recipe's)")
    p.add_argument("--validate", choices=list(VALIDATION), default=None,
                   help="train and measure on this validation split of Omniglot's training alphabets instead "
                        "(the held-out alphabet(s) of lab.tasks.splits.VALIDATION), never the test alphabets")
    p.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads")


def run_eval(a: argparse.Namespace) -> dict[str, Any]:
    """Return the ``virtual`` report for parsed options ``a`` (training what is missing, progress on stderr)."""
    torch.set_num_threads(a.threads)

    def progress(label: str, it: int, means: dict[str, float]) -> None:
        if it % 200 == 0:
            print(f"[{label}] {it} real loss {means['real']:.3f} virtual loss {means['virtual']:.3f}",
                  file=sys.stderr, flush=True)

    if a.warmup is not None and a.warmup < 0:
        raise ValueError(f"--warmup {a.warmup} must be >= 0")
    overrides = {k: v for k, v in (("gen_warmup", a.warmup), ("channels", a.channels)) if v is not None}
    return evaluate_virtual(a.real_classes, a.data, a.episodes, a.seed, a.iterations, a.omniglot,
                            on_progress=progress, overrides=overrides, validate=a.validate, draws=a.draws)


def pretrain(out: Path, runs: Path, seed: int) -> str:
    """Train the shipped glyph generator into ``out/<SHIPPED>`` (float16, without its encoder: the page only
    samples); return a summary line."""
    config = GeneratorTrainConfig(seed=seed)

    def progress(it: int, loss: float) -> None:
        if it % 500 == 0:
            print(f"[{PRETRAIN_NAME}] {it}/{config.iterations} loss {loss:.1f}", file=sys.stderr, flush=True)

    _, extra = train_generator(config, out=out / SHIPPED, run_dir=runs, on_progress=progress, half=True,
                               sampling_only=True)
    if extra["iterations"] != config.iterations:
        raise KeyboardInterrupt
    v = extra["latent_variation"]
    return (f"{PRETRAIN_NAME}: {extra['iterations']} steps in {extra['wall_s']:.0f}s, samples vary {v['ratio']:.2f}x "
            f"more with the class code than the style code -> {out / SHIPPED}.pt")


def shipped_generator_path() -> Path:
    """Return the stem of the shipped generator in :func:`lab.checkpoint.assets_dir`."""
    return assets_dir() / SHIPPED
