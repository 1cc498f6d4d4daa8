"""MAML: how a meta-learned initialisation adapts in a few gradient steps, in two tabs.

* Sine waves: widgets in (all bound to the URL) -> :func:`lab.demos.maml_sine.maml_sine_demo` ->
  :mod:`lab.viz.maml`.
* Characters: :func:`pages.tabs.maml_images.images_tab` (few-shot classification with a Conv4).

Only the open tab runs, and only its controls are in the sidebar; the open tab is ``?tab=images`` in the link.
"""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from lab.checkpoint import assets_dir, checkpoint_stamp
from lab.compute import ComputeOutOfMemory, limit_threads
from lab.demos import maml_sine as demo
from lab.i18n import translator
from lab.links import MAML_LRS
from lab.viz import maml as figs
from pages import brain_link_and_try_this, chart_columns, run_through_app
from pages.tabs.maml_images import images_tab

run_through_app()

LR_CHOICES = list(MAML_LRS)  # the stops the link checker (lab.links) knows too
DEFAULTS = dict(k=10, steps=10, lr=0.01, amp=2.0, phase=0.5, seed=0)
TABS = ("sine", "images")  # language-neutral names of the tabs, as they appear in ?tab=

tr = translator(st.session_state.get("lang", "en"))


def folder_stamp(folder: str) -> str:
    """Return a tag that changes whenever one of the sinusoid checkpoints in ``folder`` is rewritten.

    It keys both caches below, so re-running ``python -m lab pretrain`` takes effect without a restart.
    """
    return "/".join(checkpoint_stamp(Path(folder) / stem) for stem, _ in demo.CHECKPOINTS.values())


@st.cache_resource(show_spinner=False, max_entries=4)
def load_starts(folder: str, stamp: str) -> tuple[dict, dict]:
    """Return the MAML and pretrained parameters of the checkpoints in ``folder`` as of ``stamp``.

    Also warms the demo up, so that the first student's slider move does not pay a one-off start-up cost.
    """
    maml, pretrained, _ = demo.load_sine_starts(Path(folder))
    demo.warm_up(maml, pretrained)
    return maml, pretrained


@st.cache_data(show_spinner=False, max_entries=512)
def run_demo(folder: str, stamp: str, amp: float, phase: float, k: int, steps: int, lr: float,
             seed: int) -> tuple[demo.SineDemo, float]:
    """Return the demo for these inputs and its compute time in ms (``stamp`` keys the cache)."""
    maml, pretrained = load_starts(folder, stamp)
    start = time.perf_counter()
    result = demo.maml_sine_demo(maml, pretrained, amp, phase, k, steps, lr, seed)
    return result, (time.perf_counter() - start) * 1e3


def new_task() -> None:
    """Draw the next random task for this seed and write it into the amplitude/phase widgets."""
    draw = st.session_state.get("task_draw", 0) + 1
    st.session_state["task_draw"] = draw
    st.session_state["amp"], st.session_state["phase"] = demo.random_task(int(st.session_state.get("seed", 0)), draw)


def controls() -> dict:
    """Draw the sidebar controls (each bound to a URL query parameter) and return their values."""
    with st.sidebar:
        st.header(tr("common.controls"))
        k = st.slider(tr("maml.k"), 1, 50, DEFAULTS["k"], key="k", bind="query-params", help=tr("maml.k_help"))
        steps = st.slider(tr("maml.steps"), 0, 20, DEFAULTS["steps"], key="steps", bind="query-params",
                          help=tr("maml.steps_help"))
        lr = st.select_slider(tr("maml.lr"), LR_CHOICES, DEFAULTS["lr"], key="lr", bind="query-params",
                              help=tr("maml.lr_help"))
        amp = st.slider(tr("maml.amp"), 0.1, 5.0, DEFAULTS["amp"], 0.1, key="amp", bind="query-params")
        phase = st.slider(tr("maml.phase"), 0.0, 3.14, DEFAULTS["phase"], 0.01, key="phase", bind="query-params")
        st.button(tr("maml.new_task"), on_click=new_task, icon=":material/casino:", width="stretch")
        seed = st.number_input(tr("common.seed"), 0, 1_000_000, DEFAULTS["seed"], key="seed", bind="query-params",
                               help=tr("maml.seed_help"))
    return dict(amp=float(amp), phase=float(phase), k=int(k), steps=int(steps), lr=float(lr), seed=int(seed))


