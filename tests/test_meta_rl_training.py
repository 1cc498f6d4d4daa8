"""Meta-RL training: a short run beats random choice; a stopped run resumes to the same weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lab.compute import make_generator
from lab.learners.bandit_baselines import random_actions
from lab.learners.meta_rl import play_frozen
from lab.meta_rl_eval import load_agent
from lab.meta_rl_training import MetaRLTrainConfig, entropy_cost_at, recipe, sample_episodes, train_meta_rl

SMALL = {"net": {"hidden": 16}, "batch": 32, "eval_episodes": 64, "checkpoint_every": 5}


pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_short_run_beats_random_choice(tmp_path: Path) -> None:
    # 20-trial episodes and a larger step than the paper's keep this to seconds (100 updates of 64 episodes).
    config = MetaRLTrainConfig(task="bandit-correlated", trials=20, updates=100, eval_every=100, lr=1e-2,
                               **{**SMALL, "batch": 64})
    result = train_meta_rl(config, out=tmp_path / "agent", run_dir=None)
    agent, meta = load_agent(tmp_path / "agent")
    assert meta["config"]["task"] == "bandit-correlated" and meta["extra"]["updates"] == 100
    episodes = sample_episodes("bandit-correlated", make_generator(11), 200, 20)
    trained = episodes.regret(play_frozen(agent, episodes, make_generator(12)).actions).sum(1).mean().item()
    chance = episodes.regret(random_actions(200, 20, make_generator(13))).sum(1).mean().item()
    assert trained < 0.6 * chance, (trained, chance)  # measured: 1.7 against 4.6
    assert result.curve[-1][2] < result.curve[0][2]  # the held-out regret went down


def test_stopped_run_resumes_to_the_same_weights(tmp_path: Path) -> None:
    config = MetaRLTrainConfig(task="bandit-independent", trials=10, updates=10, eval_every=10, **SMALL)
    straight = train_meta_rl(config, run_dir=None)
    stopped = train_meta_rl(config, run_dir=tmp_path, on_progress=lambda p: p.update < 5, log_every=5)
    assert stopped.stopped and stopped.updates == 5
    resumed = train_meta_rl(config, run_dir=tmp_path)
    assert not resumed.stopped and resumed.updates == 10
    for key, value in straight.agent.state_dict().items():
        assert torch.allclose(value, resumed.agent.state_dict()[key]), key


def test_entropy_schedule_and_recipes() -> None:
    config = MetaRLTrainConfig(updates=11, entropy_cost=0.05, entropy_final=0.0)
    assert entropy_cost_at(config, 0) == 0.05 and entropy_cost_at(config, 10) == 0.0
    assert recipe("harlow").agent_config().task == "harlow"
    assert recipe("bandit-independent").agent_config().hidden == 48  # the paper's bandit LSTM
    with pytest.raises(ValueError, match="choose one of"):
        MetaRLTrainConfig(task="maze")
