"""Evaluations of issue 5, in the lab's one report schema (:mod:`lab.evaluation`).

* ``l2o`` (:func:`evaluate_l2o`): the learned optimizer against SGD, momentum, RMSprop and Adam on held-out
  problems: the loss after ``steps`` steps, mean and 95% CI over ``runs`` problems. Every optimizer sees the
  same problems, starts and minibatches. The baselines' rates are the ones tuned on training problems when
  the checkpoint was trained (its card), re-tuned the same way for a problem it was not trained on (e.g. the
  sigmoid-trained optimizer on ReLU nets, the paper's failure case), or one rate given by the user.
* ``meta-sgd`` (:func:`evaluate_meta_sgd_sine`): Meta-SGD against MAML on K-shot sinusoids after a few
  steps, on the same tasks: MAML trained by the very same loop with its rate frozen (the fair control) and
  the lab's shipped MAML (trained through 5 steps on 10 shots) at its own rate.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from lab.checkpoint import CheckpointError, assets_dir, check_state_matches, load_checkpoint, load_sine_model
from lab.compute import derive_seed, make_generator
from lab.evaluation import make_report, result_row
from lab.l2o_training import L2OTrainConfig, tuning_problems
from lab.learners.hand_optimizers import OPTIMIZERS, run_hand, tune_learning_rates
from lab.learners.learned_optimizer import LSTMOptimizer, LSTMOptimizerConfig, OptimizerRun, run_learned
from lab.learners.maml import evaluate_init, mean_ci95
from lab.learners.meta_sgd import evaluate_meta_sgd
from lab.meta_sgd_training import KINDS as META_SGD_KINDS
from lab.meta_sgd_training import load_meta_sgd
from lab.nets import parameters_of
from lab.tasks.base import check_positive
from lab.tasks.optimizees import held_out_rng, make_family
from lab.tasks.sinusoid import SinusoidFamily

TRAINED_ON = {"quadratic": "l2o_quadratic", "mlp": "l2o_mlp", "mlp-relu": "l2o_mlp"}  # default checkpoint


def load_l2o(path: Path | str, kind: str | None = None) -> tuple[LSTMOptimizer, dict[str, Any]]:
    """Return ``(optimizer, meta)`` of a learned-optimizer checkpoint ``path`` (a stem).

    ``kind`` defaults to the one the card names, as long as it is a learned optimizer (``l2o_*``).
    """
    if kind is None:
        from lab.checkpoint import read_card

        kind = str(read_card(path).get("kind"))
        if not kind.startswith("l2o_"):
            raise CheckpointError(f"{path} holds a {kind!r} model, not a learned optimizer (l2o_*)")
    state, meta = load_checkpoint(path, kind)
    try:
        net_cfg = LSTMOptimizerConfig(**meta["config"]["net"])
    except TypeError as exc:
        raise CheckpointError(f"{path}.json has a net config that is not a learned optimizer's ({exc})") from exc
    opt = LSTMOptimizer(net_cfg)
    check_state_matches(opt, state, path)
    opt.load_state_dict(state)
    return opt.eval(), meta


def baseline_rates(problem: str, meta: dict[str, Any], steps: int) -> tuple[dict[str, float], str]:
    """Return ``(rates, where they come from)``: the card's when it was trained on ``problem``, else tuned now."""
    trained = meta["config"].get("train", {}).get("problem")
    lrs = meta.get("extra", {}).get("baseline_lrs")
    if trained == problem and isinstance(lrs, dict) and set(lrs) == set(OPTIMIZERS):
        return {k: float(lrs[k]) for k in OPTIMIZERS}, "checkpoint card (tuned on training problems)"
    config = L2OTrainConfig(problem=problem, steps=steps)
    return tune_learning_rates(*tuning_problems(config), steps), f"tuned now on {problem} training problems"


def _row(method: str, run: OptimizerRun, steps: int, problem: str, **keys: Any) -> dict[str, Any]:
    final = run.final
    bad = int((~torch.isfinite(final)).sum())
    if bad:
        what = "the learned optimizer" if method == "learned" else f"{method} with lr={keys.get('lr')}"
        hint = "a horizon closer to the one it was trained for" if method == "learned" else "a lower --lr"
        raise FloatingPointError(f"{what} diverges on {bad} of {final.numel()} {problem} problems within {steps} "
                                 f"steps (loss becomes inf/NaN); try {hint}")
    mean, ci95 = mean_ci95(final)
    return result_row(method, "loss", mean, ci95, final.numel(), steps=steps, problem=problem, **keys)


