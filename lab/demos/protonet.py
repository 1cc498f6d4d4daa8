"""The Prototypical Networks lesson: one episode in embedding space, its prototypes and decision regions.

Snell, Swersky & Zemel (NeurIPS 2017): a query goes to the class whose prototype (the mean of that class's
support embeddings) is nearest. This module runs a trained :class:`~lab.learners.protonet.ProtoNet` on one
episode of held-out classes and returns everything the page draws:

* :func:`protonet_demo` — the episode's images, embeddings, prototypes, distances and predictions, a 2-D
  or 3-D projection of the embeddings (PCA always; t-SNE or UMAP when scikit-learn or umap-learn happens to
  be installed) and, for PCA 2-D, the decision regions of the nearest-prototype rule;
* :func:`accuracy_by_shots` — query accuracy against shots, with 95% confidence intervals;
* :func:`pca` and :func:`decision_regions` — the pure maths behind the map, on tensors.

The distance (squared Euclidean or cosine) is chosen per call, independently of the model's config: the
prototypes and distances are pure functions of the embeddings (:mod:`lab.learners.protonet`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lab.compute import ComputeOutOfMemory, make_generator, run_guarded
from lab.demos import fewshot
from lab.fewshot_models import load_fewshot_model
from lab.learners.fewshot import evaluate_accuracy
from lab.learners.protonet import (
    DISTANCES,
    ProtoNet,
    ProtoTrace,
    embed_batch,
    pairwise_distances,
    proto_logits,
    prototypes,
)
from lab.tasks.episodes import FewShotFamily

# Widget label -> (method, dimensions). The labels are the methods' own names, the same in every language,
# because a widget bound to the URL stores its label there.
PROJECTIONS: dict[str, tuple[str, int]] = {"PCA 2D": ("pca", 2), "PCA 3D": ("pca", 3), "t-SNE": ("tsne", 2),
                                           "UMAP": ("umap", 2)}
_OPTIONAL = {"tsne": ("sklearn", "scikit-learn"), "umap": ("umap", "umap-learn")}
SHOT_COUNTS = (1, 2, 3, 5, 10)
CURVE_EPISODES = 30  # per shot count: a 95% interval of about +-3 points at 5-way
CURVE_QUERY_IMAGES = 750  # per shot count, wider episodes get fewer episodes (8 at 20-way): as many queries
# as 30 five-way episodes, so the interval stays about as narrow while 20-way costs 4x less than 30 episodes


def curve_episodes(n_way: int) -> int:
    """Return how many episodes :func:`accuracy_by_shots` draws per shot count at ``n_way`` ways when the
    caller does not say: about :data:`CURVE_QUERY_IMAGES` queries, between 8 and :data:`CURVE_EPISODES`."""
    return max(8, min(CURVE_EPISODES, round(CURVE_QUERY_IMAGES / (n_way * CURVE_QUERIES))))
CURVE_QUERIES = 5  # per class, so that 10 shots + queries fit Omniglot's 20 drawings
GRID = 121  # decision-region grid points per axis: smooth borders, ~15k points to classify


@dataclass
class Projection:
    """Support ``[S, d]``, query ``[Q, d]`` and prototype ``[N, d]`` coordinates in a ``d``-D map.

    For PCA, ``mean`` ``[D]`` and ``components`` ``[d, D]`` map a point back (``mean + coords @ components``)
    and ``explained`` ``[d]`` is each axis's fraction of the variance; for t-SNE and UMAP they are ``None``.
    """

    method: str
    support: np.ndarray
    query: np.ndarray
    prototypes: np.ndarray
    mean: np.ndarray | None = None
    components: np.ndarray | None = None
    explained: np.ndarray | None = None


@dataclass
class Regions:
    """The nearest-prototype class ``labels`` ``[len(y), len(x)]`` at every point of a grid ``x`` × ``y``."""

    x: np.ndarray
    y: np.ndarray
    labels: np.ndarray


@dataclass
class ProtoDemo:
    """One episode as the page draws it. Query ``i`` is drawing ``i % n_query`` of class ``i // n_query``."""

    source: str
    n_way: int
    k_shot: int
    n_query: int
    distance: str
    class_names: list[str]
    support_images: np.ndarray  # [n_way, k_shot, H, W], ink 1 on background 0
    query_images: np.ndarray  # [n_way, n_query, H, W]
    support_y: np.ndarray  # [n_way*k_shot]
    query_y: np.ndarray  # [n_way*n_query]
    support_embeddings: np.ndarray  # [n_way*k_shot, D]
    query_embeddings: np.ndarray  # [n_way*n_query, D]
    prototypes: np.ndarray  # [n_way, D]
    distances: np.ndarray  # [n_way*n_query, n_way]
    probabilities: np.ndarray  # [n_way*n_query, n_way], softmax of the logits
    predictions: np.ndarray  # [n_way*n_query]
    misclassified: np.ndarray  # indices of the queries whose prediction is wrong
    projection: Projection
    regions: Regions | None
    no_regions: str | None  # why there are none: "3d" or "nonlinear"

    @property
    def accuracy(self) -> float:
        """Return the fraction of queries classified correctly."""
        return float((self.predictions == self.query_y).mean())


