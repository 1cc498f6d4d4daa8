"""One interface over the few-shot image classifiers, so training, evaluation, the API and the pages treat
them alike.

A few-shot model is an ``nn.Module`` with a ``kind``, a ``config`` dataclass and two methods:
``loss(batch) -> (loss, accuracy)`` (training mode, differentiable) and ``scores(batch) -> [T, Q, N]``
(test mode; higher means more likely). :func:`build_model` makes one from its kind and config dict (as
stored in a checkpoint card); :func:`pixel_nn_scores` is the baseline with no learning at all (nearest
support drawing in pixel space); :func:`evaluate_accuracy` measures any of them on fresh episodes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

import torch
from torch import nn

from lab.compute import make_way
from lab.learners.maml import mean_ci95
from lab.tasks.base import EpisodeBatch, check_positive

KINDS = ("protonet", "relation", "maml")
ScoreFn = Callable[[EpisodeBatch], torch.Tensor]


def build_model(kind: str, config: dict[str, Any] | None = None) -> nn.Module:
    """Return a freshly built few-shot model of ``kind`` with the given config fields (others default).

    Raises ``ValueError`` naming a field that ``kind`` does not have (e.g. ``first_order`` for protonet).
    """
    config = dict(config or {})
    if kind == "protonet":
        from lab.learners.protonet import ProtoNet as model_cls
        from lab.learners.protonet import ProtoNetConfig as config_cls
    elif kind == "relation":
        from lab.learners.relation import RelationNet as model_cls
        from lab.learners.relation import RelationNetConfig as config_cls
    elif kind == "maml":
        from lab.learners.maml_images import MAMLClassifier as model_cls
        from lab.learners.maml_images import MAMLImageConfig as config_cls
    else:
        raise ValueError(f"learner={kind!r}; choose one of {KINDS}")
    known = {f.name for f in fields(config_cls)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise ValueError(f"{', '.join(unknown)} is not an option of {kind} (its options: {', '.join(sorted(known))})")
    return model_cls(config_cls(**config))


def pixel_nn_scores(batch: EpisodeBatch) -> torch.Tensor:
    """Return scores ``[T, Q, N]``: minus the squared pixel distance from each query to the nearest support
    drawing of each class (1-nearest-neighbour in pixel space, the no-learning baseline)."""
    t, s = batch.support_x.shape[:2]
    q = batch.query_x.shape[1]
    n_way = int(batch.support_y.max()) + 1
    support = batch.support_x.reshape(t, s, -1)
    query = batch.query_x.reshape(t, q, -1)
    dist = torch.cdist(query, support).pow(2)  # [T, Q, S]
    same = torch.nn.functional.one_hot(batch.support_y, n_way).bool()  # [T, S, N]
    masked = dist.unsqueeze(-1).masked_fill(~same.unsqueeze(1), float("inf"))  # [T, Q, S, N]
    return -masked.amin(dim=2)


def episode_accuracies(scores: torch.Tensor, query_y: torch.Tensor) -> torch.Tensor:
    """Return the accuracy of each episode ``[T]`` from scores ``[T, Q, N]`` and labels ``[T, Q]``."""
    return (scores.argmax(dim=-1) == query_y).float().mean(dim=-1)


def evaluate_accuracy(score_fn: ScoreFn, family, n_episodes: int, rng: torch.Generator,
                      batch_size: int = 50, device: torch.device | str = "cpu",
                      on_batch: Callable[[int, int], None] | None = None) -> dict[str, float]:
    """Return ``{"mean", "ci95", "n", "accuracies"}`` of ``score_fn`` over ``n_episodes`` fresh episodes.

    ``accuracies`` is the per-episode tensor; the mean and the 95% interval are over episodes (the papers'
    convention). Episodes are drawn with ``rng`` in batches of ``batch_size``, so two learners given equal
    seeds see the very same episodes. ``on_batch(done, n_episodes)`` is called after each batch.
    """
    check_positive("n_episodes", n_episodes)
    accs, done = [], 0
    while done < n_episodes:
        if done:
            make_way(device)  # a long evaluation lets waiting slider moves go first (lab.job_slots)
        batch = family.sample(rng, min(batch_size, n_episodes - done)).to(device)
        accs.append(episode_accuracies(score_fn(batch), batch.query_y).cpu())
        done += batch.n_tasks
        if on_batch is not None:
            on_batch(done, n_episodes)
    values = torch.cat(accs)
    mean, ci95 = mean_ci95(values)
    return {"mean": mean, "ci95": ci95, "n": n_episodes, "accuracies": values}
