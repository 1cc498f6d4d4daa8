"""The Relation page in Streamlit's AppTest: renders, reacts to controls, reports problems in place."""

from __future__ import annotations

import shutil

import pytest
from helpers import alerts, app, figures, page


@pytest.fixture(autouse=True)
def _assets(lab_assets, tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_ASSETS_DIR", str(lab_assets))
    monkeypatch.setenv("LAB_HOME", str(tmp_path / "home"))  # no user models from the machine running the tests


def test_renders_both_matrices_and_the_accuracies() -> None:
    at = page("pages/relation.py").run()
    assert not at.exception and not alerts(at)
    figs = figures(at)
    assert {"rel", "proto"} <= set(figs)
    rel, proto = figs["rel"], figs["proto"]
    assert rel["data"][0]["type"] == "heatmap" and rel["data"][0]["zmax"] == 1
    assert rel["layout"]["yaxis"]["ticktext"] == proto["layout"]["yaxis"]["ticktext"]  # the same 15 queries
    assert len(rel["layout"]["yaxis"]["ticktext"]) == 15
    assert [m.label for m in at.metric] == ["Relation Net accuracy", "ProtoNet accuracy", "Queries they agree on"]
    assert all(c.proto.alt for c in at.get("plotly_chart"))
    assert ("dis" in figs) != any("same answer" in s.value for s in at.success)


def test_controls_change_the_episode_and_the_view() -> None:
    at = page("pages/relation.py").run()
    before = figures(at)
    at.slider(key="ways").set_value(7).run()
    after = figures(at)
    assert not at.exception
    assert len(after["rel"]["layout"]["xaxis"]["ticktext"]) == 7 and after["rel"] != before["rel"]
    at.toggle(key="dist").set_value(True).run()
    assert "squared distance" in figures(at)["proto"]["layout"]["title"]["text"]


def test_missing_checkpoints_show_what_to_do(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LAB_ASSETS_DIR", str(tmp_path))
    at = page("pages/relation.py").run()
    assert not at.exception
    assert any("python -m lab pretrain" in e.value for e in at.error)


def test_corrupt_checkpoint_is_reported_in_place(lab_assets, tmp_path, monkeypatch) -> None:
    folder = tmp_path / "assets"
    shutil.copytree(lab_assets, folder)
    (folder / "relation_glyphs.pt").write_bytes(b"not a checkpoint")
    monkeypatch.setenv("LAB_ASSETS_DIR", str(folder))
    at = page("pages/relation.py").run()
    assert not at.exception
    assert any("Relation Net model could not be loaded" in e.value for e in at.error)


def test_missing_omniglot_is_reported_in_place(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LAB_OMNIGLOT_DIR", str(tmp_path / "nowhere"))
    at = page("pages/relation.py")
    at.query_params["data"] = "omniglot"
    at.run()
    assert not at.exception
    assert at.error and "Omniglot" in at.error[0].value


def test_out_of_memory_is_reported_in_place(monkeypatch) -> None:
    import torch

    import lab.demos.relation as demo_module

    def no_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(demo_module, "_scores", no_memory)
    at = page("pages/relation.py").run()
    at.number_input(key="seed").set_value(4242).run()  # inputs no earlier test cached
    assert not at.exception
    assert any("ran out of memory" in text and "ways, shots or queries" in text for text in alerts(at))


def test_language_switch_turns_the_page_chinese() -> None:
    at = app()
    at.switch_page("pages/relation.py").run()
    assert at.title[0].value.startswith("Relation networks")
    at.segmented_control(key="lang").set_value("zh").run()
    assert not at.exception
    assert "关系网络" in at.title[0].value
    assert "类别数" in at.slider(key="ways").label
    assert "关系网络" in figures(at)["rel"]["layout"]["title"]["text"]


@pytest.mark.parametrize("param,value", [("ways", "99"), ("shots", "abc"), ("dist", "maybe"), ("seed", "-4"),
                                         ("rel_model", "nope")])
def test_garbage_in_the_link_opens_with_valid_values(param: str, value: str) -> None:
    at = page("pages/relation.py")
    at.query_params[param] = value
    at.run()
    assert not at.exception
    assert at.slider(key="ways").value in range(2, 21) and {"rel", "proto"} <= set(figures(at))
