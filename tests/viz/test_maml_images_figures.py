"""Figures of the MAML image lesson, on hand-made traces (no model): frames, borders, matrix, curves."""

from __future__ import annotations

import json

import numpy as np
import plotly.io as pio
import pytest

from lab.demos.maml_images import ImagesDemo
from lab.viz import maml_images as figs


def make_demo(n_way: int = 3, k_shot: int = 2, n_query: int = 2, steps: int = 4, steps_done: int | None = None,
              zero_loss: bool = False) -> ImagesDemo:
    """Return a trace that starts uniform (step 0) and leans towards the true class a little more each step,
    except that the last query of class 0 is always pulled towards class 1 (so one stays wrong)."""
    done = steps if steps_done is None else steps_done
    labels = np.repeat(np.arange(n_way), n_query)
    probs = np.full((done + 1, n_way * n_query, n_way), 1.0 / n_way, dtype=np.float32)
    for s in range(1, done + 1):
        logits = np.zeros((n_way * n_query, n_way))
        logits[np.arange(len(labels)), labels] = s
        logits[n_query - 1] = 0
        logits[n_query - 1, 1] = s
        probs[s] = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    accuracy = (probs.argmax(-1) == labels).mean(-1)
    loss = np.linspace(np.log(n_way), 0.0 if zero_loss else 0.05, done + 1)
    rng = np.random.default_rng(0)
    return ImagesDemo(
        data="glyphs", n_way=n_way, k_shot=k_shot, n_query=n_query, steps=steps, inner_lr=0.4,
        support=rng.random((n_way, k_shot, 28, 28), dtype=np.float32),
        query=rng.random((n_way, n_query, 28, 28), dtype=np.float32), query_labels=labels,
        class_names=[f"alphabet 4{i} / char {i}" for i in range(n_way)], query_probs=probs,
        support_loss=loss, query_loss=loss + 0.1, query_accuracy=accuracy,
        error=None if done == steps else "the loss became non-finite")


def _json(fig) -> dict:
    return json.loads(pio.to_json(fig, validate=False))


@pytest.mark.parametrize("steps", [0, 1, 5, 10])
def test_one_frame_per_step_and_a_slider_stop_for_each(steps) -> None:
    fig = figs.prediction_animation(make_demo(steps=steps))
    assert len(fig.frames) == steps + 1
    assert [f.name for f in fig.frames] == [str(s) for s in range(steps + 1)]
    slider = fig.layout.sliders[0]
    assert len(slider.steps) == steps + 1 and slider.active == steps  # the still view is the last step
    assert [b.label for b in fig.layout.updatemenus[0].buttons] == ["▶ Play", "Pause"]


def test_a_diverged_trace_animates_only_the_steps_it_has() -> None:
    fig = figs.prediction_animation(make_demo(steps=10, steps_done=3))
    assert len(fig.frames) == 4
    assert "step 3" in fig.layout.xaxis.title.text


def _border_points(trace) -> int:
    return int(np.isfinite(np.asarray(trace.x, dtype=float)).sum())


def test_borders_match_right_wrong_and_tied_queries() -> None:
    demo = make_demo(n_way=3, n_query=2, steps=2)
    fig = figs.prediction_animation(demo)
    start, end = fig.frames[0], fig.frames[-1]
    right, wrong, tied = (_border_points(t) for t in start.data[:3])
    assert (right, wrong, tied) == (0, 0, 6 * 5)  # step 0: all six queries tied; 5 corners per outline
    right, wrong, tied = (_border_points(t) for t in end.data[:3])
    assert (right, wrong, tied) == (5 * 5, 1 * 5, 0)
    assert "5 of 6 queries right" in end.layout.xaxis.title.text
    assert all(len(t.x) >= 1 for t in end.data[:3])  # an empty status keeps a point, so its legend entry stays


def test_query_status_and_class_confusion() -> None:
    probs = np.array([[0.5, 0.5, 0.0], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]], dtype=np.float32)
    labels = np.array([0, 1, 1, 2])
    assert figs.query_status(probs, labels).tolist() == [-1, 1, 0, 1]
    matrix = figs.class_confusion(probs, labels, 3)
    np.testing.assert_allclose(matrix[0], probs[0])
    np.testing.assert_allclose(matrix[1], probs[1:3].mean(0))
    np.testing.assert_allclose(matrix.sum(-1), 1.0, rtol=1e-6)


def test_the_matrix_starts_flat_and_its_rows_line_up_with_the_image_rows() -> None:
    demo = make_demo(n_way=4, steps=3)
    fig = _json(figs.prediction_animation(demo))
    heat = next(t for t in fig["data"] if t["type"] == "heatmap")
    assert heat["yaxis"] == "y" and heat["xaxis"] == "x2"  # shares the image's y axis
    np.testing.assert_allclose(_decode(fig["layout"]["yaxis"]["tickvals"]), _decode(heat["y"]))
    first = _decode(fig["frames"][0]["data"][4]["z"])
    np.testing.assert_allclose(first, 0.25, atol=1e-6)
    last = _decode(fig["frames"][-1]["data"][4]["z"])
    assert all(last[c].argmax() == c for c in range(1, 4))  # row 0 has a query pulled to class 1


def _decode(value) -> np.ndarray:
    """Return a plotly JSON array (a list or a base64 typed array) as numpy."""
    if isinstance(value, dict):
        import base64

        shape = value.get("shape")
        arr = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        return arr.reshape([int(n) for n in str(shape).split(",")]) if shape else arr
    return np.asarray(value, dtype=float)


def test_hover_texts_name_the_prediction_per_frame() -> None:
    fig = figs.prediction_animation(make_demo(n_way=3, n_query=2, steps=2))
    assert "no preference yet" in fig.frames[0].data[3].text[0]
    assert "picks class 1" in fig.frames[-1].data[3].text[0]
    assert "picks class 2" in fig.frames[-1].data[3].text[1]  # the query pulled towards class 1 (shown 1-based)


def test_figures_in_chinese_and_serialisable() -> None:
    demo = make_demo()
    for build in (figs.prediction_animation, figs.loss_curves, figs.accuracy_curve):
        zh = build(demo, "zh")
        assert any("\u4e00" <= ch <= "\u9fff" for ch in zh.layout.title.text), build.__name__
        assert _json(build(demo, "en"))["layout"]["title"]["text"]


def test_loss_and_accuracy_curves() -> None:
    demo = make_demo(n_way=4, steps=5, zero_loss=True)
    loss = figs.loss_curves(demo)
    assert [len(t.y) for t in loss.data] == [6, 6]
    assert np.all(np.asarray(loss.data[0].y) > 0)  # a loss of exactly 0 is still drawn on the log axis
    lo, hi = loss.layout.yaxis.range
    assert lo < np.log10(1e-6) and hi > np.log10(np.log(4))
    acc = figs.accuracy_curve(demo)
    assert list(acc.data[0].y) == pytest.approx(list(100 * demo.query_accuracy))
    assert list(acc.data[1].y) == [25.0, 25.0]  # chance for 4 ways


def test_a_single_step_still_gets_a_loss_range() -> None:
    lo, hi = figs.loss_curves(make_demo(steps=0)).layout.yaxis.range
    assert hi - lo >= 0.2
