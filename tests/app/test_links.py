"""Shareable links in AppTest: every control of every page is in lab.links' table with the widget's own range,
a link with bad values opens with the nearest valid ones and a note, and projector mode restyles the figures."""

from __future__ import annotations

import json
import re

import pytest
from helpers import ROOT, TIMEOUT, app, figures, page
from streamlit.testing.v1 import AppTest

from lab.links import PAGE_PARAMS, Choice, Flag, Multi, Number, Text
from lab.viz import OKABE_ITO

NOT_IN_LINK = {"heads"}  # memory's read heads: shown, disabled, fixed by the model
# Each page in each of its views, so that every control is drawn at least once.
VIEWS = [("tasks", {}), ("tasks", {"family": "glyphs"}), ("maml", {}), ("maml", {"tab": "images"}),
         ("protonet", {}), ("relation", {}), ("memory", {}), ("optimizers", {}), ("optimizers", {"view": "classifier"}),
         ("optimizers", {"view": "meta-sgd"}), ("compare", {"episodes": "10", "queries": "1"}),
         ("meta_rl", {"peek": "true"}), ("meta_rl", {"task": "harlow"}), ("virtual", {})]


@pytest.fixture
def _assets(lab_assets, tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_ASSETS_DIR", str(lab_assets))
    monkeypatch.setenv("LAB_HOME", str(tmp_path / "home"))


def _resolve(bound, values):
    return bound(values) if callable(bound) else bound


@pytest.mark.parametrize("name,params", VIEWS, ids=[f"{n}-{'-'.join(p.values()) or 'default'}" for n, p in VIEWS])
def test_every_control_is_in_the_link_and_every_chart_is_readable(_assets, name: str, params: dict) -> None:
    at = page(f"pages/{name}.py")
    at.query_params.update(params)
    at.run()
    assert not at.exception
    specs = PAGE_PARAMS[name]
    kinds = ("slider", "select_slider", "radio", "toggle", "number_input", "selectbox", "button_group", "checkbox",
             "segmented_control", "multiselect", "text_input")
    widgets = [w for kind in kinds for w in at.get(kind) if w.key not in NOT_IN_LINK]
    assert widgets
    values = {w.key: w.value for w in widgets}
    for w in widgets:
        assert w.key in specs, f"page {name}: control {w.key!r} is not in lab.links.PAGE_PARAMS"
        spec = specs[w.key]
        if w.type in ("slider", "number_input"):
            assert isinstance(spec, Number), w.key
            assert (w.min, w.max) == (_resolve(spec.lo, values), _resolve(spec.hi, values)), w.key
        elif w.type == "select_slider":
            assert isinstance(spec, Choice) and {spec.label(o) for o in spec.options} <= set(w.options), w.key
        elif w.type == "button_group":
            assert isinstance(spec, Multi) and set(w.options) <= {str(o) for o in spec.options}, w.key
        elif w.type == "radio":
            assert isinstance(spec, Choice) and set(w.options) <= {str(o) for o in spec.options}, w.key
        elif w.type == "toggle":
            assert isinstance(spec, Flag), w.key
        else:
            assert isinstance(spec, Text | Choice), w.key
    # Every chart: alt text, a title saying what to look at, a title on every axis that shows numbers, the
    # colour-blind-safe palette, and a legend or a one-line reading guide (the caption under it).
    charts = at.get("plotly_chart")
    for chart in charts:
        fig = json.loads(chart.proto.spec)
        layout, where = fig["layout"], f"{name}: {chart.proto.id}"
        assert chart.proto.alt.strip() and layout["title"]["text"].strip(), where
        for axis, props in layout.items():
            # Axes whose ticks are words (column heads of a grid of drawings) name themselves.
            if (re.fullmatch(r"[xy]axis\d*", axis) and props.get("visible", True) and props.get("showticklabels", True)
                    and "ticktext" not in props):
                assert props.get("title", {}).get("text"), f"{where}: {axis} has no title"
        assert [c.upper() for c in layout["colorway"]] == list(OKABE_ITO), where
    legends = sum(json.loads(c.proto.spec)["layout"].get("showlegend", True) for c in charts)
    assert len(at.caption) >= len(charts) - legends


def test_a_bad_link_opens_with_the_nearest_values_and_says_so(sine_assets, monkeypatch) -> None:
    monkeypatch.setenv("LAB_ASSETS_DIR", str(sine_assets))
    at = app()
    at.switch_page("pages/maml.py")
    at.query_params.update({"k": "999", "lr": "7", "amp": "nan", "steps": "3", "phase": "0.7"})
    at.run()
    assert not at.exception
    assert (at.slider(key="k").value, at.select_slider(key="lr").value, at.slider(key="amp").value) == (50, 1.0, 2.0)
    assert (at.slider(key="steps").value, at.slider(key="phase").value) == (3, 0.7)  # valid values are kept
    (note,) = [i.value for i in at.info]
    assert "`999` is outside the slider's range; using **50**" in note
    assert "**lr** = `7` is not one of the options; using **1**" in note and "`nan` is not a number" in note
    assert "steps" not in note and "phase" not in note
    # "Copy link" copies the values the page shows (the address bar may still say k=999 until the next change).
    (button,) = [h.proto.body for h in at.get("html") if "lab-copy-link" in h.proto.body]
    assert 'const query = "k=50&lr=1.0&steps=3&phase=0.7";' in button
    assert {"fit", "loss"} <= set(figures(at))
    at.slider(key="steps").set_value(4).run()  # the note stays while the student works on this page
    assert at.slider(key="k").value == 50 and len(at.info) == 1
    at.switch_page("pages/home.py").run()
    assert not at.info


def test_the_note_is_in_chinese_on_the_chinese_page(lab_assets, monkeypatch) -> None:
    monkeypatch.setenv("LAB_ASSETS_DIR", str(lab_assets))
    at = app()
    at.segmented_control(key="lang").set_value("zh").run()
    at.switch_page("pages/optimizers.py")
    at.query_params.update({"landscape": "beale", "x0": "-99", "steps": "abc", "view": "LANDSCAPE"})
    at.run()
    assert not at.exception
    (note,) = [i.value for i in at.info]
    assert "超出滑块范围，改用 **-4.5**" in note and "不是数字，改用 **100**" in note and "不是可选项之一" in note
    assert at.slider(key="x0").value == -4.5 and at.slider(key="steps").value == 100


def test_projector_mode_enlarges_type_and_thickens_lines(sine_assets, monkeypatch) -> None:
    monkeypatch.setenv("LAB_ASSETS_DIR", str(sine_assets))
    at = app()
    at.switch_page("pages/maml.py").run()
    plain = figures(at)["loss"]
    assert len(at.columns) == 2  # loss and landscape side by side
    at.toggle(key="projector").set_value(True).run()
    assert not at.exception
    big = figures(at)["loss"]
    assert not at.columns  # stacked full width, so the large type does not squeeze them
    assert big["layout"]["font"]["size"] >= 1.3 * plain["layout"]["font"]["size"]
    assert big["layout"]["title"]["font"]["size"] > plain["layout"]["title"]["font"]["size"]
    widths = [(p.get("line", {}).get("width") or 2, b["line"]["width"]) for p, b in zip(plain["data"], big["data"],
                                                                                       strict=True) if "line" in b]
    assert widths and all(b >= 2 * p - 1e-9 and b >= 3 for p, b in widths)
    assert any("font-size: 22px" in h.proto.body for h in at.get("html"))  # the app's own type too
    at.toggle(key="projector").set_value(False).run()
    assert figures(at)["loss"]["layout"]["font"]["size"] == plain["layout"]["font"]["size"]


def test_projector_mode_from_the_link(sine_assets, monkeypatch) -> None:
    monkeypatch.setenv("LAB_ASSETS_DIR", str(sine_assets))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params["projector"] = "1"  # a link opened for the first time (Streamlit itself reads only "true")
    at.run().run()
    at.switch_page("pages/maml.py").run()
    assert not at.exception and at.toggle(key="projector").value
    assert figures(at)["fit"]["layout"]["font"]["size"] >= 20


def test_every_page_is_in_the_link_table_and_audited() -> None:
    # A new page must list its controls in lab.links.PAGE_PARAMS and be drawn once above (every view of it).
    pages = {p.stem for p in (ROOT / "pages").glob("*.py")} - {"__init__", "home", "classroom"}
    assert pages <= set(PAGE_PARAMS), sorted(pages - set(PAGE_PARAMS))
    assert pages <= {name for name, _ in VIEWS}, sorted(pages - {name for name, _ in VIEWS})
