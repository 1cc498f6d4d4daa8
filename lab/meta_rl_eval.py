"""Evaluating the frozen meta-RL agent against hand-designed players on the very same episodes.

``python -m lab eval meta-rl --task bandit-independent|bandit-correlated|harlow --episodes 300 --json``:

* bandits — cumulative expected regret at the last trial (100), per episode, mean with a 95% CI, for the
  agent (sampling its policy, as the paper does, and greedy: always its likelier choice), UCB1, Thompson
  sampling, the Bayes-optimal policy (:mod:`lab.learners.bandit_baselines`) and random choice;
* Harlow — accuracy on trial 1 and on trials 2..T (per episode, then averaged) on objects from the held-out
  alphabets, for the agent, win-stay-lose-shift on objects and on positions, and random choice.

The agent is a shipped checkpoint ``assets/meta_rl_<task>.{pt,json}`` (``python -m lab pretrain --only
meta-rl-<task>``) or any checkpoint of kind ``meta_rl``; its weights never change during evaluation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lab.checkpoint import REMAKE, CheckpointError, assets_dir, check_state_matches, load_checkpoint
from lab.compute import derive_seed, make_generator
from lab.evaluation import make_report, result_row
from lab.learners.bandit_baselines import (
    BANDIT_BASELINES,
    HARLOW_BASELINES,
    bandit_baseline_actions,
    harlow_baseline_actions,
)
from lab.learners.maml import mean_ci95
from lab.learners.meta_rl import MetaRLAgent, MetaRLConfig, play_frozen
from lab.meta_rl_training import KIND, META_RL_TASKS, sample_episodes

EVAL_TASKS = ("bandit-independent", "bandit-correlated", "bandit-switching", "harlow")
AGENT_MODES = {"meta-rl": False, "meta-rl-greedy": True}  # method name -> greedy


def shipped_path(task: str) -> Path:
    """Return the stem of the shipped checkpoint for ``task`` (it may not exist); switching bandits use the
    correlated agent (their arms are correlated too)."""
    if task not in META_RL_TASKS:
        raise ValueError(f"task {task!r}; choose one of {', '.join(META_RL_TASKS)}")
    name = "bandit-correlated" if task == "bandit-switching" else task
    return assets_dir() / f"meta_rl_{name.replace('-', '_')}"


def load_agent(path: Path | str) -> tuple[MetaRLAgent, dict[str, Any]]:
    """Return ``(agent, meta)``: the meta-RL agent saved at stem ``path``, in eval mode.

    Raises :class:`~lab.checkpoint.CheckpointError` for a missing, corrupted or mismatched checkpoint.
    """
    state, meta = load_checkpoint(path, KIND)
    try:
        agent = MetaRLAgent(MetaRLConfig(**meta["config"]["net"]))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: the card's net config is not valid ({exc}); {REMAKE}") from exc
    check_state_matches(agent, state, Path(str(path) + ".pt"))
    agent.load_state_dict(state)
    return agent.eval(), meta


def _check_agent_task(agent: MetaRLAgent, task: str, where: Path | str) -> None:
    family = "harlow" if task == "harlow" else "bandit"
    if agent.config.task != family:
        raise ValueError(f"{where} is a {agent.config.task} agent; it cannot play {task}")


def evaluate_meta_rl(task: str, episodes: int = 300, seed: int = 0, checkpoint: str | None = None,
                     trials: int | None = None) -> dict[str, Any]:
    """Return the ``meta-rl`` report for ``task`` (see the module docstring); every method plays the same
    ``episodes`` episodes drawn from ``seed``. Raises ``ValueError`` for bad settings."""
    if task not in EVAL_TASKS:
        raise ValueError(f"task {task!r}; choose one of {', '.join(EVAL_TASKS)}")
    if episodes < 2:
        raise ValueError(f"episodes={episodes}: a 95% confidence interval needs at least 2 episodes")
    stem = Path(checkpoint) if checkpoint else shipped_path(task)
    agent, meta = load_agent(stem)
    _check_agent_task(agent, task, stem)
    rng = make_generator(seed)
    batch = sample_episodes(task, rng, episodes, trials, split="test")
    method_seed = derive_seed(rng)
    rows = []
    if task == "harlow":
        actions = {m: play_frozen(agent, batch, make_generator(method_seed), greedy).actions
                   for m, greedy in AGENT_MODES.items()}
        actions.update({m: harlow_baseline_actions(m, batch, make_generator(method_seed)) for m in HARLOW_BASELINES})
        for method, acts in actions.items():
            correct = batch.correct(acts.cpu()).float()
            for label, cols in (("1", correct[:, :1]), (f"2-{batch.n_trials}", correct[:, 1:])):
                mean, ci = mean_ci95(cols.mean(dim=1))
                rows.append(result_row(method, "accuracy", mean, ci, episodes, trials=label))
    else:
        actions = {m: play_frozen(agent, batch, make_generator(method_seed), greedy).actions
                   for m, greedy in AGENT_MODES.items()}
        actions.update({m: bandit_baseline_actions(m, batch, make_generator(method_seed)) for m in BANDIT_BASELINES})
        for method, acts in actions.items():
            mean, ci = mean_ci95(batch.regret(acts.cpu()).sum(dim=1))
            rows.append(result_row(method, "regret", mean, ci, episodes, trials=batch.n_trials))
    config = {"episodes": episodes, "seed": seed, "trials": batch.n_trials, "checkpoint": str(stem),
              "trained": {k: meta["config"].get(k) for k in ("task", "updates", "batch", "gamma", "seed")},
              "lab_version": meta.get("lab_version")}
    return make_report(f"meta-rl {task}", config, rows)
