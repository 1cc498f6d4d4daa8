"""The task-family contract shared by every learner: an :class:`EpisodeBatch` and :class:`TaskFamily`.

A task family draws ``n_tasks`` tasks at once and stacks them on a leading task axis so that learners can
``vmap`` over it. Support and query sets are ``[tasks, n_support, ...]`` and ``[tasks, n_query, ...]``.
For classification the labels are ``long`` episode-local class indices ``0..n_way-1``; for regression
they are float targets shaped like the outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import torch


@dataclass
class EpisodeBatch:
    """A batch of tasks: support/query inputs and targets stacked on a leading task axis, plus metadata.

    ``meta`` holds what identifies each task, each value with the task axis first where it is per task
    (e.g. ``"amplitude": [tasks]``, ``"class_ids": [tasks, n_way]``).
    """

    support_x: torch.Tensor
    support_y: torch.Tensor
    query_x: torch.Tensor
    query_y: torch.Tensor
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_tasks(self) -> int:
        """Return the number of tasks (size of the leading axis)."""
        return int(self.support_x.shape[0])

    def to(self, device: torch.device | str) -> EpisodeBatch:
        """Return a copy with every tensor (metadata included) moved to ``device``."""
        meta = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in self.meta.items()}
        return EpisodeBatch(
            self.support_x.to(device), self.support_y.to(device),
            self.query_x.to(device), self.query_y.to(device), meta,
        )

    def task(self, index: int) -> EpisodeBatch:
        """Return task ``index`` alone, keeping a task axis of length 1."""
        if not -self.n_tasks <= index < self.n_tasks:
            raise IndexError(f"task index {index} out of range for {self.n_tasks} tasks")
        sl = slice(index, index + 1) if index != -1 else slice(index, None)

        def pick(v: Any) -> Any:
            if isinstance(v, torch.Tensor) and v.dim() > 0 and v.shape[0] == self.n_tasks:
                return v[sl]
            if isinstance(v, list) and len(v) == self.n_tasks:
                return v[sl]
            return v

        return EpisodeBatch(
            self.support_x[sl], self.support_y[sl], self.query_x[sl], self.query_y[sl],
            {k: pick(v) for k, v in self.meta.items()},
        )


class TaskFamily(Protocol):
    """Anything that draws seeded batches of tasks."""

    name: str

    def sample(self, rng: torch.Generator, n_tasks: int) -> EpisodeBatch:
        """Return ``n_tasks`` tasks drawn with ``rng`` as one :class:`EpisodeBatch`."""
        ...


def check_positive(name: str, value: int, minimum: int = 1) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is an int >= ``minimum``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name}={value!r} must be a whole number >= {minimum}")
