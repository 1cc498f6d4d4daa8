"""The Virtual tasks page in AppTest: gallery, latent walks and accuracy curve render and react, in English
and Chinese; a missing generator or report is said in place."""

from __future__ import annotations

import shutil

import pytest
from helpers import app, figures, page

PAGE = "pages/virtual.py"


@pytest.fixture(autouse=True)
def _assets(lab_assets, tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_ASSETS_DIR", str(lab_assets))
    monkeypatch.setenv("LAB_HOME", str(tmp_path / "home"))


def test_default_view_draws_gallery_walk_and_curve() -> None:
    at = page(PAGE).run()
    assert not at.exception
    assert not at.error
    figs = figures(at)
    assert {"gallery", "walk", "curve"} <= set(figs)
    assert figs["gallery"]["data"][0]["type"] == "image"
    curve = figs["curve"]
    assert len(curve["data"]) == 4  # two arms x two data sets
    assert curve["layout"]["xaxis"]["type"] == "log"
    assert all(c.proto.alt for c in at.get("plotly_chart"))
    assert any("+5.0 points" in m.value for m in at.markdown)  # the gains from the report, in words


def test_moving_the_style_slider_changes_only_the_walk() -> None:
    at = page(PAGE).run()
    before = figures(at)
    at.slider(key="style_t").set_value(0.5).run()
    assert not at.exception
    after = figures(at)
    assert after["gallery"] == before["gallery"]
    assert after["walk"]["data"] != before["walk"]["data"]
    frame = after["walk"]["layout"]["shapes"][1]  # the style row's frame moved to the middle of 9 images
    assert frame["x0"] == pytest.approx(4 * (28 + 3) - 1.5)
    at.slider(key="classes").set_value(3).run()
    assert not at.exception
    assert figures(at)["gallery"]["data"] != after["gallery"]["data"]


def test_the_page_in_chinese() -> None:
    at = app()
    at.switch_page(PAGE).run()
    assert at.title[0].value.startswith("Virtual tasks")
    at.segmented_control(key="lang").set_value("zh").run()
    assert not at.exception
    assert "虚拟任务" in at.title[0].value
    assert "类别编码" in at.slider(key="class_t").label
    figs = figures(at)
    assert "准确率" in figs["curve"]["layout"]["yaxis"]["title"]["text"]
    assert any("重放与想象" in s.value for s in at.subheader)  # the brain-link panel


def test_missing_generator_and_report_are_said_in_place(lab_assets, tmp_path, monkeypatch) -> None:
    folder = tmp_path / "assets"
    shutil.copytree(lab_assets, folder)
    (folder / "virtual_glyphs.pt").unlink()
    (folder / "virtual_eval.json").write_text("{not json")
    monkeypatch.setenv("LAB_ASSETS_DIR", str(folder))
    at = page(PAGE).run()
    assert not at.exception
    assert any("pretrain --only virtual-glyphs" in e.value for e in at.error)
    assert any("virtual_eval.json" in w.value for w in at.warning)
    assert not figures(at)


@pytest.mark.parametrize("param,value", [("classes", "99"), ("style_t", "abc"), ("temp", "-3"), ("seed", "-1")])
def test_garbage_in_the_link_opens_with_valid_values(param: str, value: str) -> None:
    at = page(PAGE)
    at.query_params[param] = value
    at.run()
    assert not at.exception
    assert at.slider(key="classes").value in range(2, 9)
    assert "gallery" in figures(at)


def test_the_pen_toggle_reinks_only_the_dreamt_drawings() -> None:
    at = page(PAGE).run()
    assert at.toggle(key="pen").value is True
    inked = figures(at)
    at.toggle(key="pen").set_value(False).run()
    assert not at.exception
    raw = figures(at)
    assert raw["gallery"]["data"] != inked["gallery"]["data"] and raw["walk"] == inked["walk"]


def test_reinked_dreamt_drawings_are_dark_thin_lines_of_the_same_draw() -> None:
    from lab.demos import virtual as demo

    model, card = demo.load_shipped()
    raw = demo.gallery(model, 4, 5, seed=3, seen=demo.seen_classes(card))
    inked = demo.gallery(model, 4, 5, seed=3, seen=demo.seen_classes(card), pen=True)
    assert (raw.real == inked.real).all() and inked.dreamt.shape == raw.dreamt.shape
    assert inked.dreamt.max() == 1.0 and 0.0 <= inked.dreamt.min()
    # Thin: fewer inked pixels than the blurred originals' visible ink, and every one of them where ink was.
    assert (inked.dreamt > 0.5).sum() < (raw.dreamt > 0.2).sum()
    assert ((inked.dreamt > 0.99) <= (raw.dreamt > 0.05)).all()
