"""The meta-RL page's compute: the game's episodes, replayed rewards, the 2-D projection and the curves."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lab.demos import meta_rl as demo
from lab.learners.meta_rl import MetaRLAgent, MetaRLConfig
from lab.nets import load_params_, random_init

pytestmark = pytest.mark.usefixtures("one_thread")


def _agent(task: str) -> MetaRLAgent:
    agent = MetaRLAgent(MetaRLConfig(task=task, hidden=12, object_features=6))
    return load_params_(agent, random_init(agent, 0))


def test_game_is_the_same_for_the_same_seed_and_fixed_probabilities_apply() -> None:
    a = demo.game_episodes("bandit-independent", 3, 15, (0.2, 0.9))
    b = demo.game_episodes("bandit-independent", 3, 15, (0.2, 0.9))
    assert torch.equal(a.outcomes, b.outcomes) and a.n_episodes == demo.MAX_EPISODES
    assert torch.allclose(a.probs[..., 1], torch.full((demo.MAX_EPISODES, 15), 0.9))


def test_replay_gives_the_pre_drawn_outcomes() -> None:
    batch = demo.game_episodes("bandit-correlated", 0, 8)
    actions = [0, 1, 1, 0, 0, 1, 0, 1]
    expected = [batch.outcomes[2, t, a].item() for t, a in enumerate(actions)]
    assert demo.replay(batch, 2, actions) == expected


def test_projection_matches_numpy_pca() -> None:
    hidden = torch.randn(3, 7, 5, generator=torch.Generator().manual_seed(0))
    points, explained = demo.project_2d(hidden)
    flat = hidden.reshape(-1, 5).double().numpy()
    centred = flat - flat.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    reference = centred @ vt[:2].T
    assert points.shape == (3, 7, 2)
    # Principal axes are defined up to sign.
    assert np.allclose(np.abs(points.reshape(-1, 2)), np.abs(reference), atol=1e-9)
    assert explained == pytest.approx((s[:2] ** 2).sum() / (s**2).sum())


@pytest.mark.parametrize("task, players", [
    ("bandit-independent", {"student", "meta-rl", "thompson", "bayes-optimal", "random"}),
    ("harlow", {"student", "meta-rl", "wsls-object", "random"}),
])
def test_player_curves_cover_the_students_episodes(task: str, players: set) -> None:
    trials = 6 if task == "harlow" else 12
    batch = demo.game_episodes(task, 1, trials)
    run = demo.agent_run(_agent("harlow" if task == "harlow" else "bandit"), batch, 1)
    assert run.hidden_2d.shape == (demo.MAX_EPISODES, trials, 2) and run.p_right.shape == (demo.MAX_EPISODES, trials)
    student = [[0] * trials, [1] * trials]
    curves = demo.player_curves(task, batch, student, run, 1)
    assert set(curves) == players and all(c.shape == (trials,) for c in curves.values())
    if task == "harlow":
        assert curves["wsls-object"][1:].min() == 1.0
    else:
        assert (np.diff(curves["student"]) >= 0).all()  # cumulative regret never falls
        assert curves["bayes-optimal"][-1] <= curves["random"][-1] + 1.0


def test_harlow_screen_puts_the_objects_side_by_side() -> None:
    batch = demo.game_episodes("harlow", 0, 6)
    screen = demo.harlow_screen(batch, 0, 0)
    assert screen.shape == (28, 28 * 2 + 14)
    assert np.array_equal(screen[:, :28], batch.episode(0).observation(0)[0, 0].numpy())


def test_better_side_follows_the_arms_and_the_rewarded_object() -> None:
    bandit = demo.game_episodes("bandit-independent", 0, 5, (0.2, 0.9))
    assert demo.better_side(bandit, 0).tolist() == [1.0] * 5
    harlow = demo.game_episodes("harlow", 0, 6)
    assert demo.better_side(harlow, 1).tolist() == [float(harlow.rewarded_side(t)[1]) for t in range(6)]
