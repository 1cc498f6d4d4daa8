"""Figures of the Relation Network lesson, built from a :class:`lab.demos.relation.RelationDemo`.

* :func:`score_heatmap` — the query x class score matrix of one learner: a row per query (its drawing at
  the left, its true class outlined), a column per class under a strip of that class's support drawings,
  a dot on the highest score. :func:`relation_heatmap` and :func:`proto_heatmap` fill it in.
* :func:`disagreement_figure` — the queries on which the two learners pick different classes: the query,
  a drawing of its true class and of each learner's pick, with both scores.
"""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from lab.i18n import translator
from lab.viz import BLACK, GREEN, SEQUENTIAL_SCALE, VERMILLION
from lab.viz.style import apply_style

if TYPE_CHECKING:
    from lab.demos.relation import RelationDemo

MAX_SHOTS_SHOWN = 3  # support drawings stacked above each column; more would push the matrix off screen
MAX_TEXT_CELLS = 200  # above this many cells the numbers are unreadable: colour alone
MAX_DISAGREEMENTS = 12  # rows of the disagreement figure


def _thumb(image: np.ndarray) -> str:
    """Return a grayscale PNG data URI of one drawing (ink 1 on 0) as dark ink on white.

    Not :func:`lab.viz.episodes._png_uri`: its ``optimize`` pass costs ~6 ms per image, and a 20-way
    matrix has over a hundred thumbnails of a few hundred bytes each.
    """
    from PIL import Image  # pillow ships with Streamlit

    buf = io.BytesIO()
    Image.fromarray((255 * (1 - np.clip(image, 0, 1))).astype(np.uint8), mode="L").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _row_px(rows: int) -> float:
    """Return pixels per matrix row: large for a few queries, down to 16 px so 100 rows still fit."""
    return float(np.clip(900 / max(rows, 1), 16, 44))


