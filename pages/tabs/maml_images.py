"""The MAML page's second tab: MAML on images, a meta-trained Conv4 adapting to characters it never saw.

Widgets in (sidebar, all bound to the URL under ``img_*`` keys) -> :mod:`lab.demos.maml_images` ->
:mod:`lab.viz.maml_images`. Imported by ``pages/maml.py``, which calls :func:`images_tab` when the tab is open.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import streamlit as st

from lab.checkpoint import CheckpointError, checkpoint_stamp
from lab.compute import ComputeOutOfMemory
from lab.demos import maml_images as demo
from lab.fewshot_models import ModelChoice, available_models, load_fewshot_model
from lab.learners.maml_images import MAMLClassifier
from lab.links import IMG_LRS, lr_label  # the link checker knows the same stops and spelling
from lab.tasks.base import EpisodeBatch
from lab.tasks.omniglot import default_omniglot_path
from lab.viz import maml_images as figs
from pages import brain_link_and_try_this, chart_columns

LR_CHOICES = list(IMG_LRS)
DEFAULTS = dict(ways=5, shots=1, queries=3, steps=5, seed=0)


@st.cache_resource(show_spinner=False, max_entries=4)
def load_model(stem: str, stamp: str) -> MAMLClassifier:
    """Return the MAML classifier saved at ``stem`` as of ``stamp``, warmed up (see ``demo.warm_up``)."""
    model, _ = load_fewshot_model(stem, "maml")
    demo.warm_up(model)
    return model


# An episode holds at most 20 ways x 20 drawings of 28x28 floats (1.3 MB): keep few, and not forever.
@st.cache_data(show_spinner=False, max_entries=32, ttl=3600)
def episode(data: str, ways: int, shots: int, queries: int, seed: int, folder: str | None) -> EpisodeBatch:
    """Return the cached episode for these inputs."""
    return demo.sample_episode(data, ways, shots, queries, seed, folder)


@st.cache_data(show_spinner=False, max_entries=128, ttl=3600)
def run_demo(stem: str, stamp: str, data: str, ways: int, shots: int, queries: int, seed: int,
             folder: str | None, steps: int, lr: float) -> tuple[demo.ImagesDemo, float]:
    """Return the demo for these inputs and its compute time in ms (episode + adaptation; ``stamp`` keys it)."""
    model = load_model(stem, stamp)
    start = time.perf_counter()
    batch = episode(data, ways, shots, queries, seed, folder)
    result = demo.maml_images_demo(model, batch, steps, lr, data)
    return result, (time.perf_counter() - start) * 1e3


def lr_choices(model_lr: float) -> list[float]:
    """Return the learning-rate stops of the slider, with the model's own ``model_lr`` among them."""
    return sorted(set(LR_CHOICES) | {float(model_lr)})


def start_at_models_lr(choices: dict[str, ModelChoice]) -> None:
    """On a switch of model, move the inner learning rate to the new model's own ``config.inner_lr``."""
    choice = choices[st.session_state["img_model"]]
    try:
        st.session_state["img_lr"] = float(load_model(choice.path, checkpoint_stamp(choice.path)).config.inner_lr)
    except (CheckpointError, OSError):
        pass  # the script run that follows reports it in place


