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
