"""Hand-designed players of the meta-RL tasks, to measure the network against.

Bandits (two Bernoulli arms, rewards pre-drawn in a :class:`~lab.tasks.bandits.BanditBatch`):

* **UCB1** (Auer, Cesa-Bianchi & Fischer 2002): each arm once, then ``argmax mean + sqrt(2 ln t / n)``;
* **Thompson sampling** (Thompson 1933): a Beta(1, 1) prior per arm, play the arm whose posterior draw is
  highest;
* **Bayes-optimal** for a horizon of T trials, by dynamic programming over the Beta posteriors. For the
  independent bandit with uniform priors this is the policy with the least possible expected regret over
  T trials — what the Gittins index approximates (Gittins is exact for discounted infinite horizons; for a
  fixed horizon the DP is the exact optimum, so it is at least as good). State ``(s1, f1, s2, f2)`` with
  ``s1+f1+s2+f2 = t``; about ``T^4/24`` states (4.6 M for 100 trials), computed once per T and cached. For
  the correlated bandit (``p_right = 1 - p_left``) both arms carry the same information (a left success
  and a right failure both count for ``p_left``), so the Bayes-optimal policy is greedy on the posterior
  mean;
* **random** choice.

Harlow: **win-stay-lose-shift on objects** (keep the object that paid, switch from the one that did not),
which is perfect from trial 2, and **win-stay-lose-shift on positions**, which stays at chance when the
objects change sides at random. Every function returns actions ``[episodes, trials]`` (0 left, 1 right).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from lab.compute import derive_seed
from lab.tasks.bandits import BanditBatch
from lab.tasks.harlow import HarlowBatch

BANDIT_BASELINES = ("ucb", "thompson", "bayes-optimal", "random")
HARLOW_BASELINES = ("wsls-object", "wsls-position", "random")


def _counts_play(batch: BanditBatch, choose) -> torch.Tensor:
    """Play every episode with ``choose(t, successes [E, 2], pulls [E, 2]) -> actions [E]``; return actions."""
    n = batch.n_episodes
    successes = torch.zeros(n, 2, dtype=torch.float64)
    pulls = torch.zeros(n, 2, dtype=torch.float64)
    actions = torch.empty(n, batch.n_trials, dtype=torch.long)
    outcomes = batch.outcomes.cpu().double()
    rows = torch.arange(n)
    for t in range(batch.n_trials):
        a = choose(t, successes, pulls)
        actions[:, t] = a
        successes[rows, a] += outcomes[rows, t, a]
        pulls[rows, a] += 1
    return actions


def ucb_actions(batch: BanditBatch) -> torch.Tensor:
    """Return UCB1's actions ``[episodes, trials]``: each arm once, then the highest upper confidence bound."""
    def choose(t: int, successes: torch.Tensor, pulls: torch.Tensor) -> torch.Tensor:
        if t < 2:
            return torch.full((successes.shape[0],), t, dtype=torch.long)
        bound = successes / pulls + torch.sqrt(2 * np.log(t) / pulls)
        return bound.argmax(dim=1)
    return _counts_play(batch, choose)


def thompson_actions(batch: BanditBatch, rng: torch.Generator) -> torch.Tensor:
    """Return Thompson sampling's actions ``[episodes, trials]`` (Beta(1, 1) priors; draws from ``rng``)."""
    np_rng = np.random.default_rng(derive_seed(rng))

    def choose(t: int, successes: torch.Tensor, pulls: torch.Tensor) -> torch.Tensor:
        draws = np_rng.beta(successes.numpy() + 1, (pulls - successes).numpy() + 1)
        return torch.from_numpy(draws.argmax(axis=1))
    return _counts_play(batch, choose)


def random_actions(n_episodes: int, n_trials: int, rng: torch.Generator) -> torch.Tensor:
    """Return uniformly random actions ``[n_episodes, n_trials]`` drawn with ``rng``."""
    return torch.randint(0, 2, (n_episodes, n_trials), generator=rng, device=rng.device).cpu()