def open_tab() -> tuple[object, str]:
    """Draw the tabs; return the open one's container and its name (from ``TABS``).

    The link keeps it as ``?tab=images``: a tab bound to the URL would store its translated label there, which
    a language switch would break. On a session's first run, or after a language switch (the stored label is
    then in the other language), the link says which tab opens; the first tab keeps the link as it was before.
    """
    labels = [tr("maml.img.tab_sine"), tr("maml.img.tab_images")]
    if st.session_state.get("maml_tab") not in labels:
        wanted = st.query_params.get("tab", TABS[0])
        st.session_state["maml_tab"] = labels[TABS.index(wanted) if wanted in TABS else 0]
    tabs = st.tabs(labels, key="maml_tab", on_change="rerun")
    index = 1 if tabs[1].open else 0
    if index and st.query_params.get("tab") != TABS[index]:
        st.query_params["tab"] = TABS[index]
    elif not index:
        st.query_params.pop("tab", None)
    return tabs[index], TABS[index]


def sine_tab() -> None:
    """Render the sinusoid tab top to bottom."""
    st.markdown(tr("maml.intro"))
    inputs = controls()
    folder = str(assets_dir())
    stamp = folder_stamp(folder)
    try:
        load_starts(folder, stamp)
    except ValueError as exc:  # CheckpointError is a ValueError
        st.error(tr("maml.err_assets", msg=str(exc).rstrip(".")), icon=":material/block:")
        return
    try:
        started = time.perf_counter()
        result, ms = run_demo(folder, stamp, **inputs)
        cached = (time.perf_counter() - started) * 1e3 < 0.5 * ms
    except (ValueError, ComputeOutOfMemory) as exc:
        st.error(tr("maml.err_input", msg=str(exc).rstrip(".")), icon=":material/warning:")
        return
    diverged = [tr("maml.diverged_item", start=tr(f"start.{n}"), step=len(s.query_loss) - 1)
                for n, s in result.starts.items() if s.error]
    if diverged:
        st.warning(tr("maml.err_diverged", lr=inputs["lr"], starts="; ".join(diverged)), icon=":material/warning:")
    values = dict(k=inputs["k"], steps=inputs["steps"], amp=inputs["amp"], phase=inputs["phase"])
    st.plotly_chart(figs.fit_animation(result, tr.lang), key="fit", alt=tr("maml.fit.alt", **values))
    st.caption(tr("maml.fit.guide"))
    finals = {n: (f"{s.query_loss[-1]:.3g}" if len(s.query_loss) else "—") for n, s in result.starts.items()}
    left, right = chart_columns(2, gap="medium")
    with left:
        st.plotly_chart(figs.loss_curves(result, tr.lang), key="loss", alt=tr("maml.loss.alt", **finals))
        st.caption(tr("maml.loss.guide"))
    with right:
        if result.landscape is not None:
            st.plotly_chart(figs.landscape_figure(result.landscape, tr.lang), key="land",
                            alt=tr("maml.land.alt", steps=len(result.landscape.path) - 1))
            st.caption(tr("maml.land.guide"))
    st.caption(tr("common.timing_cached" if cached else "common.timing", ms=f"{ms:.0f}"))
    brain_link_and_try_this(tr, "maml")


def main() -> None:
    """Render the page: the title, then the open tab (the other one does not run)."""
    limit_threads()
    st.title(tr("maml.title"))
    tab, name = open_tab()
    with tab:
        if name == "images":
            images_tab(tr)
        else:
            sine_tab()


main()
