"""Training the meta-RL agent (:mod:`lab.learners.meta_rl`) by A2C across many episodes, resumably.

Each update plays ``batch`` fresh episodes of the task in parallel (the environments are batched tensors),
computes the A2C loss with discounted returns to the end of each episode, and takes one RMSProp step. The
paper's hyper-parameters are the defaults (Wang et al. 2018, Methods: discount 0.9, value and entropy
costs 0.05, RMSProp learning rate 7e-4). Departures, each measured in the note of issue 9:

* many episodes per update (``batch``, 128-256) instead of one actor's short rollouts: the same estimator
  with far less noise, and cheap because the environments are vectorised;
* the entropy cost may decay linearly to ``entropy_final`` over training, so that the frozen agent's
  choices become decisive once it has learned what to explore; ``entropy_final = entropy_cost`` is the
  paper's constant.

Every ``eval_every`` updates the agent is measured, weights frozen, on a fixed set of held-out episodes
(bandits: mean regret at the last trial; Harlow: accuracy on trials 2..T on the held-out alphabets) and
``(update, wall seconds, value)`` joins the curve. Every ``checkpoint_every`` updates a resumable state goes
to ``run_dir``; the same config started again continues from there. All randomness comes from ``seed``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from lab.checkpoint import save_checkpoint
from lab.compute import derive_seed, make_generator
from lab.learners.meta_rl import MetaRLAgent, MetaRLConfig, a2c_loss, play, play_frozen
from lab.nets import load_params_, random_init
from lab.resumable import load_state, resume_key, save_state, state_paths
from lab.tasks.bandits import BANDIT_KINDS, DEFAULT_TRIALS, sample_bandits
from lab.tasks.base import check_positive
from lab.tasks.harlow import HARLOW_TRIALS, sample_harlow

META_RL_TASKS = tuple(f"bandit-{k}" for k in BANDIT_KINDS) + ("harlow",)
KIND = "meta_rl"  # checkpoint kind


def default_trials(task: str) -> int:
    """Return the trials per episode of ``task``: 100 for bandits, 6 for Harlow."""
    return HARLOW_TRIALS if task == "harlow" else DEFAULT_TRIALS


def sample_episodes(task: str, rng: torch.Generator, n_episodes: int, n_trials: int | None = None,
                    split: str = "train", probs: tuple[float, float] | None = None) -> Any:
    """Return ``n_episodes`` episodes of ``task`` (a :class:`~lab.tasks.bandits.BanditBatch` or a
    :class:`~lab.tasks.harlow.HarlowBatch`); ``split`` picks the Harlow object pool, ``probs`` fixes a bandit."""
    if task not in META_RL_TASKS:
        raise ValueError(f"task {task!r}; choose one of {', '.join(META_RL_TASKS)}")
    n_trials = default_trials(task) if n_trials is None else n_trials
    if task == "harlow":
        return sample_harlow(rng, n_episodes, n_trials, split=split)
    return sample_bandits(task.removeprefix("bandit-"), rng, n_episodes, n_trials, probs=probs)


def held_out_score(agent: MetaRLAgent, task: str, episodes: Any, rng: torch.Generator) -> float:
    """Return the frozen agent's score on ``episodes``: mean total regret (bandits) or trials 2..T accuracy
    (Harlow)."""
    rollout = play_frozen(agent, episodes, rng)
    if task == "harlow":
        return episodes.correct(rollout.actions)[:, 1:].float().mean().item()
    return episodes.regret(rollout.actions).sum(dim=1).mean().item()


@dataclass
class MetaRLTrainConfig:
    """Everything that determines a meta-RL training run (and so its checkpoint)."""

    task: str = "bandit-independent"
    net: dict[str, Any] = field(default_factory=dict)  # MetaRLConfig fields; task is filled in from `task`
    trials: int | None = None  # trials per episode; None: the task's own (100 for bandits, 6 for Harlow)
    updates: int = 3000
    batch: int = 256  # episodes per A2C update, played in parallel
    lr: float = 7e-4  # the paper's RMSProp learning rate
    gamma: float = 0.9  # the paper's discount
    value_cost: float = 0.05
    entropy_cost: float = 0.05
    entropy_final: float = 0.05  # entropy cost at the last update (linear decay); = entropy_cost: constant
    max_grad_norm: float = 10.0  # clips rare exploding LSTM gradients; inactive in ordinary updates
    seed: int = 0
    eval_every: int = 250
    eval_episodes: int = 512
    checkpoint_every: int = 100

    def __post_init__(self) -> None:
        if self.task not in META_RL_TASKS:
            raise ValueError(f"task {self.task!r}; choose one of {', '.join(META_RL_TASKS)}")
        for name in ("updates", "batch", "eval_every", "eval_episodes", "checkpoint_every"):
            check_positive(name, getattr(self, name))
        if self.trials is not None:
            check_positive("trials", self.trials)
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr={self.lr} must be a finite number > 0")
        if not 0 <= self.gamma <= 1:
            raise ValueError(f"gamma={self.gamma}: choose 0 <= gamma <= 1")
        self.agent_config()  # validates the net fields

    def agent_config(self) -> MetaRLConfig:
        """Return the agent's config: ``net`` with the task family (bandit or harlow) filled in."""
        return MetaRLConfig(**{**self.net, "task": "harlow" if self.task == "harlow" else "bandit"})

    def card(self) -> dict[str, Any]:
        """Return the JSON-ready config stored in the checkpoint card; ``net`` is the agent's full config."""
        return {**asdict(self), "net": self.agent_config().to_dict()}


