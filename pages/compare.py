"""Compare learners: every few-shot learner on the very same held-out episodes.

Widgets in (all bound to the URL) -> :func:`lab.demos.compare.compare_models`, one cached call per (ways,
shots) setting -> a table (with CSV download) and :func:`lab.viz.compare.accuracy_figure`.
"""

from __future__ import annotations

import time
from collections import OrderedDict

import pandas as pd
import streamlit as st

from lab.checkpoint import CheckpointError, checkpoint_stamp
from lab.compute import ComputeOutOfMemory, limit_threads
from lab.demos import compare as demo
from lab.demos import fewshot
from lab.fewshot_models import load_fewshot_model
from lab.i18n import translator
from lab.jobs import Job
from lab.tasks.omniglot import default_omniglot_path
from lab.viz import compare as figs
from pages import background, brain_link_and_try_this, run_through_app

run_through_app()

DATA = ["glyphs", "omniglot"]  # option values live in the URL, so they are not translated
WAYS, SHOTS = [2, 5, 10, 20], [1, 2, 5, 10]
EPISODES = [10, 20, 50, 100, 200, 600]
SETTINGS_DONE: OrderedDict = OrderedDict()  # one (ways, shots) setting's (report, seconds), for every session
COLUMNS = ["method", "ways", "shots", "metric", "mean", "ci95", "n", "ms_per_episode"]

tr = translator(st.session_state.get("lang", "en"))


@st.cache_resource(show_spinner=False, max_entries=16)
def load_model(path: str, kind: str, stamp: str):
    """Return the few-shot model saved at ``path`` as of ``stamp`` (shared; compare_models copies it)."""
    return load_fewshot_model(path, kind)[0]


def run_settings(job: Job, models: dict, c: dict, omniglot: str | None) -> list[tuple[dict, float]]:
    """Return ``(report, compute seconds)`` of every (ways, shots) setting of ``c``, each setting reused from
    :data:`SETTINGS_DONE` when any session computed it before; progress goes to ``job``."""
    settings = [(w, s) for w in c["ways"] for s in c["shots"]]
    per_setting = c["episodes"] * len(models)
    total, out = per_setting * len(settings), []
    for i, (w, s) in enumerate(settings):
        key = (c["picks"], c["data"], omniglot, w, s, c["queries"], c["episodes"], c["seed"])
        if key not in SETTINGS_DONE:
            start = time.perf_counter()
            report = demo.compare_models(models, c["data"], [w], [s], c["episodes"], c["seed"], c["queries"], omniglot,
                                         on_progress=lambda done, _, i=i: job.progress(i * per_setting + done, total))
            SETTINGS_DONE[key] = (report, time.perf_counter() - start)
            while len(SETTINGS_DONE) > 256:
                SETTINGS_DONE.popitem(last=False)
        out.append(SETTINGS_DONE[key])
        job.progress((i + 1) * per_setting, total)
    return out


def model_pickers() -> tuple[list[str], dict[str, tuple[str, str]]]:
    """Draw a model selectbox per learned method that has a model; return the methods that can run (the
    pixel baseline always can) and ``{method: (checkpoint path, stamp)}`` of the picks."""
    available, picks, missing, problems = [], {}, [], set()
    for method in fewshot.LEARNED:
        choices, trouble = fewshot.model_choices(method)
        problems.update(trouble)
        if not choices:
            missing.append(tr(f"compare.method.{method}"))
            continue
        labels = [ch.label for ch in choices]
        pick = st.selectbox(tr("compare.model_for", method=tr(f"compare.method.{method}")), labels,
                            key=f"{method}_model", bind="query-params") or labels[0]
        path = choices[labels.index(pick)].path
        available.append(method)
        picks[method] = (path, checkpoint_stamp(path))
    if missing:
        st.caption(tr("compare.missing", methods=", ".join(missing)))
    if problems:
        st.caption(tr("compare.problems", items="; ".join(sorted(problems))))
    return [*available, demo.PIXEL_NN], picks


