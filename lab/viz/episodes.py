"""Figures of the "Tasks & episodes" lesson.

* :func:`sine_tasks_figure` — one small panel per sinusoid task: true curve, support and query points.
* :func:`episode_grid` — one image episode as a grid: a row per class, support columns then query columns.
"""

from __future__ import annotations

import base64
import io
import math
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lab.i18n import translator
from lab.viz import QUERY_COLOR, SUPPORT_COLOR, TRUTH_COLOR
from lab.viz.style import apply_style

if TYPE_CHECKING:
    from lab.demos.episodes import ImageEpisode, SineTasks

GAP = 3  # pixels between images in the grid
BLOCK_GAP = 14  # pixels between the support block and the query block
MAX_ROWS = 12  # classes drawn; more would shrink each drawing below legibility on a projector
MAX_COLS = 10  # drawings per block drawn


def sine_tasks_figure(tasks: SineTasks, lang: str = "en", cols: int = 3) -> go.Figure:
    """Return a grid of subplots, one per task, each titled with its amplitude and phase."""
    tr = translator(lang)
    n = len(tasks.amplitude)
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    titles = [tr("tasks.sine.panel", i=i + 1, amp=f"{a:.2f}", phase=f"{p:.2f}")
              for i, (a, p) in enumerate(zip(tasks.amplitude, tasks.phase, strict=True))]
    fig = make_subplots(rows=rows, cols=cols, shared_xaxes=True, shared_yaxes=True, subplot_titles=titles,
                        horizontal_spacing=0.04, vertical_spacing=0.14 if rows > 1 else 0.1)
    for i in range(n):
        r, c, first = i // cols + 1, i % cols + 1, i == 0
        fig.add_trace(go.Scatter(x=tasks.x_grid, y=tasks.y_true[i], mode="lines", name=tr("fig.truth"),
                                 legendgroup="truth", showlegend=first, hoverinfo="skip",
                                 line=dict(color=TRUTH_COLOR, width=2, dash="dot")), row=r, col=c)
        fig.add_trace(go.Scatter(x=tasks.query_x[i], y=tasks.query_y[i], mode="markers", name=tr("fig.query"),
                                 legendgroup="query", showlegend=first,
                                 marker=dict(color=QUERY_COLOR, size=8, symbol="circle-open", line=dict(width=2))),
                      row=r, col=c)
        fig.add_trace(go.Scatter(x=tasks.support_x[i], y=tasks.support_y[i], mode="markers",
                                 name=tr("fig.support", k=tasks.support_x.shape[1]), legendgroup="support",
                                 showlegend=first, marker=dict(color=SUPPORT_COLOR, size=10,
                                                                line=dict(color="white", width=1.5))),
                      row=r, col=c)
    fig.update_xaxes(title_text=tr("fig.x_input"), row=rows)
    fig.update_yaxes(title_text=tr("fig.y_output"), col=1)
    fig.update_yaxes(range=[-5.5, 5.5])
    return apply_style(fig, tr("tasks.sine.title"), height=250 * rows + 150, top=110)


def _mosaic(blocks: list[np.ndarray]) -> tuple[np.ndarray, list[float]]:
    """Tile ``[rows, cols, H, W]`` blocks side by side into one white-background uint8 image (ink dark).

    Returns the image and the x centre of every column, in pixels.
    """
    rows, size = blocks[0].shape[0], blocks[0].shape[-1]
    width = sum(b.shape[1] * (size + GAP) for b in blocks) + BLOCK_GAP * (len(blocks) - 1)
    height = rows * (size + GAP)
    canvas = np.full((height, width), 255, dtype=np.uint8)
    centres, x0 = [], 0
    for b in blocks:
        for c in range(b.shape[1]):
            for r in range(rows):
                y = r * (size + GAP)
                canvas[y:y + size, x0:x0 + size] = (255 * (1 - np.clip(b[r, c], 0, 1))).astype(np.uint8)
            centres.append(x0 + size / 2)
            x0 += size + GAP
        x0 += BLOCK_GAP
    return canvas, centres


def _png_uri(gray: np.ndarray) -> str:
    from PIL import Image  # pillow ships with Streamlit and plotly's image export

    buf = io.BytesIO()
    Image.fromarray(gray, mode="L").convert("RGB").save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _grid_height(image_h: int, image_w: int, rows: int, plot_w: int = 820) -> int:
    """Return a figure height (px) that fits the image without empty bands: the image keeps its aspect
    ratio, so a wide grid needs less height; ``plot_w`` is the plot width on a typical wide layout."""
    plot_h = min(plot_w * image_h / image_w, rows * 60)
    return int(min(950, max(300, plot_h + 170)))


def episode_grid(ep: ImageEpisode, lang: str = "en", max_rows: int = MAX_ROWS, max_cols: int = MAX_COLS) -> go.Figure:
    """Return the episode as one image: a row per class (at most ``max_rows``), its support drawings, a gap,
    then its query drawings (at most ``max_cols`` each), framed and labelled as support and query."""
    tr = translator(lang)
    support, query = ep.support[:max_rows, :max_cols], ep.query[:max_rows, :max_cols]
    rows, size, k, q = support.shape[0], support.shape[-1], support.shape[1], query.shape[1]
    canvas, centres = _mosaic([support, query])
    height, width = canvas.shape
    fig = go.Figure(go.Image(source=_png_uri(canvas), x0=0, y0=0, dx=1, dy=1, hoverinfo="skip"))
    split = k * (size + GAP) - GAP / 2 + BLOCK_GAP / 2
    for x0, x1, color, label in ((-2, split - BLOCK_GAP / 2 + 1, SUPPORT_COLOR, tr("tasks.grid.support", k=ep.support.shape[1])),
                                 (split + BLOCK_GAP / 2 - 1, width + 1, QUERY_COLOR, tr("tasks.grid.query", q=ep.query.shape[1]))):
        fig.add_shape(type="rect", x0=x0, x1=x1, y0=-2, y1=height - GAP + 2, line=dict(color=color, width=3))
        # Support label grows leftwards from its block's right edge, query label rightwards from its left
        # edge, so the two never overlap however narrow the blocks are.
        support = color == SUPPORT_COLOR
        fig.add_annotation(x=x1 if support else x0, xanchor="right" if support else "left", y=-4,
                           text=f"<b>{label}</b>", showarrow=False, yanchor="bottom", font=dict(color=color, size=15))
    col_labels = [f"S{i + 1}" for i in range(k)] + [f"Q{i + 1}" for i in range(q)]
    row_centres = [r * (size + GAP) + size / 2 for r in range(rows)]
    names = [tr("tasks.grid.row", i=i, name=n) for i, n in enumerate(ep.class_names[:rows])]
    fig.update_xaxes(tickvals=centres, ticktext=col_labels, title_text=tr("tasks.grid.x"), showgrid=False,
                     range=[-4, width + 4], side="bottom")
    fig.update_yaxes(tickvals=row_centres, ticktext=names, title_text=tr("tasks.grid.y"), showgrid=False,
                     range=[height + 2, -30], autorange=False)
    apply_style(fig, tr("tasks.grid.title", n=ep.support.shape[0], k=ep.support.shape[1]),
                height=_grid_height(height, width, rows), top=80)
    fig.update_layout(showlegend=False, margin=dict(l=190))
    return fig
