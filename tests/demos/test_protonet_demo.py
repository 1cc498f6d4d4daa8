"""The Prototypical Networks demo: PCA against numpy, decision regions against slow and closed-form references,
misclassified queries against the network's own logits, accuracy against shots."""

from __future__ import annotations

import importlib.machinery
import sys
import types

import numpy as np
import pytest
import torch

from lab.compute import make_generator
from lab.demos import fewshot
from lab.demos import protonet as demo
from lab.learners.protonet import pairwise_distances
from lab.tasks.episodes import FewShotFamily


@pytest.fixture(scope="module")
def model(lab_assets):
    """The small untrained ProtoNet of the test assets, loaded as the page loads it."""
    return demo.load_protonet(lab_assets / "protonet_glyphs")


class TinySource:
    """A class source with few classes and a drawing limit, for the limits the demo must respect."""

    name = "tiny"
    drawings_per_class = 12

    def __init__(self, n_classes: int = 3) -> None:
        self.n_classes = n_classes

    def class_names(self, class_ids) -> list[str]:
        return [f"tiny {int(i)}" for i in class_ids]

    def drawings(self, class_ids: torch.Tensor, n_per_class: int, rng: torch.Generator) -> torch.Tensor:
        return torch.rand((len(class_ids), n_per_class, 1, 28, 28), generator=rng)


