"""The meta-RL page's compute: the episodes a student plays, the frozen agent on the same episodes, and the
curves of every player (student, agent, baselines) on one axis.

A game is ``MAX_EPISODES`` episodes drawn from the page's seed (:func:`game_episodes`); the student plays
them in order with buttons and the page keeps only their actions. Everything else is recomputed from those
actions: their rewards (:func:`replay`), the agent's run with its hidden states projected to 2-D
(:func:`agent_run`), and the per-trial curves (:func:`player_curves`): cumulative regret for bandits,
accuracy per trial for Harlow, averaged over the episodes the student finished.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lab.compute import derive_seed, make_generator
from lab.learners.bandit_baselines import bandit_baseline_actions, harlow_baseline_actions
from lab.learners.meta_rl import MetaRLAgent, play_frozen
from lab.meta_rl_eval import load_agent, shipped_path
from lab.meta_rl_training import META_RL_TASKS, sample_episodes

MAX_EPISODES = 10  # episodes in one game; Harlow's learning set shows over several
PAGE_BASELINES = {"bandit": ("thompson", "bayes-optimal", "random"), "harlow": ("wsls-object", "random")}


def game_episodes(task: str, seed: int, trials: int, probs: tuple[float, float] | None = None) -> Any:
    """Return the ``MAX_EPISODES`` episodes of a game (Harlow objects from the held-out alphabets)."""
    return sample_episodes(task, make_generator(seed), MAX_EPISODES, trials, split="test", probs=probs)


def episode_slice(batch: Any, n: int) -> Any:
    """Return the first ``n`` episodes of ``batch`` (same type)."""
    if hasattr(batch, "probs"):
        return type(batch)(batch.kind, batch.probs[:n], batch.outcomes[:n])
    return type(batch)(batch.objects[:n], batch.object_ids[:n], batch.left[:n])


def replay(batch: Any, episode: int, actions: list[int]) -> list[float]:
    """Return the rewards the student's ``actions`` earned in ``episode`` of ``batch`` (trial by trial)."""
    one = batch.episode(episode)
    return [float(one.reward(t, torch.tensor([a]))[0]) for t, a in enumerate(actions)]


def better_side(batch: Any, episode: int) -> np.ndarray:
    """Return ``[T]`` floats: 1 where the right side is the better arm (bandit) or holds the rewarded object
    (Harlow) on each trial of ``episode``, else 0 (ties count as left)."""
    if hasattr(batch, "probs"):
        return (batch.probs[episode, :, 1] > batch.probs[episode, :, 0]).float().numpy()
    return torch.stack([batch.rewarded_side(t)[episode] for t in range(batch.n_trials)]).float().numpy()


def harlow_screen(batch: Any, episode: int, trial: int) -> np.ndarray:
    """Return the two objects of a Harlow trial side by side, ``[S, 2S + gap]`` (ink 1 on 0)."""
    screen = batch.episode(episode).observation(trial)[0].numpy()
    gap = np.zeros((screen.shape[1], screen.shape[2] // 2), dtype=screen.dtype)
    return np.concatenate([screen[0], gap, screen[1]], axis=1)


@dataclass
class AgentRun:
    """The frozen agent over ``n`` episodes: ``actions``/``rewards`` ``[n, T]``, ``p_right`` ``[n, T]`` (its
    choice probability of the right arm/object before each trial), ``hidden_2d`` ``[n, T, 2]`` (its LSTM
    state projected on the first two principal components of all those states) and ``explained`` (the
    share of variance those two components hold)."""

    actions: np.ndarray
    rewards: np.ndarray
    p_right: np.ndarray
    hidden_2d: np.ndarray
    explained: float


def project_2d(hidden: torch.Tensor) -> tuple[np.ndarray, float]:
    """Return ``(points [..., 2], explained)``: ``hidden`` ``[..., H]`` on its first two principal components."""
    flat = hidden.reshape(-1, hidden.shape[-1]).double()
    centred = flat - flat.mean(dim=0)
    _, s, v = torch.linalg.svd(centred, full_matrices=False)
    points = centred @ v[:2].T
    if points.shape[1] < 2:
        points = torch.cat([points, torch.zeros(points.shape[0], 2 - points.shape[1], dtype=points.dtype)], dim=1)
    total = float((s**2).sum())
    explained = float((s[:2] ** 2).sum()) / total if total > 0 else 1.0
    return points.reshape(*hidden.shape[:-1], 2).numpy(), explained


def agent_run(agent: MetaRLAgent, batch: Any, seed: int) -> AgentRun:
    """Return the :class:`AgentRun` of ``agent`` (weights frozen) on every episode of ``batch``."""
    rollout = play_frozen(agent, batch, make_generator(derive_seed(make_generator(seed + 1))))
    points, explained = project_2d(rollout.hidden)
    return AgentRun(rollout.actions.numpy(), rollout.rewards.numpy(), rollout.probs[..., 1].numpy(), points,
                    explained)


def _per_trial(task: str, batch: Any, actions: torch.Tensor) -> np.ndarray:
    """Return the curve ``[T]`` of ``actions`` ``[n, T]``: mean cumulative regret or mean accuracy per trial."""
    if task == "harlow":
        return batch.correct(actions).float().mean(dim=0).numpy()
    return batch.regret(actions).cumsum(dim=1).mean(dim=0).numpy()


def player_curves(task: str, batch: Any, student: list[list[int]], agent: AgentRun, seed: int
                  ) -> dict[str, np.ndarray]:
    """Return ``{player: curve [T]}`` for the student's finished episodes (the first ``len(student)`` of
    ``batch``): the student, the agent and the page's baselines, all on those same episodes."""
    n = len(student)
    played = episode_slice(batch, n)
    curves = {"student": _per_trial(task, played, torch.tensor(student, dtype=torch.long)),
              "meta-rl": _per_trial(task, played, torch.from_numpy(agent.actions[:n]))}
    family = "harlow" if task == "harlow" else "bandit"
    for method in PAGE_BASELINES[family]:
        rng = make_generator(derive_seed(make_generator(seed + 2)))
        if family == "harlow":
            acts = harlow_baseline_actions(method, played, rng)
        else:
            acts = bandit_baseline_actions(method, played, rng)
        curves[method] = _per_trial(task, played, acts)
    return curves


def load_page_agent(task: str, path: str | None = None) -> MetaRLAgent:
    """Return the agent the page uses for ``task``: ``path`` or the shipped checkpoint (CheckpointError if missing)."""
    if task not in META_RL_TASKS:
        raise ValueError(f"task {task!r}; choose one of {', '.join(META_RL_TASKS)}")
    agent, _ = load_agent(path or shipped_path(task))
    return agent

