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
the same seed). The random initialisation is :func:`lab.nets.random_init` of the eval seed, the same one
the MAML page draws for that seed. If the accelerator runs out of memory, the evaluation is run again on
the CPU and the report's ``config["note"]`` says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from lab.checkpoint import REMAKE, CheckpointError, assets_dir, load_sine_model
from lab.compute import get_device, make_generator, run_with_fallback
from lab.learners.maml import evaluate_init
from lab.nets import Params, parameters_of, random_init
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


def _card_inner_lr(meta: dict[str, Any], where: Path) -> float:
    """Return the inner learning rate MAML was trained with, read from its card."""
    maml_cfg = meta["config"].get("maml")
    if not isinstance(maml_cfg, dict) or "inner_lr" not in maml_cfg:
        raise CheckpointError(f"{where}.json lacks config.maml.inner_lr; {REMAKE} (or pass --inner-lr)")
    try:
        return float(maml_cfg["inner_lr"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{where}.json has config.maml.inner_lr={maml_cfg['inner_lr']!r}, not a number; "
                              f"{REMAKE}") from exc


def evaluate_maml_sine(checkpoint_dir: Path | str | None = None, shots: int = 5, steps: list[int] | None = None,
                       episodes: int = 600, seed: int = 0, inner_lr: float | None = None, n_query: int = 100,
                       methods: tuple[str, ...] = ("maml", "pretrained", "random")) -> dict[str, Any]:
    """Return the ``maml-sine`` report: query MSE after each of ``steps`` fine-tuning steps, per method.

    ``checkpoint_dir`` defaults to :func:`lab.checkpoint.assets_dir`. ``inner_lr`` defaults to the one MAML
    was trained with (read from its checkpoint). Raises :class:`lab.checkpoint.CheckpointError` for a
    missing or damaged checkpoint, ``ValueError`` for bad settings and ``FloatingPointError`` when
    fine-tuning diverges (NaN or infinite loss).
    """
    steps = [1, 5, 10] if steps is None else steps
    check_positive("shots", shots)
    check_positive("n_query", n_query)
    check_positive("seed", seed, minimum=0)
    if episodes < 2:
        raise ValueError(f"episodes={episodes}: a 95% confidence interval needs at least 2 test tasks; "
                         "use --episodes >= 2")
    if not steps:
        raise ValueError("steps is empty; give at least one step count, e.g. 1,5,10")
    for s in steps:
        check_positive("steps", s, minimum=0)
    checkpoint_dir = Path(assets_dir() if checkpoint_dir is None else checkpoint_dir)
    # Weights are loaded on the CPU and moved inside the run, so an out-of-memory retry can use the CPU.
    maml_net, maml_meta = load_sine_model(checkpoint_dir / "maml_sine", "maml_sine")
    starts: dict[str, tuple[torch.nn.Module, Params]] = {"maml": (maml_net, parameters_of(maml_net))}
    if "pretrained" in methods:
        pre_net, _ = load_sine_model(checkpoint_dir / "pretrained_sine", "pretrained_sine")
        starts["pretrained"] = (pre_net, parameters_of(pre_net))
    if "random" in methods:
        starts["random"] = (maml_net, random_init(maml_net, seed))  # the MAML page's random start for this seed
    lr = _card_inner_lr(maml_meta, checkpoint_dir / "maml_sine") if inner_lr is None else float(inner_lr)
    if not lr > 0:
        raise ValueError(f"inner_lr={lr} must be > 0")
    family = SinusoidFamily(k_shot=shots, n_query=n_query)

    def run(device: torch.device) -> list[dict[str, Any]]:
        rows = []
        for method in methods:
            net, params = starts[method]
            params = {k: v.to(device) for k, v in params.items()}
            for n_steps in steps:
                # A fresh CPU generator per row: every method and step count sees the identical tasks, and
                # the tasks are the same on every device (they are drawn on the CPU, then moved).
                res = evaluate_init(net, params, family, episodes, n_steps, lr, make_generator(seed), "mse")
                if not math.isfinite(res["mean"]):
                    raise FloatingPointError(f"fine-tuning {method} with inner_lr={lr} for {n_steps} step(s) "
                                             f"diverges (mean loss {res['mean']}); lower --inner-lr")
                rows.append(result_row(method, "mse", res["mean"], res["ci95"], res["n"], steps=n_steps,
                                       shots=shots))
        return rows

    outcome = run_with_fallback(run, get_device(), lower="the batch of episodes evaluated at once", long=True)
    config = {"checkpoint_dir": str(checkpoint_dir), "shots": shots, "steps": steps, "episodes": episodes,
              "seed": seed, "inner_lr": lr, "n_query": n_query, "device": str(outcome.device),
              "trained": maml_meta["config"].get("train", {}),
              "lab_version": maml_meta.get("lab_version")}
    if outcome.note:
        config["note"] = outcome.note
    return make_report("maml-sine", config, outcome.value)


EvalFn = Callable[..., dict[str, Any]]
EVAL_TASKS: dict[str, EvalFn] = {"maml-sine": evaluate_maml_sine}
