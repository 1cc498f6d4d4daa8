"""Figures of the MAML image lesson, built from a :class:`lab.demos.maml_images.ImagesDemo`.

* :func:`prediction_animation` — one animation frame per inner step. Left: the episode, a row per class
  (support drawings, then query drawings framed by whether the model classifies them right yet). Right, on
  the same rows: the mean probability the queries of each true class give to each class; the diagonal
  lights up as the model adapts.
* :func:`loss_curves` — support and query cross-entropy against inner step.
* :func:`accuracy_curve` — query accuracy against inner step, with the chance level 1/N.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from lab.i18n import translator
from lab.viz import BLACK, GREEN, QUERY_COLOR, SUPPORT_COLOR, VERMILLION
from lab.viz.episodes import BLOCK_GAP, GAP, _mosaic, _png_uri  # the Tasks page's episode-grid drawing
from lab.viz.maml import FRAME_MS
from lab.viz.style import apply_style

if TYPE_CHECKING:
    from lab.demos.maml_images import ImagesDemo

UNDECIDED = "#8C8C8C"  # grey: the top two probabilities are equal, e.g. every class at step 0
TIE = 1e-6  # probabilities closer than this count as equal
PROB_SCALE = [[0.0, "#FFFFFF"], [1.0, "#08306B"]]  # white -> dark blue: one hue, readable when projected
MATRIX_TEXT_MAX_WAYS = 8  # print the probability in each cell up to this many ways
PANEL_PX = 380  # typical on-screen width of the episode image (half the plot of a wide Streamlit page)


def query_status(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Return one status per query, ``probs`` ``[Q, N]`` and ``labels`` ``[Q]``: 1 right (the true class has
    the highest probability), 0 wrong, -1 undecided (a tie for the highest probability)."""
    top2 = np.sort(probs, axis=-1)[:, -2:]
    right = np.where(probs.argmax(-1) == labels, 1, 0)
    return np.where(top2[:, 1] - top2[:, 0] < TIE, -1, right)


def class_confusion(probs: np.ndarray, labels: np.ndarray, n_way: int) -> np.ndarray:
    """Return ``[n_way, n_way]``: row ``c`` is the mean of ``probs`` ``[Q, N]`` over the queries of class ``c``."""
    return np.stack([probs[labels == c].mean(axis=0) for c in range(n_way)])


