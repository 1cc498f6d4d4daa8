"""Learned optimizers: an LSTM that learned to optimize races SGD, momentum, RMSprop and Adam; Meta-SGD's rates.

Three views (``?view=`` in the link; only the open one runs): the race on a 2-D landscape (start from the
sliders or a click on the contour), the race on a small classifier (loss curves only), and Meta-SGD's learned
per-parameter learning rates. Widgets in -> :mod:`lab.demos.optimizers` -> :mod:`lab.viz.optimizers`.
"""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from lab.checkpoint import assets_dir, checkpoint_stamp
from lab.compute import limit_threads
from lab.demos import optimizers as demo
from lab.i18n import translator
from lab.tasks.optimizees import SURFACES
from lab.viz import optimizers as figs
from pages import brain_link_and_try_this, chart_columns, run_through_app

run_through_app()

VIEWS = ("landscape", "classifier", "meta-sgd")  # as they appear in ?view=
LR_SCALES = [0.1, 0.3, 1.0, 3.0, 10.0, 30.0]
tr = translator(st.session_state.get("lang", "en"))


@st.cache_resource(show_spinner=False, max_entries=4)
def load_models(folder: str, stamp: str) -> tuple[dict, dict]:
    """Return the learned optimizers and the Meta-SGD pair of ``folder`` as of ``stamp``.

    Also tunes the baselines on every landscape once (about a second each), so no slider move pays for it.
    """
    for name in SURFACES:
        demo.tuned_rates_2d(name)
    return demo.load_optimizers(Path(folder)), demo.load_meta_sgd_pair(Path(folder))


@st.cache_data(show_spinner=False, max_entries=256)
def run_race(folder: str, stamp: str, which: str, landscape: str, x0: float, y0: float, horizon: int,
             lr_scale: float, seed: int) -> tuple[demo.Race, float]:
    """Return the race of ``horizon`` steps for these inputs and its compute time in ms."""
    started = time.perf_counter()
    race = demo.race_2d(load_models(folder, stamp)[0][which], landscape, (x0, y0), horizon, lr_scale, seed)
    return race, (time.perf_counter() - started) * 1e3


def take_click() -> None:
    """Move the start sliders to the point clicked on the contour (runs before the rerun draws them)."""
    event = st.session_state.get("race")
    start = figs.clicked_start(event.selection.points if event else [])
    if start is not None:
        st.session_state["x0"], st.session_state["y0"] = start


def race_controls() -> dict:
    """Draw the race's sidebar controls (bound to the URL); return their values."""
    with st.sidebar:
        # Language-neutral options (a bound widget writes its displayed option into the link); captions translate.
        landscape = st.radio(tr("opt.landscape"), list(SURFACES), key="landscape", bind="query-params",
                             captions=[tr(f"opt.landscape.{n}") for n in SURFACES])
        s = SURFACES[landscape]
        for key, lo_hi, default in (("x0", s.x_range, s.start[0]), ("y0", s.y_range, s.start[1])):
            if key in st.session_state and not lo_hi[0] <= float(st.session_state[key]) <= lo_hi[1]:
                st.session_state[key] = default  # a start left over from another landscape's box
        # No default once the state holds a value (a click or the reset above): Streamlit warns about both.
        x0 = st.slider(tr("opt.x0"), *s.x_range, None if "x0" in st.session_state else s.start[0], 0.01, key="x0",
                       bind="query-params")
        y0 = st.slider(tr("opt.y0"), *s.y_range, None if "y0" in st.session_state else s.start[1], 0.01, key="y0",
                       bind="query-params")
        steps = st.slider(tr("opt.steps"), 10, 300, 100, 10, key="steps", bind="query-params", help=tr("opt.steps_help"))
        which = st.radio(tr("opt.which"), list(demo.L2O_CHECKPOINTS), key="which", bind="query-params",
                         captions=[tr(f"opt.which.{n}") for n in demo.L2O_CHECKPOINTS])
        lr_scale = st.select_slider(tr("opt.lr_scale"), LR_SCALES, 1.0, key="lr_scale", bind="query-params",
                                    help=tr("opt.lr_scale_help"))
        seed = st.number_input(tr("common.seed"), 0, 1_000_000, 0, key="seed", bind="query-params")
    return dict(which=which, landscape=landscape, x0=float(x0), y0=float(y0), steps=int(steps),
                lr_scale=float(lr_scale), seed=int(seed))


