"""Memory-augmented network: one episode step by step (reads, writes, usage, the read-to-writer link) and
accuracy by instance beside the paper's and the human rows.

Widgets in (all bound to the URL) -> :mod:`lab.demos.memory` -> :mod:`lab.viz.memory`.
"""

from __future__ import annotations

import time

import streamlit as st

from lab.checkpoint import checkpoint_stamp
from lab.compute import ComputeOutOfMemory, limit_threads
from lab.demos import memory as demo
from lab.demos.episodes import omniglot_folder
from lab.demos.fewshot import held_out_source
from lab.i18n import translator
from lab.mann_eval import PAPER_ROWS, load_mann
from lab.tasks.splits import DATA_SOURCES
from lab.viz import memory as figs
from pages import background, brain_link_and_try_this, run_through_app

run_through_app()

tr = translator(st.session_state.get("lang", "en"))
ERRORS = (ValueError, OSError, ComputeOutOfMemory)  # CheckpointError is a ValueError


@st.cache_resource(show_spinner=False, max_entries=4)
def load_model(path: str, kind: str, stamp: str):
    """Return the MANN (or its LSTM baseline) at ``path`` as of ``stamp`` (a retrained file is reloaded)."""
    return load_mann(path, kind)[0]


@st.cache_data(show_spinner=False, max_entries=128, ttl=3600)
def run_episode(path: str, stamp: str, source: str, classes: int, instances: int, slots: int, gamma: float,
                seed: int) -> tuple[demo.MemoryDemo, float]:
    """Return the episode's demo and its compute time in ms."""
    start = time.perf_counter()
    result = demo.memory_demo(load_model(path, "mann", stamp), held_out_source(source, omniglot_folder()),
                              classes, instances, slots, gamma, seed)
    return result, (time.perf_counter() - start) * 1e3


def instance_curve(choice: demo.MannChoice, stamp: str, source: str, classes: int, slots: int, gamma: float,
                   seed: int) -> demo.InstanceCurve | None:
    """Return accuracy by instance of the MANN and its baseline (independent of the step and sights sliders)
    once its background job is done, shared by every session with these inputs; ``None`` until then."""
    models = {"mann": load_model(choice.path, "mann", stamp)}
    if choice.baseline:
        models["mann-lstm"] = load_model(choice.baseline, "mann-lstm", checkpoint_stamp(choice.baseline))
    held_out = held_out_source(source, omniglot_folder())
    key = ("memory.instances", choice.path, choice.baseline, stamp, source, classes, slots, gamma, seed)
    return background(tr, key, tr("memory.acc.heading"), lambda job: demo.instance_curve(
        models, held_out, classes, 50, slots, gamma, seed, on_progress=job.progress), "instances")


def controls(choices: list[demo.MannChoice]) -> dict:
    """Draw the sidebar controls (each bound to a URL query parameter) and return their values."""
    with st.sidebar:
        st.header(tr("common.controls"))
        label = st.selectbox(tr("memory.model"), [c.label for c in choices], key="model", bind="query-params",
                             help=tr("memory.model_help"))
        choice = next(c for c in choices if c.label == label)
        # Captions, not format_func: a bound widget writes its displayed option into the link.
        source = st.radio(tr("memory.source"), list(DATA_SOURCES), key="source", bind="query-params",
                          captions=[tr(f"memory.source_{s}") for s in DATA_SOURCES])
        classes = st.slider(tr("memory.classes"), 2, 5, 5, key="classes", bind="query-params",
                            help=tr("memory.classes_help"))
        instances = st.slider(tr("memory.instances"), 2, demo.MAX_INSTANCES, 10, key="sights", bind="query-params",
                              help=tr("memory.instances_help"))
        slots = st.slider(tr("memory.slots"), 4, 128, 40, key="slots", bind="query-params", help=tr("memory.slots_help"))
        st.selectbox(tr("memory.heads"), [choice.read_heads], key="heads", help=tr("memory.heads_help"), disabled=True)
        gamma = st.slider(tr("memory.gamma"), 0.5, 1.0, 0.95, 0.01, key="gamma", bind="query-params",
                          help=tr("memory.gamma_help"))
        seed = st.number_input(tr("common.seed"), 0, 1_000_000, 0, key="seed", bind="query-params")
        if "step" in st.session_state:
            # Its range follows classes x sights; a changed range makes it a new widget, which would take a
            # stale ?step= from the address bar (and raise if that lies beyond the new end): pin it here.
            st.session_state["step"] = min(int(st.session_state["step"]), classes * instances)
        step = st.slider(tr("memory.step"), 1, classes * instances, 1, key="step", bind="query-params",
                         help=tr("memory.step_help"))
    return dict(choice=choice, source=source, classes=int(classes), instances=int(instances), slots=int(slots),
                gamma=round(float(gamma), 2), seed=int(seed), step=int(step) - 1)