def _outlines_xy(boxes: list[tuple[float, float, float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Return x and y (float32, NaN between boxes, which plotly draws as a gap) of the closed outlines of
    ``boxes`` ``(x0, x1, y0, y1)``; one NaN point when there are none, so the trace keeps its legend entry."""
    if not boxes:
        return np.full(1, np.nan, np.float32), np.full(1, np.nan, np.float32)
    b = np.asarray(boxes, dtype=np.float32)
    x0, x1, y0, y1 = (b[:, i:i + 1] for i in range(4))
    gap = np.full_like(x0, np.nan)
    xs = np.hstack([x0, x1, x1, x0, x0, gap]).ravel()
    ys = np.hstack([y0, y0, y1, y1, y0, gap]).ravel()
    return xs, ys


def _step_data(demo: ImagesDemo, step: int, centres: np.ndarray, half: float, tr) -> dict:
    """Return what changes between frames at ``step``: border outlines per status (1 right, 0 wrong,
    -1 undecided), hover texts, the class-by-class mean-probability matrix and how many queries are right.
    ``centres`` is ``[Q, 2]``: the x, y of each query drawing in the episode image."""
    probs = demo.query_probs[step]
    status = query_status(probs, demo.query_labels)
    borders = {}
    for value in (1, 0, -1):
        c = centres[status == value]
        borders[value] = _outlines_xy(list(zip(c[:, 0] - half, c[:, 0] + half, c[:, 1] - half, c[:, 1] + half,
                                               strict=True)))
    pred = probs.argmax(-1)
    hover = [tr("maml.img.pred.hover", q=i % demo.n_query + 1, true=int(t) + 1, pred=int(p) + 1,
                prob=f"{probs[i, p]:.0%}", p_true=f"{probs[i, t]:.0%}")
             if s >= 0 else tr("maml.img.pred.hover_tie", q=i % demo.n_query + 1, true=int(t) + 1)
             for i, (t, p, s) in enumerate(zip(demo.query_labels, pred, status, strict=True))]
    return dict(borders=borders, hover=np.array(hover), right=int((status == 1).sum()),
                matrix=class_confusion(probs, demo.query_labels, demo.n_way).astype(np.float32))


BORDERS = {1: (GREEN, "solid", "maml.img.pred.right"), 0: (VERMILLION, "dot", "maml.img.pred.wrong"),
           -1: (UNDECIDED, "solid", "maml.img.pred.undecided")}  # status -> line colour, dash, legend text


def prediction_animation(demo: ImagesDemo, lang: str = "en") -> go.Figure:
    """Return the episode and the query predictions with ``demo.steps_done + 1`` frames (0 = before adapting).

    Traces: the episode image (a row per class: support, then query drawings); three query-border traces
    (right, wrong, undecided); invisible hover markers on the queries; the class-by-class mean-probability
    heatmap on the same rows, its diagonal outlined. Play/pause buttons and a step slider drive the frames;
    the still view shows the last recorded step. Built in one constructor call: every ``update_layout``
    costs several milliseconds on a figure this size.
    """
    tr = translator(lang)
    n_way, k, q = demo.n_way, demo.k_shot, demo.n_query
    size = demo.support.shape[-1]
    canvas, col_centres = _mosaic([demo.support, demo.query])
    height, width = canvas.shape
    row_centres = np.array([r * (size + GAP) + size / 2 for r in range(n_way)], dtype=np.float32)
    centres = np.array([(col_centres[k + i % q], row_centres[i // q]) for i in range(n_way * q)],  # class-major
                       dtype=np.float32)
    half = size / 2 + 1
    last = demo.steps_done
    steps = [_step_data(demo, step, centres, half, tr) for step in range(last + 1)]
    now = steps[last]

    def x_title(step: int) -> dict:
        return dict(text=tr("maml.img.pred.x", step=step, right=steps[step]["right"], total=n_way * q))

    data: list[dict] = [dict(type="image", source=_png_uri(canvas), x0=0, y0=0, dx=1, dy=1, hoverinfo="skip")]
    for value, (color, dash, key) in BORDERS.items():
        xs, ys = now["borders"][value]
        data.append(dict(type="scatter", x=xs, y=ys, mode="lines", name=tr(key), hoverinfo="skip",
                         line=dict(color=color, width=3.5, dash=dash)))
    data.append(dict(type="scatter", x=centres[:, 0], y=centres[:, 1], mode="markers", showlegend=False,
                     marker=dict(size=max(8, size), opacity=0), text=now["hover"],
                     hovertemplate="%{text}<extra></extra>"))
    data.append(dict(
        type="heatmap", x=np.arange(1, n_way + 1, dtype=np.float32), y=row_centres, z=now["matrix"], zmin=0, zmax=1,
        colorscale=PROB_SCALE, xaxis="x2", yaxis="y", xgap=1, ygap=1,
        texttemplate="%{z:.2f}" if n_way <= MATRIX_TEXT_MAX_WAYS else None,
        colorbar=dict(title=dict(text=tr("maml.img.pred.colorbar"), side="right"), thickness=14, len=0.8,
                      tickformat=".0%"),
        hovertemplate=tr("maml.img.pred.cell_hover") + "<extra></extra>"))
    pitch = (size + GAP) / 2
    diagonal = _outlines_xy([(c + 0.5, c + 1.5, row_centres[c] - pitch, row_centres[c] + pitch) for c in range(n_way)])
    data.append(dict(type="scatter", x=diagonal[0], y=diagonal[1], mode="lines", xaxis="x2", yaxis="y",
                     hoverinfo="skip", line=dict(color=BLACK, width=2), name=tr("maml.img.pred.true_cell")))

    frames = [dict(name=str(step), traces=[1, 2, 3, 4, 5], layout=dict(xaxis=dict(title=x_title(step))),
                   data=[dict(type="scatter", x=d["borders"][v][0], y=d["borders"][v][1]) for v in BORDERS]
                   + [dict(type="scatter", text=d["hover"]), dict(type="heatmap", z=d["matrix"])])
              for step, d in enumerate(steps)]
    jump = dict(mode="immediate", frame=dict(duration=0, redraw=True), transition=dict(duration=0))
    play = dict(frame=dict(duration=FRAME_MS + 250, redraw=True), transition=dict(duration=0), fromcurrent=False,
                mode="immediate")
    pause = dict(frame=dict(duration=0, redraw=False), mode="immediate", transition=dict(duration=0))

    # The image keeps its aspect ratio (square pixels), so its height follows from the width it gets: about
    # PANEL_PX on a wide layout. Sizing the figure to match leaves no empty band above or below it.
    top, bottom = 110, 175
    fig_height = top + bottom + int(np.clip(PANEL_PX * (height + 32) / (width + 8), 300, 900))
    below = 1 / (fig_height - top - bottom)  # paper units per pixel below the plot, for the controls
    split = k * (size + GAP) - GAP / 2 + BLOCK_GAP / 2  # between the support and the query block
    labels = [(split - BLOCK_GAP / 2, "right", "x", SUPPORT_COLOR, tr("maml.img.pred.support", k=k)),
              (split + BLOCK_GAP / 2, "left", "x", QUERY_COLOR, tr("maml.img.pred.query", q=q)),
              (0.5, "center", "x2 domain", BLACK, tr("maml.img.pred.matrix"))]
    layout = dict(
        xaxis=dict(domain=[0.0, 0.5], tickvals=col_centres, showgrid=False, zeroline=False, range=[-4, width + 4],
                   ticktext=[f"S{i + 1}" for i in range(k)] + [f"Q{i + 1}" for i in range(q)], title=x_title(last)),
        yaxis=dict(tickvals=row_centres, showgrid=False, zeroline=False, range=[height + 2, -30], autorange=False,
                   ticktext=[tr("maml.img.pred.row", i=i + 1, name=name) for i, name in enumerate(demo.class_names)],
                   title=dict(text=tr("maml.img.pred.y"))),
        xaxis2=dict(domain=[0.6, 0.9], anchor="y", range=[0.5, n_way + 0.5], tickvals=list(range(1, n_way + 1)),
                    showgrid=False, zeroline=False, title=dict(text=tr("maml.img.pred.x2"))),
        annotations=[dict(x=x, xanchor=anchor, xref=xref, y=-4, yanchor="bottom", yref="y", showarrow=False,
                          text=f"<b>{text}</b>", font=dict(color=color, size=15))
                     for x, anchor, xref, color, text in labels],
        updatemenus=[dict(type="buttons", direction="left", x=0.0, y=-86 * below, xanchor="left",
                          yanchor="top", showactive=False, pad=dict(r=10, t=0),
                          buttons=[dict(label="▶ " + tr("fig.play"), method="animate", args=[None, play]),
                                   dict(label=tr("fig.pause"), method="animate", args=[[None], pause])])],
        sliders=[dict(active=last, x=0.27, len=0.63, y=-72 * below, yanchor="top", pad=dict(t=0, b=0),
                      steps=[dict(method="animate", label=str(s), args=[[str(s)], jump]) for s in range(last + 1)],
                      currentvalue=dict(prefix=tr("fig.step_prefix"), font=dict(size=15)))],
    )
    fig = go.Figure(data=data, layout=layout, frames=frames)
    apply_style(fig, tr("maml.img.pred.title"), height=fig_height, top=top, bottom=bottom)
    fig.layout.margin.l = 200  # room for the class names
    return fig


def _log_floor(values: np.ndarray) -> np.ndarray:
    """Return ``values`` with zeros raised to 1e-6: a cross-entropy can round to exactly 0 in float32."""
    return np.maximum(np.asarray(values, dtype=np.float64), 1e-6)


def loss_curves(demo: ImagesDemo, lang: str = "en") -> go.Figure:
    """Return support and query cross-entropy (log scale) against inner step; lines stop where a loop diverged."""
    tr = translator(lang)
    steps = np.arange(demo.steps_done + 1)
    data = [dict(type="scatter", x=steps, y=_log_floor(values), mode="lines+markers", name=tr(key),
                 line=dict(color=color, width=3), marker=dict(size=8))
            for values, color, key in ((demo.support_loss, SUPPORT_COLOR, "maml.img.loss.support"),
                                       (demo.query_loss, QUERY_COLOR, "maml.img.loss.query"))]
    logs = np.log10(_log_floor(np.concatenate([demo.support_loss, demo.query_loss])))
    logs = logs[np.isfinite(logs)]
    lo, hi = (logs.min(), logs.max()) if logs.size else (-1.0, 1.0)
    pad = max(0.1, 0.08 * (hi - lo))  # a flat curve (one step, or a loss that does not move) still gets a range
    layout = dict(xaxis=_step_axis(demo, tr),
                  yaxis=dict(title=dict(text=tr("maml.img.loss.y")), type="log", range=[lo - pad, hi + pad],
                             tickformat=".2g", minor=dict(showgrid=False)))
    return apply_style(go.Figure(data=data, layout=layout), tr("maml.img.loss.title"), height=420, top=110)


def accuracy_curve(demo: ImagesDemo, lang: str = "en") -> go.Figure:
    """Return query accuracy (percent) against inner step, with a dashed line at chance level 100/N."""
    tr = translator(lang)
    chance = 100.0 / demo.n_way
    data = [dict(type="scatter", x=np.arange(demo.steps_done + 1), y=100 * np.asarray(demo.query_accuracy, np.float64),
                 mode="lines+markers", name=tr("maml.img.acc.name"), line=dict(color=GREEN, width=3),
                 marker=dict(size=8)),
            dict(type="scatter", x=_step_axis(demo, tr)["range"], y=[chance, chance], mode="lines", hoverinfo="skip",
                 name=tr("maml.img.acc.chance", n=demo.n_way), line=dict(color=UNDECIDED, width=2, dash="dash"))]
    layout = dict(xaxis=_step_axis(demo, tr),
                  yaxis=dict(title=dict(text=tr("maml.img.acc.y")), range=[-3, 103], ticksuffix="%"))
    return apply_style(go.Figure(data=data, layout=layout), tr("maml.img.acc.title"), height=420, top=110)


def _step_axis(demo: ImagesDemo, tr) -> dict:
    """Return the inner-step x axis of the curves: every step ticked, the requested ones in range."""
    return dict(title=dict(text=tr("fig.inner_step")), range=[-0.3, max(demo.steps, 1) + 0.3], dtick=1)
