"""The meta-RL agent: a proper policy, a memory that carries across trials and resets between episodes,
returns and the A2C loss against hand computations, frozen weights at test time."""

from __future__ import annotations

import pytest
import torch

from lab.compute import make_generator
from lab.learners.meta_rl import MetaRLAgent, MetaRLConfig, a2c_loss, discounted_returns, play, play_frozen
from lab.nets import load_params_, random_init
from lab.tasks.bandits import sample_bandits
from lab.tasks.harlow import object_pool, sample_harlow

pytestmark = pytest.mark.usefixtures("one_thread")


def _agent(task: str = "bandit", seed: int = 0) -> MetaRLAgent:
    agent = MetaRLAgent(MetaRLConfig(task=task, hidden=16, object_features=8))
    return load_params_(agent, random_init(agent, seed))


def test_action_distribution_sums_to_one_for_both_tasks() -> None:
    bandits = sample_bandits("independent", make_generator(0), 6, 20)
    harlow = sample_harlow(make_generator(0), 6, 6, pool=object_pool("test", 8))
    for task, env in (("bandit", bandits), ("harlow", harlow)):
        rollout = play_frozen(_agent(task), env, make_generator(1))
        assert rollout.probs.shape == (6, env.n_trials, 2)
        assert torch.allclose(rollout.probs.sum(dim=-1), torch.ones(6, env.n_trials))
        assert (rollout.probs >= 0).all()
        assert rollout.hidden.shape == (6, env.n_trials, 16)


def test_hidden_state_carries_across_trials_and_resets_between_episodes() -> None:
    agent = _agent()
    env = sample_bandits("independent", make_generator(2), 2, 10, probs=(0.5, 0.5))
    env.outcomes[1] = 1 - env.outcomes[0]  # same clock, opposite luck
    first = play_frozen(agent, env, make_generator(3), greedy=True)
    # Carries: the state after trial t depends on what happened before, so the two episodes part ways.
    assert not torch.allclose(first.hidden[0, 5], first.hidden[1, 5])
    # Resets: a new play starts every episode from the zero state; trial 1 sees no history and so the same
    # input in both episodes, whatever happened in the last play.
    again = play_frozen(agent, env, make_generator(4), greedy=True)
    assert torch.allclose(again.hidden[:, 0], first.hidden[:, 0])
    assert torch.allclose(first.hidden[0, 0], first.hidden[1, 0])
    # And the state it starts from matters: starting from another state changes trial 1.
    h, c = agent.initial_state(2)
    with torch.no_grad():
        moved = play(agent, env, make_generator(4), greedy=True, state=(h + 1, c + 1))
    assert not torch.allclose(moved.hidden[:, 0], first.hidden[:, 0])


def test_playing_frozen_changes_no_weight_and_keeps_no_graph() -> None:
    agent = _agent()
    before = {k: v.clone() for k, v in agent.state_dict().items()}
    rollout = play_frozen(agent, sample_bandits("correlated", make_generator(5), 4), make_generator(6))
    assert not rollout.log_probs.requires_grad
    assert all(torch.equal(before[k], v) for k, v in agent.state_dict().items())
    assert agent.training  # the mode is restored


def test_discounted_returns_against_a_hand_computation() -> None:
    rewards = torch.tensor([[1.0, 0.0, 1.0]])
    expected = torch.tensor([[1 + 0.9**2, 0.9, 1.0]])
    assert torch.allclose(discounted_returns(rewards, 0.9), expected)


def test_a2c_loss_terms() -> None:
    agent = _agent()
    rollout = play(agent, sample_bandits("independent", make_generator(7), 4, 5), make_generator(8))
    loss, stats = a2c_loss(rollout, gamma=0.9, value_cost=0.05, entropy_cost=0.05)
    adv = discounted_returns(rollout.rewards, 0.9) - rollout.values
    hand = (-(rollout.log_probs * adv.detach()).mean() + 0.05 * 0.5 * adv.pow(2).mean()
            - 0.05 * rollout.entropy.mean())
    assert torch.allclose(loss, hand)
    loss.backward()
    assert all(p.grad is not None for p in agent.lstm.parameters())
    assert set(stats) == {"loss", "reward", "entropy", "value_loss"}


def test_greedy_play_takes_the_likelier_side() -> None:
    rollout = play_frozen(_agent(), sample_bandits("independent", make_generator(9), 5, 8), make_generator(1),
                          greedy=True)
    assert torch.equal(rollout.actions, rollout.probs.argmax(dim=-1))
