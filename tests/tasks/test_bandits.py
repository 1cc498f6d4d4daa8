"""Bandit environments: reward statistics, the correlated and switching structure, seeding, bad input."""

from __future__ import annotations

import pytest
import torch

from lab.compute import make_generator
from lab.tasks.bandits import BANDIT_KINDS, sample_bandits


@pytest.mark.parametrize("kind", BANDIT_KINDS)
def test_rewards_follow_the_probabilities(kind: str) -> None:
    batch = sample_bandits(kind, make_generator(0), 400, 100)
    assert batch.probs.shape == (400, 100, 2) and batch.outcomes.shape == (400, 100, 2)
    # Pooled over 80 000 draws per arm the payout rate matches the probabilities to well within 0.01.
    gap = (batch.outcomes.mean() - batch.probs.mean()).abs().item()
    assert gap < 0.01
    high = batch.probs > 0.8
    assert batch.outcomes[high].mean().item() > 0.85
    assert batch.outcomes[batch.probs < 0.2].mean().item() < 0.15


def test_independent_arms_are_uniform_and_uncorrelated() -> None:
    p = sample_bandits("independent", make_generator(1), 4000).probs[:, 0]
    assert abs(p.mean().item() - 0.5) < 0.02
    assert abs(torch.corrcoef(p.T)[0, 1].item()) < 0.05


def test_correlated_arms_sum_to_one() -> None:
    probs = sample_bandits("correlated", make_generator(2), 50).probs
    assert torch.allclose(probs.sum(dim=2), torch.ones(50, 100))


def test_switching_arms_swap_at_the_hazard_rate() -> None:
    batch = sample_bandits("switching", make_generator(3), 500, 100, hazard=0.05)
    swaps = (batch.probs[:, 1:, 0] != batch.probs[:, :-1, 0]).float().mean().item()
    assert abs(swaps - 0.05) < 0.01
    assert torch.allclose(batch.probs.sum(dim=2), torch.ones(500, 100))


def test_fixed_probabilities_and_regret() -> None:
    batch = sample_bandits("independent", make_generator(4), 3, 10, probs=(0.2, 0.7))
    assert torch.allclose(batch.probs[:, :, 0], torch.full((3, 10), 0.2))
    always_left = torch.zeros(3, 10, dtype=torch.long)
    assert torch.allclose(batch.regret(always_left), torch.full((3, 10), 0.5))
    assert batch.regret(1 - always_left).abs().max().item() == 0
    rewards = batch.reward(0, torch.tensor([0, 1, 0]))
    assert rewards.tolist() == [batch.outcomes[0, 0, 0].item(), batch.outcomes[1, 0, 1].item(),
                                batch.outcomes[2, 0, 0].item()]


def test_same_seed_same_episodes() -> None:
    a = sample_bandits("correlated", make_generator(5), 8)
    b = sample_bandits("correlated", make_generator(5), 8)
    assert torch.equal(a.outcomes, b.outcomes) and torch.equal(a.probs, b.probs)


@pytest.mark.parametrize("kwargs", [{"kind": "nope"}, {"probs": (1.5, 0.2)}, {"hazard": -0.1}, {"n_trials": 0}])
def test_bad_input_says_the_limit(kwargs: dict) -> None:
    args = {"kind": "independent", "rng": make_generator(0), "n_episodes": 2, **kwargs}
    with pytest.raises(ValueError):
        sample_bandits(**args)
