"""Figures of the Optimizer lesson, built from :mod:`lab.demos.optimizers` results.

* :func:`race_figure` - the landscape's contour with every optimizer's path, animated step by step (one
  frame per step, at most :data:`MAX_FRAMES`), and an invisible grid of points to click for a new start.
* :func:`loss_figure` - loss against step for every optimizer (log scale), for the 2-D race and the MLP.
* :func:`rates_histogram` / :func:`rates_by_layer` - Meta-SGD's learned rates.
* :func:`adaptation_figure` - Meta-SGD and MAML fitting the same sinusoid from the same points.
"""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from _plotly_utils.utils import to_typed_array_spec

from lab.i18n import translator
from lab.tasks.optimizees import SURFACES
from lab.viz import BLACK, OKABE_ITO, SEQUENTIAL_SCALE, SUPPORT_COLOR, TRUTH_COLOR
from lab.viz.style import apply_style

if TYPE_CHECKING:
    from lab.demos.optimizers import MetaSGDDemo, Race

COLORS = {"learned": OKABE_ITO[5], "sgd": OKABE_ITO[0], "momentum": OKABE_ITO[1], "rmsprop": OKABE_ITO[2],
          "adam": OKABE_ITO[3], "meta-sgd": OKABE_ITO[5], "maml": OKABE_ITO[0]}
MAX_FRAMES = 60  # longer races animate every k-th step: frames stay light enough to send
FRAME_MS = 120
CLICK_GRID = 30  # clickable points per axis for choosing a start


def _f32(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)


def _until(path: np.ndarray, step: int) -> dict:
    # Already encoded the way plotly would encode it (same JSON): plotly then skips validating the array,
    # which is most of the cost of a race's frames.
    return to_typed_array_spec(_f32(path[: step + 1]))


