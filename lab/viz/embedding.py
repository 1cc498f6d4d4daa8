"""Figures of the Prototypical Networks lesson, built from :mod:`lab.demos.protonet` results.

* :func:`embedding_map` — support points, query points and prototypes (stars) in a 2-D or 3-D map of the
  embedding space, misclassified queries ringed in vermillion, and (PCA 2-D) the decision regions beneath.
* :func:`shots_figure` — query accuracy against shots per class, with 95% confidence intervals.
* :func:`class_strip` — one support drawing per class, labelled in the class's colour (the map's legend).
* :func:`query_comparison` — query drawings beside the support drawings of their true and predicted class.

Each figure has an ``*_alt`` companion returning the text for screen readers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from lab.i18n import translator
from lab.viz import BLACK, OKABE_ITO, VERMILLION
from lab.viz.episodes import _mosaic, _png_uri
from lab.viz.style import apply_style

if TYPE_CHECKING:
    from lab.demos.protonet import ProtoDemo, ShotCurve

ERROR_COLOR = VERMILLION  # rings around misclassified queries; no class gets this colour
CLASS_COLORS: tuple[str, ...] = tuple(c for c in OKABE_ITO if c != ERROR_COLOR)
LEGEND_GREY = "#BBBBBB"  # marker shapes in the legend: the shape matters there, not a class colour
REGION_OPACITY = 0.25  # light enough that the points stay readable on top
MAX_STRIP = 5  # support drawings per class in a comparison row
GAP = 3  # pixels between drawings, as in lab.viz.episodes


def class_color(k: int) -> str:
    """Return the colour of episode class ``k`` (the palette repeats after 7 classes)."""
    return CLASS_COLORS[int(k) % len(CLASS_COLORS)]


def _class_label(demo: ProtoDemo, k: int, tr) -> str:
    return tr("protonet.fig.class", k=int(k), name=demo.class_names[int(k)])


def _axis_titles(demo: ProtoDemo, tr) -> list[str]:
    proj = demo.projection
    if proj.method == "pca":
        key = "protonet.fig.pc_short" if len(proj.explained) == 3 else "protonet.fig.pc"  # 3-D: little room
        return [tr(key, i=i + 1, pct=f"{100 * e:.0f}") for i, e in enumerate(proj.explained)]
    name = {"tsne": "t-SNE", "umap": "UMAP"}[proj.method]
    return [tr("protonet.fig.nonlinear_axis", method=name, i=i + 1) for i in range(proj.support.shape[1])]


def _query_hover(demo: ProtoDemo, tr) -> list[str]:
    out = []
    for i, (true, pred) in enumerate(zip(demo.query_y, demo.predictions, strict=True)):
        key = "protonet.fig.hover_right" if true == pred else "protonet.fig.hover_wrong"
        out.append(tr(key, i=i, true=_class_label(demo, true, tr), pred=_class_label(demo, pred, tr),
                      p=f"{demo.probabilities[i, pred]:.2f}"))
    return out


def _region_scale(n_way: int) -> list[list]:
    """Return a stepped colour scale giving integer label ``k`` (``zmin=-0.5, zmax=n_way-0.5``) class ``k``'s colour."""
    scale = []
    for k in range(n_way):
        scale += [[k / n_way, class_color(k)], [(k + 1) / n_way, class_color(k)]]
    return scale


