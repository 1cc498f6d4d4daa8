"""Problems for learned optimizers: families of functions to minimise, drawn in batches.

Andrychowicz et al., "Learning to learn by gradient descent by gradient descent", NeurIPS 2016, sections
3.1-3.2: an optimizer is meta-trained on many problems of one family and tested on held-out ones.

A family's ``sample(rng, n_problems)`` returns a :class:`Problems` batch: ``init()`` gives the starting
parameters ``[problems, dim]``; ``loss(theta, rng)`` the per-problem losses ``[problems]`` that the
optimizer sees (a minibatch or a noisy gradient when the family is stochastic, with ``rng`` the draw);
``full_loss(theta)`` the deterministic loss that is reported (the whole data set, the noiseless surface).
Problems in a batch never interact, so the gradient of ``loss(theta).sum()`` with respect to ``theta`` is
every problem's own gradient.

* :class:`QuadraticFamily` - ``||W x - y||^2`` with ``W`` 10x10 and ``y`` 10-d standard normal (the paper's).
* :class:`Function2D` - Rosenbrock, Beale and a noisy elongated bowl: 2-D landscapes to draw paths on.
* :class:`MLPFamily` - a one-hidden-layer net (20 sigmoid units; ReLU as the paper's failure case) on a small
  image set made here (:func:`glyph_digits`): 10 glyph characters, 7x7 pixels. Simplification: the paper
  used MNIST at 28x28; scikit-learn's 8x8 digits are not a dependency, glyphs are built in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import torch
import torch.nn.functional as F

from lab.compute import derive_seed, make_generator
from lab.tasks.base import check_positive


class Problems(Protocol):
    """A batch of independent problems to minimise (see the module docstring)."""

    n_problems: int
    dim: int

    def init(self) -> torch.Tensor: ...

    def loss(self, theta: torch.Tensor, rng: torch.Generator | None = None) -> torch.Tensor: ...

    def full_loss(self, theta: torch.Tensor) -> torch.Tensor: ...


@dataclass
class Quadratics:
    """``f(x) = ||W x - y||^2`` per problem; ``W`` is ``[problems, d, d]``, ``y`` and ``x0`` ``[problems, d]``."""

    W: torch.Tensor
    y: torch.Tensor
    x0: torch.Tensor

    @property
    def n_problems(self) -> int:
        """Return how many problems the batch holds."""
        return int(self.W.shape[0])

    @property
    def dim(self) -> int:
        """Return the number of parameters of one problem."""
        return int(self.W.shape[-1])

    def init(self) -> torch.Tensor:
        """Return the starting points ``[problems, dim]`` (a copy)."""
        return self.x0.clone()

    def full_loss(self, theta: torch.Tensor) -> torch.Tensor:
        """Return ``||W theta - y||^2`` for every problem: ``[problems]``."""
        return (torch.einsum("bij,bj->bi", self.W, theta) - self.y).pow(2).sum(-1)

    def loss(self, theta: torch.Tensor, rng: torch.Generator | None = None) -> torch.Tensor:
        """Return :meth:`full_loss` (the quadratics are deterministic; ``rng`` is ignored)."""
        return self.full_loss(theta)


@dataclass
class QuadraticFamily:
    """Random quadratics ``||W x - y||^2``: ``W``, ``y`` and the start ``x0`` all i.i.d. standard normal."""

    dim: int = 10  # the paper's 10-d quadratics
    name: str = "quadratic"

    def sample(self, rng: torch.Generator, n_problems: int) -> Quadratics:
        """Return ``n_problems`` random quadratics drawn from ``rng``."""
        check_positive("n_problems", n_problems)
        d = self.dim
        return Quadratics(torch.randn(n_problems, d, d, generator=rng), torch.randn(n_problems, d, generator=rng),
                          torch.randn(n_problems, d, generator=rng))


def rosenbrock(xy: torch.Tensor) -> torch.Tensor:
    """Return Rosenbrock's ``(1 - x)^2 + 100 (y - x^2)^2`` of ``xy [..., 2]``: ``[...]`` (minimum 0 at (1, 1))."""
    x, y = xy[..., 0], xy[..., 1]
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def beale(xy: torch.Tensor) -> torch.Tensor:
    """Return Beale's function of ``xy [..., 2]``: ``[...]`` (minimum 0 at (3, 0.5))."""
    x, y = xy[..., 0], xy[..., 1]
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def bowl(xy: torch.Tensor) -> torch.Tensor:
    """Return the elongated bowl ``0.5 x^2 + 5 y^2`` of ``xy [..., 2]``: ``[...]`` (minimum 0 at the origin)."""
    return 0.5 * xy[..., 0] ** 2 + 5 * xy[..., 1] ** 2


