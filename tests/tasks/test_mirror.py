"""Mirrored characters as classes: the drawings, names and groups of the mirrored half against the wrapped source."""

from __future__ import annotations

import pytest
import torch

from lab.compute import make_generator
from lab.tasks.mann_episodes import MANNTaskFamily
from lab.tasks.mirror import MirroredSource
from tests.tasks.test_mann_episodes import GroupedSource


class AsymmetricSource(GroupedSource):
    """GroupedSource whose drawings have ink in the left column only, so a mirror is visible."""

    def drawings(self, class_ids: torch.Tensor, n_per_class: int, rng: torch.Generator) -> torch.Tensor:
        images = super().drawings(class_ids, n_per_class, rng)
        images[..., 1:] = 0
        return images

    def class_images(self, class_id: int) -> torch.Tensor:
        return self.drawings(torch.tensor([class_id]), 20, make_generator(0))[0]


def test_mirrored_classes_are_the_characters_flipped_with_the_same_draws() -> None:
    base = AsymmetricSource((6, 7))
    mirrored = MirroredSource(base)
    assert mirrored.n_classes == 26 and mirrored.drawings_per_class == 20
    ids = torch.tensor([3, 13 + 3, 12, 13 + 12])
    got = mirrored.drawings(ids, 4, make_generator(1))
    plain = base.drawings(torch.tensor([3, 3, 12, 12]), 4, make_generator(1))
    assert torch.equal(got[0], plain[0]) and torch.equal(got[2], plain[2])
    assert torch.equal(got[1], plain[1].flip(-1)) and torch.equal(got[3], plain[3].flip(-1))
    assert float(got[1][..., 0].abs().sum()) == 0 and float(got[1][..., -1].sum()) > 0  # ink moved to the right
    assert torch.equal(mirrored.class_images(13 + 5), base.class_images(5).flip(-1))
    assert mirrored.class_names([2, 15]) == ["class 2", "class 2 (mirrored)"]


def test_mirrored_classes_form_their_own_groups_and_bad_ids_are_refused() -> None:
    mirrored = MirroredSource(GroupedSource((6, 7)))
    assert mirrored.class_groups().tolist() == [0] * 6 + [1] * 7 + [2] * 6 + [3] * 7
    batch = MANNTaskFamily(mirrored, 5, 10, same_alphabet=1.0).sample(make_generator(2), 200)
    groups = mirrored.class_groups()[batch.meta["class_ids"]]
    assert bool((groups == groups[:, :1]).all()) and set(groups[:, 0].tolist()) == {0, 1, 2, 3}
    with pytest.raises(ValueError, match="this source has 26 classes"):
        mirrored.drawings(torch.tensor([26]), 1, make_generator(0))
