"""The Virtual tasks curve: one line per arm and data set at the rows' means, and each repeat of a row as a dot."""

from __future__ import annotations

import pytest

from lab.viz.virtual import curve_figure


def _row(method: str, n: int, draws: list[float]) -> dict:
    return {"method": method, "metric": "accuracy", "mean": sum(draws) / len(draws), "ci95": 0.01, "n": 600,
            "data": "omniglot", "real_classes": n, "budget": n, "ways": 5, "shots": 1, "draws": len(draws),
            "draw_means": draws}


def test_curve_draws_each_arms_means_and_the_repeats_behind_them():
    rows = [_row("real-only", 20, [0.6, 0.7, 0.8]), _row("real+virtual", 20, [0.7, 0.72, 0.74]),
            _row("real-only", 50, [0.8, 0.8, 0.9]), _row("real+virtual", 50, [0.85, 0.86, 0.87])]
    fig = curve_figure({"task": "virtual", "config": {"draws": 3}, "results": rows})
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    dots = [t for t in fig.data if t.mode == "markers"]
    assert len(lines) == 2 and len(dots) == 2
    real_line = next(t for t in lines if t.legendgroup == "real-only")
    assert list(real_line.y) == pytest.approx([70.0, 250 / 3])
    real_dots = next(t for t in dots if t.legendgroup == "real-only")
    assert list(real_dots.x) == [20, 20, 20, 50, 50, 50]
    assert list(real_dots.y) == pytest.approx([60, 70, 80, 80, 80, 90])


def test_a_report_of_single_runs_has_no_repeat_dots():
    rows = [_row("real-only", 20, [0.6]), _row("real+virtual", 20, [0.7])]
    fig = curve_figure({"task": "virtual", "config": {}, "results": rows})
    assert [t.mode for t in fig.data] == ["lines+markers", "lines+markers"]
