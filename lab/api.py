"""The lab's small public API: run a trained few-shot learner on your own one-shot set.

Example::

    from lab import load_learner

    learner = load_learner("protonet")                 # the shipped glyph checkpoint
    prediction = learner.predict([img_a, img_b, img_c], ["a", "b", "c"], [query1, query2])
    prediction.labels                                  # e.g. ["b", "a"]
    prediction.probabilities                           # numpy [2, 3]; columns in prediction.classes order

Images may be any size, dtype and polarity; they are prepared as the training drawings were
(:mod:`lab.user_images`). Labels are any hashable values (strings, ints): they become episode-local class
indices ``0..N-1`` (in order of first appearance) and are mapped back. :func:`classify_folders` does the
same for a folder layout; ``python -m lab classify`` prints its result.

The learners are those of :mod:`lab.learners.fewshot` (Snell et al. 2017; Sung et al. 2018; Finn et al. 2017).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lab.checkpoint import CheckpointError
from lab.compute import get_device
from lab.fewshot_models import load_fewshot_model, shipped_path
from lab.home import models_dir
from lab.learners.fewshot import KINDS
from lab.tasks.base import EpisodeBatch
from lab.user_images import as_image_list, preprocess_images, read_query_folder, read_support_folder

QUERY_CHUNK = 256  # queries scored per pass when each query is scored on its own (bounds memory)


@dataclass
class Prediction:
    """What a :class:`Learner` predicts for ``Q`` queries over ``N`` classes.

    ``labels``: the predicted label of each query (the caller's own values), length ``Q``.
    ``classes``: the label values in column order, length ``N``.
    ``scores``: numpy ``[Q, N]``, the model's raw scores (higher = more likely): logits for ProtoNet and
    MAML, relation scores in [0, 1] for Relation Net.
    ``probabilities``: numpy ``[Q, N]``, each row summing to 1: the softmax of the logits for ProtoNet and
    MAML; for Relation Net the relation scores divided by their row sum (a normalised score, since the
    relation module scores each class on its own with a sigmoid; not a calibrated probability).
    """

    labels: list[Any]
    classes: list[Any]
    scores: np.ndarray
    probabilities: np.ndarray

    def confidence(self) -> np.ndarray:
        """Return the probability of each query's predicted label, numpy ``[Q]``."""
        return self.probabilities.max(axis=1)


def _label_list(labels: Any, name: str) -> list[Any]:
    """Return ``labels`` as a list of hashable Python values (array elements become Python scalars)."""
    if isinstance(labels, (np.ndarray, torch.Tensor)):
        labels = labels.tolist()
    if isinstance(labels, (str, bytes)) or not isinstance(labels, Sequence):
        raise ValueError(f"{name} must be a list with one label per image, not {type(labels).__name__}")
    for i, label in enumerate(labels):
        if not isinstance(label, Hashable):
            raise ValueError(f"{name}[{i}] is a {type(label).__name__}, which cannot be a label; use strings or ints")
    return list(labels)


def probabilities_from_scores(scores: torch.Tensor, kind: str) -> torch.Tensor:
    """Return rows summing to 1 from scores ``[..., N]``: softmax of logits, or for ``kind="relation"`` the
    relation scores over their sum (uniform where every score is 0)."""
    if kind != "relation":
        return scores.softmax(dim=-1)
    total = scores.sum(dim=-1, keepdim=True)
    uniform = torch.full_like(scores, 1.0 / scores.shape[-1])
    return torch.where(total > 0, scores / total.clamp_min(torch.finfo(scores.dtype).tiny), uniform)


class Learner:
    """A few-shot model ready for a user's own images; made by :func:`load_learner` (or from any model).

    ``kind`` is ``protonet``, ``relation`` or ``maml``; ``meta`` is the checkpoint card (empty for an
    in-memory model); ``path`` is the checkpoint stem.
    """

    def __init__(self, model: nn.Module, meta: dict[str, Any] | None = None, path: Path | None = None,
                 device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.kind: str = model.kind
        self.meta = meta or {}
        self.path = path

    def __repr__(self) -> str:
        return f"Learner(kind={self.kind!r}, path={str(self.path) if self.path else None!r}, device={self.device})"

    def episode(self, support_images: Any, support_labels: Any, query_images: Any,
                classes: Sequence[Any] | None = None) -> tuple[EpisodeBatch, list[Any]]:
        """Return ``(batch, classes)``: one preprocessed episode (``support_x [1, S, 1, 28, 28]``,
        ``support_y [1, S]``, ``query_x [1, Q, 1, 28, 28]``, ``query_y`` all zeros, unknown) and the label
        values of class indices ``0..N-1``. See :meth:`predict` for the arguments and errors."""
        support = as_image_list(support_images, "support_images")
        labels = _label_list(support_labels, "support_labels")
        if len(labels) != len(support):
            raise ValueError(f"{len(support)} support_images but {len(labels)} support_labels; give exactly one "
                             "label per support image")
        if classes is None:
            classes = list(dict.fromkeys(labels))  # order of first appearance
        else:
            classes = _label_list(classes, "classes")
            if len(set(classes)) != len(classes):
                raise ValueError(f"classes={classes} repeats a value; list each class once")
            unknown = [x for x in dict.fromkeys(labels) if x not in set(classes)]
            if unknown:
                raise ValueError(f"support_labels has {unknown[0]!r}, which is not in classes={classes}; add it "
                                 "there or drop its images")
            missing = [c for c in classes if c not in set(labels)]
            if missing:
                raise ValueError(f"class {missing[0]!r} has no support image; every class needs at least one "
                                 "(add an image labelled so, or remove it from classes)")
        if len(classes) < 2:
            has = f"only one class, {classes[0]!r}" if classes else "no images"
            raise ValueError(f"the support set has {has}; give images of at least 2 classes")
        index = {c: i for i, c in enumerate(classes)}
        support_x = preprocess_images(support, "support_images")
        query_x = preprocess_images(query_images, "query_images")
        support_y = torch.tensor([index[x] for x in labels], dtype=torch.long)
        batch = EpisodeBatch(support_x[None], support_y[None], query_x[None],
                             torch.zeros(1, len(query_x), dtype=torch.long), {"classes": [classes]})
        return batch.to(self.device), classes

    def scores(self, batch: EpisodeBatch) -> torch.Tensor:
        """Return the model's scores ``[T, Q, N]`` for ``batch``; queries go in chunks of :data:`QUERY_CHUNK`
        when the model scores each query on its own (not for ``norm="batch"``, where the statistics of all
        the task's queries are used, as in MAML's reference code)."""
        q = batch.query_x.shape[1]
        if getattr(self.model.config, "norm", "batch") == "batch" or q <= QUERY_CHUNK:
            return self.model.scores(batch)
        parts = [self.model.scores(EpisodeBatch(batch.support_x, batch.support_y, batch.query_x[:, i:i + QUERY_CHUNK],
                                                batch.query_y[:, i:i + QUERY_CHUNK]))
                 for i in range(0, q, QUERY_CHUNK)]
        return torch.cat(parts, dim=1)

    def predict(self, support_images: Any, support_labels: Any, query_images: Any,
                classes: Sequence[Any] | None = None) -> Prediction:
        """Return the :class:`Prediction` for ``query_images`` given one labelled support set.

        ``support_images`` and ``query_images``: a sequence of 2-D grayscale images (numpy arrays, Pillow
        images or torch tensors; any size; uint8 0..255 or floats in [0, 1]; RGB(A) is made gray) or a
        stacked array ``[N, H, W]``. ``support_labels``: one hashable label per support image (e.g. strings).
        ``classes``: the column order of the result (default: the labels in order of first appearance);
        each needs a support image.

        Raises ``ValueError`` saying what to change for fewer than 2 classes, a class without a support
        image, mismatched lengths, an empty query set or an image that is not 2-D (or gray/RGB).
        """
        batch, classes = self.episode(support_images, support_labels, query_images, classes)
        scores = self.scores(batch)[0].float().cpu()
        probabilities = probabilities_from_scores(scores, self.kind)
        labels = [classes[i] for i in scores.argmax(dim=-1).tolist()]
        return Prediction(labels, list(classes), scores.numpy(), probabilities.numpy())


def resolve_checkpoint(name: str, checkpoint: str | Path | None) -> Path:
    """Return the checkpoint stem for learner ``name``: the shipped glyph model for ``None``, else the
    given stem or ``.pt``/``.json`` path, else a model of that name in :func:`lab.home.models_dir`.
    Raises :class:`~lab.checkpoint.CheckpointError` if none is there."""
    if checkpoint is None:
        stem = shipped_path(name)
        if not stem.with_suffix(".pt").is_file():
            raise CheckpointError(f"the shipped {name} checkpoint {stem}.pt is missing; make it with `python -m lab "
                                  "pretrain`, or name a checkpoint you trained (`python -m lab models` lists them)")
        return stem
    given = Path(checkpoint).expanduser()
    stem = given.with_suffix("") if given.suffix in (".pt", ".json") else given
    if stem.with_name(stem.name + ".pt").is_file():
        return stem
    named = models_dir() / stem.name
    if given.parent == Path(".") and named.with_name(named.name + ".pt").is_file():  # a bare model name
        return named
    raise CheckpointError(f"checkpoint {str(checkpoint)!r}: no {stem}.pt, and no model of that name in "
                          f"{models_dir()}; pass a .pt/.json path or a name `python -m lab models` lists")


def load_learner(name: str, checkpoint: str | Path | None = None,
                 device: torch.device | str | None = None) -> Learner:
    """Return a :class:`Learner` of kind ``name`` (``protonet``, ``relation`` or ``maml``) ready to predict.

    ``checkpoint``: ``None`` for the shipped glyph model, else a checkpoint stem, a ``.pt``/``.json`` path
    or the name of a model in :func:`lab.home.models_dir`. ``device``: e.g. ``"cpu"``; default as
    :func:`lab.compute.get_device` (``$LAB_DEVICE``, else CUDA, MPS, CPU).

    Raises ``ValueError`` for an unknown ``name`` and :class:`~lab.checkpoint.CheckpointError` (a
    ``ValueError``) for a missing, damaged or mismatched checkpoint, saying what to do.
    """
    kind = str(name).strip().lower()
    if kind not in KINDS:
        raise ValueError(f"learner={name!r}; choose one of {', '.join(KINDS)}")
    where = get_device(str(device) if device is not None else None)
    stem = resolve_checkpoint(kind, checkpoint)
    model, meta = load_fewshot_model(stem, kind, map_location=where)
    return Learner(model, meta, stem, where)


def classify_folders(learner: Learner | str, support: Path | str, query: Path | str,
                     checkpoint: str | Path | None = None) -> dict[str, Any]:
    """Return a JSON-ready report of ``learner`` on image folders (layout: :mod:`lab.user_images`):
    ``{"learner", "checkpoint", "classes", "predictions": [{"file", "label", "probability", "probabilities",
    "true"}], "accuracy", "n_labelled"}``; ``accuracy`` is over queries in class subfolders (``None`` if none).

    ``learner`` is a :class:`Learner`, or a kind loaded with ``checkpoint`` by :func:`load_learner` once the
    folders are read (so a folder mistake is reported before a checkpoint one). Raises ``ValueError`` for
    unusable folders or images, and for a query subfolder that is not a class.
    """
    images, labels, _ = read_support_folder(support)
    queries, files, truth = read_query_folder(query)
    strangers = sorted({t for t in truth if t is not None} - set(labels))
    if strangers:
        raise ValueError(f"query subfolder {strangers[0]!r} is not a class of the support set "
                         f"({', '.join(sorted(set(labels)))}); rename it after a class or move its images")
    if not isinstance(learner, Learner):
        learner = load_learner(learner, checkpoint)
    prediction = learner.predict(images, labels, queries)
    rows = [{"file": f, "label": label, "probability": float(p), "probabilities": [float(x) for x in probs],
             "true": t}
            for f, label, p, probs, t in zip(files, prediction.labels, prediction.confidence(),
                                             prediction.probabilities, truth, strict=True)]
    labelled = [r for r in rows if r["true"] is not None]
    accuracy = sum(r["label"] == r["true"] for r in labelled) / len(labelled) if labelled else None
    return {"learner": learner.kind, "checkpoint": str(learner.path) if learner.path else None,
            "classes": prediction.classes, "predictions": rows, "accuracy": accuracy, "n_labelled": len(labelled)}
