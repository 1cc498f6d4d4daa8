"""Meta-reinforcement learning with a recurrent agent (Wang et al. 2018, "Prefrontal cortex as a
meta-reinforcement learning system", Nature Neuroscience 21:860; Wang et al. 2016, "Learning to
reinforcement learn"; Duan et al. 2016, "RL^2").

An LSTM sees, each trial, its previous action, its previous reward and the current observation, and outputs
a policy over the two choices and a value estimate. Its weights are trained slowly, across thousands of
episodes, by advantage actor-critic (A2C) — the role the paper gives to dopamine-driven synaptic learning.
Once trained the weights are frozen; within a new episode the agent still learns which arm or object pays,
but only in its hidden activity — the role of prefrontal cortex.

Pure functions do the maths (:func:`discounted_returns`, :func:`a2c_loss`); :class:`MetaRLAgent` holds the
network; :func:`play` runs it through a batch of episodes (a :class:`~lab.tasks.bandits.BanditBatch` or a
:class:`~lab.tasks.harlow.HarlowBatch`) and returns a :class:`Rollout`, the trace the pages draw.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from lab.tasks.base import check_positive

TASKS = ("bandit", "harlow")
N_ACTIONS = 2


class Environment(Protocol):
    """A batch of episodes an agent can play: both bandits and Harlow episodes fit."""

    n_episodes: int
    n_trials: int

    def observation(self, t: int) -> torch.Tensor: ...
    def reward(self, t: int, actions: torch.Tensor) -> torch.Tensor: ...


@dataclass
class MetaRLConfig:
    """Shape of the agent; defaults are the paper's bandit agent."""

    task: str = "bandit"  # bandit: observation is the trial's place t/T; harlow: the two objects' images
    hidden: int = 48  # the paper's bandit LSTM; Harlow uses more (see lab.meta_rl_training)
    object_features: int = 32  # Harlow: features per object image from a shared linear encoder
    # Harlow: add to each side's logit the match between the LSTM output and the object shown there (a
    # pointer-style head), so "which object pays" need not be re-learned for each side; see the note below.
    object_head: bool = True
    image_size: int = 28

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task={self.task!r}; choose one of {TASKS}")
        check_positive("hidden", self.hidden)
        check_positive("object_features", self.object_features)
        check_positive("image_size", self.image_size, minimum=2)

    def to_dict(self) -> dict:
        """Return the config as a JSON-ready dict."""
        return asdict(self)