def embedding_map(demo: ProtoDemo, lang: str = "en") -> go.Figure:
    """Return the embedding map: 2-D (``go.Scatter``, with a ``go.Heatmap`` of the decision regions under it
    for PCA 2-D) or 3-D (``go.Scatter3d``, which has no star marker: prototypes are large squares there).

    Query markers carry their query index as ``customdata``, so a click on one names the query.
    """
    tr = translator(lang)
    proj = demo.projection
    three_d = proj.support.shape[1] == 3
    scatter = go.Scatter3d if three_d else go.Scatter
    sizes = dict(support=4, query=4, proto=12, ring=10) if three_d else dict(support=10, query=11, proto=26, ring=22)
    symbols = dict(support="circle", query="diamond", proto="square" if three_d else "star",
                   ring="circle-open")

    def xyz(points: np.ndarray) -> dict:
        pts = np.asarray(points, dtype=np.float32)
        return dict(x=pts[:, 0], y=pts[:, 1], **({"z": pts[:, 2]} if three_d else {}))

    fig = go.Figure()
    if demo.regions is not None:
        reg = demo.regions
        fig.add_trace(go.Heatmap(x=reg.x.astype(np.float32), y=reg.y.astype(np.float32),
                                 z=reg.labels.astype(np.float32), colorscale=_region_scale(demo.n_way),
                                 zmin=-0.5, zmax=demo.n_way - 0.5, showscale=False, opacity=REGION_OPACITY,
                                 zsmooth=False, hoverinfo="skip", name=tr("protonet.fig.regions")))
        if demo.n_way > 1:  # thin borders: neighbouring pale shades (blue, sky blue) are hard to tell apart
            fig.add_trace(go.Contour(x=reg.x.astype(np.float32), y=reg.y.astype(np.float32),
                                     z=reg.labels.astype(np.float32), showscale=False, hoverinfo="skip",
                                     contours=dict(coloring="none", start=0.5, end=demo.n_way - 1.5, size=1),
                                     line=dict(color="#666666", width=1), showlegend=False))
    # The legend explains the marker shapes in neutral grey (legend-only traces); the colours are the classes,
    # named by hover text and by the class strip beside the map.
    for name, kind in (("protonet.fig.support", "support"), ("protonet.fig.queries", "query"),
                       ("protonet.fig.prototypes", "proto")):
        fig.add_trace(scatter(**xyz(np.full((1, 3), np.nan)), mode="markers", name=tr(name), hoverinfo="skip",
                              marker=dict(color=LEGEND_GREY, size=min(sizes[kind], 16), symbol=symbols[kind],
                                          line=dict(color=BLACK, width=1))))
    fig.add_trace(scatter(
        **xyz(proj.support), mode="markers", showlegend=False, hoverinfo="text",
        marker=dict(color=[class_color(k) for k in demo.support_y], size=sizes["support"],
                    symbol=symbols["support"], line=dict(color="white", width=1)),
        hovertext=[tr("protonet.fig.hover_support", cls=_class_label(demo, k, tr)) for k in demo.support_y]))
    wrong = demo.misclassified
    if len(wrong):
        fig.add_trace(scatter(
            **xyz(proj.query[wrong]), mode="markers", name=tr("protonet.fig.misclassified", n=len(wrong)),
            marker=dict(color=ERROR_COLOR, size=sizes["ring"], symbol=symbols["ring"], line=dict(width=3)),
            customdata=[int(i) for i in wrong], hoverinfo="skip"))
    fig.add_trace(scatter(
        **xyz(proj.query), mode="markers", showlegend=False, hovertext=_query_hover(demo, tr), hoverinfo="text",
        marker=dict(color=[class_color(k) for k in demo.query_y], size=sizes["query"], symbol=symbols["query"],
                    line=dict(color=BLACK, width=1)),
        customdata=list(range(len(demo.query_y)))))  # plain ints: what a click reports back
    fig.add_trace(scatter(
        **xyz(proj.prototypes), mode="markers", showlegend=False, hoverinfo="text",
        marker=dict(color=[class_color(k) for k in range(demo.n_way)], size=sizes["proto"],
                    symbol=symbols["proto"], line=dict(color=BLACK, width=1.5)),
        hovertext=[tr("protonet.fig.hover_proto", cls=_class_label(demo, k, tr)) for k in range(demo.n_way)]))
    titles = _axis_titles(demo, tr)
    key = "protonet.map.title" if demo.regions is not None else f"protonet.map.title_{demo.no_regions}"
    if three_d:
        fig.update_layout(scene=dict(xaxis_title=titles[0], yaxis_title=titles[1], zaxis_title=titles[2],
                                     aspectmode="data"))
        fig.update_layout(xaxis_title=titles[0], yaxis_title=titles[1])  # also on the (hidden) 2-D axes
    else:
        fig.update_xaxes(title_text=titles[0], showgrid=False, zeroline=False, constrain="domain")
        fig.update_yaxes(title_text=titles[1], showgrid=False, zeroline=False, constrain="domain",
                         **({"scaleanchor": "x", "scaleratio": 1} if proj.method == "pca" else {}))
        if demo.regions is not None:  # the shaded grid is the plot area, edge to edge
            fig.update_xaxes(range=[float(demo.regions.x[0]), float(demo.regions.x[-1])])
            fig.update_yaxes(range=[float(demo.regions.y[0]), float(demo.regions.y[-1])])
    apply_style(fig, tr(key), height=580, top=95)
    fig.update_layout(clickmode="event+select")
    return fig


