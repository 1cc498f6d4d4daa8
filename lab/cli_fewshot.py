"""The few-shot part of the command line: ``train``, ``eval protonet|relation|maml`` and the glyph recipes
that ``pretrain`` runs. Kept apart from :mod:`lab.cli` so each file stays one job; ``lab.cli`` wires it in.

    python -m lab train protonet --data omniglot --omniglot PATH [--iterations N] [--way 60] [--shot 1] ...
    python -m lab eval protonet --data glyphs|omniglot --ways 5,20 --shots 1,5 --episodes 600 [--json]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from lab import distributed
from lab.compute import get_device
from lab.fewshot_eval import evaluate_fewshot
from lab.fewshot_models import shipped_path
from lab.fewshot_training import FewShotProgress, FewShotTrainConfig, glyph_recipe, recipe, train_fewshot
from lab.home import ensure_dir, models_dir
from lab.learners.fewshot import KINDS
from lab.tasks.splits import DATA_SOURCES

GLYPH_CHECKPOINTS = {kind: f"{kind}-glyphs" for kind in KINDS}  # pretrain --only names
EVAL_HELP = {
    "protonet": "Prototypical Networks (Snell et al. 2017): few-shot accuracy on held-out classes",
    "relation": "Relation Networks (Sung et al. 2018): few-shot accuracy on held-out classes",
    "maml": "MAML on Conv4 (Finn et al. 2017): few-shot accuracy on held-out classes",
}


def int_list(text: str) -> list[int]:
    """Return a comma-separated list of whole numbers >= 1, e.g. ``"5,20"`` (argparse type)."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or not all(p.isdigit() and int(p) >= 1 for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r} must be whole numbers >= 1 separated by commas, e.g. 5,20")
    return [int(p) for p in parts]


def add_eval_arguments(p: argparse.ArgumentParser, kind: str, positive_int: Callable, seed_int: Callable) -> None:
    """Add the options of ``eval <kind>`` to ``p``."""
    p.add_argument("--data", choices=DATA_SOURCES, default="glyphs", help="held-out classes to test on")
    p.add_argument("--omniglot", default=None, help="Omniglot archive or folder (default: the copy found)")
    p.add_argument("--ways", type=int_list, default=[5], help="ways per episode, e.g. 5,20")
    p.add_argument("--shots", type=int_list, default=[1], help="support drawings per class, e.g. 1,5")
    p.add_argument("--queries", type=positive_int, default=None, help="query drawings per class (default 15, 5 above 5 ways)")
    p.add_argument("--episodes", type=positive_int, default=600, help="test episodes per row (at least 2)")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the test episodes (same for every method)")
    p.add_argument("--checkpoint", default=None, help="checkpoint stem or .pt (default: see lab.fewshot_eval)")
    if kind == "protonet":
        p.add_argument("--views", type=positive_int, default=None,
                       help="average each embedding over this many hand-jittered views (default: the model's, 1)")
    if kind == "maml":
        p.add_argument("--steps", type=int, default=None, help="inner steps at test time (default: the model's)")


def run_eval(kind: str, a: argparse.Namespace) -> dict[str, Any]:
    """Return the report of ``eval <kind>`` for parsed options ``a``."""
    episodes = a.episodes
    if episodes < 2:
        raise ValueError(f"--episodes {episodes}: a confidence interval needs at least 2 episodes")
    return evaluate_fewshot(kind, a.data, a.ways, a.shots, episodes, a.seed, a.checkpoint, a.omniglot, a.queries,
                            getattr(a, "steps", None), views=getattr(a, "views", None),
                            on_progress=episode_printer(f"eval {kind}"))


def episode_printer(what: str, every_s: float = 5.0) -> Callable[[int, int], None]:
    """Return an ``on_progress(done, total)`` callback printing one stderr line at most every ``every_s``
    seconds (and at the end), so a long evaluation shows that it moves and how far it is."""
    start, last = time.perf_counter(), [time.perf_counter()]

    def report(done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] >= every_s or done == total:
            last[0] = now
            print(f"[{what}] {done}/{total} episodes  {now - start:.0f}s  (Ctrl-C stops and prints what is done)",
                  file=sys.stderr, flush=True)

    return report


