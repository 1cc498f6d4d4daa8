"""The brain as a meta-learner: play a bandit or the Harlow task yourself, then watch the frozen-weight
meta-RL network play the same episodes (Wang et al. 2018).

Widgets in (bound to the URL) -> :mod:`lab.demos.meta_rl` -> :mod:`lab.viz.meta_rl`. The student's choices
live in ``st.session_state["meta_rl_game"]``; everything else is recomputed from them.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from lab.checkpoint import checkpoint_stamp
from lab.compute import limit_threads
from lab.demos import meta_rl as demo
from lab.i18n import translator
from lab.meta_rl_eval import shipped_path
from lab.meta_rl_training import META_RL_TASKS
from lab.viz import meta_rl as figs
from pages import brain_link_and_try_this, chart_columns, run_through_app

run_through_app()

tr = translator(st.session_state.get("lang", "en"))
GAME = "meta_rl_game"


@st.cache_resource(show_spinner=False, max_entries=8)
def load_agent(task: str, stamp: str) -> demo.MetaRLAgent:
    """Return the shipped agent for ``task`` as of ``stamp`` (a retrained file is reloaded)."""
    return demo.load_page_agent(task)


@st.cache_resource(show_spinner=False, max_entries=32)
def episodes(task: str, seed: int, trials: int, probs: tuple[float, float] | None):
    """Return the game's episodes for these settings (shared by every session: they are never changed)."""
    return demo.game_episodes(task, seed, trials, probs)


@st.cache_data(show_spinner=False, max_entries=64, ttl=3600)
def agent_run(task: str, stamp: str, seed: int, trials: int, probs: tuple[float, float] | None) -> demo.AgentRun:
    """Return the network's run on the game's episodes (it does not depend on the student's choices)."""
    return demo.agent_run(load_agent(task, stamp), episodes(task, seed, trials, probs), seed)


def controls() -> dict:
    """Draw the sidebar controls (each bound to a URL query parameter) and return their values."""
    with st.sidebar:
        st.header(tr("common.controls"))
        task = st.radio(tr("meta_rl.task"), list(META_RL_TASKS), key="task", bind="query-params",
                        captions=[tr(f"meta_rl.task_{k}") for k in META_RL_TASKS])
        harlow = task == "harlow"
        hidden = st.toggle(tr("meta_rl.hidden_probs"), True, key="hide", bind="query-params", disabled=harlow,
                           help=tr("meta_rl.hidden_probs_help"))
        p_left = st.slider(tr("meta_rl.p_left"), 0.0, 1.0, 0.3, 0.05, key="p_left", bind="query-params",
                           disabled=harlow or hidden)
        p_right = st.slider(tr("meta_rl.p_right"), 0.0, 1.0, 0.7, 0.05, key="p_right", bind="query-params",
                            disabled=harlow or hidden or task != "bandit-independent",
                            help=tr("meta_rl.p_right_help"))
        trials = st.slider(tr("meta_rl.trials"), 2, 10, 6, key="h_trials", bind="query-params") if harlow else \
            st.slider(tr("meta_rl.trials"), 5, 100, 20, 5, key="b_trials", bind="query-params")
        seed = st.number_input(tr("common.seed"), 0, 1_000_000, 0, key="seed", bind="query-params")
    probs = None if harlow or hidden else (float(p_left), float(p_right))
    return dict(task=task, probs=probs, trials=int(trials), seed=int(seed))


def game(setup: tuple) -> dict:
    """Return the student's game for ``setup``, a fresh one when the settings changed."""
    if st.session_state.get(GAME, {}).get("setup") != setup:
        st.session_state[GAME] = {"setup": setup, "done": [], "current": []}
    return st.session_state[GAME]


def choose(g: dict, action: int, trials: int) -> None:
    """Button callback: record the student's choice; a finished episode moves to ``done``."""
    g["current"].append(action)
    if len(g["current"]) == trials:
        g["done"].append(g["current"])
        g["current"] = []


