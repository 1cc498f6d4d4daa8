"""Figure builders: one frame per inner step, titles and axis titles present, palette used, no training."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest

from lab.demos.episodes import image_episode_demo, sine_tasks_demo
from lab.demos.maml_sine import maml_sine_demo
from lab.viz import OKABE_ITO, START_COLORS
from lab.viz.episodes import episode_grid, sine_tasks_figure
from lab.viz.maml import fit_animation, landscape_figure, loss_curves


def _has_titles(fig: go.Figure) -> None:
    """Assert a figure title and, for x and y, at least one titled axis (subplots title the outer ones)."""
    assert fig.layout.title.text
    layout = fig.layout.to_plotly_json()
    for kind in ("xaxis", "yaxis"):
        titled = [k for k, v in layout.items() if k.startswith(kind) and v.get("title", {}).get("text")]
        assert titled, kind


@pytest.mark.parametrize("steps", [0, 1, 5])
def test_fit_animation_has_one_frame_per_step(sine_params, steps: int) -> None:
    demo = maml_sine_demo(*sine_params, 2.0, 0.5, 5, steps, 0.01, 0)
    fig = fit_animation(demo)
    assert len(fig.frames) == steps + 1
    assert [f.name for f in fig.frames] == [str(s) for s in range(steps + 1)]
    assert len(fig.layout.sliders[0].steps) == steps + 1
    assert fig.layout.sliders[0].active == steps
    assert {b.label.split()[-1] for b in fig.layout.updatemenus[0].buttons} == {"Play", "Pause"}
    _has_titles(fig)
    colours = {tr.line.color for tr in fig.data[-3:]}  # the three fitted curves, added last
    assert colours == set(START_COLORS.values())
    assert list(fig.layout.colorway) == list(OKABE_ITO)


def test_loss_and_landscape_figures(sine_params) -> None:
    demo = maml_sine_demo(*sine_params, 2.0, 0.5, 5, 4, 0.01, 0)
    loss = loss_curves(demo)
    _has_titles(loss)
    assert loss.layout.yaxis.type == "log"
    assert [len(tr.y) for tr in loss.data] == [5, 5, 5]
    land = landscape_figure(demo.landscape)
    _has_titles(land)
    assert isinstance(land.data[0], go.Contour) and len(land.data[1].x) == 5


def test_diverged_start_marks_its_panel(sine_params) -> None:
    demo = maml_sine_demo(*sine_params, 2.0, 0.5, 10, 20, 5.0, 0)
    fig = fit_animation(demo)
    assert len(fig.frames) == 21
    assert any("diverged" in a.text for a in fig.layout.annotations)
    assert all(v != v for v in fig.frames[-1].data[0].y)  # NaN: nothing drawn after divergence


def test_chinese_figure_text() -> None:
    fig = sine_tasks_figure(sine_tasks_demo(3, 5, 5, 0), lang="zh")
    assert "任务" in fig.layout.title.text
    assert "输入" in fig.layout.xaxis.title.text


def test_sine_tasks_figure_panels() -> None:
    fig = sine_tasks_figure(sine_tasks_demo(4, 5, 7, 0))
    _has_titles(fig)
    assert len(fig.data) == 4 * 3
    assert len(fig.layout.annotations) == 4  # one title per task panel


def test_episode_grid_layout() -> None:
    ep = image_episode_demo("glyphs", n_way=3, k_shot=2, n_query=4, seed=0, n_alphabets=2)
    assert ep.support.shape == (3, 2, 28, 28) and ep.query.shape == (3, 4, 28, 28)
    fig = episode_grid(ep)
    _has_titles(fig)
    assert list(fig.layout.xaxis.ticktext) == ["S1", "S2", "Q1", "Q2", "Q3", "Q4"]
    assert len(fig.layout.yaxis.ticktext) == 3
    assert fig.data[0].source.startswith("data:image/png;base64,")
    labels = [a.text for a in fig.layout.annotations]
    assert any("Support" in a for a in labels) and any("Query" in a for a in labels)
