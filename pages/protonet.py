"""Prototypical networks: one episode in embedding space, its prototypes (class means) and decision regions.

Widgets in (all bound to the URL) -> :mod:`lab.demos.protonet` -> :mod:`lab.viz.embedding`.
"""

from __future__ import annotations

import time

import streamlit as st

from lab.checkpoint import checkpoint_stamp
from lab.compute import ComputeOutOfMemory, get_device, limit_threads
from lab.demos import protonet as demo
from lab.demos.episodes import omniglot_folder
from lab.fewshot_models import available_models
from lab.i18n import translator
from lab.learners.protonet import DISTANCES
from lab.tasks.splits import DATA_SOURCES
from lab.viz import embedding as figs
from pages import background, brain_link_and_try_this, chart_columns, run_through_app

run_through_app()

tr = translator(st.session_state.get("lang", "en"))
ERRORS = (ValueError, OSError, ComputeOutOfMemory)
CURVE_INPUTS = ("ways", "distance", "seed")  # CheckpointError is a ValueError; OSError: a bad folder


@st.cache_resource(show_spinner=False, max_entries=4)
def load_model(path: str, stamp: str) -> demo.ProtoNet:
    """Return the ProtoNet at checkpoint stem ``path`` as of ``stamp`` (a retrained file is reloaded)."""
    return demo.load_protonet(path, get_device())


# An episode keeps its drawings (at most 20 ways x 25 of 28x28 floats, 300 kB) and embeddings: keep ~100.
@st.cache_data(show_spinner=False, max_entries=128, ttl=3600)
def run_episode(path: str, stamp: str, source: str, folder: str | None, ways: int, shots: int, queries: int,
                distance: str, projection: str, seed: int) -> tuple[demo.ProtoDemo, float]:
    """Return the episode's demo for these inputs and its compute time in ms."""
    model = load_model(path, stamp)
    start = time.perf_counter()
    result = demo.protonet_demo(model, source, ways, shots, queries, distance, projection, seed, folder)
    return result, (time.perf_counter() - start) * 1e3


def controls(models: list[str]) -> dict:
    """Draw the sidebar controls (each bound to a URL query parameter) and return their values."""
    with st.sidebar:
        st.header(tr("common.controls"))
        model = st.selectbox(tr("protonet.model"), models, key="model", bind="query-params",
                             help=tr("protonet.model_help"))
        source = st.radio(tr("protonet.source"), list(DATA_SOURCES), key="source", bind="query-params",
                          captions=[tr(f"protonet.source_{s}") for s in DATA_SOURCES])
        ways = st.slider(tr("protonet.ways"), 2, 20, 5, key="ways", bind="query-params", help=tr("protonet.ways_help"))
        shots = st.slider(tr("protonet.shots"), 1, 10, 1, key="shots", bind="query-params")
        queries = st.slider(tr("protonet.queries"), 1, 15, 5, key="queries", bind="query-params")
        distance = st.radio(tr("protonet.distance"), list(DISTANCES), key="distance", bind="query-params",
                            captions=[tr(f"protonet.distance_{d}") for d in DISTANCES])
        projections = demo.available_projections()
        projection = st.radio(tr("protonet.projection"), projections, key="projection", bind="query-params",
                              captions=[tr(f"protonet.projection_{demo.projection_code(p)}") for p in projections],
                              help=tr("protonet.projection_help"))
        seed = st.number_input(tr("common.seed"), 0, 1_000_000, 0, key="seed", bind="query-params")
    return dict(model=model, source=source, ways=int(ways), shots=int(shots), queries=int(queries),
                distance=distance, projection=projection, seed=int(seed))