def clicked_query(points: list[dict], n_queries: int) -> int | None:
    """Return the index of the first query among the selected ``points`` of :func:`embedding_map` (the
    ``customdata`` of query markers and their rings), or ``None`` (nothing selected, or only other points)."""
    for point in points:
        data = point.get("customdata")
        if isinstance(data, dict):  # a typed array comes back from the browser as {"0": value}
            data = list(data.values())
        index = data[0] if isinstance(data, (list, tuple)) and data else data
        if isinstance(index, (int, float)) and 0 <= int(index) < n_queries:
            return int(index)
    return None


def embedding_alt(demo: ProtoDemo, lang: str = "en") -> str:
    """Return the screen-reader text of :func:`embedding_map`: what is drawn and how many queries are wrong."""
    tr = translator(lang)
    return tr("protonet.map.alt", n=demo.n_way, k=demo.k_shot, q=demo.n_query, wrong=len(demo.misclassified),
              total=len(demo.query_y), acc=f"{100 * demo.accuracy:.0f}")


def shots_figure(curve: ShotCurve, k_shot: int | None = None, lang: str = "en") -> go.Figure:
    """Return accuracy (%) against shots (log axis) with 95% error bars, chance level dashed, and the page's
    current ``k_shot`` marked by a dotted vertical line."""
    tr = translator(lang)
    fig = go.Figure()
    shots = curve.shots.astype(np.float64)
    fig.add_trace(go.Scatter(
        x=shots, y=100 * curve.mean, mode="lines+markers", name=tr("protonet.shots.series", d=curve.distance),
        line=dict(color=OKABE_ITO[0], width=3), marker=dict(size=9),
        error_y=dict(type="data", array=100 * np.nan_to_num(curve.ci95), thickness=2, width=6),
        hovertemplate=tr("protonet.shots.hover") + "<extra></extra>"))
    chance = 100 / curve.n_way
    fig.add_trace(go.Scatter(x=[shots.min() * 0.9, shots.max() * 1.1], y=[chance, chance], mode="lines",
                             name=tr("protonet.shots.chance", pct=f"{chance:.0f}"), hoverinfo="skip",
                             line=dict(color=BLACK, dash="dash", width=1.5)))
    if k_shot is not None:
        fig.add_vline(x=k_shot, line=dict(color=VERMILLION, dash="dot", width=2))
    fig.update_xaxes(title_text=tr("protonet.shots.x"), type="log", tickvals=shots, ticktext=[str(int(s)) for s in shots])
    fig.update_yaxes(title_text=tr("protonet.shots.y"), range=[0, 105])
    return apply_style(fig, tr("protonet.shots.title", n=curve.n_way), height=420, top=100)


def shots_alt(curve: ShotCurve, lang: str = "en") -> str:
    """Return the screen-reader text of :func:`shots_figure`: the accuracy at each shot count."""
    tr = translator(lang)
    points = ", ".join(f"{int(s)}: {100 * m:.0f}%" for s, m in zip(curve.shots, curve.mean, strict=True))
    return tr("protonet.shots.alt", n=curve.n_way, episodes=curve.n_episodes, points=points)


