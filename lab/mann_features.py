"""What ``train_mann`` does to the encoder's features besides feeding them to the MANN: the encoder's own
loss (a training-class classifier or a prototypical loss, for the warm-up and ``aux_weight``) and feature
dropout."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lab.tasks.mann_episodes import MANNEpisodes

WARMUP_LOSSES = ("classes", "prototypes")


def prototype_logits(features: torch.Tensor, classes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(logits [N, U], targets [N])`` of a prototypical loss over a batch of ``features`` ``[N, D]``
    with class ids ``classes`` ``[N]``: the logit of image i for each of the batch's ``U`` classes is minus the
    squared distance to that class's mean features, its own class's mean taken without image i (leave one
    out); ``targets`` index the image's class among the ``U``. Every class must occur at least twice."""
    unique, target = classes.unique(return_inverse=True)
    counts = torch.zeros(len(unique), dtype=features.dtype, device=features.device).index_add_(
        0, target, torch.ones_like(target, dtype=features.dtype))
    if bool((counts < 2).any()):
        raise ValueError("prototype_logits: every class needs at least two images in the batch")
    sums = torch.zeros(len(unique), features.shape[1], dtype=features.dtype, device=features.device).index_add_(
        0, target, features)
    distance = torch.cdist(features, sums / counts[:, None]).pow(2)
    own = (sums[target] - features) / (counts[target] - 1)[:, None]
    distance = distance.scatter(1, target[:, None], (features - own).pow(2).sum(1, keepdim=True))
    return -distance, target


class FeatureClassifier(nn.Module):
    """The encoder's own loss (warm-up and ``aux_weight``): with ``loss="classes"`` a linear map from the conv
    features of every training image of an episode batch to its *training* class (of all the training
    set's classes), trained beside the MANN; with ``loss="prototypes"`` no head, :func:`prototype_logits`
    over the batch's training classes.

    Not in the paper. The MANN's own loss reaches the encoder only through memory reads that are not
    useful until the features tell characters apart; this gives the encoder a direct signal from the first
    step. The head is not part of the saved model (it has no use on new classes); the features are the
    ones the MANN's forward pass just computed (a forward hook on its encoder), so nothing is run twice.
    """

    def __init__(self, model: nn.Module, n_classes: int, loss: str = "classes") -> None:
        super().__init__()
        if loss not in WARMUP_LOSSES:
            raise ValueError(f"loss={loss!r}; choose one of {WARMUP_LOSSES}")
        self.head = nn.Linear(model.config.feature_width, n_classes) if loss == "classes" else None
        self._features: torch.Tensor | None = None
        self._hook = model.encoder.register_forward_hook(self._keep)

    def _keep(self, module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        self._features = output

    def _logits(self, batch: MANNEpisodes) -> tuple[torch.Tensor, torch.Tensor]:
        if self._features is None:
            raise RuntimeError("run the MANN on the batch first: the features come from its forward pass")
        classes = batch.meta["class_ids"].gather(1, batch.labels).flatten()  # training-set class of each step
        if self.head is None:
            return prototype_logits(self._features, classes)
        return self.head(self._features), classes

    def loss(self, batch: MANNEpisodes) -> torch.Tensor:
        """Return the mean cross-entropy of the training class of every image of ``batch`` from its features
        (those of the MANN's last forward pass, ``[B*T, D]``): over all training classes through the head,
        or over the batch's classes by distance to their prototypes."""
        return F.cross_entropy(*self._logits(batch))

    def correct(self, batch: MANNEpisodes) -> torch.Tensor:
        """Return ``[B*T]`` bools: the class picked for each image of the last forward pass is right."""
        logits, targets = self._logits(batch)
        return logits.argmax(-1) == targets

    def detach(self) -> None:
        """Remove the hook from the MANN's encoder."""
        self._hook.remove()


def drop_features(features: torch.Tensor, share: float, length: float, rng: torch.Generator) -> torch.Tensor:
    """Return ``features`` ``[..., D]`` with each entry zeroed with probability ``share`` (drawn with ``rng``),
    then scaled back to Euclidean length ``length`` per row (or by ``1 / (1 - share)`` when ``length`` is 0).

    Why: the frozen encoder was trained on the training characters, so their drawings sit in tighter clusters
    than new characters' do, and the MANN learns to read memory as if every new character did too (its accuracy
    on training episodes runs ~10 points above the held-out one). Dropping features at random loosens the
    clusters it trains on. The fixed length keeps the controller's input on the scale it has at test time."""
    keep = torch.rand(features.shape, generator=rng, device=features.device) >= share
    dropped = features * keep
    if length > 0:
        return F.normalize(dropped, dim=-1, eps=1e-8) * length
    return dropped / (1 - share)
