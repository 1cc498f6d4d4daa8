"""Figures of the Memory page: one MANN episode step by step, and accuracy by instance beside the paper's.

:func:`episode_animation` is one figure with a frame per time step (play/pause buttons and a step slider):
the episode as a strip of drawings (true label, the delayed label shown with it, the prediction), the
write and the read weights over memory slots against time, the usage of every slot after the step, and
the *link* from the slot read at the step back to the step that wrote it. :func:`instance_figure` draws
accuracy at the 1st..10th sight of a class for the models measured here and the paper's and human rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from lab.i18n import translator
from lab.viz import BLACK, BLUE, GREEN, ORANGE, PURPLE, SEQUENTIAL_SCALE, VERMILLION
from lab.viz.episodes import _png_uri
from lab.viz.maml import FRAME_MS
from lab.viz.style import apply_style

if TYPE_CHECKING:
    from lab.demos.memory import InstanceCurve, MemoryDemo

PER_ROW = 25  # drawings per row of the strip
GAP = 4  # pixels between drawings
LINE_PX = 10  # image pixels per text line under each drawing: label, label shown, guess
TEXT_PX = 3 * LINE_PX + 2
STRIP_SHARE = 0.36  # share of the plot height taken by the strip


def _strip(demo: MemoryDemo) -> tuple[np.ndarray, np.ndarray]:
    """Return the strip as a uint8 image (white background, dark ink) and the top-left corner of each step."""
    t, size = demo.images.shape[0], demo.images.shape[-1]
    rows = (t + PER_ROW - 1) // PER_ROW
    pitch_x, pitch_y = size + GAP, size + GAP + TEXT_PX
    canvas = np.full((rows * pitch_y, PER_ROW * pitch_x), 255, dtype=np.uint8)
    corners = np.array([((i % PER_ROW) * pitch_x, (i // PER_ROW) * pitch_y) for i in range(t)], dtype=float)
    for i, (x, y) in enumerate(corners.astype(int)):
        canvas[y:y + size, x:x + size] = (255 * (1 - np.clip(demo.images[i], 0, 1))).astype(np.uint8)
    return canvas, corners


def _box(x: float, y: float, w: float, h: float) -> tuple[list, list]:
    return [x, x + w, x + w, x, x, None], [y, y, y + h, y + h, y, None]


def _step_traces(demo: MemoryDemo, t: int, corners: np.ndarray, size: int) -> list[dict]:
    """Return the traces that change with the step: current-drawing box, linked drawing box, the time
    markers on both heatmaps, the link on the read heatmap and the usage bars."""
    writer, slot = int(demo.writer[t]), int(demo.read_slot[t])
    now = _box(corners[t][0] - 1, corners[t][1] - 1, size + 2, size + 2)
    linked = _box(corners[writer][0] - 1, corners[writer][1] - 1, size + 2, size + 2) if writer >= 0 else ([], [])
    marker = dict(x=[t + 1, t + 1], y=[-0.5, demo.usage.shape[1] - 0.5])
    link = dict(x=[writer + 1, t + 1], y=[slot, slot]) if writer >= 0 else dict(x=[], y=[])
    return [dict(x=now[0], y=now[1]), dict(x=linked[0], y=linked[1]), marker, marker, link, dict(y=demo.usage[t])]


def step_sentence(demo: MemoryDemo, t: int, lang: str = "en") -> str:
    """Return what happened at step ``t`` (0-based): sight, guess, and the earlier write the heads read."""
    tr = translator(lang)
    writer = int(demo.writer[t])
    base = tr("memory.fig.sentence", t=t + 1, k=int(demo.instance[t]), label=int(demo.labels[t]),
              pred=int(demo.predictions[t]))
    if writer < 0:
        return base + " " + tr("memory.fig.sentence_none")
    same = demo.labels[writer] == demo.labels[t] or (writer > 0 and demo.labels[writer - 1] == demo.labels[t])
    return base + " " + tr("memory.fig.sentence_writer", slot=int(demo.read_slot[t]), u=writer + 1,
                           label=int(demo.labels[writer]),
                           same=tr("memory.fig.same" if same else "memory.fig.other"))


def episode_animation(demo: MemoryDemo, step: int = 0, lang: str = "en") -> go.Figure:
    """Return the animated episode (see the module docstring), showing step ``step`` (0-based) when still."""
    tr = translator(lang)
    t_len, size = demo.images.shape[0], demo.images.shape[-1]
    n = demo.usage.shape[1]
    canvas, corners = _strip(demo)
    height, width = canvas.shape
    step = int(np.clip(step, 0, t_len - 1))
    # Three text lines under each drawing (its label, the delayed label shown with it, the guess), and the
    # lines' names left of every strip row.
    lines = [(str(int(y)), "–" if d < 0 else str(int(d)), str(int(p)))
             for y, d, p in zip(demo.labels, demo.delayed, demo.predictions, strict=True)]
    hover = [tr("memory.fig.tile_hover", t=i + 1, name=demo.class_names[int(demo.labels[i])], k=int(demo.instance[i]))
             for i in range(t_len)]
    text_x, text_y, text, colors, hovers = [], [], [], [], []
    for i, (x, y) in enumerate(corners):
        for j in range(3):
            text_x.append(x + size / 2), text_y.append(y + size + 2 + LINE_PX * (j + 0.5)), text.append(lines[i][j])
            colors.append((BLACK, BLACK, GREEN if demo.correct[i] else VERMILLION)[j]), hovers.append(hover[i])
    for y in sorted({float(c[1]) for c in corners}):
        for j, key in enumerate(("memory.fig.row_label", "memory.fig.row_shown", "memory.fig.row_guess")):
            text_x.append(-3), text_y.append(y + size + 2 + LINE_PX * (j + 0.5)), text.append(tr(key))
            colors.append(BLACK), hovers.append(tr(key))
    times = np.arange(1, t_len + 1)
    writes, reads = demo.write_weights.sum(axis=1).T, demo.read_weights.sum(axis=1).T  # [N, T]
    now = _step_traces(demo, step, corners, size)
    heat = dict(type="heatmap", x=times, y=np.arange(n), colorscale=SEQUENTIAL_SCALE, zmin=0,
                hovertemplate=tr("memory.fig.heat_hover") + "<extra></extra>")
    data = [
        dict(type="image", source=_png_uri(canvas), x0=0, y0=0, dx=1, dy=1, hoverinfo="skip"),
        dict(type="scatter", mode="text", x=text_x, y=text_y, text=text, textfont=dict(size=12, color=colors),
             textposition=["middle center"] * (3 * t_len) + ["middle left"] * (len(text) - 3 * t_len),
             hovertext=hovers, hoverinfo="text", showlegend=False),
        dict(type="scatter", mode="lines", line=dict(color=BLUE, width=3), name=tr("memory.fig.now"), **now[0]),
        dict(type="scatter", mode="lines", line=dict(color=ORANGE, width=3, dash="dot"),
             name=tr("memory.fig.linked"), **now[1]),
        dict(heat, z=writes, xaxis="x2", yaxis="y2", zmax=max(1.0, float(writes.max())), showscale=False),
        dict(heat, z=reads, xaxis="x3", yaxis="y3", zmax=max(1.0, float(reads.max())),
             colorbar=dict(title=dict(text=tr("memory.fig.weight"), side="right"), thickness=12, len=0.45, y=0.25,
                           x=0.745, xanchor="left")),
        dict(type="scatter", mode="lines", line=dict(color="white", width=2), xaxis="x2", yaxis="y2",
             hoverinfo="skip", showlegend=False, **now[2]),
        dict(type="scatter", mode="lines", line=dict(color="white", width=2), xaxis="x3", yaxis="y3",
             hoverinfo="skip", showlegend=False, **now[3]),
        dict(type="scatter", mode="lines+markers", line=dict(color=ORANGE, width=3), xaxis="x3", yaxis="y3",
             marker=dict(size=10, symbol=["circle", "arrow-right"], angleref="previous"),
             name=tr("memory.fig.link"), hoverinfo="skip", **now[4]),
        dict(type="bar", x=np.arange(n), orientation="v", marker=dict(color=PURPLE), xaxis="x4", yaxis="y4",
             name=tr("memory.fig.usage"), hovertemplate=tr("memory.fig.usage_hover") + "<extra></extra>", **now[5]),
    ]
    moving = [2, 3, 6, 7, 8, 9]
    frames = [dict(name=str(t), traces=moving,
                   data=[dict(type="scatter", **d) for d in _step_traces(demo, t, corners, size)[:5]]
                   + [dict(type="bar", y=demo.usage[t])],
                   layout=dict(xaxis=dict(title=dict(text=step_sentence(demo, t, lang)))))
              for t in range(t_len)]
    jump = dict(mode="immediate", frame=dict(duration=0, redraw=True), transition=dict(duration=0))
    play = dict(frame=dict(duration=FRAME_MS + 300, redraw=True), transition=dict(duration=0), fromcurrent=True,
                mode="immediate")
    pause = dict(frame=dict(duration=0, redraw=False), mode="immediate", transition=dict(duration=0))
    top, bottom, fig_height = 100, 150, 900
    below = 1 / (fig_height - top - bottom)
    lower = [0.0, 1 - STRIP_SHARE - 0.12]
    slot_axis = dict(title=dict(text=tr("memory.fig.slot")), autorange="reversed", showgrid=False)
    layout = dict(
        xaxis=dict(domain=[0, 1], range=[-60, width + 4], showticklabels=False, showgrid=False, zeroline=False,
                   anchor="y", title=dict(text=step_sentence(demo, step, lang), standoff=4)),
        yaxis=dict(domain=[1 - STRIP_SHARE, 1], range=[height + 2, -4], showticklabels=False, showgrid=False,
                   zeroline=False, scaleanchor="x"),
        xaxis2=dict(domain=[0, 0.36], anchor="y2", title=dict(text=tr("memory.fig.time"))),
        yaxis2=dict(domain=lower, anchor="x2", **slot_axis),
        xaxis3=dict(domain=[0.38, 0.74], anchor="y3", title=dict(text=tr("memory.fig.time"))),
        yaxis3=dict(domain=lower, anchor="x3", autorange="reversed", showgrid=False, showticklabels=False),
        xaxis4=dict(domain=[0.86, 1.0], anchor="y4", title=dict(text=tr("memory.fig.slot")), showgrid=False),
        # Usage on the right: on the left its numbers and title would run into the heatmaps' colour bar.
        yaxis4=dict(domain=lower, anchor="x4", rangemode="tozero", side="right", title=dict(text=tr("memory.fig.usage"))),
        annotations=[dict(x=x, y=lower[1], xref="paper", yref="paper", yanchor="bottom", showarrow=False,
                          text=f"<b>{tr(key)}</b>", font=dict(size=15))
                     for x, key in ((0.18, "memory.fig.writes"), (0.56, "memory.fig.reads"),
                                    (0.935, "memory.fig.usage_title"))],
        updatemenus=[dict(type="buttons", direction="left", x=0.0, y=-70 * below, xanchor="left", yanchor="top",
                          showactive=False, pad=dict(r=10, t=0),
                          buttons=[dict(label="▶ " + tr("fig.play"), method="animate", args=[None, play]),
                                   dict(label=tr("fig.pause"), method="animate", args=[[None], pause])])],
        sliders=[dict(active=step, x=0.22, len=0.78, y=-58 * below, yanchor="top", pad=dict(t=0, b=0),
                      steps=[dict(method="animate", label=str(t + 1), args=[[str(t)], jump]) for t in range(t_len)],
                      currentvalue=dict(prefix=tr("memory.fig.step_prefix"), font=dict(size=15)))],
    )
    fig = go.Figure(data=data, layout=layout, frames=frames)
    apply_style(fig, tr("memory.fig.title"), height=fig_height, top=top, bottom=bottom)
    fig.layout.margin.r = 75  # room for the usage axis on the right
    return fig


def animation_alt(demo: MemoryDemo, lang: str = "en") -> str:
    """Return the screen-reader text of :func:`episode_animation`."""
    pairs = demo.second_sights()
    hits = sum(1 for first, second in pairs if demo.writer[second] in (first, first + 1))
    return translator(lang)("memory.fig.alt", t=len(demo.labels), n=demo.usage.shape[1], hits=hits, pairs=len(pairs),
                            acc=f"{100 * demo.correct.mean():.0f}")


def instance_figure(curve: InstanceCurve, paper: dict[str, tuple[float, ...]], lang: str = "en") -> go.Figure:
    """Return accuracy (%) against instance: the measured rows with 95% error bars, the paper's dashed."""
    tr = translator(lang)
    x = [str(k) for k in curve.instances]
    colors = {"mann": BLUE, "mann-lstm": ORANGE}
    data = [dict(type="scatter", x=x, y=[100 * m for m in means], mode="lines+markers", line=dict(color=colors.get(name, GREEN), width=3),
                 error_y=dict(type="data", array=[100 * c for c in cis], visible=True),
                 name=tr(f"memory.acc.{name}", n=curve.n_episodes))
            for name, (means, cis) in curve.rows.items()]
    dashes = {"human": ("dot", BLACK), "MANN (paper)": ("dash", BLUE), "LSTM (paper)": ("dash", ORANGE)}
    data += [dict(type="scatter", x=x, y=list(values), mode="lines+markers", name=tr(f"memory.acc.paper_{i}"),
                  line=dict(dash=dashes[name][0], color=dashes[name][1], width=2), marker=dict(symbol="x"))
             for i, (name, values) in enumerate(paper.items())]
    layout = dict(xaxis=dict(title=dict(text=tr("memory.acc.x")), type="category"),
                  yaxis=dict(title=dict(text=tr("memory.acc.y")), range=[0, 101]))
    fig = go.Figure(data=data, layout=layout)
    return apply_style(fig, tr("memory.acc.title"), height=440, top=120)
