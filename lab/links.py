"""Shareable links: every page's URL parameters, their valid ranges, and how a raw link becomes valid values.

:data:`PAGE_PARAMS` lists, per page (its ``url_path``), every control the page binds to the URL with the range
or the options the widget accepts. :func:`clean_link` turns the raw query parameters of a link into the
nearest valid values and says what it changed, so a link with ``?k=999`` or ``?lr=abc`` opens with ``k=50``
and the default rate plus a note, instead of falling back silently. The lesson loader (:mod:`lab.lessons`)
checks its presets against the same table. ``tests/app/test_links.py`` checks the table against the widgets.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lab.demos.maml_images import MAX_STEPS as IMG_MAX_STEPS
from lab.demos.memory import MAX_INSTANCES
from lab.demos.protonet import PROJECTIONS
from lab.learners.protonet import DISTANCES
from lab.meta_rl_training import META_RL_TASKS
from lab.tasks.optimizees import SURFACES
from lab.tasks.splits import DATA_SOURCES

Bound = float | Callable[[dict[str, Any]], float]


@dataclass(frozen=True)
class Number:
    """A slider or number input: ``lo..hi`` (either may depend on values parsed before it).

    ``step`` is the slider's step (documentation for lesson authors); ``integer`` values are whole numbers.
    """

    lo: Bound
    hi: Bound
    default: Bound
    step: float | None = None
    integer: bool = True


@dataclass(frozen=True)
class Choice:
    """A radio, selectbox or numeric select slider: one of ``options`` (numbers: the nearest one is taken)."""

    options: tuple
    default: Any = None  # None: the first option
    label: Callable[[Any], str] = str  # how the widget spells an option in the link (its format_func)


@dataclass(frozen=True)
class Multi:
    """Pills with several selections: any subset of ``options`` (invalid items are dropped)."""

    options: tuple
    default: tuple


@dataclass(frozen=True)
class Flag:
    """A toggle or checkbox."""

    default: bool = False


@dataclass(frozen=True)
class Text:
    """A choice whose options are only known at run time (a model picker): the page checks it itself."""


Spec = Number | Choice | Multi | Flag | Text


@dataclass
class Change:
    """One value of a link that was replaced: ``key``, what the link said, and the value used instead."""

    key: str
    given: str
    value: Any
    reason: str  # "range", "number", "option", "flag" or "grid" (a whole number was expected)


@dataclass
class Cleaned:
    """The result of :func:`clean_link`: the valid value of every parameter present, and what changed."""

    values: dict[str, Any] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)


SEED = Number(0, 1_000_000, 0)
MAML_LRS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
IMG_LRS = (0.001, 0.01, 0.03, 0.1, 0.2, 0.4, 1.0, 2.0, 5.0, 10.0, 100.0, 1e3, 1e4, 1e6, 1e9, 1e12)


def lr_label(lr: float) -> str:
    """Return ``lr`` as the MAML images tab spells it: ``0.4``, ``100``, ``1e6`` (no ``+``: a URL reads it as a space)."""
    return f"{lr:g}".replace("e+0", "e").replace("e+", "e")


def _surface(axis: int, end: int) -> Callable[[dict[str, Any]], float]:
    """Return the bound of the start slider ``axis`` (0: x, 1: y) of the landscape in the link."""
    def bound(values: dict[str, Any]) -> float:
        s = SURFACES[values.get("landscape", next(iter(SURFACES)))]
        return (s.x_range, s.y_range)[axis][end]
    return bound


def _start(axis: int) -> Callable[[dict[str, Any]], float]:
    """Return the default start coordinate ``axis`` of the landscape in the link."""
    return lambda values: SURFACES[values.get("landscape", next(iter(SURFACES)))].start[axis]


# Order matters where a range depends on another value (memory's step, the optimizer's start): that one first.
PAGE_PARAMS: dict[str, dict[str, Spec]] = {
    "": {},
    "tasks": {
        "family": Choice(("sinusoid", "glyphs", "omniglot")), "n_tasks": Number(1, 9, 6),
        "points": Number(1, 50, 10), "query_points": Number(1, 50, 20), "ways": Number(2, 50, 5),
        "shots": Number(1, 20, 1), "queries": Number(1, 20, 3), "alphabets": Number(1, 50, 50), "tseed": SEED,
    },
    "maml": {
        "k": Number(1, 50, 10), "steps": Number(0, 20, 10), "lr": Choice(MAML_LRS, 0.01),
        "amp": Number(0.1, 5.0, 2.0, 0.1, integer=False), "phase": Number(0.0, 3.14, 0.5, 0.01, integer=False),
        "seed": SEED, "tab": Choice(("sine", "images")), "img_model": Text(), "img_data": Choice(DATA_SOURCES),
        "img_ways": Number(2, 20, 5), "img_shots": Number(1, 10, 1), "img_queries": Number(1, 10, 3),
        "img_steps": Number(0, IMG_MAX_STEPS, 5), "img_lr": Choice(IMG_LRS, 0.4, lr_label), "img_seed": SEED,
    },
    "protonet": {
        "model": Text(), "source": Choice(DATA_SOURCES), "ways": Number(2, 20, 5), "shots": Number(1, 10, 1),
        "queries": Number(1, 15, 5), "distance": Choice(DISTANCES), "projection": Choice(tuple(PROJECTIONS)),
        "seed": SEED,
    },
    "relation": {
        "data": Choice(("glyphs", "omniglot")), "ways": Number(2, 20, 5), "shots": Number(1, 10, 1),
        "queries": Number(1, 5, 3), "seed": SEED, "dist": Flag(), "rel_model": Text(), "proto_model": Text(),
    },
    "memory": {
        "model": Text(), "source": Choice(DATA_SOURCES), "classes": Number(2, 5, 5),
        "sights": Number(2, MAX_INSTANCES, 10), "slots": Number(4, 128, 40),
        "gamma": Number(0.5, 1.0, 0.95, 0.01, integer=False), "seed": SEED,
        "step": Number(1, lambda v: v.get("classes", 5) * v.get("sights", 10), 1),
    },
    "optimizers": {
        "view": Choice(("landscape", "classifier", "meta-sgd")), "landscape": Choice(tuple(SURFACES)),
        "x0": Number(_surface(0, 0), _surface(0, 1), _start(0), 0.01, integer=False),
        "y0": Number(_surface(1, 0), _surface(1, 1), _start(1), 0.01, integer=False),
        "steps": Number(10, 300, 100, 10), "which": Choice(("quadratic", "mlp")),
        "lr_scale": Choice((0.1, 0.3, 1.0, 3.0, 10.0, 30.0), 1.0), "seed": SEED,
        "mlp_steps": Number(20, 300, 100, 10), "act": Choice(("sigmoid", "relu")), "mlp_seed": SEED,
        "amp": Number(0.1, 5.0, 2.0, 0.1, integer=False), "phase": Number(0.0, 3.14, 0.5, 0.01, integer=False),
        "msgd_steps": Number(1, 5, 1), "msgd_seed": SEED,
    },
    "compare": {
        "data": Choice(("glyphs", "omniglot")), "ways": Multi((2, 5, 10, 20), (5,)),
        "shots": Multi((1, 2, 5, 10), (1, 5)), "queries": Number(1, 15, 5),
        "episodes": Choice((10, 20, 50, 100, 200, 600), 50), "seed": SEED,
        "protonet_model": Text(), "relation_model": Text(), "maml_model": Text(), "fomaml_model": Text(),
        "learners": Multi(("protonet", "relation", "maml", "fomaml", "pixel-nn"),
                          ("protonet", "relation", "maml", "fomaml", "pixel-nn")),
    },
    "meta_rl": {
        "task": Choice(META_RL_TASKS), "hide": Flag(True), "p_left": Number(0.0, 1.0, 0.3, 0.05, integer=False),
        "p_right": Number(0.0, 1.0, 0.7, 0.05, integer=False), "h_trials": Number(2, 10, 6),
        "b_trials": Number(5, 100, 20, 5), "seed": SEED, "inspect": Number(1, 10, 1), "peek": Flag(False),
    },
    "virtual": {
        "classes": Number(2, 8, 5), "drawings": Number(2, 8, 6), "temp": Number(0.5, 1.5, 1.0, 0.1, integer=False),
        "pen": Flag(True), "seed": SEED, "class_t": Number(0.0, 1.0, 0.0, 0.05, integer=False),
        "style_t": Number(0.0, 1.0, 0.0, 0.05, integer=False),
    },
}
URL_ONLY = ("tab",)  # read by the page from the link itself (not a widget), so corrected in the link
# Parameters the app shell binds on every page (language, projector mode, the lesson in progress).
SHELL_PARAMS = ("lang", "projector", "lesson", "lesson_step")
TRUE, FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")
_NONE = object()  # "no option matched" in a multi-valued parameter


def _resolve(bound: Bound, values: dict[str, Any]) -> float:
    return bound(values) if callable(bound) else bound


def _number(text: str) -> float | None:
    """Return ``text`` as a finite float or +-inf, ``None`` when it is not a number (``nan`` included)."""
    try:
        x = float(text.strip())
    except (ValueError, AttributeError):
        return None
    return None if math.isnan(x) else x


def _clean_number(spec: Number, raw: str, values: dict[str, Any]) -> tuple[Any, str | None]:
    lo, hi, default = (_resolve(b, values) for b in (spec.lo, spec.hi, spec.default))
    x = _number(raw)
    if x is None:
        return default, "number"
    reason = None
    if not lo <= x <= hi:
        x, reason = min(max(x, lo), hi), "range"
    if not spec.integer:
        return float(x), reason
    # Whole numbers are cut toward zero, as Streamlit does when it reads ``?k=5.5`` itself.
    value = int(x)
    if reason is None and value != x:
        reason = "grid"
    return value, reason


def _clean_choice(options: Sequence, default: Any, raw: str, label: Callable[[Any], str] = str
                  ) -> tuple[Any, str | None]:
    if raw in [label(o) for o in options]:
        return next(o for o in options if label(o) == raw), None
    numeric = all(isinstance(o, int | float) for o in options)
    if numeric and (x := _number(raw)) is not None:
        # The nearest option; on a log scale when every option is positive (learning rates span decades).
        if all(o > 0 for o in options):
            target = math.log(x) if x > 0 else -math.inf
            best = min(options, key=lambda o: abs(math.log(o) - target))
        else:
            best = min(options, key=lambda o: abs(o - x))
        # The right number spelt another way ("10" for "10.0") is read by Streamlit as no option at all.
        return best, ("format" if math.isclose(best, x) else "option")
    lowered = {str(o).lower(): o for o in options}
    if raw.strip().lower() in lowered:  # Streamlit itself only takes the exact spelling
        return lowered[raw.strip().lower()], "option"
    return (options[0] if default is None else default), "option"


def _items(raw: str | list[str]) -> list[str]:
    """Return the items of a multi-valued parameter: repeated (``?w=5&w=10``) or comma-separated."""
    parts = raw if isinstance(raw, list) else [raw]
    return [item.strip() for part in parts for item in str(part).split(",") if item.strip()]


def clean_value(spec: Spec, raw: str | list[str], values: dict[str, Any] | None = None) -> tuple[Any, str | None]:
    """Return ``(valid value, reason)`` for the raw link text ``raw`` of a parameter with ``spec``.

    ``reason`` is ``None`` when the link's value is used as it is, else why it was replaced: ``"number"``
    (not a number), ``"range"`` (outside the limits: the nearest limit is used), ``"grid"`` (a whole number
    was expected), ``"option"`` (not one of the options), ``"format"`` (the right option spelt another way,
    such as ``10`` for ``10.0``: the caller sets it without a note) or ``"flag"`` (not true/false). A reason is given whenever Streamlit would not read the text as it stands, so the caller
    knows which values to set itself. ``values`` holds
    the parameters cleaned so far, for ranges that depend on them.
    """
    values = values or {}
    if isinstance(spec, Multi):
        items = _items(raw)
        # Streamlit reads repeated parameters (``?w=2&w=5``) only; a comma-separated list is taken too.
        kept, changed = [], any("," in str(part) for part in (raw if isinstance(raw, list) else [raw]))
        for item in items:
            # Only exact options are kept (Streamlit drops the others too): "7" among 2/5/10 is dropped.
            value, reason = _clean_choice(spec.options, _NONE, item)
            changed |= reason is not None
            if reason is None and value not in kept:
                kept.append(value)
        if not kept:
            return list(spec.default), ("option" if items else None)
        return sorted(kept, key=spec.options.index), ("option" if changed else None)
    text = raw[-1] if isinstance(raw, list) and raw else (raw if isinstance(raw, str) else "")
    if isinstance(spec, Number):
        return _clean_number(spec, text, values)
    if isinstance(spec, Choice):
        return _clean_choice(spec.options, spec.default, text, spec.label)
    if isinstance(spec, Flag):
        word = text.strip().lower()
        if word in ("true", "false"):
            return word == "true", None
        # Streamlit reads only true/false; ``1``, ``yes`` and ``on`` are taken too, and the note says so.
        return (word in TRUE) if word in TRUE + FALSE else spec.default, "flag"
    return text, None


def clean_link(raw: Mapping[str, str | list[str]], page: str) -> Cleaned:
    """Return the valid values of the link parameters ``raw`` of ``page`` and the list of what changed.

    Parameters the page does not bind are left out (the app shell's own, such as ``lang``, are not checked
    here). Raises ``KeyError`` for a page that is not in :data:`PAGE_PARAMS`.
    """
    specs = PAGE_PARAMS[page]
    out = Cleaned()
    for key, spec in specs.items():
        if key not in raw:
            continue
        value, reason = clean_value(spec, raw[key], out.values)
        out.values[key] = value
        if reason is not None:
            given = ",".join(raw[key]) if isinstance(raw[key], list) else str(raw[key])
            out.changes.append(Change(key, given, value, reason))
    return out


def link_text(spec: Spec, value: Any) -> str | list[str]:
    """Return ``value`` spelt as the widget with ``spec`` writes it into the link (a list for several values)."""
    if isinstance(spec, Choice):
        return spec.label(value)
    if isinstance(spec, Multi):
        return [str(v) for v in value]
    return show_value(value)


def show_value(value: Any) -> str:
    """Return ``value`` as a note shows it: ``5``, ``0.01``, ``true``, ``2, 5``."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return ", ".join(show_value(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
