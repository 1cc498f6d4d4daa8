"""Virtual tasks: a learned generative model of characters dreams up new classes; ProtoNets trained on real
plus dreamt tasks against real-only ones, as the real classes grow.

Widgets in (all bound to the URL) -> :mod:`lab.demos.virtual` -> :mod:`lab.viz.virtual`.
"""

from __future__ import annotations

import streamlit as st

from lab.checkpoint import checkpoint_stamp
from lab.cli_virtual import shipped_generator_path
from lab.compute import limit_threads
from lab.demos import virtual as demo
from lab.i18n import translator
from lab.viz import virtual as figs
from pages import brain_link_and_try_this, run_through_app

run_through_app()

tr = translator(st.session_state.get("lang", "en"))


@st.cache_resource(show_spinner=False, max_entries=2)
def load_model(stamp: str) -> tuple[demo.CharacterVAE, list[int]]:
    """Return the shipped generator as of ``stamp`` (a re-made file is reloaded) and the classes it saw."""
    model, card = demo.load_shipped()
    return model, demo.seen_classes(card)


@st.cache_data(show_spinner=False, max_entries=64, ttl=3600)
def make_gallery(stamp: str, classes: int, drawings: int, seed: int, temperature: float, pen: bool) -> demo.Gallery:
    """Return the gallery for these inputs."""
    model, seen = load_model(stamp)
    return demo.gallery(model, classes, drawings, seed, temperature, seen, pen)


def controls() -> dict:
    """Draw the sidebar controls (each bound to a URL query parameter) and return their values."""
    with st.sidebar:
        st.header(tr("common.controls"))
        classes = st.slider(tr("virtual.classes"), 2, 8, 5, key="classes", bind="query-params")
        drawings = st.slider(tr("virtual.drawings"), 2, 8, 6, key="drawings", bind="query-params")
        temperature = st.slider(tr("virtual.temperature"), 0.5, 1.5, 1.0, 0.1, key="temp", bind="query-params",
                                help=tr("virtual.temperature_help"))
        pen = st.toggle(tr("virtual.pen"), True, key="pen", bind="query-params", help=tr("virtual.pen_help"))
        seed = st.number_input(tr("common.seed"), 0, 1_000_000, 0, key="seed", bind="query-params")
    return dict(classes=int(classes), drawings=int(drawings), temperature=round(float(temperature), 2),
                seed=int(seed), pen=bool(pen))


def walk_view(model: demo.CharacterVAE, seed: int) -> None:
    """The two latent sliders beside the walk through the class code and the style code."""
    st.subheader(tr("virtual.walk.heading"))
    left, right = st.columns([1, 3], gap="medium")
    with left:
        class_t = st.slider(tr("virtual.class_t"), 0.0, 1.0, 0.0, 0.05, key="class_t", bind="query-params",
                            help=tr("virtual.class_t_help"))
        style_t = st.slider(tr("virtual.style_t"), 0.0, 1.0, 0.0, 0.05, key="style_t", bind="query-params",
                            help=tr("virtual.style_t_help"))
    w = demo.walk(model, seed, round(float(class_t), 2), round(float(style_t), 2))
    with right:
        st.plotly_chart(figs.walk_figure(w, tr.lang), key="walk", alt=tr("virtual.walk.alt"))
    st.caption(tr("virtual.walk.guide"))


def curve_view() -> None:
    """The accuracy against real classes for both arms, from the shipped report, and the gains in words."""
    st.subheader(tr("virtual.curve.heading"))
    try:
        report = demo.load_results()
    except ValueError as exc:
        st.warning(tr("virtual.err_results", msg=str(exc).rstrip(".")), icon=":material/warning:")
        return
    st.plotly_chart(figs.curve_figure(report, tr.lang), key="curve", alt=figs.curve_alt(report, tr.lang))
    gains = [r for r in report["results"] if "gain" in r]
    lines = [tr("virtual.curve.gain", data=tr(f"virtual.curve.data_{r['data']}"), n=r["real_classes"],
                gain=f"{round(100 * r['gain'], 1) or 0.0:+.1f}", ci=f"{100 * r['gain_ci95']:.1f}") for r in gains]
    st.markdown("\n".join(f"- {line}" for line in lines))
    st.caption(tr("virtual.curve.guide", episodes=report["config"].get("episodes", "?"),
                  draws=report["config"].get("draws", 1)))


def main() -> None:
    """Render the page top to bottom."""
    limit_threads()
    st.title(tr("virtual.title"))
    st.markdown(tr("virtual.intro"))
    inputs = controls()
    stem = shipped_generator_path()
    try:
        model, seen = load_model(checkpoint_stamp(stem))
    except ValueError as exc:  # CheckpointError included
        st.error(tr("virtual.err_model", msg=str(exc).rstrip(".")), icon=":material/block:")
        curve_view()
        return
    try:
        g = make_gallery(checkpoint_stamp(stem), **inputs)
        st.plotly_chart(figs.gallery_figure(g, tr.lang), key="gallery",
                        alt=tr("virtual.gallery.alt", n=inputs["classes"], k=inputs["drawings"]))
        st.caption(tr("virtual.gallery.guide", seen=len(seen)))
        walk_view(model, inputs["seed"])
    except ValueError as exc:
        st.error(tr("virtual.err_input", msg=str(exc).rstrip(".")), icon=":material/warning:")
    curve_view()
    brain_link_and_try_this(tr, "virtual")


main()
