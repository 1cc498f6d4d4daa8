"""The Compare page in Streamlit's AppTest: table, plot and CSV agree; controls and problems in place."""

from __future__ import annotations

import io
import shutil

import pandas as pd
import pytest
import streamlit as st
from helpers import alerts, app, figures, page

from lab.tasks.omniglot import default_omniglot_path

FAST = {"episodes": "10", "queries": "2"}  # small runs: these tests check the page, not the learners


def compare_page(**params: str):
    at = page("pages/compare.py")
    for key, value in {**FAST, **params}.items():
        at.query_params[key] = value
    return at


@pytest.fixture(autouse=True)
def _assets(lab_assets, tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_ASSETS_DIR", str(lab_assets))
    monkeypatch.setenv("LAB_HOME", str(tmp_path / "home"))  # no user models from the machine running the tests


@pytest.fixture
def downloads(monkeypatch) -> list:
    """Record what the page hands to ``st.download_button``."""
    seen: list = []
    original = st.download_button

    def recording(label, data, *args, **kwargs):
        seen.append(data)
        return original(label, data, *args, **kwargs)

    monkeypatch.setattr(st, "download_button", recording)
    return seen


def test_default_render_table_plot_and_csv_agree(downloads) -> None:
    at = compare_page().run()
    assert not at.exception and not alerts(at)
    table = at.dataframe[0].value
    assert list(table.columns) == ["method", "ways", "shots", "metric", "mean", "ci95", "n", "ms_per_episode"]
    # The fixture has ProtoNet, Relation Net and MAML models, no first-order one; 5 ways x 1 and 5 shots.
    assert list(table["method"].unique()) == ["protonet", "relation", "maml", "pixel-nn"]
    assert set(zip(table["ways"], table["shots"], strict=True)) == {(5, 1), (5, 5)} and (table["n"] == 10).all()
    csv = pd.read_csv(io.StringIO(downloads[-1]))
    pd.testing.assert_frame_equal(csv, table.reset_index(drop=True), check_dtype=False)
    fig = figures(at)["accuracy"]
    lines = [t for t in fig["data"] if t.get("error_y")]
    assert len(lines) == 4 and all(len(t["customdata"]["bdata"] if isinstance(t["customdata"], dict)
                                       else t["customdata"]) for t in lines)
    assert any("First-order MAML" in c.value for c in at.caption)  # said why it is missing
    assert at.get("plotly_chart")[0].proto.alt


def test_controls_add_a_panel_and_drop_a_learner() -> None:
    at = compare_page().run()
    at.pills(key="ways").set_value([5, 10]).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert sorted(table["ways"].unique()) == [5, 10]
    assert [a["text"] for a in figures(at)["accuracy"]["layout"]["annotations"]] == ["5-way", "10-way"]
    at.pills(key="learners").set_value(["protonet", "pixel-nn"]).run()
    assert list(at.dataframe[0].value["method"].unique()) == ["protonet", "pixel-nn"]


def test_nothing_chosen_is_reported_in_place() -> None:
    at = compare_page().run()
    at.pills(key="shots").set_value([]).run()
    assert not at.exception
    assert at.error and "at least one" in at.error[0].value and not at.dataframe


@pytest.mark.skipif(default_omniglot_path() is None, reason="needs an Omniglot copy")
def test_impossible_setting_is_reported_in_place() -> None:
    at = compare_page(data="omniglot", shots="10", queries="15").run()  # 25 drawings of a 20-drawing character
    assert not at.exception
    assert at.error and "k_shot + n_query <= 20" in at.error[0].value


def test_missing_omniglot_is_reported_in_place(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LAB_OMNIGLOT_DIR", str(tmp_path / "nowhere"))
    at = compare_page(data="omniglot").run()
    assert not at.exception
    assert at.error and "Omniglot" in at.error[0].value


def test_corrupt_checkpoint_is_reported_in_place(lab_assets, tmp_path, monkeypatch) -> None:
    folder = tmp_path / "assets"
    shutil.copytree(lab_assets, folder)
    (folder / "maml_glyphs.pt").write_bytes(b"not a checkpoint")
    monkeypatch.setenv("LAB_ASSETS_DIR", str(folder))
    at = compare_page().run()
    assert not at.exception
    assert any("could not be loaded" in e.value and "maml_glyphs" in e.value for e in at.error)


def test_without_models_the_pixel_baseline_still_runs(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LAB_ASSETS_DIR", str(tmp_path))
    at = compare_page().run()
    assert not at.exception
    assert list(at.dataframe[0].value["method"].unique()) == ["pixel-nn"]
    assert any("python -m lab pretrain" in c.value for c in at.caption)


def test_language_switch_turns_the_page_chinese() -> None:
    at = app()
    at.switch_page("pages/compare.py")
    for key, value in FAST.items():
        at.query_params[key] = value
    at.run()
    assert at.title[0].value.startswith("Compare learners")
    at.segmented_control(key="lang").set_value("zh").run()
    assert not at.exception
    assert "学习者对比" in at.title[0].value
    assert "准确率" in figures(at)["accuracy"]["layout"]["title"]["text"]


@pytest.mark.parametrize("param,value", [("ways", "abc"), ("shots", "99"), ("learners", "knn"), ("episodes", "7"),
                                         ("queries", "-1")])
def test_garbage_in_the_link_opens_with_valid_values(param: str, value: str) -> None:
    at = compare_page(**{param: value}).run()
    assert not at.exception
    assert at.select_slider(key="episodes").value in (10, 20, 50, 100, 200, 600)
    assert at.error or at.dataframe  # either a table or a reason in place, never a traceback
