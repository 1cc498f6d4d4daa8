"""The MAML page in Streamlit's AppTest: renders, reacts to controls, reports bad input in place."""

from __future__ import annotations

import pytest
from helpers import alerts, app, figures, page


@pytest.fixture(autouse=True)
def _assets(sine_assets, monkeypatch):
    monkeypatch.setenv("LAB_ASSETS_DIR", str(sine_assets))


def test_renders_three_figures_with_alt_text() -> None:
    at = page("pages/maml.py").run()
    assert not at.exception
    figs = figures(at)
    assert set(figs) == {"fit", "loss", "land"}
    assert len(figs["fit"]["frames"]) == 11  # default 10 inner steps + the start
    assert all(c.proto.alt for c in at.get("plotly_chart"))
    assert not alerts(at)


def test_moving_sliders_changes_the_figures() -> None:
    at = page("pages/maml.py").run()
    before = figures(at)
    at.slider(key="steps").set_value(3).run()
    after = figures(at)
    assert not at.exception
    assert len(after["fit"]["frames"]) == 4
    assert after["loss"] != before["loss"]
    at.slider(key="amp").set_value(4.5).run()
    assert figures(at)["fit"]["data"] != after["fit"]["data"]


def test_new_random_task_writes_amplitude_and_phase() -> None:
    at = page("pages/maml.py").run()
    old = (at.slider(key="amp").value, at.slider(key="phase").value)
    at.button[0].click().run()
    assert not at.exception
    new = (at.slider(key="amp").value, at.slider(key="phase").value)
    assert new != old and 0.1 <= new[0] <= 5.0 and 0.0 <= new[1] <= 3.14


def test_diverging_learning_rate_warns_in_place() -> None:
    at = page("pages/maml.py").run()
    at.select_slider(key="lr").set_value(1.0).run()
    at.slider(key="steps").set_value(20).run()
    assert not at.exception
    assert any("diverged" in text and "Lower the inner learning rate" in text for text in alerts(at))
    assert {"fit", "loss", "land"} <= set(figures(at))  # the other figures still show


