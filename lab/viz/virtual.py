"""Figures of the Virtual tasks page.

* :func:`gallery_figure` — real training characters (left) beside dreamt ones (right): a class per row,
  its drawings in columns.
* :func:`walk_figure` — two strips: the class code walking with the style fixed, the style code walking
  with the class fixed; the sliders' positions framed.
* :func:`curve_figure` — 5-way 1-shot accuracy against the number of real classes, real-only against
  real+virtual, with 95% intervals, one panel per data set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lab.i18n import translator
from lab.viz import BLUE, ORANGE, VERMILLION
from lab.viz.episodes import BLOCK_GAP, GAP, _mosaic, _png_uri
from lab.viz.style import apply_style

if TYPE_CHECKING:
    from lab.demos.virtual import Gallery, Walk

ARM_COLORS = {"real-only": BLUE, "real+virtual": ORANGE}


def gallery_figure(g: Gallery, lang: str = "en") -> go.Figure:
    """Return one image: real characters on the left, dreamt ones on the right, labelled above each block."""
    tr = translator(lang)
    canvas, centres = _mosaic([g.real, g.dreamt])
    height, width = canvas.shape
    size, cols = g.real.shape[-1], g.real.shape[1]
    fig = go.Figure(go.Image(source=_png_uri(canvas), x0=0, y0=0, dx=1, dy=1, hoverinfo="skip"))
    split = cols * (size + GAP) + BLOCK_GAP / 2
    for x, label, color in ((0, tr("virtual.gallery.real"), BLUE), (split, tr("virtual.gallery.dreamt"), ORANGE)):
        fig.add_annotation(x=x, xanchor="left", y=-4, yanchor="bottom", text=f"<b>{label}</b>", showarrow=False,
                           font=dict(color=color, size=15))
    rows = g.real.shape[0]
    fig.update_xaxes(tickvals=centres, ticktext=[str(i % cols + 1) for i in range(2 * cols)],
                     title_text=tr("virtual.gallery.x"), showgrid=False, range=[-4, width + 4])
    fig.update_yaxes(tickvals=[r * (size + GAP) + size / 2 for r in range(rows)],
                     ticktext=[str(r + 1) for r in range(rows)], title_text=tr("virtual.gallery.y"),
                     showgrid=False, range=[height + 2, -30], autorange=False)
    apply_style(fig, tr("virtual.gallery.title"), height=int(min(900, max(320, 60 * rows + 170))), top=80)
    fig.update_layout(showlegend=False)
    return fig


def walk_figure(w: Walk, lang: str = "en") -> go.Figure:
    """Return the two walks as one image (class walk on top), the images where the sliders stand framed."""
    tr = translator(lang)
    strips = np.stack([w.along_class, w.along_style])[:, :, None]  # [2 rows, points, 1, S, S] -> mosaic blocks
    canvas, centres = _mosaic([strips[:, :, 0]])
    size, n = w.along_class.shape[-1], w.along_class.shape[0]
    fig = go.Figure(go.Image(source=_png_uri(canvas), x0=0, y0=0, dx=1, dy=1, hoverinfo="skip"))
    for row, t in ((0, w.class_t), (1, w.style_t)):
        i = int(round(t * (n - 1)))
        x0, y0 = i * (size + GAP) - 1.5, row * (size + GAP) - 1.5
        fig.add_shape(type="rect", x0=x0, x1=x0 + size + 2, y0=y0, y1=y0 + size + 2,
                      line=dict(color=VERMILLION, width=3))
    fig.update_xaxes(tickvals=centres, ticktext=[f"{t:.2f}" for t in np.linspace(0, 1, n)],
                     title_text=tr("virtual.walk.x"), showgrid=False)
    fig.update_yaxes(tickvals=[size / 2, size + GAP + size / 2],
                     ticktext=[tr("virtual.walk.class_row"), tr("virtual.walk.style_row")], showgrid=False,
                     autorange="reversed")
    apply_style(fig, tr("virtual.walk.title"), height=330, top=70)
    fig.update_layout(showlegend=False, margin=dict(l=140))
    return fig


def curve_figure(report: dict[str, Any], lang: str = "en") -> go.Figure:
    """Return accuracy (%) against real classes (log axis) for both arms, one panel per data set, 95% bars."""
    tr = translator(lang)
    rows = report["results"]
    datas = list(dict.fromkeys(r["data"] for r in rows))
    fig = make_subplots(rows=1, cols=len(datas), subplot_titles=[tr(f"virtual.curve.data_{d}") for d in datas],
                        horizontal_spacing=0.1)
    for col, data in enumerate(datas, start=1):
        for method, color in ARM_COLORS.items():
            pts = sorted((r for r in rows if r["data"] == data and r["method"] == method),
                         key=lambda r: r["real_classes"])
            fig.add_trace(go.Scatter(
                x=[r["real_classes"] for r in pts], y=[100 * r["mean"] for r in pts], mode="lines+markers",
                name=tr(f"virtual.curve.{method}"), legendgroup=method, showlegend=col == 1,
                line=dict(color=color, width=3, dash="dot" if method == "real-only" else "solid"),
                error_y=dict(type="data", array=[100 * r["ci95"] for r in pts], visible=True),
                hovertemplate=tr("virtual.curve.hover"),
            ), row=1, col=col)
            repeats = [(r["real_classes"], 100 * m) for r in pts for m in r.get("draw_means", [])]
            if len(repeats) > len(pts):  # the repeats behind each mean, when there are several
                fig.add_trace(go.Scatter(
                    x=[x for x, _ in repeats], y=[y for _, y in repeats], mode="markers", showlegend=False,
                    legendgroup=method, marker=dict(color=color, size=6, opacity=0.45),
                    hovertemplate=tr("virtual.curve.hover"),
                ), row=1, col=col)
        ticks = sorted({r["real_classes"] for r in rows if r["data"] == data})
        fig.update_xaxes(type="log", tickvals=ticks, ticktext=[str(t) for t in ticks],
                         title_text=tr("virtual.curve.x"), row=1, col=col)
    fig.update_yaxes(title_text=tr("virtual.curve.y"))
    return apply_style(fig, tr("virtual.curve.title"), height=420, top=110)


def curve_alt(report: dict[str, Any], lang: str = "en") -> str:
    """Return a one-line text version of the curve for screen readers."""
    tr = translator(lang)
    parts = [f"{r['data']} {r['real_classes']} {tr('virtual.curve.' + r['method'])}: {100 * r['mean']:.1f}%"
             for r in report["results"]]
    return tr("virtual.curve.alt", points="; ".join(parts))
