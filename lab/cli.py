"""The command line, ``python -m lab``: the same functions the pages call, for a terminal.

Subcommands::

    python -m lab info [--json]                       # device, torch version, threads, memory
    python -m lab pretrain [--iterations N] [--seed S] [--out DIR] [--first-order]
                           [--only maml|pretrained|protonet-glyphs|relation-glyphs|maml-glyphs|all]
    python -m lab train protonet|relation|maml [--data glyphs|omniglot] [--omniglot PATH] [--iterations N] ...
                           [--inner-steps N]
    python -m lab train mann [--data glyphs|omniglot] [--classes 5] ...   # see lab.cli_mann
    python -m lab eval maml-sine [--shots 5] [--steps 1,5,10] [--episodes 600] [--seed 0] [--json]
    python -m lab train meta-rl --task bandit-independent|bandit-correlated|harlow [--updates N] [--seed S]
    python -m lab eval meta-rl --task bandit-independent|bandit-correlated|harlow [--episodes 300] [--json]
    python -m lab data omniglot [--download [--dest DIR] [--small]]  # where Omniglot is / fetch it
    python -m lab models [--kind KIND] [--json]                     # models trained into $LAB_HOME
    python -m lab classify --support DIR --query DIR [--learner protonet] [--checkpoint PATH] [--json]
    python -m lab train l2o --problem quadratic|mlp [--iterations RUNS]; train meta-sgd   # lab.cli_l2o
    python -m lab eval l2o --problem quadratic|mlp --steps 100 --runs 100 [--json]; eval meta-sgd --shots 5

``eval`` prints one JSON object in the schema of :mod:`lab.evaluation` with ``--json``, else a table. New
eval tasks register in :data:`EVAL_COMMANDS` (name -> how to add its options, how to run it).

Bad input never shows a traceback: the command exits with status 2 and one line on stderr that says what
to change (argparse errors, ``ValueError``, :class:`~lab.checkpoint.CheckpointError`,
``FloatingPointError``, :class:`~lab.compute.ComputeOutOfMemory`, and ``OSError`` such as a path that is a
directory or lies under a file). Checkpoint folders default to :func:`lab.checkpoint.assets_dir`, the
app's (``$LAB_ASSETS_DIR`` if set).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from lab import cli_fewshot, cli_l2o, cli_mann, cli_meta_rl, cli_virtual
from lab.checkpoint import ASSETS_DIR, CheckpointError, assets_dir
from lab.cli_fewshot import GLYPH_CHECKPOINTS
from lab.compute import ComputeOutOfMemory, device_info
from lab.data_download import FULL, SMALL, DownloadError, download_omniglot, find_archives, omniglot_dir
from lab.evaluation import evaluate_maml_sine, format_table
from lab.fewshot_eval import EvaluationStopped
from lab.home import models_dir, scan_models
from lab.learners.maml import MAMLConfig
from lab.tasks.omniglot import default_omniglot_path
from lab.training import Progress, SineTrainConfig, train_sine

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (no usage block) and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def int_at_least(minimum: int) -> Callable[[str], int]:
    """Return an argparse type that parses a whole number >= ``minimum``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} must be >= {minimum}")
        return value
    return parse


positive_int = int_at_least(1)
seed_int = int_at_least(0)


def step_list(text: str) -> list[int]:
    """Return a comma-separated list of inner-step counts (each >= 0), e.g. ``"1,5,10"`` (argparse type)."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or not all(p.isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r} must be whole numbers >= 0 separated by commas, e.g. 1,5,10")
    return [int(p) for p in parts]


def positive_float(text: str) -> float:
    """Return ``text`` as a finite float > 0 (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"{text} must be a finite number > 0")
    return value


