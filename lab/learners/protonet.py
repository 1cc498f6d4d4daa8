"""Prototypical Networks (Snell, Swersky & Zemel, "Prototypical Networks for Few-shot Learning", NeurIPS 2017).

An embedding net maps every image to a point; the *prototype* of a class is the mean of its support
embeddings; a query is classified by a softmax over its negative distances to the prototypes. Training
is episodic: the same loss on random N-way K-shot episodes, often with more ways than at test time (the
paper trains Omniglot with 60 ways).

The maths lives in pure functions (:func:`prototypes`, :func:`pairwise_distances`, :func:`proto_logits`)
on tensors with any leading task axes; :class:`ProtoNet` is the module holding the Conv4 encoder; its
:meth:`~ProtoNet.episode` returns a :class:`ProtoTrace` with everything the pages draw.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lab.compute import make_generator
from lab.nets import Conv4, test_mode
from lab.tasks.augment import jitter
from lab.tasks.base import EpisodeBatch, check_positive

DISTANCES = ("euclidean", "cosine")


@dataclass
class ProtoNetConfig:
    """Architecture of a Prototypical Network; defaults are the paper's Omniglot set-up."""

    channels: int = 64  # filters per conv block; the embedding has this many dimensions for 28x28 input
    distance: str = "euclidean"  # squared Euclidean (the paper's choice: a Bregman divergence) or cosine
    cosine_scale: float = 10.0  # logits = scale * cosine similarity; without it softmax over [-1, 1] is too flat
    norm: str = "running"  # BatchNorm with running statistics: a query's embedding never depends on others
    test_views: int = 1  # at test time, average each image's embedding over this many hand-jittered views
    last_pool: bool = True  # False: no pooling after the 4th block, a 9 * channels embedding (3x3 map kept)

    def __post_init__(self) -> None:
        if self.distance not in DISTANCES:
            raise ValueError(f"distance={self.distance!r}; choose one of {DISTANCES}")
        if not self.cosine_scale > 0:
            raise ValueError(f"cosine_scale={self.cosine_scale} must be > 0")
        check_positive("test_views", self.test_views)

    def to_dict(self) -> dict:
        """Return the config as a JSON-ready dict."""
        return asdict(self)


def prototypes(support_embeddings: torch.Tensor, support_labels: torch.Tensor, n_way: int) -> torch.Tensor:
    """Return class means ``[..., n_way, D]`` of ``support_embeddings`` ``[..., S, D]`` with labels ``[..., S]``.

    Raises ``ValueError`` if a class has no support example (its prototype would be undefined).
    """
    one_hot = F.one_hot(support_labels, n_way).to(support_embeddings.dtype)  # [..., S, N]
    counts = one_hot.sum(dim=-2)  # [..., N]
    if bool((counts == 0).any()):
        raise ValueError(f"every one of the {n_way} classes needs at least one support example")
    return (one_hot.transpose(-1, -2) @ support_embeddings) / counts.unsqueeze(-1)


def pairwise_distances(queries: torch.Tensor, protos: torch.Tensor, distance: str = "euclidean") -> torch.Tensor:
    """Return distances ``[..., Q, N]`` from queries ``[..., Q, D]`` to prototypes ``[..., N, D]``.

    ``"euclidean"`` is the squared Euclidean distance; ``"cosine"`` is ``1 - cosine similarity`` (in [0, 2]).
    """
    if distance == "euclidean":
        diff = queries.unsqueeze(-2) - protos.unsqueeze(-3)
        return diff.pow(2).sum(dim=-1)
    if distance == "cosine":
        return 1 - F.normalize(queries, dim=-1) @ F.normalize(protos, dim=-1).transpose(-1, -2)
    raise ValueError(f"distance={distance!r}; choose one of {DISTANCES}")


