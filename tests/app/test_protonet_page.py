"""The Prototypical Networks page in AppTest: renders, reacts to controls, reports problems in place."""

from __future__ import annotations

import base64
import shutil

import numpy as np
import pytest
from helpers import alerts, app, figures, page

PAGE = "pages/protonet.py"


def _values(data: list | dict) -> np.ndarray:
    """Return a figure JSON array as numpy: plotly sends numpy arrays as base64 typed arrays (``bdata``)."""
    if isinstance(data, dict):
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=np.dtype(data["dtype"]))
    return np.asarray(data)


@pytest.fixture(autouse=True)
def _assets(lab_assets, tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_ASSETS_DIR", str(lab_assets))
    monkeypatch.setenv("LAB_HOME", str(tmp_path / "home"))  # no user models but the ones a test puts there


def test_default_view_draws_map_strip_and_accuracy_curve() -> None:
    at = page(PAGE).run()
    assert not at.exception
    figs = figures(at)
    assert {"map", "strip", "shots_curve"} <= set(figs)
    assert figs["map"]["data"][0]["type"] == "heatmap"  # PCA 2D: decision regions
    assert list(_values(figs["shots_curve"]["data"][0]["x"])) == [1, 2, 3, 5, 10]  # shots 1, 2, 3, 5, 10
    assert all(c.proto.alt for c in at.get("plotly_chart"))
    assert not at.error
    assert at.selectbox(key="model").value == "protonet · glyphs (shipped)"
    assert any("Click a query" in i.value for i in at.info)
    assert any(" ms " in c.value for c in at.caption)


def test_moving_shots_changes_the_map_but_not_the_curve() -> None:
    at = page(PAGE).run()
    before = figures(at)
    at.slider(key="shots").set_value(5).run()
    assert not at.exception
    after = figures(at)
    assert after["map"]["data"] != before["map"]["data"]
    assert after["shots_curve"]["data"] == before["shots_curve"]["data"]  # same classes, cached apart
    assert after["shots_curve"]["layout"]["shapes"][0]["x0"] == 5  # the marker follows the slider
    at.radio(key="projection").set_value("PCA 3D").run()
    assert not at.exception
    assert figures(at)["map"]["data"][-1]["type"] == "scatter3d"
    assert any("3-D" in c.value for c in at.caption)


def test_more_ways_than_classes_is_an_error_in_place(monkeypatch) -> None:
    import torch

    import lab.demos.fewshot as fewshot_module

    class ThreeClasses:
        name, n_classes, drawings_per_class = "three classes", 3, None

        def class_names(self, ids):
            return [str(int(i)) for i in ids]

        def drawings(self, ids, n, rng):
            return torch.rand((len(ids), n, 1, 28, 28), generator=rng)

    monkeypatch.setattr(fewshot_module, "held_out_source", lambda source, path=None: ThreeClasses())
    at = page(PAGE).run()
    at.number_input(key="seed").set_value(4242).run()  # inputs no earlier test cached
    at.slider(key="ways").set_value(4).run()
    assert not at.exception
    assert any("n_way=4" in e.value and "choose n_way <= 3" in e.value for e in at.error)
    assert "map" not in figures(at)


def test_the_page_in_chinese() -> None:
    at = app()
    at.switch_page(PAGE).run()
    assert at.title[0].value.startswith("Prototypical networks")
    at.segmented_control(key="lang").set_value("zh").run()
    assert not at.exception
    assert "原型网络" in at.title[0].value
    assert "样本数" in at.slider(key="shots").label
    figs = figures(at)
    assert "星形" in figs["map"]["layout"]["title"]["text"]
    assert "样本数" in figs["shots_curve"]["layout"]["xaxis"]["title"]["text"]
    assert any("原型与样例" in s.value for s in at.subheader)  # the brain-link panel


def test_no_model_says_how_to_make_one(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LAB_ASSETS_DIR", str(tmp_path))
    at = page(PAGE).run()
    assert not at.exception
    assert any("python -m lab pretrain" in e.value for e in at.error)


def test_corrupt_checkpoint_is_reported_in_place(lab_assets, tmp_path, monkeypatch) -> None:
    shutil.copytree(lab_assets, tmp_path / "assets")
    (tmp_path / "assets" / "protonet_glyphs.pt").write_bytes(b"not a checkpoint")
    monkeypatch.setenv("LAB_ASSETS_DIR", str(tmp_path / "assets"))
    at = page(PAGE).run()
    assert not at.exception
    assert any("cannot be used" in e.value and "pretrain" in e.value for e in at.error)


def test_unreadable_user_models_are_listed_as_warnings(tmp_path, monkeypatch) -> None:
    models = tmp_path / "home" / "models"
    models.mkdir(parents=True)
    (models / "broken.json").write_text("{not json")
    (models / "broken.pt").write_bytes(b"x")
    at = page(PAGE).run()
    assert not at.exception
    assert any("broken.json" in w.value for w in at.warning)
    assert "map" in figures(at)  # the shipped model still works


def test_out_of_memory_is_reported_in_place(monkeypatch) -> None:
    import torch

    import lab.demos.protonet as demo_module

    def no_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(demo_module, "proto_trace", no_memory)
    at = page(PAGE).run()
    at.number_input(key="seed").set_value(4343).run()
    assert not at.exception
    assert any("ran out of memory" in text and "ways, shots or queries" in text for text in alerts(at))


@pytest.mark.parametrize("param,value", [("ways", "999"), ("shots", "abc"), ("projection", "PCA 9D"),
                                         ("distance", "manhattan"), ("model", "nope"), ("seed", "-1")])
def test_garbage_in_the_link_opens_with_valid_values(param: str, value: str) -> None:
    at = page(PAGE)
    at.query_params[param] = value
    at.run()
    assert not at.exception
    assert at.slider(key="ways").value in range(2, 21) and at.slider(key="shots").value in range(1, 11)
    assert "map" in figures(at)