@dataclass
class EvalCommand:
    """One ``eval`` task: a help line, a function adding its options, and one running it into a report."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], dict[str, Any]]


def _maml_sine_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--shots", type=positive_int, default=5, help="support points per test task (K)")
    p.add_argument("--steps", type=step_list, default=[1, 5, 10], help="fine-tuning step counts, e.g. 1,5,10")
    p.add_argument("--episodes", type=positive_int, default=600, help="test tasks per row")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the test tasks (same for every method)")
    p.add_argument("--inner-lr", type=positive_float, default=None,
                   help="fine-tuning step size (default: the one MAML was trained with)")
    p.add_argument("--checkpoint-dir", default=str(assets_dir()), help="folder holding maml_sine.* and pretrained_sine.*")


def _maml_sine_run(a: argparse.Namespace) -> dict[str, Any]:
    return evaluate_maml_sine(a.checkpoint_dir, a.shots, a.steps, a.episodes, a.seed, a.inner_lr)


EVAL_COMMANDS: dict[str, EvalCommand] = {
    "maml-sine": EvalCommand("MAML vs pretrained vs random init on 5-shot sinusoids (Finn et al. 2017)",
                             _maml_sine_args, _maml_sine_run),
    **{kind: EvalCommand(help_line,
                         lambda p, kind=kind: cli_fewshot.add_eval_arguments(p, kind, positive_int, seed_int),
                         lambda a, kind=kind: cli_fewshot.run_eval(kind, a))
       for kind, help_line in cli_fewshot.EVAL_HELP.items()},
    "meta-rl": EvalCommand(cli_meta_rl.EVAL_HELP,
                           lambda p: cli_meta_rl.add_eval_arguments(p, positive_int, seed_int), cli_meta_rl.run_eval),
    "mann": EvalCommand(cli_mann.EVAL_HELP, lambda p: cli_mann.add_eval_arguments(p, positive_int, seed_int),
                        cli_mann.run_eval),
    "virtual": EvalCommand(cli_virtual.EVAL_HELP,
                           lambda p: cli_virtual.add_eval_arguments(p, positive_int, seed_int), cli_virtual.run_eval),
}
EVAL_COMMANDS.update({name: EvalCommand(
    help_line, lambda p, name=name: cli_l2o.add_eval_arguments(name, p, positive_int, seed_int, positive_float),
    lambda a, name=name: cli_l2o.run_eval(name, a)) for name, help_line in cli_l2o.EVAL_HELP.items()})


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``python -m lab``."""
    parser = _Parser(prog="python -m lab", description="NeuroMeta Lab from the command line")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    info = sub.add_parser("info", help="show the device, torch version, threads and memory")
    info.add_argument("--json", action="store_true", help="print JSON")

    pre = sub.add_parser("pretrain", help="train the sinusoid checkpoints shipped in assets/")
    pre.add_argument("--iterations", type=positive_int, default=SineTrainConfig.iterations,
                     help="sinusoid meta-iterations (the glyph models follow lab.fewshot_training.GLYPH_RECIPES)")
    pre.add_argument("--seed", type=seed_int, default=SineTrainConfig.seed)
    pre.add_argument("--out", default=str(assets_dir()), help="folder for the .pt/.json checkpoints")
    pre.add_argument("--runs", default=str(ASSETS_DIR.parent / "runs"), help="folder for resumable training states")
    pre.add_argument("--only", choices=("maml", "pretrained", *GLYPH_CHECKPOINTS.values(),
                                        *cli_meta_rl.PRETRAIN_NAMES, cli_mann.PRETRAIN_NAME,
                                        *cli_l2o.PRETRAIN_NAMES, cli_virtual.PRETRAIN_NAME, "all"),
                     default=None,
                     help="one checkpoint: sinusoid maml/pretrained, or a glyph few-shot model (default: the "
                          "two sinusoid ones; --only all: all of them, the MANN pair included, about two hours on one thread)")
    pre.add_argument("--first-order", action="store_true", help="train first-order MAML (FOMAML)")
    pre.add_argument("--inner-steps", type=positive_int, default=SineTrainConfig().maml.inner_steps,
                     help="inner SGD steps per task while meta-training (paper: 1; default 5, see lab.training)")
    # One thread: the 1-40-40-1 net is too small to gain from more, and it leaves the other cores free.
    pre.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads")

    cli_fewshot.add_train_command(sub, positive_int, positive_float, seed_int)
    cli_l2o.extend_train_parser(sub.choices["train"], positive_float)
    sub.choices["train"].epilog = "python -m lab train mann --help: the memory-augmented network (lab.cli_mann)"
    cli_meta_rl.extend_train_parser(sub.choices["train"], positive_int, positive_float)

    ev = sub.add_parser("eval", help="evaluate a task and print a table or JSON")
    tasks = ev.add_subparsers(dest="task", required=True, parser_class=_Parser)
    for name, cmd in EVAL_COMMANDS.items():
        p = tasks.add_parser(name, help=cmd.help)
        cmd.add_arguments(p)
        p.add_argument("--json", action="store_true", help="print one JSON object (the evaluation schema)")
    _add_data_commands(sub)
    _add_classify_command(sub)
    return parser


def _info(args: argparse.Namespace) -> int:
    info = device_info()
    if args.json:
        print(json.dumps(info))
    else:
        for k, v in info.items():
            print(f"{k:16s} {v}")
    return 0


def _progress_printer(method: str, every_s: float = 5.0) -> Callable[[Progress], None]:
    """Return a progress callback that prints one line to stderr at most every ``every_s`` seconds."""
    last = [0.0]

    def report(p: Progress) -> None:
        if p.elapsed_s - last[0] >= every_s or p.iteration == p.total:
            last[0] = p.elapsed_s
            rate = (p.iteration - p.start) / max(p.elapsed_s, 1e-9)
            print(f"[{method}] {p.iteration}/{p.total} loss {p.loss:.4f}  {p.elapsed_s:.0f}s "
                  f"({rate:.0f} it/s)", file=sys.stderr, flush=True)

    return report