def second_sight_summary(result: demo.MemoryDemo) -> str:
    """Return the sentence about the first class seen twice: which slot its second sight read and who wrote it."""
    pairs = result.second_sights()
    if not pairs:
        return tr("memory.second_none")
    first, second = pairs[0]
    writer = int(result.writer[second])
    verdict = tr("memory.second_yes" if writer in (first, first + 1) else "memory.second_no")
    if writer < 0:
        return tr("memory.second_unread", label=int(result.labels[second]), first=first + 1, second=second + 1)
    return tr("memory.second", label=int(result.labels[second]), first=first + 1, second=second + 1,
              slot=int(result.read_slot[second]), writer=writer + 1, verdict=verdict)


def main() -> None:
    """Render the page top to bottom."""
    limit_threads()
    st.title(tr("memory.title"))
    st.markdown(tr("memory.intro"))
    choices, problems = demo.mann_choices()
    for problem in problems:
        st.warning(tr("memory.err_problem", msg=problem), icon=":material/warning:")
    if not choices:
        st.error(tr("memory.err_no_model"), icon=":material/block:")
        return
    inputs = controls(choices)
    choice = inputs["choice"]
    if inputs["source"] == "omniglot" and omniglot_folder() is None:
        st.info(tr("memory.omniglot_missing"), icon=":material/folder_open:")
        return
    stamp = checkpoint_stamp(choice.path)
    try:
        load_model(choice.path, "mann", stamp)
    except ValueError as exc:
        st.error(tr("memory.err_model", msg=str(exc).rstrip(".")), icon=":material/block:")
        return
    settings = {k: inputs[k] for k in ("source", "classes", "slots", "gamma", "seed")}
    try:
        with st.spinner(tr("common.computing")):
            result, ms = run_episode(choice.path, stamp, instances=inputs["instances"], **settings)
    except ERRORS as exc:
        st.error(tr("memory.err_input", msg=str(exc).rstrip(".")), icon=":material/warning:")
        return
    st.plotly_chart(figs.episode_animation(result, inputs["step"], tr.lang), key="episode",
                    alt=figs.animation_alt(result, tr.lang))
    st.caption(tr("memory.guide"))
    st.markdown(second_sight_summary(result) + " " + tr("memory.episode_acc", right=int(result.correct.sum()),
                                                         total=len(result.labels), acc=f"{100 * result.correct.mean():.0f}"))
    st.subheader(tr("memory.acc.heading"))
    try:
        curve = instance_curve(choice, stamp, **settings)
        if curve is not None:
            rows = "; ".join(f"{name} " + ", ".join(f"{100 * m:.0f}%" for m in means)
                             for name, (means, _) in curve.rows.items())
            st.plotly_chart(figs.instance_figure(curve, PAPER_ROWS, tr.lang), key="instances",
                            alt=tr("memory.acc.alt", rows=rows))
            st.caption(tr("memory.acc.guide"))
    except ERRORS as exc:
        st.error(tr("memory.err_input", msg=str(exc).rstrip(".")), icon=":material/warning:")
    st.caption(tr("memory.timing", ms=f"{ms:.0f}"))
    brain_link_and_try_this(tr, "memory")


main()
