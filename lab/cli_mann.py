"""The MANN part of the command line: ``train mann``, ``eval mann`` and the shipped glyph pair that
``pretrain --only mann-glyphs`` makes. Kept apart from :mod:`lab.cli`, which wires it in.

    python -m lab train mann [--data glyphs|omniglot] [--classes 5] [--labels onehot|string] [--iterations N] ...
    python -m lab eval mann [--data glyphs|omniglot] [--classes 5] [--episodes 1000] [--json]

``train mann`` trains the MANN and then its LSTM baseline on the same recipe (``<name>`` and
``<name>_lstm``), so ``eval mann`` always has the pair it compares.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import torch

from lab.home import ensure_dir, models_dir
from lab.learners.mann import CONV4_IMAGE_SIZE, ENCODERS
from lab.mann_eval import INSTANCES, MANN_KINDS, evaluate_mann, member_stems, shipped_mann_path
from lab.mann_recipes import GLYPH_RECIPE, OMNIGLOT_RECIPE_ARGS, mann_glyph_recipe
from lab.mann_training import WARMUP_LOSSES, MANNProgress, MANNTrainConfig, train_mann
from lab.tasks.mann_episodes import LABEL_MODES
from lab.tasks.splits import DATA_SOURCES, VALIDATION

PRETRAIN_NAME = "mann-glyphs"  # pretrain --only name
EVAL_HELP = "Memory-augmented network (Santoro et al. 2016) vs LSTM: accuracy by instance on held-out classes"


# Named recipes of `train mann --recipe NAME`: options put in front of the user's own (which win).
# omniglot-conv: the recipe that reached the issue-4 table's Omniglot row (see lab.mann_recipes.OMNIGLOT_RECIPE_ARGS).
RECIPES: dict[str, list[str]] = {"omniglot-conv": OMNIGLOT_RECIPE_ARGS}


def expand_recipe(argv: list[str]) -> list[str]:
    """Return ``argv`` of ``train mann`` with the options of its ``--recipe NAME`` (if any, and known) put in
    front, so that options given explicitly override the recipe's; ``--recipe`` itself stays for the parser."""
    for i, token in enumerate(argv):
        if token == "--recipe" and i + 1 < len(argv):
            return RECIPES.get(argv[i + 1], []) + argv
        if token.startswith("--recipe="):
            return RECIPES.get(token.split("=", 1)[1], []) + argv
    return argv


def add_eval_arguments(p: argparse.ArgumentParser, positive_int: Callable, seed_int: Callable) -> None:
    """Add the options of ``eval mann`` to ``p``."""
    p.add_argument("--data", choices=DATA_SOURCES, default="glyphs", help="held-out classes to test on")
    p.add_argument("--omniglot", default=None, help="Omniglot archive or folder (default: the copy found)")
    p.add_argument("--classes", type=positive_int, default=5, help="classes per episode (the model's)")
    p.add_argument("--episodes", type=positive_int, default=1000, help="test episodes (at least 2)")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the test episodes (same for both methods)")
    p.add_argument("--checkpoint", nargs="+", default=None,
                   help="MANN checkpoint stem (its baseline is <stem>_lstm; default: see lab.mann_eval); several "
                        "stems (e.g. the members `train mann --members K` made) are measured as one ensemble, "
                        "against the first one's baseline")
    p.add_argument("--memory-slots", type=positive_int, default=None,
                   help="memory slots of the MANN at test time (default: as trained; its weights do not depend on it)")
    p.add_argument("--validate", choices=list(VALIDATION), default=None,
                   help="measure on this validation split's held-out training alphabets (lab.tasks.splits."
                        "VALIDATION), never the test alphabets (needs --data omniglot)")
    p.add_argument("--views", type=positive_int, default=None,
                   help="average each image's conv features over itself and views-1 jittered copies, both models "
                        "(default: as trained, 1; needs a conv encoder)")


def run_eval(a: argparse.Namespace) -> dict[str, Any]:
    """Return the report of ``eval mann`` for parsed options ``a``."""
    return evaluate_mann(a.data, a.classes, a.episodes, a.seed, a.checkpoint, a.omniglot, INSTANCES,
                         memory_slots=a.memory_slots, views=a.views, validate=a.validate)