def race_view(folder: str, stamp: str) -> None:
    """The 2-D race: contour with animated paths beside loss against step."""
    inputs = race_controls()
    steps = inputs.pop("steps")
    started = time.perf_counter()
    race, ms = run_race(folder, stamp, **inputs, horizon=demo.race_horizon(steps))
    cached = (time.perf_counter() - started) * 1e3 < 0.5 * ms
    race = race.until(steps)  # the steps slider only cuts a race computed to its horizon
    diverged = [tr("opt.diverged_item", name=tr(f"opt.method.{p.name}"), step=p.diverged_at, lr=f"{p.lr:.3g}")
                for p in race.paths.values() if p.diverged_at is not None]
    if diverged:
        st.warning(tr("opt.err_diverged", items="; ".join(diverged)), icon=":material/warning:")
    left, right = chart_columns([3, 2], gap="medium")
    with left:
        st.plotly_chart(figs.race_figure(race, tr.lang), key="race", on_select=take_click, selection_mode="points",
                        alt=tr("opt.race.alt", steps=race.steps))
        st.caption(tr("opt.race.guide"))
    with right:
        losses = {n: p.losses for n, p in race.paths.items()}
        st.plotly_chart(figs.loss_figure(losses, tr("opt.loss.title"), tr.lang), key="race_loss",
                        alt=tr("opt.loss.alt"))
        rates = ", ".join(f"{tr(f'opt.method.{p.name}')} {p.lr:.3g}" for p in race.paths.values() if p.lr)
        st.caption(tr("opt.loss.guide", rates=rates))
    st.caption(tr("common.timing_cached" if cached else "common.timing", ms=f"{ms:.0f}"))


@st.cache_data(show_spinner=False, max_entries=64)
def run_mlp(folder: str, stamp: str, steps: int, seed: int, activation: str) -> dict:
    """Return the MLP race's loss curves for these inputs."""
    from lab.l2o_eval import load_l2o

    rates = load_l2o(Path(folder) / "l2o_mlp")[1]["extra"]["baseline_lrs"]
    return demo.race_mlp(load_models(folder, stamp)[0]["mlp"], rates, steps, seed, activation)


def mlp_view(folder: str, stamp: str) -> None:
    """The race on one small classifier: loss curves only."""
    with st.sidebar:
        steps = st.slider(tr("opt.steps"), 20, 300, 100, 10, key="mlp_steps", bind="query-params",
                          help=tr("opt.steps_help"))
        activation = st.radio(tr("opt.activation"), ["sigmoid", "relu"], key="act", bind="query-params",
                              help=tr("opt.activation_help"))
        seed = st.number_input(tr("common.seed"), 0, 1_000_000, 0, key="mlp_seed", bind="query-params")
    losses = run_mlp(folder, stamp, int(steps), int(seed), activation)
    st.plotly_chart(figs.loss_figure(losses, tr("opt.mlp.title", act=activation), tr.lang), key="mlp_loss",
                    alt=tr("opt.loss.alt"))
    st.caption(tr("opt.mlp.guide"))


def msgd_view(folder: str, stamp: str) -> None:
    """Meta-SGD: the learned rates (histogram, per layer) and Meta-SGD vs MAML on one sinusoid task."""
    with st.sidebar:
        amp = st.slider(tr("maml.amp"), 0.1, 5.0, 2.0, 0.1, key="amp", bind="query-params")
        phase = st.slider(tr("maml.phase"), 0.0, 3.14, 0.5, 0.01, key="phase", bind="query-params")
        steps = st.slider(tr("opt.msgd.steps"), 1, 5, 1, key="msgd_steps", bind="query-params",
                          help=tr("opt.msgd.steps_help"))
        seed = st.number_input(tr("common.seed"), 0, 1_000_000, 0, key="msgd_seed", bind="query-params")
    result = demo.meta_sgd_demo(load_models(folder, stamp)[1], float(amp), float(phase), int(steps), seed=int(seed))
    st.plotly_chart(figs.adaptation_figure(result, tr.lang), key="msgd_fit", alt=tr("opt.msgd.fit_alt"))
    st.caption(tr("opt.msgd.fit_guide"))
    left, right = chart_columns(2, gap="medium")
    with left:
        st.plotly_chart(figs.rates_histogram(result, tr.lang), key="msgd_hist", alt=tr("opt.msgd.hist_alt"))
    with right:
        st.plotly_chart(figs.rates_by_layer(result, tr.lang), key="msgd_layers", alt=tr("opt.msgd.layer_alt"))
    st.caption(tr("opt.msgd.rates_guide"))


def main() -> None:
    """Render the page: title, the view switch, the open view, the brain link."""
    limit_threads()
    st.title(tr("opt.title"))
    st.markdown(tr("opt.intro"))
    view = st.radio(tr("opt.view"), list(VIEWS), key="view", bind="query-params", horizontal=True,
                    captions=[tr(f"opt.view.{v}") for v in VIEWS])
    folder = str(assets_dir())
    stamp = "/".join(checkpoint_stamp(Path(folder) / stem) for stem in (*demo.L2O_CHECKPOINTS.values(),
                                                                        "meta_sgd_sine", "maml_sine_k5"))
    try:
        load_models(folder, stamp)
    except ValueError as exc:  # CheckpointError is a ValueError
        st.error(tr("opt.err_assets", msg=str(exc).rstrip(".")), icon=":material/block:")
        return
    dict(zip(VIEWS, (race_view, mlp_view, msgd_view), strict=True))[view](folder, stamp)
    brain_link_and_try_this(tr, "opt")


main()
