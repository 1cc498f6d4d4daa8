"""The Optimizer page in AppTest: the race on a landscape (paths animated, start from sliders or a click),
the classifier race, Meta-SGD's rates, a diverging learning rate named in a warning, and the link."""

from __future__ import annotations

import pytest
from helpers import alerts, figures, page

PAGE = "pages/optimizers.py"


@pytest.fixture(autouse=True)
def _assets(lab_assets, monkeypatch):
    monkeypatch.setenv("LAB_ASSETS_DIR", str(lab_assets))


def test_race_draws_every_path_animated_and_the_loss() -> None:
    at = page(PAGE).run()
    assert not at.exception and not alerts(at)
    figs = figures(at)
    assert {"race", "race_loss"} <= set(figs)
    names = [t.get("name") for t in figs["race"]["data"]]
    for label in ("learned (LSTM)", "SGD", "momentum", "RMSprop", "Adam"):
        assert label in names
    assert len(figs["race"]["frames"]) >= 2
    assert len(figs["race_loss"]["data"]) == 5
    assert all(c.proto.alt for c in at.get("plotly_chart"))


def test_sliders_move_the_start_and_a_diverging_rate_is_named() -> None:
    at = page(PAGE).run()
    at.slider(key="x0").set_value(1.5).run()
    at.slider(key="steps").set_value(30).run()
    assert not at.exception
    race = figures(at)["race"]
    start = next(t for t in race["data"] if t.get("name") == "start")
    assert start["x"][0] == pytest.approx(1.5)
    at.select_slider(key="lr_scale").set_value(30.0).run()
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert warnings and "Diverged" in warnings[0] and "SGD" in warnings[0]
    assert "nan" not in warnings[0].lower()


def test_switching_landscape_resets_a_start_outside_its_box() -> None:
    at = page(PAGE).run()
    at.slider(key="y0").set_value(2.9).run()  # inside Rosenbrock's box, outside no other
    at.radio(key="landscape").set_value("beale").run()
    assert not at.exception and not at.error
    at.radio(key="landscape").set_value("rosenbrock").run()
    at.slider(key="y0").set_value(-1.0).run()
    at.radio(key="landscape").set_value("noisy_bowl").run()
    assert not at.exception


def test_mlp_and_meta_sgd_views() -> None:
    at = page(PAGE).run()
    at.radio(key="view").set_value("classifier").run()
    assert not at.exception
    assert len(figures(at)["mlp_loss"]["data"]) == 5
    at.radio(key="act").set_value("relu").run()
    assert not at.exception
    at.radio(key="view").set_value("meta-sgd").run()
    assert not at.exception and not at.error
    figs = figures(at)
    assert {"msgd_fit", "msgd_hist", "msgd_layers"} <= set(figs)
    assert len(figs["msgd_layers"]["data"]) == 6  # 3 weight matrices, 3 bias vectors


def test_chinese_strings() -> None:
    at = page(PAGE)
    at.session_state["lang"] = "zh"
    at.run()
    assert not at.exception
    assert at.title[0].value == "学会优化"
