"""Shared layout for every figure: palette, fonts large enough to project, titles that say what to look at.

Layout from the top: the title, then the legend on its own row, then the plot (and any subplot titles), so
that nothing overlaps whatever the figure's height.

Projector mode (the sidebar toggle, ``?projector=1``): :func:`set_projector` turns it on for the figures the
current script run builds, and :func:`apply_style` then calls :func:`projector_style`: larger type, thicker
lines and bigger markers, black text and axis lines. The flag is a context variable, so one student's
projector mode never reaches another session's figures (each Streamlit session runs in its own thread).
"""

from __future__ import annotations

from contextvars import ContextVar

import plotly.graph_objects as go

from lab.viz import OKABE_ITO

FONT = dict(family="Source Sans Pro, Noto Sans CJK SC, Noto Sans SC, sans-serif", size=15, color="#262730")
TITLE_PX = 14  # title baseline offset from the top edge, pixels
LEGEND_PX = 46  # legend row offset from the top edge, pixels
PROJECTOR: ContextVar[bool] = ContextVar("projector", default=False)
PROJECTOR_SCALE = 1.35  # type size factor: 15 px text becomes 20 px, readable from the back of a room


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
    return projector_style(fig, top) if PROJECTOR.get() else fig


def set_projector(on: bool) -> None:
    """Turn projector mode on or off for the figures built from now on in this thread (one script run)."""
    PROJECTOR.set(bool(on))


def projector_style(fig: go.Figure, top: int | None = None) -> go.Figure:
    """Return ``fig`` restyled for a projector: type x1.35, lines twice as thick, markers x1.4, black text and
    axes on white, darker grid. Applies to every trace, animation frames included."""
    k = PROJECTOR_SCALE
    layout = fig.layout
    fig.update_layout(font=dict(size=round(FONT["size"] * k), color="black"),
                      legend=dict(font=dict(size=round(14 * k))), hoverlabel=dict(font_size=round(14 * k)))
    if layout.title.text:
        layout.title.font.size = round(19 * k)
        # A bigger title needs the legend row and the plot further down.
        height = layout.height or 420
        layout.legend.y = 1 - (LEGEND_PX + 14) / height
        layout.margin.t = (top if top is not None else layout.margin.t or 95) + 14
    fig.update_annotations(font=dict(size=round(16 * k)))
    axes = dict(gridcolor="#BDBDBD", zerolinecolor="#7F7F7F", linecolor="black", linewidth=2,
                tickfont=dict(size=round(14 * k), color="black"), title_font=dict(size=round(15 * k), color="black"))
    fig.update_xaxes(**axes)
    fig.update_yaxes(**axes)
    for trace in [*fig.data, *(t for frame in fig.frames for t in frame.data)]:
        _thicken(trace)
    return fig


def _thicken(trace) -> None:
    """Double the trace's line width (at least 3 px) and scale its markers by 1.4, where it has them."""
    if trace.type not in ("scatter", "scattergl", "scatter3d", "bar", "box", "histogram"):
        return
    if trace.type.startswith("scatter"):
        mode = trace.mode or "lines"
        if "lines" in mode:
            trace.line.width = max(2 * (trace.line.width or 2), 3)
        if "markers" in mode and trace.marker.size is not None and not isinstance(trace.marker.size, tuple):
            trace.marker.size = trace.marker.size * 1.4
    if trace.marker.line.width:
        trace.marker.line.width = max(2 * trace.marker.line.width, 2)


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