@dataclass
class MetaRLProgress:
    """A progress report: updates done of ``total``, recent mean reward per trial, seconds so far."""

    update: int
    total: int
    reward: float
    entropy: float
    elapsed_s: float
    held_out: float | None = None  # the latest held-out score, when just measured


@dataclass
class MetaRLTrainResult:
    """The trained agent, the held-out curve ``[(update, wall_s, score)]`` and facts about the run."""

    agent: MetaRLAgent
    curve: list[tuple[int, float, float]]
    updates: int
    wall_s: float
    stopped: bool
    paths: tuple[Path, Path] | None = None


def entropy_cost_at(config: MetaRLTrainConfig, update: int) -> float:
    """Return the entropy cost at ``update`` (0-based): linear from ``entropy_cost`` to ``entropy_final``."""
    frac = min(1.0, update / max(1, config.updates - 1))
    return config.entropy_cost + frac * (config.entropy_final - config.entropy_cost)


def train_meta_rl(config: MetaRLTrainConfig, out: Path | str | None = None, run_dir: Path | str | None = "runs",
                  on_progress: Callable[[MetaRLProgress], bool | None] | None = None, log_every: int = 50
                  ) -> MetaRLTrainResult:
    """Train one agent; save ``<out>.{pt,json}`` if ``out`` (a stem) is given; return the result.

    ``on_progress`` is called every ``log_every`` updates and after each held-out measurement; returning
    ``False`` stops training (the resumable state is saved, the final checkpoint is not).
    """
    rng = make_generator(config.seed)
    agent = MetaRLAgent(config.agent_config())
    load_params_(agent, random_init(agent, derive_seed(rng)))
    eval_rng = make_generator(derive_seed(make_generator(config.seed + 1)))
    held_out = sample_episodes(config.task, eval_rng, config.eval_episodes, config.trials, split="test")
    eval_seed = derive_seed(eval_rng)
    optimizer = torch.optim.RMSprop(agent.parameters(), lr=config.lr)
    key = resume_key(config.card())
    paths = state_paths(run_dir, f"meta_rl_{config.task}_seed{config.seed}", key) if run_dir is not None else None
    start, curve, wall_before = 0, [], 0.0
    saved = load_state(paths, key) if paths is not None else None
    if saved is not None:
        agent.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        rng.set_state(saved["rng"])
        start, wall_before = int(saved["update"]), float(saved["wall_s"])
        curve = [(int(i), float(w), float(v)) for i, w, v in saved["curve"].tolist()]
    t0 = time.perf_counter()

    def wall() -> float:
        return wall_before + time.perf_counter() - t0

    def snapshot(update: int) -> None:
        if paths is None:
            return
        save_state(paths, key, {"model": agent.state_dict(), "optimizer": optimizer.state_dict(),
                                "rng": rng.get_state(), "update": update, "wall_s": wall(),
                                "curve": torch.tensor(curve, dtype=torch.float64).view(-1, 3)})

    def measure(update: int) -> float:
        score = held_out_score(agent, config.task, held_out, make_generator(eval_seed))
        curve.append((update, round(wall(), 2), score))
        return score

    if start == 0 and not curve:
        measure(0)
    rewards, entropies, stopped, it = [], [], False, start
    for it in range(start + 1, config.updates + 1):
        episodes = sample_episodes(config.task, rng, config.batch, config.trials)
        loss, stats = a2c_loss(play(agent, episodes, rng), config.gamma, config.value_cost,
                               entropy_cost_at(config, it - 1))
        if not math.isfinite(stats["loss"]):
            raise FloatingPointError(f"training loss became {stats['loss']} at update {it} with --lr {config.lr:g}; "
                                     f"lower --lr (e.g. {config.lr / 10:g}); the last snapshot is kept")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(agent.parameters(), config.max_grad_norm)
        optimizer.step()
        rewards.append(stats["reward"])
        entropies.append(stats["entropy"])
        measured = measure(it) if it % config.eval_every == 0 or it == config.updates else None
        if on_progress is not None and (it % log_every == 0 or measured is not None):
            report = MetaRLProgress(it, config.updates, sum(rewards) / len(rewards),
                                    sum(entropies) / len(entropies), wall(), measured)
            rewards.clear(), entropies.clear()
            if on_progress(report) is False:
                stopped = True
        if stopped or it % config.checkpoint_every == 0:
            snapshot(it)
        if stopped:
            break
    result = MetaRLTrainResult(agent, curve, it, wall(), stopped)
    if out is not None and not stopped:
        extra = {"updates": it, "episodes": it * config.batch, "wall_s": round(wall(), 1),
                 "held_out_curve": [list(row) for row in curve], "threads": torch.get_num_threads()}
        result.paths = save_checkpoint(out, agent.state_dict(), config.card(), KIND, extra)
    return result


# The recipes of the shipped checkpoints (``python -m lab pretrain --only meta-rl-<task>``); the note of
# issue 9 gives their wall times and scores.
RECIPES: dict[str, dict[str, Any]] = {
    "bandit-independent": {"updates": 6000, "batch": 256, "entropy_final": 0.0, "net": {"hidden": 48}},
    "bandit-correlated": {"updates": 2000, "batch": 256, "entropy_final": 0.0, "net": {"hidden": 48}},
    "harlow": {"updates": 1500, "batch": 128, "net": {"hidden": 128}},
}


def recipe(task: str, seed: int = 0) -> MetaRLTrainConfig:
    """Return the training config of the shipped ``meta_rl_<task>`` checkpoint."""
    if task not in RECIPES:
        raise ValueError(f"no shipped recipe for {task!r}; choose one of {', '.join(RECIPES)}")
    return MetaRLTrainConfig(task=task, seed=seed, **RECIPES[task])
