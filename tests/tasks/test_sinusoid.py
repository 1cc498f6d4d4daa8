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
