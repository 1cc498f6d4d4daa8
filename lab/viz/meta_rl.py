"""Figures of the meta-RL page, built from :mod:`lab.demos.meta_rl` traces.

* :func:`curves_figure` — student, agent and baselines on one axis: cumulative regret (bandits) or accuracy
  per trial (Harlow) against the trial number;
* :func:`hidden_figure` — the agent's hidden state over one episode, projected to 2-D, coloured by its
  choice probability (its belief about which side pays);
* :func:`choice_figure` — the agent's probability of choosing right, trial by trial, with its choices and
  their rewards.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from lab.i18n import translator
from lab.viz import BLACK, BLUE, GREEN, ORANGE, PURPLE, SKY, VERMILLION
from lab.viz.style import apply_style

PLAYER_COLORS = {"student": VERMILLION, "meta-rl": BLUE, "thompson": ORANGE, "bayes-optimal": GREEN,
                 "ucb": PURPLE, "wsls-object": GREEN, "random": "#999999"}
PLAYER_DASH = {"student": "solid", "meta-rl": "solid", "random": "dot"}  # baselines default to dash
DIVERGING = "RdBu"  # p(right): red = left, blue = right; colour-blind safe


def _player_name(tr, player: str) -> str:
    return tr(f"meta_rl.player.{player}")


def curves_figure(curves: dict[str, np.ndarray], task: str, n_episodes: int, lang: str = "en") -> go.Figure:
    """Return one line per player over trials 1..T: cumulative regret (bandit) or accuracy % (Harlow)."""
    tr = translator(lang)
    harlow = task == "harlow"
    fig = go.Figure()
    for player, curve in curves.items():
        y = 100 * np.asarray(curve) if harlow else np.asarray(curve)
        fig.add_trace(go.Scatter(
            x=np.arange(1, len(y) + 1), y=y, mode="lines+markers" if harlow else "lines",
            name=_player_name(tr, player),
            line=dict(color=PLAYER_COLORS.get(player, BLACK), width=4 if player in ("student", "meta-rl") else 2,
                      dash=PLAYER_DASH.get(player, "dash")),
            hovertemplate="%{x}: %{y:.1f}<extra>" + _player_name(tr, player) + "</extra>"))
    fig.update_xaxes(title_text=tr("meta_rl.curves.x"))
    if harlow:
        fig.update_yaxes(title_text=tr("meta_rl.curves.y_acc"), range=[-5, 105])
        title = tr("meta_rl.curves.title_harlow", n=n_episodes)
    else:
        fig.update_yaxes(title_text=tr("meta_rl.curves.y_regret"), rangemode="tozero")
        title = tr("meta_rl.curves.title_bandit", n=n_episodes)
    return apply_style(fig, title, height=430, top=100)


def curves_alt(curves: dict[str, np.ndarray], task: str, lang: str = "en") -> str:
    """Return the screen-reader text of :func:`curves_figure`: each player's final value."""
    tr = translator(lang)
    scale = 100 if task == "harlow" else 1
    ends = ", ".join(f"{_player_name(tr, p)} {scale * float(np.asarray(c)[-1]):.1f}" for p, c in curves.items())
    return tr("meta_rl.curves.alt", ends=ends)


def hidden_figure(points: np.ndarray, p_right: np.ndarray, actions: np.ndarray, rewards: np.ndarray,
                  explained: float, lang: str = "en") -> go.Figure:
    """Return the path of one episode's hidden states ``points`` ``[T, 2]``, markers coloured by
    ``p_right`` ``[T]``; the first trial is a larger ring, the last a square."""
    tr = translator(lang)
    trials = np.arange(1, len(points) + 1)
    side = [tr("meta_rl.side.right") if a else tr("meta_rl.side.left") for a in actions]
    custom = np.stack([trials, 100 * p_right, np.asarray(side, dtype=object), rewards], axis=1)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=points[:, 0], y=points[:, 1], mode="lines", line=dict(color="#BBBBBB", width=1.5),
                             hoverinfo="skip", showlegend=False))
    fig.add_trace(go.Scatter(
        x=points[:, 0], y=points[:, 1], mode="markers", name=tr("meta_rl.hidden.series"), customdata=custom,
        marker=dict(size=np.where(trials == 1, 16, 9), color=p_right, cmin=0, cmax=1, colorscale=DIVERGING,
                    symbol=np.where(trials == len(points), "square", "circle"), line=dict(color=BLACK, width=0.5),
                    colorbar=dict(title=dict(text=tr("meta_rl.hidden.colorbar")), tickformat=".0%")),
        hovertemplate=tr("meta_rl.hidden.hover") + "<extra></extra>"))
    fig.update_xaxes(title_text=tr("meta_rl.hidden.x"))
    fig.update_yaxes(title_text=tr("meta_rl.hidden.y"), scaleanchor="x")
    return apply_style(fig, tr("meta_rl.hidden.title", pct=f"{100 * explained:.0f}"), height=430, top=90)


def choice_figure(p_right: np.ndarray, actions: np.ndarray, rewards: np.ndarray, lang: str = "en",
                  better: np.ndarray | None = None, harlow: bool = False) -> go.Figure:
    """Return the agent's p(right) per trial (a line), its choices (markers at 1 = right or 0 = left; filled
    when rewarded) and, when given, which side was better on each trial ``better`` ``[T]`` (a step line: the
    better arm, or on Harlow the side of the rewarded object)."""
    tr = translator(lang)
    trials = np.arange(1, len(p_right) + 1)
    fig = go.Figure()
    if better is not None:
        fig.add_trace(go.Scatter(x=trials, y=better, mode="lines", line=dict(color=GREEN, shape="hv", width=2),
                                 name=tr("meta_rl.choice.rewarded_side" if harlow else "meta_rl.choice.better"),
                                 hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=trials, y=p_right, mode="lines", line=dict(color=BLUE, width=3),
                             name=tr("meta_rl.choice.p_right"), hovertemplate="%{x}: %{y:.0%}<extra></extra>"))
    won = rewards > 0
    for mask, key, symbol in ((won, "meta_rl.choice.rewarded", "circle"), (~won, "meta_rl.choice.unrewarded",
                                                                          "circle-open")):
        fig.add_trace(go.Scatter(x=trials[mask], y=actions[mask], mode="markers", name=tr(key),
                                 marker=dict(symbol=symbol, size=9, color=SKY if symbol == "circle" else VERMILLION,
                                             line=dict(width=2)), hoverinfo="skip"))
    fig.update_xaxes(title_text=tr("meta_rl.curves.x"))
    fig.update_yaxes(title_text=tr("meta_rl.choice.y"), range=[-0.1, 1.1], tickvals=[0, 0.5, 1],
                     ticktext=[tr("meta_rl.side.left"), "50%", tr("meta_rl.side.right")])
    return apply_style(fig, tr("meta_rl.choice.title"), height=430, top=100)
