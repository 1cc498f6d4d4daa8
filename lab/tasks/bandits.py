"""Two-armed Bernoulli bandits, batched over episodes: the task family of meta-reinforcement learning.

Wang et al. 2018, "Prefrontal cortex as a meta-reinforcement learning system" (Nature Neuroscience), and
Wang et al. 2016, "Learning to reinforcement learn": each episode is a new bandit, ``n_trials`` pulls long.

* ``independent`` — ``p_left`` and ``p_right`` drawn independently from U(0, 1);
* ``correlated`` — ``p_left ~ U(0, 1)`` and ``p_right = 1 - p_left`` (one pull tells about both arms);
* ``switching`` — correlated arms whose probabilities swap with probability ``hazard`` before each trial
  (a reversal task: what was learned must be unlearned).

Both arms' outcomes are drawn up front for every trial (``outcomes``), so the same episode replays
identically for every player — a student, the network and each baseline meet the same luck. Regret is the
expected one, ``max_a p_a - p_chosen`` summed over trials, which does not depend on that luck.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lab.tasks.base import check_positive

BANDIT_KINDS = ("independent", "correlated", "switching")
N_ARMS = 2
DEFAULT_TRIALS = 100


@dataclass
class BanditBatch:
    """``n_episodes`` bandit episodes: reward probabilities and pre-drawn outcomes of both arms.

    ``probs`` and ``outcomes`` are ``[episodes, trials, 2]`` (arm 0 = left, arm 1 = right); ``outcomes`` holds
    the reward (0. or 1.) each arm would pay on each trial.
    """

    kind: str
    probs: torch.Tensor
    outcomes: torch.Tensor

    @property
    def n_episodes(self) -> int:
        """Return the number of episodes (leading axis)."""
        return int(self.probs.shape[0])

    @property
    def n_trials(self) -> int:
        """Return the number of trials per episode."""
        return int(self.probs.shape[1])

    def observation(self, t: int) -> torch.Tensor:
        """Return the observation of trial ``t``, ``[episodes, 1]``: the trial number over 100 (the same clock
        whatever the episode's length, so an agent trained on 100 trials can play shorter episodes)."""
        return torch.full((self.n_episodes, 1), t / DEFAULT_TRIALS, device=self.probs.device)

    def reward(self, t: int, actions: torch.Tensor) -> torch.Tensor:
        """Return the rewards ``[episodes]`` (0. or 1.) of ``actions`` ``[episodes]`` (0 left, 1 right) at trial ``t``."""
        return self.outcomes[:, t].gather(1, actions.view(-1, 1)).squeeze(1)

    def regret(self, actions: torch.Tensor) -> torch.Tensor:
        """Return the expected regret of each trial ``[episodes, trials]`` for ``actions`` ``[episodes, trials]``."""
        chosen = self.probs.gather(2, actions.unsqueeze(-1)).squeeze(-1)
        return self.probs.max(dim=2).values - chosen

    def episode(self, index: int) -> BanditBatch:
        """Return episode ``index`` alone (an episode axis of length 1)."""
        return BanditBatch(self.kind, self.probs[index:index + 1], self.outcomes[index:index + 1])


def _check_prob(name: str, p: float) -> None:
    if not 0 <= p <= 1:
        raise ValueError(f"{name}={p} is not a probability; choose 0 <= {name} <= 1")


def sample_bandits(kind: str, rng: torch.Generator, n_episodes: int, n_trials: int = DEFAULT_TRIALS,
                   probs: tuple[float, float] | None = None, hazard: float = 0.05) -> BanditBatch:
    """Return a :class:`BanditBatch` of ``n_episodes`` episodes of ``kind``, all randomness from ``rng``.

    ``probs=(p_left, p_right)`` fixes the arms' probabilities instead of drawing them (for ``correlated``
    and ``switching`` only ``p_left`` is used; ``p_right = 1 - p_left``). ``hazard`` is the switching
    bandit's chance of a swap before each trial.
    """
    if kind not in BANDIT_KINDS:
        raise ValueError(f"bandit kind {kind!r}; choose one of {BANDIT_KINDS}")
    check_positive("n_episodes", n_episodes)
    check_positive("n_trials", n_trials)
    _check_prob("hazard", hazard)
    device = rng.device
    if probs is None:
        p = torch.rand((n_episodes, N_ARMS), generator=rng, device=device)
    else:
        for name, value in zip(("p_left", "p_right"), probs, strict=True):
            _check_prob(name, value)
        p = torch.tensor([float(probs[0]), float(probs[1])], device=device).expand(n_episodes, N_ARMS).clone()
    if kind != "independent":
        p[:, 1] = 1 - p[:, 0]
    probs_t = p.unsqueeze(1).expand(n_episodes, n_trials, N_ARMS).clone()
    if kind == "switching":
        swaps = torch.rand((n_episodes, n_trials), generator=rng, device=device) < hazard
        swaps[:, 0] = False
        flipped = (swaps.long().cumsum(dim=1) % 2).bool()  # an odd number of swaps so far: arms exchanged
        probs_t = torch.where(flipped.unsqueeze(-1), probs_t.flip(-1), probs_t)
    outcomes = (torch.rand((n_episodes, n_trials, N_ARMS), generator=rng, device=device) < probs_t).float()
    return BanditBatch(kind, probs_t, outcomes)
