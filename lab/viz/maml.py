"""Figures of the MAML sinusoid lesson, built from a :class:`lab.demos.maml_sine.SineDemo`.

* :func:`fit_animation` — the fitted curve after every inner step, one animation frame per step, for the
  three starting points side by side (MAML / pretrained / random), with the true curve and support points.
* :func:`loss_curves` — query MSE against inner steps for the three.
* :func:`landscape_figure` — the support loss on a 2-D plane through parameter space, with MAML's path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from lab.i18n import translator
from lab.viz import BLACK, SEQUENTIAL_SCALE, START_COLORS, SUPPORT_COLOR, TRUTH_COLOR
from lab.viz.style import apply_style, axis_ref, side_by_side

if TYPE_CHECKING:
    from lab.demos.maml_sine import SineDemo
    from lab.learners.landscape import Landscape

FRAME_MS = 450  # animation speed: slow enough to follow one step at a time on a projector


def _r(a: np.ndarray, dtype: type = np.float32) -> np.ndarray:
    """Return ``a`` as float32: plotly skips per-element validation of numpy arrays and sends them as
    compact base64 typed arrays, which keeps slider-to-figure time and page weight low."""
    return np.asarray(a, dtype=dtype)


def _y_range(demo: SineDemo) -> list[float]:
    top = max(float(np.abs(demo.y_true).max()), 1.0) * 1.4 + 0.3
    return [-top, top]


def _prediction_at(demo: SineDemo, name: str, step: int) -> np.ndarray:
    """Return the fitted curve at ``step``; all NaN (drawn as nothing) after a start's inner loop diverged."""
    preds = demo.starts[name].predictions
    if step >= len(preds):
        return np.full(len(demo.x_grid), np.nan, dtype=np.float32)
    return _r(preds[step])


def _start_title(demo: SineDemo, name: str, tr) -> str:
    title = tr(f"start.{name}")
    trace = demo.starts[name]
    return title if trace.error is None else title + "<br>" + tr("fig.diverged", step=len(trace.query_loss) - 1)


def fit_animation(demo: SineDemo, lang: str = "en") -> go.Figure:
    """Return a figure with ``demo.steps + 1`` animation frames (one per inner step, 0 = before adapting).

    Three subplots (MAML, pretrained, random start) share the y axis; each shows the true curve, the
    support points and that start's fitted curve. Play/pause buttons and a step slider drive the frames;
    the still view shows the last step.
    """
    tr = translator(lang)
    names = list(demo.starts)
    fig = go.Figure(layout=side_by_side(len(names), [_start_title(demo, n, tr) for n in names],
                                        [START_COLORS[n] for n in names]))
    x = _r(demo.x_grid)
    last = demo.steps
    for i in range(len(names)):
        panel = dict(xaxis=axis_ref("x", i), yaxis=axis_ref("y", i))
        fig.add_trace(go.Scatter(x=x, y=_r(demo.y_true), mode="lines", name=tr("fig.truth"), legendgroup="truth",
                                 line=dict(color=TRUTH_COLOR, dash="dot", width=2), showlegend=i == 0,
                                 hoverinfo="skip", **panel))
        fig.add_trace(go.Scatter(x=_r(demo.support_x), y=_r(demo.support_y), mode="markers",
                                 name=tr("fig.support", k=demo.k_shot), legendgroup="support", showlegend=i == 0,
                                 marker=dict(color=SUPPORT_COLOR, size=10, line=dict(color="white", width=1.5)),
                                 **panel))
    fit_indices = []
    for i, name in enumerate(names):
        fit_indices.append(len(fig.data))
        # No legend entry: the subplot title, in the same colour, names the start.
        fig.add_trace(go.Scatter(x=x, y=_prediction_at(demo, name, last), mode="lines", name=tr(f"start.{name}"),
                                 showlegend=False, line=dict(color=START_COLORS[name], width=3.5),
                                 xaxis=axis_ref("x", i), yaxis=axis_ref("y", i)))
    frames, slider_steps = [], []
    for step in range(last + 1):
        frames.append(go.Frame(name=str(step), traces=fit_indices,
                               data=[go.Scatter(y=_prediction_at(demo, n, step)) for n in names]))
        slider_steps.append(dict(method="animate", label=str(step),
                                 args=[[str(step)], dict(mode="immediate", frame=dict(duration=0, redraw=False),
                                                         transition=dict(duration=0))]))
    fig.frames = frames
    play = dict(frame=dict(duration=FRAME_MS, redraw=False), transition=dict(duration=0), fromcurrent=False,
                mode="immediate")
    pause = dict(frame=dict(duration=0, redraw=False), mode="immediate", transition=dict(duration=0))
    fig.update_layout(
        updatemenus=[dict(type="buttons", direction="left", x=0.0, y=-0.23, xanchor="left", yanchor="top",
                          showactive=False, pad=dict(r=10, t=0),
                          buttons=[dict(label="▶ " + tr("fig.play"), method="animate", args=[None, play]),
                                   dict(label=tr("fig.pause"), method="animate", args=[[None], pause])])],
        sliders=[dict(active=last, steps=slider_steps, x=0.2, len=0.8, y=-0.18, yanchor="top",
                      currentvalue=dict(prefix=tr("fig.step_prefix"), font=dict(size=15)),
                      pad=dict(t=0, b=0))],
    )
    fig.update_xaxes(title_text=tr("fig.x_input"), range=[-5.2, 5.2])
    fig.update_yaxes(range=_y_range(demo))
    fig.layout.yaxis.title.text = tr("fig.y_output")
    two_line_titles = any(t.error for t in demo.starts.values())
    apply_style(fig, tr("maml.fit.title"), height=540, top=140 if two_line_titles else 115, bottom=165)
    return fig