def train_parser(parser_class: type[argparse.ArgumentParser], prog: str, positive_int: Callable,
                 positive_float: Callable, seed_int: Callable) -> argparse.ArgumentParser:
    """Return the parser of ``train mann`` (its options differ from the few-shot learners')."""
    d, net = MANNTrainConfig(), GLYPH_RECIPE["net"]
    p = parser_class(prog=prog, description="train a MANN and its LSTM baseline into the lab folder")
    p.add_argument("--recipe", choices=sorted(RECIPES), default=None,
                   help="start from a named recipe's options (options given as well override them); "
                        + "; ".join(f"{k}: {' '.join(v)}" for k, v in RECIPES.items()))
    p.add_argument("--data", choices=DATA_SOURCES, default="glyphs")
    p.add_argument("--omniglot", default=None, help="Omniglot archives or folder (see lab.tasks.splits)")
    p.add_argument("--classes", type=int, default=5, help="classes per episode (>= 2)")
    p.add_argument("--labels", choices=LABEL_MODES, default="onehot",
                   help="one-hot labels, or the paper's 5-character strings (for 15 classes)")
    p.add_argument("--length", type=positive_int, default=None, help="steps per episode (default 10 x classes)")
    p.add_argument("--iterations", type=positive_int, default=GLYPH_RECIPE["iterations"])
    p.add_argument("--batch", type=positive_int, default=d.batch, help="episodes per Adam step")
    p.add_argument("--lr", type=positive_float, default=GLYPH_RECIPE["lr"], help="Adam step size")
    p.add_argument("--lr-min", type=positive_float, default=None,
                   help="cosine-decay the step size to this (default: constant, so --iterations can be raised later)")
    p.add_argument("--decay-last", type=positive_int, default=None,
                   help="keep the step size constant, then cosine-decay it to --lr-min over this many last iterations "
                        "(a run resumes from the constant run's states up to there)")
    p.add_argument("--memory-slots", type=positive_int, default=net["memory_slots"],
                   help="N (the weights do not depend on it: changeable at test time)")
    p.add_argument("--memory-width", type=positive_int, default=40, help="M")
    p.add_argument("--read-heads", type=positive_int, default=4, help="R")
    p.add_argument("--gamma", type=float, default=net.get("gamma", 0.95), help="usage decay in [0, 1]")
    p.add_argument("--controller", type=positive_int, default=200, help="LSTM units")
    p.add_argument("--write-key", action="store_true",
                   help="write the read key itself into memory (the paper) instead of a separate write vector")
    p.add_argument("--read-first", action="store_true",
                   help="read memory before this step's write, not after (the paper's order): a read cannot find "
                        "the slot just written, which holds the previous step's label")
    p.add_argument("--feature-keys", action="store_true",
                   help="add a linear map of the image features to the read keys (not in the paper)")
    p.add_argument("--feature-writes", action="store_true",
                   help="add a linear map of the previous image's features to the write vectors, starting at zero "
                        "(not in the paper; works with --init-from a model trained without it)")
    p.add_argument("--encoder", choices=ENCODERS, default="pixels",
                   help="image features: the flattened pixels (the paper), a small learned conv net, or ProtoNet's "
                        "Conv4 at 28x28 (conv4, with --encoder-from)")
    p.add_argument("--encoder-channels", type=positive_int, default=32, help="feature maps per conv block")
    p.add_argument("--encoder-from", default=None,
                   help="ProtoNet checkpoint stem whose Conv4 is the encoder (--encoder conv4), e.g. the one "
                        "`train protonet --data omniglot` makes; a bare name is looked up in --out")
    p.add_argument("--feature-views", type=int, default=0,
                   help="with a frozen encoder (--encoder-lr 0): encode this many jittered views of every "
                        "training drawing once, instead of every image at every step")
    p.add_argument("--feature-dropout", type=float, default=0.0,
                   help="zero this share of each training image's conv features on MANN steps (0: off; "
                        "needs a conv encoder)")
    p.add_argument("--same-alphabet", type=float, default=0.0,
                   help="share of training episodes whose classes all come from one alphabet (Omniglot; 0: the "
                        "paper's draw from all classes)")
    p.add_argument("--validate", choices=list(VALIDATION), default=None,
                   help="train without this validation split's alphabets and measure on them (lab.tasks.splits."
                        "VALIDATION), to choose options without the test alphabets (needs --data omniglot)")
    p.add_argument("--mirror", action="store_true",
                   help="add every training character mirrored left to right as another class (Omniglot)")
    p.add_argument("--aux-weight", type=float, default=0.0,
                   help="weight of an extra training-class loss on the conv features (0: off; needs --encoder conv)")
    p.add_argument("--feature-norm", type=float, default=0.0,
                   help="scale each image's conv features to this length (0: as they come)")
    p.add_argument("--encoder-warmup", type=int, default=0,
                   help="first iterations train only the conv encoder, classifying the training characters")
    p.add_argument("--encoder-lr", type=float, default=1.0,
                   help="after the warm-up the encoder learns at this times --lr (0: frozen)")
    p.add_argument("--warmup-loss", choices=WARMUP_LOSSES, default="classes",
                   help="the encoder's own loss (warm-up, --aux-weight): classify the training characters, or "
                        "a prototypical loss (each drawing nearest the mean of its character's other drawings)")
    p.add_argument("--init-from", default=None,
                   help="start from the weights of this MANN checkpoint stem (its baseline from <stem>_lstm), e.g. "
                        "one trained on glyphs with the same net options")
    p.add_argument("--no-augment", action="store_true", help="no hand jitter of Omniglot training drawings")
    p.add_argument("--no-baseline", action="store_true", help="skip the LSTM baseline")
    p.add_argument("--baseline-iterations", type=positive_int, default=None,
                   help="iterations of the LSTM baseline (default: --iterations)")
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--eval-episodes", type=positive_int, default=d.eval_episodes,
                   help="held-out episodes in each progress check")
    p.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads (per member)")
    p.add_argument("--members", type=positive_int, default=1,
                   help="train this many MANNs side by side, one process each, from seeds --seed, --seed+1, ... "
                        "(<name>, <name>_member1, ...; one baseline, <name>_lstm): `eval mann --checkpoint` with "
                        "all of them measures their ensemble; give each a free core")
    p.add_argument("--name", default=None, help="checkpoint name (default mann_<data>_seed<seed>)")
    p.add_argument("--out", default=None, help=f"folder for the checkpoints (default {models_dir()})")
    p.add_argument("--runs", default=None, help="folder for resumable states (default <out>/../runs)")
    return p


