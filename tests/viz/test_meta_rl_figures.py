"""Figures of the meta-RL page: one line per player, a hidden-state path, choice probabilities, both languages."""

from __future__ import annotations

import numpy as np

from lab.viz import meta_rl as figs


def test_curves_figure_one_line_per_player_in_both_languages() -> None:
    curves = {"student": np.linspace(0, 3, 10), "meta-rl": np.linspace(0, 1, 10), "random": np.linspace(0, 5, 10)}
    for lang, you in (("en", "You"), ("zh", "你")):
        fig = figs.curves_figure(curves, "bandit-independent", 2, lang)
        assert [t.name for t in fig.data][0] == you and len(fig.data) == 3
        assert "regret" in fig.layout.yaxis.title.text or "遗憾" in fig.layout.yaxis.title.text
    harlow = figs.curves_figure({"student": np.array([0.5, 1.0])}, "harlow", 1)
    assert list(harlow.data[0].y) == [50.0, 100.0]
    assert "You 100.0" in figs.curves_alt({"student": np.array([0.5, 1.0])}, "harlow")


def test_hidden_and_choice_figures() -> None:
    points = np.random.default_rng(0).normal(size=(8, 2))
    p_right = np.linspace(0, 1, 8)
    actions = np.array([0, 1] * 4)
    rewards = np.array([1.0, 0.0] * 4)
    hidden = figs.hidden_figure(points, p_right, actions, rewards, 0.8)
    assert "80%" in hidden.layout.title.text
    assert list(hidden.data[1].marker.color) == list(p_right)
    choice = figs.choice_figure(p_right, actions, rewards, better=np.ones(8))
    names = [t.name for t in choice.data]
    assert names == ["better arm", "p(right)", "choice, rewarded", "choice, no reward"]
    assert len(choice.data[2].x) == 4 and len(choice.data[3].x) == 4
    harlow = figs.choice_figure(p_right, actions, rewards, "zh", better=np.ones(8), harlow=True)
    assert harlow.data[0].name == "有奖励物体所在的一边"
