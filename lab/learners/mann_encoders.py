"""The MANN's image encoders (not in the paper, which feeds the flattened pixels): a small strided conv net
trained with the MANN (``encoder="conv"``), or ProtoNet's Conv4 loaded from a trained ProtoNet and frozen
(``encoder="conv4"``); their fixed-length and centring layers, and test-time jittered views."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from lab.compute import make_generator
from lab.nets import Conv4
from lab.tasks.augment import jitter

if TYPE_CHECKING:
    from lab.learners.mann import MANNConfig

CONV_BLOCKS = 3


def conv_feature_width(config: MANNConfig) -> int:
    """Return the width of the conv encoder's output: channels x the map left after three stride-2 convs
    (``conv``: 20 -> 10 -> 5 -> 3, 9 x channels) or after Conv4's three 2x2 max-pools, the fourth block
    keeping its map (``conv4``: 28 -> 14 -> 7 -> 3, 9 x channels)."""
    side = config.image_size
    for _ in range(CONV_BLOCKS):
        side = side // 2 if config.encoder == "conv4" else (side + 1) // 2
    return config.encoder_channels * side * side


def image_encoder(config: MANNConfig) -> nn.Module | None:
    """Return the image encoder of ``config``: ``None`` (pixels), or three blocks of 3x3 convolution with
    stride 2, BatchNorm (running statistics at test time) and ReLU, flattened: ``[N, 1, S, S] -> [N, D]``
    (``conv``), or ProtoNet's Conv4 without its last pool (``conv4``: the same layers and parameter names
    under ``encoder.0``, so a trained ProtoNet's encoder loads into it, see :func:`load_protonet_encoder_`).

    ``conv`` uses strided convolutions rather than Conv4's conv + max-pool: on one CPU thread the full-resolution
    maps of Conv4 cost ~10x more per episode batch (0.56 s against 0.055 s forward and backward for 800 images),
    which is why ``conv4`` is meant to be frozen, its features computed once (:mod:`lab.tasks.feature_cache`).
    """
    if config.encoder == "pixels":
        return None
    layers: list[nn.Module] = []
    if config.encoder == "conv4":
        layers += [Conv4(channels=config.encoder_channels, norm="running", last_pool=False),
                   Centered(conv_feature_width(config))]
    else:
        channels = 1
        for _ in range(CONV_BLOCKS):
            layers += [nn.Conv2d(channels, config.encoder_channels, 3, stride=2, padding=1),
                       nn.BatchNorm2d(config.encoder_channels), nn.ReLU()]
            channels = config.encoder_channels
        layers.append(nn.Flatten())
    if config.feature_norm > 0:
        layers.append(FixedLength(config.feature_norm))
    return nn.Sequential(*layers)


class Centered(nn.Module):
    """Subtracts a fixed vector ``mean`` ``[D]`` (a buffer, saved with the model; zeros until
    :func:`center_features_` sets it) from each row ``[N, D]``.

    Why: a trained ProtoNet's Conv4 features share one large component (they are ReLU outputs compared by
    Euclidean distance): scaled to a fixed length, two drawings of different characters have a cosine of
    0.96 and of the same one 0.99, so the MANN's cosine reads barely tell them apart and its training stalled
    at chance for 1750 iterations. Less the training drawings' mean: 0.15 against 0.69 (test alphabets).
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.mean


def center_features_(model: nn.Module, images: torch.Tensor, chunk: int = 1000) -> None:
    """Set the ``conv4`` encoder's :class:`Centered` mean of ``model`` to the mean of its Conv4's features of
    ``images`` ``[N, 1, S, S]`` (in test mode, in chunks), in place; returns nothing."""
    conv4, centered = model.encoder[0], model.encoder[1]
    was_training = conv4.training
    conv4.eval()
    with torch.no_grad():
        total = sum(conv4(images[i:i + chunk]).sum(0) for i in range(0, len(images), chunk))
    conv4.train(was_training)
    centered.mean.copy_(total / len(images))


class FixedLength(nn.Module):
    """Scales each row ``[N, D]`` to Euclidean length ``length`` (no parameters).

    Why: the conv features' size is free to drift in training (BatchNorm weights shrink them towards zero
    when they do not help yet, or a classification loss grows them until the controller's gates saturate);
    a fixed length keeps the controller's input in the range the flattened pixels have (length ~5-8).
    """

    def __init__(self, length: float) -> None:
        super().__init__()
        self.length = length

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=-1, eps=1e-8) * self.length


def encode_views(encoder: nn.Module, images: torch.Tensor, views: int = 1, view_seed: int = 0) -> torch.Tensor:
    """Return ``encoder``'s features ``[N, D]`` of ``images`` ``[N, 1, S, S]``; with ``views > 1`` the mean over
    each image itself and ``views - 1`` copies re-drawn by :func:`lab.tasks.augment.jitter` from
    ``make_generator(view_seed)`` (test-time augmentation, as ProtoNet's ``test_views``), scaled back to the
    encoder's fixed length when it ends in :class:`FixedLength`.

    Why: one drawing's features scatter around its character's; the mean over a few other hands lies closer to
    the character, so a memory read finds the earlier drawings of it more often (on the Omniglot validation
    split, 8 views: +0.8 points at the 2nd sight and +1.2 at the 10th).
    """
    features = encoder(images)
    if views == 1:
        return features
    rng = make_generator(view_seed, images.device)
    for _ in range(views - 1):
        features = features + encoder(jitter(images, rng))
    features = features / views
    return encoder[-1](features) if isinstance(encoder[-1], FixedLength) else features


def load_protonet_encoder_(model: nn.Module, protonet_state: dict[str, torch.Tensor], where: str) -> None:
    """Load a trained ProtoNet's Conv4 weights (its ``encoder.*`` entries) into the ``conv4`` encoder of
    ``model`` (a MANN or its LSTM baseline), in place; returns nothing. Raises ``ValueError`` naming ``where``
    when the model has no ``conv4`` encoder or the shapes differ (another channel count)."""
    if model.config.encoder != "conv4":
        raise ValueError(f"a ProtoNet encoder ({where}) needs encoder='conv4', not {model.config.encoder!r}")
    conv4 = model.encoder[0]
    state = {k.removeprefix("encoder."): v.float() for k, v in protonet_state.items() if k.startswith("encoder.")}
    shapes = {k: tuple(v.shape) for k, v in conv4.state_dict().items()}
    if shapes != {k: tuple(v.shape) for k, v in state.items()}:
        raise ValueError(f"{where} holds another Conv4 than encoder_channels={model.config.encoder_channels}; "
                         f"give --encoder-channels to match the ProtoNet's channels")
    conv4.load_state_dict(state)
