"""A class source whose drawings are a frozen image encoder's features, computed once for every drawing.

Why: a MANN step shows 16 episodes x 50 images; ProtoNet's Conv4 costs ~1 ms per 28x28 image on one CPU
thread, ~0.8 s a step, three times the rest of the step. When that encoder is frozen its output for a drawing
never changes, so :class:`EncodedSource` encodes ``views`` hand-jittered copies of every drawing of the
training classes once (``views x drawings x classes`` images, a few minutes) and serves episodes from that
table: each pick is a drawing of the class (distinct within the episode, as the image source picks them) in
one of its views. The jitter, the resizing and the encoder are those the images would have met on the way
in, so training on the table is training on the encoder's output for ``views`` fixed jitters per drawing
instead of a fresh jitter per sight.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from lab.tasks.augment import HandJitter, jitter
from lab.tasks.base import check_positive


class EncodedSource:
    """``source``'s classes with ``drawings()`` returning features ``[N, k, D]`` instead of images.

    ``source`` needs a finite ``drawings_per_class`` and ``class_images(class_id)`` (Omniglot has both).
    ``encode`` maps images ``[n, 1, S, S]`` to features ``[n, D]`` (called without gradients, in batches of
    ``chunk``); ``jitter_sizes`` None: the drawings as they are (then one view is all there is).
    """

    def __init__(self, source, encode: Callable[[torch.Tensor], torch.Tensor], image_size: int, views: int,
                 rng: torch.Generator, jitter_sizes: HandJitter | None = None, chunk: int = 1000) -> None:
        check_positive("views", views)
        if source.drawings_per_class is None or not hasattr(source, "class_images"):
            raise ValueError(f"{source.name} draws new images on demand; only a source with a fixed set of "
                             f"drawings per class (Omniglot) can be encoded once")
        if jitter_sizes is None and views > 1:
            raise ValueError(f"views={views} without jitter would be {views} copies of the same features; "
                             f"give views=1 or jitter sizes")
        self.source, self.name, self.n_classes = source, source.name, source.n_classes
        self.drawings_per_class, self.views = source.drawings_per_class, views
        images = torch.stack([source.class_images(c) for c in range(source.n_classes)])  # [C, K, 1, S0, S0]
        flat = images.flatten(0, 1)
        table = []
        with torch.no_grad():
            for _ in range(views):
                for start in range(0, len(flat), chunk):
                    part = flat[start:start + chunk].to(rng.device)
                    if jitter_sizes is not None:
                        part = jitter(part, rng, jitter_sizes)
                    table.append(encode(F.adaptive_avg_pool2d(part, image_size)).float())
        width = table[0].shape[-1]
        # [views, C*K, D] -> [C, K, views, D]
        self.features = torch.cat(table).view(views, len(flat), width).transpose(0, 1).reshape(
            source.n_classes, self.drawings_per_class, views, width)

    def __repr__(self) -> str:
        return f"EncodedSource({self.source!r}, views={self.views})"

    def class_groups(self) -> torch.Tensor:
        """Return the wrapped source's class groups (see :meth:`OmniglotSource.class_groups`)."""
        return self.source.class_groups()

    def class_names(self, class_ids: torch.Tensor | list[int]) -> list[str]:
        """Return the wrapped source's class names."""
        return self.source.class_names(class_ids)

    def drawings(self, class_ids: torch.Tensor, n_per_class: int, rng: torch.Generator) -> torch.Tensor:
        """Return features ``[N, n_per_class, D]`` of distinct drawings of each class (each in a random one of
        its views), chosen with ``rng``, on ``rng.device``."""
        check_positive("n_per_class", n_per_class)
        if n_per_class > self.drawings_per_class:
            raise ValueError(f"n_per_class={n_per_class} but {self.name} has {self.drawings_per_class} drawings "
                             f"per class; choose at most {self.drawings_per_class}")
        ids = class_ids.reshape(-1).to(rng.device)
        keys = torch.rand((len(ids), self.drawings_per_class), generator=rng, device=rng.device)
        picks = keys.argsort(dim=1)[:, :n_per_class]
        views = torch.randint(self.views, (len(ids), n_per_class), generator=rng, device=rng.device)
        table = self.features.to(rng.device)
        return table[ids.unsqueeze(1), picks, views]