def images_tab(tr: Callable[..., str]) -> None:
    """Draw the tab top to bottom: intro, sidebar controls, the animation, loss and accuracy, brain link."""
    st.markdown(tr("maml.img.intro"))
    choices, problems = available_models("maml")
    if problems:
        st.caption(tr("maml.img.model_problems", problems="; ".join(problems)))
    if not choices:
        st.error(tr("maml.img.no_model"), icon=":material/block:")
        return
    with st.sidebar:
        st.header(tr("common.controls"))
        labels = {c.label: c for c in choices}
        label = st.selectbox(tr("maml.img.model"), list(labels), key="img_model", bind="query-params",
                             help=tr("maml.img.model_help"), on_change=start_at_models_lr, args=(labels,))
    stem = labels[label].path
    stamp = checkpoint_stamp(stem)
    try:
        with st.spinner(tr("common.computing")):
            model = load_model(stem, stamp)
    except (CheckpointError, OSError) as exc:  # CheckpointError: missing, corrupt or mismatched
        st.error(tr("maml.img.err_model", msg=str(exc).rstrip(".")), icon=":material/block:")
        return
    with st.sidebar:
        data = st.radio(tr("maml.img.data"), list(demo.DATA_SOURCES), key="img_data", bind="query-params",
                        captions=[tr(f"maml.img.data.{d}") for d in demo.DATA_SOURCES], help=tr("maml.img.data_help"))
        ways = st.slider(tr("maml.img.ways"), 2, 20, DEFAULTS["ways"], key="img_ways", bind="query-params",
                         help=tr("maml.img.ways_help"))
        shots = st.slider(tr("maml.img.shots"), 1, 10, DEFAULTS["shots"], key="img_shots", bind="query-params",
                          help=tr("maml.img.shots_help"))
        queries = st.slider(tr("maml.img.queries"), 1, 10, DEFAULTS["queries"], key="img_queries",
                            bind="query-params", help=tr("maml.img.queries_help"))
        steps = st.slider(tr("maml.img.steps"), 0, demo.MAX_STEPS, DEFAULTS["steps"], key="img_steps",
                          bind="query-params", help=tr("maml.img.steps_help"))
        model_lr = float(model.config.inner_lr)
        lr = st.select_slider(tr("maml.img.lr"), lr_choices(model_lr), model_lr, format_func=lr_label,
                              key="img_lr", bind="query-params", help=tr("maml.img.lr_help", lr=lr_label(model_lr)))
        seed = st.number_input(tr("common.seed"), 0, 1_000_000, DEFAULTS["seed"], key="img_seed",
                               bind="query-params", help=tr("maml.img.seed_help"))
    folder = default_omniglot_path() if data == "omniglot" else None
    if data == "omniglot" and folder is None:
        st.info(tr("maml.img.omniglot_missing"), icon=":material/folder_open:")
        return
    inputs = dict(data=data, ways=int(ways), shots=int(shots), queries=int(queries), seed=int(seed),
                  folder=str(folder) if folder else None, steps=int(steps), lr=float(lr))
    try:
        started = time.perf_counter()
        with st.spinner(tr("common.computing")):
            result, ms = run_demo(stem, stamp, **inputs)
        cached = (time.perf_counter() - started) * 1e3 < 0.5 * ms
    except (ValueError, OSError, ComputeOutOfMemory) as exc:  # OSError: an unreadable Omniglot folder
        st.error(tr("maml.img.err_input", msg=str(exc).rstrip(".")), icon=":material/warning:")
        return
    if result.error:
        st.warning(tr("maml.img.err_diverged", lr=lr_label(lr), step=result.steps_done + 1), icon=":material/warning:")
    if result.steps_done >= 0:
        draw_figures(tr, result)
    st.caption(tr("maml.img.timing_cached" if cached else "maml.img.timing", ms=f"{ms:.0f}"))
    brain_link_and_try_this(tr, "maml.img")


def draw_figures(tr: Callable[..., str], result: demo.ImagesDemo) -> None:
    """Draw the prediction animation, then the loss and accuracy curves side by side, each with its guide."""
    last = result.steps_done
    total = result.n_way * result.n_query
    right = int((figs.query_status(result.query_probs[last], result.query_labels) == 1).sum())
    st.plotly_chart(figs.prediction_animation(result, tr.lang), key="img_pred",
                    alt=tr("maml.img.pred.alt", steps=last, n=result.n_way, k=result.k_shot, q=result.n_query,
                           right=right, total=total))
    st.caption(tr("maml.img.pred.guide"))
    left, right_col = chart_columns(2, gap="medium")
    with left:
        st.plotly_chart(figs.loss_curves(result, tr.lang), key="img_loss",
                        alt=tr("maml.img.loss.alt", support=f"{result.support_loss[last]:.3g}",
                               query=f"{result.query_loss[last]:.3g}"))
        st.caption(tr("maml.img.loss.guide"))
    with right_col:
        st.plotly_chart(figs.accuracy_curve(result, tr.lang), key="img_acc",
                        alt=tr("maml.img.acc.alt", start=f"{result.query_accuracy[0]:.0%}",
                               end=f"{result.query_accuracy[last]:.0%}", chance=f"{1 / result.n_way:.0%}"))
        st.caption(tr("maml.img.acc.guide"))