@dataclass
class ShotCurve:
    """Query accuracy ``mean`` ± ``ci95`` (fractions, ``[len(shots)]``) over ``n_episodes`` episodes per shot count."""

    shots: np.ndarray
    mean: np.ndarray
    ci95: np.ndarray
    n_way: int
    n_episodes: int
    distance: str


def proto_trace(model: ProtoNet, support_x: torch.Tensor, support_y: torch.Tensor, query_x: torch.Tensor,
                n_way: int, distance: str) -> ProtoTrace:
    """Return ``model``'s :class:`ProtoTrace` (``[T, ...]`` tensors) of episodes ``support_x`` ``[T, S, 1, H, W]``
    etc., with ``distance`` in place of the one in ``model.config``; no gradients."""
    if distance not in DISTANCES:
        raise ValueError(f"distance={distance!r}; choose one of {DISTANCES}")
    with torch.no_grad():
        support, query = embed_batch(model.encoder, support_x, query_x)
        protos = prototypes(support, support_y, n_way)
        dist = pairwise_distances(query, protos, distance)
        return ProtoTrace(support, query, protos, dist, proto_logits(dist, distance, model.config.cosine_scale))


def pca(points: torch.Tensor, dims: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return ``(mean [D], components [dims, D], explained [dims])`` of ``points`` ``[P, D]``.

    The components are the top right-singular vectors of the centred points (orthonormal rows), each signed so
    that its largest loading is positive (a fixed choice among the two equally valid signs); ``explained`` is
    the fraction of the total variance along each. Missing components (fewer points than ``dims + 1``) are 0.
    """
    mean = points.mean(dim=0)
    _, s, vh = torch.linalg.svd((points - mean).double(), full_matrices=False)
    comps = vh[:dims]
    signs = torch.sign(comps.gather(1, comps.abs().argmax(dim=1, keepdim=True)))
    comps = comps * torch.where(signs == 0, 1.0, signs)
    var = s.pow(2)
    explained = var[:dims] / var.sum().clamp_min(1e-30)
    if comps.shape[0] < dims:  # fewer points than axes: the extra axes carry nothing
        pad = dims - comps.shape[0]
        comps = torch.cat([comps, comps.new_zeros(pad, comps.shape[1])])
        explained = torch.cat([explained, explained.new_zeros(pad)])
    return mean, comps.to(points.dtype), explained.to(points.dtype)


def decision_regions(protos: torch.Tensor, mean: torch.Tensor, components: torch.Tensor, x: torch.Tensor,
                     y: torch.Tensor, distance: str = "euclidean") -> torch.Tensor:
    """Return the nearest-prototype class ``[len(y), len(x)]`` (long) at every point of the plane's grid.

    Each grid point ``(x_j, y_i)`` of the plane spanned by ``components`` ``[2, D]`` through ``mean`` ``[D]`` is
    mapped back into the embedding space, ``mean + x_j c_1 + y_i c_2``, and classified by the nearest of the
    prototypes ``[N, D]`` *in the full space* with ``distance``: what the network would answer for an
    embedding at that spot of the plane.

    For the squared Euclidean distance the regions form a *power diagram* (a weighted Voronoi diagram) of the
    projected prototypes, not their plain Voronoi diagram: writing a prototype as its projection ``a_k`` plus
    a residual ``r_k`` orthogonal to the plane, ``||p - mu_k||^2 = ||c - a_k||^2 + ||r_k||^2`` for a point ``p``
    of the plane with coordinates ``c``. A prototype far out of the plane therefore owns a smaller region and
    may not even own its own projected position.
    """
    gy, gx = torch.meshgrid(y, x, indexing="ij")
    coords = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1).to(protos.dtype)  # [G, 2]
    points = mean + coords @ components.to(protos.dtype)  # [G, D]
    if distance == "euclidean":
        # ||p||^2 - 2 p.mu + ||mu||^2 as one matmul: the same ranking as pairwise_distances (tested), ~10x
        # faster than its [G, N, D] broadcast on the ~15k grid points.
        dist = points.pow(2).sum(-1, keepdim=True) - 2 * points @ protos.T + protos.pow(2).sum(-1)
    else:
        dist = pairwise_distances(points, protos, distance)
    return dist.argmin(dim=-1).reshape(len(y), len(x))


def projection_code(label: str) -> str:
    """Return a short code for a :data:`PROJECTIONS` label: ``"pca2"``, ``"pca3"``, ``"tsne"`` or ``"umap"``."""
    method, dims = PROJECTIONS[label]
    return f"{method}{dims}" if method == "pca" else method


def available_projections() -> list[str]:
    """Return the labels of :data:`PROJECTIONS` usable here (t-SNE and UMAP only when their package is)."""
    return [label for label, (method, _) in PROJECTIONS.items()
            if method not in _OPTIONAL or importlib.util.find_spec(_OPTIONAL[method][0]) is not None]


def _nonlinear_map(points: np.ndarray, method: str, seed: int) -> np.ndarray:
    """Return 2-D t-SNE or UMAP coordinates ``[P, 2]`` of ``points`` ``[P, D]`` (the packages are optional)."""
    module, package = _OPTIONAL[method]
    if importlib.util.find_spec(module) is None:
        raise ValueError(f"the {method} projection needs the optional package {package} (pip install {package}); "
                         "choose PCA")
    n = len(points)
    if method == "tsne":
        from sklearn.manifold import TSNE

        return TSNE(2, perplexity=float(max(2.0, min(30.0, (n - 1) / 3))), init="pca",
                    random_state=seed).fit_transform(points)
    import umap

    return umap.UMAP(n_components=2, n_neighbors=max(2, min(15, n - 1)), init="random",
                     random_state=seed).fit_transform(points)


def project(support: torch.Tensor, query: torch.Tensor, protos: torch.Tensor, projection: str = "PCA 2D",
            seed: int = 0) -> Projection:
    """Return the :class:`Projection` of support ``[S, D]``, query ``[Q, D]`` and prototype ``[N, D]`` embeddings.

    PCA is fitted on the support and query embeddings (the prototypes are means of the support ones); t-SNE
    and UMAP, which cannot place new points afterwards, are fitted on all three together.
    """
    if projection not in PROJECTIONS:
        raise ValueError(f"projection={projection!r}; choose one of {list(PROJECTIONS)}")
    method, dims = PROJECTIONS[projection]
    if method == "pca":
        mean, comps, explained = pca(torch.cat([support, query]).double(), dims)
        def to_map(z: torch.Tensor) -> np.ndarray:
            return ((z.double() - mean) @ comps.T).numpy()
        return Projection(method, to_map(support), to_map(query), to_map(protos), mean.numpy(), comps.numpy(),
                          explained.numpy())
    coords = _nonlinear_map(torch.cat([support, query, protos]).double().numpy(), method, seed)
    s, q = len(support), len(query)
    return Projection(method, coords[:s], coords[s:s + q], coords[s + q:])


def _grid(proj: Projection, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return grid axes ``x``, ``y`` ``[resolution]`` covering every projected point with a 12% margin.

    Each axis spans at least a quarter of the other: when the points lie almost on a line (one component
    holds nearly all the spread, as with an untrained net), the map stays a readable rectangle, not a sliver.
    """
    pts = np.concatenate([proj.support, proj.query, proj.prototypes])[:, :2]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    half = np.maximum((hi - lo) / 2, max(float((hi - lo).max()) / 8, 1e-6)) * 1.12
    centre = (lo + hi) / 2
    return tuple(torch.linspace(float(centre[i] - half[i]), float(centre[i] + half[i]), resolution,
                                dtype=torch.float64) for i in range(2))


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def protonet_demo(model: ProtoNet, source: str, n_way: int, k_shot: int, n_query: int, distance: str,
                  projection: str, seed: int, omniglot_path: str | None = None,
                  resolution: int = GRID) -> ProtoDemo:
    """Return the :class:`ProtoDemo` of one ``n_way``-way ``k_shot``-shot episode of held-out classes of
    ``source`` (:func:`lab.demos.fewshot.held_out_source`) with ``n_query`` queries per class, drawn with
    ``seed``.

    Runs on ``model``'s device, holding its job slot. Raises ``ValueError`` naming the limit for an impossible
    request (more ways than classes, more drawings than a character has) and ``ComputeOutOfMemory``.
    """
    family = FewShotFamily(fewshot.held_out_source(source, omniglot_path), n_way=n_way, k_shot=k_shot,
                           n_query=n_query)
    if projection not in PROJECTIONS:
        raise ValueError(f"projection={projection!r}; choose one of {list(PROJECTIONS)}")
    if distance not in DISTANCES:
        raise ValueError(f"distance={distance!r}; choose one of {DISTANCES}")
    batch = family.sample(make_generator(seed), 1)
    device = _device(model)

    def run() -> ProtoDemo:
        b = batch.to(device)
        trace = proto_trace(model, b.support_x, b.support_y, b.query_x, n_way, distance)
        support, query, protos = (t[0].double().cpu() for t in
                                  (trace.support_embeddings, trace.query_embeddings, trace.prototypes))
        proj = project(support, query, protos, projection, seed)
        regions, no_regions = None, ("3d" if proj.method == "pca" else "nonlinear")
        if proj.method == "pca" and PROJECTIONS[projection][1] == 2:
            x, y = _grid(proj, resolution)
            labels = decision_regions(protos, torch.from_numpy(proj.mean), torch.from_numpy(proj.components),
                                      x, y, distance)
            regions, no_regions = Regions(x.numpy(), y.numpy(), labels.numpy()), None
        predictions = trace.predictions[0].cpu().numpy()
        query_y = batch.query_y[0].numpy()
        size = batch.support_x.shape[-2:]
        return ProtoDemo(
            source, n_way, k_shot, n_query, distance, list(batch.meta["class_names"][0]),
            support_images=batch.support_x[0, :, 0].reshape(n_way, k_shot, *size).numpy(),
            query_images=batch.query_x[0, :, 0].reshape(n_way, n_query, *size).numpy(),
            support_y=batch.support_y[0].numpy(), query_y=query_y,
            support_embeddings=support.numpy(), query_embeddings=query.numpy(), prototypes=protos.numpy(),
            distances=trace.distances[0].double().cpu().numpy(),
            probabilities=trace.logits[0].double().softmax(dim=-1).cpu().numpy(),
            predictions=predictions, misclassified=np.flatnonzero(predictions != query_y),
            projection=proj, regions=regions, no_regions=no_regions)

    return run_guarded(run, device, lower="ways, shots or queries")


def accuracy_by_shots(model: ProtoNet, source: str, n_way: int, distance: str, seed: int,
                      omniglot_path: str | None = None, shots: tuple[int, ...] = SHOT_COUNTS,
                      n_episodes: int | None = None, n_query: int = CURVE_QUERIES,
                      on_progress: Callable[[int, int], None] | None = None) -> ShotCurve:
    """Return the :class:`ShotCurve` of ``model`` on ``n_episodes`` fresh ``n_way``-way episodes per shot count
    (default :func:`curve_episodes`).

    Every shot count draws its episodes from ``make_generator(seed)``, so the classes are the same across
    shot counts (only the drawings differ). Shot counts that need more drawings than the source has per
    class are left out. ``on_progress(done, total)`` is called after each shot count (a background job
    reports and stops there). Raises ``ValueError`` for an impossible ``n_way``.
    """
    src = fewshot.held_out_source(source, omniglot_path)
    n_episodes = curve_episodes(n_way) if n_episodes is None else n_episodes
    device = _device(model)
    limit = src.drawings_per_class
    usable = [k for k in shots if limit is None or k + n_query <= limit]

    def scores(batch) -> torch.Tensor:
        return proto_trace(model, batch.support_x, batch.support_y, batch.query_x, n_way, distance).logits

    rows = []
    for k in usable:
        family = FewShotFamily(src, n_way=n_way, k_shot=k, n_query=n_query)
        # 5 episodes per forward pass: at 10 shots that is 375 images, ~75 MB of first-layer activations.
        result = run_guarded(lambda f=family: evaluate_accuracy(scores, f, n_episodes, make_generator(seed),
                                                                batch_size=5, device=device),
                             device, lower="ways", long=True)
        rows.append((k, result["mean"], result["ci95"]))
        if on_progress is not None:
            on_progress(len(rows), len(usable))
    arr = np.array(rows, dtype=np.float64).reshape(-1, 3)
    return ShotCurve(arr[:, 0].astype(int), arr[:, 1], arr[:, 2], n_way, n_episodes, distance)


def load_protonet(path: str | Path, map_location: torch.device | str = "cpu") -> ProtoNet:
    """Return the ProtoNet saved at checkpoint stem ``path``, in test mode and warmed up (the first
    convolution in a process is slow). Raises :class:`~lab.checkpoint.CheckpointError`."""
    model, _ = load_fewshot_model(path, "protonet", map_location)
    x = torch.zeros(1, 2, 1, 28, 28, device=map_location)
    y = torch.tensor([[0, 1]], device=map_location)
    try:
        run_guarded(lambda: proto_trace(model, x, y, x, 2, model.config.distance), map_location, "ways")
    except ComputeOutOfMemory:
        pass  # best effort: the user's own request then fails the same way and is reported
    return model

