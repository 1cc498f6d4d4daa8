"""SinusoidFamily: ranges respected, targets match numpy's A sin(x - phase), seeded determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lab.compute import make_generator
from lab.tasks.sinusoid import SinusoidFamily


def test_shapes_ranges_and_targets_match_numpy() -> None:
    family = SinusoidFamily(k_shot=5, n_query=7, amplitude_range=(0.5, 2.0), phase_range=(0.1, 1.0))
    batch = family.sample(make_generator(0), n_tasks=64)
    assert batch.support_x.shape == (64, 5, 1) and batch.query_y.shape == (64, 7, 1)
    amp, phase = batch.meta["amplitude"].numpy(), batch.meta["phase"].numpy()
    assert ((amp >= 0.5) & (amp <= 2.0)).all() and ((phase >= 0.1) & (phase <= 1.0)).all()
    assert batch.support_x.abs().max() <= 5.0
    for x, y in ((batch.support_x, batch.support_y), (batch.query_x, batch.query_y)):
        expected = amp[:, None, None] * np.sin(x.numpy().astype(np.float64) - phase[:, None, None])
        np.testing.assert_allclose(y.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_same_seed_same_tasks_different_seed_different() -> None:
    family = SinusoidFamily()
    a, b, c = (family.sample(make_generator(s), 4) for s in (3, 3, 4))
    assert torch.equal(a.support_x, b.support_x) and torch.equal(a.query_y, b.query_y)
    assert not torch.equal(a.support_x, c.support_x)


def test_impossible_arguments_raise() -> None:
    with pytest.raises(ValueError, match="k_shot=0"):
        SinusoidFamily(k_shot=0)
    with pytest.raises(ValueError, match="amplitude_range"):
        SinusoidFamily(amplitude_range=(2.0, 1.0))


def test_query_points_do_not_move_when_k_shot_changes() -> None:
    few, many = SinusoidFamily(k_shot=5, n_query=50), SinusoidFamily(k_shot=10, n_query=50)
    a, b = few.task(2.0, 0.5, make_generator(7)), many.task(2.0, 0.5, make_generator(7))
    assert torch.equal(a.query_x, b.query_x) and torch.equal(a.query_y, b.query_y)
    assert a.support_x.shape == (1, 5, 1) and b.support_x.shape == (1, 10, 1)


def test_every_task_keeps_its_amplitude_and_phase_across_k_shot() -> None:
    # As `eval --shots 5` and `--shots 10` draw them: several batches in a row from one generator.
    draws = {}
    for k in (5, 10):
        rng = make_generator(0)
        batches = [SinusoidFamily(k_shot=k, n_query=100).sample(rng, 100) for _ in range(3)]
        draws[k] = [(b.meta["amplitude"], b.meta["phase"], b.query_x) for b in batches]
    for (amp5, phase5, qx5), (amp10, phase10, qx10) in zip(draws[5], draws[10], strict=True):
        assert torch.equal(amp5, amp10) and torch.equal(phase5, phase10) and torch.equal(qx5, qx10)