def evaluate_l2o(problem: str = "quadratic", steps: int = 100, runs: int = 100, seed: int = 0,
                 checkpoint: Path | str | None = None, lr: float | None = None) -> dict[str, Any]:
    """Return the ``l2o`` report: final loss of the learned optimizer and the four baselines on held-out problems.

    ``lr`` replaces the tuned rates of every baseline. Raises ``FloatingPointError`` naming the optimizer when
    one diverges on any problem, :class:`CheckpointError` for a bad checkpoint, ``ValueError`` for bad input.
    """
    family = make_family(problem)
    check_positive("steps", steps)
    check_positive("seed", seed, minimum=0)
    if runs < 2:
        raise ValueError(f"runs={runs}: a 95% confidence interval needs at least 2 problems; use --runs >= 2")
    if lr is not None and not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr={lr} must be a finite number > 0")
    path = Path(checkpoint) if checkpoint is not None else assets_dir() / TRAINED_ON[problem]
    opt, meta = load_l2o(path)
    trained = meta["config"].get("train", {})
    if lr is None:
        rates, source = baseline_rates(problem, meta, steps if trained.get("problem") != problem else
                                       int(trained.get("steps", steps)))
    else:
        rates, source = dict.fromkeys(OPTIMIZERS, float(lr)), "--lr"
    rng = held_out_rng(seed)
    problems = family.sample(rng, runs)
    draws = derive_seed(rng)  # every optimizer sees the same minibatches / gradient noise

    def stream() -> torch.Generator | None:
        return None if problem == "quadratic" else make_generator(draws)

    rows = [_row("learned", run_learned(opt, problems, steps, stream()), steps, problem)]
    rows += [_row(name, run_hand(name, rate, problems, steps, stream()), steps, problem, lr=rate)
             for name, rate in rates.items()]
    config = {"checkpoint": str(path), "trained_on": trained.get("problem"), "trained_steps": trained.get("steps"),
              "trained_runs": meta.get("extra", {}).get("runs"), "baseline_lrs": rates, "lr_source": source,
              "runs": runs, "steps": steps, "seed": seed, "lab_version": meta.get("lab_version")}
    return make_report("l2o", config, rows)


def evaluate_meta_sgd_sine(checkpoint_dir: Path | str | None = None, shots: int = 5, steps: list[int] | None = None,
                           episodes: int = 1000, seed: int = 0, n_query: int = 100) -> dict[str, Any]:
    """Return the ``meta-sgd`` report: query MSE after each of ``steps`` steps for Meta-SGD, the MAML control
    trained by the same loop (``maml``) and the shipped MAML (``maml-shipped``), all on the same tasks."""
    steps = [1] if steps is None else steps
    check_positive("shots", shots)
    check_positive("seed", seed, minimum=0)
    if episodes < 2:
        raise ValueError(f"episodes={episodes}: a 95% confidence interval needs at least 2 test tasks")
    for s in steps:
        check_positive("steps", s, minimum=0)
    folder = Path(assets_dir() if checkpoint_dir is None else checkpoint_dir)
    meta_sgd, card = load_meta_sgd(folder / META_SGD_KINDS[0], META_SGD_KINDS[0])
    control, _ = load_meta_sgd(folder / META_SGD_KINDS[1], META_SGD_KINDS[1])
    shipped, shipped_meta = load_sine_model(folder / "maml_sine", "maml_sine")
    shipped_lr = float(shipped_meta["config"].get("maml", {}).get("inner_lr", 0.01))
    family = SinusoidFamily(k_shot=shots, n_query=n_query)
    rows = []
    for n in steps:
        results = {"meta-sgd": evaluate_meta_sgd(meta_sgd, family, episodes, n, make_generator(seed)),
                   "maml": evaluate_meta_sgd(control, family, episodes, n, make_generator(seed)),
                   "maml-shipped": evaluate_init(shipped, parameters_of(shipped), family, episodes, n, shipped_lr,
                                                 make_generator(seed))}
        for method, res in results.items():
            if not math.isfinite(res["mean"]):
                raise FloatingPointError(f"{method} diverges after {n} step(s) (mean MSE {res['mean']})")
            rows.append(result_row(method, "mse", res["mean"], res["ci95"], res["n"], steps=n, shots=shots))
    train = card["config"].get("train", {})
    config = {"checkpoint_dir": str(folder), "shots": shots, "steps": steps, "episodes": episodes, "seed": seed,
              "n_query": n_query, "trained_shots": train.get("k_shot"), "trained_iterations": train.get("iterations"),
              "shipped_maml_inner_lr": shipped_lr, "lab_version": card.get("lab_version"),
              "published_5shot_1step": {"meta-sgd": 0.90, "maml": 1.13}}
    return make_report("meta-sgd", config, rows)
