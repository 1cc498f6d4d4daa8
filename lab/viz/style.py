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
        template="plotly_white",
        height=height,
        margin=dict(l=70, r=20, t=top, b=bottom),
        legend=dict(orientation="h", x=0.0, xanchor="left", xref="container", y=1 - LEGEND_PX / height,
                    yanchor="top", yref="container", font=dict(size=14), itemwidth=40),
        hoverlabel=dict(font_size=14),
    )
    fig.update_annotations(font=dict(size=16))  # subplot titles
    return fig