def _pretrain(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    Path(args.out).mkdir(parents=True, exist_ok=True)  # a bad --out fails now, not after minutes of training
    glyph = [k for k, name in GLYPH_CHECKPOINTS.items() if args.only in (name, "all")]
    meta_rl = [name for name in cli_meta_rl.PRETRAIN_NAMES if args.only in (name, "all")]
    mann = args.only in (cli_mann.PRETRAIN_NAME, "all")
    l2o = [name for name in cli_l2o.PRETRAIN_NAMES if args.only in (name, "all")]
    virtual = args.only in (cli_virtual.PRETRAIN_NAME, "all")
    methods = (["maml", "pretrained"] if args.only in (None, "all")
               else [] if glyph or l2o or meta_rl or mann or virtual else [args.only])
    for method in methods:
        config = SineTrainConfig(method=method, iterations=args.iterations, seed=args.seed,
                                 maml=MAMLConfig(first_order=args.first_order, inner_steps=args.inner_steps))
        result = train_sine(config, out=args.out, run_dir=args.runs, on_progress=_progress_printer(method))
        resumed = f" (resumed at {result.resumed_from})" if result.resumed_from else ""
        print(f"{method}: {result.iterations} iterations{resumed} in {result.wall_s:.0f}s, final loss "
              f"{result.curve[-1] if result.curve else float('nan'):.4f} -> {result.paths[0]}")
    for kind in glyph:
        print(cli_fewshot.pretrain_glyph_model(kind, Path(args.out), Path(args.runs), args.seed))
    for name in l2o:
        print(cli_l2o.pretrain(name, Path(args.out), Path(args.runs), args.seed))
    for name in meta_rl:
        print(cli_meta_rl.pretrain(name, Path(args.out), Path(args.runs), args.seed))
    if mann:
        print(cli_mann.pretrain_mann_glyphs(Path(args.out), Path(args.runs), args.seed))
    if virtual:
        print(cli_virtual.pretrain(Path(args.out), Path(args.runs), args.seed))
    return 0


def _eval(args: argparse.Namespace) -> int:
    report = EVAL_COMMANDS[args.task].run(args)
    print(json.dumps(report) if args.json else format_table(report))
    return 0


def _add_data_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``data omniglot`` (where Omniglot is, or download it) and ``models`` (list trained models)."""
    data = sub.add_parser("data", help="find or download data sets (only when asked)")
    sets = data.add_subparsers(dest="dataset", required=True, parser_class=_Parser)
    omni = sets.add_parser("omniglot", help="show where Omniglot is looked for; --download fetches it")
    omni.add_argument("--download", action="store_true", help="download the official archives (~15 MB)")
    omni.add_argument("--dest", default=None, help=f"download folder (default: {omniglot_dir()})")
    omni.add_argument("--small", action="store_true",
                      help="the two small background subsets (~3 MB) instead of background + evaluation")
    models = sub.add_parser("models", help=f"list the models trained into {models_dir()} ($LAB_HOME)")
    models.add_argument("--kind", default=None, help="only models of this kind, e.g. maml_sine")
    models.add_argument("--json", action="store_true", help="print a JSON list")


def _download_printer(every_s: float = 2.0) -> Callable[[str, int, int | None], None]:
    """Return a download progress callback printing one stderr line at most every ``every_s`` seconds."""
    last = [0.0]

    def report(name: str, done: int, total: int | None) -> None:
        now = time.perf_counter()
        if now - last[0] >= every_s or done == total:
            last[0] = now
            of = f" of {total / 1e6:.1f}" if total else ""
            print(f"[{name}] {done / 1e6:.1f}{of} MB", file=sys.stderr, flush=True)

    return report


def _data(args: argparse.Namespace) -> int:
    dest = Path(args.dest).expanduser() if args.dest else omniglot_dir()
    if not args.download:
        used = default_omniglot_path()
        print("Omniglot is looked for in $LAB_OMNIGLOT_DIR, then the developers' shared copy, then "
              f"{omniglot_dir()}")
        for label, where in (("used now", used), ("download folder", dest)):
            if where is None or not where.exists():
                state = "not found"
            elif where.is_file():
                state = "present"
            else:
                state = ", ".join(sorted(find_archives(where))) or "no official archives"
            print(f"{label:16s} {where or '-'}  ({state})")
        if used is None:
            print("download it with: python -m lab data omniglot --download")
        return 0
    archives = SMALL if args.small else FULL
    try:
        paths = download_omniglot(dest, archives, progress=_download_printer())
    except DownloadError as exc:  # not bad input: one line, status 1
        print(f"python -m lab: error: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    for path in paths:
        print(f"{path.stat().st_size / 1e6:6.1f} MB  {path}")
    folder = paths[0].parent
    print(f"Omniglot is in {folder}; pass --omniglot {folder} (or set LAB_OMNIGLOT_DIR={folder} for the app)")
    return 0


def _models(args: argparse.Namespace) -> int:
    scan = scan_models(args.kind)
    for bad in scan.skipped:
        print(f"skipped {bad.path}: {bad.reason}", file=sys.stderr)
    if args.json:
        print(json.dumps([{"name": m.name, "kind": m.kind, "path": str(m.path), "mtime": m.mtime,
                           "config": m.key_config()} for m in scan.models]))
        return 0
    if not scan.models:
        print(f"no trained models in {scan.folder}")
        return 0
    print(f"models in {scan.folder}:")
    width = max(len(m.name) for m in scan.models)
    for m in scan.models:
        when = datetime.fromtimestamp(m.mtime).strftime("%Y-%m-%d %H:%M")
        config = " ".join(f"{k}={v}" for k, v in m.key_config().items())
        print(f"{m.name:{width}s}  {m.kind:16s}  {when}  {config}")
    return 0


def _add_classify_command(sub: argparse._SubParsersAction) -> None:
    """Add ``classify``: a few-shot learner on the user's own image folders (see :mod:`lab.api`)."""
    from lab.learners.fewshot import KINDS

    p = sub.add_parser("classify", help="classify your own images, given one labelled example folder per class")
    p.add_argument("--learner", choices=KINDS, default="protonet", help="which few-shot learner")
    p.add_argument("--support", required=True, metavar="DIR",
                   help="folder with one subfolder of images per class (name = label)")
    p.add_argument("--query", required=True, metavar="DIR",
                   help="folder of images to classify; images in subfolders named after a class also give accuracy")
    p.add_argument("--checkpoint", default=None, metavar="PATH",
                   help="checkpoint stem, .pt/.json path or model name (default: the shipped glyph model)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _classify(args: argparse.Namespace) -> int:
    from lab.api import classify_folders

    report = classify_folders(args.learner, args.support, args.query, args.checkpoint)
    if args.json:
        print(json.dumps(report))
        return 0
    rows = report["predictions"]
    width, label_width = max(len(r["file"]) for r in rows), max(len(c) for c in report["classes"])
    for r in rows:
        verdict = "" if r["true"] is None else "  right" if r["label"] == r["true"] else f"  wrong, is {r['true']}"
        print(f"{r['file']:{width}s}  {r['label']:{label_width}s}  {r['probability']:.3f}{verdict}")
    if report["accuracy"] is not None:
        print(f"accuracy {report['accuracy']:.3f} over {report['n_labelled']} queries in class subfolders")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``python -m lab`` with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:2] == ["train", "mann"]:  # its own options; see lab.cli_mann
        parser = cli_mann.train_parser(_Parser, "python -m lab train mann", positive_int, positive_float, seed_int)
        parser.set_defaults(command="train-mann")
        argv = cli_mann.expand_recipe(argv[2:])
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2), already printed
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    t0 = time.perf_counter()
    try:
        if args.command == "info":
            return _info(args)
        if args.command == "train" and args.learner in cli_l2o.LEARNERS:
            return cli_l2o.run_train(args)
        if args.command == "train-mann":
            return cli_mann.run_train(args)
        if args.command == "train" and args.learner == cli_meta_rl.LEARNER:
            return cli_meta_rl.run_train(args)
        if args.command == "train":
            args.lr = cli_fewshot.FewShotTrainConfig.lr if args.lr is None else args.lr
            return cli_fewshot.run_train(args)
        if args.command == "pretrain":
            return _pretrain(args)
        if args.command == "data":
            return _data(args)
        if args.command == "models":
            return _models(args)
        if args.command == "classify":
            return _classify(args)
        return _eval(args)
    except (CheckpointError, ValueError, FloatingPointError, ComputeOutOfMemory) as exc:
        print(f"{parser.prog}: error: {exc}".splitlines()[0], file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # e.g. --out under a file, a checkpoint path that is a folder, a full disk
        where = f": {exc.filename}" if exc.filename else ""
        print(f"{parser.prog}: error: {exc.strerror or exc}{where}; check the path".splitlines()[0], file=sys.stderr)
        return EXIT_USAGE
    except EvaluationStopped as stop:  # what was finished is printed, then said to be partial
        print(json.dumps(stop.report) if getattr(args, "json", False) else format_table(stop.report))
        print(f"{parser.prog}: stopped {stop.report['config']['stopped']} after {time.perf_counter() - t0:.0f}s; "
              "the results above are the finished settings", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"{parser.prog}: stopped after {time.perf_counter() - t0:.0f}s; run it again to resume",
              file=sys.stderr)
        return 130