def controls() -> dict:
    """Draw the sidebar controls (each bound to a URL query parameter) and return their values."""
    with st.sidebar:
        st.header(tr("common.controls"))
        data = st.radio(tr("compare.data"), DATA, captions=[tr(f"family.{d}") for d in DATA], key="data",
                        bind="query-params", help=tr("relation.data_help"))
        ways = st.pills(tr("compare.ways"), WAYS, selection_mode="multi", default=[5], key="ways",
                        bind="query-params", help=tr("compare.ways_help"))
        shots = st.pills(tr("compare.shots"), SHOTS, selection_mode="multi", default=[1, 5], key="shots",
                         bind="query-params")
        queries = st.slider(tr("compare.queries"), 1, 15, 5, key="queries", bind="query-params",
                            help=tr("compare.queries_help"))
        episodes = st.select_slider(tr("compare.episodes"), EPISODES, 50, key="episodes", bind="query-params",
                                    help=tr("compare.episodes_help"))
        seed = st.number_input(tr("common.seed"), 0, 1_000_000, 0, key="seed", bind="query-params")
        st.subheader(tr("compare.models"))
        available, paths = model_pickers()
        # Option labels are the methods' schema names (as in the table): a bound widget writes its labels into
        # the URL, so translated ones would break a shared link when the language changes.
        methods = st.pills(tr("compare.learners"), available, selection_mode="multi", default=available,
                           key="learners", bind="query-params", help=tr("compare.learners_help")) or []
    picks = tuple((m, *paths.get(m, ("", ""))) for m in available if m in methods)
    return dict(data=data, picks=picks, ways=sorted(ways or []), shots=sorted(shots or []), queries=int(queries),
                episodes=int(episodes), seed=int(seed))


def run_all(c: dict) -> tuple[list[dict], float, set[str]] | None:
    """Run every setting as one background job (see :func:`pages.background`), or fetch it; return rows,
    seconds and device notes once it is done, ``None`` while it runs or after an error (shown in place)."""
    omniglot = default_omniglot_path()
    omniglot = str(omniglot) if omniglot else None
    rows, seconds, notes = [], 0.0, set()
    try:
        models = {m: load_model(path, fewshot.KIND_OF[m], stamp) if path else None for m, path, stamp in c["picks"]}
        key = ("compare", omniglot, *((k, tuple(v) if isinstance(v, list) else v) for k, v in c.items()))
        done = background(tr, key, tr("compare.job"), lambda job: run_settings(job, models, c, omniglot), "compare")
        if done is None:
            return None
        for report, secs in done:
            rows += report["results"]
            seconds += secs
            notes.add(report["config"]["device"] + (f" ({report['config']['note']})" if "note" in report["config"] else ""))
    except CheckpointError as exc:
        st.error(tr("compare.err_model", msg=str(exc).rstrip(".")), icon=":material/block:")
        return None
    except FileNotFoundError as exc:
        st.error(tr("compare.err_omniglot", msg=str(exc).rstrip(".")), icon=":material/folder_open:")
        return None
    except (ValueError, OSError, ComputeOutOfMemory) as exc:  # OSError: an unreadable Omniglot folder
        st.error(tr("compare.err_request", msg=str(exc).rstrip(".")), icon=":material/warning:")
        return None
    return rows, seconds, notes


def main() -> None:
    """Render the page top to bottom."""
    limit_threads()
    st.title(tr("compare.title"))
    st.markdown(tr("compare.intro"))
    c = controls()
    if not (c["picks"] and c["ways"] and c["shots"]):
        st.error(tr("compare.none"), icon=":material/warning:")
        return
    outcome = run_all(c)
    if outcome is None:
        return
    rows, seconds, devices = outcome
    table = pd.DataFrame(rows, columns=COLUMNS)
    names = [tr(f"compare.method.{m}") for m in dict.fromkeys(table["method"])]
    st.plotly_chart(figs.accuracy_figure(rows, tr.lang), key="accuracy",
                    alt=tr("compare.fig.alt", methods=", ".join(names), shots=", ".join(map(str, c["shots"])),
                           ways=", ".join(map(str, c["ways"])), n=c["episodes"]))
    st.caption(tr("compare.fig.guide"))
    config = {col: tr(f"compare.col.{col}") for col in COLUMNS[:4] + ["n"]}
    config.update({col: st.column_config.NumberColumn(tr(f"compare.col.{col}"), format=fmt)
                   for col, fmt in (("mean", "%.3f"), ("ci95", "%.3f"), ("ms_per_episode", "%.2f"))})
    st.dataframe(table, hide_index=True, column_config=config, key="table")
    st.caption(tr("compare.table.guide"))
    st.download_button(tr("compare.download"), table.to_csv(index=False), key="csv", mime="text/csv",
                       file_name=f"compare_{c['data']}_seed{c['seed']}.csv", icon=":material/download:")
    st.caption(tr("compare.timing", s=f"{seconds:.1f}", device=", ".join(sorted(devices))))
    brain_link_and_try_this(tr, "compare")


main()
