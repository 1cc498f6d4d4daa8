"""Shared layout for every figure: palette, fonts large enough to project, titles that say what to look at.

Layout from the top: the title, then the legend on its own row, then the plot (and any subplot titles), so
that nothing overlaps whatever the figure's height.
"""

from __future__ import annotations

import plotly.graph_objects as go

from lab.viz import OKABE_ITO

FONT = dict(family="Source Sans Pro, Noto Sans CJK SC, Noto Sans SC, sans-serif", size=15, color="#262730")
TITLE_PX = 14  # title baseline offset from the top edge, pixels
LEGEND_PX = 46  # legend row offset from the top edge, pixels


def apply_style(fig: go.Figure, title: str, height: int = 420, top: int = 95, bottom: int = 60) -> go.Figure:
    """Return ``fig`` with the lab's title, legend row, palette, font, margins and white background.

    ``top`` and ``bottom`` are the margins in pixels (room for the legend row, subplot titles, controls).
    """
    fig.update_layout(
        title=dict(text=title, x=0.0, xanchor="left", xref="container", y=1 - TITLE_PX / height,
                   yanchor="top", yref="container", font=dict(size=19), pad=dict(l=10)),
        colorway=list(OKABE_ITO),
        font=FONT,
        paper_bgcolor="white", plot_bgcolor="white",  # no template: applying one costs ~30 ms per figure
        height=height,
        margin=dict(l=70, r=20, t=top, b=bottom),
        legend=dict(orientation="h", x=0.0, xanchor="left", xref="container", y=1 - LEGEND_PX / height,
                    yanchor="top", yref="container", font=dict(size=14), itemwidth=40),
        hoverlabel=dict(font_size=14),
    )
    fig.update_annotations(font=dict(size=16))  # subplot titles
    grid = dict(gridcolor="#E8E8E8", zerolinecolor="#C8C8C8", linecolor="#C8C8C8")
    fig.update_xaxes(**grid)
    fig.update_yaxes(**grid)
    return fig


def side_by_side(n: int, titles: list[str], colors: list[str] | None = None, gap: float = 0.03) -> dict:
    """Return layout properties for ``n`` panels in one row sharing the y axis, titled ``titles``.

    Traces go to panel ``i`` (0-based) with ``xaxis=axis_ref("x", i)`` and ``yaxis=axis_ref("y", i)``. A
    hand-made equivalent of ``make_subplots(1, n, shared_yaxes=True)``, which costs ~30 ms per figure.
    """
    width = (1 - gap * (n - 1)) / n
    layout: dict = {"annotations": []}
    for i in range(n):
        lo = i * (width + gap)
        x, y = axis_ref("x", i), axis_ref("y", i)
        layout[f"xaxis{i + 1 if i else ''}"] = dict(domain=[lo, lo + width], anchor=y)
        layout[f"yaxis{i + 1 if i else ''}"] = dict(anchor=x, **({"matches": "y", "showticklabels": False} if i else {}))
        layout["annotations"].append(dict(
            text=titles[i], x=lo + width / 2, y=1.0, xref="paper", yref="paper", xanchor="center",
            yanchor="bottom", showarrow=False, font=dict(size=17, color=(colors or [None] * n)[i])))
    return layout


def axis_ref(kind: str, i: int) -> str:
    """Return the plotly axis reference of panel ``i``: ``"x"``, ``"x2"``, ... (``kind`` is "x" or "y")."""
    return f"{kind}{i + 1 if i else ''}"
