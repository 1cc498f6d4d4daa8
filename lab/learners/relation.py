"""Relation Networks (Sung, Yang, Zhang, Xiang, Torr & Hospedales, "Learning to Compare: Relation Network
for Few-Shot Learning", CVPR 2018).

Instead of a fixed distance, a second network *learns* to compare: an embedding module turns every image
into feature maps (four conv blocks, the first two pooled: 64 x 7 x 7 for 28x28 input); for K shots the
maps of a class are averaged (the paper sums them; see :meth:`RelationNet.episode`); each (query, class)
pair of maps is concatenated along the channels and a relation module (two pooled conv blocks, then 64 -> 8 -> 1 with a sigmoid) scores it in [0, 1]. Training
regresses the scores to the one-hot match with a mean squared error.

:meth:`RelationNet.episode` returns a :class:`RelationTrace` with the pooled embeddings (for maps), the
class feature maps and the score matrix.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lab.nets import conv_block, test_mode
from lab.tasks.base import EpisodeBatch


@dataclass
class RelationNetConfig:
    """Architecture of a Relation Network; defaults are the paper's Omniglot set-up."""

    channels: int = 64  # filters per conv block of both modules
    hidden: int = 8  # width of the relation module's fully connected layer
    norm: str = "running"  # BatchNorm with running statistics for testing

    def to_dict(self) -> dict:
        """Return the config as a JSON-ready dict."""
        return asdict(self)


@dataclass
class RelationTrace:
    """What a Relation Network computed on a batch of episodes (leading task axis ``T``)."""

    support_embeddings: torch.Tensor  # [T, S, C] feature maps averaged over space (for drawing)
    query_embeddings: torch.Tensor  # [T, Q, C]
    class_features: torch.Tensor  # [T, N, C, h, w]: mean support maps per class
    scores: torch.Tensor  # [T, Q, N] relation scores in [0, 1]

    @property
    def predictions(self) -> torch.Tensor:
        """Return the class with the highest relation score for every query ``[T, Q]``."""
        return self.scores.argmax(dim=-1)


class RelationNet(nn.Module):
    """Embedding module plus relation module; :meth:`episode` returns a :class:`RelationTrace`."""

    kind = "relation"

    def __init__(self, config: RelationNetConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or RelationNetConfig()
        ch = c.channels
        self.encoder = nn.Sequential(conv_block(1, ch, c.norm), conv_block(ch, ch, c.norm),
                                     conv_block(ch, ch, c.norm, pool=False), conv_block(ch, ch, c.norm, pool=False))
        self.relation = nn.Sequential(conv_block(2 * ch, ch, c.norm), conv_block(ch, ch, c.norm),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                      nn.Linear(ch, c.hidden), nn.ReLU(), nn.Linear(c.hidden, 1))

    def episode(self, support_x: torch.Tensor, support_y: torch.Tensor, query_x: torch.Tensor,
                n_way: int) -> RelationTrace:
        """Return the trace for episodes ``support_x [T, S, 1, H, W]``, ``support_y [T, S]``, ``query_x [T, Q, ...]``."""
        t, s = support_x.shape[:2]
        q = query_x.shape[1]
        maps = self.encoder(torch.cat([support_x.flatten(0, 1), query_x.flatten(0, 1)]))
        feat = maps.shape[1:]  # [C, h, w]
        support_maps = maps[: t * s].view(t, s, *feat)
        query_maps = maps[t * s:].view(t, q, *feat)
        one_hot = F.one_hot(support_y, n_way).to(maps.dtype)  # [T, S, N]
        # The paper sums the K shots' maps and trains one model per K; the mean is the same for one shot and
        # lets a model trained with one shot compare K-shot classes (summed, 5-shot accuracy fell to 43%).
        class_maps = torch.einsum("tsn,tschw->tnchw", one_hot / one_hot.sum(dim=1, keepdim=True), support_maps)
        logits = self.relate(class_maps, query_maps)
        return RelationTrace(support_maps.mean(dim=(-1, -2)), query_maps.mean(dim=(-1, -2)), class_maps,
                             torch.sigmoid(logits))

    def relate(self, class_maps: torch.Tensor, query_maps: torch.Tensor) -> torch.Tensor:
        """Return relation logits ``[T, Q, N]`` of every (query, class) pair of maps ``[T, N|Q, C, h, w]``.

        The relation module's first convolution sees ``concat(class, query)``; a convolution of a
        concatenation is the sum of convolutions of the parts, so each part is convolved once (N + Q maps)
        and only the sums are formed per pair (N * Q): the same numbers as :meth:`relate_naive`, about ten
        times cheaper for a 20-way episode.
        """
        t, n, c = class_maps.shape[:3]
        q = query_maps.shape[1]
        first = self.relation[0][0]
        w_class, w_query = first.weight[:, :c], first.weight[:, c:]
        from_class = F.conv2d(class_maps.flatten(0, 1), w_class, first.bias, padding=1)
        from_query = F.conv2d(query_maps.flatten(0, 1), w_query, None, padding=1)
        shape = from_class.shape[1:]
        pairs = from_class.view(t, 1, n, *shape) + from_query.view(t, q, 1, *shape)
        rest = nn.Sequential(*list(self.relation[0])[1:], *list(self.relation)[1:])
        return rest(pairs.reshape(t * q * n, *shape)).view(t, q, n)

    def relate_naive(self, class_maps: torch.Tensor, query_maps: torch.Tensor) -> torch.Tensor:
        """Return the same logits as :meth:`relate`, by running the relation module on every concatenated pair."""
        t, n = class_maps.shape[:2]
        q = query_maps.shape[1]
        feat = class_maps.shape[2:]
        pairs = torch.cat([class_maps.unsqueeze(1).expand(t, q, n, *feat),
                           query_maps.unsqueeze(2).expand(t, q, n, *feat)], dim=3)
        return self.relation(pairs.reshape(t * q * n, 2 * feat[0], *feat[1:])).view(t, q, n)

    def loss(self, batch: EpisodeBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(MSE of the scores to the one-hot match, accuracy)`` on the queries of ``batch``."""
        n_way = int(batch.support_y.max()) + 1
        trace = self.episode(batch.support_x, batch.support_y, batch.query_x, n_way)
        target = F.one_hot(batch.query_y, n_way).to(trace.scores.dtype)
        loss = F.mse_loss(trace.scores, target)
        return loss, (trace.predictions == batch.query_y).float().mean()

    def scores(self, batch: EpisodeBatch) -> torch.Tensor:
        """Return relation scores ``[T, Q, N]`` in test mode, without gradients."""
        with test_mode(self):
            n_way = int(batch.support_y.max()) + 1
            return self.episode(batch.support_x, batch.support_y, batch.query_x, n_way).scores