@lru_cache(maxsize=4)
def bayes_optimal_table(n_trials: int) -> tuple[np.ndarray, ...]:
    """Return, for each trial t, a bool array ``[t+1, t+1, t+1]`` indexed by ``(n1, s1, s2)`` (pulls of arm 0,
    successes of arm 0, successes of arm 1; arm 1 has ``t - n1`` pulls): True where the Bayes-optimal
    policy for an independent bandit with uniform priors and ``n_trials`` trials plays arm 1 (right)."""
    # value[n1, s1, s2] = expected future reward from trial t on; built backwards from t = n_trials.
    value = np.zeros((n_trials + 2,) * 3)
    right = [None] * n_trials
    for t in range(n_trials - 1, -1, -1):
        n1 = np.arange(t + 1).reshape(-1, 1, 1)
        s1 = np.arange(t + 1).reshape(1, -1, 1)
        s2 = np.arange(t + 1).reshape(1, 1, -1)
        n2 = t - n1
        p1 = (s1 + 1) / (n1 + 2)  # posterior means of a Beta(1 + s, 1 + f)
        p2 = (s2 + 1) / (n2 + 2)
        v = value[: t + 2, : t + 2, : t + 2]
        # Pull arm 0: n1 grows; a success also grows s1. Pull arm 1: n1 stays; a success grows s2.
        q1 = p1 * (1 + v[1:, 1:, :-1]) + (1 - p1) * v[1:, :-1, :-1]
        q2 = p2 * (1 + v[:-1, :-1, 1:]) + (1 - p2) * v[:-1, :-1, :-1]
        right[t] = q2 > q1 + 1e-12  # ties go left
        value = np.zeros((n_trials + 2,) * 3) if t == n_trials - 1 else value
        value[: t + 1, : t + 1, : t + 1] = np.maximum(q1, q2)
    return tuple(right)


def bayes_optimal_actions(batch: BanditBatch) -> torch.Tensor:
    """Return the Bayes-optimal actions ``[episodes, trials]`` for the batch's kind of bandit (see the module)."""
    if batch.kind == "independent":
        table = bayes_optimal_table(batch.n_trials)

        def choose(t: int, successes: torch.Tensor, pulls: torch.Tensor) -> torch.Tensor:
            n1, s1, s2 = pulls[:, 0].long(), successes[:, 0].long(), successes[:, 1].long()
            return torch.from_numpy(table[t][n1.numpy(), s1.numpy(), s2.numpy()].astype(np.int64))
    else:
        # Correlated (and switching, where this ignores the swaps): greedy on the posterior of p_left.
        def choose(t: int, successes: torch.Tensor, pulls: torch.Tensor) -> torch.Tensor:
            for_left = successes[:, 0] + (pulls[:, 1] - successes[:, 1])
            against = (pulls[:, 0] - successes[:, 0]) + successes[:, 1]
            return (against > for_left).long()
    return _counts_play(batch, choose)


def bandit_baseline_actions(method: str, batch: BanditBatch, rng: torch.Generator) -> torch.Tensor:
    """Return the actions ``[episodes, trials]`` of baseline ``method`` (one of :data:`BANDIT_BASELINES`)."""
    if method == "ucb":
        return ucb_actions(batch)
    if method == "thompson":
        return thompson_actions(batch, rng)
    if method == "bayes-optimal":
        return bayes_optimal_actions(batch)
    if method == "random":
        return random_actions(batch.n_episodes, batch.n_trials, rng)
    raise ValueError(f"bandit baseline {method!r}; choose one of {BANDIT_BASELINES}")


def harlow_baseline_actions(method: str, batch: HarlowBatch, rng: torch.Generator) -> torch.Tensor:
    """Return the actions ``[episodes, trials]`` of Harlow baseline ``method`` (one of :data:`HARLOW_BASELINES`);
    trial 1 (and the random baseline throughout) is a coin flip from ``rng``."""
    if method not in HARLOW_BASELINES:
        raise ValueError(f"Harlow baseline {method!r}; choose one of {HARLOW_BASELINES}")
    coins = random_actions(batch.n_episodes, batch.n_trials, rng)
    if method == "random":
        return coins
    left = batch.left.cpu()
    actions = coins.clone()
    for t in range(1, batch.n_trials):
        prev = actions[:, t - 1]
        won = prev == (left[:, t - 1] != 0).long()
        if method == "wsls-position":
            actions[:, t] = torch.where(won, prev, 1 - prev)
        else:
            # The object chosen last trial: on the left it was object left[t-1], else the other one.
            chosen = torch.where(prev == 0, left[:, t - 1], 1 - left[:, t - 1])
            target = torch.where(won, chosen, 1 - chosen)  # the object to pick now
            actions[:, t] = (left[:, t] != target).long()  # 0 if it is on the left now
    return actions
