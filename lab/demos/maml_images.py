"""The MAML image lesson: adapt a meta-trained Conv4 classifier to one new few-shot episode, step by step.

Finn, Abbeel & Levine (ICML 2017), section 5.2: on Omniglot, MAML's learned initialisation classifies
characters of *unseen* alphabets after one to a few gradient steps on one to five drawings per class.
Here the episode comes from the held-out alphabets of :func:`lab.tasks.splits.glyph_split` (or the test
alphabets of :func:`lab.tasks.splits.omniglot_split` when a copy of Omniglot exists), so the model has
never seen any of its characters.

:func:`sample_episode` draws the episode; :func:`maml_images_demo` adapts a private copy of the model with
:meth:`lab.learners.maml_images.MAMLClassifier.adapt_episode` and returns an :class:`ImagesDemo` with, per
inner step, the support and query loss, the query class probabilities and the query accuracy. An inner
learning rate that makes the loss overflow keeps the steps before the overflow and an error message.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from lab.compute import ComputeOutOfMemory, guarded, make_generator
from lab.demos import fewshot
from lab.learners.maml import AdaptationDiverged
from lab.learners.maml_images import ImageAdaptStep, MAMLClassifier
from lab.tasks.base import EpisodeBatch
from lab.tasks.episodes import FewShotFamily

DATA_SOURCES = ("glyphs", "omniglot")
MAX_STEPS = 10  # the page's slider range; each step costs a support gradient and a query forward pass
LOWER = "ways, queries or inner steps"  # what to reduce when the CPU runs out of memory


@dataclass
class ImagesDemo:
    """Everything the images tab draws for one set of inputs.

    ``support`` is ``[n_way, k_shot, H, W]`` and ``query`` ``[n_way, n_query, H, W]`` (ink 1 on 0), one row
    per class; the query set flattened class-major has labels ``query_labels`` ``[n_way * n_query]``.
    Per recorded step (0 = before any update, up to ``steps``, fewer if the loop diverged):
    ``query_probs`` ``[steps_done + 1, n_way * n_query, n_way]``, and ``support_loss``, ``query_loss``,
    ``query_accuracy`` ``[steps_done + 1]``. ``error`` says why the loop stopped early, else ``None``.
    """

    data: str
    n_way: int
    k_shot: int
    n_query: int
    steps: int
    inner_lr: float
    support: np.ndarray
    query: np.ndarray
    query_labels: np.ndarray
    class_names: list[str]
    query_probs: np.ndarray
    support_loss: np.ndarray
    query_loss: np.ndarray
    query_accuracy: np.ndarray
    error: str | None = None

    @property
    def steps_done(self) -> int:
        """Return the last recorded inner step (-1 when not even step 0 could be evaluated)."""
        return len(self.query_loss) - 1


@guarded("cpu", lower="ways, shots or queries")
def sample_episode(data: str, n_way: int, k_shot: int, n_query: int, seed: int,
                   omniglot_path: str | Path | None = None) -> EpisodeBatch:
    """Return one ``n_way``-way ``k_shot``-shot episode with ``n_query`` queries per class, drawn with ``seed``
    from the held-out classes of ``data`` (:func:`lab.demos.fewshot.held_out_source`).

    Support is ``[1, n_way * k_shot, 1, H, W]``, query ``[1, n_way * n_query, 1, H, W]``, labels class-major;
    ``meta["class_names"][0]`` names the classes. Raises the task family's ``ValueError`` (which names the
    limit) for an impossible request.
    """
    family = FewShotFamily(fewshot.held_out_source(data, omniglot_path), n_way=n_way, k_shot=k_shot,
                           n_query=n_query)
    return family.sample(make_generator(seed), 1)


def _adapt(model: MAMLClassifier, episode: EpisodeBatch, steps: int) -> tuple[list[ImageAdaptStep], str | None]:
    """Return ``(trace, error)``: the full trace, or on divergence the steps before it and the message."""
    try:
        return model.adapt_episode(episode, steps), None
    except AdaptationDiverged as exc:
        return list(exc.trace), str(exc)


def private_copy(model: MAMLClassifier, inner_lr: float) -> MAMLClassifier:
    """Return a deep copy of ``model`` whose ``config.inner_lr`` is ``inner_lr``.

    ``adapt_episode`` swaps fast weights into its module while it runs (``functional_call``) and reads the
    step size from ``config``, so concurrent app sessions sharing one cached model each adapt a copy.
    """
    clone = copy.deepcopy(model)
    clone.config = replace(model.config, inner_lr=inner_lr)
    return clone


@guarded("cpu", lower=LOWER)
def maml_images_demo(model: MAMLClassifier, episode: EpisodeBatch, steps: int, inner_lr: float,
                     data: str = "glyphs") -> ImagesDemo:
    """Adapt ``model`` to the first task of ``episode`` for ``steps`` inner steps of size ``inner_lr``.

    ``model`` is not modified (a private copy adapts). Returns an :class:`ImagesDemo`; ``data`` only labels
    it. Raises ``ValueError`` for ``steps`` outside 0..``MAX_STEPS`` or a non-positive ``inner_lr``.
    """
    if not 0 <= steps <= MAX_STEPS:
        raise ValueError(f"steps={steps} must be between 0 and {MAX_STEPS}")
    if not (math.isfinite(inner_lr) and inner_lr > 0):
        raise ValueError(f"inner_lr={inner_lr} must be a positive number")
    task = episode.task(0)
    n_way = int(task.support_y.max()) + 1
    k_shot, n_query = task.support_x.shape[1] // n_way, task.query_x.shape[1] // n_way
    size = tuple(task.support_x.shape[-2:])
    support = task.support_x[0, :, 0].reshape(n_way, k_shot, *size).float().numpy()
    query = task.query_x[0, :, 0].reshape(n_way, n_query, *size).float().numpy()
    trace, error = _adapt(private_copy(model, inner_lr), task, steps)
    probs = (torch.stack([s.query_probs for s in trace]).float().numpy() if trace
             else np.zeros((0, n_way * n_query, n_way), dtype=np.float32))
    return ImagesDemo(
        data=data, n_way=n_way, k_shot=k_shot, n_query=n_query, steps=steps, inner_lr=inner_lr,
        support=support, query=query, query_labels=task.query_y[0].numpy().astype(np.int64),
        class_names=list(task.meta.get("class_names", [[str(i) for i in range(n_way)]])[0]),
        query_probs=probs,
        support_loss=np.array([s.support_loss for s in trace], dtype=np.float64),
        query_loss=np.array([s.query_loss for s in trace], dtype=np.float64),
        query_accuracy=np.array([s.query_accuracy for s in trace], dtype=np.float64),
        error=error,
    )


def warm_up(model: MAMLClassifier) -> None:
    """Adapt a copy of ``model`` once on a tiny random episode: a process's first ``torch.func`` transform
    costs about a second, later ones do not. Best effort: an out-of-memory here is left for the user's own
    request to report."""
    gen = make_generator(0)
    x = torch.rand(1, 4, 1, 28, 28, generator=gen)
    y = torch.tensor([[0, 0, 1, 1]])
    try:
        maml_images_demo(model, EpisodeBatch(x[:, ::2], y[:, ::2], x[:, 1::2], y[:, 1::2]), 1,
                         model.config.inner_lr)
    except ComputeOutOfMemory:
        pass
