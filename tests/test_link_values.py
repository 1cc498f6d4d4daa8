"""lab.links: a link's raw values become the nearest valid ones, and every change is reported."""

from __future__ import annotations

import pytest

from lab.links import PAGE_PARAMS, Choice, Flag, Multi, Number, clean_link, clean_value, link_text, lr_label


@pytest.mark.parametrize("raw,value,reason", [
    ("7", 7, None), ("999", 50, "range"), ("-3", 1, "range"), ("abc", 10, "number"), ("nan", 10, "number"),
    ("inf", 50, "range"), ("-inf", 1, "range"), ("1e99", 50, "range"), ("5.5", 5, "grid"), (" 8 ", 8, None),
])
def test_whole_numbers_clamp_to_the_nearest_limit(raw: str, value: int, reason: str | None) -> None:
    assert clean_value(Number(1, 50, 10), raw) == (value, reason)


def test_floats_keep_their_value_inside_the_range() -> None:
    spec = Number(0.0, 3.14, 0.5, 0.01, integer=False)
    assert clean_value(spec, "0.123") == (0.123, None)
    assert clean_value(spec, "9") == (3.14, "range")
    assert isinstance(clean_value(spec, "1")[0], float)


def test_numeric_choices_take_the_nearest_option_on_a_log_scale() -> None:
    spec = Choice((0.001, 0.01, 0.1, 1.0), 0.01)
    assert clean_value(spec, "0.01") == (0.01, None)
    assert clean_value(spec, "0.0004") == (0.001, "option")  # |log| distance: 0.0004 is nearer 0.001
    assert clean_value(spec, "0.04") == (0.1, "option")  # log10: -1.40 is nearer -1 than -2
    assert clean_value(spec, "7") == (1.0, "option")
    assert clean_value(spec, "-2") == (0.001, "option")
    assert clean_value(spec, "abc") == (0.01, "option")
    assert clean_value(Choice((1.0, 10.0)), "10") == (10.0, "format")  # right value, not Streamlit's spelling


def test_text_choices_match_exactly_else_report() -> None:
    spec = Choice(("sinusoid", "glyphs"))
    assert clean_value(spec, "glyphs") == ("glyphs", None)
    assert clean_value(spec, "GLYPHS") == ("glyphs", "option")  # Streamlit only reads the exact spelling
    assert clean_value(spec, "<script>") == ("sinusoid", "option")


def test_flags_and_multi_values() -> None:
    assert clean_value(Flag(), "true") == (True, None)
    assert clean_value(Flag(), "False") == (False, None)
    assert clean_value(Flag(), "1") == (True, "flag")
    assert clean_value(Flag(True), "maybe") == (True, "flag")
    spec = Multi((2, 5, 10, 20), (5,))
    assert clean_value(spec, ["10", "2"]) == ([2, 10], None)
    assert clean_value(spec, ["10", "7", "x"]) == ([10], "option")
    assert clean_value(spec, "2,20") == ([2, 20], "option")  # a comma list is read, and set by the caller
    assert clean_value(spec, ["x"]) == ([5], "option")


def test_a_range_can_depend_on_another_parameter() -> None:
    out = clean_link({"classes": "2", "sights": "3", "step": "50"}, "memory")
    assert out.values == {"classes": 2, "sights": 3, "step": 6}
    assert [(c.key, c.given, c.value, c.reason) for c in out.changes] == [("step", "50", 6, "range")]
    beale = clean_link({"landscape": "beale", "x0": "-9"}, "optimizers")
    assert beale.values["x0"] == -4.5


def test_clean_link_ignores_parameters_the_page_does_not_bind() -> None:
    out = clean_link({"lang": "zh", "k": "3", "unknown": "1"}, "maml")
    assert out.values == {"k": 3} and not out.changes


def test_link_text_spells_values_as_the_widgets_do() -> None:
    assert link_text(PAGE_PARAMS["optimizers"]["lr_scale"], 10.0) == "10.0"
    assert link_text(PAGE_PARAMS["maml"]["img_lr"], 1e6) == "1e6" == lr_label(1e6)
    assert link_text(PAGE_PARAMS["compare"]["ways"], [5, 10]) == ["5", "10"]
    assert link_text(PAGE_PARAMS["relation"]["dist"], True) == "true"
    # Every default is itself valid, read back unchanged.
    for page, specs in PAGE_PARAMS.items():
        for key, spec in specs.items():
            if isinstance(spec, Number) and not callable(spec.default):
                assert clean_value(spec, link_text(spec, spec.default))[1] is None, (page, key)