def _svd_reference(points: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    centred = points - points.mean(axis=0)
    u, s, vh = np.linalg.svd(centred, full_matrices=False)
    return vh[:dims], (u * s)[:, :dims]


def test_pca_matches_numpy_svd_up_to_sign() -> None:
    gen = torch.Generator().manual_seed(0)
    points = torch.randn(30, 16, generator=gen, dtype=torch.float64) * torch.linspace(3, 0.1, 16, dtype=torch.float64)
    mean, comps, explained = demo.pca(points, 3)
    ref_comps, ref_coords = _svd_reference(points.numpy(), 3)
    signs = np.sign((comps.numpy() * ref_comps).sum(axis=1))
    assert np.all(np.abs(signs) == 1)
    np.testing.assert_allclose(comps.numpy(), ref_comps * signs[:, None], atol=1e-10)
    np.testing.assert_allclose(((points - mean) @ comps.T).numpy(), ref_coords * signs, atol=1e-9)
    s = np.linalg.svd(points.numpy() - points.numpy().mean(0), compute_uv=False)
    np.testing.assert_allclose(explained.numpy(), s[:3] ** 2 / (s**2).sum(), rtol=1e-9)
    # the fixed sign: each component's largest loading is positive
    rows = np.arange(3)
    assert np.all(comps.numpy()[rows, np.abs(comps.numpy()).argmax(axis=1)] > 0)


def test_pca_pads_missing_axes_with_zeros() -> None:
    _, comps, explained = demo.pca(torch.randn(2, 5, dtype=torch.float64), 3)  # 2 points: 2 components from SVD
    assert comps.shape == (3, 5) and torch.all(comps[2] == 0) and explained[2] == 0


@pytest.mark.parametrize("n_way", [2, 3])
@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
def test_each_prototype_owns_its_projected_position_when_in_the_plane(n_way: int, distance: str) -> None:
    # PCA fitted on 2 or 3 prototypes puts them exactly in the plane, so a grid point at a prototype's
    # projected position maps back onto the prototype itself.
    protos = torch.randn(n_way, 32, generator=torch.Generator().manual_seed(n_way), dtype=torch.float64)
    mean, comps, _ = demo.pca(protos, 2)
    coords = (protos - mean) @ comps.T
    for k in range(n_way):
        label = demo.decision_regions(protos, mean, comps, coords[k, :1], coords[k, 1:], distance)
        assert label.shape == (1, 1) and int(label) == k


def test_euclidean_regions_are_the_power_diagram_and_match_the_slow_path() -> None:
    gen = torch.Generator().manual_seed(3)
    protos = torch.randn(5, 12, generator=gen, dtype=torch.float64)  # 5 prototypes: off any 2-D plane
    mean, comps, _ = demo.pca(torch.randn(20, 12, generator=gen, dtype=torch.float64), 2)
    x, y = torch.linspace(-3, 3, 41, dtype=torch.float64), torch.linspace(-2, 2, 31, dtype=torch.float64)
    labels = demo.decision_regions(protos, mean, comps, x, y, "euclidean")
    gy, gx = torch.meshgrid(y, x, indexing="ij")
    coords = torch.stack([gx.flatten(), gy.flatten()], dim=1)
    # slow path: the model's own distance function on the mapped-back points
    slow = pairwise_distances(mean + coords @ comps, protos, "euclidean").argmin(-1).reshape(31, 41)
    assert torch.equal(labels, slow)
    # closed form: ||c - a_k||^2 + ||r_k||^2 with a_k the projection and r_k the off-plane residual
    a = (protos - mean) @ comps.T
    residual = (protos - mean) - a @ comps
    power = ((coords[:, None, :] - a[None]) ** 2).sum(-1) + (residual**2).sum(-1)
    assert torch.equal(labels, power.argmin(-1).reshape(31, 41))


def test_demo_misclassified_are_the_wrong_argmax_of_the_networks_logits(model) -> None:
    result = demo.protonet_demo(model, "glyphs", 5, 2, 4, "euclidean", "PCA 2D", seed=3)
    family = FewShotFamily(fewshot.held_out_source("glyphs"), n_way=5, k_shot=2, n_query=4)
    batch = family.sample(make_generator(3), 1)
    with torch.no_grad():
        logits = model.episode(batch.support_x, batch.support_y, batch.query_x, 5).logits[0]  # config: euclidean
    wrong = np.flatnonzero(logits.argmax(-1).numpy() != batch.query_y[0].numpy())
    np.testing.assert_array_equal(result.misclassified, wrong)
    np.testing.assert_array_equal(result.predictions, logits.argmax(-1).numpy())
    assert result.accuracy == pytest.approx(1 - len(wrong) / 20)
    np.testing.assert_allclose(result.probabilities.sum(-1), 1, atol=1e-9)


def test_demo_shapes_projection_and_regions(model) -> None:
    result = demo.protonet_demo(model, "glyphs", 4, 3, 2, "cosine", "PCA 2D", seed=1, resolution=25)
    d = result.prototypes.shape[1]
    assert result.support_images.shape == (4, 3, 28, 28) and result.query_images.shape == (4, 2, 28, 28)
    assert result.support_embeddings.shape == (12, d) and result.query_embeddings.shape == (8, d)
    assert result.distances.shape == (8, 4) and len(result.class_names) == 4
    proj = result.projection
    assert proj.support.shape == (12, 2) and proj.query.shape == (8, 2) and proj.prototypes.shape == (4, 2)
    np.testing.assert_allclose(proj.query, (result.query_embeddings - proj.mean) @ proj.components.T, atol=1e-9)
    assert result.regions.labels.shape == (25, 25) and result.no_regions is None
    assert set(np.unique(result.regions.labels)) <= set(range(4))
    # the distance override: cosine, whatever the model was trained with
    ref = pairwise_distances(torch.from_numpy(result.query_embeddings), torch.from_numpy(result.prototypes), "cosine")
    np.testing.assert_allclose(result.distances, ref.numpy(), atol=1e-5)
    # a prototype is the mean of its class's support embeddings
    np.testing.assert_allclose(result.prototypes[1], result.support_embeddings[3:6].mean(0), atol=1e-9)


def test_3d_has_no_regions(model) -> None:
    result = demo.protonet_demo(model, "glyphs", 3, 1, 2, "euclidean", "PCA 3D", seed=0)
    assert result.projection.query.shape == (6, 3) and result.regions is None and result.no_regions == "3d"


def test_nonlinear_projection_draws_no_regions(model, monkeypatch) -> None:
    class FakeTSNE:
        def __init__(self, n_components, **kwargs) -> None:
            self.n = n_components

        def fit_transform(self, points: np.ndarray) -> np.ndarray:
            return points[:, : self.n] * 2

    sklearn = types.ModuleType("sklearn")
    sklearn.__spec__ = importlib.machinery.ModuleSpec("sklearn", None)
    manifold = types.ModuleType("sklearn.manifold")
    manifold.TSNE = FakeTSNE
    monkeypatch.setitem(sys.modules, "sklearn", sklearn)
    monkeypatch.setitem(sys.modules, "sklearn.manifold", manifold)
    assert "t-SNE" in demo.available_projections()
    result = demo.protonet_demo(model, "glyphs", 3, 2, 2, "euclidean", "t-SNE", seed=0)
    assert result.regions is None and result.no_regions == "nonlinear" and result.projection.mean is None
    np.testing.assert_allclose(result.projection.prototypes, result.prototypes[:, :2] * 2)


def test_missing_optional_package_names_it(model, monkeypatch) -> None:
    monkeypatch.setattr(demo.importlib.util, "find_spec", lambda name: None)
    assert demo.available_projections() == ["PCA 2D", "PCA 3D"]
    with pytest.raises(ValueError, match="umap-learn"):
        demo.protonet_demo(model, "glyphs", 3, 1, 1, "euclidean", "UMAP", seed=0)


def test_impossible_requests_name_the_limit(model, monkeypatch) -> None:
    with pytest.raises(ValueError, match="choose one of"):
        fewshot.held_out_source("mnist")
    monkeypatch.setattr(fewshot, "held_out_source", lambda source, path=None: TinySource(3))
    with pytest.raises(ValueError, match="n_way=5 but tiny has 3 classes"):
        demo.protonet_demo(model, "glyphs", 5, 1, 1, "euclidean", "PCA 2D", seed=0)
    with pytest.raises(ValueError, match="choose k_shot \\+ n_query <= 12"):
        demo.protonet_demo(model, "glyphs", 3, 10, 5, "euclidean", "PCA 2D", seed=0)
    for bad in (dict(distance="manhattan"), dict(projection="PCA 4D")):
        with pytest.raises(ValueError, match="choose one of"):
            demo.protonet_demo(model, "glyphs", 3, 1, 1, **{"distance": "euclidean", "projection": "PCA 2D", **bad},
                               seed=0)


def test_accuracy_by_shots_shapes_and_drawing_limit(model, monkeypatch) -> None:
    curve = demo.accuracy_by_shots(model, "glyphs", 3, "euclidean", seed=0, shots=(1, 2, 5), n_episodes=6,
                                   n_query=2)
    assert list(curve.shots) == [1, 2, 5] and curve.mean.shape == (3,) and curve.ci95.shape == (3,)
    assert np.all((curve.mean >= 0) & (curve.mean <= 1)) and np.all(np.isfinite(curve.ci95))
    assert curve.n_way == 3 and curve.n_episodes == 6
    monkeypatch.setattr(fewshot, "held_out_source", lambda source, path=None: TinySource(3))
    limited = demo.accuracy_by_shots(model, "glyphs", 2, "cosine", seed=0, n_episodes=3)  # 12 drawings a class
    assert list(limited.shots) == [1, 2, 3, 5]  # 10 shots + 5 queries would need 15


def test_grid_of_nearly_collinear_points_stays_a_rectangle() -> None:
    line = np.stack([np.linspace(-1, 1, 6), np.full(6, 0.5)], axis=1)  # no spread at all along axis 2
    proj = demo.Projection("pca", line[:3], line[3:5], line[5:])
    x, y = demo._grid(proj, 11)
    assert x[0] < -1 and x[-1] > 1  # every point inside, with a margin
    assert float(y[-1] - y[0]) >= float(x[-1] - x[0]) / 4 and float(y.mean()) == pytest.approx(0.5)


def test_wide_shot_curves_draw_fewer_episodes_but_as_many_queries(model) -> None:
    # The curve's default size keeps the number of query images (and so the interval) roughly constant.
    queries = {w: demo.curve_episodes(w) * w * demo.CURVE_QUERIES for w in (5, 10, 20)}
    assert demo.curve_episodes(5) == demo.CURVE_EPISODES and demo.curve_episodes(20) < demo.CURVE_EPISODES
    assert max(queries.values()) <= 1.1 * min(queries.values())
    assert demo.curve_episodes(2) == demo.CURVE_EPISODES  # never more than the 5-way default
    curve = demo.accuracy_by_shots(model, "glyphs", 20, "euclidean", seed=0, shots=(1,))
    assert curve.n_episodes == demo.curve_episodes(20)
