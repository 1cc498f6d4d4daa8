"""The Memory page in Streamlit's AppTest: renders the episode and the instance curve, reacts to controls,
reports problems in place."""

from __future__ import annotations

import shutil

import pytest
from helpers import alerts, figures, page


@pytest.fixture(autouse=True)
def _assets(lab_assets, tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_ASSETS_DIR", str(lab_assets))
    monkeypatch.setenv("LAB_HOME", str(tmp_path / "home"))  # no user models from the machine running the tests


def test_renders_the_episode_the_link_and_the_instance_curve() -> None:
    at = page("pages/memory.py").run()
    assert not at.exception and not alerts(at)
    figs = figures(at)
    assert {"episode", "instances"} <= set(figs)
    episode = figs["episode"]
    assert len(episode["frames"]) == 50  # 5 classes x 10 sights, one frame per step
    kinds = [d["type"] for d in episode["data"]]
    assert kinds.count("heatmap") == 2 and "bar" in kinds
    assert episode["layout"]["sliders"][0]["active"] == 0
    names = [d["name"] for d in figs["instances"]["data"]]
    assert names[:2] == ["this MANN (50 episodes)", "its LSTM baseline (50 episodes)"]
    assert {"humans (paper)", "MANN (paper)", "LSTM (paper)"} <= set(names)
    assert any("Store, then recall" in m.value for m in at.markdown)
    assert all(c.proto.alt for c in at.get("plotly_chart"))


def test_controls_change_the_episode() -> None:
    at = page("pages/memory.py").run()
    at.slider(key="classes").set_value(3).run()
    at.slider(key="sights").set_value(4).run()
    at.slider(key="step").set_value(7).run()
    assert not at.exception and not alerts(at)
    episode = figures(at)["episode"]
    assert len(episode["frames"]) == 12
    assert episode["layout"]["sliders"][0]["active"] == 6
    assert episode["layout"]["xaxis"]["title"]["text"].startswith("Step 7:")
    at.slider(key="slots").set_value(8).run()
    assert not at.exception
    assert "over 8 memory slots" in at.get("plotly_chart")[0].proto.alt


def test_chinese_strings(monkeypatch) -> None:
    at = page("pages/memory.py")
    at.session_state["lang"] = "zh"
    at.run()
    assert not at.exception
    assert "记忆增强网络" in at.title[0].value


def test_missing_checkpoint_says_what_to_run(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LAB_ASSETS_DIR", str(tmp_path))
    at = page("pages/memory.py").run()
    assert not at.exception
    assert any("python -m lab pretrain --only mann-glyphs" in e.value for e in at.error)


def test_corrupt_checkpoint_is_reported_in_place(lab_assets, tmp_path, monkeypatch) -> None:
    folder = tmp_path / "assets"
    shutil.copytree(lab_assets, folder)
    (folder / "mann_glyphs.pt").write_bytes(b"not a checkpoint")
    monkeypatch.setenv("LAB_ASSETS_DIR", str(folder))
    at = page("pages/memory.py").run()
    assert not at.exception
    assert any("cannot be loaded" in e.value for e in at.error)


def test_missing_omniglot_is_reported_in_place(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LAB_OMNIGLOT_DIR", str(tmp_path / "nowhere"))
    at = page("pages/memory.py").run()
    at.radio(key="source").set_value("omniglot").run()
    assert not at.exception
    assert at.info or at.error


def test_a_shorter_episode_pulls_the_step_slider_back_instead_of_crashing() -> None:
    at = page("pages/memory.py").run()
    at.slider(key="step").set_value(40).run()
    at.slider(key="classes").set_value(2)
    at.slider(key="sights").set_value(2)
    at.run()  # 4 steps now; Streamlit raises when a slider's value lies above its new maximum
    assert not at.exception
    assert at.slider(key="step").value == 4 and at.slider(key="step").max == 4
