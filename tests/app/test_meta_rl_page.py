"""The meta-RL page in AppTest: the student plays with buttons (choices kept in the session), then the
network's curves, hidden-state path and choice probabilities appear on the same episodes."""

from __future__ import annotations

import pytest
from helpers import app, figures, page

PAGE = "pages/meta_rl.py"


@pytest.fixture(autouse=True)
def _assets(lab_assets, tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_ASSETS_DIR", str(lab_assets))
    monkeypatch.setenv("LAB_HOME", str(tmp_path / "home"))


def _status(at) -> str:
    return next(m.value for m in at.markdown if "trial **" in m.value)


def test_play_first_then_the_network_on_the_same_episode() -> None:
    at = page(PAGE).run()
    assert not at.exception and not at.error
    assert "trial **1** of 20" in _status(at)
    assert not figures(at)  # the network waits until the student has played
    for _ in range(3):
        at.button(key="play_left").click().run()
    assert "trial **4** of 20" in _status(at)
    assert at.session_state["meta_rl_game"]["current"] == [0, 0, 0]
    assert any("You chose Left" in i.value for i in at.info)
    for _ in range(17):
        at.button(key="play_right").click().run()
    assert not at.exception
    game = at.session_state["meta_rl_game"]
    assert game["done"] == [[0, 0, 0] + [1] * 17] and game["current"] == []
    assert "Episode **2** of 10" in _status(at)
    figs = figures(at)
    assert {"curves", "hidden", "choices"} <= set(figs)
    names = [t["name"] for t in figs["curves"]["data"]]
    assert names[:2] == ["You", "Meta-RL network (frozen)"] and "Bayes-optimal" in names
    assert all(c.proto.alt for c in at.get("plotly_chart"))


def test_harlow_shows_the_objects_and_restart_clears_the_game() -> None:
    at = page(PAGE).run()
    at.radio(key="task").set_value("harlow").run()
    assert not at.exception
    assert len(at.get("image")) == 1  # the two objects, side by side
    for _ in range(6):
        at.button(key="play_right").click().run()
    assert not at.exception
    assert any("Episode finished" in s.value for s in at.success)
    curves = figures(at)["curves"]
    assert curves["layout"]["yaxis"]["title"]["text"] == "Chose the rewarded object (%)"
    at.button(key="restart").click().run()
    assert at.session_state["meta_rl_game"]["done"] == []
    assert "curves" not in figures(at)


def test_changing_the_settings_starts_a_new_game_and_fixed_probabilities_apply() -> None:
    at = page(PAGE).run()
    at.button(key="play_left").click().run()
    at.toggle(key="hide").set_value(False).run()
    at.slider(key="p_left").set_value(1.0).run()
    assert at.session_state["meta_rl_game"]["current"] == []
    for _ in range(5):
        at.button(key="play_left").click().run()
    assert "points this episode: **5**" in _status(at)  # the left arm always pays


def test_peek_shows_the_network_without_playing() -> None:
    at = page(PAGE).run()
    at.toggle(key="peek").set_value(True).run()
    assert not at.exception
    figs = figures(at)
    assert {"hidden", "choices"} <= set(figs) and "curves" not in figs


def test_missing_checkpoint_is_reported_in_place(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LAB_ASSETS_DIR", str(tmp_path))
    at = page(PAGE).run()
    assert not at.exception
    assert any("pretrain --only meta-rl-bandit-independent" in e.value for e in at.error)


def test_registered_in_the_app_in_both_languages() -> None:
    at = app()
    at.switch_page("pages/meta_rl.py").run()
    assert not at.exception
    assert at.title[0].value.startswith("The brain as a meta-learner")
    at.sidebar.segmented_control(key="lang").set_value("zh").run()
    assert not at.exception
    assert at.title[0].value.startswith("大脑是元学习者")