def landscape_image(z: np.ndarray, bands: int = 30) -> str:
    """Return a PNG data URL of ``log10(1 + z)`` (``z [rows = y ascending, cols = x]``) in banded Viridis.

    The landscape is a picture under the axes, not a contour trace: plotly.js drops a contour trace from the
    plot when an animation runs (seen in Chromium, plotly 6), and a picture is never touched by frames.
    """
    from PIL import Image
    from plotly.colors import sample_colorscale, unlabel_rgb

    v = np.log10(1 + np.clip(z, 0, None))
    v = (v - v.min()) / max(float(np.ptp(v)), 1e-12)
    v = np.floor(v * bands) / bands  # bands of equal height: reads like contour lines
    lut = np.array([unlabel_rgb(c) for c in sample_colorscale(SEQUENTIAL_SCALE, np.linspace(0, 1, 256))], np.uint8)
    image = Image.fromarray(lut[(v * 255).astype(int)][::-1])  # image row 0 is the top (largest y)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def race_figure(race: Race, lang: str = "en") -> go.Figure:
    """Return the landscape ``log10(1 + f)`` with every optimizer's path, animated over the steps.

    The last trace is a grid of invisible points whose ``customdata`` is their ``(x, y)``: clicking one
    (with the chart's point selection on) tells the page where to start.
    """
    tr = translator(lang)
    fig = go.Figure()
    fig.add_layout_image(source=landscape_image(race.z), xref="x", yref="y", x=float(race.xs[0]), y=float(race.ys[-1]),
                         sizex=float(race.xs[-1] - race.xs[0]), sizey=float(race.ys[-1] - race.ys[0]),
                         sizing="stretch", layer="below")
    path_traces = []
    for name, p in race.paths.items():
        label = tr(f"opt.method.{name}") + ("" if p.diverged_at is None else " ✗")
        path_traces.append(len(fig.data))
        fig.add_trace(go.Scatter(x=_f32(p.path[:, 0]), y=_f32(p.path[:, 1]), mode="lines+markers", name=label,
                                 line=dict(color=COLORS[name], width=3), marker=dict(size=4),
                                 hovertemplate=label + " %{x:.2f}, %{y:.2f}<extra></extra>"))
    x0, y0 = race.start
    fig.add_trace(go.Scatter(x=[x0], y=[y0], mode="markers", name=tr("opt.fig.start"), hoverinfo="skip",
                             marker=dict(symbol="circle", size=14, color="white", line=dict(color=BLACK, width=2))))
    mx, my = SURFACES[race.landscape].minimum
    fig.add_trace(go.Scatter(x=[mx], y=[my], mode="markers", name=tr("opt.fig.minimum"), hoverinfo="skip",
                             marker=dict(symbol="star", size=18, color="white", line=dict(color=BLACK, width=1.5))))
    gx, gy = np.meshgrid(np.linspace(float(race.xs[0]), float(race.xs[-1]), CLICK_GRID),
                         np.linspace(float(race.ys[0]), float(race.ys[-1]), CLICK_GRID))
    fig.add_trace(go.Scatter(x=_f32(gx.ravel()), y=_f32(gy.ravel()), mode="markers", showlegend=False,
                             marker=dict(size=14, opacity=0), customdata=np.round(np.stack([gx.ravel(), gy.ravel()], 1), 2).tolist(),
                             hovertemplate=tr("opt.fig.click") + " (%{x:.2f}, %{y:.2f})<extra></extra>"))
    stride = max(1, -(-race.steps // MAX_FRAMES))
    shown = list(range(0, race.steps + 1, stride))
    if shown[-1] != race.steps:
        shown.append(race.steps)
    # Plain dicts: go.Frame objects would be built twice (again when the figure copies them in).
    fig.frames = [dict(name=str(s), traces=path_traces,
                       data=[dict(type="scatter", x=_until(p.path[:, 0], s), y=_until(p.path[:, 1], s))
                             for p in race.paths.values()]) for s in shown]
    play = dict(frame=dict(duration=FRAME_MS, redraw=False), transition=dict(duration=0), fromcurrent=False,
                mode="immediate")
    fig.update_layout(
        updatemenus=[dict(type="buttons", direction="left", x=0.0, y=-0.17, xanchor="left", yanchor="top",
                          showactive=False, buttons=[
                              dict(label="▶ " + tr("fig.play"), method="animate", args=[None, play]),
                              dict(label=tr("fig.pause"), method="animate",
                                   args=[[None], dict(frame=dict(duration=0, redraw=False), mode="immediate")])])],
        sliders=[dict(active=len(shown) - 1, x=0.34, len=0.66, y=-0.16, yanchor="top", pad=dict(t=0, b=0),
                      currentvalue=dict(prefix=tr("opt.fig.step_prefix"), font=dict(size=15)),
                      steps=[dict(method="animate", label=str(s), args=[[str(s)], dict(
                          mode="immediate", frame=dict(duration=0, redraw=False), transition=dict(duration=0))])
                          for s in shown])],
        clickmode="event+select", dragmode=False)
    fig.update_xaxes(title_text="x", range=[float(race.xs[0]), float(race.xs[-1])], showgrid=False, zeroline=False)
    fig.update_yaxes(title_text="y", range=[float(race.ys[0]), float(race.ys[-1])], showgrid=False, zeroline=False)
    return apply_style(fig, tr("opt.race.title", landscape=tr(f"opt.landscape.{race.landscape}")), height=560,
                       top=110, bottom=150)


def clicked_start(points: list[dict]) -> tuple[float, float] | None:
    """Return the ``(x, y)`` of the first clicked point of :func:`race_figure`'s click grid, else ``None``."""
    for point in points:
        data = point.get("customdata")
        if isinstance(data, dict):  # a typed array comes back from the browser as {"0": value}
            data = list(data.values())
        if isinstance(data, (list, tuple)) and len(data) == 2 and all(isinstance(v, (int, float)) for v in data):
            return round(float(data[0]), 2), round(float(data[1]), 2)  # the browser sends float32 noise
    return None


def loss_figure(losses: dict[str, np.ndarray], title: str, lang: str = "en") -> go.Figure:
    """Return loss (log scale) against step, one line per optimizer; a diverged line stops where it diverged."""
    tr = translator(lang)
    fig = go.Figure()
    for name, values in losses.items():
        values = np.asarray(values, dtype=np.float64)
        fig.add_trace(go.Scatter(x=np.arange(len(values)), y=np.clip(values, 1e-12, None), mode="lines",
                                 name=tr(f"opt.method.{name}"), line=dict(color=COLORS[name], width=3)))
    fig.update_xaxes(title_text=tr("opt.fig.step"))
    fig.update_yaxes(title_text=tr("opt.fig.loss"), type="log", tickformat=".2g", minor=dict(showgrid=False))
    return apply_style(fig, title, height=440, top=110)


def rates_histogram(demo: MetaSGDDemo, lang: str = "en") -> go.Figure:
    """Return a histogram of all of Meta-SGD's learned rates, with MAML's single 0.01 marked."""
    tr = translator(lang)
    values = np.concatenate(list(demo.rates.values()))
    fig = go.Figure(go.Histogram(x=_f32(values), nbinsx=60, marker=dict(color=COLORS["meta-sgd"]),
                                 name=tr("opt.msgd.rates")))
    fig.add_vline(x=0.01, line=dict(color=BLACK, dash="dash", width=2),
                  annotation_text=tr("opt.msgd.maml_rate"), annotation_position="top right")
    fig.update_xaxes(title_text=tr("opt.msgd.rate_axis"))
    fig.update_yaxes(title_text=tr("opt.msgd.count"))
    return apply_style(fig, tr("opt.msgd.hist_title", n=len(values)), height=400, top=80)


def rates_by_layer(demo: MetaSGDDemo, lang: str = "en") -> go.Figure:
    """Return one box per parameter tensor (layer weight or bias) of its learned rates."""
    tr = translator(lang)
    fig = go.Figure()
    for name, values in demo.rates.items():
        fig.add_trace(go.Box(y=_f32(values), name=name.replace("body.", "layer "), boxpoints="outliers",
                             marker=dict(color=COLORS["meta-sgd"]), showlegend=False))
    fig.add_hline(y=0.01, line=dict(color=BLACK, dash="dash", width=2))
    fig.update_yaxes(title_text=tr("opt.msgd.rate_axis"))
    fig.update_xaxes(title_text=tr("opt.msgd.tensor"))
    return apply_style(fig, tr("opt.msgd.layer_title"), height=400, top=80)


def adaptation_figure(demo: MetaSGDDemo, lang: str = "en") -> go.Figure:
    """Return the true sinusoid, the support points and each learner's fit after its last step (dashed: before)."""
    tr = translator(lang)
    fig = go.Figure(go.Scatter(x=_f32(demo.x_grid), y=_f32(demo.y_true), mode="lines", name=tr("fig.truth"),
                               line=dict(color=TRUTH_COLOR, dash="dot", width=2)))
    fig.add_trace(go.Scatter(x=_f32(demo.support_x), y=_f32(demo.support_y), mode="markers",
                             name=tr("fig.support", k=len(demo.support_x)),
                             marker=dict(color=SUPPORT_COLOR, size=11, line=dict(color="white", width=1.5))))
    for name, fit in demo.fits.items():
        mse = demo.query_mse[name][-1]
        fig.add_trace(go.Scatter(x=_f32(demo.x_grid), y=_f32(fit[0]), mode="lines", showlegend=False,
                                 line=dict(color=COLORS[name], width=1.5, dash="dash"), hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=_f32(demo.x_grid), y=_f32(fit[-1]), mode="lines",
                                 name=f"{tr(f'opt.method.{name}')} (MSE {mse:.3g})",
                                 line=dict(color=COLORS[name], width=3.5)))
    fig.update_xaxes(title_text=tr("fig.x_input"))
    fig.update_yaxes(title_text=tr("fig.y_output"))
    return apply_style(fig, tr("opt.msgd.fit_title", steps=len(next(iter(demo.fits.values()))) - 1), height=440,
                       top=110)
