"""The MAML page's compute: traces per start, seeded, partial traces kept when the inner loop diverges."""

from __future__ import annotations

import numpy as np
import pytest

from lab.demos.maml_sine import STARTS, maml_sine_demo, random_init, random_task
from lab.tasks.sinusoid import CURVE_POINTS


def test_shapes_and_seeding(sine_params) -> None:
    a = maml_sine_demo(*sine_params, 2.0, 0.5, 7, 3, 0.01, seed=4)
    b = maml_sine_demo(*sine_params, 2.0, 0.5, 7, 3, 0.01, seed=4)
    assert tuple(a.starts) == STARTS
    for name in STARTS:
        s = a.starts[name]
        assert s.predictions.shape == (4, CURVE_POINTS) and s.query_loss.shape == (4,) and s.error is None
        np.testing.assert_array_equal(s.predictions, b.starts[name].predictions)
    assert a.support_x.shape == (7,) and a.landscape.path.shape == (4, 2)
    c = maml_sine_demo(*sine_params, 2.0, 0.5, 7, 3, 0.01, seed=5)
    assert not np.array_equal(a.support_x, c.support_x)


def test_diverging_lr_keeps_the_steps_before_the_blow_up(sine_params) -> None:
    demo = maml_sine_demo(*sine_params, 2.0, 0.5, 10, 20, 5.0, seed=0)
    for s in demo.starts.values():
        assert s.error and "inner_lr=5.0" in s.error
        assert 0 < len(s.query_loss) < 21 and np.isfinite(s.query_loss).all()


@pytest.mark.parametrize("kwargs", [dict(k_shot=0), dict(steps=-1), dict(inner_lr=0.0)])
def test_bad_inputs_raise_value_error(sine_params, kwargs) -> None:
    args = dict(amplitude=1.0, phase=0.0, k_shot=5, steps=2, inner_lr=0.01, seed=0) | kwargs
    with pytest.raises(ValueError):
        maml_sine_demo(*sine_params, **args)


def test_random_init_is_seeded_and_in_pytorch_bounds(sine_params) -> None:
    like = sine_params[0]
    a, b = random_init(like, 3), random_init(like, 3)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert float(a["body.2.weight"].abs().max()) <= 1 / 40 ** 0.5


def test_random_task_in_range() -> None:
    draws = {random_task(0, d) for d in range(1, 6)}
    assert len(draws) == 5 and all(0.1 <= a <= 5.0 and 0.0 <= p <= 3.15 for a, p in draws)


def test_demo_leaves_the_global_generator_alone(sine_params) -> None:
    import torch

    before = torch.get_rng_state()
    maml_sine_demo(*sine_params, 2.0, 0.5, 5, 2, 0.01, seed=3, landscape_resolution=3)
    assert torch.equal(torch.get_rng_state(), before)


def test_random_start_is_lab_nets_random_init_of_the_seed(sine_params) -> None:
    # The CLI's eval uses lab.nets.random_init too (tests/test_evaluation.py): same seed, same start.
    from lab.nets import flatten_params
    from lab.nets import random_init as nets_random_init

    demo = maml_sine_demo(*sine_params, 2.0, 0.5, 5, 0, 0.01, seed=11, landscape_resolution=3)
    expected = flatten_params(nets_random_init(sine_params[0], 11)).numpy()
    np.testing.assert_array_equal(demo.starts["random"].params[0], expected)


def test_random_task_streams_do_not_overlap_across_seeds() -> None:
    # seed * 1000 + draw made seed 0's 1000th draw equal to seed 1's first.
    assert random_task(0, 1000) != random_task(1, 0)
    assert random_task(3, 7) == random_task(3, 7)
