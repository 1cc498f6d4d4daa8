"""Every page, every control, through its extremes, seeded random values and garbage links: nothing escapes.

The controls come from :data:`lab.links.PAGE_PARAMS` (``tests/app/test_links.py`` holds that table to the
widgets' own ranges), so a control added to a page and to the table is swept here without editing this file.
Each case opens the page through the app shell with a link, as a student's browser would; then the page's own
sliders and number inputs are driven to their ends with AppTest, the way a student drags them.

Asserted every time: no exception reaches the page; the page shows something (a figure, or a message in
place). For garbage links, also: a note says which values were replaced.
"""

from __future__ import annotations

import random
import zlib

import pytest
from helpers import app, figures
from streamlit.testing.v1 import AppTest

from lab.links import PAGE_PARAMS, Choice, Flag, Multi, Number, Text

# Each page in each of its views. Compare's evaluation stays small (its long-work path has its own tests).
VIEWS = [("tasks", {}), ("tasks", {"family": "glyphs"}), ("maml", {}), ("maml", {"tab": "images"}),
         ("protonet", {}), ("relation", {}), ("memory", {}), ("optimizers", {}), ("optimizers", {"view": "classifier"}),
         ("optimizers", {"view": "meta-sgd"}), ("compare", {}), ("meta_rl", {"peek": "true"}),
         ("meta_rl", {"task": "harlow"}), ("virtual", {})]
SMALL = {"compare": {"episodes": "10", "queries": "1", "ways": ["2", "5"], "shots": ["1"]}}
GARBAGE = ["abc", "1e999", "-7", "NaN", "", "%00", "99999999999999999999999", "0x1F", "[]", "✓", "-inf", " 3 "]
CASES = ["lowest", "highest", "random-1", "random-2", "garbage"]
VIEW_KEYS = ("tab", "view", "family", "task")  # which view a case is about: kept as given


def _resolve(bound, values):
    return bound(values) if callable(bound) else bound


def _text(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def link_for(name: str, view: dict, case: str) -> dict[str, str | list[str]]:
    """Return the query parameters of one case: every control of the page at an end, at random, or garbage."""
    rng = random.Random(zlib.crc32(f"{name}{sorted(view.items())}{case}".encode()))
    values: dict[str, object] = {}
    link: dict[str, str | list[str]] = {}
    for key, spec in PAGE_PARAMS[name].items():
        if key in VIEW_KEYS and key in view:
            values[key] = link[key] = view[key]
            continue
        if isinstance(spec, Text) or (key in VIEW_KEYS and case != "garbage"):
            continue  # a model picker's options exist only at run time; other views have their own cases
        if case == "garbage":
            link[key] = GARBAGE[len(link) % len(GARBAGE)]
            continue
        if isinstance(spec, Number):
            lo, hi = _resolve(spec.lo, values), _resolve(spec.hi, values)
            value = {"lowest": lo, "highest": hi}.get(case, lo + rng.random() * (hi - lo))
            value = round(value) if spec.integer else round(value, 2)
        elif isinstance(spec, Choice):
            options = list(spec.options)
            value = {"lowest": options[0], "highest": options[-1]}.get(case, rng.choice(options))
            link[key] = spec.label(value)
            values[key] = value
            continue
        elif isinstance(spec, Multi):
            options = list(spec.options)
            value = {"lowest": options[:1], "highest": options}.get(case) or rng.sample(options, rng.randint(1, len(options)))
            link[key] = [_text(o) for o in value]
            values[key] = value
            continue
        else:
            assert isinstance(spec, Flag)
            value = {"lowest": False, "highest": True}.get(case, rng.random() < 0.5)
        values[key] = value
        link[key] = "true" if value is True else "false" if value is False else _text(value)
    if case != "garbage":
        link.update(SMALL.get(name, {}))
    return link


def _assert_page_is_fine(at: AppTest, where: str) -> None:
    assert not at.exception, f"{where}: {[e.value for e in at.exception]}"
    shown = len(figures(at)) + len(at.error) + len(at.warning) + len(at.info) + len(at.get("imgs"))
    assert shown, f"{where}: the page shows neither a figure nor a message"


@pytest.fixture
def _assets(lab_assets, tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_ASSETS_DIR", str(lab_assets))
    monkeypatch.setenv("LAB_HOME", str(tmp_path / "home"))


@pytest.mark.parametrize("name,view", VIEWS, ids=[f"{n}-{'-'.join(v.values()) or 'default'}" for n, v in VIEWS])
def test_every_control_at_its_ends_at_random_and_as_garbage(_assets, name: str, view: dict) -> None:
    at = app()
    at.switch_page(f"pages/{name}.py")
    for case in CASES:
        at.query_params.clear()
        at.query_params.update(link_for(name, view, case))
        at.run()
        _assert_page_is_fine(at, f"{name} {view} {case}: {dict(at.query_params)}")
        if case == "garbage":
            assert at.info, f"{name} {view}: a garbage link opened without a note saying what was replaced"
    # Then drag the page's own sliders and number inputs to their ends, all at once, as a student would.
    for end in ("max", "min"):
        moved = 0
        for widget in [*at.slider, *at.number_input]:
            if getattr(widget, "disabled", False) or widget.key in ("episodes",):
                continue
            target = getattr(widget, end)
            if target is None:
                continue
            value = widget.value
            if isinstance(value, tuple | list):  # a range slider
                target = (widget.min, widget.max) if end == "max" else (widget.min, widget.min)
            widget.set_value(target)
            moved += 1
        at.run()
        _assert_page_is_fine(at, f"{name} {view}: every control at its {end}")
        assert moved or name == "virtual" or not PAGE_PARAMS[name], f"{name}: no control to move"