def play_view(g: dict, batch, inputs: dict) -> None:
    """The student's turn: the screen (Harlow objects), two buttons, the running score and the last outcome."""
    st.subheader(":material/sports_esports: " + tr("meta_rl.play.heading"))
    st.markdown(tr(f"meta_rl.play.intro_{'harlow' if inputs['task'] == 'harlow' else 'bandit'}"))
    k, trials = len(g["done"]), inputs["trials"]
    if k >= demo.MAX_EPISODES:
        st.success(tr("meta_rl.play.all_done", n=k), icon=":material/check_circle:")
        return
    t = len(g["current"])
    rewards = demo.replay(batch, k, g["current"])
    st.markdown(tr("meta_rl.play.status", episode=k + 1, episodes=demo.MAX_EPISODES, trial=t + 1, trials=trials,
                   total=f"{sum(rewards):.0f}"))
    if inputs["task"] == "harlow":
        screen = np.kron(demo.harlow_screen(batch, k, t), np.ones((6, 6)))
        st.image(1 - screen, clamp=True, caption=tr("meta_rl.play.screen"), width=340)
    left, right = st.columns(2)
    left.button(tr("meta_rl.side.left"), key="play_left", on_click=choose, args=(g, 0, trials),
                use_container_width=True, icon=":material/arrow_back:")
    right.button(tr("meta_rl.side.right"), key="play_right", on_click=choose, args=(g, 1, trials),
                 use_container_width=True, icon=":material/arrow_forward:")
    last = g["current"][-1:] or (g["done"][-1][-1:] if g["done"] and not t else [])
    if last:
        ep = k if t else k - 1
        got = demo.replay(batch, ep, (g["current"] if t else g["done"][-1]))[-1]
        side = tr("meta_rl.side.right" if last[0] else "meta_rl.side.left")
        st.info(tr("meta_rl.play.outcome_win" if got else "meta_rl.play.outcome_lose", side=side),
                icon=":material/redeem:" if got else ":material/block:")
    if g["done"] and not t:
        done_rewards = demo.replay(batch, k - 1, g["done"][-1])
        st.success(tr("meta_rl.play.episode_done", total=f"{sum(done_rewards):.0f}", trials=trials),
                   icon=":material/flag:")


def agent_view(g: dict, batch, run: demo.AgentRun, inputs: dict) -> None:
    """The network on the same episodes: curves of every player, its hidden state and its choice probabilities."""
    st.subheader(":material/neurology: " + tr("meta_rl.agent.heading"))
    n = len(g["done"])
    task = inputs["task"]
    if n:
        curves = demo.player_curves(task, batch, g["done"], run, inputs["seed"])
        st.plotly_chart(figs.curves_figure(curves, task, n, tr.lang), key="curves",
                        alt=figs.curves_alt(curves, task, tr.lang))
        st.caption(tr(f"meta_rl.curves.guide_{'harlow' if task == 'harlow' else 'bandit'}"))
    ep = st.slider(tr("meta_rl.agent.episode"), 1, demo.MAX_EPISODES, max(n, 1), key="inspect",
                   bind="query-params") - 1
    better = demo.better_side(batch, ep)
    left, right = chart_columns(2, gap="medium")
    with left:
        st.plotly_chart(figs.hidden_figure(run.hidden_2d[ep], run.p_right[ep], run.actions[ep], run.rewards[ep],
                                           run.explained, tr.lang), key="hidden", alt=tr("meta_rl.hidden.alt"))
        st.caption(tr("meta_rl.hidden.guide"))
    with right:
        st.plotly_chart(figs.choice_figure(run.p_right[ep], run.actions[ep], run.rewards[ep], tr.lang, better,
                                          task == "harlow"),
                        key="choices", alt=tr("meta_rl.choice.alt", total=f"{run.rewards[ep].sum():.0f}"))
        st.caption(tr("meta_rl.choice.guide"))


def main() -> None:
    """Render the page top to bottom."""
    limit_threads()
    st.title(tr("meta_rl.title"))
    st.markdown(tr("meta_rl.intro"))
    inputs = controls()
    path = shipped_path(inputs["task"])
    stamp = checkpoint_stamp(path)
    try:
        with st.spinner(tr("common.computing")):
            load_agent(inputs["task"], stamp)
            batch = episodes(inputs["task"], inputs["seed"], inputs["trials"], inputs["probs"])
    except ValueError as exc:  # CheckpointError: missing or damaged shipped model
        st.error(tr("meta_rl.err_model", msg=str(exc).split(";")[0], name="meta-rl-" + path.name[8:].replace("_", "-")),
                 icon=":material/block:")
        return
    g = game((inputs["task"], inputs["seed"], inputs["trials"], inputs["probs"]))
    play_view(g, batch, inputs)
    st.button(tr("meta_rl.play.restart"), key="restart", on_click=lambda: g.update(done=[], current=[]))
    if g["done"] or st.toggle(tr("meta_rl.agent.peek"), False, key="peek", bind="query-params"):
        with st.spinner(tr("common.computing")):
            run = agent_run(inputs["task"], stamp, inputs["seed"], inputs["trials"], inputs["probs"])
        agent_view(g, batch, run, inputs)
    else:
        st.info(tr("meta_rl.agent.wait"), icon=":material/hourglass_top:")
    brain_link_and_try_this(tr, "meta_rl")


main()