def _log_ticks(demo: SineDemo) -> list[float]:
    """Return 1-2-5 tick values spanning the finite query losses (few, readable labels on a log axis)."""
    values = np.concatenate([t.query_loss for t in demo.starts.values()] + [np.ones(1)])
    values = values[np.isfinite(values) & (values > 0)]
    lo, hi = np.floor(np.log10(values.min())), np.ceil(np.log10(values.max()))
    ticks = [m * 10.0 ** e for e in np.arange(lo, hi + 1) for m in (1, 2, 5)]
    inside = [v for v in ticks if values.min() / 2 <= v <= values.max() * 2]
    if len(inside) <= 9:
        return inside
    every = int(np.ceil((hi - lo + 1) / 8))  # at most ~8 decade ticks, e.g. 1, 1e3, 1e6, ...
    return [10.0 ** e for e in np.arange(lo, hi + 1, every)]


def loss_curves(demo: SineDemo, lang: str = "en") -> go.Figure:
    """Return query MSE (log scale) against inner step for each start; a diverged start's line stops early."""
    tr = translator(lang)
    fig = go.Figure()
    for name, trace in demo.starts.items():
        steps = list(range(len(trace.query_loss)))
        fig.add_trace(go.Scatter(x=steps, y=_r(trace.query_loss, np.float64), mode="lines+markers", name=tr(f"start.{name}"),
                                 line=dict(color=START_COLORS[name], width=3), marker=dict(size=7)))
    fig.update_xaxes(title_text=tr("fig.inner_step"), range=[-0.3, max(demo.steps, 1) + 0.3], dtick=max(1, demo.steps // 10))
    fig.update_yaxes(title_text=tr("fig.query_mse"), type="log", tickvals=_log_ticks(demo), tickformat=".3g",
                     minor=dict(showgrid=False))
    return apply_style(fig, tr("maml.loss.title"), height=460, top=120)


def landscape_figure(land: Landscape, lang: str = "en") -> go.Figure:
    """Return a contour of log10 support MSE on the plane with the projected path (one marker per step)."""
    tr = translator(lang)
    z = np.log10(np.clip(land.loss.numpy(), 1e-6, None))
    fig = go.Figure(go.Contour(
        x=_r(land.alphas.numpy()), y=_r(land.betas.numpy()), z=_r(z), colorscale=SEQUENTIAL_SCALE,
        ncontours=24, contours=dict(coloring="heatmap", showlines=True), line=dict(width=0.5, color="white"),
        colorbar=dict(title=dict(text=tr("fig.log_loss"), side="right"), thickness=14),
        name=tr("fig.support_loss"), hovertemplate="α=%{x:.2f}<br>β=%{y:.2f}<br>log10 MSE=%{z:.2f}<extra></extra>"))
    path = land.path.numpy()
    steps = np.arange(len(path))
    fig.add_trace(go.Scatter(
        x=_r(path[:, 0]), y=_r(path[:, 1]), mode="lines+markers+text", name=tr("fig.path"),
        text=[str(s) if s in (0, len(path) - 1) or len(path) <= 8 else "" for s in steps],
        textposition="top center", textfont=dict(color="white", size=15),
        line=dict(color=BLACK, width=2.5), marker=dict(size=10, color="white", line=dict(color=BLACK, width=2)),
        customdata=steps, hovertemplate=tr("fig.step_prefix") + "%{customdata}<extra></extra>"))
    fig.update_xaxes(title_text=tr("fig.dir1"), showgrid=False)
    fig.update_yaxes(title_text=tr("fig.dir2"), showgrid=False, scaleanchor="x", scaleratio=1)
    apply_style(fig, tr("maml.land.title"), height=460, top=60)
    fig.update_layout(showlegend=False)
    return fig
