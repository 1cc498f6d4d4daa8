"""Figures of the Relation and Compare pages, from hand-made traces (no model runs here)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from lab.demos.relation import RelationDemo
from lab.viz import GREEN, SEQUENTIAL_SCALE, VERMILLION
from lab.viz.compare import METHOD_COLORS, accuracy_figure
from lab.viz.relation import MAX_SHOTS_SHOWN, disagreement_figure, proto_heatmap, relation_heatmap


def _demo(n_way: int = 3, k_shot: int = 2, n_query: int = 2, agree: bool = False) -> RelationDemo:
    rng = np.random.default_rng(0)
    rows = n_way * n_query
    labels = np.repeat(np.arange(n_way), n_query)
    rel = rng.uniform(size=(rows, n_way)).astype(np.float32)
    dist = rng.uniform(1, 5, size=(rows, n_way)).astype(np.float32)
    if agree:
        dist = 5 - 4 * rel  # nearest prototype = highest relation score
    probs = np.exp(-dist) / np.exp(-dist).sum(axis=1, keepdims=True)
    return RelationDemo(n_way, k_shot, n_query, 0, rng.uniform(size=(n_way, k_shot, 28, 28)),
                        rng.uniform(size=(rows, 28, 28)), labels, [f"c{i}" for i in range(n_way)], rel, dist, probs)


def test_relation_heatmap_rows_columns_and_thumbnails() -> None:
    demo = _demo(n_way=4, k_shot=5, n_query=2)
    fig = relation_heatmap(demo)
    heat = fig.data[0]
    assert isinstance(heat, go.Heatmap) and np.asarray(heat.z).shape == (8, 4)
    assert (heat.zmin, heat.zmax) == (0.0, 1.0) and heat.colorscale[0][1] == go.Heatmap(
        colorscale=SEQUENTIAL_SCALE).colorscale[0][1]
    assert len(fig.layout.images) == 8 + 4 * MAX_SHOTS_SHOWN  # a drawing per query, shots above each class
    assert all(im.source.startswith("data:image/png;base64,") for im in fig.layout.images)
    assert list(fig.layout.yaxis.ticktext[:3]) == ["Q1 · class 0", "Q2 · class 0", "Q3 · class 1"]
    picks = fig.data[1]
    np.testing.assert_allclose(np.round(np.asarray(picks.x) - 0.32), demo.relation_pred)
    assert fig.layout.title.text and fig.layout.xaxis.title.text and fig.layout.yaxis.title.text


def test_proto_heatmap_views() -> None:
    demo = _demo()
    probs = proto_heatmap(demo, show="probs")
    np.testing.assert_allclose(np.asarray(probs.data[0].z), demo.proto_probs, rtol=1e-6)
    dist = proto_heatmap(demo, show="distances")
    assert dist.data[0].zmin is None and float(np.max(dist.data[0].z)) <= 0
    assert probs.layout.title.text != dist.layout.title.text
    with pytest.raises(ValueError, match="show="):
        proto_heatmap(demo, show="logits")


def test_disagreement_figure() -> None:
    assert disagreement_figure(_demo(agree=True)) is None
    demo = _demo(n_way=5, n_query=4)
    fig = disagreement_figure(demo, max_rows=3)
    shown = min(3, len(demo.disagreements))
    assert len(fig.layout.images) == 4 * shown and len(fig.data[0].text) == shown
    assert {tr.line.color for tr in fig.data[1:]} <= {GREEN, VERMILLION}
    assert str(len(demo.disagreements)) in fig.layout.title.text
    assert all(("✓" in t or "✗" in t) for t in fig.data[0].text)


def _rows() -> list[dict]:
    return [dict(method=m, metric="accuracy", mean=acc, ci95=0.05, n=20, ways=w, shots=s, ms_per_episode=1.0)
            for m, base in (("protonet", 0.8), ("pixel-nn", 0.5)) for w in (5, 20) for s, acc in
            ((1, base), (5, base + 0.1))]


def test_accuracy_figure_panels_lines_and_chance() -> None:
    fig = accuracy_figure(_rows())
    lines = [tr for tr in fig.data if tr.error_y.array is not None]
    assert len(lines) == 4  # two learners x two panels
    assert {tr.line.color for tr in lines} == {METHOD_COLORS["protonet"], METHOD_COLORS["pixel-nn"]}
    assert {tr.xaxis for tr in lines} == {"x", "x2"}
    chance = sorted(tr.y[0] for tr in fig.data if tr.error_y.array is None)
    assert chance == [pytest.approx(1 / 20), pytest.approx(1 / 5)]
    assert [a.text for a in fig.layout.annotations] == ["5-way", "20-way"]
    assert list(lines[0].customdata) == [1, 5] and lines[0].error_y.array == (0.05, 0.05)
    assert fig.layout.xaxis.type == "log" and fig.layout.title.text


def test_chinese_figure_text() -> None:
    assert "准确率" in accuracy_figure(_rows(), lang="zh").layout.title.text
    assert "关系网络" in relation_heatmap(_demo(), lang="zh").layout.title.text