def _init_stem(stem: str | None, learner: str) -> str | None:
    """Return the checkpoint stem ``learner`` starts from: ``stem`` for the MANN, ``<stem>_lstm`` for its baseline."""
    if stem is None:
        return None
    stem = str(Path(stem.removesuffix(".pt").removesuffix(".json")).expanduser())
    return stem if learner == "mann" else f"{stem}_lstm"


def _protonet_stem(stem: str, out_dir: Path) -> str:
    """Return the ProtoNet checkpoint stem ``--encoder-from`` names: as given, or a bare name in ``out_dir``.
    Raises ``ValueError`` (one line: how to make it) when neither has a ``.pt``."""
    stem = stem.removesuffix(".pt").removesuffix(".json")
    for candidate in (Path(stem).expanduser(), out_dir / stem):
        if candidate.with_name(candidate.name + ".pt").exists():
            return str(candidate)
    raise ValueError(f"--encoder-from: no ProtoNet checkpoint {stem}.pt (here or in {out_dir}); make it with "
                     f"`python -m lab train protonet --data omniglot` (~30 min on 2 cores) or give its path")


def train_config(a: argparse.Namespace, learner: str = "mann") -> MANNTrainConfig:
    """Return the training config for parsed ``train mann`` options."""
    net = {"n_classes": a.classes, "label_mode": a.labels, "memory_slots": a.memory_slots,
           "memory_width": a.memory_width, "read_heads": a.read_heads, "gamma": a.gamma, "controller": a.controller,
           "encoder": a.encoder, "encoder_channels": a.encoder_channels}
    if a.write_key:  # only when asked: the resume keys of runs made before the option existed still match
        net["write_key"] = True
    if a.feature_keys:
        net["feature_keys"] = True
    if a.feature_writes:
        net["feature_writes"] = True
    if a.read_first:
        net["read_first"] = True
    if a.feature_norm:
        net["feature_norm"] = a.feature_norm
    if a.encoder == "conv4":
        net["image_size"] = CONV4_IMAGE_SIZE
    iterations = a.baseline_iterations if learner == "mann-lstm" and a.baseline_iterations else a.iterations
    decay = min(a.decay_last, iterations) if a.decay_last else 0
    return MANNTrainConfig(learner=learner, data=a.data, omniglot=a.omniglot, net=net,
                           episode_length=a.length or 10 * a.classes, batch=a.batch, iterations=iterations,
                           lr=a.lr, lr_min=a.lr if a.lr_min is None else a.lr_min, decay_iterations=decay, augment=not a.no_augment, aux_weight=a.aux_weight, encoder_warmup=a.encoder_warmup, encoder_lr=a.encoder_lr, warmup_loss=a.warmup_loss, init_from=_init_stem(a.init_from, learner), encoder_from=a.encoder_from, feature_views=a.feature_views, feature_dropout=a.feature_dropout, same_alphabet=a.same_alphabet, mirror=a.mirror, validate=a.validate, seed=a.seed, eval_episodes=a.eval_episodes,
                           eval_every=max(1, min(GLYPH_RECIPE["eval_every"], iterations)))


