"""Embedding-space figures: what each trace shows, titles and axis titles, class colours, alt text, clicks."""

from __future__ import annotations

import dataclasses

import numpy as np
import plotly.graph_objects as go
import pytest

from lab.demos import protonet as demo
from lab.viz import OKABE_ITO, VERMILLION
from lab.viz import embedding as figs


def _has_titles(fig: go.Figure) -> None:
    assert fig.layout.title.text
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text


@pytest.fixture(scope="module")
def episode(lab_assets) -> demo.ProtoDemo:
    """A 5-way 2-shot episode of the untrained test ProtoNet: some queries right, some wrong."""
    model = demo.load_protonet(lab_assets / "protonet_glyphs")
    result = demo.protonet_demo(model, "glyphs", 5, 2, 4, "euclidean", "PCA 2D", seed=1, resolution=31)
    assert 0 < len(result.misclassified) < len(result.query_y)  # the tests below need both kinds
    return result


def _trace(fig: go.Figure, name: str | None = None, symbol: str | None = None):
    return [t for t in fig.data if (name is None or t.name == name)
            and (symbol is None or getattr(getattr(t, "marker", None), "symbol", None) == symbol)]


def test_map_draws_regions_points_prototypes_and_rings(episode) -> None:
    fig = figs.embedding_map(episode)
    _has_titles(fig)
    assert "nearest star" in fig.layout.title.text
    assert isinstance(fig.data[0], go.Heatmap) and fig.data[0].opacity < 0.5
    assert np.array_equal(np.asarray(fig.data[0].z), episode.regions.labels)
    assert isinstance(fig.data[1], go.Contour)  # region borders
    stars = [t for t in _trace(fig, symbol="star") if t.x[0] == t.x[0]]  # not the NaN legend entry
    assert len(stars) == 1 and len(stars[0].x) == 5
    assert list(stars[0].marker.color) == [figs.class_color(k) for k in range(5)]
    rings = _trace(fig, symbol="circle-open")
    assert len(rings) == 1 and rings[0].marker.color == VERMILLION
    assert sorted(np.asarray(rings[0].customdata).ravel()) == list(episode.misclassified)
    queries = [t for t in _trace(fig, symbol="diamond") if len(t.x) > 1]
    assert list(np.asarray(queries[0].customdata).ravel()) == list(range(20))
    wrong = int(episode.misclassified[0])
    assert "✗" in queries[0].hovertext[wrong] and episode.class_names[int(episode.predictions[wrong])] in \
        queries[0].hovertext[wrong]
    assert fig.layout.yaxis.scaleanchor == "x"  # PCA keeps distances: equal axis scales
    assert "principal component 1" in fig.layout.xaxis.title.text
    assert list(fig.layout.colorway) == list(OKABE_ITO)


def test_class_colours_are_okabe_ito_without_the_error_colour() -> None:
    assert VERMILLION not in figs.CLASS_COLORS and set(figs.CLASS_COLORS) < set(OKABE_ITO)
    assert figs.class_color(len(figs.CLASS_COLORS)) == figs.class_color(0)


def test_3d_and_nonlinear_maps_have_no_regions(lab_assets, episode) -> None:
    model = demo.load_protonet(lab_assets / "protonet_glyphs")
    three = figs.embedding_map(demo.protonet_demo(model, "glyphs", 3, 2, 2, "euclidean", "PCA 3D", seed=0))
    assert all(isinstance(t, go.Scatter3d) for t in three.data)
    assert three.layout.scene.zaxis.title.text.startswith("PC 3")
    flat = dataclasses.replace(episode, regions=None, no_regions="nonlinear",
                               projection=dataclasses.replace(episode.projection, method="tsne", mean=None,
                                                              components=None, explained=None))
    fig = figs.embedding_map(flat, lang="zh")
    assert not any(isinstance(t, go.Heatmap | go.Contour) for t in fig.data)
    assert "t-SNE" in fig.layout.xaxis.title.text and "星形" in fig.layout.title.text
    assert fig.layout.yaxis.scaleanchor is None  # t-SNE distances mean nothing: no equal scales


def test_shots_figure_has_error_bars_chance_and_the_current_shots() -> None:
    curve = demo.ShotCurve(np.array([1, 2, 3, 5, 10]), np.array([.5, .6, .7, .8, .9]), np.full(5, .05), 5, 30,
                           "euclidean")
    fig = figs.shots_figure(curve, k_shot=3)
    _has_titles(fig)
    assert fig.layout.xaxis.type == "log" and list(fig.layout.xaxis.tickvals) == [1, 2, 3, 5, 10]
    np.testing.assert_allclose(fig.data[0].y, [50, 60, 70, 80, 90])
    np.testing.assert_allclose(fig.data[0].error_y.array, [5] * 5)
    assert list(fig.data[1].y) == [20, 20]  # chance at 5-way
    assert fig.layout.shapes[0].x0 == 3
    assert "1: 50%" in figs.shots_alt(curve) and "10: 90%" in figs.shots_alt(curve)


def test_class_strip_and_query_comparison(episode) -> None:
    strip = figs.class_strip(episode)
    _has_titles(strip)
    assert isinstance(strip.data[0], go.Image) and len(strip.layout.xaxis.ticktext) == 5
    assert figs.class_color(2) in strip.layout.xaxis.ticktext[2]
    right = int(next(i for i in range(20) if i not in set(episode.misclassified)))
    one = figs.query_comparison(episode, [right])
    _has_titles(one)
    assert len(one.layout.annotations) == 2  # query | its class: nothing wrong to compare with
    many = figs.query_comparison(episode, episode.misclassified)
    assert len(many.layout.annotations) == 3
    assert len(many.layout.yaxis.ticktext) == min(10, len(episode.misclassified))
    with pytest.raises(ValueError, match="at least one"):
        figs.query_comparison(episode, [])
    assert f"query {right}" in figs.comparison_alt(episode, [right])


def test_alt_text_counts_the_mistakes(episode) -> None:
    alt = figs.embedding_alt(episode)
    assert f"{len(episode.misclassified)} of 20 queries" in alt and "5-way 2-shot" in alt
    assert "个分错" in figs.embedding_alt(episode, "zh")


@pytest.mark.parametrize("points,expected", [
    ([], None),
    ([{"curve_number": 0, "x": 1.0}], None),  # a click on the shaded regions: no customdata
    ([{"customdata": [7]}], 7),
    ([{"customdata": 3}], 3),
    ([{"customdata": [99]}, {"customdata": [2.0]}], 2),  # out of range (a stale selection), then a query
    ([{"customdata": {"0": 4}}], 4),  # a typed array, as Streamlit passes it back
])
def test_clicked_query(points: list[dict], expected: int | None) -> None:
    assert figs.clicked_query(points, n_queries=20) == expected