@dataclass(frozen=True)
class Surface:
    """A 2-D test function with the box it is drawn in and its minimum."""

    fn: object
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    minimum: tuple[float, float]
    start: tuple[float, float]  # a default start that shows the function's difficulty
    noise: float = 0.0  # std of the gradient noise (the noisy bowl)


SURFACES: dict[str, Surface] = {
    "rosenbrock": Surface(rosenbrock, (-2.0, 2.0), (-1.0, 3.0), (1.0, 1.0), (-1.5, 2.0)),
    "beale": Surface(beale, (-4.5, 4.5), (-4.5, 4.5), (3.0, 0.5), (-1.0, 1.5)),
    "noisy_bowl": Surface(bowl, (-4.0, 4.0), (-4.0, 4.0), (0.0, 0.0), (-3.5, 2.5), noise=2.0),
}


@dataclass
class Function2D:
    """``n`` copies of one :data:`SURFACES` landscape from starts ``x0 [problems, 2]``.

    For the noisy bowl, :meth:`loss` adds ``noise * (eps . theta)`` with a fresh standard normal ``eps`` per
    step: its gradient is the bowl's plus noise, its mean is the bowl.
    """

    name: str
    x0: torch.Tensor

    def __post_init__(self) -> None:
        if self.name not in SURFACES:
            raise ValueError(f"landscape={self.name!r}; choose one of {', '.join(SURFACES)}")

    @property
    def n_problems(self) -> int:
        """Return how many starts the batch holds."""
        return int(self.x0.shape[0])

    @property
    def dim(self) -> int:
        """Return 2."""
        return 2

    def init(self) -> torch.Tensor:
        """Return the starting points ``[problems, 2]`` (a copy)."""
        return self.x0.clone()

    def full_loss(self, theta: torch.Tensor) -> torch.Tensor:
        """Return the noiseless function value at every ``theta``: ``[problems]``."""
        return SURFACES[self.name].fn(theta)

    def loss(self, theta: torch.Tensor, rng: torch.Generator | None = None) -> torch.Tensor:
        """Return the value whose gradient the optimizer sees: noisy for the noisy bowl when ``rng`` is given."""
        noise = SURFACES[self.name].noise
        value = self.full_loss(theta)
        if noise and rng is not None:
            value = value + noise * (torch.randn(theta.shape, generator=rng) * theta).sum(-1)
        return value


def random_starts(name: str, rng: torch.Generator, n: int, spread: float = 1.0) -> torch.Tensor:
    """Return ``n`` starts ``[n, 2]`` drawn uniformly from the drawing box of landscape ``name``, shrunk about
    its centre by ``spread`` (1 = the whole box)."""
    s = SURFACES[name]
    lo = torch.tensor([s.x_range[0], s.y_range[0]])
    hi = torch.tensor([s.x_range[1], s.y_range[1]])
    centre, half = (lo + hi) / 2, (hi - lo) / 2 * spread
    return centre - half + 2 * half * torch.rand(n, 2, generator=rng)


IMAGE_SIDE = 7  # 28x28 glyphs average-pooled 4x4: 49 inputs keep the optimizee (and its LSTM) cheap
N_CLASSES = 10