def proto_logits(distances: torch.Tensor, distance: str = "euclidean", cosine_scale: float = 10.0) -> torch.Tensor:
    """Return class logits from distances: ``-d`` for Euclidean, ``scale * (1 - d)`` for cosine."""
    return -distances if distance == "euclidean" else cosine_scale * (1 - distances)


@dataclass
class ProtoTrace:
    """What a Prototypical Network computed on a batch of episodes (leading task axis ``T``)."""

    support_embeddings: torch.Tensor  # [T, S, D]
    query_embeddings: torch.Tensor  # [T, Q, D]
    prototypes: torch.Tensor  # [T, N, D]
    distances: torch.Tensor  # [T, Q, N]
    logits: torch.Tensor  # [T, Q, N]

    @property
    def predictions(self) -> torch.Tensor:
        """Return the predicted class of every query ``[T, Q]``."""
        return self.logits.argmax(dim=-1)


def embed_batch(encoder: nn.Module, support_x: torch.Tensor, query_x: torch.Tensor, views: int = 1,
                view_seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(support [T, S, D], query [T, Q, D])`` embeddings from one pass of ``encoder`` over all images.

    With ``views > 1`` each embedding is the mean over the image itself and ``views - 1`` copies re-drawn
    by :func:`lab.tasks.augment.jitter` (test-time augmentation: as if other hands drew the same
    character), drawn from ``make_generator(view_seed)`` so the result is reproducible.
    """
    t, s = support_x.shape[:2]
    q = query_x.shape[1]
    images = torch.cat([support_x.reshape(t * s, *support_x.shape[2:]), query_x.reshape(t * q, *query_x.shape[2:])])
    z = encoder(images)
    if views > 1:
        rng = make_generator(view_seed, images.device)
        for _ in range(views - 1):
            z = z + encoder(jitter(images, rng))
        z = z / views
    return z[: t * s].view(t, s, -1), z[t * s:].view(t, q, -1)


class ProtoNet(nn.Module):
    """Conv4 encoder plus the prototype classifier; :meth:`episode` returns a :class:`ProtoTrace`."""

    kind = "protonet"

    def __init__(self, config: ProtoNetConfig | None = None) -> None:
        super().__init__()
        self.config = config or ProtoNetConfig()
        self.encoder = Conv4(channels=self.config.channels, norm=self.config.norm, last_pool=self.config.last_pool)

    def episode(self, support_x: torch.Tensor, support_y: torch.Tensor, query_x: torch.Tensor,
                n_way: int, views: int = 1) -> ProtoTrace:
        """Return the trace for episodes ``support_x [T, S, 1, H, W]``, ``support_y [T, S]``, ``query_x [T, Q, ...]``
        (``views``: see :func:`embed_batch`)."""
        c = self.config
        support_emb, query_emb = embed_batch(self.encoder, support_x, query_x, views)
        protos = prototypes(support_emb, support_y, n_way)
        dist = pairwise_distances(query_emb, protos, c.distance)
        return ProtoTrace(support_emb, query_emb, protos, dist, proto_logits(dist, c.distance, c.cosine_scale))

    def loss(self, batch: EpisodeBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(mean cross-entropy, accuracy)`` of the queries of ``batch`` (differentiable loss)."""
        n_way = int(batch.support_y.max()) + 1
        trace = self.episode(batch.support_x, batch.support_y, batch.query_x, n_way)
        loss = F.cross_entropy(trace.logits.flatten(0, 1), batch.query_y.flatten())
        accuracy = (trace.predictions == batch.query_y).float().mean()
        return loss, accuracy

    def scores(self, batch: EpisodeBatch) -> torch.Tensor:
        """Return class scores ``[T, Q, N]`` (logits; higher is more likely) in test mode, without gradients,
        averaging embeddings over ``config.test_views`` views."""
        with test_mode(self):
            n_way = int(batch.support_y.max()) + 1
            return self.episode(batch.support_x, batch.support_y, batch.query_x, n_way, self.config.test_views).logits