def add_train_command(sub: argparse._SubParsersAction, positive_int: Callable, positive_float: Callable,
                      seed_int: Callable) -> None:
    """Add ``train <learner>`` to the subcommands ``sub``."""
    d = FewShotTrainConfig()
    p = sub.add_parser("train", help="meta-train a few-shot learner on glyphs or Omniglot into the lab folder")
    p.add_argument("learner", choices=KINDS)
    p.add_argument("--data", choices=DATA_SOURCES, default="glyphs")
    p.add_argument("--omniglot", default=None, help="Omniglot archives or folder (see lab.tasks.splits)")
    p.add_argument("--iterations", type=positive_int, default=None,
                   help="optimizer steps (default: the recipe's, see lab.fewshot_training)")
    p.add_argument("--way", type=int, default=None, help=f"ways per training episode (default {d.train_way}; "
                                                          "20 for relation, 5 for maml)")
    p.add_argument("--shot", type=positive_int, default=None, help="support shots per training class (default 1)")
    p.add_argument("--query", type=positive_int, default=d.train_query, help="query drawings per class")
    p.add_argument("--meta-batch", type=positive_int, default=None, help="episodes per step (default 1; 8 for maml)")
    p.add_argument("--lr", type=positive_float, default=d.lr, help="Adam step size (cosine-decayed)")
    p.add_argument("--no-augment", action="store_true", help="no hand jitter of the training drawings")
    p.add_argument("--init-from", default=None,
                   help="checkpoint to start from (of another learner: its conv blocks only); "
                        "default with --data omniglot: the shipped glyph model")
    p.add_argument("--from-scratch", action="store_true", help="start from random weights, never a checkpoint")
    p.add_argument("--mix-glyphs", type=float, default=0.0,
                   help="share of training episodes from the glyph alphabets when --data omniglot (0..1)")
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--eval-episodes", type=positive_int, default=d.eval_episodes,
                   help="held-out 5-way episodes in each progress check (the accuracy-vs-time curve)")
    p.add_argument("--distance", choices=("euclidean", "cosine"), default=None, help="protonet only")
    p.add_argument("--no-last-pool", action="store_true",
                   help="protonet only: keep the last block's 3x3 map (a 576-d embedding for 64 channels)")
    p.add_argument("--inner-lr", type=positive_float, default=None, help="maml only (default 0.4)")
    p.add_argument("--inner-steps", type=positive_int, default=None, help="maml only (default 1)")
    p.add_argument("--first-order", action="store_true", help="maml only: first-order MAML")
    p.add_argument("--threads", type=positive_int, default=max(1, torch.get_num_threads()), help="torch CPU threads")
    p.add_argument("--name", default=None, help="checkpoint name (default <learner>_<data>_seed<seed>)")
    p.add_argument("--out", default=None, help=f"folder for the checkpoint (default {models_dir()})")
    p.add_argument("--runs", default=None, help="folder for resumable states (default <out>/../runs)")


