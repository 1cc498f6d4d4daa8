"""Projector mode (lab.viz.style): bigger type and thicker lines, the plot area kept, one session's mode
never leaking into another's figures."""

from __future__ import annotations

import threading

import plotly.graph_objects as go

from lab.viz.style import PROJECTOR, apply_style, projector_style, set_projector, wrap_title


def animated() -> go.Figure:
    fig = go.Figure([go.Scatter(x=[0, 1], y=[0, 1], mode="lines+markers", line=dict(width=2), marker=dict(size=8)),
                     go.Heatmap(z=[[0, 1]], colorbar=dict(title=dict(text="weight")))],
                    frames=[go.Frame(data=[go.Scatter(x=[0, 1], y=[1, 0], line=dict(width=1.5))])])
    fig.update_layout(sliders=[dict(y=-0.2, steps=[])], updatemenus=[dict(type="buttons", y=-0.25, buttons=[])])
    return fig


def test_wrap_title() -> None:
    assert wrap_title("Short", 26) == "Short"
    assert wrap_title("Query loss by inner step: lower is better, faster is better", 26) == \
        "Query loss by inner step: lower<br>is better, faster is better"
    assert wrap_title("按内循环步数的查询损失：越低越好，越快越好，越低越好", 26) == "按内循环步数的查询损失：<br>越低越好，越快越好，越低越好"
    assert wrap_title("already<br>two lines that are very long indeed, longer than any chart", 26).count("<br>") == 1


def test_projector_style_keeps_the_plot_area_and_thickens_everything() -> None:
    plain = apply_style(animated(), "A title that is long enough to need a second line on a half-width chart",
                        height=400, top=100, bottom=80)
    plot_px = plain.layout.height - plain.layout.margin.t - plain.layout.margin.b
    big = projector_style(go.Figure(plain), top=100)
    assert big.layout.height - big.layout.margin.t - big.layout.margin.b == plot_px
    assert "<br>" in big.layout.title.text and big.layout.title.font.size == 26 and big.layout.font.size >= 20
    assert big.layout.sliders[0].y < -0.2 and big.layout.updatemenus[0].y < -0.25  # below the bigger axis titles
    assert big.data[0].line.width == 4 and big.data[0].marker.size == 8 * 1.4
    assert big.frames[0].data[0].line.width == 3  # frames too: at least 3 px
    assert big.data[1].colorbar.title.side == "top"
    assert big.layout.xaxis.linecolor == "black" and big.layout.xaxis.tickfont.size >= 18


def test_projector_mode_belongs_to_the_thread_that_set_it() -> None:
    seen = {}

    def student_with_projector() -> None:
        set_projector(True)
        seen["projector"] = apply_style(go.Figure(go.Scatter(y=[1, 2])), "t").layout.font.size

    thread = threading.Thread(target=student_with_projector)
    thread.start()
    thread.join()
    assert not PROJECTOR.get()  # this thread (another session) never turned it on
    assert apply_style(go.Figure(go.Scatter(y=[1, 2])), "t").layout.font.size == 15 < seen["projector"]
