"""The encoded source: a frozen encoder's features of every drawing, computed once, served as episodes pick
them; checked against the encoder run on the same drawings (and the same jitters) by hand."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lab.compute import make_generator
from lab.nets import Conv4
from lab.tasks.augment import HandJitter, jitter
from lab.tasks.feature_cache import EncodedSource
from tests.tasks.test_episodes import CountingSource


class FixedDrawings:
    """Six classes of five random 28x28 drawings each (a fixed seed), with Omniglot's ``class_images``."""

    name, n_classes, drawings_per_class = "fixed", 6, 5

    def __init__(self) -> None:
        self.images = torch.rand((6, 5, 1, 28, 28), generator=make_generator(7))

    def class_names(self, class_ids):
        return [f"class {int(i)}" for i in class_ids]

    def class_images(self, class_id: int) -> torch.Tensor:
        return self.images[class_id]


def _encoder() -> Conv4:
    torch.manual_seed(0)
    return Conv4(channels=4, norm="running", last_pool=False).eval()


def test_each_pick_is_the_encoder_output_of_a_distinct_drawing_of_its_class() -> None:
    source, encoder = FixedDrawings(), _encoder()
    with torch.no_grad():
        cached = EncodedSource(source, encoder, 28, 1, make_generator(1))
        by_hand = torch.stack([encoder(source.class_images(c)) for c in range(6)])  # [C, K, D]
    ids = torch.tensor([4, 0, 4])
    picks = cached.drawings(ids, 3, make_generator(2))
    assert picks.shape == (3, 3, 36)
    for row, c in zip(picks, ids.tolist(), strict=True):
        distances = torch.cdist(row, by_hand[c])  # [3 picks, 5 drawings]
        nearest = distances.min(dim=1)
        assert float(nearest.values.max()) < 1e-5  # each pick is one of the class's drawings, as encoded
        assert len(set(nearest.indices.tolist())) == 3  # distinct drawings within a class


def test_views_are_the_encoder_output_of_jittered_drawings_drawn_in_order() -> None:
    source, encoder, sizes = FixedDrawings(), _encoder(), HandJitter()
    with torch.no_grad():
        cached = EncodedSource(source, encoder, 20, 3, make_generator(3), sizes)
        rng, flat = make_generator(3), source.images.flatten(0, 1)
        views = [encoder(F.adaptive_avg_pool2d(jitter(flat, rng, sizes), 20)) for _ in range(3)]
    expected = torch.stack(views, dim=1).view(6, 5, 3, -1)  # [C, K, views, D]
    torch.testing.assert_close(cached.features, expected)
    assert not torch.allclose(expected[:, :, 0], expected[:, :, 1])  # the views differ
    picks = cached.drawings(torch.tensor([2]), 5, make_generator(4))[0]  # all 5 drawings of class 2
    table = expected[2].flatten(0, 1)  # its 15 (drawing, view) features
    assert float(torch.cdist(picks, table).min(dim=1).values.max()) < 1e-5


def test_bad_uses_are_refused() -> None:
    with pytest.raises(ValueError, match="views=2 without jitter"):
        EncodedSource(FixedDrawings(), _encoder(), 28, 2, make_generator(0))
    with pytest.raises(ValueError, match="fixed set of drawings"):
        EncodedSource(CountingSource(), _encoder(), 28, 1, make_generator(0))
    with pytest.raises(ValueError, match="views=0"):
        EncodedSource(FixedDrawings(), _encoder(), 28, 0, make_generator(0))
    cached = EncodedSource(FixedDrawings(), _encoder(), 28, 1, make_generator(0))
    with pytest.raises(ValueError, match="n_per_class=6"):
        cached.drawings(torch.tensor([0]), 6, make_generator(0))
