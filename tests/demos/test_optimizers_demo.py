"""The 2-D race: a race cut after n steps is the race of n steps (the page caches one race per horizon)."""

from __future__ import annotations

import numpy as np
import pytest

from lab.demos import optimizers as demo
from lab.learners.learned_optimizer import LSTMOptimizer
from lab.tasks.optimizees import SURFACES


@pytest.fixture(scope="module")
def optimizer() -> LSTMOptimizer:
    import torch

    torch.manual_seed(0)
    return LSTMOptimizer()


def assert_same_race(a: demo.Race, b: demo.Race) -> None:
    assert a.steps == b.steps and a.paths.keys() == b.paths.keys()
    for name in a.paths:
        pa, pb = a.paths[name], b.paths[name]
        assert pa.diverged_at == pb.diverged_at, name
        np.testing.assert_array_equal(pa.path, pb.path, err_msg=name)
        np.testing.assert_array_equal(pa.losses, pb.losses, err_msg=name)
        assert pa.lr == pb.lr


@pytest.mark.parametrize("landscape", list(SURFACES))
def test_a_cut_race_equals_the_shorter_race(optimizer: LSTMOptimizer, landscape: str) -> None:
    start = SURFACES[landscape].start
    long = demo.race_2d(optimizer, landscape, start, 60, seed=3)
    for steps in (1, 17, 60):
        assert_same_race(long.until(steps), demo.race_2d(optimizer, landscape, start, steps, seed=3))


def test_a_cut_race_keeps_a_divergence_only_when_it_happened_in_the_cut(optimizer: LSTMOptimizer) -> None:
    start = SURFACES["beale"].start
    long = demo.race_2d(optimizer, "beale", start, 60, lr_scale=30.0)
    diverged = {n: p.diverged_at for n, p in long.paths.items() if p.diverged_at is not None}
    assert diverged, "a 30x rate should blow some baseline up on Beale"
    first = min(diverged.values())
    for steps in (max(first - 1, 1), first, 60):
        assert_same_race(long.until(steps), demo.race_2d(optimizer, "beale", start, steps, lr_scale=30.0))


def test_race_horizons_cover_the_steps_and_bad_cuts_are_refused(optimizer: LSTMOptimizer) -> None:
    assert [demo.race_horizon(s) for s in (10, 100, 101, 250, 300, 400)] == [100, 100, 200, 300, 300, 400]
    race = demo.race_2d(optimizer, "rosenbrock", SURFACES["rosenbrock"].start, 5)
    for bad in (0, 6):
        with pytest.raises(ValueError, match="can be cut after 1..5"):
            race.until(bad)