def _image_figure(canvas: np.ndarray, height: int, title: str) -> go.Figure:
    fig = go.Figure(go.Image(source=_png_uri(canvas), x0=0, y0=0, dx=1, dy=1, hoverinfo="skip"))
    apply_style(fig, title, height=height, top=80, bottom=50)
    fig.update_layout(showlegend=False)
    return fig


def class_strip(demo: ProtoDemo, lang: str = "en") -> go.Figure:
    """Return one support drawing per class in a row, each labelled underneath in its class's colour."""
    tr = translator(lang)
    canvas, centres = _mosaic([demo.support_images[:, :1].transpose(1, 0, 2, 3)])
    size = demo.support_images.shape[-1]
    fig = _image_figure(canvas, 250, tr("protonet.strip.title"))
    labels = [f"<span style='color:{class_color(k)}'><b>{k}</b></span>" for k in range(demo.n_way)]
    fig.update_xaxes(tickvals=centres, ticktext=labels, title_text=tr("protonet.strip.x"), showgrid=False,
                     range=[-2, canvas.shape[1] + 2])
    fig.update_yaxes(showticklabels=False, title_text=tr("protonet.strip.y"), showgrid=False,
                     range=[size + 2, -2], autorange=False)
    return fig


def query_comparison(demo: ProtoDemo, queries: list[int] | np.ndarray, lang: str = "en",
                     max_rows: int = 10) -> go.Figure:
    """Return one row per query (at most ``max_rows``): the query drawing, then up to :data:`MAX_STRIP` support
    drawings of its true class, then (when any row is wrong) those of the class it was given."""
    tr = translator(lang)
    rows = [int(i) for i in queries][:max_rows]
    if not rows:
        raise ValueError("query_comparison needs at least one query index")
    n_q, k = demo.n_query, min(demo.k_shot, MAX_STRIP)
    query_img = np.stack([demo.query_images[i // n_q, i % n_q] for i in rows])[:, None]
    true = demo.query_y[rows]
    pred = demo.predictions[rows]
    blocks = [query_img, demo.support_images[true, :k]]
    headers = [tr("protonet.cmp.query"), tr("protonet.cmp.true")]
    if (true != pred).any():
        blocks.append(demo.support_images[pred, :k])
        headers.append(tr("protonet.cmp.pred"))
    canvas, centres = _mosaic(blocks)
    height, width = canvas.shape
    size = demo.query_images.shape[-1]
    starts = [centres[0], centres[1]] + ([centres[1 + k]] if len(blocks) == 3 else [])  # each block's first column
    fig = _image_figure(canvas, int(min(950, max(230, 75 * len(rows) + 140))),  # ~75 px a row, titles and axis
                        tr("protonet.cmp.title_wrong" if len(blocks) == 3 else "protonet.cmp.title"))
    for x, text in zip(starts, headers, strict=True):
        fig.add_annotation(x=x - size / 2, xanchor="left", y=-4, yanchor="bottom", showarrow=False,
                           text=f"<b>{text}</b>", font=dict(size=14))
    names = [tr("protonet.cmp.row", i=i, true=int(t), pred=int(p)) for i, t, p in zip(rows, true, pred, strict=True)]
    fig.update_xaxes(showticklabels=False, showgrid=False, title_text=tr("protonet.cmp.x"), range=[-4, width + 4])
    fig.update_yaxes(tickvals=[r * (size + GAP) + size / 2 for r in range(len(rows))], ticktext=names,
                     title_text=tr("protonet.cmp.y"), showgrid=False, range=[height + 2, -30], autorange=False)
    fig.update_layout(margin=dict(l=200))
    return fig


def comparison_alt(demo: ProtoDemo, queries: list[int] | np.ndarray, lang: str = "en") -> str:
    """Return the screen-reader text of :func:`query_comparison`: each query's true and predicted class."""
    tr = translator(lang)
    rows = "; ".join(tr("protonet.cmp.row", i=int(i), true=int(demo.query_y[i]), pred=int(demo.predictions[i]))
                     for i in queries)
    return tr("protonet.cmp.alt", rows=rows)
