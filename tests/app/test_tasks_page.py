"""The Tasks & episodes page in AppTest: every family renders; impossible requests explain the limit."""

from __future__ import annotations

import pytest
from helpers import alerts, app, figures, page


def test_sinusoid_tasks_render_and_react() -> None:
    at = page("pages/tasks.py").run()
    assert not at.exception
    before = figures(at)["sine_tasks"]
    at.slider(key="n_tasks").set_value(2).run()
    after = figures(at)["sine_tasks"]
    assert len(after["data"]) == 2 * 3 and after != before
    at.number_input(key="tseed").set_value(7).run()
    assert figures(at)["sine_tasks"] != after


def test_glyph_episode_grid_and_sliders() -> None:
    at = page("pages/tasks.py").run()
    at.radio(key="family").set_value("glyphs").run()
    assert not at.exception
    grid = figures(at)["episode"]
    assert len(grid["layout"]["yaxis"]["ticktext"]) == 5  # default 5 ways
    at.slider(key="shots").set_value(2).run()
    ticks = figures(at)["episode"]["layout"]["xaxis"]["ticktext"]
    assert ticks[:3] == ["S1", "S2", "Q1"]


def test_more_ways_than_classes_is_explained_in_place() -> None:
    at = page("pages/tasks.py").run()
    at.radio(key="family").set_value("glyphs").run()
    at.slider(key="alphabets").set_value(1).run()
    at.slider(key="ways").set_value(45).run()
    assert not at.exception
    assert any("n_way=45" in text and "40" in text for text in alerts(at))


def test_omniglot_without_a_folder_says_how_to_configure(monkeypatch) -> None:
    import lab.demos.episodes as demo_module

    monkeypatch.setattr(demo_module, "default_omniglot_path", lambda: None)
    at = page("pages/tasks.py").run()
    at.radio(key="family").set_value("omniglot").run()
    assert not at.exception
    assert any("LAB_OMNIGLOT_DIR" in i.value for i in at.info)


def test_a_wrong_omniglot_folder_is_reported_in_place(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LAB_OMNIGLOT_DIR", str(tmp_path / "no-such-folder"))
    at = page("pages/tasks.py").run()
    at.radio(key="family").set_value("omniglot").run()
    assert not at.exception
    assert any("no-such-folder" in text and "fix LAB_OMNIGLOT_DIR" in text for text in alerts(at))


def test_omniglot_episode_and_its_drawing_limit() -> None:
    from lab.demos.episodes import omniglot_folder

    if omniglot_folder() is None:
        pytest.skip("Omniglot archives not found (../shared/data/omniglot); set LAB_OMNIGLOT_DIR")
    at = page("pages/tasks.py").run()
    at.radio(key="family").set_value("omniglot").run()
    assert not at.exception
    assert "episode" in figures(at)
    at.slider(key="shots").set_value(15).run()
    at.slider(key="queries").set_value(10).run()
    assert not at.exception
    assert any("k_shot=15 + n_query=10 = 25" in text and "<= 20" in text for text in alerts(at))


def test_chinese() -> None:
    at = app()
    at.switch_page("pages/tasks.py").run()
    at.segmented_control(key="lang").set_value("zh").run()
    assert not at.exception
    assert at.title[0].value == "任务与情节"