def _printer(label: str, every_s: float = 10.0) -> Callable[[MANNProgress], None]:
    last = [-every_s]

    def report(p: MANNProgress) -> None:
        if p.held_out is not None or p.elapsed_s - last[0] >= every_s or p.iteration == p.total:
            last[0] = p.elapsed_s
            held = ("  held-out " + " ".join(f"@{k} {v:.3f}" for k, v in p.held_out.items())) if p.held_out else ""
            print(f"[{label}] {p.iteration}/{p.total} loss {p.loss:.4f} acc {p.accuracy:.3f} {p.elapsed_s:.0f}s{held}",
                  file=sys.stderr, flush=True)

    return report


def _summary(label: str, result) -> str:
    last = result.curve[-1]
    return (f"{label}: {result.iterations} iterations in {result.wall_s:.0f}s, held-out accuracy at instance "
            f"1/2/10: {last[2]:.3f}/{last[3]:.3f}/{last[4]:.3f} -> {result.paths[0]}")


def run_train(a: argparse.Namespace) -> int:
    """Run ``train mann``: save ``<name>`` (MANN) and ``<name>_lstm`` (baseline) and print where they went."""
    torch.set_num_threads(a.threads)
    out_dir = ensure_dir(Path(a.out).expanduser() if a.out else models_dir())
    if a.encoder_from is not None:
        train_config(a)  # the options' own errors first (e.g. --encoder-from without --encoder conv4)
        a.encoder_from = _protonet_stem(a.encoder_from, out_dir)
    configs = [train_config(a, kind) for kind in (MANN_KINDS[:1] if a.no_baseline else MANN_KINDS)]
    name = a.name or f"mann_{a.data}_seed{a.seed}"
    runs = Path(a.runs).expanduser() if a.runs else out_dir.parent / "runs"
    for config in configs:
        if config.init_from is not None and not Path(config.init_from + ".pt").expanduser().exists():
            raise ValueError(f"--init-from: {config.init_from}.pt not found (the baseline starts from <stem>_lstm; "
                             f"pass --no-baseline to train the MANN alone)")
    if a.members > 1:
        lines = _train_members(configs[0], a.members, out_dir, name, runs, a.threads)
        if lines is None:
            print("stopped; run the same command again to resume", file=sys.stderr)
            return 130
        print("\n".join(lines))
        configs = configs[1:]
    for config in configs:
        stem = out_dir / (name if config.learner == "mann" else f"{name}_lstm")
        result = train_mann(config, out=stem, run_dir=runs, on_progress=_printer(config.learner))
        if result.stopped or result.paths is None:
            print(f"stopped at iteration {result.iterations}; run the same command again to resume", file=sys.stderr)
            return 130
        print(_summary(config.learner, result))
    return 0


def _train_member(config: MANNTrainConfig, stem: Path, runs: Path, label: str, threads: int) -> str | None:
    """Train one ensemble member (in its own process); return its summary line, or None if it was stopped."""
    torch.set_num_threads(threads)
    try:
        result = train_mann(config, out=stem, run_dir=runs, on_progress=_printer(label))
    except KeyboardInterrupt:  # its last snapshot is kept; the same command resumes it
        return None
    return None if result.stopped or result.paths is None else _summary(label, result)


def _train_members(config: MANNTrainConfig, members: int, out_dir: Path, name: str, runs: Path, threads: int
                   ) -> list[str] | None:
    """Train ``members`` MANNs of ``config`` from seeds ``config.seed + i`` side by side, one process each; return
    their summary lines, or None if any was stopped (each resumes from its own state)."""
    context = multiprocessing.get_context("spawn")  # a fork would copy the parent's torch threads and locks
    with ProcessPoolExecutor(max_workers=members, mp_context=context) as pool:
        futures = [pool.submit(_train_member, dataclasses.replace(config, seed=config.seed + i), stem, runs,
                               f"mann m{i}", threads)
                   for i, stem in enumerate(member_stems(out_dir / name, members))]
        try:
            lines = [future.result() for future in futures]
        except (KeyboardInterrupt, BrokenProcessPool):
            return None
    return None if None in lines else lines


def pretrain_mann_glyphs(out: Path, runs: Path, seed: int) -> str:
    """Train the shipped glyph pair ``mann_glyphs`` and ``mann_glyphs_lstm`` into ``out`` (float16 weights);
    return a summary line per model."""
    lines = []
    for kind in MANN_KINDS:
        stem = out / shipped_mann_path(kind).name
        result = train_mann(mann_glyph_recipe(kind, seed), out=stem, run_dir=runs, on_progress=_printer(kind),
                            half=True)
        if result.paths is None:
            raise KeyboardInterrupt
        lines.append(_summary(kind, result))
    return "\n".join(lines)