def _boxes(columns: np.ndarray, rows: np.ndarray | None = None, half: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Return x and y of closed squares of side ``2 * half`` around cells ``(rows[i], columns[i])`` (rows
    default to 0, 1, ...), as one path broken by NaN between squares: one trace instead of a shape per cell,
    which costs plotly ~50 ms each."""
    c = np.asarray(columns, dtype=np.float32)[:, None]
    r = (np.arange(len(c)) if rows is None else np.asarray(rows)).astype(np.float32)[:, None]
    dx = np.array([-1, 1, 1, -1, -1, np.nan], dtype=np.float32) * half
    dy = np.array([-1, -1, 1, 1, -1, np.nan], dtype=np.float32) * half
    return (c + dx).ravel(), (r + dy).ravel()


def score_heatmap(demo: RelationDemo, values: np.ndarray, title: str, colorbar: str, lang: str = "en",
                  zmin: float | None = 0.0, zmax: float | None = 1.0, fmt: str = ".2f") -> go.Figure:
    """Return the heatmap of ``values`` ``[R, n_way]`` (one learner's score of each query for each class).

    Rows are the queries (labelled with their true class, drawing at the left), columns the classes (up
    to :data:`MAX_SHOTS_SHOWN` support drawings above each). The true class of each row is outlined and the
    highest score marked with a dot. ``zmin``/``zmax`` fix the colour scale (``None``: from the data).
    """
    tr = translator(lang)
    rows, n_way = values.shape
    k_shown = min(demo.k_shot, MAX_SHOTS_SHOWN)
    pred = values.argmax(axis=1)
    row_labels = [tr("relation.fig.row", q=r + 1, c=int(c)) for r, c in enumerate(demo.query_labels)]
    fig = go.Figure(go.Heatmap(
        z=values.astype(np.float32), x=np.arange(n_way), y=np.arange(rows), zmin=zmin, zmax=zmax,
        colorscale=SEQUENTIAL_SCALE, colorbar=dict(title=dict(text=colorbar, side="right"), thickness=14),
        texttemplate=f"%{{z:{fmt}}}" if rows * n_way <= MAX_TEXT_CELLS else None, textfont=dict(size=12),
        hovertext=[[f"{row_labels[r]} → {tr('relation.fig.class', c=c)}" for c in range(n_way)] for r in range(rows)],
        hovertemplate=f"%{{hovertext}}: %{{z:{fmt}}}<extra></extra>", name=""))
    # The dot sits in the cell's upper right corner, clear of the number in its centre.
    fig.add_trace(go.Scatter(x=pred + 0.32, y=np.arange(rows) - 0.24, mode="markers", name=tr("relation.fig.pick"),
                             marker=dict(color="white", size=9, line=dict(color=BLACK, width=1.5)),
                             hoverinfo="skip"))
    # True-class outlines, white inside black: visible on any colour of the scale.
    box_x, box_y = _boxes(demo.query_labels)
    for color, width, legend in ((BLACK, 4.5, True), ("white", 1.5, False)):
        fig.add_trace(go.Scatter(x=box_x, y=box_y, mode="lines", line=dict(color=color, width=width),
                                 name=tr("relation.fig.truth"), legendgroup="truth", showlegend=legend,
                                 hoverinfo="skip"))
    images = [dict(source=_thumb(demo.query[r]), x=-1, y=r) for r in range(rows)]
    images += [dict(source=_thumb(demo.support[c, j]), x=c, y=j - k_shown - 0.15)
               for c in range(n_way) for j in range(k_shown)]
    fig.add_annotation(x=-1, y=-(k_shown + 1) / 2 - 0.15, text=tr("relation.fig.support", k=demo.k_shot),
                       showarrow=False, font=dict(size=13))
    names = [tr("relation.fig.class", c=c) if n_way <= 8 else str(c) for c in range(n_way)]  # short when many
    fig.update_xaxes(tickvals=list(range(n_way)), ticktext=names, tickangle=0,
                     range=[-1.55, n_way - 0.5], showgrid=False, zeroline=False, title_text=tr("relation.fig.x"))
    fig.update_yaxes(tickvals=list(range(rows)), ticktext=row_labels, range=[rows - 0.5, -k_shown - 0.75],
                     autorange=False, showgrid=False, zeroline=False, title_text=tr("relation.fig.y"))
    height = int((rows + k_shown + 0.6) * _row_px(rows + k_shown) + 200)
    apply_style(fig, title, height=height, top=100, bottom=80)
    # Images last: every later layout update would walk all of them again (~100 ms for a 5-way episode).
    fig.layout.images = [dict(xref="x", yref="y", sizex=0.9, sizey=0.9, xanchor="center", yanchor="middle",
                              sizing="contain", layer="above", **im) for im in images]
    return fig


def relation_heatmap(demo: RelationDemo, lang: str = "en") -> go.Figure:
    """Return :func:`score_heatmap` of the Relation Net's scores (0..1)."""
    tr = translator(lang)
    return score_heatmap(demo, demo.relation_scores, tr("relation.rel.title"), tr("relation.rel.colorbar"), lang)


def proto_heatmap(demo: RelationDemo, lang: str = "en", show: str = "probs") -> go.Figure:
    """Return :func:`score_heatmap` of ProtoNet on the same episode: softmax probabilities (``show="probs"``,
    0..1 like the relation scores) or negative distances (``show="distances"``, scale from the data)."""
    tr = translator(lang)
    if show == "probs":
        return score_heatmap(demo, demo.proto_probs, tr("relation.proto.title_probs"),
                             tr("relation.proto.colorbar_probs"), lang)
    if show == "distances":
        return score_heatmap(demo, -demo.proto_distances, tr("relation.proto.title_dist"),
                             tr("relation.proto.colorbar_dist"), lang, zmin=None, zmax=None, fmt=".1f")
    raise ValueError(f"show={show!r}; choose 'probs' or 'distances'")


def disagreement_figure(demo: RelationDemo, lang: str = "en", max_rows: int = MAX_DISAGREEMENTS) -> go.Figure | None:
    """Return one row per query the learners disagree on (at most ``max_rows``), or ``None`` if none.

    Columns: the query, the first support drawing of its true class, of the Relation Net's pick and of
    ProtoNet's pick; a green frame marks a right pick, a vermillion one a wrong pick, and the text beside
    each row says ✓ or ✗ with each learner's score, so colour is never the only cue.
    """
    tr = translator(lang)
    idx = demo.disagreements[:max_rows]
    if len(idx) == 0:
        return None
    rel, proto, truth = demo.relation_pred[idx], demo.proto_pred[idx], demo.query_labels[idx]
    first = demo.support[:, 0]
    mark = {True: "✓", False: "✗"}
    lines = [tr("relation.dis.line", rel=int(r), rel_score=f"{demo.relation_scores[q, r]:.2f}", rel_ok=mark[bool(r == t)],
                proto=int(p), proto_prob=f"{demo.proto_probs[q, p]:.0%}", proto_ok=mark[bool(p == t)])
             for q, t, r, p in zip(idx, truth, rel, proto, strict=True)]
    fig = go.Figure(go.Scatter(x=np.full(len(idx), 3.6), y=np.arange(len(idx)), mode="text", text=lines,
                               textposition="middle right", textfont=dict(size=14), hoverinfo="skip"))
    # Frames around each learner's pick (columns 2 and 3): green where right, vermillion where wrong.
    picks = np.concatenate([rel, proto])
    cols, rows = np.repeat([2, 3], len(idx)), np.tile(np.arange(len(idx)), 2)
    right = picks == np.tile(truth, 2)
    for color, chosen in ((GREEN, right), (VERMILLION, ~right)):
        box_x, box_y = _boxes(cols[chosen], rows[chosen], half=0.47)
        fig.add_trace(go.Scatter(x=box_x, y=box_y, mode="lines", line=dict(color=color, width=3), hoverinfo="skip"))
    images = [dict(source=_thumb(image), x=col, y=row, xref="x", yref="y", sizex=0.9, sizey=0.9, xanchor="center",
                   yanchor="middle", sizing="contain", layer="above")
              for row, (q, t, r, p) in enumerate(zip(idx, truth, rel, proto, strict=True))
              for col, image in enumerate((demo.query[q], first[t], first[r], first[p]))]
    columns = [tr("relation.dis.query"), tr("relation.dis.truth"), tr("relation.dis.rel"), tr("relation.dis.proto")]
    fig.update_xaxes(tickvals=[0, 1, 2, 3], ticktext=columns, side="top", tickangle=0, range=[-0.55, 9.5],
                     showgrid=False, zeroline=False, showline=False)
    fig.update_yaxes(tickvals=list(range(len(idx))), range=[len(idx) - 0.5, -0.55], autorange=False,
                     ticktext=[tr("relation.fig.row", q=int(q) + 1, c=int(t)) for q, t in zip(idx, truth, strict=True)],
                     showgrid=False, zeroline=False, title_text=tr("relation.dis.y"))
    apply_style(fig, tr("relation.dis.title", n=len(demo.disagreements), total=len(demo.query_labels)),
                height=int(len(idx) * 64 + 170), top=125, bottom=20)
    fig.update_layout(showlegend=False)
    fig.layout.images = images  # last, as in score_heatmap
    return fig
