"""Plotly figure builders: they take traces (arrays, dataclasses of arrays) and return ``go.Figure``.

Nothing here trains or adapts a model. Every figure uses the colour-blind-safe Okabe–Ito palette below
(Okabe & Ito 2008, "Color Universal Design"), the same list as ``theme.chartCategoricalColors`` in
``.streamlit/config.toml``, and says in its title what to look at.
"""

from __future__ import annotations

OKABE_ITO: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#F0E442",  # yellow
    "#000000",  # black
)
BLUE, ORANGE, GREEN, PURPLE, SKY, VERMILLION, YELLOW, BLACK = OKABE_ITO

# Fixed roles so a colour means the same thing on every page.
START_COLORS: dict[str, str] = {"maml": BLUE, "pretrained": ORANGE, "random": GREEN}
TRUTH_COLOR = BLACK
SUPPORT_COLOR = VERMILLION
QUERY_COLOR = SKY
SEQUENTIAL_SCALE = "Viridis"  # perceptually uniform and colour-blind safe, for surfaces and images

__all__ = ["OKABE_ITO", "START_COLORS", "TRUTH_COLOR", "SUPPORT_COLOR", "QUERY_COLOR", "SEQUENTIAL_SCALE"]