@lru_cache(maxsize=2)
def glyph_digits(per_class: int = 60, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Return a small image set ``(x [10 * per_class, 49], labels [10 * per_class])``, built once per process.

    The first 10 characters of glyph alphabet 0, ``per_class`` drawings each, pooled to 7x7 and standardised
    per pixel. Deterministic from ``seed``.
    """
    from lab.tasks.glyphs import GlyphAlphabets

    images = GlyphAlphabets(1, N_CLASSES, seed=seed).drawings(torch.arange(N_CLASSES), per_class, make_generator(seed))
    small = F.avg_pool2d(images.reshape(-1, 1, 28, 28), 28 // IMAGE_SIDE).flatten(1)
    small = (small - small.mean(0)) / small.std(0).clamp_min(1e-3)
    labels = torch.arange(N_CLASSES).repeat_interleave(per_class)
    return small, labels


@dataclass
class MLPs:
    """One-hidden-layer classifiers on :func:`glyph_digits`, one per problem, parameters flat ``[problems, P]``."""

    x0: torch.Tensor
    hidden: int
    activation: str
    batch_size: int
    data: tuple[torch.Tensor, torch.Tensor]

    @property
    def n_problems(self) -> int:
        """Return how many nets the batch holds."""
        return int(self.x0.shape[0])

    @property
    def dim(self) -> int:
        """Return the number of parameters of one net."""
        return int(self.x0.shape[1])

    def init(self) -> torch.Tensor:
        """Return the initial weights ``[problems, P]`` (a copy)."""
        return self.x0.clone()

    def _losses(self, theta: torch.Tensor, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        n_in, h, b = x.shape[-1], self.hidden, theta.shape[0]
        w1, b1, w2, b2 = torch.split(theta, [n_in * h, h, h * N_CLASSES, N_CLASSES], dim=1)
        act = torch.sigmoid if self.activation == "sigmoid" else torch.relu
        hid = act(torch.bmm(x, w1.view(b, n_in, h)) + b1[:, None])
        logits = torch.bmm(hid, w2.view(b, h, N_CLASSES)) + b2[:, None]
        per_example = F.cross_entropy(logits.reshape(-1, N_CLASSES), labels.reshape(-1), reduction="none")
        return per_example.view(b, -1).mean(1)

    def loss(self, theta: torch.Tensor, rng: torch.Generator | None = None) -> torch.Tensor:
        """Return each net's cross-entropy on its own random minibatch (drawn from ``rng``), else on all data."""
        if rng is None:
            return self.full_loss(theta)
        x, labels = self.data
        idx = torch.randint(0, x.shape[0], (theta.shape[0], self.batch_size), generator=rng)
        return self._losses(theta, x[idx], labels[idx])

    def full_loss(self, theta: torch.Tensor) -> torch.Tensor:
        """Return each net's cross-entropy over the whole image set: ``[problems]``."""
        x, labels = self.data
        b = theta.shape[0]
        return self._losses(theta, x.expand(b, -1, -1), labels.expand(b, -1))


@dataclass
class MLPFamily:
    """Random initialisations of a 49-``hidden``-10 classifier on :func:`glyph_digits` (PyTorch's default init)."""

    hidden: int = 20  # the paper's 20 hidden units
    activation: str = "sigmoid"  # the paper's; "relu" is its reported failure case
    batch_size: int = 64  # minibatch per step (paper: 128 on MNIST; the glyph set has 600 images)
    name: str = "mlp"

    def __post_init__(self) -> None:
        if self.activation not in ("sigmoid", "relu"):
            raise ValueError(f"activation={self.activation!r}; choose sigmoid or relu")
        check_positive("hidden", self.hidden)
        check_positive("batch_size", self.batch_size)

    def sample(self, rng: torch.Generator, n_problems: int) -> MLPs:
        """Return ``n_problems`` freshly initialised nets; their minibatches come from the rng given to ``loss``."""
        check_positive("n_problems", n_problems)
        data = glyph_digits()
        n_in, h = data[0].shape[1], self.hidden
        parts = []
        for fan_in, size in ((n_in, n_in * h), (n_in, h), (h, h * N_CLASSES), (h, N_CLASSES)):
            bound = 1 / math.sqrt(fan_in)
            parts.append((torch.rand(n_problems, size, generator=rng) * 2 - 1) * bound)
        return MLPs(torch.cat(parts, 1), h, self.activation, self.batch_size, data)


def make_family(problem: str, **options: object) -> QuadraticFamily | MLPFamily:
    """Return the family ``problem`` ("quadratic", "mlp" or "mlp-relu") with ``options``."""
    if problem == "quadratic":
        return QuadraticFamily(**options)
    if problem == "mlp":
        return MLPFamily(**options)
    if problem == "mlp-relu":
        return MLPFamily(activation="relu", **options)
    raise ValueError(f"problem={problem!r}; choose quadratic, mlp or mlp-relu")


def held_out_rng(seed: int) -> torch.Generator:
    """Return the generator of held-out (test) problems for ``seed``: a stream apart from the training one."""
    return make_generator(derive_seed(make_generator(seed + 1_000_003)))


def validation_rng(seed: int) -> torch.Generator:
    """Return the generator of validation problems for ``seed`` (training's progress checks and early
    stopping): apart from both the training and the held-out test streams."""
    return make_generator(derive_seed(make_generator(seed + 2_000_003)))
