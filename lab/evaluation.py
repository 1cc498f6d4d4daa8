"""The one evaluation schema, and the evaluations that produce it.

Every ``python -m lab eval ... --json`` prints one object (see ``DESIGN.md``, "Evaluation output")::

    {"task": str, "config": {...},
     "results": [{"method": str, "metric": "mse"|"accuracy"|"loss"|"regret", "mean": float, "ci95": float,
                  "n": int, <identifying keys such as "steps", "shots", "ways">}, ...]}

:func:`result_row`, :func:`make_report` and :func:`validate_report` build and check it; :func:`format_table`
prints it for people. :data:`EVAL_TASKS` maps an eval task name to the function that runs it; register new
ones there (the CLI's ``eval`` subcommand lists whatever is registered).

``maml-sine`` reproduces MAML's sinusoid comparison (Finn et al. 2017, Fig. 2 and 3): MAML's meta-learned
initialisation, the jointly pretrained baseline and a random initialisation, each fine-tuned with the same
inner SGD (:func:`lab.learners.maml.evaluate_init`) on the very same tasks (one generator per row, all from
the same seed).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from lab.checkpoint import ASSETS_DIR, load_sine_model
from lab.compute import get_device, make_generator, run_guarded
from lab.learners.maml import evaluate_init
from lab.nets import SineMLP, parameters_of
from lab.tasks.base import check_positive
from lab.tasks.sinusoid import SinusoidFamily

METRICS = ("mse", "accuracy", "loss", "regret")
ROW_KEYS = ("method", "metric", "mean", "ci95", "n")


def result_row(method: str, metric: str, mean: float, ci95: float, n: int, **keys: Any) -> dict[str, Any]:
    """Return one result row: the five common fields plus the identifying ``keys`` (steps, shots, ...)."""
    return {"method": method, "metric": metric, "mean": float(mean), "ci95": float(ci95), "n": int(n), **keys}


def make_report(task: str, config: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the report object ``{"task", "config", "results"}`` after validating it."""
    report = {"task": task, "config": config, "results": results}
    validate_report(report)
    return report


def validate_report(report: Any) -> None:
    """Raise ``ValueError`` saying what is wrong unless ``report`` follows the evaluation schema."""
    if not isinstance(report, dict) or set(report) != {"task", "config", "results"}:
        raise ValueError("a report is a dict with exactly the keys task, config, results")
    if not isinstance(report["task"], str) or not isinstance(report["config"], dict):
        raise ValueError("report task must be a string and config a dict")
    if not isinstance(report["results"], list) or not report["results"]:
        raise ValueError("report results must be a non-empty list")
    for i, row in enumerate(report["results"]):
        missing = [k for k in ROW_KEYS if k not in row]
        if missing:
            raise ValueError(f"result {i} lacks {missing}")
        if row["metric"] not in METRICS:
            raise ValueError(f"result {i} has metric {row['metric']!r}; use one of {METRICS}")
        for k in ("mean", "ci95"):
            if not isinstance(row[k], float) or not math.isfinite(row[k]):
                raise ValueError(f"result {i} has {k}={row[k]!r}; it must be a finite float")
        if not isinstance(row["n"], int) or row["n"] < 1:
            raise ValueError(f"result {i} has n={row['n']!r}; it must be a positive int")


def format_table(report: dict[str, Any]) -> str:
    """Return the report as an aligned text table, one row per result."""
    rows = report["results"]
    extra = [k for k in rows[0] if k not in ROW_KEYS]
    header = ["method", *extra, "metric", "mean", "± ci95", "n"]
    body = [[r["method"], *(str(r.get(k, "")) for k in extra), r["metric"], f"{r['mean']:.4f}",
             f"{r['ci95']:.4f}", str(r["n"])] for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
    lines = [f"task: {report['task']}", "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)) for b in body]
    return "\n".join(lines)


def evaluate_maml_sine(checkpoint_dir: Path | str = ASSETS_DIR, shots: int = 5, steps: list[int] | None = None,
                       episodes: int = 600, seed: int = 0, inner_lr: float | None = None, n_query: int = 100,
                       methods: tuple[str, ...] = ("maml", "pretrained", "random")) -> dict[str, Any]:
    """Return the ``maml-sine`` report: query MSE after each of ``steps`` fine-tuning steps, per method.

    ``inner_lr`` defaults to the one MAML was trained with (read from its checkpoint). Raises
    :class:`lab.checkpoint.CheckpointError` for a missing or damaged checkpoint, ``ValueError`` for bad
    settings and ``FloatingPointError`` when fine-tuning diverges (NaN or infinite loss).
    """
    steps = [1, 5, 10] if steps is None else steps
    check_positive("shots", shots)
    check_positive("episodes", episodes)
    check_positive("n_query", n_query)
    check_positive("seed", seed, minimum=0)
    if not steps:
        raise ValueError("steps is empty; give at least one step count, e.g. 1,5,10")
    for s in steps:
        check_positive("steps", s, minimum=0)
    device = get_device()
    checkpoint_dir = Path(checkpoint_dir)
    nets: dict[str, tuple[torch.nn.Module, dict[str, Any]]] = {}
    maml_net, maml_meta = load_sine_model(checkpoint_dir / "maml_sine", "maml_sine", device)
    nets["maml"] = (maml_net, maml_meta)
    if "pretrained" in methods:
        nets["pretrained"] = load_sine_model(checkpoint_dir / "pretrained_sine", "pretrained_sine", device)
    if "random" in methods:
        torch.manual_seed(seed)  # the random init is reproducible from the eval seed
        net_cfg = maml_meta["config"]["net"]
        nets["random"] = (SineMLP(net_cfg["hidden"], net_cfg["layers"]).to(device), {})
    lr = float(maml_meta["config"]["maml"]["inner_lr"]) if inner_lr is None else float(inner_lr)
    if not lr > 0:
        raise ValueError(f"inner_lr={lr} must be > 0")
    family = SinusoidFamily(k_shot=shots, n_query=n_query)
    results = []
    for method in methods:
        net, _ = nets[method]
        for n_steps in steps:
            # A fresh CPU generator per row: every method and step count sees the identical tasks, and the
            # tasks are the same on every device (they are drawn on the CPU, then moved).
            res = run_guarded(lambda: evaluate_init(net, parameters_of(net), family, episodes, n_steps, lr,  # noqa: B023
                                                    make_generator(seed), "mse"),
                              device, lower="the batch of episodes evaluated at once, or set LAB_DEVICE=cpu")
            if not math.isfinite(res["mean"]):
                raise FloatingPointError(f"fine-tuning {method} with inner_lr={lr} for {n_steps} step(s) diverges "
                                         f"(mean loss {res['mean']}); lower --inner-lr")
            results.append(result_row(method, "mse", res["mean"], res["ci95"], res["n"], steps=n_steps,
                                      shots=shots))
    config = {"checkpoint_dir": str(checkpoint_dir), "shots": shots, "steps": steps, "episodes": episodes,
              "seed": seed, "inner_lr": lr, "n_query": n_query, "device": str(device),
              "trained": maml_meta["config"].get("train", {}),
              "lab_version": maml_meta.get("lab_version")}
    return make_report("maml-sine", config, results)


EvalFn = Callable[..., dict[str, Any]]
EVAL_TASKS: dict[str, EvalFn] = {"maml-sine": evaluate_maml_sine}
