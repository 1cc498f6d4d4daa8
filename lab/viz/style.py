"""Shared layout for every figure: palette, fonts large enough to project, titles that say what to look at.

Layout from the top: the title, then the legend on its own row, then the plot (and any subplot titles), so
that nothing overlaps whatever the figure's height.

Projector mode (the sidebar toggle, ``?projector=1``): :func:`set_projector` turns it on for the figures the
current script run builds, and :func:`apply_style` then calls :func:`projector_style`: larger type, thicker
lines and bigger markers, black text and axis lines. The flag is a context variable, so one student's
projector mode never reaches another session's figures (each Streamlit session runs in its own thread).
"""

from __future__ import annotations

import math
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
    axes on white, darker grid. Applies to every trace, animation frames included.

    The plot keeps its size: the margins grow with the type (a long title wraps onto a second line, the legend
    row moves down, animation controls under the axes move down) and the figure grows by as much.
    """
    k = PROJECTOR_SCALE
    layout = fig.layout
    height = layout.height or 420
    top = top if top is not None else (layout.margin.t if layout.margin.t is not None else 95)
    bottom = layout.margin.b if layout.margin.b is not None else 60
    title_px = round(19 * k)
    fig.update_layout(font=dict(size=round(FONT["size"] * k), color="black"),
                      legend=dict(font=dict(size=round(14 * k))), hoverlabel=dict(font_size=round(14 * k)))
    extra_top = round(top * (k - 1))
    if layout.title.text:
        layout.title.font.size = title_px
        wrapped = wrap_title(layout.title.text, title_px)
        pad = 0
        if wrapped != layout.title.text:
            # Plotly places a two-line title too high (its first line is cut in Chinese): pad it down.
            layout.title.text, pad = wrapped, round(0.5 * title_px)
            layout.title.pad.t = pad
            extra_top += round(1.25 * title_px) + pad  # the second line
        layout.legend.y = 1 - (TITLE_PX + pad + 1.25 * title_px * (1 + wrapped.count("<br>")) + 8) / (height + extra_top)
    if layout.showlegend is not False:  # a legend row too wide for a half-width chart wraps: room per row
        legend_px = round(14 * k)
        names = [t.name for t in fig.data if t.name and t.showlegend is not False]
        rows = math.ceil(sum(_text_px(n, legend_px) + 50 for n in names) / 520) if names else 1
        extra_top += (rows - 1) * round(1.3 * legend_px)
    extra_bottom = round(bottom * (k - 1))
    plot_px = max(height - top - bottom, 1)
    for control in [*layout.sliders, *layout.updatemenus]:  # animation controls below the x axis
        if control.y is not None and control.y <= 0:
            control.y -= extra_bottom / plot_px
    layout.margin.t, layout.margin.b = top + extra_top, bottom + extra_bottom
    layout.height = height + extra_top + extra_bottom
    fig.update_annotations(font=dict(size=round(16 * 1.15)))  # subplot titles share a row: grow them less
    axes = dict(gridcolor="#BDBDBD", zerolinecolor="#7F7F7F", linecolor="black", linewidth=2,
                tickfont=dict(size=round(14 * k), color="black"), title_font=dict(size=round(15 * k), color="black"))
    fig.update_xaxes(**axes)
    fig.update_yaxes(**axes)
    for trace in [*fig.data, *(t for frame in fig.frames for t in frame.data)]:
        _thicken(trace)
        bar = getattr(trace, "colorbar", None)
        if bar is not None and bar.title.text:
            bar.title.side = "top"  # beside a wider scale it would run into the next panel
    return fig


def wrap_title(title: str, font_px: int, max_px: int = 520) -> str:
    """Return ``title`` on two lines (``<br>``) when it would be wider than ``max_px`` at ``font_px``, split at
    the space or Chinese punctuation nearest its middle; unchanged when it fits or already has a line break.

    Width is estimated (0.55 em a Latin character, 1 em a CJK one): half-width charts are about 520 px wide on
    a 1440-px screen.
    """
    if "<br>" in title:
        return title
    wide = [_is_wide(ch) for ch in title]
    if _text_px(title, font_px) <= max_px:
        return title
    # After a space or punctuation; in Chinese, between any two characters.
    n = len(title)
    punctuation = [i + 1 for i, ch in enumerate(title[:-1]) if ch in " ：，；:" and n / 4 <= i <= 3 * n / 4]
    breaks = punctuation or [i + 1 for i in range(n - 1) if wide[i] and wide[i + 1]]
    if not breaks:
        return title
    cut = min(breaks, key=lambda i: abs(i - n / 2))
    return title[:cut].rstrip() + "<br>" + title[cut:].lstrip()


def _is_wide(ch: str) -> bool:
    return "\u2e80" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef"


def _text_px(text: str, font_px: int) -> float:
    """Return the estimated width of ``text`` in pixels: 0.55 em a Latin character, 1 em a CJK one."""
    return sum(1.0 if _is_wide(ch) else 0.55 for ch in text) * font_px


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
