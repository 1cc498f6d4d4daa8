"""Relation networks: a learned comparison beside ProtoNet's fixed distance, on the very same episode.

Widgets in (all bound to the URL) -> :func:`lab.demos.relation.relation_demo` -> :mod:`lab.viz.relation`.
"""

from __future__ import annotations

import time

import streamlit as st

from lab.checkpoint import CheckpointError, checkpoint_stamp
from lab.compute import ComputeOutOfMemory, limit_threads
from lab.demos import fewshot
from lab.demos import relation as demo
from lab.fewshot_models import load_fewshot_model
from lab.i18n import translator
from lab.tasks.omniglot import default_omniglot_path
from lab.viz import relation as figs
from pages import brain_link_and_try_this, chart_columns, run_through_app

run_through_app()

DATA = ["glyphs", "omniglot"]  # option values live in the URL, so they are not translated
SHOW = ["probs", "distances"]

tr = translator(st.session_state.get("lang", "en"))


@st.cache_resource(show_spinner=False, max_entries=16)
def load_model(path: str, kind: str, stamp: str):
    """Return the few-shot model saved at ``path`` as of ``stamp`` (shared, read-only, in test mode)."""
    return load_fewshot_model(path, kind)[0]


@st.cache_data(show_spinner=False, max_entries=256)
def run_demo(models: tuple[tuple[str, str], ...], data: str, omniglot: str | None, ways: int, shots: int,
             queries: int, seed: int) -> tuple[demo.RelationDemo, float]:
    """Return the demo for these inputs and its compute time in ms (model stamps key the cache)."""
    (rel_path, rel_stamp), (proto_path, proto_stamp) = models
    relation, protonet = load_model(rel_path, "relation", rel_stamp), load_model(proto_path, "protonet", proto_stamp)
    source = fewshot.held_out_source(data, omniglot)
    start = time.perf_counter()
    result = demo.relation_demo(relation, protonet, source, ways, shots, queries, seed)
    return result, (time.perf_counter() - start) * 1e3


def model_picker(method: str, label: str, key: str) -> tuple[str, str] | None:
    """Draw a model selectbox for ``method``; return ``(path, stamp)`` of the pick, ``None`` when none exists."""
    choices, problems = fewshot.model_choices(method)
    if problems:
        st.caption(tr("relation.problems", items="; ".join(problems)))
    if not choices:
        return None
    labels = [c.label for c in choices]
    pick = st.selectbox(label, labels, key=key, bind="query-params") or labels[0]
    path = choices[labels.index(pick)].path
    return path, checkpoint_stamp(path)


def controls() -> dict:
    """Draw the sidebar controls (each bound to a URL query parameter) and return their values."""
    with st.sidebar:
        st.header(tr("common.controls"))
        data = st.radio(tr("relation.data"), DATA, captions=[tr(f"family.{d}") for d in DATA], key="data",
                        bind="query-params", help=tr("relation.data_help"))
        ways = st.slider(tr("relation.ways"), 2, 20, 5, key="ways", bind="query-params", help=tr("relation.ways_help"))
        shots = st.slider(tr("relation.shots"), 1, 10, 1, key="shots", bind="query-params",
                          help=tr("relation.shots_help"))
        queries = st.slider(tr("relation.queries"), 1, 5, 3, key="queries", bind="query-params",
                            help=tr("relation.queries_help"))
        seed = st.number_input(tr("common.seed"), 0, 1_000_000, 0, key="seed", bind="query-params")
        # A toggle, not a radio of translated labels: a bound widget writes its label into the URL.
        show = SHOW[int(st.toggle(tr("relation.proto_dist"), key="dist", bind="query-params"))]
        st.subheader(tr("relation.models"))
        rel = model_picker("relation", tr("relation.rel_model"), "rel_model")
        proto = model_picker("protonet", tr("relation.proto_model"), "proto_model")
    return dict(data=data, ways=int(ways), shots=int(shots), queries=int(queries), seed=int(seed), show=show,
                rel=rel, proto=proto)


def main() -> None:
    """Render the page top to bottom."""
    limit_threads()
    st.title(tr("relation.title"))
    st.markdown(tr("relation.intro"))
    c = controls()
    for pick, method in ((c["rel"], "relation"), (c["proto"], "protonet")):
        which = tr(f"compare.method.{method}")
        if pick is None:
            st.error(tr("relation.err_no_model", which=which), icon=":material/block:")
            return
        try:
            load_model(pick[0], method, pick[1])
        except CheckpointError as exc:
            st.error(tr("relation.err_model", which=which, msg=str(exc).rstrip(".")), icon=":material/block:")
            return
    omniglot = default_omniglot_path()
    try:
        started = time.perf_counter()
        with st.spinner(tr("common.computing")):
            result, ms = run_demo((c["rel"], c["proto"]), c["data"], str(omniglot) if omniglot else None,
                                  c["ways"], c["shots"], c["queries"], c["seed"])
        cached = (time.perf_counter() - started) * 1e3 < 0.5 * ms
    except FileNotFoundError as exc:
        st.error(tr("relation.err_omniglot", msg=str(exc).rstrip(".")), icon=":material/folder_open:")
        return
    except (ValueError, OSError, ComputeOutOfMemory) as exc:  # OSError: an unreadable Omniglot folder
        st.error(tr("relation.err_request", msg=str(exc).rstrip(".")), icon=":material/warning:")
        return
    rows = len(result.query_labels)
    agree = rows - len(result.disagreements)
    left, mid, right = st.columns(3)
    left.metric(tr("relation.acc_rel"), f"{result.relation_accuracy:.0%}")
    mid.metric(tr("relation.acc_proto"), f"{result.proto_accuracy:.0%}")
    right.metric(tr("relation.agree"), f"{agree} / {rows}")
    sizes = dict(rows=rows, n=c["ways"], k=c["shots"])
    # Side by side up to 8 ways; wider matrices get the full width each, one above the other.
    left, right = chart_columns(2, gap="medium") if c["ways"] <= 8 else (st.container(), st.container())
    with left:
        st.plotly_chart(figs.relation_heatmap(result, tr.lang), key="rel",
                        alt=tr("relation.rel.alt", acc=f"{result.relation_accuracy:.0%}", **sizes))
        st.caption(tr("relation.rel.guide"))
    with right:
        st.plotly_chart(figs.proto_heatmap(result, tr.lang, c["show"]), key="proto",
                        alt=tr("relation.proto.alt", what=tr(f"relation.proto_show.{c['show']}"),
                               acc=f"{result.proto_accuracy:.0%}", **sizes))
        st.caption(tr("relation.proto.guide"))
    disagreement = figs.disagreement_figure(result, tr.lang)
    if disagreement is None:
        st.success(tr("relation.dis.none"), icon=":material/handshake:")
    else:
        st.plotly_chart(disagreement, key="dis", alt=tr("relation.dis.alt", n=len(result.disagreements)))
        st.caption(tr("relation.dis.guide"))
        if len(result.disagreements) > figs.MAX_DISAGREEMENTS:
            st.caption(tr("relation.dis.truncated", rows=figs.MAX_DISAGREEMENTS))
    st.caption(tr("relation.timing_cached" if cached else "relation.timing", ms=f"{ms:.0f}"))
    brain_link_and_try_this(tr, "relation")


main()