class MetaRLAgent(nn.Module):
    """LSTM actor-critic. Input per trial: one-hot previous action, previous reward, observation features."""

    def __init__(self, config: MetaRLConfig | None = None) -> None:
        super().__init__()
        self.config = config or MetaRLConfig()
        c = self.config
        if c.task == "harlow":
            # One encoder for both positions, so an object looks the same wherever it is shown. Pooling to
            # 14x14 first keeps it small; glyphs stay distinguishable at that size.
            pooled = (c.image_size // 2) ** 2
            self.encoder = nn.Sequential(nn.AvgPool2d(2), nn.Flatten(), nn.Linear(pooled, c.object_features),
                                         nn.ReLU())
            obs_dim = 2 * c.object_features
        else:
            self.encoder = nn.Identity()
            obs_dim = 1
        self.lstm = nn.LSTMCell(N_ACTIONS + 1 + obs_dim, c.hidden)
        self.policy = nn.Linear(c.hidden, N_ACTIONS)
        self.value = nn.Linear(c.hidden, 1)
        self.query = nn.Linear(c.hidden, c.object_features) if c.task == "harlow" and c.object_head else None

    def features(self, obs: torch.Tensor) -> torch.Tensor:
        """Return observation features ``[B, F]`` from a bandit's ``[B, 1]`` or a Harlow screen ``[B, 2, S, S]``."""
        if self.config.task == "bandit":
            return obs
        b = obs.shape[0]
        return self.encoder(obs.reshape(b * 2, 1, *obs.shape[2:])).reshape(b, -1)

    def initial_state(self, n: int, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """Return the zero LSTM state ``(h, c)``, each ``[n, hidden]``: how every episode starts."""
        zeros = torch.zeros(n, self.config.hidden, device=device)
        return zeros, zeros.clone()

    def step(self, obs: torch.Tensor, prev_action: torch.Tensor, prev_reward: torch.Tensor,
             state: tuple[torch.Tensor, torch.Tensor]
             ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Return ``(logits [B, 2], value [B], new state)`` for one trial.

        ``prev_action`` ``[B]`` is -1 on the first trial (no previous action: a zero one-hot).
        """
        one_hot = F.one_hot(prev_action.clamp(min=0), N_ACTIONS).float() * (prev_action >= 0).float().unsqueeze(1)
        features = self.features(obs)
        x = torch.cat([one_hot, prev_reward.unsqueeze(1), features], dim=1)
        h, c = self.lstm(x, state)
        logits = self.policy(h)
        if self.query is not None:
            objects = features.view(features.shape[0], N_ACTIONS, -1)  # [B, side, F]
            logits = logits + (objects @ self.query(h).unsqueeze(-1)).squeeze(-1)
        return logits, self.value(h).squeeze(1), (h, c)


@dataclass
class Rollout:
    """What happened over a batch of episodes; every tensor is ``[episodes, trials, ...]``.

    ``probs`` ``[E, T, 2]`` are the choice probabilities, ``hidden`` ``[E, T, H]`` the LSTM output after each
    trial's input (its belief), ``log_probs``/``entropy``/``values`` keep the graph when trained.
    """

    actions: torch.Tensor
    rewards: torch.Tensor
    probs: torch.Tensor
    log_probs: torch.Tensor
    entropy: torch.Tensor
    values: torch.Tensor
    hidden: torch.Tensor


def play(agent: MetaRLAgent, env: Environment, rng: torch.Generator, greedy: bool = False,
         state: tuple[torch.Tensor, torch.Tensor] | None = None) -> Rollout:
    """Return the :class:`Rollout` of ``agent`` playing every episode of ``env`` from the zero state (or
    ``state``). Actions are sampled with ``rng`` (argmax when ``greedy``). Gradients flow unless the caller
    runs it under ``torch.no_grad()`` (frozen weights: :func:`play_frozen`)."""
    n, device = env.n_episodes, rng.device
    state = agent.initial_state(n, device) if state is None else state
    action = torch.full((n,), -1, dtype=torch.long, device=device)
    reward = torch.zeros(n, device=device)
    out: dict[str, list[torch.Tensor]] = {k: [] for k in ("actions", "rewards", "probs", "log_probs", "entropy",
                                                          "values", "hidden")}
    for t in range(env.n_trials):
        logits, value, state = agent.step(env.observation(t), action, reward, state)
        log_p = F.log_softmax(logits, dim=1)
        p = log_p.exp()
        if greedy:
            action = p.argmax(dim=1)
        else:
            action = torch.multinomial(p.detach(), 1, generator=rng).squeeze(1)
        reward = env.reward(t, action)
        for key, value_t in (("actions", action), ("rewards", reward), ("probs", p),
                             ("log_probs", log_p.gather(1, action.view(-1, 1)).squeeze(1)),
                             ("entropy", -(p * log_p).sum(dim=1)), ("values", value), ("hidden", state[0])):
            out[key].append(value_t)
    return Rollout(**{k: torch.stack(v, dim=1) for k, v in out.items()})


def play_frozen(agent: MetaRLAgent, env: Environment, rng: torch.Generator, greedy: bool = False) -> Rollout:
    """Return :func:`play` with the weights frozen: no gradients, eval mode, nothing changes in the agent."""
    was_training = agent.training
    agent.eval()
    try:
        with torch.no_grad():
            return play(agent, env, rng, greedy)
    finally:
        agent.train(was_training)


def discounted_returns(rewards: torch.Tensor, gamma: float) -> torch.Tensor:
    """Return ``R_t = r_t + gamma R_{t+1}`` ``[E, T]`` for rewards ``[E, T]``; the episode ends after T (R_T = 0)."""
    returns = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in range(rewards.shape[1] - 1, -1, -1):
        running = rewards[:, t] + gamma * running
        returns[:, t] = running
    return returns


def a2c_loss(rollout: Rollout, gamma: float = 0.9, value_cost: float = 0.05, entropy_cost: float = 0.05
             ) -> tuple[torch.Tensor, dict[str, float]]:
    """Return ``(loss, stats)``: the advantage actor-critic loss of a rollout, averaged over episodes and trials.

    ``loss = -log pi(a) A - entropy_cost H + value_cost (R - V)^2 / 2`` with ``A = R - V`` (no gradient
    through ``A`` into the policy term) and ``R`` the discounted return to the end of the episode.
    """
    returns = discounted_returns(rollout.rewards, gamma)
    advantage = returns - rollout.values
    policy_loss = -(rollout.log_probs * advantage.detach()).mean()
    value_loss = 0.5 * advantage.pow(2).mean()
    entropy = rollout.entropy.mean()
    loss = policy_loss + value_cost * value_loss - entropy_cost * entropy
    stats = {"loss": loss.item(), "reward": rollout.rewards.mean().item(), "entropy": entropy.item(),
             "value_loss": value_loss.item()}
    return loss, stats
