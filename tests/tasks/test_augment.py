"""Hand-jitter augmentation: shapes, range, determinism from the seed, and that it really changes drawings."""

from __future__ import annotations

import pytest
import torch

from lab.compute import make_generator
from lab.tasks.augment import AugmentedSource, HandJitter, jitter
from lab.tasks.glyphs import GlyphAlphabets


def _drawings() -> torch.Tensor:
    return GlyphAlphabets(2, 5, seed=0).drawings(torch.arange(4), 3, make_generator(0)).flatten(0, 1)


def test_shape_range_and_seed():
    images = _drawings()
    a = jitter(images, make_generator(1))
    assert a.shape == images.shape and a.dtype == images.dtype
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    assert torch.equal(a, jitter(images, make_generator(1)))
    assert not torch.equal(a, jitter(images, make_generator(2)))


def test_zero_sizes_leave_the_drawing_unchanged():
    images = _drawings()
    still = HandJitter(rotate_deg=0, scale=0, shear=0, shift=0, elastic=0, thickness=0)
    assert torch.allclose(jitter(images, make_generator(0), still), images, atol=1e-5)


def test_jitter_is_small_compared_with_a_different_character():
    images = _drawings()  # 4 classes x 3 drawings
    moved = jitter(images, make_generator(3))
    same = (moved - images).pow(2).mean(dim=(1, 2, 3))
    other = (images.roll(3, dims=0) - images).pow(2).mean(dim=(1, 2, 3))  # another class's drawing
    assert float(same.mean()) > 0
    assert float(same.mean()) < float(other.mean())


def test_thickness_changes_the_ink_amount_both_ways():
    images = _drawings()
    only_pen = HandJitter(rotate_deg=0, scale=0, shear=0, shift=0, elastic=0, thickness=1.0)
    ink = jitter(images, make_generator(4), only_pen).sum(dim=(1, 2, 3)) - images.sum(dim=(1, 2, 3))
    assert bool((ink > 0).any()) and bool((ink < 0).any())


def test_bad_sizes_and_shapes_are_refused():
    with pytest.raises(ValueError, match="finite and >= 0"):
        HandJitter(rotate_deg=-1)
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        jitter(torch.zeros(28, 28), make_generator(0))


def test_augmented_source_keeps_classes_and_names():
    source = GlyphAlphabets(2, 5, seed=0)
    wrapped = AugmentedSource(source)
    assert wrapped.n_classes == source.n_classes and wrapped.class_names([3]) == source.class_names([3])
    out = wrapped.drawings(torch.tensor([0, 7]), 2, make_generator(0))
    assert out.shape == (2, 2, 1, 28, 28)
