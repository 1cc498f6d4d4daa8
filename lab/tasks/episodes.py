"""N-way K-shot classification episodes over any source of labelled image classes.

An episode (Vinyals et al. 2016, "Matching Networks for One Shot Learning") picks ``n_way`` distinct
classes, gives ``k_shot`` labelled drawings of each as the support set and ``n_query`` further drawings of
each as the query set; labels are episode-local (``0..n_way-1``), so a learner must adapt to every task.

A :class:`ClassSource` supplies drawings of numbered classes: the procedural glyph alphabets
(:mod:`lab.tasks.glyphs`, unlimited drawings) or the real Omniglot (:mod:`lab.tasks.omniglot`, 20 drawings
per character). :class:`FewShotFamily` turns any source into a task family with the
:class:`~lab.tasks.base.TaskFamily` contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from lab.tasks.base import EpisodeBatch, check_positive


class ClassSource(Protocol):
    """Numbered classes of 1-channel images with ink = 1 on background = 0."""

    name: str
    n_classes: int
    drawings_per_class: int | None  # None: unlimited (procedural); else a hard limit on k_shot + n_query

    def class_names(self, class_ids: torch.Tensor | list[int]) -> list[str]:
        """Return one human-readable name per class id, e.g. ``"Greek / character05"``."""
        ...

    def drawings(self, class_ids: torch.Tensor, n_per_class: int, rng: torch.Generator) -> torch.Tensor:
        """Return float32 ``[N, n_per_class, 1, H, W]`` in [0, 1]: distinct drawings of each of the N classes."""
        ...


@dataclass
class FewShotFamily:
    """Draws N-way K-shot episodes from a :class:`ClassSource`.

    ``sample`` returns support ``[tasks, n_way*k_shot, 1, H, W]`` and query ``[tasks, n_way*n_query, 1, H, W]``
    with long labels ordered class-major (all shots of class 0, then class 1, ...).
    """

    source: ClassSource
    n_way: int = 5
    k_shot: int = 1
    n_query: int = 15
    name: str = ""  # filled in as e.g. "glyphs 5-way 1-shot"

    def __post_init__(self) -> None:
        # One-way "classification" is trivially solved, so it teaches nothing and breaks accuracy baselines.
        check_positive("n_way", self.n_way, minimum=2)
        check_positive("k_shot", self.k_shot)
        check_positive("n_query", self.n_query)
        n_classes = self.source.n_classes
        if self.n_way > n_classes:
            raise ValueError(f"n_way={self.n_way} but {self.source.name} has {n_classes} classes; "
                             f"choose n_way <= {n_classes}")
        limit = self.source.drawings_per_class
        needed = self.k_shot + self.n_query
        if limit is not None and needed > limit:
            raise ValueError(f"k_shot={self.k_shot} + n_query={self.n_query} = {needed} drawings per class "
                             f"but {self.source.name} has {limit}; choose k_shot + n_query <= {limit}")
        if not self.name:
            self.name = f"{self.source.name} {self.n_way}-way {self.k_shot}-shot"

    def sample(self, rng: torch.Generator, n_tasks: int) -> EpisodeBatch:
        """Return ``n_tasks`` episodes with random classes; ``meta`` has ``class_ids`` ``[tasks, n_way]``
        (long) and ``class_names`` (a list per task of ``n_way`` strings)."""
        check_positive("n_tasks", n_tasks)
        device = rng.device
        # Sorting uniform keys gives a random permutation per row: distinct classes within each task.
        keys = torch.rand((n_tasks, self.source.n_classes), generator=rng, device=device)
        class_ids = keys.argsort(dim=1)[:, : self.n_way]
        return self.episodes_for(class_ids, rng)

    def episodes_for(self, class_ids: torch.Tensor, rng: torch.Generator) -> EpisodeBatch:
        """Return episodes over given classes ``[tasks, n_way]`` (long); only the drawings are random."""
        if class_ids.dim() != 2 or class_ids.shape[1] != self.n_way:
            raise ValueError(f"class_ids must be [tasks, n_way={self.n_way}], got {list(class_ids.shape)}")
        n_tasks = int(class_ids.shape[0])
        per_class = self.k_shot + self.n_query
        images = self.source.drawings(class_ids.reshape(-1), per_class, rng).to(rng.device)
        images = images.reshape(n_tasks, self.n_way, per_class, *images.shape[2:])
        image_shape = images.shape[3:]
        support_x = images[:, :, : self.k_shot].reshape(n_tasks, self.n_way * self.k_shot, *image_shape)
        query_x = images[:, :, self.k_shot:].reshape(n_tasks, self.n_way * self.n_query, *image_shape)
        labels = torch.arange(self.n_way, device=rng.device)
        support_y = labels.repeat_interleave(self.k_shot).expand(n_tasks, -1).contiguous()
        query_y = labels.repeat_interleave(self.n_query).expand(n_tasks, -1).contiguous()
        class_ids = class_ids.to(device=rng.device, dtype=torch.long)
        names = [self.source.class_names(row.tolist()) for row in class_ids.cpu()]
        return EpisodeBatch(support_x, support_y, query_x, query_y,
                            {"class_ids": class_ids, "class_names": names})
