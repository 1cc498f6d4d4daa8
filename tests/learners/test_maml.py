"""MAML's maths checked against slow, obviously-correct references (micrograd style).

* the vmapped :func:`meta_loss` gradient against a plain per-task loop written here with
  ``torch.autograd.grad(create_graph=True)`` — not the library's own loop;
* one inner step against a hand-derived SGD step on a linear model;
* the second-order meta-gradient against central finite differences;
* the adapt() trace, divergence handling, and a short meta-training run that must help.
"""

from __future__ import annotations

import math
from itertools import pairwise

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from lab.compute import make_generator
from lab.learners.maml import MAML, MAMLConfig, adapt, evaluate_init, inner_adapt, mean_ci95, meta_loss
from lab.nets import SineMLP, parameters_of
from lab.tasks.sinusoid import SinusoidFamily


def _setup(seed: int = 0, tasks: int = 4, k: int = 5):
    torch.manual_seed(seed)
    net = SineMLP(hidden=8).double()
    batch = SinusoidFamily(k_shot=k, n_query=7).sample(make_generator(seed), tasks)
    batch.support_x, batch.support_y = batch.support_x.double(), batch.support_y.double()
    batch.query_x, batch.query_y = batch.query_x.double(), batch.query_y.double()
    params = {k: v.requires_grad_(True) for k, v in parameters_of(net).items()}
    return net, params, batch


def oracle_meta_grad(net, params, batch, steps, lr, first_order):
    """Mean post-adaptation query loss and its gradient, by an explicit loop over tasks."""
    names = list(params)
    total = 0.0
    for t in range(batch.n_tasks):
        p = dict(params)
        for _ in range(steps):
            loss = F.mse_loss(functional_call(net, p, (batch.support_x[t],)), batch.support_y[t])
            gs = torch.autograd.grad(loss, [p[n] for n in names], create_graph=not first_order)
            p = {n: p[n] - lr * (g.detach() if first_order else g) for n, g in zip(names, gs, strict=True)}
        total = total + F.mse_loss(functional_call(net, p, (batch.query_x[t],)), batch.query_y[t])
    total = total / batch.n_tasks
    return total, torch.autograd.grad(total, [params[n] for n in names])


def library_meta_grad(net, params, batch, steps, lr, first_order):
    loss = meta_loss(net, params, batch, steps, lr, F.mse_loss, first_order, vectorized=True).mean()
    return loss, torch.autograd.grad(loss, list(params.values()))


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


@pytest.mark.parametrize("first_order", [False, True])
@pytest.mark.parametrize("steps", [1, 3])
def test_vmapped_meta_gradient_matches_per_task_loop_oracle(first_order, steps):
    net, params, batch = _setup()
    loss, grads = library_meta_grad(net, params, batch, steps, 0.05, first_order)
    ref_loss, ref_grads = oracle_meta_grad(net, params, batch, steps, 0.05, first_order)
    assert torch.allclose(loss, ref_loss, rtol=1e-10)
    for g, r in zip(grads, ref_grads, strict=True):
        assert _rel(g, r) < 1e-5


@pytest.mark.parametrize("steps", [1, 3])
def test_first_order_drops_second_derivative_terms(steps):
    net, params, batch = _setup()
    _, so = library_meta_grad(net, params, batch, steps, 0.1, False)
    _, fo = library_meta_grad(net, params, batch, steps, 0.1, True)
    flat_so, flat_fo = torch.cat([g.flatten() for g in so]), torch.cat([g.flatten() for g in fo])
    assert _rel(flat_fo, flat_so) > 1e-3


def test_inner_adapt_one_step_is_hand_computed_sgd():
    net = nn.Linear(1, 1).double()
    with torch.no_grad():
        net.weight.fill_(0.5)
        net.bias.fill_(-0.25)
    x = torch.tensor([[1.0], [2.0], [-3.0]], dtype=torch.float64)
    y = torch.tensor([[0.0], [1.0], [2.0]], dtype=torch.float64)
    residual = 0.5 * x - 0.25 - y  # d/dw mean(r^2) = 2 mean(r x), d/db = 2 mean(r)
    lr = 0.1
    expected_w = 0.5 - lr * 2 * (residual * x).mean()
    expected_b = -0.25 - lr * 2 * residual.mean()
    out = inner_adapt(net, parameters_of(net), x, y, 1, lr, F.mse_loss)
    assert torch.allclose(out["weight"], expected_w.view(1, 1), atol=1e-12)
    assert torch.allclose(out["bias"], expected_b.view(1), atol=1e-12)


