"""The Relation Network lesson: a learned comparison against a fixed distance, on one and the same episode.

Sung et al. (CVPR 2018, "Learning to Compare") score every (query, class) pair with a *learned* relation
module, a number in [0, 1]; Snell et al. (NeurIPS 2017) classify by a softmax over negative squared
distances to class means. :func:`relation_demo` draws one held-out episode with a seed, gives the very
same tensors to both trained models and returns a :class:`RelationDemo`: the images, the query x class
score matrices of both, their predictions and accuracies, and the queries on which they disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from lab.compute import guarded, make_generator
from lab.tasks.base import EpisodeBatch
from lab.tasks.episodes import ClassSource, FewShotFamily


@dataclass
class RelationDemo:
    """One episode as both learners saw it. ``R = n_way * n_query`` queries, class-major (all queries of
    class 0 first); images have ink 1 on background 0."""

    n_way: int
    k_shot: int
    n_query: int
    seed: int
    support: np.ndarray  # [n_way, k_shot, H, W]
    query: np.ndarray  # [R, H, W]
    query_labels: np.ndarray  # [R] true class of each query (0..n_way-1)
    class_names: list[str]  # [n_way] names in the data set, e.g. "Tagalog / character05"
    relation_scores: np.ndarray  # [R, n_way] relation scores in [0, 1]
    proto_distances: np.ndarray  # [R, n_way] ProtoNet's distances to the prototypes
    proto_probs: np.ndarray  # [R, n_way] softmax of ProtoNet's logits (rows sum to 1)

    @property
    def relation_pred(self) -> np.ndarray:
        """Return the Relation Net's predicted class per query ``[R]`` (highest score)."""
        return self.relation_scores.argmax(axis=1)

    @property
    def proto_pred(self) -> np.ndarray:
        """Return ProtoNet's predicted class per query ``[R]`` (nearest prototype)."""
        return self.proto_probs.argmax(axis=1)

    @property
    def relation_accuracy(self) -> float:
        """Return the fraction of queries the Relation Net classifies correctly."""
        return float((self.relation_pred == self.query_labels).mean())

    @property
    def proto_accuracy(self) -> float:
        """Return the fraction of queries ProtoNet classifies correctly."""
        return float((self.proto_pred == self.query_labels).mean())

    @property
    def disagreements(self) -> np.ndarray:
        """Return the indices ``[D]`` of the queries on which the two predictions differ."""
        return np.flatnonzero(self.relation_pred != self.proto_pred)


def draw_episode(source: ClassSource, n_way: int, k_shot: int, n_query: int, seed: int) -> EpisodeBatch:
    """Return one ``n_way``-way ``k_shot``-shot episode with ``n_query`` queries per class (a task axis of 1),
    drawn with ``seed``. Raises the family's ``ValueError`` naming the limit for an impossible request."""
    family = FewShotFamily(source, n_way=n_way, k_shot=k_shot, n_query=n_query)
    return family.sample(make_generator(seed), 1)


def _scores(model: nn.Module, episode: EpisodeBatch, n_way: int):
    """Return the model's trace on ``episode`` without gradients (on the model's device)."""
    if model.training:  # BatchNorm would use and update batch statistics: not what the model is tested with
        raise ValueError(f"{type(model).__name__} is in training mode; call .eval() first")
    device = next(model.parameters()).device
    with torch.no_grad():
        return model.episode(episode.support_x.to(device), episode.support_y.to(device),
                             episode.query_x.to(device), n_way)


@guarded("cpu", lower="ways, shots or queries")
def relation_demo(relation: nn.Module, protonet: nn.Module, source: ClassSource, n_way: int, k_shot: int,
                  n_query: int, seed: int) -> RelationDemo:
    """Return the :class:`RelationDemo` of one held-out episode drawn from ``source`` with ``seed``.

    ``relation`` is a :class:`~lab.learners.relation.RelationNet` and ``protonet`` a
    :class:`~lab.learners.protonet.ProtoNet`, both in test mode (as :func:`lab.fewshot_models.load_fewshot_model`
    returns them); each sees the same support and query tensors. Raises ``ValueError`` for impossible ways,
    shots or queries.
    """
    episode = draw_episode(source, n_way, k_shot, n_query, seed)
    rel = _scores(relation, episode, n_way)
    proto = _scores(protonet, episode, n_way)
    size = episode.support_x.shape[-2:]
    return RelationDemo(
        n_way, k_shot, n_query, seed,
        support=episode.support_x[0, :, 0].reshape(n_way, k_shot, *size).numpy(),
        query=episode.query_x[0, :, 0].numpy(),
        query_labels=episode.query_y[0].numpy(),
        class_names=list(episode.meta["class_names"][0]),
        relation_scores=rel.scores[0].float().cpu().numpy(),
        proto_distances=proto.distances[0].float().cpu().numpy(),
        proto_probs=proto.logits[0].float().softmax(-1).cpu().numpy(),
    )
