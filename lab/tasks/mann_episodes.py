"""Episodes for memory-augmented networks: one long sequence of images whose labels arrive one step late.

The protocol of Santoro, Bartunov, Botvinick, Wierstra & Lillicrap 2016 ("Meta-Learning with
Memory-Augmented Neural Networks", ICML): an episode picks ``n_classes`` classes, gives them episode-local
labels in a fresh random order, and shows ``length`` drawings in random order. At step ``t`` the learner
sees ``(image_t, label_{t-1})`` and must output ``label_t``: it can only be right about a class after it has
been told that class's label once, so the first instance of every class is a guess.

Labels are one-hot vectors (``label_mode="onehot"``, the paper's 5-class set-up) or, for many classes, the
paper's strings: five characters from an alphabet of five, each one-hot, so 15 classes need 25 inputs and
five 5-way outputs instead of 15 (``label_mode="string"``; a prediction is right when all five are).

Simplification: every class appears ``length / n_classes`` times (the paper draws each step's class at
random), so the 10th instance of every class exists in every 5-class episode of 50 steps and each row of
the accuracy-by-instance table has the same number of samples. Images are area-downsampled to
``image_size`` (20x20 as in the paper) and flattened by the learner.

``same_alphabet`` (not in the paper) draws that share of episodes with all their classes from one group of
the source (Omniglot: one alphabet at one rotation), the group picked in proportion to its size. Why: with
rotations, two of small1's 544 training classes share a group 5% of the time, while two of the test
alphabets' 106 characters share an alphabet 38% of the time, and most late errors confuse such characters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from lab.tasks.base import check_positive

LABEL_MODES = ("onehot", "string")
STRING_CHARS, STRING_LENGTH = 5, 5  # the paper's strings: 5 characters from {a..e}


@dataclass
class MANNEpisodes:
    """A batch of MANN episodes with leading episode axis ``B`` and time axis ``T``.

    ``images`` ``[B, T, 1, S, S]`` (or a frozen encoder's features ``[B, T, D]`` when the source is a
    :class:`~lab.tasks.feature_cache.EncodedSource`); ``labels`` ``[B, T]`` episode-local class indices; ``targets`` what the
    learner must output: ``labels`` (one-hot mode) or the label strings ``[B, T, 5]`` (string mode);
    ``label_inputs`` ``[B, T, L]`` the delayed labels fed in (zeros at ``t = 0``); ``instance`` ``[B, T]``
    how many times the class at step t has been shown so far, this time included (1 = first sight).
    """

    images: torch.Tensor
    labels: torch.Tensor
    targets: torch.Tensor
    label_inputs: torch.Tensor
    instance: torch.Tensor
    label_mode: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_episodes(self) -> int:
        """Return the number of episodes ``B``."""
        return int(self.images.shape[0])

    def to(self, device: torch.device | str) -> MANNEpisodes:
        """Return a copy with every tensor moved to ``device``."""
        meta = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in self.meta.items()}
        return MANNEpisodes(self.images.to(device), self.labels.to(device), self.targets.to(device),
                            self.label_inputs.to(device), self.instance.to(device), self.label_mode, meta)


def label_width(label_mode: str, n_classes: int) -> int:
    """Return the width of a label input vector: ``n_classes`` (one-hot) or 25 (strings)."""
    if label_mode not in LABEL_MODES:
        raise ValueError(f"label_mode={label_mode!r}; choose one of {LABEL_MODES}")
    return n_classes if label_mode == "onehot" else STRING_CHARS * STRING_LENGTH


def instance_counts(labels: torch.Tensor) -> torch.Tensor:
    """Return ``[B, T]``: at each step, how often its label has occurred so far (1-based), for labels ``[B, T]``."""
    one_hot = F.one_hot(labels)  # [B, T, C]
    return (one_hot.cumsum(dim=1) * one_hot).sum(dim=-1)


@dataclass
class MANNTaskFamily:
    """Draws batches of MANN episodes from any class source (:class:`~lab.tasks.episodes.ClassSource`)."""

    source: Any
    n_classes: int = 5
    length: int = 50
    label_mode: str = "onehot"
    image_size: int = 20
    same_alphabet: float = 0.0  # share of episodes whose classes all come from one group (see the docstring)

    def __post_init__(self) -> None:
        check_positive("n_classes", self.n_classes, minimum=2)
        check_positive("length", self.length)
        check_positive("image_size", self.image_size, minimum=4)
        label_width(self.label_mode, self.n_classes)
        if self.length % self.n_classes:
            raise ValueError(f"length={self.length} must be a multiple of n_classes={self.n_classes} (each "
                             f"class is shown length/n_classes times); e.g. length={10 * self.n_classes}")
        if self.n_classes > self.source.n_classes:
            raise ValueError(f"n_classes={self.n_classes} but {self.source.name} has {self.source.n_classes} "
                             f"classes; choose n_classes <= {self.source.n_classes}")
        if self.label_mode == "string" and self.n_classes > STRING_CHARS ** STRING_LENGTH:
            raise ValueError(f"n_classes={self.n_classes}: strings give at most {STRING_CHARS ** STRING_LENGTH}")
        if not (0.0 <= self.same_alphabet <= 1.0):
            raise ValueError(f"same_alphabet={self.same_alphabet} is a share of episodes: give a number in [0, 1]")
        self._groups = self._class_groups() if self.same_alphabet > 0 else None
        limit = self.source.drawings_per_class
        if limit is not None and self.per_class > limit:
            raise ValueError(f"length={self.length} shows each of {self.n_classes} classes {self.per_class} times "
                             f"but {self.source.name} has {limit} drawings per class; choose length <= "
                             f"{limit * self.n_classes}")

    def _class_groups(self) -> torch.Tensor:
        try:
            groups = self.source.class_groups()
        except AttributeError:
            raise ValueError(f"same_alphabet={self.same_alphabet} needs classes grouped by alphabet; "
                             f"{self.source.name} has no alphabets (use Omniglot, or same_alphabet=0)") from None
        counts = torch.bincount(groups)
        smallest = int(counts[counts > 0].min())
        if smallest < self.n_classes:
            raise ValueError(f"same_alphabet={self.same_alphabet}: the smallest alphabet of {self.source.name} "
                             f"has {smallest} classes, fewer than n_classes={self.n_classes}")
        return groups

    @property
    def per_class(self) -> int:
        """Return how many times each class appears in an episode."""
        return self.length // self.n_classes

    @property
    def label_width(self) -> int:
        """Return the width of a label input vector."""
        return label_width(self.label_mode, self.n_classes)

    def sample(self, rng: torch.Generator, n_episodes: int) -> MANNEpisodes:
        """Return ``n_episodes`` episodes drawn with ``rng``; ``meta`` has ``class_ids`` ``[B, n_classes]``
        (the source's class of each episode-local label) and, in string mode, ``strings`` ``[B, n_classes, 5]``."""
        check_positive("n_episodes", n_episodes)
        device, b, n, k = rng.device, n_episodes, self.n_classes, self.per_class
        keys = torch.rand((b, self.source.n_classes), generator=rng, device=device)
        if self._groups is not None:  # keys in [1, 2) put the classes outside the episode's group last
            groups = self._groups.to(device)
            hard = torch.rand(b, generator=rng, device=device) < self.same_alphabet
            anchor = torch.randint(self.source.n_classes, (b,), generator=rng, device=device)
            outside = groups.unsqueeze(0) != groups[anchor].unsqueeze(1)
            keys = keys + (outside & hard.unsqueeze(1)).to(keys.dtype)
        class_ids = keys.argsort(dim=1)[:, :n]  # random classes in random order = shuffled labels
        drawings = self.source.drawings(class_ids.reshape(-1), k, rng).to(device)  # [B*n, k, 1, H, W]
        if drawings.dim() == 3:  # an encoded source (lab.tasks.feature_cache): features [B*n, k, D] already
            drawings = drawings.reshape(b, n * k, -1)
        else:
            drawings = F.adaptive_avg_pool2d(drawings.flatten(0, 1), self.image_size).view(
                b, n * k, 1, *[self.image_size] * 2)
        order = torch.rand((b, n * k), generator=rng, device=device).argsort(dim=1)  # the order of the steps
        images = drawings[torch.arange(b, device=device).unsqueeze(1), order]
        labels = order // k  # drawings are class-major, so drawing j belongs to label j // k
        meta: dict[str, Any] = {"class_ids": class_ids}
        if self.label_mode == "onehot":
            targets = labels
            codes = F.one_hot(labels, n).float()
        else:
            strings = self._strings(rng, b)
            meta["strings"] = strings
            targets = strings.gather(1, labels.unsqueeze(-1).expand(b, n * k, STRING_LENGTH))  # [B, T, 5]
            codes = F.one_hot(targets, STRING_CHARS).float().flatten(-2)  # [B, T, 25]
        delayed = torch.cat([torch.zeros_like(codes[:, :1]), codes[:, :-1]], dim=1)
        return MANNEpisodes(images, labels, targets, delayed, instance_counts(labels), self.label_mode, meta)

    def _strings(self, rng: torch.Generator, b: int) -> torch.Tensor:
        """Return ``[B, n_classes, 5]`` distinct random label strings per episode (characters 0..4)."""
        space = STRING_CHARS ** STRING_LENGTH
        codes = torch.rand((b, space), generator=rng, device=rng.device).argsort(dim=1)[:, : self.n_classes]
        powers = STRING_CHARS ** torch.arange(STRING_LENGTH - 1, -1, -1, device=rng.device)
        return (codes.unsqueeze(-1) // powers) % STRING_CHARS
