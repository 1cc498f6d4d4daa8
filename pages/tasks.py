"""Tasks & episodes: what a task looks like in each family, and how an episode splits into support and query.

Widgets in (all bound to the URL) -> :mod:`lab.demos.episodes` -> :mod:`lab.viz.episodes`.
"""

from __future__ import annotations

import streamlit as st

from lab.compute import ComputeOutOfMemory, limit_threads
from lab.demos import episodes as demo
from lab.i18n import translator
from lab.viz import episodes as figs
from pages import brain_link_and_try_this, run_through_app

run_through_app()

FAMILIES = ["sinusoid", "glyphs", "omniglot"]

tr = translator(st.session_state.get("lang", "en"))


@st.cache_data(show_spinner=False, max_entries=256)
def sine_tasks(n_tasks: int, k_shot: int, n_query: int, seed: int) -> demo.SineTasks:
    """Return the cached sinusoid tasks for these inputs."""
    return demo.sine_tasks_demo(n_tasks, k_shot, n_query, seed)


# An episode holds up to 50 ways x 40 drawings of 28x28 floats (6 MB): keep few, and not forever.
@st.cache_data(show_spinner=False, max_entries=32, ttl=3600)
def image_episode(family: str, n_way: int, k_shot: int, n_query: int, seed: int, n_alphabets: int,
                  folder: str | None) -> demo.ImageEpisode:
    """Return the cached image episode for these inputs."""
    return demo.image_episode_demo(family, n_way, k_shot, n_query, seed, n_alphabets, folder)


def sinusoid_section() -> None:
    """Controls and figure for sinusoid regression tasks."""
    with st.sidebar:
        n_tasks = st.slider(tr("tasks.n_tasks"), 1, 9, 6, key="n_tasks", bind="query-params")
        shots = st.slider(tr("tasks.points"), 1, 50, 10, key="points", bind="query-params")
        queries = st.slider(tr("tasks.query_points"), 1, 50, 20, key="query_points", bind="query-params")
        seed = st.number_input(tr("common.seed"), 0, 1_000_000, 0, key="tseed", bind="query-params")
    tasks = sine_tasks(n_tasks, shots, queries, int(seed))
    st.plotly_chart(figs.sine_tasks_figure(tasks, tr.lang), key="sine_tasks",
                    alt=tr("tasks.sine.alt", n=n_tasks, k=shots, q=queries))
    st.caption(tr("tasks.sine.guide"))


def image_section(family: str) -> None:
    """Controls and episode grid for an image family (glyphs or Omniglot)."""
    folder = demo.omniglot_folder() if family == "omniglot" else None
    with st.sidebar:
        ways = st.slider(tr("tasks.ways"), 2, 50, 5, key="ways", bind="query-params", help=tr("tasks.ways_help"))
        shots = st.slider(tr("tasks.shots"), 1, 20, 1, key="shots", bind="query-params")
        queries = st.slider(tr("tasks.queries"), 1, 20, 3, key="queries", bind="query-params",
                            help=tr("tasks.queries_help"))
        alphabets = 50
        if family == "glyphs":
            alphabets = st.slider(tr("tasks.alphabets"), 1, 50, 50, key="alphabets", bind="query-params",
                                  help=tr("tasks.alphabets_help"))
        seed = st.number_input(tr("common.seed"), 0, 1_000_000, 0, key="tseed", bind="query-params")
    if family == "omniglot" and folder is None:
        st.info(tr("tasks.omniglot_missing"), icon=":material/folder_open:")
        return
    try:
        with st.spinner(tr("common.computing")):
            ep = image_episode(family, ways, shots, queries, int(seed), alphabets, str(folder) if folder else None)
    except (ValueError, OSError, ComputeOutOfMemory) as exc:  # OSError: a wrong LAB_OMNIGLOT_DIR
        st.error(tr("tasks.err_request", msg=str(exc).rstrip(".")), icon=":material/warning:")
        return
    st.plotly_chart(figs.episode_grid(ep, tr.lang), key="episode",
                    alt=tr("tasks.grid.alt", n=ways, k=shots, q=queries))
    st.caption(tr("tasks.grid.guide"))
    if ways > figs.MAX_ROWS or max(shots, queries) > figs.MAX_COLS:
        st.caption(tr("tasks.grid.truncated", rows=figs.MAX_ROWS, cols=figs.MAX_COLS))


def main() -> None:
    """Render the page top to bottom."""
    limit_threads()
    st.title(tr("tasks.title"))
    st.markdown(tr("tasks.intro"))
    with st.sidebar:
        st.header(tr("common.controls"))
        # Option labels are the family names, the same in every language, because a bound widget stores its
        # label in the URL: a translated label would break shared links when the language changes.
        family = st.radio(tr("tasks.family"), FAMILIES, captions=[tr(f"family.{f}") for f in FAMILIES],
                          key="family", bind="query-params")
    if family == "sinusoid":
        sinusoid_section()
    else:
        image_section(family)
    brain_link_and_try_this(tr, "tasks")


main()
