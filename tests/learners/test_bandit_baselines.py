"""Baselines: UCB and Thompson against known regret behaviour on a fixed bandit; the Bayes-optimal policy
against a brute-force optimum; win-stay-lose-shift on Harlow."""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from lab.compute import make_generator
from lab.learners.bandit_baselines import (
    bandit_baseline_actions,
    bayes_optimal_actions,
    bayes_optimal_table,
    harlow_baseline_actions,
    thompson_actions,
    ucb_actions,
)
from lab.tasks.bandits import sample_bandits
from lab.tasks.harlow import object_pool, sample_harlow

FIXED = (0.3, 0.7)  # a fixed bandit with a gap of 0.4


def _regret(actions: torch.Tensor, batch) -> torch.Tensor:
    return batch.regret(actions).cumsum(dim=1).mean(dim=0)  # mean cumulative regret per trial


def test_ucb_and_thompson_regret_grows_sublinearly_and_stays_under_the_bound() -> None:
    batch = sample_bandits("independent", make_generator(0), 300, 400, probs=FIXED)
    gap = 0.4
    for actions in (ucb_actions(batch), thompson_actions(batch, make_generator(1))):
        curve = _regret(actions, batch)
        # Sublinear: the second half adds much less regret than the first (a fixed policy would add as much).
        assert (curve[-1] - curve[199]).item() < 0.5 * curve[199].item()
        # UCB1's finite-time bound (Auer et al. 2002, Thm 1): 8 ln T / gap + (1 + pi^2/3) gap; Thompson is
        # known to do at least as well on average.
        bound = 8 * math.log(400) / gap + (1 + math.pi**2 / 3) * gap
        assert curve[-1].item() < bound
        # Far better than random choice (regret 0.2 per trial).
        assert curve[-1].item() < 0.25 * 0.2 * 400


def test_thompson_beats_ucb1_on_the_fixed_bandit() -> None:
    batch = sample_bandits("independent", make_generator(2), 300, 100, probs=FIXED)
    ucb = _regret(ucb_actions(batch), batch)[-1].item()
    thompson = _regret(thompson_actions(batch, make_generator(3)), batch)[-1].item()
    assert thompson < ucb  # the known ordering (Chapelle & Li 2011)


def _brute_force_value(n_trials: int) -> float:
    """Expected reward of the best policy by exhaustive recursion over posteriors (tiny horizons only)."""
    def value(t: int, s1: int, f1: int, s2: int, f2: int) -> float:
        if t == n_trials:
            return 0.0
        p1, p2 = (s1 + 1) / (s1 + f1 + 2), (s2 + 1) / (s2 + f2 + 2)
        q1 = p1 * (1 + value(t + 1, s1 + 1, f1, s2, f2)) + (1 - p1) * value(t + 1, s1, f1 + 1, s2, f2)
        q2 = p2 * (1 + value(t + 1, s1, f1, s2 + 1, f2)) + (1 - p2) * value(t + 1, s1, f1, s2, f2 + 1)
        return max(q1, q2)
    return value(0, 0, 0, 0, 0)


def test_bayes_optimal_table_achieves_the_brute_force_optimum() -> None:
    n = 5
    table = bayes_optimal_table(n)
    # Expected reward of the table's policy, exactly, over every outcome sequence under the prior.
    def follow(t: int, s1: int, f1: int, s2: int, f2: int) -> float:
        if t == n:
            return 0.0
        right = bool(table[t][s1 + f1, s1, s2])
        s, f = (s2, f2) if right else (s1, f1)
        p = (s + 1) / (s + f + 2)
        win = (s1, f1, s2 + 1, f2) if right else (s1 + 1, f1, s2, f2)
        lose = (s1, f1, s2, f2 + 1) if right else (s1, f1 + 1, s2, f2)
        return p * (1 + follow(t + 1, *win)) + (1 - p) * follow(t + 1, *lose)
    assert math.isclose(follow(0, 0, 0, 0, 0), _brute_force_value(n), rel_tol=1e-12)


def test_bayes_optimal_beats_thompson_and_ucb_on_independent_bandits() -> None:
    batch = sample_bandits("independent", make_generator(4), 400, 30)
    regret = {m: batch.regret(bandit_baseline_actions(m, batch, make_generator(5))).sum(1).mean().item()
              for m in ("ucb", "thompson", "bayes-optimal", "random")}
    assert regret["bayes-optimal"] < regret["thompson"] < regret["random"]
    assert regret["bayes-optimal"] < regret["ucb"]


def test_correlated_bayes_optimal_is_greedy_on_the_pooled_evidence() -> None:
    batch = sample_bandits("correlated", make_generator(6), 3, 6)
    actions = bayes_optimal_actions(batch)
    for e, t in itertools.product(range(3), range(1, 6)):
        a, r = actions[e, :t].numpy(), batch.outcomes[e, np.arange(t), actions[e, :t]].numpy()
        for_left = ((a == 0) & (r == 1)).sum() + ((a == 1) & (r == 0)).sum()
        assert actions[e, t].item() == int(t - for_left > for_left)


def test_win_stay_lose_shift_on_objects_is_perfect_from_trial_two() -> None:
    batch = sample_harlow(make_generator(7), 300, 6, pool=object_pool("test", 10))
    objects = batch.correct(harlow_baseline_actions("wsls-object", batch, make_generator(8))).float()
    positions = batch.correct(harlow_baseline_actions("wsls-position", batch, make_generator(8))).float()
    assert objects[:, 1:].mean().item() == 1.0
    assert abs(objects[:, 0].mean().item() - 0.5) < 0.1  # trial 1 is a guess
    assert abs(positions[:, 1:].mean().item() - 0.5) < 0.05  # sides shuffle: position is no help