def test_missing_checkpoints_show_what_to_do(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LAB_ASSETS_DIR", str(tmp_path))
    at = page("pages/maml.py").run()
    assert not at.exception
    assert any("python -m lab pretrain" in e.value for e in at.error)


def test_corrupt_checkpoint_shows_what_to_do(sine_assets, tmp_path, monkeypatch) -> None:
    for f in sine_assets.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    (tmp_path / "maml_sine.pt").write_bytes(b"not a checkpoint")
    monkeypatch.setenv("LAB_ASSETS_DIR", str(tmp_path))
    at = page("pages/maml.py").run()
    assert not at.exception
    assert any("python -m lab pretrain" in e.value for e in at.error)


def test_language_switch_turns_the_page_chinese() -> None:
    at = app()
    at.switch_page("pages/maml.py").run()
    assert at.title[0].value.startswith("MAML: a starting point")
    at.segmented_control(key="lang").set_value("zh").run()
    assert not at.exception
    assert "一个学得快的起点" in at.title[0].value
    assert "内循环" in at.slider(key="steps").label
    assert "拟合曲线" in figures(at)["fit"]["layout"]["title"]["text"]


def test_out_of_memory_is_reported_in_place(monkeypatch) -> None:
    import torch

    import lab.demos.maml_sine as demo_module

    def no_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(demo_module, "adapt", no_memory)
    at = page("pages/maml.py").run()
    at.number_input(key="seed").set_value(4242).run()  # inputs no earlier test cached
    assert not at.exception
    assert any("ran out of memory" in text and "K shots or inner steps" in text for text in alerts(at))


def test_retrained_checkpoints_are_picked_up_without_a_restart(sine_assets, tmp_path, monkeypatch) -> None:
    import shutil

    import torch

    from lab.checkpoint import read_card, save_checkpoint
    from lab.nets import SineMLP

    def write_maml_checkpoint(seed: int) -> None:
        torch.manual_seed(seed)
        config = read_card(tmp_path / "maml_sine")["config"]
        save_checkpoint(tmp_path / "maml_sine", SineMLP().state_dict(), config, "maml_sine")

    shutil.copytree(sine_assets, tmp_path, dirs_exist_ok=True)
    monkeypatch.setenv("LAB_ASSETS_DIR", str(tmp_path))
    at = page("pages/maml.py").run()
    before = figures(at)["fit"]["data"]
    write_maml_checkpoint(99)  # what `python -m lab pretrain` does while the server runs
    at.run()
    assert not at.exception
    assert figures(at)["fit"]["data"] != before


@pytest.mark.parametrize("param,value", [("k", "999"), ("k", "abc"), ("lr", "7"), ("steps", "-3"),
                                         ("amp", "nan"), ("seed", "1e99")])
def test_garbage_in_the_link_opens_with_valid_values(param: str, value: str) -> None:
    at = page("pages/maml.py")
    at.query_params[param] = value
    at.run()
    assert not at.exception
    assert at.slider(key="k").value in range(1, 51) and at.slider(key="steps").value in range(0, 21)
    assert {"fit", "loss", "land"} <= set(figures(at))


# --- The images tab: MAML on characters (small untrained checkpoints from the `lab_assets` fixture) ---


@pytest.fixture
def images_assets(lab_assets, tmp_path, monkeypatch):
    """Point the app at every test checkpoint and at an empty user folder (no trained models of one's own)."""
    monkeypatch.setenv("LAB_ASSETS_DIR", str(lab_assets))
    monkeypatch.setenv("LAB_HOME", str(tmp_path / "home"))
    return lab_assets


def images_page(**params: str):
    """Return the MAML page opened from a link to its images tab (with ``params`` in the link), already run."""
    at = page("pages/maml.py")
    at.query_params.update({"tab": "images", **params})
    return at.run()


def test_images_tab_renders_its_figures_and_only_its_controls(images_assets) -> None:
    at = images_page()
    assert not at.exception
    figs = figures(at)
    assert set(figs) == {"img_pred", "img_loss", "img_acc"}
    assert len(figs["img_pred"]["frames"]) == 6  # default 5 inner steps + the start
    assert all(c.proto.alt for c in at.get("plotly_chart"))
    assert not alerts(at)
    keys = {w.key for w in at.sidebar.get("slider")} | {w.key for w in at.sidebar.get("select_slider")}
    assert keys == {"img_ways", "img_shots", "img_queries", "img_steps", "img_lr"}  # no sinusoid sliders
    assert at.select_slider(key="img_lr").value == 0.4  # the model's own config.inner_lr
    assert at.selectbox(key="img_model").value == "maml · glyphs (shipped)"
    assert any("a new character from one example" in h.value for h in at.subheader)  # its own brain link


def test_images_tab_changing_steps_changes_the_animation(images_assets) -> None:
    at = images_page()
    before = figures(at)
    at.slider(key="img_steps").set_value(2).run()
    after = figures(at)
    assert not at.exception
    assert len(after["img_pred"]["frames"]) == 3
    assert after["img_loss"] != before["img_loss"]
    at.slider(key="img_ways").set_value(3).run()
    assert not at.exception
    assert figures(at)["img_pred"]["layout"]["xaxis2"]["tickvals"] == [1, 2, 3]  # a 3 x 3 probability matrix


def test_images_tab_diverging_learning_rate_is_shown_in_place(images_assets) -> None:
    at = images_page(img_steps="10")
    at.select_slider(key="img_lr").set_value(1e12).run()
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert any("diverged" in w and "Lower the inner learning rate" in w for w in warnings), warnings
    figs = figures(at)
    assert {"img_pred", "img_loss", "img_acc"} <= set(figs)  # the steps before the overflow still show
    assert len(figs["img_pred"]["frames"]) in range(1, 11)


def test_images_tab_in_chinese_keeps_the_tab_and_its_settings(images_assets) -> None:
    at = app()
    at.switch_page("pages/maml.py").run()
    at.session_state["maml_tab"] = "Characters (few-shot classification)"
    at.run()
    at.slider(key="img_steps").set_value(3).run()
    at.segmented_control(key="lang").set_value("zh").run()
    assert not at.exception
    assert at.slider(key="img_steps").value == 3 and "内循环" in at.slider(key="img_steps").label
    assert "查询预测" in figures(at)["img_pred"]["layout"]["title"]["text"]
    assert [t.label for t in at.tabs] == ["正弦波（回归）", "字符（小样本分类）"]


def test_switching_tabs_keeps_the_sinusoid_settings(sine_assets) -> None:
    at = page("pages/maml.py").run()
    at.slider(key="k").set_value(5).run()
    at.session_state["maml_tab"] = "Characters (few-shot classification)"
    at.run()
    assert not at.exception
    assert "k" not in {w.key for w in at.sidebar.get("slider")}  # only the open tab's controls are drawn
    at.session_state["maml_tab"] = "Sine waves (regression)"
    at.run()
    assert not at.exception
    assert at.slider(key="k").value == 5 and {"fit", "loss", "land"} <= set(figures(at))


def test_images_tab_model_picker_lists_ones_own_models_and_their_inner_lr(images_assets, tmp_path) -> None:
    import json
    import shutil

    models = tmp_path / "home" / "models"  # LAB_HOME/models, where `python -m lab train` saves
    models.mkdir(parents=True)
    shutil.copy(images_assets / "maml_glyphs.pt", models / "my_run.pt")
    card = json.loads((images_assets / "maml_glyphs.json").read_text())
    card["config"]["net"]["inner_lr"] = 0.2  # as if meta-trained with another step size
    (models / "my_run.json").write_text(json.dumps(card))
    at = images_page()
    assert at.selectbox(key="img_model").options == ["maml · glyphs (shipped)", "my_run · glyphs"]
    assert at.select_slider(key="img_lr").value == 0.4
    at.selectbox(key="img_model").set_value("my_run · glyphs").run()
    assert not at.exception
    assert at.select_slider(key="img_lr").value == 0.2  # the inner learning rate starts at the model's own
    assert {"img_pred", "img_loss", "img_acc"} <= set(figures(at))


def test_images_tab_corrupt_model_is_reported_in_place(lab_assets, tmp_path, monkeypatch) -> None:
    for f in lab_assets.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    (tmp_path / "maml_glyphs.pt").write_bytes(b"not a checkpoint")
    monkeypatch.setenv("LAB_ASSETS_DIR", str(tmp_path))
    monkeypatch.setenv("LAB_HOME", str(tmp_path / "home"))
    at = images_page()
    assert not at.exception
    assert any("could not be loaded" in e.value and "pretrain" in e.value for e in at.error)


def test_images_tab_without_any_model_says_how_to_make_one(sine_assets, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LAB_HOME", str(tmp_path / "home"))  # sine_assets holds no maml_glyphs checkpoint
    at = images_page()
    assert not at.exception
    assert any("python -m lab pretrain --only maml-glyphs" in e.value for e in at.error)


def test_images_tab_out_of_memory_is_reported_in_place(images_assets, monkeypatch) -> None:
    import torch

    from lab.learners.maml_images import MAMLClassifier

    def no_memory(self, episode, steps=None):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(MAMLClassifier, "adapt_episode", no_memory)
    at = images_page(img_seed="4243")  # inputs no earlier test cached
    assert not at.exception
    assert any("ran out of memory" in text and "ways, queries or inner steps" in text for text in alerts(at))


@pytest.mark.parametrize("param,value", [("img_ways", "999"), ("img_lr", "abc"), ("img_steps", "-3"),
                                         ("img_data", "mnist"), ("img_model", "nope"), ("tab", "xyz")])
def test_images_tab_garbage_in_the_link_opens_with_valid_values(images_assets, param: str, value: str) -> None:
    at = images_page(**{param: value})
    assert not at.exception
    if param == "tab":
        assert {"fit", "loss", "land"} <= set(figures(at))  # an unknown tab opens the first one
    else:
        assert at.slider(key="img_ways").value in range(2, 21) and at.slider(key="img_steps").value in range(0, 11)
        assert {"img_pred", "img_loss", "img_acc"} <= set(figures(at))