def episode_view(result: demo.ProtoDemo) -> None:
    """The embedding map beside the class strip and the clicked query; then the misclassified queries."""
    left, right = chart_columns([3, 2], gap="medium")
    with left:
        event = st.plotly_chart(figs.embedding_map(result, tr.lang), key="map", on_select="rerun",
                                selection_mode="points", alt=figs.embedding_alt(result, tr.lang))
        st.caption(tr("protonet.map.guide"))
        if result.no_regions:
            st.caption(tr(f"protonet.no_regions_{result.no_regions}"))
    with right:
        st.plotly_chart(figs.class_strip(result, tr.lang), key="strip", alt=tr("protonet.strip.alt", n=result.n_way))
        st.markdown(tr("protonet.accuracy", acc=f"{100 * result.accuracy:.0f}", wrong=len(result.misclassified),
                       total=len(result.query_y)))
        picked = figs.clicked_query(event.selection.points if event else [], len(result.query_y))
        if picked is None:
            st.info(tr("protonet.click_hint_3d" if result.no_regions == "3d" else "protonet.click_hint"),
                    icon=":material/touch_app:")
        else:
            st.plotly_chart(figs.query_comparison(result, [picked], tr.lang), key="picked",
                            alt=figs.comparison_alt(result, [picked], tr.lang))


def misclassified_view(result: demo.ProtoDemo) -> None:
    """The misclassified queries beside the support drawings of their true and given classes."""
    st.subheader(tr("protonet.wrong.heading"))
    if not len(result.misclassified):
        st.success(tr("protonet.wrong.none"), icon=":material/check_circle:")
        return
    st.plotly_chart(figs.query_comparison(result, result.misclassified, tr.lang), key="wrong",
                    alt=figs.comparison_alt(result, result.misclassified, tr.lang))
    st.caption(tr("protonet.wrong.guide", shown=min(10, len(result.misclassified)), n=len(result.misclassified)))


def main() -> None:
    """Render the page top to bottom."""
    limit_threads()
    st.title(tr("protonet.title"))
    st.markdown(tr("protonet.intro"))
    choices, problems = available_models("protonet")
    for problem in problems:
        st.warning(tr("protonet.err_problem", msg=problem), icon=":material/warning:")
    inputs = controls([c.label for c in choices])
    if not choices:
        st.error(tr("protonet.err_no_model"), icon=":material/block:")
        return
    path = next(c.path for c in choices if c.label == inputs["model"])
    folder = omniglot_folder() if inputs["source"] == "omniglot" else None
    if inputs["source"] == "omniglot" and folder is None:
        st.info(tr("protonet.omniglot_missing"), icon=":material/folder_open:")
        return
    args = dict(path=path, stamp=checkpoint_stamp(path), source=inputs["source"], folder=str(folder) if folder else None)
    try:
        load_model(args["path"], args["stamp"])
    except ValueError as exc:
        st.error(tr("protonet.err_model", msg=str(exc).rstrip(".")), icon=":material/block:")
        return
    try:
        with st.spinner(tr("common.computing")):
            started = time.perf_counter()
            result, ms = run_episode(**args, **{k: inputs[k] for k in ("ways", "shots", "queries", "distance",
                                                                       "projection", "seed")})
            cached = (time.perf_counter() - started) * 1e3 < 0.5 * ms
    except ERRORS as exc:
        st.error(tr("protonet.err_input", msg=str(exc).rstrip(".")), icon=":material/warning:")
        return
    episode_view(result)
    left, right = chart_columns(2, gap="medium")
    with left:
        misclassified_view(result)
    with right:
        st.subheader(tr("protonet.shots.heading"))
        try:
            # A background job shared by every session with the same inputs (independent of the shots slider).
            model, ways, distance, seed = load_model(args["path"], args["stamp"]), *(inputs[k] for k in CURVE_INPUTS)
            curve = background(tr, ("protonet.shots", *args.values(), ways, distance, seed), tr("protonet.shots.heading"),
                               lambda job: demo.accuracy_by_shots(model, args["source"], ways, distance, seed,
                                                                  args["folder"], on_progress=job.progress), "shots")
            if curve is not None:
                st.plotly_chart(figs.shots_figure(curve, inputs["shots"], tr.lang), key="shots_curve",
                                alt=figs.shots_alt(curve, tr.lang))
                st.caption(tr("protonet.shots.guide", episodes=curve.n_episodes))
        except ERRORS as exc:
            st.error(tr("protonet.err_input", msg=str(exc).rstrip(".")), icon=":material/warning:")
    st.caption(tr("protonet.timing_cached" if cached else "protonet.timing", ms=f"{ms:.0f}"))
    brain_link_and_try_this(tr, "protonet")


main()