def test_second_order_meta_gradient_matches_finite_differences():
    net, params, batch = _setup(seed=3)
    _, grads = library_meta_grad(net, params, batch, 2, 0.05, False)
    direction = {k: torch.randn(v.shape, generator=make_generator(7), dtype=torch.float64) for k, v in params.items()}
    analytic = sum(float((g * direction[k]).sum()) for g, k in zip(grads, params, strict=True))
    eps = 1e-6

    def f(sign: float) -> float:
        shifted = {k: (v + sign * eps * direction[k]).detach() for k, v in params.items()}
        return float(meta_loss(net, shifted, batch, 2, 0.05, F.mse_loss).mean())

    numeric = (f(1.0) - f(-1.0)) / (2 * eps)
    assert abs(analytic - numeric) <= 1e-5 * max(1.0, abs(numeric))


def _one_task(seed: int = 0):
    torch.manual_seed(seed)
    net = SineMLP()
    task = SinusoidFamily(k_shot=10, n_query=20).task(3.0, 1.0, make_generator(seed))
    return net, task


def test_adapt_trace_has_every_step_and_support_loss_falls():
    net, task = _one_task()
    grid = torch.linspace(-5, 5, 50).view(-1, 1)
    result = adapt(net, parameters_of(net), task.support_x[0], task.support_y[0], 8, 1e-3,
                   query_x=task.query_x[0], query_y=task.query_y[0], eval_x=grid)
    assert [s.step for s in result.trace] == list(range(9))
    losses = result.losses("support")
    assert all(b <= a + 1e-6 for a, b in pairwise(losses)) and losses[-1] < losses[0]
    assert all(s.query_loss is not None and s.predictions.shape == (50, 1) for s in result.trace)
    assert result.trace[0].params.numel() == sum(p.numel() for p in net.parameters())


def test_adapt_raises_floating_point_error_for_huge_lr():
    net, task = _one_task()
    with pytest.raises(FloatingPointError, match="inner_lr") as caught:
        adapt(net, parameters_of(net), task.support_x[0], task.support_y[0], 20, 1e8)
    # The steps before the blow-up survive, all finite, starting from step 0.
    kept = caught.value.trace
    assert 0 < len(kept) < 21 and kept[0].step == 0
    assert all(torch.isfinite(torch.tensor(s.support_loss)) for s in kept)


def test_short_meta_training_beats_the_untrained_init():
    torch.manual_seed(0)
    maml = MAML(SineMLP(), MAMLConfig(meta_batch=10))
    family = SinusoidFamily(k_shot=5, n_query=20)

    def held_out() -> float:
        return evaluate_init(maml.net, maml.params, family, 100, 5, 0.01, make_generator(123))["mean"]

    before = held_out()
    rng = make_generator(1)
    for _ in range(300):
        maml.meta_step(family.sample(rng, 10))
    after = held_out()
    assert after < 0.8 * before, (before, after)


@pytest.mark.parametrize("first_order", [False, True])
def test_meta_loss_per_task_loop_equals_vmap(first_order):
    net, params, batch = _setup(tasks=5)
    fast = meta_loss(net, params, batch, 2, 0.05, F.mse_loss, first_order, vectorized=True)
    slow = meta_loss(net, params, batch, 2, 0.05, F.mse_loss, first_order, vectorized=False)
    assert fast.shape == slow.shape == (5,) and torch.allclose(fast, slow, rtol=1e-10)
    for g, r in zip(torch.autograd.grad(fast.mean(), list(params.values())),
                    torch.autograd.grad(slow.mean(), list(params.values())), strict=True):
        assert _rel(g, r) < 1e-10


@pytest.mark.parametrize("n", [5, 600])
def test_mean_ci95_is_the_student_t_interval(n):
    from scipy import stats

    values = torch.rand(n, generator=make_generator(n), dtype=torch.float64) ** 3
    mean, half = mean_ci95(values)
    lo, hi = stats.t.interval(0.95, n - 1, loc=values.mean().item(), scale=stats.sem(values.numpy()))
    assert mean == pytest.approx((lo + hi) / 2, rel=1e-12)
    assert half == pytest.approx((hi - lo) / 2, rel=1e-9)


def test_mean_ci95_of_one_value_has_no_interval():
    mean, half = mean_ci95(torch.tensor([2.5]))
    assert mean == 2.5 and math.isnan(half)
