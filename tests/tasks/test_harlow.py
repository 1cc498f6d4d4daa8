"""The Harlow task: one rewarded object per episode, positions shuffled every trial, glyph objects."""

from __future__ import annotations

import pytest
import torch

from lab.compute import make_generator
from lab.tasks.harlow import object_pool, sample_harlow


@pytest.fixture(scope="module")
def pool() -> torch.Tensor:
    return object_pool("test", 12)


def test_pool_holds_distinct_glyph_drawings(pool: torch.Tensor) -> None:
    assert pool.shape == (12, 28, 28)
    assert pool.min().item() >= 0 and pool.max().item() <= 1
    flat = pool.flatten(1)
    distances = torch.cdist(flat, flat) + torch.eye(12) * 1e9
    assert distances.min().item() > 1.0  # no two objects look alike


def test_the_rewarded_object_pays_wherever_it_stands(pool: torch.Tensor) -> None:
    batch = sample_harlow(make_generator(0), 200, 6, pool=pool)
    assert batch.objects.shape == (200, 2, 28, 28)
    assert (batch.object_ids[:, 0] != batch.object_ids[:, 1]).all()
    for t in range(6):
        screen = batch.observation(t)
        side = batch.rewarded_side(t)
        shown = screen[torch.arange(200), side]  # the object at the rewarded side ...
        assert torch.equal(shown, batch.objects[:, 0])  # ... is always object 0
        assert batch.reward(t, side).eq(1).all() and batch.reward(t, 1 - side).eq(0).all()


def test_positions_are_shuffled_every_trial(pool: torch.Tensor) -> None:
    left = sample_harlow(make_generator(1), 2000, 6, pool=pool).left.float()
    assert abs(left.mean().item() - 0.5) < 0.02
    changes = (left[:, 1:] != left[:, :-1]).float().mean().item()
    assert abs(changes - 0.5) < 0.02  # independent of the previous trial


def test_correct_matches_the_rewarded_side(pool: torch.Tensor) -> None:
    batch = sample_harlow(make_generator(2), 5, 4, pool=pool)
    best = torch.stack([batch.rewarded_side(t) for t in range(4)], dim=1)
    assert batch.correct(best).all() and not batch.correct(1 - best).any()


def test_bad_split_and_pool() -> None:
    with pytest.raises(ValueError, match="split"):
        object_pool("nope")
    with pytest.raises(ValueError, match="2 objects"):
        sample_harlow(make_generator(0), 2, pool=torch.zeros(1, 28, 28))
