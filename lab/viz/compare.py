"""Figure of the Compare lesson, built from result rows of :func:`lab.demos.compare.compare_learners`.

* :func:`accuracy_figure` — query accuracy against shots, one line per learner with 95% error bars, one
  panel per number of ways, with chance (1/N) drawn in each panel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from lab.i18n import translator
from lab.viz import BLACK, BLUE, GREEN, ORANGE, PURPLE
from lab.viz.style import apply_style, axis_ref, side_by_side

# Fixed roles so a learner has one colour on every page; the marker shape repeats the cue without colour.
METHOD_COLORS: dict[str, str] = {"protonet": BLUE, "relation": ORANGE, "maml": GREEN, "fomaml": PURPLE,
                                 "pixel-nn": BLACK}
METHOD_SYMBOLS: dict[str, str] = {"protonet": "circle", "relation": "diamond", "maml": "square",
                                  "fomaml": "triangle-up", "pixel-nn": "x"}
CHANCE_COLOR = "#999999"
SPREAD = 0.025  # log10 units between learners at one shot count, so overlapping error bars stay readable


def _ordered(values: Sequence[Any]) -> list[Any]:
    """Return the distinct values in order of first appearance."""
    return list(dict.fromkeys(values))


def accuracy_figure(rows: Sequence[dict[str, Any]], lang: str = "en") -> go.Figure:
    """Return accuracy (y, 0-100%) against shots (x, log scale) with one panel per ``ways`` in ``rows``.

    ``rows`` are evaluation result rows with ``method``, ``mean``, ``ci95``, ``ways`` and ``shots``; each
    learner is one line (colour and marker from :data:`METHOD_COLORS` / :data:`METHOD_SYMBOLS`) with
    ``ci95`` error bars. Learners are nudged sideways a little at each shot count so that their bars do not
    hide each other; the hover shows the true shot count.
    """
    tr = translator(lang)
    ways = _ordered(r["ways"] for r in rows)
    methods = _ordered(r["method"] for r in rows)
    shots = sorted(_ordered(r["shots"] for r in rows))
    fig = go.Figure(layout=side_by_side(len(ways), [tr("compare.fig.panel", ways=w) for w in ways]))
    lo, hi = math.log10(shots[0]), math.log10(shots[-1])
    for i, w in enumerate(ways):
        panel = dict(xaxis=axis_ref("x", i), yaxis=axis_ref("y", i))
        fig.add_trace(go.Scatter(x=[10 ** (lo - 0.2), 10 ** (hi + 0.2)], y=[1 / w, 1 / w], mode="lines",
                                 name=tr("compare.fig.chance"), legendgroup="chance", showlegend=i == 0,
                                 line=dict(color=CHANCE_COLOR, dash="dot", width=2), hoverinfo="skip", **panel))
        for j, method in enumerate(methods):
            mine = sorted((r for r in rows if r["ways"] == w and r["method"] == method), key=lambda r: r["shots"])
            if not mine:
                continue
            k = np.array([r["shots"] for r in mine], dtype=float)
            nudge = 10 ** (SPREAD * (j - (len(methods) - 1) / 2))
            fig.add_trace(go.Scatter(
                x=k * nudge, y=[r["mean"] for r in mine], customdata=k, mode="lines+markers",
                name=tr(f"compare.method.{method}"), legendgroup=method, showlegend=i == 0,
                error_y=dict(type="data", array=[r["ci95"] for r in mine], thickness=1.8, width=5),
                line=dict(color=METHOD_COLORS.get(method, BLACK), width=3,
                          dash="dash" if method == "pixel-nn" else "solid"),
                marker=dict(symbol=METHOD_SYMBOLS.get(method, "circle"), size=10),
                hovertemplate=f"{tr(f'compare.method.{method}')}<br>K=%{{customdata}}: %{{y:.1%}}<extra></extra>",
                **panel))
    fig.update_xaxes(type="log", tickvals=shots, ticktext=[str(s) for s in shots],
                     range=[lo - 0.2, hi + 0.2], title_text=tr("compare.fig.x"))
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    fig.layout.yaxis.title.text = tr("compare.fig.y")
    return apply_style(fig, tr("compare.fig.title"), height=480, top=125)