def train_config(a: argparse.Namespace) -> FewShotTrainConfig:
    """Return the training config for parsed ``train`` options: the recipe for the learner and data (see
    :func:`lab.fewshot_training.recipe`), then the options. On Omniglot it starts from the shipped glyph
    model unless ``--init-from`` or ``--from-scratch`` says otherwise."""
    if a.from_scratch and a.init_from:
        raise ValueError("--from-scratch and --init-from contradict each other; give one")
    base = recipe(a.learner, a.data).card()
    net = dict(base["net"])
    for key, value in (("distance", a.distance), ("inner_lr", a.inner_lr), ("inner_steps", a.inner_steps)):
        if value is not None:
            net[key] = value
    if a.first_order:
        net["first_order"] = True
    if a.no_last_pool:
        net["last_pool"] = False
    init_from = a.init_from
    if init_from is None and not a.from_scratch and a.data == "omniglot" and shipped_path(a.learner).with_suffix(
            ".pt").exists():
        init_from = str(shipped_path(a.learner))
    iterations = a.iterations or base["iterations"]
    overrides = {"data": a.data, "omniglot": a.omniglot, "iterations": iterations, "train_query": a.query,
                 "lr": base["lr"] if a.lr is None else a.lr, "augment": not a.no_augment, "init_from": init_from,
                 "seed": a.seed, "net": net,
                 "mix_glyphs": a.mix_glyphs, "eval_episodes": a.eval_episodes,
                 "eval_every": max(1, min(base["eval_every"], iterations))}
    for key, value in (("train_way", a.way), ("train_shot", a.shot), ("meta_batch", a.meta_batch)):
        if value is not None:
            overrides[key] = value
    return FewShotTrainConfig(**{**base, **overrides})


def _printer(label: str, every_s: float = 10.0) -> Callable[[FewShotProgress], None]:
    last = [-every_s]

    def report(p: FewShotProgress) -> None:
        if p.held_out is not None or p.elapsed_s - last[0] >= every_s or p.iteration == p.total:
            last[0] = p.elapsed_s
            held = f"  held-out 5-way acc {p.held_out:.3f}" if p.held_out is not None else ""
            print(f"[{label}] {p.iteration}/{p.total} loss {p.loss:.4f} acc {p.accuracy:.3f} "
                  f"{p.elapsed_s:.0f}s{held}", file=sys.stderr, flush=True)

    return report


def run_train(a: argparse.Namespace) -> int:
    """Run ``train``: save the checkpoint into the lab folder (or ``--out``) and print where it went.

    Started by ``torchrun`` (several processes), it trains data-parallel over the tasks of each meta-batch
    (:mod:`lab.distributed`); rank 0 prints and saves, the other ranks return 0 quietly.
    """
    torch.set_num_threads(a.threads)
    config = train_config(a)
    out_dir = ensure_dir(Path(a.out).expanduser() if a.out else models_dir())
    name = a.name or f"{a.learner}_{a.data}_seed{a.seed}"
    runs = Path(a.runs).expanduser() if a.runs else out_dir.parent / "runs"
    ctx = distributed.from_env()
    device = ctx.device if ctx.active else get_device()  # CUDA when there is one (LAB_DEVICE forces one)
    try:
        result = train_fewshot(config, out=out_dir / name, run_dir=runs, on_progress=_printer(a.learner),
                               device=device, dist=ctx)
    except BaseException:
        distributed.shutdown(ctx, wait=False)  # the other ranks may never reach a barrier
        raise
    distributed.shutdown(ctx)
    if not ctx.is_main:
        return 0
    if result.stopped or result.paths is None:
        print(f"stopped at iteration {result.iterations}; run the same command again to resume", file=sys.stderr)
        return 130
    last = result.curve[-1]
    print(f"{a.learner}: {result.iterations} iterations in {result.wall_s:.0f}s, held-out 5-way "
          f"{config.eval_shot}-shot accuracy {last[2]:.3f} -> {result.paths[0]}")
    return 0


def pretrain_glyph_model(kind: str, out: Path, runs: Path, seed: int) -> str:
    """Train the shipped ``<kind>_glyphs`` checkpoint into ``out``; return a one-line summary."""
    result = train_fewshot(glyph_recipe(kind, seed), out=out / f"{kind}_glyphs", run_dir=runs,
                           on_progress=_printer(kind))
    if result.paths is None:
        raise KeyboardInterrupt
    return (f"{kind}: {result.iterations} iterations in {result.wall_s:.0f}s, held-out 5-way 1-shot accuracy "
            f"{result.curve[-1][2]:.3f} -> {result.paths[0]}")
